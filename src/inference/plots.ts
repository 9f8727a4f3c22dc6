/**
 * Evaluation plots as SVG rendered to PNG with sharp (librsvg): predicted vs actual bone age
 * (as the seed paper's figures 8-10) and Bland-Altman.
 */
import sharp from 'sharp';

export interface Point {
  actual: number;
  predicted: number;
  male: boolean | undefined;
}

const W = 640;
const H = 600;
const M = { l: 70, r: 20, t: 50, b: 60 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function ticks(lo: number, hi: number, step: number): number[] {
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}

interface Frame {
  x: (v: number) => number;
  y: (v: number) => number;
  svg: string[];
}

function frame(title: string, xLabel: string, yLabel: string, xr: [number, number], yr: [number, number], step: number): Frame {
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const x = (v: number): number => M.l + ((v - xr[0]) / (xr[1] - xr[0])) * pw;
  const y = (v: number): number => M.t + ph - ((v - yr[0]) / (yr[1] - yr[0])) * ph;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="28" font-size="17" text-anchor="middle">${esc(title)}</text>`,
  ];
  for (const t of ticks(xr[0], xr[1], step)) {
    svg.push(`<line x1="${x(t)}" y1="${M.t}" x2="${x(t)}" y2="${M.t + ph}" stroke="#e4e4e4"/>`);
    svg.push(`<text x="${x(t)}" y="${M.t + ph + 18}" font-size="12" text-anchor="middle">${t}</text>`);
  }
  for (const t of ticks(yr[0], yr[1], step)) {
    svg.push(`<line x1="${M.l}" y1="${y(t)}" x2="${M.l + pw}" y2="${y(t)}" stroke="#e4e4e4"/>`);
    svg.push(`<text x="${M.l - 8}" y="${y(t) + 4}" font-size="12" text-anchor="end">${t}</text>`);
  }
  svg.push(`<rect x="${M.l}" y="${M.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  svg.push(`<text x="${M.l + pw / 2}" y="${H - 18}" font-size="14" text-anchor="middle">${esc(xLabel)}</text>`);
  svg.push(`<text x="18" y="${M.t + ph / 2}" font-size="14" text-anchor="middle" transform="rotate(-90 18 ${M.t + ph / 2})">${esc(yLabel)}</text>`);
  return { x, y, svg };
}

const COLOURS = { male: '#1f63c6', female: '#d6402b', unknown: '#666666' };

function colour(p: Point): string {
  return p.male === true ? COLOURS.male : p.male === false ? COLOURS.female : COLOURS.unknown;
}

async function png(svg: string[]): Promise<Buffer> {
  svg.push('</svg>');
  return sharp(Buffer.from(svg.join('\n'))).png().toBuffer();
}

/** Predicted vs actual, identity line, MAE in the legend. */
export async function predictedVsActualPng(points: Point[], title: string, mae: number): Promise<Buffer> {
  const hi = Math.max(240, ...points.map((p) => Math.max(p.actual, p.predicted)));
  const max = Math.ceil(hi / 24) * 24;
  const f = frame(title, 'actual bone age (months)', 'predicted bone age (months)', [0, max], [0, max], 24);
  f.svg.push(`<line x1="${f.x(0)}" y1="${f.y(0)}" x2="${f.x(max)}" y2="${f.y(max)}" stroke="#222" stroke-dasharray="6 4"/>`);
  for (const p of points) {
    f.svg.push(`<circle cx="${f.x(p.actual).toFixed(1)}" cy="${f.y(Math.max(0, p.predicted)).toFixed(1)}" r="2.6" fill="${colour(p)}" fill-opacity="0.45"/>`);
  }
  f.svg.push(`<text x="${M.l + 12}" y="${M.t + 22}" font-size="13">n = ${points.length}, MAE ${Number.isFinite(mae) ? mae.toFixed(2) : '-'} months</text>`);
  return png(f.svg);
}

/** Bland-Altman: difference (predicted - actual) against the mean of both; bias and 95% limits. */
export async function blandAltmanPng(points: Point[], title: string): Promise<Buffer> {
  const mean = points.map((p) => (p.actual + p.predicted) / 2);
  const diff = points.map((p) => p.predicted - p.actual);
  const n = diff.length;
  const bias = n ? diff.reduce((a, b) => a + b, 0) / n : 0;
  const sd = n > 1 ? Math.sqrt(diff.reduce((a, b) => a + (b - bias) ** 2, 0) / (n - 1)) : 0;
  const lim = Math.max(24, Math.ceil((Math.max(0, ...diff.map(Math.abs), Math.abs(bias) + 2 * sd) + 6) / 12) * 12);
  const xmax = Math.ceil(Math.max(240, ...mean) / 24) * 24;
  const f = frame(title, 'mean of predicted and actual (months)', 'predicted - actual (months)', [0, xmax], [-lim, lim], 24);
  const hline = (v: number, dash: string, label: string): void => {
    f.svg.push(`<line x1="${M.l}" y1="${f.y(v)}" x2="${W - M.r}" y2="${f.y(v)}" stroke="#222" ${dash ? `stroke-dasharray="${dash}"` : ''}/>`);
    f.svg.push(`<text x="${W - M.r - 6}" y="${f.y(v) - 5}" font-size="12" text-anchor="end">${esc(label)}</text>`);
  };
  points.forEach((p, i) => {
    f.svg.push(`<circle cx="${f.x(mean[i]!).toFixed(1)}" cy="${f.y(Math.max(-lim, Math.min(lim, diff[i]!))).toFixed(1)}" r="2.6" fill="${colour(p)}" fill-opacity="0.45"/>`);
  });
  hline(bias, '', `bias ${bias.toFixed(2)}`);
  hline(bias + 1.96 * sd, '6 4', `+1.96 SD ${(bias + 1.96 * sd).toFixed(2)}`);
  hline(bias - 1.96 * sd, '6 4', `-1.96 SD ${(bias - 1.96 * sd).toFixed(2)}`);
  f.svg.push(`<text x="${M.l + 12}" y="${M.t + 22}" font-size="13"><tspan fill="${COLOURS.male}">male</tspan>  <tspan fill="${COLOURS.female}">female</tspan>  n = ${n}</text>`);
  return png(f.svg);
}
