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

// The model-specific steps of docs/model-input.md (segmenter input, mask, crop, RidgeNet input)
// live with the models in src/inference/preprocess.ts; this module keeps the generic parts.
