// QIDO-RS (PS3.18 10.6): search for studies, series and instances.
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
  st_attrs: DicomJson | null;
  se_attrs?: DicomJson | null;
  i_attrs?: DicomJson | null;
}

interface StudyAgg {
  uid: string;
  n_series: number | null;
  n_instances: number | null;
  modalities: string[] | null;
  classes: string[] | null;
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

  const cols = ['st.study_instance_uid AS study_uid', 'st.attributes AS st_attrs'];
  if (d >= 1) cols.push('se.series_instance_uid AS series_uid', 'se.attributes AS se_attrs');
  if (d >= 2) {
    cols.push('i.sop_instance_uid AS sop_uid');
    if (q.includeAll) cols.push('i.metadata AS i_attrs');
    else {
      const tags = new Set<string>([...INSTANCE_DEFAULTS, ...q.include]);
      for (const k of q.matchKeys) if (k.level === 'instance') tags.add(k.tag);
      for (const t of q.include) {
        const c = privateCreator(t);
        if (c) tags.add(c);
      }
      cols.push(
        `(SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(i.metadata) e WHERE e.key = ANY(${params.p([...tags])}::text[])) AS i_attrs`,
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
  const wantSeriesAgg = sh.withSeries || q.include.has(T.NumberOfSeriesRelatedInstances);
  const [studyAgg, seriesAgg] = await Promise.all([
    wantStudyAgg ? studyAggregates(ctx, [...new Set(rows.map((r) => r.study_uid))]) : new Map<string, StudyAgg>(),
    wantSeriesAgg && d >= 1 ? seriesAggregates(ctx, [...new Set(rows.map((r) => r.series_uid!))]) : new Map<string, number>(),
  ]);

  const matchTags = (lv: Level) => q.matchKeys.filter((k) => k.level === lv).map((k) => k.tag);
  const items = rows.map((r) => {
    const obj: DicomJson = {};
    // Study-level attributes: the defaults when the target resource spans studies, and any includefield.
    const stAttrs = r.st_attrs ?? {};
    const studyTags = new Set<string>(q.include);
    if (sh.withStudy) {
      for (const t of [...STUDY_DEFAULTS, ...matchTags('study')]) studyTags.add(t);
      if (q.includeAll) for (const t of Object.keys(stAttrs)) studyTags.add(t);
      fillRequired(obj, [...STUDY_REQUIRED, ...matchTags('study')]);
    }
    if (d >= 1) studyTags.add(T.TimezoneOffsetFromUTC);
    copy(obj, stAttrs, studyTags);
    obj[T.StudyInstanceUID] = { vr: 'UI', Value: [r.study_uid] };
    const agg = studyAgg.get(r.study_uid);
    const wantStudyTag = (t: string) => (sh.withStudy && (t !== T.SOPClassesInStudy || q.includeAll)) || q.include.has(t);
    if (wantStudyAgg) {
      if (wantStudyTag(T.ModalitiesInStudy)) obj[T.ModalitiesInStudy] = values('CS', agg?.modalities);
      if (wantStudyTag(T.SOPClassesInStudy)) obj[T.SOPClassesInStudy] = values('UI', agg?.classes);
      if (wantStudyTag(T.NumberOfStudyRelatedSeries)) obj[T.NumberOfStudyRelatedSeries] = { vr: 'IS', Value: [agg?.n_series ?? 0] };
      if (wantStudyTag(T.NumberOfStudyRelatedInstances)) obj[T.NumberOfStudyRelatedInstances] = { vr: 'IS', Value: [agg?.n_instances ?? 0] };
    }
    if (level === 'study') {
      obj[T.InstanceAvailability] = { vr: 'CS', Value: ['ONLINE'] };
      obj[T.RetrieveURL] = { vr: 'UR', Value: [studyUrl(base, r.study_uid)] };
    }

    if (d >= 1) {
      const seAttrs = r.se_attrs ?? {};
      const seriesTags = new Set<string>(q.include);
      if (sh.withSeries) {
        for (const t of [...SERIES_DEFAULTS, ...matchTags('series')]) seriesTags.add(t);
        if (q.includeAll) for (const t of Object.keys(seAttrs)) seriesTags.add(t);
        fillRequired(obj, [...SERIES_REQUIRED, ...matchTags('series')]);
      }
      copy(obj, seAttrs, seriesTags);
      obj[T.SeriesInstanceUID] = { vr: 'UI', Value: [r.series_uid!] };
      if (sh.withSeries || q.include.has(T.NumberOfSeriesRelatedInstances)) {
        obj[T.NumberOfSeriesRelatedInstances] = { vr: 'IS', Value: [seriesAgg.get(r.series_uid!) ?? 0] };
      }
      if (level === 'series') obj[T.RetrieveURL] = { vr: 'UR', Value: [seriesUrl(base, r.study_uid, r.series_uid!)] };
    }

    if (d >= 2) {
      const iAttrs = r.i_attrs ?? {};
      fillRequired(obj, [...INSTANCE_REQUIRED, ...matchTags('instance')]);
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

function fillRequired(obj: DicomJson, tags: string[]) {
  for (const t of tags) {
    if (obj[t]) continue;
    const vr = vrOf(t);
    if (vr && vr !== 'SQ') obj[t] = { vr };
  }
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

async function studyAggregates(ctx: NodeContext, uids: string[]): Promise<Map<string, StudyAgg>> {
  const rows = await ctx.db.query<StudyAgg & Record<string, unknown>>(
    `WITH ids AS (SELECT unnest($1::text[]) AS uid),
     ins AS (SELECT study_instance_uid AS uid, count(*)::int AS n_instances, array_agg(DISTINCT sop_class_uid) AS classes
             FROM instance WHERE study_instance_uid IN (SELECT uid FROM ids) GROUP BY study_instance_uid),
     ser AS (SELECT study_instance_uid AS uid, count(*)::int AS n_series,
                    array_agg(DISTINCT modality) FILTER (WHERE modality IS NOT NULL AND modality <> '') AS modalities
             FROM series WHERE study_instance_uid IN (SELECT uid FROM ids) GROUP BY study_instance_uid)
     SELECT ids.uid, ins.n_instances, ins.classes, ser.n_series, ser.modalities
     FROM ids LEFT JOIN ins ON ins.uid = ids.uid LEFT JOIN ser ON ser.uid = ids.uid`,
    [uids],
  );
  return new Map(rows.map((r) => [r.uid, r]));
}

async function seriesAggregates(ctx: NodeContext, uids: string[]): Promise<Map<string, number>> {
  const rows = await ctx.db.query<{ uid: string; n: number }>(
    `SELECT series_instance_uid AS uid, count(*)::int AS n FROM instance
     WHERE series_instance_uid = ANY($1::text[]) GROUP BY series_instance_uid`,
    [uids],
  );
  return new Map(rows.map((r) => [r.uid, r.n]));
}
