/** Evaluation: labels CSV, error metrics overall and per sex. */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface LabelRow {
  id: string;
  male: boolean | undefined;
  boneAgeMonths: number;
  file: string;
  split?: string;
}

/** Minimal RFC 4180 line split (quotes, doubled quotes). */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

function parseMale(v: string | undefined): boolean | undefined {
  const s = (v ?? '').trim().toLowerCase();
  if (['true', '1', 'm', 'male', 'yes'].includes(s)) return true;
  if (['false', '0', 'f', 'female', 'no'].includes(s)) return false;
  return undefined;
}

export class LabelsError extends Error {
  override name = 'LabelsError';
}

/**
 * Reads `id,male,boneage_months,file[,split,...]`; relative files resolve against `imagesRoot`,
 * else the CSV's folder. With `split`, only rows of that split (the CSV must have the column).
 */
export function readLabels(csvPath: string, opts: { imagesRoot?: string | undefined; split?: string | undefined } = {}): LabelRow[] {
  let text: string;
  try {
    text = readFileSync(csvPath, 'utf8');
  } catch (e) {
    throw new LabelsError(`Cannot read labels ${csvPath}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(e)}`);
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new LabelsError(`${csvPath} is empty`);
  const header = splitCsvLine(lines[0]!).map((h) => h.toLowerCase());
  const col = (n: string): number => header.indexOf(n);
  for (const need of ['id', 'male', 'boneage_months', 'file']) {
    if (col(need) < 0) throw new LabelsError(`${csvPath} has no "${need}" column (header: ${header.join(',')}; needed: id,male,boneage_months,file)`);
  }
  if (opts.split !== undefined && col('split') < 0) throw new LabelsError(`--split ${opts.split}: ${csvPath} has no "split" column`);
  const root = opts.imagesRoot ?? path.dirname(path.resolve(csvPath));
  const rows: LabelRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const f = splitCsvLine(lines[i]!);
    const split = col('split') >= 0 ? f[col('split')] : undefined;
    if (opts.split !== undefined && split !== opts.split) continue;
    const age = Number(f[col('boneage_months')]);
    if (!Number.isFinite(age)) throw new LabelsError(`${csvPath} line ${i + 1}: boneage_months "${f[col('boneage_months')]}" is not a number`);
    const file = f[col('file')] ?? '';
    if (!file) throw new LabelsError(`${csvPath} line ${i + 1}: empty file`);
    rows.push({
      id: f[col('id')] ?? String(i),
      male: parseMale(f[col('male')]),
      boneAgeMonths: age,
      file: path.isAbsolute(file) ? file : path.resolve(root, file),
      ...(split !== undefined ? { split } : {}),
    });
  }
  return rows;
}

export interface ErrorMetrics {
  n: number;
  /** Mean absolute error, months. */
  mae: number;
  /** Root mean squared error, months. */
  rmse: number;
  /** Root mean squared percentage error, % (rows with actual 0 left out). */
  rmspe: number;
  /** Mean of predicted - actual (bias), months. */
  meanError: number;
}

export function errorMetrics(pairs: { predicted: number; actual: number }[]): ErrorMetrics {
  const n = pairs.length;
  if (n === 0) return { n: 0, mae: NaN, rmse: NaN, rmspe: NaN, meanError: NaN };
  let abs = 0;
  let sq = 0;
  let pct = 0;
  let np = 0;
  let sum = 0;
  for (const { predicted, actual } of pairs) {
    const e = predicted - actual;
    abs += Math.abs(e);
    sq += e * e;
    sum += e;
    if (actual !== 0) {
      pct += (e / actual) ** 2;
      np++;
    }
  }
  return { n, mae: abs / n, rmse: Math.sqrt(sq / n), rmspe: np ? 100 * Math.sqrt(pct / np) : NaN, meanError: sum / n };
}
