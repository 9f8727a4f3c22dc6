import type dicomParser from 'dicom-parser';
import dcmjs, { type DcmjsDict, type DcmjsElement } from 'dcmjs';

/*
 * The data set as dcmjs's DicomMessage.readFile gives it, read from dicom-parser's DataSet instead of
 * by dcmjs's own walk (issue #2). dcmjs spent ~7 µs per element on a 2 KiB instance (0.54 ms for 76
 * elements) in its walk: a Tag object, a descriptor object with accessors and a sub-stream per
 * element, a ReadBufferStream per item; dicom-parser has already walked the same bytes for the
 * strict structure check. Values are converted by dcmjs's own ValueRepresentation.read (trimming,
 * padding, PN components, character sets, binary views), except the commonest VRs (CS, UI, DS, IS
 * and the fixed-size numbers, see quickValues), converted here as dcmjs 0.52 converts them. Written
 * by hand: that conversion and the part of DicomMessage._readTag/_read that picks the VR and splits
 * the values (no library exposes either per element). Anything this does not follow exactly returns
 * undefined, and the caller parses with dcmjs as before. test/dataset-reader.test.ts checks deep
 * equality with dcmjs's reading on every shared file and synthetic cases (and fails if a dcmjs
 * upgrade changes its behaviour).
 */

interface ValueRepresentation {
  type: string;
  maxLength: number | null;
  noMultiple?: boolean;
  isBinary(): boolean;
  dropPadByte(values: string[]): string[];
  read(stream: unknown, length: number, syntax: string, options: { forceStoreRaw: boolean }): { value: unknown } | undefined;
}
interface ReadStream {
  offset: number;
  decoder: unknown;
  setEndian(littleEndian: boolean): void;
}
const data = dcmjs.data as unknown as {
  ReadBufferStream: new (buffer: ArrayBuffer, littleEndian: boolean | null, options: { noCopy: boolean }) => ReadStream;
  ValueRepresentation: { createByTypeString(type: string): ValueRepresentation };
  DicomMetaDictionary: { dictionary: Record<string, { vr?: string } | undefined> };
};
const { ReadBufferStream, ValueRepresentation: VR, DicomMetaDictionary } = data;

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const UNDEFINED_LENGTH = 0xffffffff;
/** dcmjs's singleVRs: values of these are not split on backslashes. */
const SINGLE_VRS = new Set(['SQ', 'OF', 'OW', 'OB', 'UN', 'LT']);
const READ_OPTIONS = { forceStoreRaw: false };

/**
 * SpecificCharacterSet values (normalised as dcmjs does) → the TextDecoder label dcmjs uses.
 * Only single-byte Latin and UTF-8 sets; any other set goes to dcmjs (fallback).
 */
const CHARSETS: Record<string, string> = {
  '': 'iso-8859-1',
  'iso-ir-6': 'iso-8859-1',
  'iso-ir-100': 'latin1',
  'iso-ir-192': 'utf-8',
};
const decoders = new Map<string, TextDecoder>();
function decoderFor(label: string): TextDecoder {
  let d = decoders.get(label);
  if (!d) decoders.set(label, (d = new TextDecoder(label)));
  return d;
}
/** dcmjs's default decoder for each stream (and thus for each sequence item). */
const DEFAULT_DECODER = 'latin1';

class Fallback extends Error {}

/** The bytes as an ArrayBuffer (what dcmjs reads): the view's own buffer when it spans all of it (readFile, Buffer.concat of a large part), else a copy. */
export function ownArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return (whole ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) as ArrayBuffer;
}

/**
 * Pixel Data's VR as dcmjs gives it, where it is OB or OW (the only VRs whose value the metadata
 * replaces by a BulkDataURI without reading it): for implicit VR the dictionary's, OW (PS3.5 A.1).
 */
export function pixelDataVR(el: dicomParser.Element, implicit: boolean): 'OB' | 'OW' | undefined {
  const vr = implicit ? 'OW' : el.vr;
  return vr === 'OB' || vr === 'OW' ? vr : undefined;
}

/** "(GGGG,EEEE)", the key of dcmjs's dictionary. */
function punctuated(tag: string): string {
  return `(${tag.slice(1, 5).toUpperCase()},${tag.slice(5).toUpperCase()})`;
}

function isPrivateCreator(tag: string): boolean {
  const group = parseInt(tag.slice(1, 5), 16);
  const element = parseInt(tag.slice(5), 16);
  return group % 2 === 1 && element < 0x100 && element > 0;
}

interface Context {
  stream: ReadStream;
  syntax: string;
  implicit: boolean;
  /** The same bytes as the stream's, for the values converted here. */
  buf: Buffer;
  view: DataView;
  littleEndian: boolean;
}

