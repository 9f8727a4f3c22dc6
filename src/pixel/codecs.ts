/**
 * In-process calls into WebAssembly codecs:
 * - JPEG (all processes: 8/12-bit lossy .50/.51/.53/.55, lossless .57/.70) and RLE: `dcmjs-codecs`
 *   (IJG libjpeg with 12-bit and lossless support). The cornerstone libjpeg-turbo build is
 *   8-bit only, so it cannot decode .51/.53/.55 at 12 bits.
 * - JPEG-LS: `@cornerstonejs/codec-charls`; JPEG 2000: `@cornerstonejs/codec-openjpeg` (both
 *   measured faster here than the CharLS/OpenJPEG builds inside dcmjs-codecs), or by default the
 *   system OpenJPEG in-process when its addon is built (openjpeg-native.ts).
 * WASM decoders can abort or loop on corrupt input: callers outside tests should go through
 * decode-pool.ts, which runs this in a worker with a time limit.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import dcmjsCodecs from 'dcmjs-codecs';
import type { CodecFamily } from './uids.ts';
import { decodeJ2kNative, j2kDecoder, type J2kDecoder } from './openjpeg-native.ts';
import type { SampleRange } from './pixels.ts';

export interface FrameGeometry {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  photometricInterpretation: string;
}

export interface CodecResult {
  /** Decoded samples, little endian, colour-by-pixel. */
  bytes: Uint8Array;
  /** Photometric interpretation of `bytes` (RGB when the codec converted YBR). */
  photometricInterpretation: string;
  /** Set where the codec guarantees the range of every sample (native OpenJPEG): see toPixelArray. */
  range?: SampleRange;
}

interface EmbindFrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}
interface EmbindDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): EmbindFrameInfo;
  getInterleaveMode?(): number;
  decodeSubResolution?(decompositionLevel: number, decodeLayer: number): void;
  delete(): void;
}
interface CharlsModule {
  JpegLSDecoder: new () => EmbindDecoder;
  getExceptionMessage?(e: number): string;
}
interface OpenJpegModule {
  J2KDecoder: new () => EmbindDecoder;
}

let ready: Promise<void> | undefined;
let charls: CharlsModule | undefined;
let openjpeg: OpenJpegModule | undefined;

export function wasmPath(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('dcmjs-codecs')), 'dcmjs-native-codecs.wasm');
}

export function initCodecs(): Promise<void> {
  ready ??= (async () => {
    const require = createRequire(import.meta.url);
    const quiet = { print: () => undefined, printErr: () => undefined };
    const charlsFactory = require('@cornerstonejs/codec-charls/decodewasmjs') as (o: object) => Promise<CharlsModule>;
    const openjpegFactory = require('@cornerstonejs/codec-openjpeg/decodewasmjs') as (o: object) => Promise<OpenJpegModule>;
    [charls, openjpeg] = await Promise.all([
      charlsFactory(quiet),
      openjpegFactory(quiet),
      dcmjsCodecs.NativeCodecs.initializeAsync({ webAssemblyModulePathOrUrl: wasmPath(), logCodecsInfo: false, logCodecsTrace: false }),
    ]);
  })();
  return ready;
}

/** Runs an embind decoder (CharLS or OpenJPEG) and checks what it decoded against the data set. */
function embindDecode(decoder: EmbindDecoder, encoded: Uint8Array, g: FrameGeometry, what: string, reduce = 0): Uint8Array {
  try {
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    try {
      if (reduce > 0 && decoder.decodeSubResolution) decoder.decodeSubResolution(reduce, 0);
      else decoder.decode();
    } catch (e) {
      // Emscripten C++ exceptions arrive as numbers (pointers).
      throw new Error(`${what} decoder failed${typeof e === 'number' ? '' : `: ${e instanceof Error ? e.message : String(e)}`}`);
    }
    const fi = decoder.getFrameInfo();
    if (fi.width !== g.columns || fi.height !== g.rows || fi.componentCount !== g.samplesPerPixel || fi.bitsPerSample > g.bitsAllocated) {
      throw new Error(`${what} stream is ${fi.width}x${fi.height}x${fi.componentCount} at ${fi.bitsPerSample} bits, the data set says ${g.columns}x${g.rows}x${g.samplesPerPixel} at ${g.bitsAllocated}`);
    }
    let out: Uint8Array = new Uint8Array(decoder.getDecodedBuffer()); // copy out of WASM memory
    if (reduce > 0) {
      const { rows, columns } = reducedSize(g, reduce);
      const want = rows * columns * g.samplesPerPixel * (fi.bitsPerSample > 8 ? 2 : 1);
      if (out.length !== want) throw new Error(`${what} reduced decode gave ${out.length} bytes, ${want} expected`);
      return out; // single-component only: see decodeFrameSync
    }
    if (g.samplesPerPixel === 3 && decoder.getInterleaveMode && decoder.getInterleaveMode() === 0) {
      // JPEG-LS interleave mode "none": colour-by-plane.
      out = planarToPixel(out, g.rows * g.columns, fi.bitsPerSample > 8 ? 2 : 1);
    }
    return out;
  } finally {
    decoder.delete();
  }
}

