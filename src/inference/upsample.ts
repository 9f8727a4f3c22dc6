/**
 * Pillow-exact BILINEAR resizes specialised for the inference path, bit-identical to the pixel
 * module's `resizeBilinear` (the reference, tested in test/inference-preprocess.test.ts): the same
 * coefficients (docs/model-input.md 2), the same products summed in the same order in double
 * precision, float32 intermediate and output. Hand-written rather than calling the reference
 * because of speed on 2 cores:
 * - `resizeFast` (the heat map back to the radiograph's size): the reference's vertical pass
 *   accumulates every output row in a Float64Array and copies it, ~5x slower at 2048x1536 outputs;
 *   rows and columns whose taps are all zero (outside the crop box) are skipped here.
 * - `resizeSource` (the segmenter and working-grid inputs): both resizes in one sweep over the
 *   source rows, reading each row once from the decoded pixels through the presentation LUT, so the
 *   full-size float image is never materialised.
 * The hot loops are small monomorphic functions: in one large function V8's on-stack replacement
 * compiles the first loop with no feedback for the others and deoptimises again and again.
 */
import type { FloatImage } from '../pixel/index.ts';

export interface Axis {
  ksize: number;
  start: Int32Array;
  count: Int32Array;
  k: Float64Array;
}

const axisCache = new Map<string, Axis>();

/** Coefficients of one axis (memoised: the same few size pairs recur). */
export function axis(inSize: number, outSize: number): Axis {
  const key = `${inSize}>${outSize}`;
  const hit = axisCache.get(key);
  if (hit) return hit;
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
  const a = { ksize, start, count, k };
  if (axisCache.size > 64) axisCache.clear();
  axisCache.set(key, a);
  return a;
}

// Scratch buffers for intermediates that never leave a call (the calls are synchronous): fewer
// multi-megabyte allocations, fewer garbage collections forced by external memory.
const scratch = new Map<string, Float32Array>();
function scratchF32(key: string, n: number): Float32Array {
  let a = scratch.get(key);
  if (!a || a.length < n) {
    a = new Float32Array(n);
    scratch.set(key, a);
  }
  return a;
}

/** Horizontal pass of one row: src[srcOff .. srcOff + inWidth) -> out[dst .. dst + outWidth). */
function hRow(src: Float32Array, srcOff: number, a: Axis, outWidth: number, out: Float32Array, dst: number): void {
  const { start, count, k, ksize } = a;
  for (let o = 0; o < outWidth; o++) {
    const s0 = srcOff + start[o]!;
    const n = count[o]!;
    const base = o * ksize;
    let s = 0;
    for (let i = 0; i < n; i++) s += src[s0 + i]! * k[base + i]!;
    out[dst + o] = s;
  }
}

/** Vertical pass of one output row over columns [x0, x1). */
function vRow(cur: Float32Array, W: number, y0: number, n: number, k: Float64Array, base: number, out: Float32Array, dst: number, x0: number, x1: number): void {
  if (n === 2) {
    const k0 = k[base]!;
    const k1 = k[base + 1]!;
    const r0 = y0 * W;
    const r1 = r0 + W;
    for (let x = x0; x < x1; x++) out[dst + x] = 0 + cur[r0 + x]! * k0 + cur[r1 + x]! * k1;
  } else if (n === 3) {
    const k0 = k[base]!;
    const k1 = k[base + 1]!;
    const k2 = k[base + 2]!;
    const r0 = y0 * W;
    const r1 = r0 + W;
    const r2 = r1 + W;
    for (let x = x0; x < x1; x++) out[dst + x] = 0 + cur[r0 + x]! * k0 + cur[r1 + x]! * k1 + cur[r2 + x]! * k2;
  } else {
    for (let x = x0; x < x1; x++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += cur[(y0 + i) * W + x]! * k[base + i]!;
      out[dst + x] = s;
    }
  }
}

/** Vertical pass of a whole image (all columns). */
function vPass(cur: Float32Array, W: number, a: Axis, height: number, out: Float32Array): void {
  for (let o = 0; o < height; o++) vRow(cur, W, a.start[o]!, a.count[o]!, a.k, o * a.ksize, out, o * W, 0, W);
}

function rowIsZero(a: Float32Array, off: number, n: number): boolean {
  for (let x = 0; x < n; x++) if (a[off + x] !== 0) return false;
  return true;
}

/** [first, last + 1) of the columns with a non-zero value in any row (0, 0 when none). */
function nonZeroColumns(a: Float32Array, W: number, H: number): [number, number] {
  let lo = W;
  let hi = 0;
  for (let y = 0; y < H; y++) {
    const off = y * W;
    for (let x = 0; x < lo; x++) if (a[off + x] !== 0) { lo = x; break; }
    for (let x = W - 1; x >= hi; x--) if (a[off + x] !== 0) { hi = x + 1; break; }
  }
  return lo < hi ? [lo, hi] : [0, 0];
}

