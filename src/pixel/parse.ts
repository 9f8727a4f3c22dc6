import dicomParser from 'dicom-parser';
import { PixelError, UnsupportedTransferSyntaxError, messageOf } from './errors.ts';
import { transferSyntaxInfo, type TransferSyntaxInfo } from './uids.ts';

/** A lookup table (PS3.3 C.11.1 Modality LUT / C.11.2 VOI LUT). */
export interface Lut {
  /** Number of entries. */
  entries: number;
  /** First stored value mapped (the input value that selects entry 0). */
  firstMapped: number;
  /** Bits per entry (LUT Descriptor third value). */
  bits: number;
  data: Uint16Array;
  explanation?: string;
}

export interface Window {
  center: number;
  width: number;
  explanation?: string;
}

/** The Image Pixel module (PS3.3 C.7.6.3) plus what presentation needs. */
export interface PixelModule {
  transferSyntaxUid: string;
  rows: number;
  columns: number;
  samplesPerPixel: number;
  /** As stored (before any colour conversion). */
  photometricInterpretation: string;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  /** 0 unsigned, 1 two's complement. */
  pixelRepresentation: number;
  /** 0 colour-by-pixel, 1 colour-by-plane (only meaningful when samplesPerPixel > 1). */
  planarConfiguration: number;
  numberOfFrames: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  modalityLut?: Lut;
  windows: Window[];
  voiLutFunction: string;
  voiLuts: Lut[];
  /** LossyImageCompression (0028,2110) as stored, if present. */
  lossyImageCompression?: string;
  pixelPaddingValue?: number;
}

export interface ParsedPart10 {
  dataSet: dicomParser.DataSet;
  /** The bytes offsets refer to (the inflated stream for deflated files). */
  byteArray: Uint8Array;
  ts: TransferSyntaxInfo;
  pixel: PixelModule;
  pixelDataElement: dicomParser.Element;
}

function toUint8(buf: Uint8Array | ArrayBuffer): Uint8Array {
  return buf instanceof Uint8Array ? buf : new Uint8Array(buf);
}

/** Parses the whole data set; throws PixelError (not-dicom) when it is not Part 10. */
export function parseDataSet(part10: Uint8Array | ArrayBuffer): dicomParser.DataSet {
  const bytes = toUint8(part10);
  try {
    // dicom-parser inflates Deflated Explicit VR Little Endian with node:zlib itself.
    return dicomParser.parseDicom(bytes);
  } catch (e) {
    throw new PixelError('not-dicom', `Not a readable DICOM Part 10 file: ${messageOf(e)}`);
  }
}

function num(ds: dicomParser.DataSet, tag: string, index = 0): number | undefined {
  const el = ds.elements[tag];
  if (!el || el.length === 0) return undefined;
  const v = ds.floatString(tag, index);
  return v === undefined || Number.isNaN(v) ? undefined : v;
}

function us(ds: dicomParser.DataSet, tag: string, index = 0): number | undefined {
  const el = ds.elements[tag];
  if (!el || el.length < 2 * (index + 1)) return undefined;
  return ds.uint16(tag, index);
}

function readLut(item: dicomParser.DataSet, signedFirstMapped: boolean): Lut | undefined {
  const desc = item.elements.x00283002;
  const data = item.elements.x00283006;
  if (!desc || !data || desc.length < 6) return undefined;
  let entries = item.uint16('x00283002', 0) ?? 0;
  if (entries === 0) entries = 65536;
  const fm = item.uint16('x00283002', 1) ?? 0;
  const firstMapped = signedFirstMapped && fm >= 0x8000 ? fm - 0x10000 : fm;
  const bits = item.uint16('x00283002', 2) ?? 16;
  const values = new Uint16Array(entries);
  const available = Math.floor(data.length / 2);
  if (available >= entries) {
    for (let i = 0; i < entries; i++) values[i] = item.uint16('x00283006', i) ?? 0;
  } else if (bits <= 8 && data.length >= entries) {
    // Some writers pack 8-bit entries one per byte in OW: read bytes.
    for (let i = 0; i < entries; i++) values[i] = item.byteArray[data.dataOffset + i] ?? 0;
  } else {
    return undefined;
  }
  const explanation = item.string('x00283003');
  return { entries, firstMapped, bits, data: values, ...(explanation ? { explanation } : {}) };
}

