/** Decode: Part 10 bytes to frames of native pixel values with their geometry and photometric meaning. */
import { PixelError, messageOf } from './errors.ts';
import { decodedFrameLength, encapsulatedFrame, nativeFrameBytes, parsePart10, type ParsedPart10, type PixelModule } from './parse.ts';
import { planarToInterleaved, swapBytes, toPixelArray, unpackBits, ybr422ToFull, ybrFullToRgb, type PixelArray } from './pixels.ts';
import { decodeFrameSync, initCodecs, reducedSize, type CodecResult, type FrameGeometry } from './codecs.ts';
import { defaultPool, type DecodePool } from './decode-pool.ts';

export interface DecodedFrameInfo {
  /** Photometric interpretation of the decoded values: YBR_* come out as RGB. */
  photometricInterpretation: string;
}

export interface DecodedImage {
  transferSyntaxUid: string;
  rows: number;
  columns: number;
  samplesPerPixel: number;
  /** Of the decoded values (RGB for YBR sources; MONOCHROME1 stays MONOCHROME1). */
  photometricInterpretation: string;
  storedPhotometricInterpretation: string;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: number;
  /** Always 0: colour frames are returned colour-by-pixel whatever was stored. */
  planarConfiguration: 0;
  numberOfFrames: number;
  /** Lossy source: lossy transfer syntax or LossyImageCompression "01". */
  lossy: boolean;
  /** Everything read from the data set (windows, rescale, VOI LUTs...). */
  module: PixelModule;
  /** Decoded frames in file order (only those asked for when `frames` was given: see frameNumbers). */
  frames: PixelArray[];
  /** 1-based numbers of the frames in `frames`. */
  frameNumbers: number[];
}

export interface DecodeOptions {
  /** 1-based frame numbers to decode (default: all). */
  frames?: number[];
  /**
   * Where compressed frames are decoded: a DecodePool (default: the shared one, worker threads
   * with a time limit) or 'inline' (same thread, no time limit: benchmarks and trusted input).
   */
  decoder?: DecodePool | 'inline';
}

export function isLossy(parsed: ParsedPart10): boolean {
  return parsed.ts.lossy || parsed.pixel.lossyImageCompression === '01';
}

function geometry(p: PixelModule): FrameGeometry {
  return {
    rows: p.rows,
    columns: p.columns,
    samplesPerPixel: p.samplesPerPixel,
    bitsAllocated: p.bitsAllocated,
    bitsStored: p.bitsStored,
    pixelRepresentation: p.pixelRepresentation,
    photometricInterpretation: p.photometricInterpretation,
  };
}

async function runCodec(parsed: ParsedPart10, encoded: Uint8Array, decoder: DecodePool | 'inline'): Promise<CodecResult> {
  const g = geometry(parsed.pixel);
  if (decoder === 'inline') {
    await initCodecs();
    try {
      return decodeFrameSync(parsed.ts.family, encoded, g);
    } catch (e) {
      throw new PixelError('decode-failed', `Decoder error: ${messageOf(e)}`);
    }
  }
  // encapsulatedFrame() gives a private copy when it joined fragments: the pool may move it.
  return decoder.decode(parsed.ts.family, encoded, g, 0, true);
}

/**
 * Decoded sample bytes of one frame, little endian, colour-by-pixel, still in the stored colour
 * model unless the codec converted it (then `photometricInterpretation` says RGB), and the
 * codec's sample range where it reports one.
 */
