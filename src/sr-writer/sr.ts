/**
 * The bone-age Structured Report: a Comprehensive SR whose content tree follows TID 1500
 * "Imaging Measurement Report" (built by hand: dcmjs's TID 1500 helpers are broken).
 *
 *   CONTAINER Imaging Measurement Report (TID 1500)
 *   ├ HAS CONCEPT MOD  Language of Content Item and Descendants = English (US)     (TID 1204)
 *   ├ HAS OBS CONTEXT  Observer Type = Device; Device Observer UID/Name/Manufacturer/Model Name (TID 1002/1004)
 *   ├ HAS CONCEPT MOD  Procedure reported = XR Bone age
 *   ├ CONTAINS Image Library (TID 1600) > Image Library Group > IMAGE source radiograph, IMAGE heat-map SC
 *   ├ CONTAINS Imaging Measurements > Measurement Group (TID 1501)
 *   │   ├ Tracking Identifier, Tracking Unique Identifier, Finding Site = Hand
 *   │   ├ Algorithm Name / Version / Parameters (TID 4019)
 *   │   ├ NUM Bone age (mo) ← INFERRED FROM IMAGE source radiograph
 *   │   ├ NUM Age (chronological, mo), NUM Bone age minus chronological age (mo),
 *   │   │ NUM Greulich-Pyle SD (mo), NUM Bone age SDS ({SD}) with its Measurement Method
 *   │   ├ CODE Bone age assessment = delayed / normal / advanced
 *   │   └ IMAGE heat map (the SC)
 *   └ CONTAINS Qualitative Evaluations > TEXT Comment: AI result, to be verified by a physician (+ why numbers are absent)
 */
import type { DcmjsDict } from 'dcmjs';
import { CODES, PRIVATE_SCHEME, PRIVATE_SCHEME_NAME, PRIVATE_SCHEME_ORGANIZATION, type Code } from './codes.ts';
import { codeItem, copyTags, dicomDateTime, ds, toDict, writePart10, PATIENT_STUDY_TAGS, PATIENT_STUDY_TYPE2, type Naturalized } from './dataset.ts';
import type { AgeAssessment, BoneAgeResult } from './types.ts';

export const COMPREHENSIVE_SR = '1.2.840.10008.5.1.4.1.1.88.33';

export const AI_STATEMENT =
  'This report was generated automatically by the carpus AI bone-age software. It is an AI result, not a diagnosis, and must be verified by a physician.';

type Rel = 'CONTAINS' | 'HAS OBS CONTEXT' | 'HAS CONCEPT MOD' | 'HAS PROPERTIES' | 'INFERRED FROM';

function item(rel: Rel | undefined, valueType: string, name: Code | undefined, rest: Naturalized): Naturalized {
  const out: Naturalized = {};
  if (rel) out.RelationshipType = rel;
  out.ValueType = valueType;
  if (name) out.ConceptNameCodeSequence = [codeItem(name)];
  return { ...out, ...rest };
}

const container = (rel: Rel | undefined, name: Code, children: Naturalized[], extra: Naturalized = {}) =>
  item(rel, 'CONTAINER', name, { ContinuityOfContent: 'SEPARATE', ...extra, ContentSequence: children });
const text = (rel: Rel, name: Code, value: string) => item(rel, 'TEXT', name, { TextValue: value });
const code = (rel: Rel, name: Code, value: Code) => item(rel, 'CODE', name, { ConceptCodeSequence: [codeItem(value)] });
const uidref = (rel: Rel, name: Code, uid: string) => item(rel, 'UIDREF', name, { UID: uid });
function num(rel: Rel, name: Code, value: number, units: Code, children: Naturalized[] = []): Naturalized {
  const extra: Naturalized = { MeasuredValueSequence: [{ MeasurementUnitsCodeSequence: [codeItem(units)], NumericValue: ds(value) }] };
  if (children.length) extra.ContentSequence = children;
  return item(rel, 'NUM', name, extra);
}
const image = (rel: Rel, name: Code | undefined, ref: { classUid: string; instanceUid: string }) =>
  item(rel, 'IMAGE', name, { ReferencedSOPSequence: [{ ReferencedSOPClassUID: ref.classUid, ReferencedSOPInstanceUID: ref.instanceUid }] });

