// QIDO-RS query parameters → parameterised SQL conditions (PS3.18 8.3.4, PS3.4 C.2.2.2).
// Values never become SQL text: every value is a bind parameter.
import { T, toTag, keywordOf } from '../dicom/dictionary.ts';
import { isUsableUid } from '../dicom/part10.ts';

export type Level = 'study' | 'series' | 'instance';
const DEPTH: Record<Level, number> = { study: 0, series: 1, instance: 2 };

/** A query the client got wrong: answered with 400 and this message (never echoes values). */
export class QueryError extends Error {
  override name = 'QueryError';
}

/** Collects bind parameters; p(v) returns the placeholder ($n) for v. */
export class Params {
  readonly values: unknown[] = [];
  p(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

type Kind = 'uid' | 'pn' | 'text' | 'list' | 'date' | 'time' | 'int' | 'modalities';

interface KeyDef {
  tag: string;
  level: Level;
  kind: Kind;
  /** SQL expression of the key's value, given the level the query returns. */
  column: (q: Level) => string;
}

const fixed = (expr: string) => () => expr;

/** Attributes carpus matches on, with the indexed typed column behind each. */
const KEYS: Record<string, KeyDef> = {
  // Study level (and patient level: carpus is study-root)
  [T.StudyInstanceUID]: {
    tag: T.StudyInstanceUID,
    level: 'study',
    kind: 'uid',
    column: (q) => (q === 'study' ? 'st.study_instance_uid' : q === 'series' ? 'se.study_instance_uid' : 'i.study_instance_uid'),
  },
  [T.PatientName]: { tag: T.PatientName, level: 'study', kind: 'pn', column: fixed('st.patient_name') },
  [T.PatientID]: { tag: T.PatientID, level: 'study', kind: 'text', column: fixed('st.patient_id') },
  [T.PatientBirthDate]: { tag: T.PatientBirthDate, level: 'study', kind: 'date', column: fixed('st.patient_birth_date') },
  [T.PatientSex]: { tag: T.PatientSex, level: 'study', kind: 'text', column: fixed('st.patient_sex') },
  [T.StudyDate]: { tag: T.StudyDate, level: 'study', kind: 'date', column: fixed('st.study_date') },
  [T.StudyTime]: { tag: T.StudyTime, level: 'study', kind: 'time', column: fixed('st.study_time') },
  [T.AccessionNumber]: { tag: T.AccessionNumber, level: 'study', kind: 'text', column: fixed('st.accession_number') },
  [T.StudyID]: { tag: T.StudyID, level: 'study', kind: 'text', column: fixed('st.study_id') },
  [T.ReferringPhysicianName]: { tag: T.ReferringPhysicianName, level: 'study', kind: 'pn', column: fixed('st.referring_physician_name') },
  [T.StudyDescription]: { tag: T.StudyDescription, level: 'study', kind: 'text', column: fixed('st.study_description') },
  [T.ModalitiesInStudy]: {
    tag: T.ModalitiesInStudy,
    level: 'study',
    kind: 'modalities',
    column: (q) => (q === 'study' ? 'st.study_instance_uid' : q === 'series' ? 'se.study_instance_uid' : 'i.study_instance_uid'),
  },
  // Series level
  [T.SeriesInstanceUID]: {
    tag: T.SeriesInstanceUID,
    level: 'series',
    kind: 'uid',
    column: (q) => (q === 'instance' ? 'i.series_instance_uid' : 'se.series_instance_uid'),
  },
  [T.Modality]: { tag: T.Modality, level: 'series', kind: 'list', column: fixed('se.modality') },
  [T.SeriesNumber]: { tag: T.SeriesNumber, level: 'series', kind: 'int', column: fixed('se.series_number') },
  [T.SeriesDescription]: { tag: T.SeriesDescription, level: 'series', kind: 'text', column: fixed('se.series_description') },
  [T.BodyPartExamined]: { tag: T.BodyPartExamined, level: 'series', kind: 'text', column: fixed('se.body_part_examined') },
  [T.PerformedProcedureStepStartDate]: {
    tag: T.PerformedProcedureStepStartDate,
    level: 'series',
    kind: 'date',
    column: fixed('se.performed_procedure_step_start_date'),
  },
  [T.PerformedProcedureStepStartTime]: {
    tag: T.PerformedProcedureStepStartTime,
    level: 'series',
    kind: 'time',
    column: fixed(`(se.attributes->'${T.PerformedProcedureStepStartTime}'->'Value'->>0)`),
  },
  // Instance level
  [T.SOPInstanceUID]: { tag: T.SOPInstanceUID, level: 'instance', kind: 'uid', column: fixed('i.sop_instance_uid') },
  [T.SOPClassUID]: { tag: T.SOPClassUID, level: 'instance', kind: 'uid', column: fixed('i.sop_class_uid') },
  [T.InstanceNumber]: { tag: T.InstanceNumber, level: 'instance', kind: 'int', column: fixed('i.instance_number') },
};

export const MATCHABLE_KEYWORDS: readonly string[] = Object.keys(KEYS).map((t) => keywordOf(t) ?? t);

export interface MatchKey {
  tag: string;
  level: Level;
}

export interface ParsedQuery {
  /** SQL conditions by the level of the table they test (study: st, series: se, instance: i). */
  conditions: { level: Level; sql: string }[];
  /** Every matching key given, universal ones included: they are returned. */
  matchKeys: MatchKey[];
  includeAll: boolean;
  /** includefield tags (8 hex digits, upper case). */
  include: Set<string>;
  limit?: number;
  offset: number;
  fuzzy: boolean;
}

const RESERVED = new Set(['limit', 'offset', 'includefield', 'fuzzymatching', 'accept', 'charset']);

function single(key: string, v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) {
    if (v.length !== 1) throw new QueryError(`query parameter "${key}" is given more than once`);
    return v[0];
  }
  return v;
}

function nonNegativeInt(key: string, v: string, min: number): number {
  if (!/^\d{1,9}$/.test(v.trim())) throw new QueryError(`${key} must be an integer ≥ ${min}`);
  const n = Number(v.trim());
  if (n < min) throw new QueryError(`${key} must be an integer ≥ ${min}`);
  return n;
}

/** "PatientName" or "00100010" → tag; a dotted sequence path is refused for matching. */
function resolveKey(key: string, forInclude: boolean): string {
  let k = key.trim();
  if (k.includes('.')) {
    if (!forInclude) throw new QueryError(`matching on attributes inside sequences ("${k}") is not supported`);
    k = k.split('.')[0]!; // includefield of a nested attribute: return the whole top-level sequence
  }
  const tag = toTag(k);
  if (!tag) throw new QueryError(`unknown attribute "${k}": use a DICOM keyword or an 8-hex-digit tag`);
  return tag;
}

/**
 * Parses QIDO query parameters for a query returning `level`.
 * Throws QueryError for anything malformed or unsupported.
 */
export function parseQuery(query: Record<string, string | string[] | undefined>, level: Level, params: Params): ParsedQuery {
  const out: ParsedQuery = { conditions: [], matchKeys: [], includeAll: false, include: new Set(), offset: 0, fuzzy: false };
  const seen = new Map<string, string>(); // tag → parameter name, to reject the same key given twice
  const values = new Map<string, string>();
  for (const [rawKey, rawValue] of Object.entries(query)) {
    const lower = rawKey.toLowerCase();
    if (RESERVED.has(lower)) {
      if (lower === 'includefield') {
        const list = Array.isArray(rawValue) ? rawValue : [rawValue ?? ''];
        for (const item of list.flatMap((s) => s.split(','))) {
          const f = item.trim();
          if (f === '') continue;
          if (f.toLowerCase() === 'all') out.includeAll = true;
          else out.include.add(resolveKey(f, true));
        }
      } else if (lower === 'limit') {
        out.limit = nonNegativeInt('limit', single(rawKey, rawValue) ?? '', 1);
      } else if (lower === 'offset') {
        out.offset = nonNegativeInt('offset', single(rawKey, rawValue) ?? '', 0);
      } else if (lower === 'fuzzymatching') {
        const v = (single(rawKey, rawValue) ?? '').trim().toLowerCase();
        if (v !== 'true' && v !== 'false') throw new QueryError('fuzzymatching must be true or false');
        out.fuzzy = v === 'true';
      }
      // accept and charset: content negotiation, handled by the route
      continue;
    }
    const tag = resolveKey(rawKey, false);
    const def = KEYS[tag];
    if (!def) {
      throw new QueryError(
        `matching on ${keywordOf(tag) ?? tag} is not supported; supported keys: ${MATCHABLE_KEYWORDS.join(', ')}`,
      );
    }
    if (seen.has(tag)) throw new QueryError(`${keywordOf(tag) ?? tag} is given more than once`);
    seen.set(tag, rawKey);
    const value = single(rawKey, rawValue) ?? '';
    values.set(tag, value.trim());
    out.matchKeys.push({ tag, level: def.level });
  }

  // StudyDate with StudyTime, both ranges: combined date-time range matching (PS3.4 C.2.2.2.5.1).
  const sd = values.get(T.StudyDate);
  const stime = values.get(T.StudyTime);
  let combined = false;
  if (sd && stime && sd.includes('-') && stime.includes('-')) {
    const d = parseDateRange(sd, 'StudyDate');
    const t = parseTimeRange(stime, 'StudyTime');
    const dt = `(st.study_date || coalesce(replace(st.study_time, ':', ''), ''))`;
    const parts: string[] = [];
    if (d.lo) {
      parts.push(`st.study_date >= ${params.p(d.lo)}`);
      parts.push(`${dt} >= ${params.p(d.lo + (t.lo ?? ''))}`);
    }
    if (d.hi) {
      parts.push(`st.study_date <= ${params.p(d.hi)}`);
      parts.push(`${dt} <= ${params.p(d.hi + padTimeHigh(t.hi ?? ''))}`);
    }
    if (parts.length) out.conditions.push({ level: 'study', sql: parts.join(' AND ') });
    combined = true;
  }

  for (const [tag, value] of values) {
    if (combined && (tag === T.StudyDate || tag === T.StudyTime)) continue;
    const def = KEYS[tag]!;
    const sql = condition(def, value, level, params);
    if (sql) out.conditions.push({ level: def.level, sql });
  }
  return out;
}

const isUniversal = (v: string) => v === '' || /^\*+$/.test(v);
const hasWildcard = (v: string) => v.includes('*') || v.includes('?');

/** DICOM wildcards (* and ?) → a LIKE pattern with %, _ and \ escaped. */
export function likePattern(v: string): string {
  let out = '';
  for (const c of v) {
    if (c === '\\' || c === '%' || c === '_') out += `\\${c}`;
    else if (c === '*') out += '%';
    else if (c === '?') out += '_';
    else out += c;
  }
  return out;
}

function splitList(v: string): string[] {
  return v
    .split(/[,\\]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function name(def: KeyDef): string {
  return keywordOf(def.tag) ?? def.tag;
}

function textMatch(col: string, v: string, params: Params): string {
  if (hasWildcard(v)) return `${col} LIKE ${params.p(likePattern(v))} ESCAPE '\\'`;
  return `${col} = ${params.p(v)}`;
}

function condition(def: KeyDef, value: string, level: Level, params: Params): string | undefined {
  if (isUniversal(value)) return undefined;
  const col = def.column(level);
  switch (def.kind) {
    case 'uid': {
      if (hasWildcard(value)) throw new QueryError(`${name(def)} takes UIDs, not wildcards`);
      const uids = splitList(value);
      if (uids.length === 0 || !uids.every(isUsableUid)) throw new QueryError(`${name(def)} must be a UID or a list of UIDs separated by , or \\`);
      return uids.length === 1 ? `${col} = ${params.p(uids[0])}` : `${col} = ANY(${params.p(uids)}::text[])`;
    }
    case 'pn': {
      // PN: case-insensitive, on the Alphabetic component group (the part before any "=").
      const v = value.split('=')[0]!.trim();
      if (isUniversal(v)) return undefined;
      if (hasWildcard(v)) return `upper(${col}) LIKE upper(${params.p(likePattern(v))}) ESCAPE '\\'`;
      return `upper(${col}) = upper(${params.p(v)})`;
    }
    case 'text':
      return textMatch(col, value, params);
    case 'list': {
      const items = splitList(value);
      if (items.length === 0) return undefined;
      const parts = items.map((it) => textMatch(col, it, params));
      return parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
    }
    case 'modalities': {
      const items = splitList(value);
      if (items.length === 0) return undefined;
      const parts = items.map((it) => textMatch('ms.modality', it, params));
      return `EXISTS (SELECT 1 FROM series ms WHERE ms.study_instance_uid = ${col} AND (${parts.join(' OR ')}))`;
    }
    case 'int': {
      if (!/^[+-]?\d{1,9}$/.test(value)) throw new QueryError(`${name(def)} must be an integer`);
      return `${col} = ${params.p(Number(value))}`;
    }
    case 'date': {
      const r = parseDateRange(value, name(def));
      if (r.exact) return `${col} = ${params.p(r.exact)}`;
      const parts: string[] = [];
      if (r.lo) parts.push(`${col} >= ${params.p(r.lo)}`);
      if (r.hi) parts.push(`${col} <= ${params.p(r.hi)}`);
      return parts.join(' AND ');
    }
    case 'time': {
      const r = parseTimeRange(value, name(def));
      const norm = `replace(${col}, ':', '')`;
      const lo = r.exact ?? r.lo;
      const hi = r.exact ?? r.hi;
      const parts: string[] = [];
      if (lo) parts.push(`${norm} >= ${params.p(lo)}`);
      if (hi) parts.push(`${norm} <= ${params.p(padTimeHigh(hi))}`);
      return parts.join(' AND ');
    }
  }
}

const DATE_RE = /^(\d{4})(\d{2})(\d{2})$/;

function validDate(s: string): boolean {
  const m = DATE_RE.exec(s);
  if (!m) return false;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1) return false;
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return d <= days;
}

interface Range {
  exact?: string;
  lo?: string;
  hi?: string;
}

/** DA matching value: YYYYMMDD, YYYYMMDD-YYYYMMDD, -YYYYMMDD or YYYYMMDD-. */
export function parseDateRange(v: string, key: string): Range {
  const bad = () => new QueryError(`${key} must be a date YYYYMMDD or a range YYYYMMDD-YYYYMMDD, -YYYYMMDD, YYYYMMDD-`);
  const parts = v.split('-');
  if (parts.length === 1) {
    if (!validDate(v)) throw bad();
    return { exact: v };
  }
  if (parts.length !== 2) throw bad();
  const [lo, hi] = parts.map((s) => s.trim()) as [string, string];
  if (lo === '' && hi === '') throw bad();
  if ((lo && !validDate(lo)) || (hi && !validDate(hi))) throw bad();
  if (lo && hi && lo > hi) throw new QueryError(`${key} range starts after it ends`);
  return { lo: lo || undefined, hi: hi || undefined };
}

const TIME_RE = /^([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?$/;

/** TM matching value: HH[MM[SS[.F]]], alone or as a range like the dates. Colons are tolerated. */
export function parseTimeRange(v: string, key: string): Range {
  const bad = () => new QueryError(`${key} must be a time HHMMSS[.FFFFFF] or a range of times (start-end, -end, start-)`);
  const norm = (s: string) => s.replace(/:/g, '').trim();
  const parts = v.split('-');
  if (parts.length === 1) {
    const t = norm(v);
    if (!TIME_RE.test(t)) throw bad();
    return { exact: t };
  }
  if (parts.length !== 2) throw bad();
  const [lo, hi] = parts.map(norm) as [string, string];
  if (lo === '' && hi === '') throw bad();
  if ((lo && !TIME_RE.test(lo)) || (hi && !TIME_RE.test(hi))) throw bad();
  return { lo: lo || undefined, hi: hi || undefined };
}

/** Upper bound of a (possibly partial) time: "18" covers up to 18:59:59.999999, compared as text. */
export function padTimeHigh(t: string): string {
  const [hms, frac = ''] = t.split('.') as [string, string?];
  return `${hms.padEnd(6, '9')}.${(frac ?? '').padEnd(6, '9')}`;
}

export function depth(level: Level): number {
  return DEPTH[level];
}
