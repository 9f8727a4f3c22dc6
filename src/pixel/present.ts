/**
 * Presentation (PS3.3 C.11): Modality LUT (Rescale Slope/Intercept or Modality LUT Sequence), VOI
 * (Window Center/Width with LINEAR, LINEAR_EXACT or SIGMOID, or VOI LUT Sequence; else the
 * frame's min-max), then MONOCHROME1 inverted so that bone (high attenuation) comes out bright.
 */
import { PixelError } from './errors.ts';
import type { Lut, PixelModule } from './parse.ts';
import type { PixelArray } from './pixels.ts';

export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

export interface WindowSpec {
  center: number;
  width: number;
  function?: VoiFunction;
}

export interface PresentOptions {
  /** Explicit window in modality (rescaled) units: overrides the data set's. */
  window?: WindowSpec;
  /** Which of several stored Window Center/Width pairs (default 0). */
  windowIndex?: number;
  /** Use the VOI LUT Sequence item of this index rather than a stored window. */
  voiLutIndex?: number;
  /** Ignore stored VOI (windows, LUTs) and stretch the frame's min-max. */
  minMax?: boolean;
}

export interface GrayPresentation {
  kind: 'gray';
  rows: number;
  columns: number;
  /** One value per pixel in [0,1]; 1 = white as displayed (bone bright for radiographs). */
  data: Float32Array;
  /** The VOI used, for logs and model cards. */
  voi: { kind: 'window'; center: number; width: number; function: VoiFunction } | { kind: 'lut'; index: number } | { kind: 'min-max'; min: number; max: number };
}

export interface RgbPresentation {
  kind: 'rgb';
  rows: number;
  columns: number;
  /** RGB, colour-by-pixel, 8 bits per sample. */
  data: Uint8Array;
}

export type Presentation = GrayPresentation | RgbPresentation;

export interface PresentInput {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  /** Of the decoded values (after any YBR->RGB conversion). */
  photometricInterpretation: string;
  bitsStored: number;
  module: PixelModule;
}

function lutLookup(lut: Lut, x: number): number {
  let i = Math.round(x) - lut.firstMapped;
  if (i < 0) i = 0;
  else if (i >= lut.entries) i = lut.entries - 1;
  return lut.data[i]!;
}

/** Modality LUT output (PS3.3 C.11.1) of every pixel. */
export function modalityValues(pixels: ArrayLike<number>, m: PixelModule): Float32Array {
  const out = new Float32Array(pixels.length);
  const lut = m.modalityLut;
  if (lut) {
    for (let i = 0; i < pixels.length; i++) out[i] = lutLookup(lut, pixels[i]!);
  } else {
    const s = m.rescaleSlope;
    const b = m.rescaleIntercept;
    for (let i = 0; i < pixels.length; i++) out[i] = pixels[i]! * s + b;
  }
  return out;
}

/** Applies a window (PS3.3 C.11.2.1.2) in place: values become [0,1]. */
export function applyWindow(values: Float32Array, w: WindowSpec): void {
  const fn = w.function ?? 'LINEAR';
  const c = w.center;
  const width = w.width;
  if (!(width > 0) || !Number.isFinite(c)) throw new PixelError('bad-parameter', `Bad window ${c},${width}`);
  if (fn === 'LINEAR') {
    if (width < 1) throw new PixelError('bad-parameter', 'LINEAR window width must be >= 1');
    const lo = c - 0.5 - (width - 1) / 2;
    const hi = c - 0.5 + (width - 1) / 2;
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      // Width 1 is a threshold at the centre.
      values[i] = x <= lo ? 0 : x > hi ? 1 : width === 1 ? 1 : (x - (c - 0.5)) / (width - 1) + 0.5;
    }
  } else if (fn === 'LINEAR_EXACT') {
    const lo = c - width / 2;
    const hi = c + width / 2;
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      values[i] = x <= lo ? 0 : x > hi ? 1 : (x - c) / width + 0.5;
    }
  } else if (fn === 'SIGMOID') {
    for (let i = 0; i < values.length; i++) values[i] = 1 / (1 + Math.exp((-4 * (values[i]! - c)) / width));
  } else {
    throw new PixelError('bad-parameter', `Unknown VOI LUT function ${String(fn)}`);
  }
}

function applyVoiLut(values: Float32Array, lut: Lut): void {
  const max = 2 ** lut.bits - 1;
  for (let i = 0; i < values.length; i++) values[i] = lutLookup(lut, values[i]!) / max;
}

function minMaxOf(values: Float32Array): [number, number] {
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return [mn, mx];
}

function normaliseVoiFunction(f: string): VoiFunction {
  const u = f.toUpperCase().replace('-', '_');
  if (u === 'LINEAR' || u === 'LINEAR_EXACT' || u === 'SIGMOID') return u;
  return 'LINEAR';
}

