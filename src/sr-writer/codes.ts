/**
 * Coded concepts used in the bone-age SR and SC. Sources are listed in docs/sr-codes.md.
 * Concepts with no standard code use the private scheme PRIVATE_SCHEME ("99CARPUS"), defined in
 * the SR's Coding Scheme Identification Sequence; no code is invented in a standard scheme.
 */
export interface Code {
  value: string;
  scheme: string;
  meaning: string;
}

const c = (value: string, scheme: string, meaning: string): Code => ({ value, scheme, meaning });

export const PRIVATE_SCHEME = '99CARPUS';
export const PRIVATE_SCHEME_NAME = 'carpus bone-age concepts';
export const PRIVATE_SCHEME_ORGANIZATION = 'carpus open-source project';

export const CODES = {
  // TID 1500 structure (DCM, PS3.16)
  imagingMeasurementReport: c('126000', 'DCM', 'Imaging Measurement Report'),
  languageOfContent: c('121049', 'DCM', 'Language of Content Item and Descendants'),
  englishUS: c('en-US', 'RFC5646', 'English (US)'),
  observerType: c('121005', 'DCM', 'Observer Type'),
  device: c('121007', 'DCM', 'Device'),
  deviceObserverUid: c('121012', 'DCM', 'Device Observer UID'),
  deviceObserverName: c('121013', 'DCM', 'Device Observer Name'),
  deviceObserverManufacturer: c('121014', 'DCM', 'Device Observer Manufacturer'),
  deviceObserverModelName: c('121015', 'DCM', 'Device Observer Model Name'),
  procedureReported: c('121058', 'DCM', 'Procedure reported'),
  imageLibrary: c('111028', 'DCM', 'Image Library'),
  imageLibraryGroup: c('126200', 'DCM', 'Image Library Group'),
  imagingMeasurements: c('126010', 'DCM', 'Imaging Measurements'),
  measurementGroup: c('125007', 'DCM', 'Measurement Group'),
  trackingIdentifier: c('112039', 'DCM', 'Tracking Identifier'),
  trackingUid: c('112040', 'DCM', 'Tracking Unique Identifier'),
  algorithmName: c('111001', 'DCM', 'Algorithm Name'),
  algorithmVersion: c('111003', 'DCM', 'Algorithm Version'),
  algorithmParameters: c('111002', 'DCM', 'Algorithm Parameters'),
  sourceOfMeasurement: c('121112', 'DCM', 'Source of Measurement'),
  comment: c('121106', 'DCM', 'Comment'),
  qualitativeEvaluations: c('C0034375', 'UMLS', 'Qualitative Evaluations'),
  sourceImageForProcessing: c('121322', 'DCM', 'Source image for image processing operation'),
  // SNOMED CT
  findingSite: c('363698007', 'SCT', 'Finding Site'),
  hand: c('85562004', 'SCT', 'Hand'),
  measurementMethod: c('370129005', 'SCT', 'Measurement Method'),
  // LOINC
  boneAgeProcedure: c('37362-1', 'LN', 'XR Bone age'),
  boneAge: c('37362-1', 'LN', 'Bone age'),
  age: c('30525-0', 'LN', 'Age'),
  // UCUM units
  months: c('mo', 'UCUM', 'month'),
  sdUnits: c('{SD}', 'UCUM', 'standard deviation'),
  // Private (no standard code found)
  boneAgeMinusChronologicalAge: c('BA-CA', PRIVATE_SCHEME, 'Bone age minus chronological age'),
  boneAgeSds: c('BA-SDS', PRIVATE_SCHEME, 'Bone age SDS (Greulich-Pyle)'),
  gpStandardDeviation: c('GP-SD', PRIVATE_SCHEME, 'Greulich-Pyle SD for age and sex'),
  gpSdsMethod: c('GP-SDS-BRUSH', PRIVATE_SCHEME, 'SDS against Greulich-Pyle (Brush Foundation) SD'),
  boneAgeAssessment: c('BA-ASSESS', PRIVATE_SCHEME, 'Bone age assessment at +/-2 SD'),
  delayed: c('BA-DELAYED', PRIVATE_SCHEME, 'Delayed bone age (SDS < -2)'),
  normal: c('BA-NORMAL', PRIVATE_SCHEME, 'Bone age within +/-2 SD'),
  advanced: c('BA-ADVANCED', PRIVATE_SCHEME, 'Advanced bone age (SDS > +2)'),
  heatmap: c('HEATMAP', PRIVATE_SCHEME, 'Model attention heat map (secondary capture)'),
} as const;
