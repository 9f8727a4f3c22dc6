// QIDO-RS (PS3.18 10.6): search for studies, series and instances.
//
// Conformance, in short (matching rules in qido-match.ts):
// - Resources: /studies, /series, /instances, /studies/{s}/series, /studies/{s}/instances,
//   /studies/{s}/series/{se}/instances. Answers application/dicom+json (or 406).
// - 200 with the matches; 204 with no body when nothing matches (PS3.18 as published; CP-2473
//   proposes 200 with an empty payload instead). 400 with a reason for unknown or unsupported keys,
//   malformed dates, times, UIDs, numbers, limit/offset, and keys given twice.
// - Keys of a lower level in a higher-level search (e.g. Modality in /studies) are relational: a
//   study matches when one of its series (instances) does. Study keys work in /series and /instances.
// - fuzzymatching=true is accepted but not supported: literal matching, with a Warning 299.
// - Results: studies newest first (StudyDate, StudyTime desc; no date last), then series by
//   SeriesNumber, instances by InstanceNumber. At most QIDO_MAX_RESULTS per response; when more
//   match than are returned, a Warning 299 says how many more can be requested with offset.
// - Computed attributes come from counters kept by the triggers of sql/002_qido.sql.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NodeContext } from '../context.ts';
import { T, vrOf } from '../dicom/dictionary.ts';
import { withoutBulk, type DicomJson, type DicomJsonElement } from '../dicom/json.ts';
import { isUsableUid } from '../dicom/part10.ts';
import { problem } from './errors.ts';
import { parseAccept, typeMatches } from './media.ts';
import { dicomwebBase, instanceUrl, seriesUrl, studyUrl } from './urls.ts';
import { Params, QueryError, depth, parseQuery, type Level, type ParsedQuery } from './qido-match.ts';

/** Most results one response carries; a client pages past it with offset. */
export const QIDO_MAX_RESULTS = 5000;

// Return attributes (PS3.18 Tables 10.6.3-3, -4, -5) carpus reads from its stored attributes.
const STUDY_DEFAULTS = [
  T.StudyDate,
  T.StudyTime,
  T.AccessionNumber,
  T.ReferringPhysicianName,
  T.TimezoneOffsetFromUTC,
  T.PatientName,
  T.PatientID,
  T.PatientBirthDate,
  T.PatientSex,
  T.StudyInstanceUID,
  T.StudyID,
];
const SERIES_DEFAULTS = [
  T.Modality,
  T.TimezoneOffsetFromUTC,
  T.SeriesDescription,
  T.SeriesInstanceUID,
  T.SeriesNumber,
  T.PerformedProcedureStepStartDate,
  T.PerformedProcedureStepStartTime,
  T.RequestAttributesSequence,
];
const INSTANCE_DEFAULTS = [
  T.SOPClassUID,
  T.SOPInstanceUID,
  T.TimezoneOffsetFromUTC,
  T.InstanceNumber,
  T.Rows,
  T.Columns,
  T.BitsAllocated,
  T.NumberOfFrames,
];
/** Required (type R/U) return keys: sent empty when the data set has no value, as C-FIND does. */
const STUDY_REQUIRED = STUDY_DEFAULTS.filter((t) => t !== T.TimezoneOffsetFromUTC);
const SERIES_REQUIRED = [T.Modality, T.SeriesDescription, T.SeriesInstanceUID, T.SeriesNumber];
const INSTANCE_REQUIRED = [T.SOPClassUID, T.SOPInstanceUID, T.InstanceNumber];

const STUDY_COMPUTED = new Set<string>([
  T.NumberOfStudyRelatedSeries,
  T.NumberOfStudyRelatedInstances,
  T.ModalitiesInStudy,
  T.SOPClassesInStudy,
]);

interface Scope {
  level: Level;
  study?: string;
  series?: string;
}

interface Row {
  study_uid: string;
  series_uid?: string;
  sop_uid?: string;
  // DICOM JSON as text: parsing it here is cheaper than through the driver's jsonb parser.
  st_attrs: string | null;
  // Computed attributes, kept by the triggers of sql/002_qido.sql
  st_series: number;
  st_instances: number;
  st_modalities: string[] | null;
  st_classes: string[] | null;
  se_instances?: number;
  se_attrs?: string | null;
  i_attrs?: string | null;
}