export async function decodeFrameBytes(parsed: ParsedPart10, index: number, decoder: DecodePool | 'inline' = defaultPool()): Promise<CodecResult> {
  const p = parsed.pixel;
  if (!Number.isInteger(index) || index < 0 || index >= p.numberOfFrames) {
    throw new PixelError('frame-out-of-range', `Frame ${index + 1} does not exist (NumberOfFrames ${p.numberOfFrames})`);
  }
  if (!parsed.ts.encapsulated) {
    if (p.bitsAllocated === 1) {
      return { bytes: unpackBits(nativeFrameBytes(parsed, 0), p.rows * p.columns * p.samplesPerPixel, index), photometricInterpretation: p.photometricInterpretation };
    }
    const bytes = new Uint8Array(nativeFrameBytes(parsed, index)); // private copy
    if (parsed.ts.bigEndian) {
      if (p.bitsAllocated === 16 || p.bitsAllocated === 32) swapBytes(bytes, p.bitsAllocated === 16 ? 2 : 4);
      // 8-bit samples in an OW element of a big endian file are swapped in pairs (PS3.5 A.3).
      else if (p.bitsAllocated === 8 && parsed.pixelDataElement.vr === 'OW') swapBytes(bytes, 2);
    }
    const pi = p.photometricInterpretation;
    let out: Uint8Array = bytes;
    if (p.samplesPerPixel === 3 && p.planarConfiguration === 1 && pi !== 'YBR_FULL_422') {
      out = planarBytesToInterleaved(bytes, p.rows * p.columns, p.bitsAllocated / 8);
    }
    return { bytes: out, photometricInterpretation: pi };
  }
  const encoded = encapsulatedFrame(parsed, index);
  const r = await runCodec(parsed, encoded, decoder);
  const want = decodedFrameLength(p);
  let bytes = r.bytes;
  if (bytes.length !== want) {
    if (p.bitsAllocated === 16 && bytes.length === want / 2) {
      // An 8-bit stream stored with BitsAllocated 16: widen.
      const wide = new Uint8Array(want);
      for (let i = 0; i < bytes.length; i++) wide[2 * i] = bytes[i]!;
      bytes = wide;
    } else {
      throw new PixelError('bad-pixel-data', `Decoded frame ${index + 1} has ${bytes.length} bytes, ${want} expected from the image attributes`);
    }
  }
  return { bytes, photometricInterpretation: r.photometricInterpretation, ...(r.range ? { range: r.range } : {}) };
}

function planarBytesToInterleaved(bytes: Uint8Array, pixels: number, bytesPerSample: number): Uint8Array {
  const out = new Uint8Array(pixels * 3 * bytesPerSample);
  for (let plane = 0; plane < 3; plane++) {
    for (let i = 0; i < pixels; i++) {
      const src = (plane * pixels + i) * bytesPerSample;
      const dst = (i * 3 + plane) * bytesPerSample;
      for (let b = 0; b < bytesPerSample; b++) out[dst + b] = bytes[src + b]!;
    }
  }
  return out;
}

/** One frame's pixel values, colour converted to RGB where the source is YBR_FULL/YBR_FULL_422. */
export async function decodeFrameValues(parsed: ParsedPart10, index: number, decoder: DecodePool | 'inline' = defaultPool()): Promise<{ pixels: PixelArray; photometricInterpretation: string }> {
  const p = parsed.pixel;
  const r = await decodeFrameBytes(parsed, index, decoder);
  if (p.bitsAllocated === 1) return { pixels: r.bytes, photometricInterpretation: r.photometricInterpretation };
  // Decoders put samples in the low bits: HighBit only positions native samples (PS3.5 8.1.1).
  let pixels = toPixelArray(r.bytes, parsed.ts.encapsulated ? { ...p, highBit: p.bitsStored - 1 } : p, r.range);
  let pi = r.photometricInterpretation;
  if (p.samplesPerPixel === 3) {
    if (pi === 'YBR_FULL_422' && !parsed.ts.encapsulated) {
      pixels = ybr422ToFull(pixels, p.rows, p.columns);
      pi = 'YBR_FULL';
    }
    if (pi === 'YBR_FULL') {
      ybrFullToRgb(pixels, p.bitsStored);
      pi = 'RGB';
    } else if (pi !== 'RGB') {
      throw new PixelError('unsupported-pixel-format', `Photometric interpretation ${pi} with ${parsed.ts.uid} is not supported`);
    }
  }
  return { pixels, photometricInterpretation: pi };
}

