/**
 * Standard DICOMweb reads (QIDO-RS, WADO-RS metadata) through dicomweb-client, so the extension
 * works against any archive holding carpus's results (carpus itself, Orthanc, a PACS).
 */
import { api } from 'dicomweb-client';
import dcmjs from 'dcmjs';
import { COMPREHENSIVE_SR, SECONDARY_CAPTURE, type DicomJson } from './sr.ts';

export interface DicomwebSource {
  /** Base URL of the DICOMweb service, e.g. https://pacs.example/dicom-web */
  url: string;
  /** Extra request headers, e.g. Authorization. */
  headers?: Record<string, string>;
}

export interface InstanceRef {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
}

export type DicomwebClient = InstanceType<typeof api.DICOMwebClient>;

export function createClient(src: DicomwebSource): DicomwebClient {
  return new api.DICOMwebClient({ url: src.url.replace(/\/+$/, ''), headers: src.headers ?? {}, singlepart: false });
}

const str = (ds: DicomJson, tag: string): string | undefined => {
  const v = ds[tag]?.Value?.[0];
  return v === undefined || v === null ? undefined : typeof v === 'object' ? (v as { Alphabetic?: string }).Alphabetic : String(v);
};

/** QIDO-RS: every instance of a study, with the UIDs needed to fetch it. */
export async function studyInstances(client: DicomwebClient, studyInstanceUid: string): Promise<InstanceRef[]> {
  const found = (await client.searchForInstances({ studyInstanceUID: studyInstanceUid, queryParams: { includefield: '00080016,0020000E' } })) as DicomJson[];
  return (found ?? []).map((ds) => ({
    studyInstanceUid,
    seriesInstanceUid: str(ds, '0020000E') ?? '',
    sopInstanceUid: str(ds, '00080018') ?? '',
    sopClassUid: str(ds, '00080016') ?? '',
  }));
}

/** WADO-RS metadata of one instance (DICOM JSON). */
export async function instanceMetadata(client: DicomwebClient, ref: Pick<InstanceRef, 'studyInstanceUid' | 'seriesInstanceUid' | 'sopInstanceUid'>): Promise<DicomJson> {
  const meta = (await client.retrieveInstanceMetadata({
    studyInstanceUID: ref.studyInstanceUid,
    seriesInstanceUID: ref.seriesInstanceUid,
    sopInstanceUID: ref.sopInstanceUid,
  })) as DicomJson[] | DicomJson;
  const ds = Array.isArray(meta) ? meta[0] : meta;
  if (!ds) throw new Error(`no metadata for instance ${ref.sopInstanceUid}`);
  return ds;
}

export interface StudySummary {
  studyInstanceUid: string;
  patientName?: string;
  patientId?: string;
  studyDate?: string;
  accessionNumber?: string;
  studyDescription?: string;
  modalities?: string;
  instances?: string;
}

/** QIDO-RS study search (the demo's study list). */
export async function searchStudies(client: DicomwebClient, limit = 200): Promise<StudySummary[]> {
  const found = ((await client.searchForStudies({ queryParams: { limit: String(limit), includefield: '00081030,00080061,00201208' } })) ?? []) as DicomJson[];
  return found.map((ds) => {
    const nat = dcmjs.data.DicomMetaDictionary.naturalizeDataset(ds as never) as Record<string, any>;
    const name = nat.PatientName;
    const modalities = nat.ModalitiesInStudy;
    return {
      studyInstanceUid: String(nat.StudyInstanceUID),
      patientName: Array.isArray(name) ? name[0]?.Alphabetic : name?.Alphabetic ?? (typeof name === 'string' ? name : undefined),
      patientId: nat.PatientID,
      studyDate: nat.StudyDate,
      accessionNumber: nat.AccessionNumber,
      studyDescription: nat.StudyDescription,
      modalities: Array.isArray(modalities) ? modalities.join(', ') : modalities,
      instances: nat.NumberOfStudyRelatedInstances === undefined ? undefined : String(nat.NumberOfStudyRelatedInstances),
    };
  });
}

export const isSr = (i: InstanceRef) => i.sopClassUid === COMPREHENSIVE_SR;
export const isSc = (i: InstanceRef) => i.sopClassUid === SECONDARY_CAPTURE;