/** Presents one decoded frame: grayscale to [0,1] floats (bone bright), colour to 8-bit RGB. */
export function present(img: PresentInput, pixels: PixelArray | Float32Array | Float64Array, opts: PresentOptions = {}): Presentation {
  const { rows, columns } = img;
  if (img.samplesPerPixel === 3) {
    const data = new Uint8Array(pixels.length);
    const shift = Math.max(0, img.bitsStored - 8);
    const max = 2 ** img.bitsStored - 1;
    if (shift === 0) data.set(pixels as ArrayLike<number>);
    else for (let i = 0; i < pixels.length; i++) data[i] = Math.round((Math.min(max, Math.max(0, pixels[i]!)) * 255) / max);
    return { kind: 'rgb', rows, columns, data };
  }
  const pi = img.photometricInterpretation;
  if (pi !== 'MONOCHROME1' && pi !== 'MONOCHROME2') {
    throw new PixelError('unsupported-pixel-format', `Cannot present photometric interpretation ${pi}`);
  }
  const m = img.module;
  // Integer pixels without a Modality LUT: compute the pipeline once per value in [min, max] and
  // look it up (the extremes are present, so a min-max VOI is the frame's). Same results, faster.
  if (!m.modalityLut && !(pixels instanceof Float32Array) && !(pixels instanceof Float64Array) && pixels.length > 4096) {
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = 0; i < pixels.length; i++) {
      const v = pixels[i]!;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const range = mx - mn + 1;
    if (range <= pixels.length && range <= 1 << 20) {
      const domain = new Float64Array(range);
      for (let i = 0; i < range; i++) domain[i] = mn + i;
      const lut = presentGray(img, domain, opts);
      const data = new Float32Array(pixels.length);
      const l = lut.data;
      for (let i = 0; i < pixels.length; i++) data[i] = l[pixels[i]! - mn]!;
      return { ...lut, rows, columns, data };
    }
  }
  return presentGray(img, pixels, opts);
}

function presentGray(img: PresentInput, pixels: ArrayLike<number>, opts: PresentOptions): GrayPresentation {
  const { rows, columns } = img;
  const pi = img.photometricInterpretation;
  const m = img.module;
  const values = modalityValues(pixels, m);
  let voi: GrayPresentation['voi'];
  const stored = m.windows[opts.windowIndex ?? 0];
  if (opts.window) {
    const w = { center: opts.window.center, width: opts.window.width, function: opts.window.function ?? 'LINEAR' } as const;
    applyWindow(values, w);
    voi = { kind: 'window', ...w };
  } else if (!opts.minMax && opts.voiLutIndex !== undefined && m.voiLuts[opts.voiLutIndex]) {
    applyVoiLut(values, m.voiLuts[opts.voiLutIndex]!);
    voi = { kind: 'lut', index: opts.voiLutIndex };
  } else if (!opts.minMax && stored) {
    const w = { center: stored.center, width: stored.width, function: normaliseVoiFunction(m.voiLutFunction) };
    applyWindow(values, w);
    voi = { kind: 'window', ...w };
  } else if (!opts.minMax && m.voiLuts[0]) {
    applyVoiLut(values, m.voiLuts[0]);
    voi = { kind: 'lut', index: 0 };
  } else {
    const [mn, mx] = minMaxOf(values);
    const range = mx - mn;
    for (let i = 0; i < values.length; i++) values[i] = range > 0 ? (values[i]! - mn) / range : 0;
    voi = { kind: 'min-max', min: mn, max: mx };
  }
  if (pi === 'MONOCHROME1') {
    for (let i = 0; i < values.length; i++) values[i] = 1 - values[i]!;
  }
  return { kind: 'gray', rows, columns, data: values, voi };
}

/**
 * Grayscale presentation straight to 8 bits (round(v * 255)), for rendered images: one lookup per
 * pixel for integer data. Identical to rounding present()'s output.
 */
export function presentGray8(img: PresentInput, pixels: PixelArray, opts: PresentOptions = {}): Uint8Array {
  const out = new Uint8Array(pixels.length);
  const m = img.module;
  if (!m.modalityLut && pixels.length > 4096 && img.samplesPerPixel === 1) {
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = 0; i < pixels.length; i++) {
      const v = pixels[i]!;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const range = mx - mn + 1;
    if (range <= pixels.length && range <= 1 << 20) {
      const domain = new Float64Array(range);
      for (let i = 0; i < range; i++) domain[i] = mn + i;
      const f = presentGray(img, domain, opts).data;
      const lut = new Uint8Array(range);
      for (let i = 0; i < range; i++) lut[i] = Math.round(f[i]! * 255);
      for (let i = 0; i < pixels.length; i++) out[i] = lut[pixels[i]! - mn]!;
      return out;
    }
  }
  const p = present(img, pixels, opts);
  if (p.kind !== 'gray') throw new PixelError('unsupported-pixel-format', 'presentGray8 is for grayscale images');
  for (let i = 0; i < out.length; i++) out[i] = Math.round(p.data[i]! * 255);
  return out;
}