/** Number of wavelet decomposition levels in a JPEG 2000 codestream's COD marker (0 if not found). */
export function j2kDecompositionLevels(encoded: Uint8Array): number {
  let i = 0;
  // Skip JP2 boxes, if any, to the codestream (SOC FF4F followed by SIZ FF51).
  while (i + 3 < encoded.length && !(encoded[i] === 0xff && encoded[i + 1] === 0x4f && encoded[i + 2] === 0xff && encoded[i + 3] === 0x51)) i++;
  i += 2;
  while (i + 4 <= encoded.length && encoded[i] === 0xff) {
    const marker = encoded[i + 1]!;
    if (marker === 0x90 || marker === 0x93) break; // SOT / SOD: end of the main header
    const len = (encoded[i + 2]! << 8) | encoded[i + 3]!;
    if (marker === 0x52) return encoded[i + 9] ?? 0; // COD: Lcod, Scod, SGcod (4), then levels
    i += 2 + len;
  }
  return 0;
}

/**
 * One frame for display, decoded up to `reduce` resolution levels down where the codec can
 * (single-component JPEG 2000: the wavelet's low-pass image, much faster); other syntaxes are
 * decoded at full size. Returns the size actually decoded.
 */
export async function decodeFrameForDisplay(
  parsed: ParsedPart10,
  index: number,
  reduce: number,
  decoder: DecodePool | 'inline' = defaultPool(),
): Promise<{ pixels: PixelArray; rows: number; columns: number; photometricInterpretation: string }> {
  const p = parsed.pixel;
  if (reduce > 0 && parsed.ts.family === 'jpeg2000' && p.samplesPerPixel === 1 && index >= 0 && index < p.numberOfFrames) {
    const encoded = encapsulatedFrame(parsed, index);
    const r = Math.min(reduce, j2kDecompositionLevels(encoded));
    if (r > 0) {
      const g = geometry(p);
      let res: CodecResult;
      if (decoder === 'inline') {
        await initCodecs();
        try {
          res = decodeFrameSync('jpeg2000', encoded, g, r);
        } catch (e) {
          throw new PixelError('decode-failed', `Decoder error: ${messageOf(e)}`);
        }
      } else {
        res = await decoder.decode('jpeg2000', encoded, g, r, true);
      }
      const pixels = toPixelArray(res.bytes, { ...p, highBit: p.bitsStored - 1 }, res.range);
      return { pixels, ...reducedSize(p, r), photometricInterpretation: res.photometricInterpretation };
    }
  }
  const full = await decodeFrameValues(parsed, index, decoder);
  return { ...full, rows: p.rows, columns: p.columns };
}

/** Decodes a Part 10 file (Buffer/Uint8Array) to native pixel values per frame. */
export async function decode(part10: Uint8Array | ArrayBuffer | ParsedPart10, opts: DecodeOptions = {}): Promise<DecodedImage> {
  const parsed = 'pixel' in part10 ? part10 : parsePart10(part10);
  const p = parsed.pixel;
  const numbers = opts.frames ?? Array.from({ length: p.numberOfFrames }, (_, i) => i + 1);
  const decoder = opts.decoder ?? defaultPool();
  const frames: PixelArray[] = [];
  let pi = p.photometricInterpretation;
  for (const n of numbers) {
    const r = await decodeFrameValues(parsed, n - 1, decoder);
    frames.push(r.pixels);
    pi = r.photometricInterpretation;
  }
  return {
    transferSyntaxUid: parsed.ts.uid,
    rows: p.rows,
    columns: p.columns,
    samplesPerPixel: p.samplesPerPixel,
    photometricInterpretation: pi,
    storedPhotometricInterpretation: p.photometricInterpretation,
    bitsAllocated: p.bitsAllocated,
    bitsStored: p.bitsStored,
    highBit: p.highBit,
    pixelRepresentation: p.pixelRepresentation,
    planarConfiguration: 0,
    numberOfFrames: p.numberOfFrames,
    lossy: isLossy(parsed),
    module: p,
    frames,
    frameNumbers: numbers,
  };
}