/** Which parts of the hierarchy a result object carries (PS3.18 10.6.3.3). */
function shape(scope: Scope) {
  const withStudy = scope.level === 'study' || (scope.level === 'series' && !scope.study) || (scope.level === 'instance' && !scope.study);
  const withSeries = scope.level === 'series' || (scope.level === 'instance' && !scope.series);
  return { withStudy, withSeries, withInstance: scope.level === 'instance' };
}

function acceptsDicomJson(req: FastifyRequest): boolean {
  const q = (req.query as Record<string, unknown>).accept;
  const header = typeof q === 'string' && q !== '' ? q : req.headers.accept;
  return parseAccept(header).some((r) => typeMatches(r.type, 'application/dicom+json') || typeMatches(r.type, 'application/json'));
}

export function registerQido(app: FastifyInstance, ctx: NodeContext): void {
  const config = { role: 'read' as const };

  const handle = async (req: FastifyRequest, reply: FastifyReply, scope: Scope) => {
    if (scope.study !== undefined && !isUsableUid(scope.study)) return problem(reply, 400, 'StudyInstanceUID in the URL is not a valid UID');
    if (scope.series !== undefined && !isUsableUid(scope.series)) return problem(reply, 400, 'SeriesInstanceUID in the URL is not a valid UID');
    if (!acceptsDicomJson(req)) return problem(reply, 406, 'QIDO-RS answers in application/dicom+json only');
    const params = new Params();
    let q: ParsedQuery;
    try {
      q = parseQuery(req.query as Record<string, string | string[]>, scope.level, params);
    } catch (err) {
      if (err instanceof QueryError) return problem(reply, 400, err.message);
      throw err;
    }
    const result = await search(ctx, scope, q, params, dicomwebBase(req, ctx.config));
    const warnings: string[] = [];
    if (q.fuzzy) warnings.push('299 carpus: "The fuzzymatching parameter is not supported. Only literal matching has been performed."');
    if (result.remaining > 0) {
      warnings.push(
        q.limit === undefined || q.limit > QIDO_MAX_RESULTS
          ? `299 carpus: "The number of results exceeded the maximum supported by the server. There are ${result.remaining} additional results that can be requested"`
          : `299 carpus: "There are ${result.remaining} additional results that can be requested"`,
      );
    }
    if (warnings.length) reply.header('warning', warnings.join(', '));
    if (result.items.length === 0) return reply.code(204).send();
    return reply.code(200).type('application/dicom+json').send(JSON.stringify(result.items));
  };

  type P = { Params: { study: string; series: string } };
  app.get('/dicom-web/studies', { config }, (req, reply) => handle(req, reply, { level: 'study' }));
  app.get('/dicom-web/series', { config }, (req, reply) => handle(req, reply, { level: 'series' }));
  app.get('/dicom-web/instances', { config }, (req, reply) => handle(req, reply, { level: 'instance' }));
  app.get<P>('/dicom-web/studies/:study/series', { config }, (req, reply) =>
    handle(req, reply, { level: 'series', study: req.params.study }),
  );
  app.get<P>('/dicom-web/studies/:study/instances', { config }, (req, reply) =>
    handle(req, reply, { level: 'instance', study: req.params.study }),
  );
  app.get<P>('/dicom-web/studies/:study/series/:series/instances', { config }, (req, reply) =>
    handle(req, reply, { level: 'instance', study: req.params.study, series: req.params.series }),
  );
}

/** Private creator element of a private tag (gggg,xxyy) → (gggg,00xx). */
function privateCreator(tag: string): string | undefined {
  const group = parseInt(tag.slice(0, 4), 16);
  const elem = parseInt(tag.slice(4), 16);
  if (group % 2 === 1 && elem >= 0x1000) return `${tag.slice(0, 4)}00${tag.slice(4, 6)}`;
  return undefined;
}

