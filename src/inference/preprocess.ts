/**
 * From a [0,1] bone-bright radiograph to the segmenter input, from the segmenter logits to the
 * RidgeNet input, and the Grad-CAM back to the radiograph: docs/model-input.md sections 3-4,
 * using the pixel module's Pillow-exact resize.
 */
import { resizeBilinear, type FloatImage } from '../pixel/index.ts';
import { resizeFast } from './upsample.ts';

export const SEG_SIZE = 128;
export const WORK_SIZE = 256;
export const CROP_MARGIN = 8;
/** Default only: the RidgeNet input size is read from its card (160 in early drafts, 128 now). */
export const RIDGE_SIZE = 128;

/** The grid sizes of the pipeline (from the model cards; defaults per docs/model-input.md). */
export interface Geometry {
  seg: number;
  work: number;
  margin: number;
  ridge: number;
}

export const DEFAULT_GEOMETRY: Geometry = { seg: SEG_SIZE, work: WORK_SIZE, margin: CROP_MARGIN, ridge: RIDGE_SIZE };

export interface CropBox {
  top: number;
  left: number;
  side: number;
}

export interface Components {
  /** Number of 8-connected components of `logits > 0`. */
  count: number;
  /** 1 on the largest component (ties: first in row-major order), else 0. */
  largest: Uint8Array;
  largestSize: number;
  /** All foreground pixels. */
  foreground: number;
}

/** `resize(img, 128, 128)` as the segmenter's [1,1,128,128] input. */
export function segmenterInput(img: FloatImage, size = SEG_SIZE): Float32Array {
  return resizeBilinear(img, size, size).data;
}

/**
 * 8-connected components of a binary image; keeps the largest (ties: the component whose first
 * pixel in row-major order comes first, i.e. the first found by a row-major scan).
 */
export function largestComponent(b: Uint8Array, width: number, height: number): Components {
  const labels = new Int32Array(width * height);
  const stack = new Int32Array(width * height);
  let n = 0;
  let bestLabel = 0;
  let bestSize = 0;
  let foreground = 0;
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
    foreground += size;
    if (size > bestSize) {
      bestSize = size;
      bestLabel = n;
    }
  }
  const largest = new Uint8Array(width * height);
  if (bestLabel) for (let i = 0; i < labels.length; i++) largest[i] = labels[i] === bestLabel ? 1 : 0;
  return { count: n, largest, largestSize: bestSize, foreground };
}

export interface MaskResult {
  /** 0/1 float mask on the 256 x 256 working grid. */
  mask256: Float32Array;
  components: Components;
  /** True when `logits > 0` was empty and the mask is all ones. */
  empty: boolean;
}

/** docs/model-input.md 4.1-4.3. */
export function maskFromLogits(logits: Float32Array, segSize = SEG_SIZE, workSize = WORK_SIZE): MaskResult {
  const n = segSize * segSize;
  if (logits.length !== n) throw new Error(`segmenter logits have ${logits.length} values, ${n} expected`);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = logits[i]! > 0 ? 1 : 0;
  const components = largestComponent(b, segSize, segSize);
  if (components.largestSize === 0) {
    return { mask256: new Float32Array(workSize * workSize).fill(1), components, empty: true };
  }
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = components.largest[i]!;
  const m = resizeBilinear({ width: segSize, height: segSize, data: f }, workSize, workSize).data;
  const mask256 = new Float32Array(m.length);
  for (let i = 0; i < m.length; i++) mask256[i] = m[i]! >= 0.5 ? 1 : 0;
  return { mask256, components, empty: false };
}

export interface Bounds {
  r0: number;
  r1: number;
  c0: number;
  c1: number;
  area: number;
}

export function maskBounds(mask: Float32Array, size = WORK_SIZE): Bounds | undefined {
  if (mask.length !== size * size) throw new Error(`mask has ${mask.length} values, ${size * size} expected`);
  let r0 = size;
  let r1 = -1;
  let c0 = size;
  let c1 = -1;
  let area = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (mask[y * size + x]! !== 0) {
        area++;
        if (y < r0) r0 = y;
        if (y > r1) r1 = y;
        if (x < c0) c0 = x;
        if (x > c1) c1 = x;
      }
    }
  }
  return r1 < 0 ? undefined : { r0, r1, c0, c1, area };
}

