/**
 * Model input (docs/model-input.md): a presented [0,1] grayscale image (bone bright) resized
 * exactly like Pillow's `Image.resize((W, H), Image.BILINEAR)` on a mode 'F' image, then
 * normalised and laid out as NCHW float32. Written from the algorithm's description (separable
 * triangle filter whose support grows with the downscale factor; horizontal pass first, double
 * coefficients and accumulators, float32 intermediate and output).
 */
import { PixelError } from './errors.ts';
import { present } from './present.ts';
import type { DecodedImage } from './decode.ts';

/** A single-channel float32 image, row-major. */
export interface FloatImage {
  width: number;
  height: number;
  data: Float32Array;
}

interface AxisCoeffs {
  ksize: number;
  /** First input index per output index. */
  bounds: Int32Array;
  /** Number of taps per output index. */
  counts: Int32Array;
  /** ksize doubles per output index. */
  k: Float64Array;
}

/** One axis of the bilinear (triangle) filter from inSize to outSize samples (docs/model-input.md 2). */
function axisCoeffs(inSize: number, outSize: number): AxisCoeffs {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize);
  const counts = new Int32Array(outSize);
  const k = new Float64Array(outSize * ksize);
  const ss = 1 / filterscale;
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    const n = xmax - xmin;
    let ww = 0;
    const base = o * ksize;
    for (let x = 0; x < n; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      k[base + x] = w;
      ww += w;
    }
    if (ww !== 0) for (let x = 0; x < n; x++) k[base + x] = k[base + x]! / ww;
    bounds[o] = xmin;
    counts[o] = n;
  }
  return { ksize, bounds, counts, k };
}

/** Pillow BILINEAR resize of a mode 'F' image to width x height (aspect ratio not kept). */
export function resizeBilinear(img: FloatImage, width: number, height: number): FloatImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new PixelError('bad-parameter', `Bad target size ${width}x${height}`);
  }
  const { width: w0, height: h0 } = img;
  if (img.data.length !== w0 * h0) throw new PixelError('bad-parameter', 'Image data length does not match its size');
  let cur = img.data;
  let cw = w0;
  if (width !== w0) {
    const c = axisCoeffs(w0, width);
    const out = new Float32Array(width * h0);
    for (let y = 0; y < h0; y++) {
      const row = y * w0;
      for (let o = 0; o < width; o++) {
        const xmin = c.bounds[o]!;
        const n = c.counts[o]!;
        const base = o * c.ksize;
        let s = 0;
        for (let x = 0; x < n; x++) s += cur[row + xmin + x]! * c.k[base + x]!;
        out[y * width + o] = s;
      }
    }
    cur = out;
    cw = width;
  }
  if (height !== h0) {
    const c = axisCoeffs(h0, height);
    const out = new Float32Array(cw * height);
    const acc = new Float64Array(cw);
    for (let o = 0; o < height; o++) {
      const ymin = c.bounds[o]!;
      const n = c.counts[o]!;
      const base = o * c.ksize;
      acc.fill(0);
      for (let y = 0; y < n; y++) {
        const kv = c.k[base + y]!;
        const row = (ymin + y) * cw;
        for (let x = 0; x < cw; x++) acc[x] = acc[x]! + cur[row + x]! * kv;
      }
      out.set(acc, o * cw);
    }
    cur = out;
  }
  return { width, height: height, data: cur === img.data ? new Float32Array(cur) : cur };
}

export interface TensorSpec {
  width: number;
  height: number;
  /** Channels of the tensor: the grayscale image is repeated (default 1). */
  channels?: number;
  /** Per channel (or one for all): (x - mean) / std. Defaults 0 and 1 (no normalisation). */
  mean?: number | number[];
  std?: number | number[];
}

export interface Tensor {
  dims: number[];
  data: Float32Array;
}

