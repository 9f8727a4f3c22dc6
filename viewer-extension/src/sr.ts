/**
 * Reads carpus's bone-age TID 1500 SR from its WADO-RS metadata (DICOM JSON, PS3.18 F.2),
 * naturalized with dcmjs so that attributes are read by their DICOM keywords. Codes: docs/sr-codes.md.
 */
import dcmjs from 'dcmjs';

export type DicomJson = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }>;
type Nat = Record<string, any>;

export const COMPREHENSIVE_SR = '1.2.840.10008.5.1.4.1.1.88.33';
export const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
export const CARPUS_SCHEME = '99CARPUS';

export interface NumValue {
  /** The NumericValue (DS) exactly as written in the SR. */
  text: string;
  value: number;
  /** UCUM unit code, e.g. "mo". */
  unit: string;
}

export interface BoneAgeReport {
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  contentDateTime?: string;
  boneAge: NumValue;
  chronologicalAge?: NumValue;
  difference?: NumValue;
  /** The Greulich-Pyle SD the SDS was computed with (months). */
  sd?: NumValue;
  sds?: NumValue;
  /** Code value of the assessment: BA-DELAYED, BA-NORMAL or BA-ADVANCED. */
  verdictCode?: string;
  verdictMeaning?: string;
  algorithmName?: string;
  algorithmVersion?: string;
  /** Algorithm Parameters as written ("sex=F", ...). */
  parameters: string[];
  /** The AI statement (Comment in Qualitative Evaluations). */
  statement?: string;
  /** The radiograph measured (Source of Measurement). */
  sourceSopInstanceUid?: string;
  /** The heat-map secondary capture. */
  heatmapSopInstanceUid?: string;
}

const arr = (v: unknown): Nat[] => (Array.isArray(v) ? v : v ? [v] : []) as Nat[];
const codeOf = (seq: unknown): { value?: string; scheme?: string; meaning?: string } => {
  const c = arr(seq)[0];
  return { value: c?.CodeValue, scheme: c?.CodingSchemeDesignator, meaning: c?.CodeMeaning };
};
const is = (item: Nat, value: string, scheme: string) => {
  const c = codeOf(item.ConceptNameCodeSequence);
  return c.value === value && c.scheme === scheme;
};

/** Every content item below `node`, depth first. */
function walk(node: Nat): Nat[] {
  return arr(node.ContentSequence).flatMap((c) => [c, ...walk(c)]);
}

/** The raw DS string of a NUM item's value (dcmjs keeps the text of DS values in DICOM JSON as numbers or strings). */
function numOf(item: Nat | undefined): NumValue | undefined {
  const mv = arr(item?.MeasuredValueSequence)[0];
  if (!mv) return undefined;
  const raw = mv.NumericValue;
  const text = String(Array.isArray(raw) ? raw[0] : raw).trim();
  return { text, value: Number(text), unit: codeOf(mv.MeasurementUnitsCodeSequence).value ?? '' };
}

/** True when a study-level QIDO/metadata result is carpus's SR (Manufacturer is checked on the full metadata). */
export function isCarpusBoneAgeSr(meta: DicomJson): boolean {
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(meta as never) as Nat;
  if (ds.SOPClassUID !== COMPREHENSIVE_SR) return false;
  const title = codeOf(ds.ConceptNameCodeSequence);
  if (title.value !== '126000' || title.scheme !== 'DCM') return false;
  return walk(ds).some((i) => i.ValueType === 'NUM' && is(i, '37362-1', 'LN'));
}

/** Parses carpus's SR; throws when the metadata is not a carpus bone-age report. */
export function parseBoneAgeSr(meta: DicomJson): BoneAgeReport {
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(meta as never) as Nat;
  if (ds.SOPClassUID !== COMPREHENSIVE_SR) throw new Error('not a Comprehensive SR');
  const items = walk(ds);
  const find = (value: string, scheme: string, type?: string) => items.find((i) => is(i, value, scheme) && (!type || i.ValueType === type));
  const boneAgeItem = find('37362-1', 'LN', 'NUM');
  const boneAge = numOf(boneAgeItem);
  if (!boneAge) throw new Error('the SR has no Bone age (37362-1, LN) measurement');
  const verdict = codeOf(find('BA-ASSESS', CARPUS_SCHEME, 'CODE')?.ConceptCodeSequence);
  const sourceRef = arr(arr(boneAgeItem?.ContentSequence).find((c) => is(c, '121112', 'DCM'))?.ReferencedSOPSequence)[0];
  const heatRef = arr(find('HEATMAP', CARPUS_SCHEME, 'IMAGE')?.ReferencedSOPSequence)[0];
  const text = (value: string, scheme: string) => find(value, scheme, 'TEXT')?.TextValue as string | undefined;
  return {
    sopInstanceUid: ds.SOPInstanceUID,
    seriesInstanceUid: ds.SeriesInstanceUID,
    studyInstanceUid: ds.StudyInstanceUID,
    contentDateTime: ds.ContentDate ? `${ds.ContentDate}${ds.ContentTime ?? ''}` : undefined,
    boneAge,
    chronologicalAge: numOf(find('30525-0', 'LN', 'NUM')),
    difference: numOf(find('BA-CA', CARPUS_SCHEME, 'NUM')),
    sd: numOf(find('GP-SD', CARPUS_SCHEME, 'NUM')),
    sds: numOf(find('BA-SDS', CARPUS_SCHEME, 'NUM')),
    verdictCode: verdict.value,
    verdictMeaning: verdict.meaning,
    algorithmName: text('111001', 'DCM'),
    algorithmVersion: text('111003', 'DCM'),
    parameters: items.filter((i) => is(i, '111002', 'DCM') && i.ValueType === 'TEXT').map((i) => String(i.TextValue)),
    statement: text('121106', 'DCM'),
    sourceSopInstanceUid: sourceRef?.ReferencedSOPInstanceUID,
    heatmapSopInstanceUid: heatRef?.ReferencedSOPInstanceUID,
  };
}

/** Whole years and months, e.g. 171.44 -> "14 y 3 mo" (rounded to the month, as on carpus's SC). */
export function yearsMonths(months: number): string {
  const total = Math.round(Math.abs(months));
  const y = Math.floor(total / 12);
  const m = total % 12;
  const s = y === 0 ? `${m} mo` : m === 0 ? `${y} y` : `${y} y ${m} mo`;
  return months < 0 && total > 0 ? `\u2212${s}` : s;
}