async function search(ctx: NodeContext, scope: Scope, q: ParsedQuery, params: Params, base: string) {
  const level = scope.level;
  const d = depth(level);
  const where: string[] = [];
  if (scope.study) where.push(`${level === 'series' ? 'se' : 'i'}.study_instance_uid = ${params.p(scope.study)}`);
  if (scope.series) where.push(`i.series_instance_uid = ${params.p(scope.series)}`);

  // Keys at the query's level or above test joined tables; keys below it become EXISTS (relational query).
  const below = { series: [] as string[], instance: [] as string[] };
  for (const c of q.conditions) {
    if (depth(c.level) <= d) where.push(c.sql);
    else below[c.level as 'series' | 'instance'].push(c.sql);
  }
  if (below.instance.length && level === 'study') {
    where.push(
      `EXISTS (SELECT 1 FROM instance i JOIN series se ON se.series_instance_uid = i.series_instance_uid
        WHERE i.study_instance_uid = st.study_instance_uid AND ${[...below.series, ...below.instance].join(' AND ')})`,
    );
  } else if (below.series.length && level === 'study') {
    where.push(`EXISTS (SELECT 1 FROM series se WHERE se.study_instance_uid = st.study_instance_uid AND ${below.series.join(' AND ')})`);
  } else if (below.instance.length && level === 'series') {
    where.push(`EXISTS (SELECT 1 FROM instance i WHERE i.series_instance_uid = se.series_instance_uid AND ${below.instance.join(' AND ')})`);
  }
  const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const nWhereParams = params.values.length;

  const from =
    level === 'study'
      ? 'FROM study st'
      : level === 'series'
        ? 'FROM series se JOIN study st ON st.study_instance_uid = se.study_instance_uid'
        : `FROM instance i JOIN series se ON se.series_instance_uid = i.series_instance_uid
           JOIN study st ON st.study_instance_uid = i.study_instance_uid`;
  const order = ['st.study_date DESC NULLS LAST', 'st.study_time DESC NULLS LAST', 'st.study_instance_uid'];
  if (d >= 1) order.push('se.series_number ASC NULLS LAST', 'se.series_instance_uid');
  if (d >= 2) order.push('i.instance_number ASC NULLS LAST', 'i.sop_instance_uid');

  const cols = [
    'st.study_instance_uid AS study_uid',
    'st.attributes::text AS st_attrs',
    'st.num_series AS st_series',
    'st.num_instances AS st_instances',
    'st.modalities AS st_modalities',
    'st.sop_classes AS st_classes',
  ];
  if (d >= 1) cols.push('se.series_instance_uid AS series_uid', 'se.attributes::text AS se_attrs', 'se.num_instances AS se_instances');
  if (d >= 2) {
    cols.push('i.sop_instance_uid AS sop_uid');
    if (q.includeAll) cols.push('i.metadata::text AS i_attrs');
    else {
      const tags = new Set<string>([...INSTANCE_DEFAULTS, ...q.include]);
      for (const k of q.matchKeys) if (k.level === 'instance') tags.add(k.tag);
      for (const t of q.include) {
        const c = privateCreator(t);
        if (c) tags.add(c);
      }
      cols.push(
        `(SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(i.metadata) e WHERE e.key = ANY(${params.p([...tags])}::text[]))::text AS i_attrs`,
      );
    }
  }

  const max = Math.min(q.limit ?? QIDO_MAX_RESULTS, QIDO_MAX_RESULTS);
  const sql = `SELECT ${cols.join(', ')} ${from} ${whereSql} ORDER BY ${order.join(', ')} LIMIT ${params.p(max + 1)} OFFSET ${params.p(q.offset)}`;
  const rows = await ctx.db.query<Row & Record<string, unknown>>(sql, params.values);

  let remaining = 0;
  if (rows.length > max) {
    rows.length = max;
    const countRows = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n ${from} ${whereSql}`, params.values.slice(0, nWhereParams));
    remaining = Math.max(0, (countRows[0]?.n ?? 0) - q.offset - max);
  }
  if (rows.length === 0) return { items: [] as DicomJson[], remaining };

  const sh = shape(scope);
  const wantStudyAgg = sh.withStudy || [...q.include].some((t) => STUDY_COMPUTED.has(t));
  const matchTags = (lv: Level) => q.matchKeys.filter((k) => k.level === lv).map((k) => k.tag);
  // What each result object takes from each level: worked out once per request.
  const studyTags = new Set<string>(q.include);
  const studyFill = sh.withStudy ? fillList([...STUDY_REQUIRED, ...matchTags('study')]) : [];
  if (sh.withStudy) for (const t of [...STUDY_DEFAULTS, ...matchTags('study')]) studyTags.add(t);
  if (d >= 1) studyTags.add(T.TimezoneOffsetFromUTC);
  const seriesTags = new Set<string>(q.include);
  const seriesFill = sh.withSeries ? fillList([...SERIES_REQUIRED, ...matchTags('series')]) : [];
  if (sh.withSeries) for (const t of [...SERIES_DEFAULTS, ...matchTags('series')]) seriesTags.add(t);
  const instanceFill = fillList([...INSTANCE_REQUIRED, ...matchTags('instance')]);
  const wantStudyTag = (t: string) => (sh.withStudy && (t !== T.SOPClassesInStudy || q.includeAll)) || q.include.has(t);
  const studyComputed = wantStudyAgg ? [...STUDY_COMPUTED].filter(wantStudyTag) : [];
  const seriesCount = sh.withSeries || q.include.has(T.NumberOfSeriesRelatedInstances);

  const items = rows.map((r) => {
    const obj: DicomJson = {};
    // Study-level attributes: the defaults when the target resource spans studies, and any includefield.
    const stAttrs = parse(r.st_attrs);
    for (const [t, vr] of studyFill) obj[t] = { vr };
    copy(obj, stAttrs, sh.withStudy && q.includeAll ? new Set([...studyTags, ...Object.keys(stAttrs)]) : studyTags);
    obj[T.StudyInstanceUID] = { vr: 'UI', Value: [r.study_uid] };
    for (const t of studyComputed) {
      if (t === T.ModalitiesInStudy) obj[t] = values('CS', r.st_modalities);
      else if (t === T.SOPClassesInStudy) obj[t] = values('UI', r.st_classes);
      else if (t === T.NumberOfStudyRelatedSeries) obj[t] = { vr: 'IS', Value: [r.st_series] };
      else obj[t] = { vr: 'IS', Value: [r.st_instances] };
    }
    if (level === 'study') {
      obj[T.InstanceAvailability] = { vr: 'CS', Value: ['ONLINE'] };
      obj[T.RetrieveURL] = { vr: 'UR', Value: [studyUrl(base, r.study_uid)] };
    }

    if (d >= 1) {
      const seAttrs = parse(r.se_attrs);
      for (const [t, vr] of seriesFill) if (!obj[t]) obj[t] = { vr };
      copy(obj, seAttrs, sh.withSeries && q.includeAll ? new Set([...seriesTags, ...Object.keys(seAttrs)]) : seriesTags);
      obj[T.SeriesInstanceUID] = { vr: 'UI', Value: [r.series_uid!] };
      if (seriesCount) {
        obj[T.NumberOfSeriesRelatedInstances] = { vr: 'IS', Value: [r.se_instances ?? 0] };
      }
      if (level === 'series') obj[T.RetrieveURL] = { vr: 'UR', Value: [seriesUrl(base, r.study_uid, r.series_uid!)] };
    }

    if (d >= 2) {
      const iAttrs = parse(r.i_attrs);
      for (const [t, vr] of instanceFill) if (!obj[t]) obj[t] = { vr };
      for (const [t, el] of Object.entries(withoutBulk(iAttrs))) obj[t] = el;
      obj[T.SOPInstanceUID] = { vr: 'UI', Value: [r.sop_uid!] };
      obj[T.InstanceAvailability] = { vr: 'CS', Value: ['ONLINE'] };
      obj[T.RetrieveURL] = { vr: 'UR', Value: [instanceUrl(base, r.study_uid, r.series_uid!, r.sop_uid!)] };
    }
    return sorted(obj);
  });
  return { items, remaining };
}

function values(vr: string, list: string[] | null | undefined): DicomJsonElement {
  const v = (list ?? []).filter((x) => x !== null && x !== '').sort();
  return v.length ? { vr, Value: v } : { vr };
}

/** Tags sent empty when absent, with their VRs (sequences are left out). */
function fillList(tags: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const t of new Set(tags)) {
    const vr = vrOf(t);
    if (vr && vr !== 'SQ') out.push([t, vr]);
  }
  return out;
}

function parse(text: string | null | undefined): DicomJson {
  return text ? (JSON.parse(text) as DicomJson) : {};
}

function copy(obj: DicomJson, src: DicomJson, tags: Set<string>) {
  for (const t of tags) {
    const el = src[t];
    if (!el || el.BulkDataURI) continue;
    obj[t] = el.vr === 'SQ' ? withoutBulk({ [t]: el })[t]! : el;
    const creator = privateCreator(t);
    if (creator && src[creator]) obj[creator] = src[creator];
  }
}

function sorted(obj: DicomJson): DicomJson {
  const out: DicomJson = {};
  for (const k of Object.keys(obj).sort()) out[k] = obj[k]!;
  return out;
}
