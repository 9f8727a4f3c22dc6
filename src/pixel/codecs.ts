/**
 * In-process calls into the WebAssembly codecs of `dcmjs-codecs` (IJG libjpeg 6b with 8/12/16-bit
 * and lossless processes, CharLS, OpenJPEG, and an RLE decoder). One library covers every
 * compressed syntax here, 12-bit lossy JPEG (.51/.53/.55) included, which the cornerstone
 * libjpeg-turbo build cannot decode. WASM decoders can abort or loop on corrupt input: callers
 * outside tests should go through decode-pool.ts, which runs this in a worker with a timeout.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import dcmjsCodecs from 'dcmjs-codecs';
import type { CodecFamily } from './uids.ts';

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
}

let ready: Promise<void> | undefined;

export function wasmPath(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('dcmjs-codecs')), 'dcmjs-native-codecs.wasm');
}

export function initCodecs(): Promise<void> {
  ready ??= dcmjsCodecs.NativeCodecs.initializeAsync({
    webAssemblyModulePathOrUrl: wasmPath(),
    logCodecsInfo: false,
    logCodecsTrace: false,
  });
  return ready;
}

/** Decodes one compressed frame. Requires `await initCodecs()` first. Throws on codec errors. */
export function decodeFrameSync(family: CodecFamily, encoded: Uint8Array, g: FrameGeometry): CodecResult {
  const { NativeCodecs, Context } = dcmjsCodecs;
  if (!NativeCodecs.isInitialized()) throw new Error('codecs not initialised: call initCodecs() first');
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
      out = NativeCodecs.decodeJpegLs(ctx, {});
      break;
    case 'jpeg2000':
      out = NativeCodecs.decodeJpeg2000(ctx, {});
      // PS3.5 8.2.4: the reversible/irreversible colour transforms are undone by the decoder.
      if (pi === 'YBR_RCT' || pi === 'YBR_ICT') pi = 'RGB';
      break;
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
