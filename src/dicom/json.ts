import type { DcmjsDict, DcmjsElement } from 'dcmjs';

/** A DICOM JSON (PS3.18 Annex F) data set: tag → element. */
export type DicomJson = Record<string, DicomJsonElement>;
export interface DicomJsonElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}

const BINARY_VRS = new Set(['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'UN']);
/** Binary values larger than this go out of the metadata as bulk data. */
export const BULK_THRESHOLD = 1024;

function byteLength(values: unknown[]): number {
  let n = 0;
  for (const v of values) {
    if (v instanceof ArrayBuffer) n += v.byteLength;
    else if (ArrayBuffer.isView(v)) n += v.byteLength;
  }
  return n;
}

function concatBinary(values: unknown[]): Buffer {
  return Buffer.concat(
    values.map((v) =>
      v instanceof ArrayBuffer
        ? Buffer.from(v)
        : ArrayBuffer.isView(v)
          ? Buffer.from(v.buffer, v.byteOffset, v.byteLength)
          : Buffer.alloc(0),
    ),
  );
}

function atToString(v: unknown): unknown {
  if (typeof v === 'number') return v.toString(16).toUpperCase().padStart(8, '0');
  return v;
}

/**
 * dcmjs's parsed form → DICOM JSON. Binary values over BULK_THRESHOLD (and any
 * pixel data) become BulkDataURIs relative to the instance ("bulkdata/<tag>[/<item>/<tag>]"),
 * the rest InlineBinary. Group lengths are dropped, as PS3.18 F.2 allows.
 */
export function toDicomJson(dict: DcmjsDict, bulkPrefix = 'bulkdata'): DicomJson {
  const out: DicomJson = {};
  for (const tag of Object.keys(dict).sort()) {
    const el = dict[tag] as DcmjsElement;
    const key = tag.toUpperCase();
    if (key.endsWith('0000')) continue;
    const vr = el.vr;
    const values = Array.isArray(el.Value) ? el.Value : [];
    const o: DicomJsonElement = { vr };
    if (vr === 'SQ') {
      if (values.length) {
        o.Value = values.map((item, i) => toDicomJson((item ?? {}) as DcmjsDict, `${bulkPrefix}/${key}/${i}`));
      }
    } else if (BINARY_VRS.has(vr)) {
      const isPixel = key === '7FE00010' || key === '7FE00008' || key === '7FE00009';
      if (values.length) {
        if (isPixel || byteLength(values) > BULK_THRESHOLD) o.BulkDataURI = `${bulkPrefix}/${key}`;
        else o.InlineBinary = concatBinary(values).toString('base64');
      }
    } else if (values.length) {
      const mapped = values.map((v) => {
        if (vr === 'AT') return atToString(v);
        if (vr === 'PN') {
          if (v === null || v === undefined || v === '') return null;
          return typeof v === 'string' ? { Alphabetic: v } : v;
        }
        if (v === '' || v === undefined || (typeof v === 'number' && Number.isNaN(v))) return null;
        return v;
      });
      if (!(mapped.length === 1 && mapped[0] === null)) o.Value = mapped;
    }
    out[key] = o;
  }
  return out;
}

/** First value of a string-ish element, trimmed; undefined when absent or empty. */
export function str(ds: DicomJson, tag: string): string | undefined {
  const v = ds[tag]?.Value?.[0];
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'object' && v !== null && 'Alphabetic' in v) {
    const a = (v as { Alphabetic?: unknown }).Alphabetic;
    return typeof a === 'string' && a.trim() !== '' ? a.trim() : undefined;
  }
  const s = String(v).trim();
  return s === '' ? undefined : s;
}

export function int(ds: DicomJson, tag: string): number | undefined {
  const v = ds[tag]?.Value?.[0];
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v.trim()) : NaN;
  return Number.isFinite(n) ? Math.trunc(n) : undefined;
}

export function pick(ds: DicomJson, tags: readonly string[]): DicomJson {
  const out: DicomJson = {};
  for (const t of tags) if (ds[t]) out[t] = ds[t];
  return out;
}

/** Rewrites relative BulkDataURIs to absolute ones under an instance's WADO-RS URL. */
export function absolutizeBulk(ds: DicomJson, instanceUrl: string): DicomJson {
  const out: DicomJson = {};
  for (const [tag, el] of Object.entries(ds)) {
    if (el.BulkDataURI && !/^[a-z]+:/i.test(el.BulkDataURI)) {
      out[tag] = { ...el, BulkDataURI: `${instanceUrl}/${el.BulkDataURI}` };
    } else if (el.vr === 'SQ' && el.Value) {
      out[tag] = { ...el, Value: el.Value.map((item) => absolutizeBulk(item as DicomJson, instanceUrl)) };
    } else {
      out[tag] = el;
    }
  }
  return out;
}

/** Drops elements whose values are bulk data (QIDO responses carry none). */
export function withoutBulk(ds: DicomJson): DicomJson {
  const out: DicomJson = {};
  for (const [tag, el] of Object.entries(ds)) {
    if (el.BulkDataURI) continue;
    if (el.vr === 'SQ' && el.Value) {
      out[tag] = { ...el, Value: el.Value.map((item) => withoutBulk(item as DicomJson)) };
    } else out[tag] = el;
  }
  return out;
}