/** docs/model-input.md 4.5 (floor division, as Python's //). */
export function cropBox(b: Bounds, margin = CROP_MARGIN): CropBox {
  const h = b.r1 - b.r0 + 1;
  const w = b.c1 - b.c0 + 1;
  const side = Math.max(h, w) + 2 * margin;
  return { top: b.r0 - Math.floor((side - h) / 2), left: b.c0 - Math.floor((side - w) / 2), side };
}

/** `resize(img, 256, 256)`: the working grid. */
export function workImage(img: FloatImage, workSize = WORK_SIZE): Float32Array {
  return resizeBilinear(img, workSize, workSize).data;
}

/** docs/model-input.md 4.4, 4.6, 4.7: the RidgeNet [1,1,160,160] input. */
export function ridgeInput(work: Float32Array, mask256: Float32Array, box: CropBox, size = RIDGE_SIZE, workSize = WORK_SIZE): Float32Array {
  const { top, left, side } = box;
  const canvas = new Float32Array(side * side);
  const y0 = Math.max(top, 0);
  const x0 = Math.max(left, 0);
  const y1 = Math.min(top + side, workSize);
  const x1 = Math.min(left + side, workSize);
  for (let y = y0; y < y1; y++) {
    const src = y * workSize;
    const dst = (y - top) * side - left;
    for (let x = x0; x < x1; x++) canvas[dst + x] = Math.fround(work[src + x]! * mask256[src + x]!);
  }
  return resizeBilinear({ width: side, height: side, data: canvas }, size, size).data;
}

/**
 * Grad-CAM (docs/model-input.md 4): alpha_k = mean_ij grad[k,i,j];
 * cam = max(0, sum_k alpha_k A_k) on the feature grid (fh x fw), float64 sums.
 */
export function gradCam(features: Float32Array, grad: Float32Array, channels: number, fh: number, fw: number): Float32Array {
  const hw = fh * fw;
  const cam = new Float64Array(hw);
  for (let k = 0; k < channels; k++) {
    const off = k * hw;
    let a = 0;
    for (let j = 0; j < hw; j++) a += grad[off + j]!;
    a /= hw;
    if (a === 0) continue;
    for (let j = 0; j < hw; j++) cam[j] = cam[j]! + a * features[off + j]!;
  }
  const out = new Float32Array(hw);
  for (let j = 0; j < hw; j++) out[j] = cam[j]! > 0 ? cam[j]! : 0;
  return out;
}

/**
 * Maps a feature-grid CAM back to the radiograph: resize to the RidgeNet input (160 x 160), then
 * to the crop box (side x side) on the 256 grid, zero outside the box, then the 256 grid to the
 * radiograph's rows x columns (the inverse squash); scaled so that the working grid's maximum is 1
 * (values in [0,1]; all 0 when the CAM is 0 everywhere).
 */
export function camToImage(cam: Float32Array, fh: number, fw: number, box: CropBox, width: number, height: number, inputSize = RIDGE_SIZE, workSize = WORK_SIZE): { data: Float32Array; max: number } {
  const atInput = resizeBilinear({ width: fw, height: fh, data: cam }, inputSize, inputSize);
  const atBox = resizeBilinear(atInput, box.side, box.side).data;
  const grid = new Float32Array(workSize * workSize);
  const y0 = Math.max(box.top, 0);
  const x0 = Math.max(box.left, 0);
  const y1 = Math.min(box.top + box.side, workSize);
  const x1 = Math.min(box.left + box.side, workSize);
  for (let y = y0; y < y1; y++) {
    const src = (y - box.top) * box.side - box.left;
    for (let x = x0; x < x1; x++) grid[y * workSize + x] = atBox[src + x]!;
  }
  // Scale on the working grid (cheap): the upsampled map is a convex combination of grid values,
  // so it stays in [0,1]; its maximum is 1 up to the filter's smoothing of the peak.
  let max = 0;
  for (let i = 0; i < grid.length; i++) if (grid[i]! > max) max = grid[i]!;
  if (max > 0) {
    const s = 1 / max;
    for (let i = 0; i < grid.length; i++) grid[i] = grid[i]! > 0 ? Math.min(1, grid[i]! * s) : 0;
  }
  const full = resizeFast({ width: workSize, height: workSize, data: grid }, width, height).data;
  return { data: full, max };
}
