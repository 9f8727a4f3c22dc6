/** From decoded sample bytes to typed arrays of native pixel values, and colour-model conversion. */
import { PixelError } from './errors.ts';
import type { PixelModule } from './parse.ts';

export type PixelArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array;

/** Swaps the byte order of 16- or 32-bit words in place. */
export function swapBytes(bytes: Uint8Array, wordSize: 2 | 4): void {
  const n = bytes.length - (bytes.length % wordSize);
  if (wordSize === 2) {
    for (let i = 0; i < n; i += 2) {
      const a = bytes[i]!;
      bytes[i] = bytes[i + 1]!;
      bytes[i + 1] = a;
    }
  } else {
    for (let i = 0; i < n; i += 4) {
      const a = bytes[i]!;
      const b = bytes[i + 1]!;
      bytes[i] = bytes[i + 3]!;
      bytes[i + 1] = bytes[i + 2]!;
      bytes[i + 2] = b;
      bytes[i + 3] = a;
    }
  }
}

type StoredBits = Pick<PixelModule, 'bitsAllocated' | 'bitsStored' | 'highBit' | 'pixelRepresentation'>;

/**
 * What a codec guarantees of every decoded sample: a `precision`-bit value, unsigned or (`signed`)
 * two's complement, written one byte per sample at precision <= 8, else two. libopenjp2 clamps each
 * decoded sample to its component's precision and sign from the SIZ marker (DC level shift step).
 */
export interface SampleRange {
  precision: number;
  signed: boolean;
}

/**
 * Whether masking to BitsStored and sign extension (toPixelArray) would leave every sample of a
 * codec's output unchanged, so the 3-million-sample pass can be skipped (~8 ms for RG3).
 */
export function samplesNeedNoFix(range: SampleRange, p: StoredBits): boolean {
  if (p.highBit + 1 !== p.bitsStored || range.precision > p.bitsStored || p.bitsStored > p.bitsAllocated) return false;
  // Unsigned pixel data: [0, 2^precision) lies within BitsStored; negative values would not.
  if (p.pixelRepresentation === 0) return !range.signed;
  // Signed pixel data from unsigned samples: unchanged only if none reaches the sign bit.
  if (!range.signed) return range.precision < p.bitsStored;
  // Signed samples are already sign-extended over the codec's sample width; an 8-bit sample
  // zero-widened to BitsAllocated 16 is not.
  return p.bitsAllocated === (range.precision > 8 ? 16 : 8);
}

/**
 * Little-endian sample bytes (one frame) to a typed array of pixel values: bits above HighBit and
 * below HighBit-BitsStored+1 are dropped (PS3.5 8.1.1), signed values are sign-extended.
 * `bytes` must be a private copy: it may be reused as the result's storage. `range`, where the
 * codec reported one, lets the pass over every sample be skipped when it cannot change a value
 * (see samplesNeedNoFix).
 */