/** Resize + normalise + NCHW (N = 1) from a [0,1] grayscale image. */
export function toModelTensor(img: FloatImage, spec: TensorSpec): Tensor {
  const c = spec.channels ?? 1;
  const r = resizeBilinear(img, spec.width, spec.height);
  const plane = spec.width * spec.height;
  const data = new Float32Array(c * plane);
  const pick = (v: number | number[] | undefined, i: number, d: number): number => (v === undefined ? d : Array.isArray(v) ? (v[i] ?? d) : v);
  for (let ch = 0; ch < c; ch++) {
    const mean = pick(spec.mean, ch, 0);
    const std = pick(spec.std, ch, 1);
    if (!(std !== 0 && Number.isFinite(std))) throw new PixelError('bad-parameter', `std must be non-zero (channel ${ch})`);
    const off = ch * plane;
    if (mean === 0 && std === 1) data.set(r.data, off);
    else for (let i = 0; i < plane; i++) data[off + i] = (r.data[i]! - mean) / std;
  }
  return { dims: [1, c, spec.height, spec.width], data };
}

/** 8-bit grayscale (bone bright) to [0,1]: value / 255 in float32 (docs/model-input.md 1). */
export function u8ToUnit(u8: Uint8Array, width: number, height: number): FloatImage {
  const data = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) data[i] = u8[i]! / 255;
  return { width, height, data };
}

/**
 * A decoded DICOM frame as the model's [0,1] grayscale image (docs/model-input.md 1): Modality
 * LUT, the first stored window (else the frame's min-max), MONOCHROME1 inverted; colour becomes
 * luminance (0.299 R + 0.587 G + 0.114 B, as Pillow's convert('L')) / 255.
 */
export function modelImageFromDecoded(img: DecodedImage, frameIndex = 0): FloatImage {
  const px = img.frames[frameIndex];
  if (!px) throw new PixelError('frame-out-of-range', `Frame ${frameIndex + 1} was not decoded`);
  const pres = present(img, px, img.module.windows.length > 0 ? { windowIndex: 0 } : { minMax: true });
  if (pres.kind === 'gray') return { width: img.columns, height: img.rows, data: pres.data };
  const n = img.rows * img.columns;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (pres.data[3 * i]! * 0.299 + pres.data[3 * i + 1]! * 0.587 + pres.data[3 * i + 2]! * 0.114) / 255;
  return { width: img.columns, height: img.rows, data };
}

// ------------------------------------------------------------------ docs/model-input.md 3 and 4

/** Model-input constants of hand-segmenter 1.0.0 and ridgenet 1.0.0 (docs/model-input.md). */
export const MODEL_INPUT = { segSize: 128, workSize: 256, cropMargin: 8, ridgeSize: 128, unknownSex: 0.5 } as const;

/** Segmenter input `image` [1,1,128,128]: resize(img, 128, 128), no normalisation. */
export function segmenterInput(img: FloatImage): Tensor {
  return toModelTensor(img, { width: MODEL_INPUT.segSize, height: MODEL_INPUT.segSize });
}

/**
 * Largest 8-connected component of a binary image (row-major, width x height). Ties: the
 * component whose first pixel in row-major order comes first. Empty input gives an empty mask.
 */
export function largestComponent(b: Uint8Array, width: number, height: number): Uint8Array {
  const labels = new Int32Array(width * height);
  const stack = new Int32Array(width * height);
  let best = 0;
  let bestSize = 0;
  let n = 0;
  for (let start = 0; start < b.length; start++) {
    if (!b[start] || labels[start]) continue;
    n++;
    labels[start] = n;
    let sp = 0;
    stack[sp++] = start;
    let size = 0;
    while (sp > 0) {
      const p = stack[--sp]!;
      size++;
      const y = (p / width) | 0;
      const x = p - y * width;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          const q = yy * width + xx;
          if (b[q] && !labels[q]) {
            labels[q] = n;
            stack[sp++] = q;
          }
        }
      }
    }
    if (size > bestSize) {
      best = n;
      bestSize = size;
    }
  }
  const out = new Uint8Array(width * height);
  if (best === 0) return out;
  for (let i = 0; i < out.length; i++) out[i] = labels[i] === best ? 1 : 0;
  return out;
}

