/**
 * Transcoding to Explicit VR Little Endian with native (decompressed) pixel data: the WADO-RS
 * default transfer syntax (PS3.18 8.7.3.5). Every other attribute is carried over by dcmjs; the
 * pixel description is updated where decoding changed it (YBR JPEG -> RGB, planar -> by pixel),
 * and a lossy source gets LossyImageCompression "01" with its method (PS3.3 C.7.6.1.1.5).
 */
import dcmjs, { type DcmjsDict } from 'dcmjs';
import { PixelError, messageOf } from './errors.ts';
import { decodeFrameBytes, isLossy } from './decode.ts';
import { parseDataSet, parsePart10, type ParsedPart10 } from './parse.ts';
import { TS } from './uids.ts';
import type { DecodePool } from './decode-pool.ts';

export interface TranscodeOptions {
  decoder?: DecodePool | 'inline';
}

/** PS3.3 C.7.6.1.1.5.1 defined terms for Lossy Image Compression Method. */
function lossyMethod(uid: string): string | undefined {
  switch (uid) {
    case TS.JPEGBaseline8Bit:
    case TS.JPEGExtended12Bit:
    case TS.JPEGSpectralSelection:
    case TS.JPEGFullProgression:
      return 'ISO_10918_1';
    case TS.JPEGLSNearLossless:
      return 'ISO_14495_1';
    case TS.JPEG2000:
      return 'ISO_15444_1';
    default:
      return undefined;
  }
}

/** Attributes whose VR is "US or SS" (PS3.6): implicit VR sources leave dcmjs guessing US. */
const US_OR_SS = ['00280106', '00280107', '00280108', '00280109', '00280120', '00280121'];

function asArrayBuffer(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

/** Whether the stored syntax is already what WADO-RS sends by default (nothing to do). */
export function isExplicitLittleEndian(part10: Uint8Array): boolean {
  return (parseDataSet(part10).string('x00020010') ?? '').replace(/\0/g, '').trim() === TS.ExplicitVRLittleEndian;
}

/**
 * Returns a Part 10 file in Explicit VR Little Endian with native pixel data decoded from any
 * supported stored syntax. An Explicit VR Little Endian input is returned unchanged.
 */
export async function transcodeToExplicitVRLittleEndian(part10: Uint8Array, opts: TranscodeOptions = {}): Promise<Buffer> {
  const ds = parseDataSet(part10);
  const storedUid = (ds.string('x00020010') ?? '').replace(/\0/g, '').trim();
  if (storedUid === TS.ExplicitVRLittleEndian) return Buffer.from(part10.buffer, part10.byteOffset, part10.byteLength);
  if (!ds.elements.x7fe00010) return rewrite(part10, () => undefined); // no pixels (SR, KOS...): re-encode only
  const parsed = parsePart10(part10);
  const p = parsed.pixel;

  // 1. Pixel data, frame by frame.
  const frames: Uint8Array[] = [];
  let pi = p.photometricInterpretation;
  let encodedBytes = 0;
  for (let i = 0; i < p.numberOfFrames; i++) {
    const r = await decodeFrameBytes(parsed, i, opts.decoder);
    frames.push(r.bytes);
    pi = r.photometricInterpretation;
  }
  if (parsed.ts.encapsulated) for (const f of parsed.pixelDataElement.fragments ?? []) encodedBytes += f.length;
  let total = frames.reduce((n, f) => n + f.length, 0);
  if (p.bitsAllocated === 1) {
    // Only the bit-packed native case reaches here; re-pack the whole element as stored.
    frames.length = 0;
    const el = parsed.pixelDataElement;
    frames.push(new Uint8Array(parsed.byteArray.subarray(el.dataOffset, el.dataOffset + el.length)));
    total = frames[0]!.length;
  }
  const pixelBytes = new Uint8Array(total + (total % 2));
  let off = 0;
  for (const f of frames) {
    pixelBytes.set(f, off);
    off += f.length;
  }

  // 2. Everything else, through dcmjs.
  return rewrite(part10, (dict) => {
  dict['7FE00010'] = { vr: p.bitsAllocated > 8 ? 'OW' : 'OB', Value: [asArrayBuffer(pixelBytes)] };
  delete dict['7FE00001']; // Extended Offset Table
  delete dict['7FE00002']; // Extended Offset Table Lengths
  if (pi !== p.photometricInterpretation) dict['00280004'] = { vr: 'CS', Value: [pi] };
  if (p.samplesPerPixel > 1) dict['00280006'] = { vr: 'US', Value: [0] };
  for (const tag of US_OR_SS) {
    const el = dict[tag];
    if (!el || !el.vr) continue;
    if (p.pixelRepresentation === 1 && el.vr === 'US') {
      el.vr = 'SS';
      el.Value = (el.Value ?? []).map((v) => (typeof v === 'number' && v >= 0x8000 ? v - 0x10000 : v));
      delete el._rawValue;
    }
  }
  if (isLossy(parsed)) {
    dict['00282110'] = { vr: 'CS', Value: ['01'] };
    // Decompressing adds no lossy step: describe the source's compression only if nobody did.
    const method = lossyMethod(parsed.ts.uid);
    if (method && parsed.ts.lossy && !dict['00282114']?.Value?.length) {
      dict['00282114'] = { vr: 'CS', Value: [method] };
      if (encodedBytes > 0 && !dict['00282112']?.Value?.length) {
        const ratio = (p.rows * p.columns * p.samplesPerPixel * (p.bitsAllocated / 8) * p.numberOfFrames) / encodedBytes;
        dict['00282112'] = { vr: 'DS', Value: [Number(ratio.toPrecision(6))] };
      }
    }
  }
  });
}

/** Reads with dcmjs, lets `edit` change the data set, writes Explicit VR Little Endian. */
function rewrite(part10: Uint8Array, edit: (dict: DcmjsDict) => void): Buffer {
  let file: { meta: DcmjsDict; dict: DcmjsDict };
  try {
    file = dcmjs.data.DicomMessage.readFile(asArrayBuffer(part10), { ignoreErrors: true });
  } catch (e) {
    throw new PixelError('not-dicom', `dcmjs cannot read the file: ${messageOf(e)}`);
  }
  const { meta, dict } = file;
  meta['00020010'] = { vr: 'UI', Value: [TS.ExplicitVRLittleEndian] };
  // Group lengths (gggg,0000) are retired and would be wrong now.
  for (const tag of Object.keys(dict)) if (tag.endsWith('0000')) delete dict[tag];
  edit(dict);
  const out = new dcmjs.data.DicomDict(meta);
  out.dict = dict;
  try {
    return Buffer.from(out.write({ allowInvalidVRLength: true }));
  } catch (e) {
    throw new PixelError('decode-failed', `Cannot write the transcoded file: ${messageOf(e)}`);
  }
}

export type { ParsedPart10 };