export function toPixelArray(bytes: Uint8Array, p: StoredBits, range?: SampleRange): PixelArray {
  const skip = range !== undefined && samplesNeedNoFix(range, p);
  const signed = p.pixelRepresentation === 1;
  const extend = signed && !skip;
  const shift = p.highBit + 1 - p.bitsStored;
  const needMask = p.bitsStored < p.bitsAllocated && !skip;
  const mask = p.bitsStored >= 32 ? 0xffffffff : (2 ** p.bitsStored) - 1;
  const signBit = 2 ** (p.bitsStored - 1);
  const full = 2 ** p.bitsStored;
  const aligned = (size: number): ArrayBuffer => {
    if (bytes.byteOffset % size === 0 && bytes.byteLength % size === 0) return bytes.buffer as ArrayBuffer;
    const copy = new Uint8Array(bytes.byteLength - (bytes.byteLength % size));
    copy.set(bytes.subarray(0, copy.length));
    bytes = copy;
    return copy.buffer as ArrayBuffer;
  };
  const fix = (a: Uint8Array | Uint16Array | Uint32Array): void => {
    if (!needMask && !extend) return;
    for (let i = 0; i < a.length; i++) {
      let v = needMask ? Math.floor(a[i]! / 2 ** shift) % (mask + 1) : a[i]!;
      if (extend && v >= signBit) v -= full;
      a[i] = v >>> 0; // stored back as two's complement bits; viewed signed below
    }
  };
  switch (p.bitsAllocated) {
    case 8: {
      const u = new Uint8Array(aligned(1), bytes.byteOffset, bytes.byteLength);
      if (needMask || extend) {
        for (let i = 0; i < u.length; i++) {
          let v = (u[i]! >> shift) & mask;
          if (extend && v >= signBit) v -= full;
          u[i] = v & 0xff;
        }
      }
      return signed ? new Int8Array(u.buffer, u.byteOffset, u.length) : u;
    }
    case 16: {
      const buf = aligned(2);
      const u = new Uint16Array(buf, bytes.byteOffset, bytes.byteLength / 2);
      if (needMask || extend) {
        for (let i = 0; i < u.length; i++) {
          let v = (u[i]! >> shift) & mask;
          if (extend && v >= signBit) v -= full;
          u[i] = v & 0xffff;
        }
      }
      return signed ? new Int16Array(u.buffer, u.byteOffset, u.length) : u;
    }
    case 32: {
      const buf = aligned(4);
      const u = new Uint32Array(buf, bytes.byteOffset, bytes.byteLength / 4);
      fix(u);
      return signed ? new Int32Array(u.buffer, u.byteOffset, u.length) : u;
    }
    default:
      throw new PixelError('unsupported-pixel-format', `BitsAllocated ${p.bitsAllocated} not supported here`);
  }
}

/** Unpacks 1-bit pixels (PS3.5 8.1.1: first pixel in the least significant bit) of frame `index`. */
export function unpackBits(packed: Uint8Array, pixelsPerFrame: number, index: number): Uint8Array {
  const out = new Uint8Array(pixelsPerFrame);
  const start = index * pixelsPerFrame;
  for (let i = 0; i < pixelsPerFrame; i++) {
    const bit = start + i;
    out[i] = ((packed[bit >> 3] ?? 0) >> (bit & 7)) & 1;
  }
  return out;
}

/** Colour-by-plane (R...G...B...) to colour-by-pixel (RGBRGB...). */
export function planarToInterleaved<T extends PixelArray>(a: T, pixels: number): T {
  const out = new (a.constructor as new (n: number) => T)(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    out[3 * i] = a[i]!;
    out[3 * i + 1] = a[pixels + i]!;
    out[3 * i + 2] = a[2 * pixels + i]!;
  }
  return out;
}

/** PS3.3 C.7.6.3.1.2: YBR_FULL to RGB, in place on colour-by-pixel samples of `bits` bits. */
export function ybrFullToRgb(a: PixelArray, bits: number): void {
  const max = 2 ** bits - 1;
  const half = 2 ** (bits - 1);
  for (let i = 0; i + 2 < a.length; i += 3) {
    const y = a[i]!;
    const cb = a[i + 1]! - half;
    const cr = a[i + 2]! - half;
    const r = Math.round(y + 1.402 * cr);
    const g = Math.round(y - 0.344136 * cb - 0.714136 * cr);
    const b = Math.round(y + 1.772 * cb);
    a[i] = r < 0 ? 0 : r > max ? max : r;
    a[i + 1] = g < 0 ? 0 : g > max ? max : g;
    a[i + 2] = b < 0 ? 0 : b > max ? max : b;
  }
}

/** Native YBR_FULL_422 (Y1 Y2 Cb Cr per pixel pair, PS3.3 C.7.6.3.1.2) to YBR_FULL colour-by-pixel. */
export function ybr422ToFull<T extends PixelArray>(a: T, rows: number, columns: number): T {
  const out = new (a.constructor as new (n: number) => T)(rows * columns * 3);
  let src = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c += 2) {
      const y1 = a[src]!;
      const y2 = a[src + 1]!;
      const cb = a[src + 2]!;
      const cr = a[src + 3]!;
      src += 4;
      const o = 3 * (r * columns + c);
      out[o] = y1;
      out[o + 1] = cb;
      out[o + 2] = cr;
      if (c + 1 < columns) {
        out[o + 3] = y2;
        out[o + 4] = cb;
        out[o + 5] = cr;
      }
    }
  }
  return out;
}
