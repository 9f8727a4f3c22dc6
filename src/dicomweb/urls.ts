import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';

/** Base URL of the DICOMweb service as clients reach it (CARPUS_PUBLIC_URL, else the Host header). */
export function dicomwebBase(req: FastifyRequest, config: Pick<Config, 'publicUrl'>): string {
  if (config.publicUrl) return `${config.publicUrl}/dicom-web`;
  return `${req.protocol}://${req.headers.host ?? `${req.hostname}`}/dicom-web`;
}

export function studyUrl(base: string, study: string): string {
  return `${base}/studies/${study}`;
}
export function seriesUrl(base: string, study: string, series: string): string {
  return `${base}/studies/${study}/series/${series}`;
}
export function instanceUrl(base: string, study: string, series: string, sop: string): string {
  return `${base}/studies/${study}/series/${series}/instances/${sop}`;
}