/** Bytes per value of the numeric VRs converted here; dcmjs reads them with DataView-like getters (FL and FD through Number()). */
const NUMBER_SIZES: Record<string, number> = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8 };

/** A DS value as dcmjs 0.52 formats it: trimmed, stripped to [0-9.+-e], a finite number or null. */
function decimalString(v: string): number | null {
  const r = v.trim().replace(/[^0-9.\\\-+e]/gi, '');
  if (r === '') return null;
  const n = Number(r);
  return Number.isFinite(n) ? n : null;
}

/** An IS value as dcmjs 0.52 formats it: a trimmed base-10 integer as a finite number, else null. */
function integerString(v: string): number | null {
  const t = v.trim();
  if (t === '' || !/^[+-]?\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

/**
 * Values of the commonest VRs converted here as dcmjs 0.52 converts them (less per-element work than
 * vr.read), else undefined. CS: the bytes as Latin-1 code points (readAsciiString), split on
 * backslashes, each trimmed. UI: the same, each stripped of all but digits and dots (which also
 * drops dcmjs's NUL padding). DS, IS: the same split, then dcmjs's number formatting. US/SS/UL/SL/FL/FD: one number per value, where the length is a
 * multiple of the value size (else dcmjs reads them).
 */
function quickValues(type: string, el: dicomParser.Element, ctx: Context): unknown[] | undefined {
  const start = el.dataOffset;
  const length = el.length;
  if (type === 'CS') return ctx.buf.toString('latin1', start, start + length).split('\\').map((v) => v.trim());
  if (type === 'UI') return ctx.buf.toString('latin1', start, start + length).split('\\').map((v) => v.replace(/[^0-9.]/g, ''));
  if (type === 'DS') return ctx.buf.toString('latin1', start, start + length).split('\\').map(decimalString);
  if (type === 'IS') return ctx.buf.toString('latin1', start, start + length).split('\\').map(integerString);
  const size = NUMBER_SIZES[type];
  if (!size || length === 0 || length % size !== 0) return undefined;
  const { view, littleEndian: le } = ctx;
  const out: number[] = [];
  for (let o = start; o < start + length; o += size) {
    switch (type) {
      case 'US': out.push(view.getUint16(o, le)); break;
      case 'SS': out.push(view.getInt16(o, le)); break;
      case 'UL': out.push(view.getUint32(o, le)); break;
      case 'SL': out.push(view.getInt32(o, le)); break;
      case 'FL': out.push(view.getFloat32(o, le)); break;
      default: out.push(view.getFloat64(o, le));
    }
  }
  return out;
}

/** dcmjs's VR for an element: the dictionary's for implicit VR (with dcmjs's rules for unknown tags), else the stated one. */
function vrOf(el: dicomParser.Element, ctx: Context): ValueRepresentation {
  if (ctx.implicit) {
    const known = DicomMetaDictionary.dictionary[punctuated(el.tag)];
    if (known && !known.vr) throw new Fallback('dictionary entry without VR');
    let type: string;
    if (known) type = known.vr!;
    else if (el.length === UNDEFINED_LENGTH || el.hadUndefinedLength) type = 'SQ';
    else if (el.tag === 'x7fe00010') type = 'OW';
    else if (isPrivateCreator(el.tag)) type = 'LO';
    else type = 'UN';
    return VR.createByTypeString(type);
  }
  const type = el.vr;
  if (!type) throw new Fallback('no VR');
  // dcmjs re-reads a UN value with the dictionary's VR (ParsedUnknownValue): left to dcmjs.
  if (type === 'UN' && DicomMetaDictionary.dictionary[punctuated(el.tag)]?.vr) throw new Fallback('UN of a known tag');
  return VR.createByTypeString(type);
}

/** dicom-parser keeps an undefined-length item's Item Delimitation Item among its elements; dcmjs does not. */
function isDelimiter(tag: string): boolean {
  return tag === 'xfffee00d';
}

function hasElements(ds: dicomParser.DataSet): boolean {
  for (const tag in ds.elements) if (!isDelimiter(tag)) return true;
  return false;
}

function readElement(el: dicomParser.Element, ctx: Context, decoder: TextDecoder): DcmjsElement {
  const vr = vrOf(el, ctx);
  if (vr.type === 'SQ') {
    if (!el.items) throw new Fallback('SQ that dicom-parser did not read as a sequence');
    // dcmjs keeps an item only when it has content (an empty item is dropped).
    const items: DcmjsDict[] = [];
    for (const item of el.items) {
      if (item.dataSet && hasElements(item.dataSet)) items.push(readDataSet(item.dataSet, ctx, false));
    }
    return { vr: 'SQ', Value: items };
  }
  if (el.items) throw new Fallback('items in an element that dcmjs does not read as a sequence');
  if (el.hadUndefinedLength) throw new Fallback('undefined length');
  const quick = quickValues(vr.type, el, ctx);
  if (quick) return { vr: vr.type, Value: quick };
  const { stream, syntax } = ctx;
  stream.offset = el.dataOffset;
  stream.decoder = decoder;
  const length = el.length;
  let values: unknown;
  if (vr.isBinary() && vr.maxLength && length > vr.maxLength && !vr.noMultiple) {
    // dcmjs reads fixed-size binary values one by one (US, FL, AT ...).
    const out: unknown[] = [];
    const times = length / vr.maxLength;
    for (let i = 0; i++ < times; ) out.push(vr.read(stream, vr.maxLength, syntax, READ_OPTIONS)?.value);
    values = out;
  } else {
    const value = vr.read(stream, length, syntax, READ_OPTIONS)?.value;
    if (!vr.isBinary() && !SINGLE_VRS.has(vr.type)) {
      values = typeof value === 'string' ? vr.dropPadByte(value.split('\\')) : value;
    } else if (vr.type === 'OW' || vr.type === 'OB') {
      values = value;
    } else {
      values = Array.isArray(value) ? value : [value];
    }
  }
  return { vr: vr.type, Value: values as unknown[] };
}

function readDataSet(ds: dicomParser.DataSet, ctx: Context, topLevel: boolean): DcmjsDict {
  const dict: DcmjsDict = {};
  let decoder = decoderFor(DEFAULT_DECODER);
  for (const tag in ds.elements) {
    if (topLevel && tag.startsWith('x0002')) continue; // file meta information: not in the data set
    if (!topLevel && isDelimiter(tag)) continue;
    const el = ds.elements[tag]!;
    const key = tag.slice(1).toUpperCase();
    if (topLevel && tag === 'x7fe00010' && (el.length > 0 || el.hadUndefinedLength)) {
      // Only its VR goes into the metadata (BulkDataURI): dcmjs need not read the pixel data.
      const vr = pixelDataVR(el, ctx.implicit);
      if (!vr) throw new Fallback('Pixel Data not OB or OW');
      dict[key] = { vr, Value: [new ArrayBuffer(0)] };
      continue;
    }
    const element = readElement(el, ctx, decoder);
    if (key === '00080005') {
      // As dcmjs: the first value selects the decoder of this data set's later elements, and the
      // element reads "ISO_IR 192" (values are UTF-16 strings from here on).
      const values = (element.Value ?? []) as string[];
      if (values.length > 1) throw new Fallback('several character sets');
      if (values.length === 1) {
        const label = CHARSETS[String(values[0]).replace(/[_ ]/g, '-').toLowerCase()];
        if (!label) throw new Fallback('character set');
        decoder = decoderFor(label);
      }
      element.Value = ['ISO_IR 192'];
    }
    dict[key] = element;
  }
  return dict;
}

/**
 * The data set (no file meta information) as dcmjs reads it, with Pixel Data's value replaced by an
 * empty ArrayBuffer (only its presence is used); undefined where dcmjs must read it.
 */
export function readDataSetLikeDcmjs(structure: dicomParser.DataSet, transferSyntaxUID: string): DcmjsDict | undefined {
  // Deflated: dicom-parser's DataSet (with parseStructure's inflater) also holds the preamble and
  // file meta bytes read as elements of the inflated data set; left to dcmjs (rare in practice).
  if (transferSyntaxUID === DEFLATED) return undefined;
  const syntax = transferSyntaxUID === IMPLICIT_LE || transferSyntaxUID === EXPLICIT_BE ? transferSyntaxUID : EXPLICIT_LE;
  const bytes = structure.byteArray;
  // dcmjs reads the meta information by its group length; the data set must begin where dicom-parser's meta ended.
  const groupLength = structure.elements.x00020000;
  if (!groupLength || groupLength.length !== 4) return undefined;
  const metaEnd = groupLength.dataOffset + 4 + structure.uint32('x00020000')!;
  for (const tag in structure.elements) {
    const el = structure.elements[tag]!;
    if (tag.startsWith('x0002') ? el.dataOffset + el.length > metaEnd : el.dataOffset < metaEnd) return undefined;
  }
  const ab = ownArrayBuffer(bytes);
  const stream = new ReadBufferStream(ab, null, { noCopy: true });
  const littleEndian = syntax !== EXPLICIT_BE;
  stream.setEndian(littleEndian);
  const ctx = { stream, syntax, implicit: syntax === IMPLICIT_LE, buf: Buffer.from(ab), view: new DataView(ab), littleEndian };
  try {
    return readDataSet(structure, ctx, true);
  } catch {
    // A Fallback, or a value dcmjs could not read: dcmjs parses the whole file (and reports the error).
    return undefined;
  }
}
