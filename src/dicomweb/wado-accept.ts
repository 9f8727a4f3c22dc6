/**
 * Accept negotiation for WADO-RS (PS3.18 8.7): which representations a client
 * takes, best first. The route then picks, per instance or frame, the first
 * one it can produce.
 */
import { parseAccept, type MediaRange } from './media.ts';
import { EXPLICIT_VR_LE, WadoError } from './wado-pixel.ts';

export interface InstanceOption {
  /** multipart/related; type="application/dicom" (multipart) or a bare application/dicom body (single). */
  container: 'multipart' | 'single';
  /** A transfer syntax UID, or '*' for the stored one. */
  transferSyntax: string;
}

function tsParam(r: MediaRange): string {
  const ts = r.parameters['transfer-syntax']?.trim();
  // PS3.18 8.7.3.5.2: absent means Explicit VR Little Endian for DICOM instances and uncompressed bulk data.
  return ts && ts !== '' ? ts : EXPLICIT_VR_LE;
}

function partType(r: MediaRange): string | undefined {
  return r.parameters.type?.trim().toLowerCase();
}

const RETRIEVE_HINT =
  'WADO-RS retrieval answers multipart/related; type="application/dicom" (add transfer-syntax=* for the stored bytes unchanged)';

/** Representations of DICOM instances (study, series, instance retrieval). */
export function instanceOptions(accept: string | undefined): InstanceOption[] {
  const out: InstanceOption[] = [];
  for (const r of parseAccept(accept)) {
    if (r.type === 'multipart/related' || r.type === 'multipart/*') {
      const t = partType(r);
      if (t === undefined || t === 'application/dicom') out.push({ container: 'multipart', transferSyntax: tsParam(r) });
    } else if (r.type === 'application/dicom') {
      out.push({ container: 'single', transferSyntax: tsParam(r) });
    } else if (r.type === '*/*') {
      out.push({ container: 'multipart', transferSyntax: EXPLICIT_VR_LE });
    }
  }
  if (out.length === 0) throw new WadoError(406, `none of the Accept media types can be produced; ${RETRIEVE_HINT}`);
  return out;
}

/** The metadata resources: application/dicom+json only (no XML). */
export function checkMetadataAccept(accept: string | undefined): void {
  for (const r of parseAccept(accept)) {
    if (['application/dicom+json', 'application/json', 'application/*', '*/*'].includes(r.type)) return;
    if (r.type === 'multipart/related' && partType(r) === 'application/dicom+json') return;
  }
  throw new WadoError(406, 'metadata is offered as application/dicom+json only (multipart/related; type="application/dicom+xml" is not supported)');
}

export interface BulkOption {
  container: 'multipart' | 'single';
  /**
   * 'uncompressed': little-endian native bytes (application/octet-stream),
   * decompressing encapsulated pixel data when the pixel module can.
   * 'stored': the bytes as stored, compressed frames in the media type of their syntax.
   * A media type such as 'image/jpeg': compressed frames, only when stored in a matching syntax.
   */
  form: 'uncompressed' | 'stored' | string;
  /** A specific transfer syntax asked for, if any (besides Explicit VR Little Endian and '*'). */
  transferSyntax?: string;
}

const BULK_HINT =
  'bulk data and frames are offered as multipart/related; type="application/octet-stream" (uncompressed), ' +
  'or with transfer-syntax=* or type="image/jpeg"|"image/jls"|"image/jp2"|"image/dicom-rle" as stored when compressed';

/** Representations of bulk data and frames. */
export function bulkOptions(accept: string | undefined): BulkOption[] {
  const out: BulkOption[] = [];
  const fromType = (t: string | undefined, r: MediaRange, container: 'multipart' | 'single') => {
    const ts = r.parameters['transfer-syntax']?.trim();
    if (t === undefined || t === 'application/octet-stream') {
      if (ts === undefined || ts === '' || ts === EXPLICIT_VR_LE) out.push({ container, form: 'uncompressed' });
      else if (ts === '*') out.push({ container, form: 'stored' });
      else out.push({ container, form: 'stored', transferSyntax: ts });
    } else if (/^image\/(jpeg|jls|jp2|jpx|dicom-rle|x-dicom-rle|\*)$/.test(t)) {
      // image/x-dicom-rle: the name older editions of PS3.18 used.
      out.push({ container, form: t === 'image/*' ? 'stored' : t === 'image/x-dicom-rle' ? 'image/dicom-rle' : t, ...(ts && ts !== '*' ? { transferSyntax: ts } : {}) });
    }
  };
  for (const r of parseAccept(accept)) {
    if (r.type === 'multipart/related' || r.type === 'multipart/*') fromType(partType(r), r, 'multipart');
    else if (r.type === 'application/octet-stream') fromType('application/octet-stream', r, 'single');
    else if (r.type === '*/*') out.push({ container: 'multipart', form: 'uncompressed' });
  }
  if (out.length === 0) throw new WadoError(406, `none of the Accept media types can be produced; ${BULK_HINT}`);
  return out;
}