export interface SrInput {
  source: DcmjsDict;
  sourceRef: { classUid: string; instanceUid: string; seriesUid: string; studyUid: string };
  scRef: { classUid: string; instanceUid: string; seriesUid: string };
  result: BoneAgeResult;
  numbers: AgeAssessment;
  uids: { series: string; instance: string; deviceObserver: string; tracking: string };
  now: Date;
  seriesNumber: number;
  softwareVersion: string;
  deviceName: string;
}

function algorithmParameters(r: BoneAgeResult): string[] {
  const params: string[] = [`sex=${r.sex}`, `executionProvider=${r.executionProvider}`, `weightsSha256=${r.model.sha256.toLowerCase()}`];
  for (const [k, v] of Object.entries(r.maskQuality ?? {})) params.push(`maskQuality.${k}=${Number.isFinite(v) ? Number(v.toPrecision(6)) : String(v)}`);
  for (const [k, v] of Object.entries(r.parameters ?? {})) params.push(`${k}=${String(v)}`);
  return params;
}

function verdictCode(v: NonNullable<AgeAssessment['verdict']>): Code {
  return v === 'delayed' ? CODES.delayed : v === 'advanced' ? CODES.advanced : CODES.normal;
}

/** The content tree (naturalized) of the report. */
export function contentTree(inp: SrInput): Naturalized[] {
  const { result: r, numbers: n } = inp;
  const src = { classUid: inp.sourceRef.classUid, instanceUid: inp.sourceRef.instanceUid };
  const sc = { classUid: inp.scRef.classUid, instanceUid: inp.scRef.instanceUid };

  const group: Naturalized[] = [
    text('HAS OBS CONTEXT', CODES.trackingIdentifier, 'bone age'),
    uidref('HAS OBS CONTEXT', CODES.trackingUid, inp.uids.tracking),
    code('HAS CONCEPT MOD', CODES.findingSite, CODES.hand),
    text('HAS CONCEPT MOD', CODES.algorithmName, r.model.name),
    text('HAS CONCEPT MOD', CODES.algorithmVersion, r.model.version),
    ...algorithmParameters(r).map((p) => text('HAS CONCEPT MOD', CODES.algorithmParameters, p)),
    num('CONTAINS', CODES.boneAge, n.boneAgeMonths, CODES.months, [image('INFERRED FROM', CODES.sourceOfMeasurement, src)]),
  ];
  if (n.chronologicalAgeMonths !== undefined) group.push(num('CONTAINS', CODES.age, n.chronologicalAgeMonths, CODES.months));
  if (n.differenceMonths !== undefined) group.push(num('CONTAINS', CODES.boneAgeMinusChronologicalAge, n.differenceMonths, CODES.months));
  if (n.sdMonths !== undefined) group.push(num('CONTAINS', CODES.gpStandardDeviation, n.sdMonths, CODES.months));
  if (n.sds !== undefined) group.push(num('CONTAINS', CODES.boneAgeSds, n.sds, CODES.sdUnits, [code('HAS CONCEPT MOD', CODES.measurementMethod, CODES.gpSdsMethod)]));
  if (n.verdict) group.push(code('CONTAINS', CODES.boneAgeAssessment, verdictCode(n.verdict)));
  group.push(image('CONTAINS', CODES.heatmap, sc));

  const comments = [text('CONTAINS', CODES.comment, AI_STATEMENT)];
  if (n.chronologicalAgeSource === 'patient-age') comments.push(text('CONTAINS', CODES.comment, 'Chronological age taken from PatientAge (no PatientBirthDate with StudyDate in the source).'));
  if (n.notComputedReason) comments.push(text('CONTAINS', CODES.comment, `Not computed: ${n.chronologicalAgeMonths === undefined ? 'chronological age, difference, ' : ''}SDS and assessment (${n.notComputedReason}).`));

  return [
    code('HAS CONCEPT MOD', CODES.languageOfContent, CODES.englishUS),
    code('HAS OBS CONTEXT', CODES.observerType, CODES.device),
    uidref('HAS OBS CONTEXT', CODES.deviceObserverUid, inp.uids.deviceObserver),
    text('HAS OBS CONTEXT', CODES.deviceObserverName, inp.deviceName),
    text('HAS OBS CONTEXT', CODES.deviceObserverManufacturer, 'carpus'),
    text('HAS OBS CONTEXT', CODES.deviceObserverModelName, `${r.model.name} ${r.model.version}`),
    code('HAS CONCEPT MOD', CODES.procedureReported, CODES.boneAgeProcedure),
    container('CONTAINS', CODES.imageLibrary, [container('CONTAINS', CODES.imageLibraryGroup, [image('CONTAINS', undefined, src), image('CONTAINS', undefined, sc)])]),
    container('CONTAINS', CODES.imagingMeasurements, [container('CONTAINS', CODES.measurementGroup, group)]),
    container('CONTAINS', CODES.qualitativeEvaluations, comments),
  ];
}

