import zlib from 'node:zlib';
import dicomParser from 'dicom-parser';
import dcmjs from 'dcmjs';
import './dictionary.ts';
import { T } from './dictionary.ts';
import { toDicomJson, str, int, type DicomJson } from './json.ts';
import { ownArrayBuffer, pixelDataVR, readDataSetLikeDcmjs } from './dataset-reader.ts';

/** Why a part could not be taken; maps to a STOW-RS FailureReason. */
export class DicomParseError extends Error {
  override name = 'DicomParseError';
  constructor(
    message: string,
    readonly kind: 'not-dicom' | 'malformed' | 'missing-attribute',
  ) {
    super(message);
  }
}

export interface ParsedInstance {
  SOPClassUID: string;
  SOPInstanceUID: string;
  StudyInstanceUID: string;
  SeriesInstanceUID: string;
  TransferSyntaxUID: string;
  /** Full data set as DICOM JSON, binary values as relative BulkDataURIs. */
  readonly metadata: DicomJson;
  /** `metadata` as JSON text (what the index stores), where the parser kept it that way. */
  readonly metadataJson?: string;
  /** What the instance row and the reception audit take from `metadata`, read at parse time. */
  readonly fields?: InstanceFields;
}

/** Per-instance attributes of the index row and the audit (a few numbers and a string, cheap to hold). */
export interface InstanceFields {
  InstanceNumber?: number | undefined;
  NumberOfFrames?: number | undefined;
  Rows?: number | undefined;
  Columns?: number | undefined;
  AccessionNumber?: string | undefined;
}

/**
 * The instance's fields: those read at parse time or, for a ParsedInstance made elsewhere, from its
 * metadata. Each read of `metadata` parses the whole DICOM JSON text again (~0.25 ms for a CT).
 */
export function instanceFields(p: ParsedInstance): InstanceFields {
  return p.fields ?? fieldsOf(p.metadata);
}

function fieldsOf(m: DicomJson): InstanceFields {
  return {
    InstanceNumber: int(m, T.InstanceNumber),
    NumberOfFrames: int(m, T.NumberOfFrames),
    Rows: int(m, T.Rows),
    Columns: int(m, T.Columns),
    AccessionNumber: str(m, T.AccessionNumber),
  };
}

const UID_RE = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && UID_RE.test(uid);
}

/** Lenient UID check for stored data: real archives hold UIDs with leading zeros in a component. */
export function isUsableUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && /^[0-9]+(\.[0-9]+)*$/.test(uid);
}

function inflateDeflated(bytes: Uint8Array, position: number): Uint8Array {
  const inflated = zlib.inflateRawSync(bytes.subarray(position));
  const full = new Uint8Array(position + inflated.length);
  full.set(bytes.subarray(0, position));
  full.set(inflated, position);
  return full;
}

/**
 * Strictly checks the structure with dicom-parser, which (unlike dcmjs) rejects
 * a data set cut short, and returns the parsed data set for offsets.
 */
export function parseStructure(bytes: Uint8Array): dicomParser.DataSet {
  if (bytes.length < 132 || bytes[128] !== 0x44 || bytes[129] !== 0x49 || bytes[130] !== 0x43 || bytes[131] !== 0x4d) {
    throw new DicomParseError('not a DICOM Part 10 file: no "DICM" prefix at byte 128', 'not-dicom');
  }
  try {
    return dicomParser.parseDicom(bytes, { inflater: inflateDeflated } as dicomParser.ParseDicomOptions);
  } catch (err) {
    const msg = typeof err === 'string' ? err : ((err as { exception?: string }).exception ?? (err as Error).message);
    throw new DicomParseError(`malformed or truncated DICOM: ${String(msg).replace(/^dicomParser[.:]\s*/, '')}`, 'malformed');
  }
}

const DEFLATED_TS = '1.2.840.10008.1.2.1.99';
const IMPLICIT_TS = '1.2.840.10008.1.2';

/**
 * Pixel Data (7FE0,0010) as the metadata gives it, when dcmjs may stop reading before it: a
 * top-level element with a value, in a data set that is not deflated. dicom-parser has already
 * checked its structure (fragments included), and only its VR goes into the metadata (BulkDataURI),
 * so dcmjs need not walk the pixel data (for fragments: one object per item; for native data, a
 * copy of the whole value even with noCopy: 25 ms for a 6 MB radiograph). `after` is the offset of
 * the first byte after it when top-level elements follow (e.g. Data Set Trailing Padding). Else undefined.
 */
function pixelDataToSkip(structure: dicomParser.DataSet, transferSyntaxUID: string): { json: DicomJson[string]; after?: number } | undefined {
  if (transferSyntaxUID === DEFLATED_TS) return undefined;
  const el = structure.elements.x7fe00010;
  if (!el || !(el.length > 0 || el.hadUndefinedLength)) return undefined;
  const vr = pixelDataVR(el, transferSyntaxUID === IMPLICIT_TS);
  if (!vr) return undefined;
  const json = { vr, BulkDataURI: 'bulkdata/7FE00010' };
  for (const tag in structure.elements) {
    // dicom-parser's length of an undefined-length element runs to the end of its Sequence Delimitation Item.
    if (tag > 'x7fe00010') return { json, after: el.dataOffset + el.length };
  }
  return { json };
}

