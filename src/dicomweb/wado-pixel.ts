/**
 * What WADO-RS needs from pixel data: the value bytes of any (nested) element,
 * native frames cut from the Pixel Data value, compressed frames from the
 * encapsulated fragments, and (through the pixel module, src/pixel) decoded
 * frames and transcoding to Explicit VR Little Endian.
 *
 * Everything here returns little-endian bytes: Explicit VR Big Endian values
 * are byte-swapped per VR (PS3.5 7.3), as PS3.18 wants bulk data in the
 * little-endian uncompressed form.
 */
import dicomParser from 'dicom-parser';
import type * as Pixel from '../pixel/index.ts';
import { parseStructure } from '../dicom/part10.ts';
import { vrOf } from '../dicom/dictionary.ts';

export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';
export const IMPLICIT_VR_LE = '1.2.840.10008.1.2';
export const EXPLICIT_VR_BE = '1.2.840.10008.1.2.2';
export const DEFLATED_LE = '1.2.840.10008.1.2.1.99';
export const NATIVE_SYNTAXES = new Set([EXPLICIT_VR_LE, IMPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_LE]);

/** A WADO-RS answer that cannot be given: HTTP status and a PHI-free reason. */
export class WadoError extends Error {
  override name = 'WadoError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The media type PS3.18 (Table 8.7.3-2/-3 and Annex A) gives the compressed
 * frames of each encapsulated transfer syntax; application/octet-stream for
 * native ones.
 */
export function mediaTypeForSyntax(ts: string): string {
  switch (ts) {
    case '1.2.840.10008.1.2.4.50':
    case '1.2.840.10008.1.2.4.51':
    case '1.2.840.10008.1.2.4.53':
    case '1.2.840.10008.1.2.4.55':
    case '1.2.840.10008.1.2.4.57':
    case '1.2.840.10008.1.2.4.70':
      return 'image/jpeg';
    case '1.2.840.10008.1.2.4.80':
    case '1.2.840.10008.1.2.4.81':
      return 'image/jls';
    case '1.2.840.10008.1.2.4.90':
    case '1.2.840.10008.1.2.4.91':
      return 'image/jp2';
    case '1.2.840.10008.1.2.4.92':
    case '1.2.840.10008.1.2.4.93':
      return 'image/jpx';
    case '1.2.840.10008.1.2.5':
      return 'image/dicom-rle';
    default:
      return 'application/octet-stream';
  }
}

// ---------------------------------------------------------------- the pixel module (src/pixel)

let pixelModule: Promise<typeof Pixel | undefined> | undefined;

/**
 * The pixel module, loaded on first use. If it fails to load (it is being
 * written alongside), WADO-RS keeps serving everything that needs no decoding
 * and answers 406 for the rest.
 */
export function loadPixelModule(): Promise<typeof Pixel | undefined> {
  pixelModule ??= import('../pixel/index.ts').catch(() => undefined);
  return pixelModule;
}

/** A transcoder from any stored syntax to Explicit VR Little Endian, if the pixel module offers one. */
export type Transcoder = { canTranscode(ts: string): boolean; toExplicitVrLittleEndian(part10: Uint8Array): Promise<Uint8Array> };

/**
 * The pixel module's transcoder to Explicit VR Little Endian
 * (transcodeToExplicitVRLittleEndian, src/pixel/transcode.ts); undefined when
 * the module cannot be loaded: WADO-RS then answers 406 for instances that
 * would need it.
 */
export async function loadTranscoder(): Promise<Transcoder | undefined> {
  const mod = await loadPixelModule();
  if (!mod || typeof mod.transcodeToExplicitVRLittleEndian !== 'function') return undefined;
  const decodable = new Set(mod.decodableTransferSyntaxes());
  return {
    canTranscode: (ts) => decodable.has(ts),
    async toExplicitVrLittleEndian(part10) {
      return mod.transcodeToExplicitVRLittleEndian(part10);
    },
  };
}

/** Whether the pixel module can decode frames of this transfer syntax. */
export async function canDecode(ts: string): Promise<boolean> {
  const mod = await loadPixelModule();
  if (!mod) return false;
  try {
    return mod.decodableTransferSyntaxes().includes(ts);
  } catch {
    return false;
  }
}

/** Decodes frames (1-based numbers) of a Part 10 file with the pixel module: little-endian sample bytes per frame. */
export async function decodeFrames(part10: Uint8Array, numbers: number[]): Promise<{ frames: Uint8Array[]; photometricInterpretation: string }> {
  const mod = await loadPixelModule();
  if (!mod) throw new WadoError(406, 'decompression is not available: the pixel module could not be loaded');
  let parsed: Pixel.ParsedPart10;
  try {
    parsed = mod.parsePart10(part10);
  } catch (err) {
    throw pixelToWado(mod, err);
  }
  const frames: Uint8Array[] = [];
  let pi = parsed.pixel.photometricInterpretation;
  // getFrame (src/pixel/frames.ts): the frame exactly as the transcoded file holds it.
  for (const n of numbers) {
    try {
      const r = await mod.getFrame(parsed, n);
      frames.push(r.bytes);
      pi = r.photometricInterpretation;
    } catch (err) {
      throw pixelToWado(mod, err);
    }
  }
  return { frames, photometricInterpretation: pi };
}

function pixelToWado(mod: typeof Pixel, err: unknown): Error {
  if (err instanceof mod.PixelError) {
    switch (err.code) {
      case 'frame-out-of-range':
        return new WadoError(404, err.message);
      case 'unsupported-transfer-syntax':
      case 'unsupported-pixel-format':
        return new WadoError(406, `cannot decompress: ${err.message}`);
      default:
        // Corrupt stored data or a decoder failure: the server's problem, reported as such.
        return new WadoError(500, `decompression failed: ${err.message}`);
    }
  }
  return err instanceof Error ? err : new Error(String(err));
}

// ---------------------------------------------------------------- element values

const SWAP_SIZE: Record<string, number> = {
  OW: 2, US: 2, SS: 2, AT: 2,
  OL: 4, OF: 4, UL: 4, SL: 4, FL: 4,
  OD: 8, FD: 8, OV: 8, SV: 8, UV: 8,
};

/** Reverses each `size`-byte word in place. */
export function swapInPlace(bytes: Uint8Array, size: number): Uint8Array {
  if (size < 2) return bytes;
  const end = bytes.length - (bytes.length % size);
  for (let i = 0; i < end; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
  return bytes;
}

export interface OpenedInstance {
  ds: dicomParser.DataSet;
  ts: string;
  bigEndian: boolean;
}

/** Parses a stored instance (deflated ones are inflated: offsets refer to ds.byteArray). */
export function openInstance(bytes: Uint8Array): OpenedInstance {
  const ds = parseStructure(bytes);
  const ts = (ds.string('x00020010') ?? '').replace(/\0/g, '').trim();
  return { ds, ts, bigEndian: ts === EXPLICIT_VR_BE };
}

/**
 * Parses a bulk data path as carpus writes it in BulkDataURIs:
 * "7FE00010" or "00540016/0/00181078" (tag, then item index (0-based) and tag, repeated).
 */
export function parseBulkPath(path: string): { tags: string[]; items: number[] } {
  const segs = path.split('/').filter((s) => s !== '');
  if (segs.length === 0 || segs.length % 2 === 0) throw new WadoError(400, 'bulk data path must be a tag, optionally followed by /{item}/{tag} pairs');
  const tags: string[] = [];
  const items: number[] = [];
  segs.forEach((s, i) => {
    if (i % 2 === 0) {
      if (!/^[0-9A-Fa-f]{8}$/.test(s)) throw new WadoError(400, `"${s}" in the bulk data path is not an 8-hex-digit tag`);
      tags.push(s.toUpperCase());
    } else {
      if (!/^\d{1,6}$/.test(s)) throw new WadoError(400, `"${s}" in the bulk data path is not an item index`);
      items.push(Number(s));
    }
  });
  return { tags, items };
}

/** Finds the element a bulk data path points at. */
export function findElement(inst: OpenedInstance, path: { tags: string[]; items: number[] }): { element: dicomParser.Element; ds: dicomParser.DataSet; tag: string } {
  let ds = inst.ds;
  for (let i = 0; i < path.tags.length; i++) {
    const tag = path.tags[i]!;
    const el = ds.elements[`x${tag.toLowerCase()}`];
    if (!el) throw new WadoError(404, `no element (${tag.slice(0, 4)},${tag.slice(4)}) in this instance`);
    if (i === path.tags.length - 1) return { element: el, ds, tag };
    const index = path.items[i]!;
    const item = el.items?.[index];
    if (!item?.dataSet) throw new WadoError(404, `no item ${index} in sequence (${tag.slice(0, 4)},${tag.slice(4)})`);
    ds = item.dataSet;
  }
  throw new WadoError(400, 'empty bulk data path');
}

/** The value bytes of a non-encapsulated element, little endian (a copy). */
export function elementValue(inst: OpenedInstance, ds: dicomParser.DataSet, element: dicomParser.Element, tag: string): Uint8Array {
  const end = element.dataOffset + element.length;
  if (end > ds.byteArray.length) throw new WadoError(500, 'the stored value runs past the end of the file');
  const bytes = new Uint8Array(ds.byteArray.subarray(element.dataOffset, end));
  if (inst.bigEndian) {
    const vr = element.vr ?? vrOf(tag) ?? 'OB';
    let size = SWAP_SIZE[vr] ?? 1;
    // 8-bit pixel samples in an OW Pixel Data of a big endian file are swapped in 16-bit words
    // (PS3.5 A.3): swapping the words gives the little-endian byte stream.
    if (vr === 'OB' || vr === 'UN') size = 1;
    swapInPlace(bytes, size);
  }
  return bytes;
}

// ---------------------------------------------------------------- frames

export interface PixelGeometry {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  numberOfFrames: number;
  photometricInterpretation: string;
  encapsulated: boolean;
  element: dicomParser.Element;
}

export function pixelGeometry(inst: OpenedInstance): PixelGeometry {
  const { ds } = inst;
  const element = ds.elements.x7fe00010;
  if (!element) throw new WadoError(404, 'this instance has no Pixel Data (7FE0,0010)');
  const u16 = (tag: string) => (ds.elements[tag] && ds.elements[tag]!.length >= 2 ? ds.uint16(tag) : undefined);
  const rows = u16('x00280010');
  const columns = u16('x00280011');
  const bitsAllocated = u16('x00280100');
  if (!rows || !columns || !bitsAllocated) throw new WadoError(500, 'Rows, Columns or BitsAllocated missing or zero: the frames cannot be located');
  const nf = ds.elements.x00280008 ? ds.intString('x00280008') : undefined;
  return {
    rows,
    columns,
    bitsAllocated,
    samplesPerPixel: u16('x00280002') ?? 1,
    numberOfFrames: nf !== undefined && Number.isFinite(nf) && nf > 0 ? nf : 1,
    photometricInterpretation: (ds.string('x00280004') ?? '').trim().toUpperCase(),
    encapsulated: Boolean(element.encapsulatedPixelData),
    element,
  };
}

export function checkFrameNumbers(g: PixelGeometry, numbers: number[]): void {
  for (const n of numbers) {
    if (n > g.numberOfFrames) throw new WadoError(404, `frame ${n} does not exist: the instance has ${g.numberOfFrames} frame(s)`);
  }
}

/** Native frame bytes (1-based frame number), little endian, as stored otherwise (planar configuration kept). */
export function nativeFrame(inst: OpenedInstance, g: PixelGeometry, n: number): Uint8Array {
  if (g.bitsAllocated === 1) throw new WadoError(406, 'frames of 1-bit pixel data (BitsAllocated 1) are not supported; retrieve the Pixel Data bulk data or the instance');
  if (g.bitsAllocated % 8 !== 0) throw new WadoError(500, `BitsAllocated ${g.bitsAllocated} is not a whole number of bytes`);
  const samples = g.photometricInterpretation === 'YBR_FULL_422' && g.samplesPerPixel === 3 ? 2 : g.samplesPerPixel;
  const size = g.rows * g.columns * samples * (g.bitsAllocated / 8);
  const start = g.element.dataOffset + (n - 1) * size;
  if ((n - 1) * size + size > g.element.length || start + size > inst.ds.byteArray.length) {
    throw new WadoError(404, `frame ${n} lies beyond the stored Pixel Data (${g.element.length} bytes, ${size} per frame)`);
  }
  const bytes = new Uint8Array(inst.ds.byteArray.subarray(start, start + size));
  if (inst.bigEndian) {
    if (g.bitsAllocated > 8) swapInPlace(bytes, g.bitsAllocated / 8);
    else if (g.element.vr === 'OW') swapInPlace(bytes, 2);
  }
  return bytes;
}

/** The compressed bytes of one frame (1-based) of encapsulated pixel data, as stored (PS3.5 A.4). */
export function compressedFrame(inst: OpenedInstance, g: PixelGeometry, n: number): Uint8Array {
  const { ds } = inst;
  const el = g.element;
  const fragments = el.fragments ?? [];
  if (fragments.length === 0) throw new WadoError(500, 'the encapsulated Pixel Data has no fragments');
  const index = n - 1;
  try {
    if (g.numberOfFrames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length) as Uint8Array;
    const bot = el.basicOffsetTable ?? [];
    if (bot.length === g.numberOfFrames) return dicomParser.readEncapsulatedImageFrame(ds, el, index, bot) as Uint8Array;
    if (fragments.length === g.numberOfFrames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, index, 1) as Uint8Array;
    if (mediaTypeForSyntax(inst.ts) === 'image/jpeg') {
      const table = dicomParser.createJPEGBasicOffsetTable(ds, el);
      if (table.length === g.numberOfFrames) return dicomParser.readEncapsulatedImageFrame(ds, el, index, table) as Uint8Array;
    }
  } catch (err) {
    throw new WadoError(500, `cannot read frame ${n} from the encapsulated Pixel Data: ${typeof err === 'string' ? err : (err as Error).message}`);
  }
  throw new WadoError(500, `cannot locate frame ${n} of ${g.numberOfFrames}: no offset table and ${fragments.length} fragments`);
}