/** The whole SR data set, written as Part 10. */
export function buildSr(inp: SrInput): Buffer {
  const { date, time } = dicomDateTime(inp.now);
  const base = copyTags(inp.source, PATIENT_STUDY_TAGS, PATIENT_STUDY_TYPE2);
  const nat: Naturalized = {
    SpecificCharacterSet: 'ISO_IR 192',
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    SOPClassUID: COMPREHENSIVE_SR,
    SOPInstanceUID: inp.uids.instance,
    CodingSchemeIdentificationSequence: [
      { CodingSchemeDesignator: PRIVATE_SCHEME, CodingSchemeName: PRIVATE_SCHEME_NAME, CodingSchemeResponsibleOrganization: PRIVATE_SCHEME_ORGANIZATION },
    ],
    TimezoneOffsetFromUTC: '+0000',
    Modality: 'SR',
    SeriesInstanceUID: inp.uids.series,
    SeriesNumber: String(inp.seriesNumber),
    SeriesDate: date,
    SeriesTime: time,
    SeriesDescription: 'carpus AI bone age report',
    ReferencedPerformedProcedureStepSequence: [],
    Manufacturer: 'carpus',
    ManufacturerModelName: `${inp.result.model.name} ${inp.result.model.version}`.slice(0, 64),
    SoftwareVersions: [inp.softwareVersion, `${inp.result.model.name} ${inp.result.model.version}`.slice(0, 64)],
    InstanceNumber: '1',
    ContentDate: date,
    ContentTime: time,
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    PerformedProcedureCodeSequence: [],
    CurrentRequestedProcedureEvidenceSequence: [
      {
        StudyInstanceUID: inp.sourceRef.studyUid,
        ReferencedSeriesSequence: [
          { SeriesInstanceUID: inp.sourceRef.seriesUid, ReferencedSOPSequence: [{ ReferencedSOPClassUID: inp.sourceRef.classUid, ReferencedSOPInstanceUID: inp.sourceRef.instanceUid }] },
          { SeriesInstanceUID: inp.scRef.seriesUid, ReferencedSOPSequence: [{ ReferencedSOPClassUID: inp.scRef.classUid, ReferencedSOPInstanceUID: inp.scRef.instanceUid }] },
        ],
      },
    ],
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [codeItem(CODES.imagingMeasurementReport)],
    ContinuityOfContent: 'SEPARATE',
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '1500' }],
    ContentSequence: contentTree(inp),
  };
  const dict = toDict(nat, base);
  return writePart10(dict, COMPREHENSIVE_SR, inp.uids.instance);
}