export interface HandMask {
  /** 256 x 256 float32 0/1. */
  mask: FloatImage;
  /** False when the segmenter found nothing and the mask is all ones (log it). */
  segmented: boolean;
}

/** Segmenter logits [128*128] to the 256 x 256 hand mask (docs/model-input.md 4, steps 1-3). */
export function maskFromLogits(logits: Float32Array): HandMask {
  const s = MODEL_INPUT.segSize;
  const w = MODEL_INPUT.workSize;
  if (logits.length !== s * s) throw new PixelError('bad-parameter', `Expected ${s * s} logits, got ${logits.length}`);
  const b = new Uint8Array(s * s);
  for (let i = 0; i < b.length; i++) b[i] = logits[i]! > 0 ? 1 : 0;
  const lc = largestComponent(b, s, s);
  if (!lc.some((v) => v)) return { mask: { width: w, height: w, data: new Float32Array(w * w).fill(1) }, segmented: false };
  const up = resizeBilinear({ width: s, height: s, data: Float32Array.from(lc) }, w, w);
  const data = new Float32Array(w * w);
  for (let i = 0; i < data.length; i++) data[i] = up.data[i]! >= 0.5 ? 1 : 0;
  return { mask: { width: w, height: w, data }, segmented: true };
}

export interface CropBox {
  top: number;
  left: number;
  side: number;
}

/** Square crop box around the mask on the 256 grid (docs/model-input.md 4, step 5). */
export function cropBox(mask: FloatImage): CropBox {
  let r0 = -1, r1 = -1, c0 = mask.width, c1 = -1;
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      if (!mask.data[y * mask.width + x]) continue;
      if (r0 < 0) r0 = y;
      r1 = y;
      if (x < c0) c0 = x;
      if (x > c1) c1 = x;
    }
  }
  if (r0 < 0) throw new PixelError('bad-parameter', 'Empty mask: no crop box');
  const h = r1 - r0 + 1;
  const w = c1 - c0 + 1;
  const side = Math.max(h, w) + 2 * MODEL_INPUT.cropMargin;
  return { top: r0 - Math.floor((side - h) / 2), left: c0 - Math.floor((side - w) / 2), side };
}

export interface RidgeInput {
  tensor: Tensor;
  box: CropBox;
  /** work = resize(img, 256, 256) (for Grad-CAM overlays). */
  work: FloatImage;
}

/**
 * RidgeNet input `image` [1,1,size,size] from the image and the hand mask (docs/model-input.md 4,
 * steps 4-7). `size` comes from the model card (default MODEL_INPUT.ridgeSize).
 */
export function ridgenetInput(img: FloatImage, mask: FloatImage, size: number = MODEL_INPUT.ridgeSize): RidgeInput {
  const w = MODEL_INPUT.workSize;
  const work = resizeBilinear(img, w, w);
  const box = cropBox(mask);
  const crop = new Float32Array(box.side * box.side);
  for (let y = 0; y < box.side; y++) {
    const sy = box.top + y;
    if (sy < 0 || sy >= w) continue;
    for (let x = 0; x < box.side; x++) {
      const sx = box.left + x;
      if (sx < 0 || sx >= w) continue;
      crop[y * box.side + x] = work.data[sy * w + sx]! * mask.data[sy * w + sx]!;
    }
  }
  const tensor = toModelTensor({ width: box.side, height: box.side, data: crop }, { width: size, height: size });
  return { tensor, box, work };
}

/** Sex input [1,1]: 1 male, 0 female, 0.5 unknown. */
export function sexInput(male: boolean | undefined): Tensor {
  return { dims: [1, 1], data: Float32Array.of(male === undefined ? MODEL_INPUT.unknownSex : male ? 1 : 0) };
}
