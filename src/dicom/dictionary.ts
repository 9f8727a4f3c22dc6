import dcmjs from 'dcmjs';

// dcmjs's validation logger prints to the console (e.g. "Invalid vr type");
// carpus reports problems through its own errors instead.
dcmjs.log.setLevel('silent');
dcmjs.log.getLogger('validation.dcmjs').setLevel('silent');

const { DicomMetaDictionary } = dcmjs.data;

const TAG_RE = /^[0-9A-Fa-f]{8}$/;

/** "PatientName" or "00100010" → "00100010"; undefined when neither. */
export function toTag(keywordOrTag: string): string | undefined {
  if (TAG_RE.test(keywordOrTag)) return keywordOrTag.toUpperCase();
  const entry = DicomMetaDictionary.nameMap[keywordOrTag];
  if (!entry) return undefined;
  const tag = DicomMetaDictionary.unpunctuateTag(entry.tag);
  // Repeating-group entries such as (60xx,3000) are not concrete tags.
  return TAG_RE.test(tag) ? tag.toUpperCase() : undefined;
}

export function vrOf(tag: string): string | undefined {
  return DicomMetaDictionary.dictionary[DicomMetaDictionary.punctuateTag(tag)]?.vr;
}

export function keywordOf(tag: string): string | undefined {
  return DicomMetaDictionary.dictionary[DicomMetaDictionary.punctuateTag(tag)]?.name;
}

/** DICOM tags carpus refers to by name, as 8-hex-digit keys (DICOM JSON form). */
export const T = {
  SpecificCharacterSet: '00080005',
  ImageType: '00080008',
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  SeriesDate: '00080021',
  StudyTime: '00080030',
  SeriesTime: '00080031',
  AccessionNumber: '00080050',
  IssuerOfAccessionNumberSequence: '00080051',
  RetrieveURL: '00081190',
  InstanceAvailability: '00080056',
  ModalitiesInStudy: '00080061',
  SOPClassesInStudy: '00080062',
  Modality: '00080060',
  Manufacturer: '00080070',
  InstitutionName: '00080080',
  ReferringPhysicianName: '00080090',
  TimezoneOffsetFromUTC: '00080201',
  StationName: '00081010',
  StudyDescription: '00081030',
  ProcedureCodeSequence: '00081032',
  SeriesDescription: '0008103E',
  ManufacturerModelName: '00081090',
  FailureReason: '00081197',
  FailedSOPSequence: '00081198',
  ReferencedSOPSequence: '00081199',
  ReferencedSOPClassUID: '00081150',
  ReferencedSOPInstanceUID: '00081155',
  WarningReason: '00081196',
  AvailableTransferSyntaxUID: '00083002',
  PatientName: '00100010',
  PatientID: '00100020',
  IssuerOfPatientID: '00100021',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  OtherPatientIDsSequence: '00101002',
  PatientAge: '00101010',
  PatientSize: '00101020',
  PatientWeight: '00101030',
  PatientComments: '00104000',
  BodyPartExamined: '00180015',
  ProtocolName: '00181030',
  ViewPosition: '00185101',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  StudyID: '00200010',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  Laterality: '00200060',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  BitsAllocated: '00280100',
  RequestingPhysician: '00321032',
  RequestedProcedureDescription: '00321060',
  PerformedProcedureStepStartDate: '00400244',
  PerformedProcedureStepStartTime: '00400245',
  RequestAttributesSequence: '00400275',
  PixelData: '7FE00010',
  FloatPixelData: '7FE00008',
  DoubleFloatPixelData: '7FE00009',
} as const;

/** Patient and study module attributes kept at study level (PS3.18 Table 10.6.1-5 and more). */
export const STUDY_LEVEL_TAGS: readonly string[] = [
  T.SpecificCharacterSet,
  T.StudyDate,
  T.StudyTime,
  T.AccessionNumber,
  T.IssuerOfAccessionNumberSequence,
  T.ReferringPhysicianName,
  T.TimezoneOffsetFromUTC,
  T.StudyDescription,
  T.ProcedureCodeSequence,
  T.PatientName,
  T.PatientID,
  T.IssuerOfPatientID,
  T.PatientBirthDate,
  T.PatientSex,
  T.OtherPatientIDsSequence,
  T.PatientAge,
  T.PatientSize,
  T.PatientWeight,
  T.PatientComments,
  T.StudyInstanceUID,
  T.StudyID,
  T.RequestingPhysician,
];

/** General series (and equipment) module attributes kept at series level. */
export const SERIES_LEVEL_TAGS: readonly string[] = [
  T.SpecificCharacterSet,
  T.Modality,
  T.SeriesInstanceUID,
  T.SeriesNumber,
  T.SeriesDescription,
  T.SeriesDate,
  T.SeriesTime,
  T.BodyPartExamined,
  T.Laterality,
  T.ProtocolName,
  T.ViewPosition,
  T.Manufacturer,
  T.ManufacturerModelName,
  T.InstitutionName,
  T.StationName,
  T.PerformedProcedureStepStartDate,
  T.PerformedProcedureStepStartTime,
  T.RequestAttributesSequence,
];
