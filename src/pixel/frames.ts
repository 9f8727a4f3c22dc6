/**
 * Frame access and transfer-syntax negotiation for WADO-RS (PS3.18 8.7.3): decompressed frames in
 * Explicit VR Little Endian layout, or the stored compressed frame as is.
 */
import { PixelError } from './errors.ts';
import { decodeFrameBytes } from './decode.ts';
import { encapsulatedFrame, parsePart10, type ParsedPart10 } from './parse.ts';
import { TS, transferSyntaxInfo } from './uids.ts';
import type { DecodePool } from './decode-pool.ts';

export interface FrameBytes {
  /** The frame's bytes. */
  bytes: Uint8Array;
  /** Transfer syntax of `bytes`. */
  transferSyntaxUid: string;
  /** PS3.18 Table 8.7.3-2 media type for a single frame in this syntax. */
  mediaType: string;
  /** Photometric interpretation of the bytes (decoding may turn YBR into RGB). */
  photometricInterpretation: string;
}

/** PS3.18 Table 8.7.3-2: bulk-data media types of single frames per transfer syntax. */
export function frameMediaType(transferSyntaxUid: string): string {
  switch (transferSyntaxUid) {
    case TS.JPEGBaseline8Bit:
    case TS.JPEGExtended12Bit:
    case TS.JPEGSpectralSelection:
    case TS.JPEGFullProgression:
    case TS.JPEGLossless:
    case TS.JPEGLosslessSV1:
      return 'image/jpeg';
    case TS.JPEGLSLossless:
    case TS.JPEGLSNearLossless:
      return 'image/jls';
    case TS.JPEG2000Lossless:
    case TS.JPEG2000:
      return 'image/jp2';
    case TS.RLELossless:
      return 'image/x-dicom-rle';
    default:
      return 'application/octet-stream';
  }
}

function parsed(part10: Uint8Array | ParsedPart10): ParsedPart10 {
  return 'pixel' in part10 ? part10 : parsePart10(part10);
}

/**
 * Frame `frameNumber` (1-based) decompressed, in Explicit VR Little Endian layout: samples little
 * endian, colour-by-pixel, BitsAllocated per sample (the bytes of the frame in the file that
 * transcodeToExplicitVRLittleEndian writes). Media type application/octet-stream.
 */
export async function getFrame(part10: Uint8Array | ParsedPart10, frameNumber: number, decoder?: DecodePool | 'inline'): Promise<FrameBytes> {
  const p = parsed(part10);
  const r = await decodeFrameBytes(p, frameNumber - 1, decoder);
  return { bytes: r.bytes, transferSyntaxUid: TS.ExplicitVRLittleEndian, mediaType: 'application/octet-stream', photometricInterpretation: r.photometricInterpretation };
}

/** Frame `frameNumber` (1-based) as stored: the compressed bitstream for encapsulated syntaxes. */
export async function getStoredFrame(part10: Uint8Array | ParsedPart10, frameNumber: number): Promise<FrameBytes> {
  const p = parsed(part10);
  if (!p.ts.encapsulated) return getFrame(p, frameNumber);
  if (!Number.isInteger(frameNumber) || frameNumber < 1 || frameNumber > p.pixel.numberOfFrames) {
    throw new PixelError('frame-out-of-range', `Frame ${frameNumber} does not exist (NumberOfFrames ${p.pixel.numberOfFrames})`);
  }
  return { bytes: encapsulatedFrame(p, frameNumber - 1), transferSyntaxUid: p.ts.uid, mediaType: frameMediaType(p.ts.uid), photometricInterpretation: p.pixel.photometricInterpretation };
}

/**
 * Which transfer syntax to send for an instance stored in `storedUid`, given the syntaxes the
 * client accepts in order of preference ('*' = any, i.e. the stored one; an empty list = PS3.18's
 * default Explicit VR Little Endian). Returns undefined when none can be produced: answer 406.
 * Producible: the stored syntax, and Explicit VR Little Endian from any syntax this module decodes.
 */
export function negotiateTransferSyntax(storedUid: string, accepted: readonly string[]): string | undefined {
  const list = accepted.length === 0 ? [TS.ExplicitVRLittleEndian] : accepted;
  for (const want of list) {
    const w = want.trim();
    if (w === '*' || w === storedUid) return storedUid;
    if (w === TS.ExplicitVRLittleEndian && transferSyntaxInfo(storedUid)) return TS.ExplicitVRLittleEndian;
  }
  return undefined;
}

/** Whether `requestedUid` can be produced from an instance stored in `storedUid`. */
export function canProduce(storedUid: string, requestedUid: string): boolean {
  return negotiateTransferSyntax(storedUid, [requestedUid]) !== undefined;
}
