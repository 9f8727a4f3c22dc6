/**
 * Small helpers for building DICOM data sets with dcmjs: the naturalized form (keyword → value)
 * for what carpus writes, the denaturalized form (tag → {vr, Value}) for what is copied from
 * the source unchanged, and Part 10 output in Explicit VR Little Endian.
 */
import dcmjs, { type DcmjsDict, type DcmjsElement } from 'dcmjs';
import '../dicom/dictionary.ts';
import type { Code } from './codes.ts';
import { deterministicUid } from './uid.ts';

const { DicomMetaDictionary, DicomDict, DicomMessage } = dcmjs.data;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** Constant, UUID-derived implementation class UID of carpus's writers. */
export const IMPLEMENTATION_CLASS_UID = deterministicUid(['carpus-implementation-class'], ''); // '' = ignore CARPUS_UID_ROOT
export const IMPLEMENTATION_VERSION_NAME = 'CARPUS_SR_1';

export type Naturalized = Record<string, unknown>;

/** A Code Sequence item in naturalized form. */
export function codeItem(code: Code): Naturalized {
  return { CodeValue: code.value, CodingSchemeDesignator: code.scheme, CodeMeaning: code.meaning };
}

/** Reads a Part 10 file with dcmjs (denaturalized dict). */
export function readPart10(bytes: Uint8Array): { meta: DcmjsDict; dict: DcmjsDict } {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return DicomMessage.readFile(ab);
}

/** First value of a string element in a denaturalized dict (PN as its Alphabetic group). */
export function dictStr(dict: DcmjsDict, tag: string): string | undefined {
  const v = dict[tag]?.Value?.[0];
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'object' && 'Alphabetic' in (v as object)) {
    const a = (v as { Alphabetic?: unknown }).Alphabetic;
    return typeof a === 'string' && a.trim() ? a.trim() : undefined;
  }
  const s = String(v).replace(/\0/g, '').trim();
  return s === '' ? undefined : s;
}

function stripRaw(el: DcmjsElement): DcmjsElement {
  const out: DcmjsElement = { vr: el.vr };
  if (el.Value !== undefined) {
    out.Value = el.vr === 'SQ' ? el.Value.map((item) => stripDict((item ?? {}) as DcmjsDict)) : [...el.Value];
  }
  return out;
}

function stripDict(dict: DcmjsDict): DcmjsDict {
  const out: DcmjsDict = {};
  for (const [tag, el] of Object.entries(dict)) out[tag] = stripRaw(el);
  return out;
}

/** Copies `tags` present in `from` (deep, without dcmjs's raw caches); type 2 ones absent become empty. */
export function copyTags(from: DcmjsDict, tags: readonly string[], type2: ReadonlySet<string>): DcmjsDict {
  const out: DcmjsDict = {};
  for (const tag of tags) {
    const el = from[tag];
    if (el) out[tag] = stripRaw(el);
    else if (type2.has(tag)) {
      const vr = DicomMetaDictionary.dictionary[DicomMetaDictionary.punctuateTag(tag)]?.vr ?? 'UN';
      out[tag] = { vr, Value: [] };
    }
  }
  return out;
}

/** Naturalized → denaturalized, merged over `base` (naturalized values win). */
export function toDict(nat: Naturalized, base: DcmjsDict = {}): DcmjsDict {
  const dict = DicomMetaDictionary.denaturalizeDataset(nat);
  // dcmjs writes an empty string for [null]; make type 2 empties explicit.
  for (const el of Object.values(dict)) {
    if (Array.isArray(el.Value) && el.Value.length === 1 && (el.Value[0] === null || el.Value[0] === '')) el.Value = [];
  }
  return { ...base, ...dict };
}

/** Writes a data set as a Part 10 file in Explicit VR Little Endian. */
export function writePart10(dict: DcmjsDict, sopClassUid: string, sopInstanceUid: string): Buffer {
  const meta = DicomMetaDictionary.denaturalizeDataset({
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  });
  meta['00020001'] = { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] };
  const dd = new DicomDict(meta);
  // Ascending tag order, as Part 10 requires (dcmjs writes in object order).
  const sorted: DcmjsDict = {};
  for (const tag of Object.keys(dict).sort()) sorted[tag] = dict[tag]!;
  dd.dict = sorted;
  return Buffer.from(dd.write());
}

/** DA and TM of a Date in UTC. */
export function dicomDateTime(d: Date): { date: string; time: string } {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return {
    date: `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}`,
    time: `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`,
  };
}

/** A number as a DS value of at most 16 characters (2 decimals, no exponent). */
export function ds(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`DS value must be finite, got ${x}`);
  let s = (Math.round(x * 100) / 100).toFixed(2).replace(/\.?0+$/, '');
  if (s === '-0') s = '0';
  if (s.length > 16) throw new Error(`DS value ${x} does not fit in 16 characters`);
  return s;
}

/** Patient, General Study and Patient Study attributes copied from the source to every object written. */
export const PATIENT_STUDY_TAGS = [
  '00080020', // StudyDate
  '00080030', // StudyTime
  '00080050', // AccessionNumber
  '00080051', // IssuerOfAccessionNumberSequence
  '00080090', // ReferringPhysicianName
  '00081030', // StudyDescription
  '00081032', // ProcedureCodeSequence
  '00100010', // PatientName
  '00100020', // PatientID
  '00100021', // IssuerOfPatientID
  '00100024', // IssuerOfPatientIDQualifiersSequence
  '00100030', // PatientBirthDate
  '00100040', // PatientSex
  '00101002', // OtherPatientIDsSequence
  '00101010', // PatientAge
  '00101020', // PatientSize
  '00101030', // PatientWeight
  '00104000', // PatientComments
  '00120062', // PatientIdentityRemoved
  '00120063', // DeidentificationMethod
  '0020000D', // StudyInstanceUID
  '00200010', // StudyID
] as const;

export const PATIENT_STUDY_TYPE2 = new Set(['00080020', '00080030', '00080050', '00080090', '00100010', '00100020', '00100030', '00100040', '00200010']);