/** Pillow BILINEAR resize for large outputs of mostly-zero maps (the heat map). */
export function resizeFast(img: FloatImage, width: number, height: number): FloatImage {
  const { width: w0, height: h0, data } = img;
  let cur = data;
  if (height === h0) {
    const out = new Float32Array(width * h0);
    if (width === w0) out.set(data);
    else for (let y = 0; y < h0; y++) if (!rowIsZero(data, y * w0, w0)) hRow(data, y * w0, axis(w0, width), width, out, y * width);
    return { width, height, data: out };
  }
  if (width !== w0) {
    const a = axis(w0, width);
    const out = scratchF32('fast-h', width * h0);
    out.fill(0, 0, width * h0);
    for (let y = 0; y < h0; y++) if (!rowIsZero(data, y * w0, w0)) hRow(data, y * w0, a, width, out, y * width);
    cur = out;
  }
  const W = width;
  const rowZero = new Uint8Array(h0);
  for (let y = 0; y < h0; y++) rowZero[y] = rowIsZero(cur, y * W, W) ? 1 : 0;
  // Columns that are zero in every row stay zero (0 + 0*k0 + 0*k1 = 0): not computed.
  const [x0, x1] = nonZeroColumns(cur, W, h0);
  const b = axis(h0, height);
  const out = new Float32Array(W * height);
  for (let o = 0; o < height; o++) {
    const y0 = b.start[o]!;
    const n = b.count[o]!;
    const base = o * b.ksize;
    let allZero = true;
    for (let i = 0; i < n; i++) if (!rowZero[y0 + i] && b.k[base + i] !== 0) allZero = false;
    if (allZero) continue;
    vRow(cur, W, y0, n, b.k, base, out, o * W, x0, x1);
  }
  return { width, height, data: out };
}

/**
 * A radiograph as the model sees it ([0,1], bone bright), readable row by row: either a float
 * image or integer pixels plus a lookup table (value - offset -> [0,1]).
 */
export interface ModelSource {
  width: number;
  height: number;
  /** Row y into buf[0 .. width). */
  row(y: number, buf: Float32Array): void;
  /** The whole image (allocates rows x columns float32). */
  full(): FloatImage;
}

export function floatSource(img: FloatImage): ModelSource {
  const { width, height, data } = img;
  return {
    width,
    height,
    row: (y, buf) => buf.set(data.subarray(y * width, (y + 1) * width)),
    full: () => img,
  };
}

// One lookup kernel per pixel array type keeps each loop monomorphic.
function lutU8(px: Uint8Array, off: number, n: number, lut: Float32Array, bias: number, buf: Float32Array): void {
  for (let x = 0; x < n; x++) buf[x] = lut[px[off + x]! - bias]!;
}
function lutU16(px: Uint16Array, off: number, n: number, lut: Float32Array, bias: number, buf: Float32Array): void {
  for (let x = 0; x < n; x++) buf[x] = lut[px[off + x]! - bias]!;
}
function lutI16(px: Int16Array, off: number, n: number, lut: Float32Array, bias: number, buf: Float32Array): void {
  for (let x = 0; x < n; x++) buf[x] = lut[px[off + x]! - bias]!;
}
function lutAny(px: ArrayLike<number>, off: number, n: number, lut: Float32Array, bias: number, buf: Float32Array): void {
  for (let x = 0; x < n; x++) buf[x] = lut[px[off + x]! - bias]!;
}

export type IntegerPixels = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array;

/** Integer pixels (one sample each) presented through `lut[value - bias]`. */
export function lutSource(px: IntegerPixels, width: number, height: number, lut: Float32Array, bias: number): ModelSource {
  if (px.length < width * height) throw new Error(`${px.length} pixels for a ${width}x${height} image`);
  const row =
    px instanceof Uint8Array
      ? (y: number, buf: Float32Array) => lutU8(px, y * width, width, lut, bias, buf)
      : px instanceof Uint16Array
        ? (y: number, buf: Float32Array) => lutU16(px, y * width, width, lut, bias, buf)
        : px instanceof Int16Array
          ? (y: number, buf: Float32Array) => lutI16(px, y * width, width, lut, bias, buf)
          : (y: number, buf: Float32Array) => lutAny(px, y * width, width, lut, bias, buf);
  return {
    width,
    height,
    row,
    full() {
      const data = new Float32Array(width * height);
      const buf = new Float32Array(width);
      for (let y = 0; y < height; y++) {
        row(y, buf);
        data.set(buf, y * width);
      }
      return { width, height, data };
    },
  };
}

/**
 * `resizeBilinear(src.full(), w, h)` for each size, bit-identical, in one sweep over the source
 * rows (horizontal passes), then one vertical pass per size.
 */
export function resizeSource(src: ModelSource, sizes: { width: number; height: number }[]): Float32Array[] {
  const { width: w0, height: h0 } = src;
  const buf = scratchF32('source-row', w0);
  const mids = sizes.map((s, i) => (s.height === h0 ? new Float32Array(s.width * h0) : scratchF32(`source-mid-${i}`, s.width * h0)));
  const axes = sizes.map((s) => (s.width !== w0 ? axis(w0, s.width) : undefined));
  for (let y = 0; y < h0; y++) {
    src.row(y, buf);
    for (let i = 0; i < sizes.length; i++) {
      const a = axes[i];
      const w = sizes[i]!.width;
      if (a) hRow(buf, 0, a, w, mids[i]!, y * w);
      else mids[i]!.set(buf, y * w);
    }
  }
  return sizes.map((s, i) => {
    if (s.height === h0) return mids[i]!;
    const out = new Float32Array(s.width * s.height);
    vPass(mids[i]!, s.width, axis(h0, s.height), s.height, out);
    return out;
  });
}