function planarToPixel(bytes: Uint8Array, pixels: number, bytesPerSample: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let plane = 0; plane < 3; plane++) {
    for (let i = 0; i < pixels; i++) {
      const src = (plane * pixels + i) * bytesPerSample;
      const dst = (i * 3 + plane) * bytesPerSample;
      for (let b = 0; b < bytesPerSample; b++) out[dst + b] = bytes[src + b]!;
    }
  }
  return out;
}

/** Size of a JPEG 2000 image decoded `reduce` resolution levels down. */
export function reducedSize(g: { rows: number; columns: number }, reduce: number): { rows: number; columns: number } {
  return { rows: Math.ceil(g.rows / 2 ** reduce), columns: Math.ceil(g.columns / 2 ** reduce) };
}

/**
 * Decodes one compressed frame. Requires `await initCodecs()` first. Throws on codec errors.
 * `reduce` > 0 (JPEG 2000, one component only) decodes that many resolution levels down, for
 * rendering small viewports; the result then has reducedSize(g, reduce). `j2k` picks the JPEG 2000
 * decoder (default: j2kDecoder(), from CARPUS_J2K_DECODER and whether the addon is built).
 */
export function decodeFrameSync(family: CodecFamily, encoded: Uint8Array, g: FrameGeometry, reduce = 0, j2k: J2kDecoder = j2kDecoder()): CodecResult {
  const { NativeCodecs, Context } = dcmjsCodecs;
  if (!NativeCodecs.isInitialized() || !charls || !openjpeg) throw new Error('codecs not initialised: call initCodecs() first');
  const ctx = new Context({
    width: g.columns,
    height: g.rows,
    bitsAllocated: g.bitsAllocated,
    bitsStored: g.bitsStored,
    samplesPerPixel: g.samplesPerPixel,
    pixelRepresentation: g.pixelRepresentation,
    planarConfiguration: 0,
    photometricInterpretation: g.photometricInterpretation,
    encodedBuffer: encoded,
  });
  let pi = g.photometricInterpretation;
  let out: InstanceType<typeof Context>;
  switch (family) {
    case 'jpeg': {
      // PS3.5 8.2.1: YBR_FULL(_422) JPEG streams are converted to RGB by the decoder.
      const convert = g.samplesPerPixel === 3 && pi.startsWith('YBR');
      out = NativeCodecs.decodeJpeg(ctx, { convertColorspaceToRgb: convert });
      if (convert) pi = 'RGB';
      break;
    }
    case 'jpeg-ls':
      return { bytes: embindDecode(new charls!.JpegLSDecoder(), encoded, g, 'JPEG-LS'), photometricInterpretation: pi };
    case 'jpeg2000':
      // PS3.5 8.2.4: the reversible/irreversible colour transforms are undone by the decoder.
      if (pi === 'YBR_RCT' || pi === 'YBR_ICT') pi = 'RGB';
      if (j2k === 'native') {
        const r = decodeJ2kNative(encoded, g, g.samplesPerPixel === 1 ? reduce : 0);
        return { bytes: r.bytes, photometricInterpretation: pi, range: { precision: r.precision, signed: r.signed } };
      }
      return { bytes: embindDecode(new openjpeg!.J2KDecoder(), encoded, g, 'JPEG 2000', g.samplesPerPixel === 1 ? reduce : 0), photometricInterpretation: pi };
    case 'rle':
      out = NativeCodecs.decodeRle(ctx, {});
      break;
    default:
      throw new Error(`no codec for ${family}`);
  }
  const decoded = out.getDecodedBuffer();
  if (!decoded) throw new Error('codec returned no data');
  // Copy out of the codec's memory so the result can be transferred.
  return { bytes: new Uint8Array(decoded), photometricInterpretation: pi };
}