export function readPixelModule(ds: dicomParser.DataSet, transferSyntaxUid: string): PixelModule {
  const rows = us(ds, 'x00280010');
  const columns = us(ds, 'x00280011');
  const bitsAllocated = us(ds, 'x00280100');
  if (rows === undefined || columns === undefined || bitsAllocated === undefined) {
    throw new PixelError('no-pixel-data', 'Rows, Columns or BitsAllocated missing: not an image');
  }
  const samplesPerPixel = us(ds, 'x00280002') ?? 1;
  const bitsStored = us(ds, 'x00280101') ?? bitsAllocated;
  const highBit = us(ds, 'x00280102') ?? bitsStored - 1;
  const pixelRepresentation = us(ds, 'x00280103') ?? 0;
  const planarConfiguration = us(ds, 'x00280006') ?? 0;
  const photometricInterpretation = (ds.string('x00280004') ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2')).trim().toUpperCase();
  const nf = ds.intString('x00280008');
  const numberOfFrames = nf !== undefined && Number.isFinite(nf) && nf > 0 ? nf : 1;

  const windows: Window[] = [];
  const nWc = ds.elements.x00281050 ? ds.numStringValues('x00281050') ?? 0 : 0;
  for (let i = 0; i < nWc; i++) {
    const center = num(ds, 'x00281050', i);
    const width = num(ds, 'x00281051', i);
    if (center === undefined || width === undefined || width <= 0) continue;
    const explanation = ds.elements.x00281055 ? ds.string('x00281055', i) : undefined;
    windows.push({ center, width, ...(explanation ? { explanation } : {}) });
  }
  const voiLuts: Lut[] = [];
  for (const item of ds.elements.x00283010?.items ?? []) {
    if (!item.dataSet) continue;
    const lut = readLut(item.dataSet, pixelRepresentation === 1);
    if (lut) voiLuts.push(lut);
  }
  const mItem = ds.elements.x00283000?.items?.[0]?.dataSet;
  const modalityLut = mItem ? readLut(mItem, pixelRepresentation === 1) : undefined;
  const padding = ds.elements.x00280120;
  let pixelPaddingValue: number | undefined;
  if (padding && padding.length >= 2) {
    const u = ds.uint16('x00280120') ?? 0;
    pixelPaddingValue = pixelRepresentation === 1 && u >= 0x8000 ? u - 0x10000 : u;
  }
  const lossy = ds.string('x00282110');
  return {
    transferSyntaxUid,
    rows,
    columns,
    samplesPerPixel,
    photometricInterpretation,
    bitsAllocated,
    bitsStored,
    highBit,
    pixelRepresentation,
    planarConfiguration,
    numberOfFrames,
    rescaleSlope: num(ds, 'x00281053') ?? 1,
    rescaleIntercept: num(ds, 'x00281052') ?? 0,
    ...(modalityLut ? { modalityLut } : {}),
    windows,
    voiLutFunction: (ds.string('x00281056') ?? 'LINEAR').trim().toUpperCase(),
    voiLuts,
    ...(lossy ? { lossyImageCompression: lossy.trim() } : {}),
    ...(pixelPaddingValue !== undefined ? { pixelPaddingValue } : {}),
  };
}

/** Parses a Part 10 file and checks that its pixel data can be decoded (geometry, syntax, length). */
export function parsePart10(part10: Uint8Array | ArrayBuffer): ParsedPart10 {
  const ds = parseDataSet(part10);
  const uid = (ds.string('x00020010') ?? '').replace(/\0/g, '').trim();
  if (!uid) throw new PixelError('not-dicom', 'No TransferSyntaxUID (0002,0010) in the File Meta Information');
  const ts = transferSyntaxInfo(uid);
  if (!ts) throw new UnsupportedTransferSyntaxError(uid);
  const pixelDataElement = ds.elements.x7fe00010;
  if (!pixelDataElement) throw new PixelError('no-pixel-data', 'No Pixel Data (7FE0,0010) element');
  const pixel = readPixelModule(ds, uid);
  checkGeometry(pixel);
  if (ts.encapsulated !== Boolean(pixelDataElement.encapsulatedPixelData)) {
    throw new PixelError('bad-pixel-data', `Pixel Data is ${pixelDataElement.encapsulatedPixelData ? 'encapsulated' : 'native'} but the transfer syntax ${uid} says otherwise`);
  }
  if (!ts.encapsulated) {
    const need = nativeFrameLength(pixel) * pixel.numberOfFrames;
    const needBytes = pixel.bitsAllocated === 1 ? Math.ceil((pixel.rows * pixel.columns * pixel.samplesPerPixel * pixel.numberOfFrames) / 8) : need;
    if (pixelDataElement.length < needBytes || pixelDataElement.dataOffset + needBytes > ds.byteArray.length) {
      throw new PixelError('bad-pixel-data', `Pixel Data holds ${pixelDataElement.length} bytes, ${needBytes} needed for ${pixel.numberOfFrames} frame(s) of ${pixel.rows}x${pixel.columns}x${pixel.samplesPerPixel} at ${pixel.bitsAllocated} bits`);
    }
  }
  return { dataSet: ds, byteArray: ds.byteArray, ts, pixel, pixelDataElement };
}

export function checkGeometry(p: PixelModule): void {
  if (p.rows < 1 || p.columns < 1) throw new PixelError('unsupported-pixel-format', `Bad geometry ${p.rows}x${p.columns}`);
  if (![1, 8, 16, 32].includes(p.bitsAllocated)) throw new PixelError('unsupported-pixel-format', `BitsAllocated ${p.bitsAllocated} not supported`);
  if (p.bitsStored < 1 || p.bitsStored > p.bitsAllocated || p.highBit < p.bitsStored - 1 || p.highBit >= p.bitsAllocated) {
    throw new PixelError('unsupported-pixel-format', `Inconsistent BitsAllocated/BitsStored/HighBit ${p.bitsAllocated}/${p.bitsStored}/${p.highBit}`);
  }
  if (p.samplesPerPixel !== 1 && p.samplesPerPixel !== 3) throw new PixelError('unsupported-pixel-format', `SamplesPerPixel ${p.samplesPerPixel} not supported`);
  if (p.samplesPerPixel === 3 && p.bitsAllocated === 1) throw new PixelError('unsupported-pixel-format', '1-bit colour is not valid');
}

/** Bytes of one native frame (YBR_FULL_422 uncompressed holds 2 samples per pixel on average). */
export function nativeFrameLength(p: PixelModule): number {
  if (p.bitsAllocated === 1) return Math.ceil((p.rows * p.columns * p.samplesPerPixel) / 8);
  const samples = p.photometricInterpretation === 'YBR_FULL_422' && p.samplesPerPixel === 3 ? 2 : p.samplesPerPixel;
  return p.rows * p.columns * samples * (p.bitsAllocated / 8);
}

/** Length of the decoded frame in bytes as codecs write it (full samples per pixel). */
export function decodedFrameLength(p: PixelModule): number {
  return p.rows * p.columns * p.samplesPerPixel * Math.ceil(p.bitsAllocated / 8);
}

/**
 * The fragments' bytes end to end; one fragment stays a view of the file. Hand-written because
 * dicom-parser's readEncapsulatedPixelDataFromFragments joins them one byte at a time (10-12 ms
 * for RG3_J2KR's 830 KB in 16 fragments on the loaded VM), where set() is a memory copy.
 */
function joinFragments(bytes: Uint8Array, fragments: { position: number; length: number }[]): Uint8Array {
  if (fragments.length === 1) return bytes.subarray(fragments[0]!.position, fragments[0]!.position + fragments[0]!.length);
  const out = new Uint8Array(fragments.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of fragments) {
    out.set(bytes.subarray(f.position, f.position + f.length), at);
    at += f.length;
  }
  return out;
}

/**
 * The compressed bytes of frame `index` (0-based) of encapsulated pixel data (PS3.5 A.4).
 * Uses the Basic Offset Table, else the Extended Offset Table, else one fragment per frame,
 * else (JPEG family) the SOI markers, else all fragments for a single frame.
 */
export function encapsulatedFrame(parsed: ParsedPart10, index: number): Uint8Array {
  const { dataSet: ds, pixelDataElement: el, pixel } = parsed;
  const fragments = el.fragments ?? [];
  if (fragments.length === 0) throw new PixelError('bad-pixel-data', 'Encapsulated Pixel Data has no fragments');
  for (const f of fragments) {
    if (f.position + f.length > ds.byteArray.length) throw new PixelError('bad-pixel-data', 'A Pixel Data fragment runs past the end of the file');
  }
  try {
    if (pixel.numberOfFrames === 1) return joinFragments(ds.byteArray, fragments);
    const bot = el.basicOffsetTable ?? [];
    if (bot.length === pixel.numberOfFrames) {
      return dicomParser.readEncapsulatedImageFrame(ds, el, index, bot) as Uint8Array;
    }
    const eot = ds.elements.x7fe00001;
    if (eot && eot.length >= 8 * pixel.numberOfFrames) {
      const dv = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + eot.dataOffset, eot.length);
      const offsets: number[] = [];
      for (let i = 0; i < pixel.numberOfFrames; i++) offsets.push(Number(dv.getBigUint64(8 * i, true)));
      return dicomParser.readEncapsulatedImageFrame(ds, el, index, offsets) as Uint8Array;
    }
    if (fragments.length === pixel.numberOfFrames) {
      return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, index, 1) as Uint8Array;
    }
    if (parsed.ts.family === 'jpeg') {
      const table = dicomParser.createJPEGBasicOffsetTable(ds, el);
      if (table.length === pixel.numberOfFrames) return dicomParser.readEncapsulatedImageFrame(ds, el, index, table) as Uint8Array;
    }
  } catch (e) {
    throw new PixelError('bad-pixel-data', `Cannot read frame ${index + 1} from encapsulated Pixel Data: ${messageOf(e)}`);
  }
  throw new PixelError('bad-pixel-data', `Cannot find frame ${index + 1} of ${pixel.numberOfFrames}: no offset table and ${fragments.length} fragments`);
}

/** The native bytes of frame `index` as stored (still in the file's byte order). */
export function nativeFrameBytes(parsed: ParsedPart10, index: number): Uint8Array {
  const { pixelDataElement: el, pixel, byteArray } = parsed;
  if (pixel.bitsAllocated === 1) {
    // Bit-packed frames need not start on a byte boundary: return the whole element; unpacking uses bit offsets.
    return byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
  }
  const len = nativeFrameLength(pixel);
  const start = el.dataOffset + index * len;
  return byteArray.subarray(start, start + len);
}