/**
 * The top-level elements after Pixel Data, parsed by dcmjs on their own: the file meta information
 * (which gives the transfer syntax) followed by those elements' bytes, so the same dcmjs code reads them.
 */
function elementsAfter(bytes: Uint8Array, structure: dicomParser.DataSet, after: number): DicomJson {
  let metaEnd = 132;
  for (const tag in structure.elements) {
    if (!tag.startsWith('x0002')) continue;
    const e = structure.elements[tag]!;
    metaEnd = Math.max(metaEnd, e.dataOffset + e.length);
  }
  const tail = new Uint8Array(metaEnd + bytes.length - after);
  tail.set(bytes.subarray(0, metaEnd));
  tail.set(bytes.subarray(after), metaEnd);
  return toDicomJson(dcmjs.data.DicomMessage.readFile(tail.buffer, { noCopy: true }).dict);
}

/**
 * The data set as DICOM JSON by dcmjs's own reader: the path for what readDataSetLikeDcmjs leaves to
 * dcmjs (other character sets, UN of known tags, ...), and the reference it is tested against.
 */
export function dcmjsMetadata(bytes: Uint8Array, structure: dicomParser.DataSet, TransferSyntaxUID: string): DicomJson {
  const pixelData = pixelDataToSkip(structure, TransferSyntaxUID);
  let parsed: { meta: unknown; dict: import('dcmjs').DcmjsDict };
  let trailing: DicomJson | undefined;
  try {
    const ab = ownArrayBuffer(bytes);
    // noCopy: binary values (pixel data) stay views of `ab` instead of copies; only their length is
    // used here (BulkDataURI). Measured on a 530 KB CT: 35 % less parse time and less garbage.
    parsed = dcmjs.data.DicomMessage.readFile(ab, pixelData ? { noCopy: true, untilTag: '7FE00010', includeUntilTagValue: false } : { noCopy: true });
    if (pixelData?.after !== undefined) trailing = elementsAfter(bytes, structure, pixelData.after);
  } catch (err) {
    throw new DicomParseError(`malformed DICOM: ${(err as Error).message}`, 'malformed');
  }
  if (pixelData) delete parsed.dict['7FE00010']; // read up to its tag only (no VR, no value)
  const metadata = toDicomJson(parsed.dict);
  if (pixelData) metadata['7FE00010'] = pixelData.json;
  if (trailing) Object.assign(metadata, trailing); // in file order, after Pixel Data
  return metadata;
}

/** The data set as DICOM JSON: from dicom-parser's walk with dcmjs's value conversion, else by dcmjs alone. */
export function readMetadata(bytes: Uint8Array, structure: dicomParser.DataSet, TransferSyntaxUID: string): DicomJson {
  const dict = readDataSetLikeDcmjs(structure, TransferSyntaxUID);
  return dict ? toDicomJson(dict) : dcmjsMetadata(bytes, structure, TransferSyntaxUID);
}

/** Parses a Part 10 file and extracts what the archive indexes. */
export function parseInstance(bytes: Uint8Array): ParsedInstance {
  const structure = parseStructure(bytes);
  const TransferSyntaxUID = structure.string('x00020010')?.replace(/\0/g, '').trim();
  if (!TransferSyntaxUID) throw new DicomParseError('file meta information has no TransferSyntaxUID (0002,0010)', 'missing-attribute');
  const metadata = readMetadata(bytes, structure, TransferSyntaxUID);
  metadata[T.AvailableTransferSyntaxUID] = { vr: 'UI', Value: [TransferSyntaxUID] };
  const need = (tag: string, keyword: string): string => {
    const v = str(metadata, tag);
    if (!v) throw new DicomParseError(`missing ${keyword} (${tag.slice(0, 4)},${tag.slice(4)})`, 'missing-attribute');
    if (!isUsableUid(v)) throw new DicomParseError(`${keyword} is not a valid UID`, 'missing-attribute');
    return v;
  };
  const ids = {
    SOPClassUID: need(T.SOPClassUID, 'SOPClassUID'),
    SOPInstanceUID: need(T.SOPInstanceUID, 'SOPInstanceUID'),
    StudyInstanceUID: need(T.StudyInstanceUID, 'StudyInstanceUID'),
    SeriesInstanceUID: need(T.SeriesInstanceUID, 'SeriesInstanceUID'),
    TransferSyntaxUID,
  };
  // A received instance waits for its group's fsync and index transaction across several
  // young-generation GCs, so what it holds is promoted to old space. As a tree (~42 KiB of small
  // objects for a 256-element CT) that made a 1 GiB STOW grow old space to 116 MiB (issue #2, 48 MiB
  // with the text). One flat string (~12 KiB) is kept instead; each read of `metadata` rebuilds a
  // short-lived tree, so callers read it once per use.
  return received(ids, JSON.stringify(metadata), fieldsOf(metadata));
}

/** Outside parseInstance, so the getter's closure cannot hold that function's tree alive. */
function received(ids: Omit<ParsedInstance, 'metadata' | 'metadataJson' | 'fields'>, metadataJson: string, fields: InstanceFields): ParsedInstance {
  return {
    ...ids,
    metadataJson,
    fields,
    get metadata(): DicomJson {
      return JSON.parse(metadataJson) as DicomJson;
    },
  };
}

export { str, int };
