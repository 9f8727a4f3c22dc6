/**
 * Pillow-exact BILINEAR resize specialised for large outputs (the heat map back to the
 * radiograph's size). The pixel module's `resizeBilinear` is the reference; its vertical pass
 * accumulates every output row in a Float64Array and then copies it, which costs ~5x more at
 * 2048x1536 outputs. This version computes the same coefficients (docs/model-input.md 2), sums
 * the same products in the same order in double precision, and stores float32: the results are
 * bit-identical (test/inference-preprocess.test.ts), only faster. Rows whose taps are all zero
 * (outside the crop box) are skipped.
 */
import type { FloatImage } from '../pixel/index.ts';

interface Axis {
  ksize: number;
  start: Int32Array;
  count: Int32Array;
  k: Float64Array;
}

function axis(inSize: number, outSize: number): Axis {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filterscale;
  const ss = 1 / filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const k = new Float64Array(outSize * ksize);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const base = o * ksize;
    let sum = 0;
    for (let i = 0; i < xmax - xmin; i++) {
      const t = Math.abs((i + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      k[base + i] = w;
      sum += w;
    }
    if (sum !== 0) for (let i = 0; i < xmax - xmin; i++) k[base + i] = k[base + i]! / sum;
    start[o] = xmin;
    count[o] = xmax - xmin;
  }
  return { ksize, start, count, k };
}

export function resizeFast(img: FloatImage, width: number, height: number): FloatImage {
  const { width: w0, height: h0, data } = img;
  let cur = data;
  if (width !== w0) {
    const a = axis(w0, width);
    const out = new Float32Array(width * h0);
    for (let y = 0; y < h0; y++) {
      const row = y * w0;
      let any = false;
      for (let x = 0; x < w0; x++) if (data[row + x] !== 0) { any = true; break; }
      if (!any) continue;
      const dst = y * width;
      for (let o = 0; o < width; o++) {
        const s0 = row + a.start[o]!;
        const n = a.count[o]!;
        const base = o * a.ksize;
        let s = 0;
        for (let i = 0; i < n; i++) s += data[s0 + i]! * a.k[base + i]!;
        out[dst + o] = s;
      }
    }
    cur = out;
  }
  if (height === h0) return { width, height, data: cur === data ? new Float32Array(cur) : cur };
  const W = width;
  const rowZero = new Uint8Array(h0);
  for (let y = 0; y < h0; y++) {
    let z = 1;
    for (let x = 0; x < W; x++) if (cur[y * W + x] !== 0) { z = 0; break; }
    rowZero[y] = z;
  }
  const b = axis(h0, height);
  const out = new Float32Array(W * height);
  for (let o = 0; o < height; o++) {
    const y0 = b.start[o]!;
    const n = b.count[o]!;
    const base = o * b.ksize;
    let allZero = true;
    for (let i = 0; i < n; i++) if (!rowZero[y0 + i] && b.k[base + i] !== 0) allZero = false;
    if (allZero) continue;
    const dst = o * W;
    if (n === 2) {
      const k0 = b.k[base]!;
      const k1 = b.k[base + 1]!;
      const r0 = y0 * W;
      const r1 = r0 + W;
      for (let x = 0; x < W; x++) out[dst + x] = 0 + cur[r0 + x]! * k0 + cur[r1 + x]! * k1;
    } else if (n === 3) {
      const k0 = b.k[base]!;
      const k1 = b.k[base + 1]!;
      const k2 = b.k[base + 2]!;
      const r0 = y0 * W;
      const r1 = r0 + W;
      const r2 = r1 + W;
      for (let x = 0; x < W; x++) out[dst + x] = 0 + cur[r0 + x]! * k0 + cur[r1 + x]! * k1 + cur[r2 + x]! * k2;
    } else {
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += cur[(y0 + i) * W + x]! * b.k[base + i]!;
        out[dst + x] = s;
      }
    }
  }
  return { width, height, data: out };
}
