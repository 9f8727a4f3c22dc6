/**
 * HTTP API of auto-analysis: the results of a study, the audit trail, Prometheus metrics.
 *   GET  /api/studies/{StudyInstanceUID}/bone-age            (read)
 *   POST /api/studies/{StudyInstanceUID}/bone-age/reanalyse  (admin)
 *   GET  /api/audit?study=&sop=&event=&principal=&since=&until=&after=&limit=  (admin)
 *   GET  /metrics                                            (read)
 */
import type { FastifyInstance } from 'fastify';
import type { NodeContext } from '../context.ts';
import { queryAudit } from '../audit/index.ts';
import type { AutoAnalysis } from '../analysis/service.ts';

type JobRow = {
  sop_instance_uid: string;
  series_instance_uid: string;
  status: string;
  reason: string | null;
  attempts: number;
  received_at: Date;
  queued_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  result_id: string | null;
};

type ResultRow = {
  id: string;
  sop_instance_uid: string;
  model_name: string;
  model_version: string;
  status: string;
  reason: string | null;
  bone_age_months: number | null;
  chronological_age_months: number | null;
  difference_months: number | null;
  sds: number | null;
  verdict: string | null;
  sex: string | null;
  execution_provider: string | null;
  sr_sop_instance_uid: string | null;
  sr_series_instance_uid: string | null;
  sc_sop_instance_uid: string | null;
  sc_series_instance_uid: string | null;
  supersedes_id: string | null;
  created_at: Date;
};

type OutboxRow = { result_id: string; kind: string; sop_instance_uid: string; status: string; attempts: number; last_error: string | null; delivered_at: Date | null; destination: string };

const STATUS_ORDER = ['done', 'running', 'queued', 'rejected', 'failed'];

const UID = /^[0-9.]{1,64}$/;

export async function studyBoneAge(ctx: NodeContext, analysis: AutoAnalysis | undefined, study: string): Promise<Record<string, unknown> | undefined> {
  const db = ctx.db;
  const [held] = await db.query('SELECT 1 FROM study WHERE study_instance_uid = $1', [study]);
  const jobs = await db.query<JobRow>(
    `SELECT sop_instance_uid, series_instance_uid, status, reason, attempts, received_at, queued_at, started_at, finished_at, result_id::text AS result_id
     FROM analysis_job WHERE study_instance_uid = $1 ORDER BY received_at, sop_instance_uid`,
    [study],
  );
  if (!held && jobs.length === 0) return undefined;
  if (jobs.length === 0) {
    const why = await db.query<{ reason: string | null }>(
      `SELECT detail->>'reason' AS reason FROM audit_event WHERE study_instance_uid = $1 AND event = 'rule.not-matched' AND principal IS DISTINCT FROM 'carpus' ORDER BY id DESC LIMIT 1`,
      [study],
    );
    return {
      StudyInstanceUID: study,
      status: 'rejected',
      reason: `no instance of this study matched the routing rules${why[0]?.reason ? `: ${why[0].reason}` : ''}`,
      boneAgeMonths: null,
      chronologicalAgeMonths: null,
      differenceMonths: null,
      sds: null,
      verdict: null,
      model: null,
      executionProvider: null,
      sr: null,
      sc: null,
      delivery: { state: analysis?.delivery ? 'none' : 'not-configured' },
      instances: [],
    };
  }
  const results = await db.query<ResultRow>(
    `SELECT id::text AS id, sop_instance_uid, model_name, model_version, status, reason, bone_age_months, chronological_age_months, difference_months,
            sds, verdict, sex, execution_provider, sr_sop_instance_uid, sr_series_instance_uid, sc_sop_instance_uid, sc_series_instance_uid,
            supersedes_id::text AS supersedes_id, created_at
     FROM analysis_result WHERE study_instance_uid = $1 ORDER BY id`,
    [study],
  );
  const outbox = await db.query<OutboxRow>(
    `SELECT result_id::text AS result_id, kind, sop_instance_uid, status, attempts, last_error, delivered_at, destination
     FROM delivery_outbox WHERE study_instance_uid = $1 ORDER BY seq`,
    [study],
  );
  const byId = new Map(results.map((r) => [r.id, r]));
  const delivery = (resultId: string | null) => {
    if (!analysis?.delivery) return { state: 'not-configured' };
    const rows = outbox.filter((o) => o.result_id === resultId);
    if (!resultId || rows.length === 0) return { state: 'none' };
    const state = rows.some((r) => r.status === 'failed') ? 'failed' : rows.every((r) => r.status === 'delivered') ? 'delivered' : 'pending';
    return {
      state,
      destination: rows[0]!.destination,
      objects: rows.map((r) => ({ kind: r.kind, SOPInstanceUID: r.sop_instance_uid, status: r.status, attempts: r.attempts, lastError: r.last_error, deliveredAt: r.delivered_at })),
    };
  };
  const view = (j: JobRow) => {
    const r = j.result_id ? byId.get(j.result_id) : undefined;
    const superseded = results.filter((x) => x.sop_instance_uid === j.sop_instance_uid && x.id !== j.result_id).map((x) => ({ id: Number(x.id), model: { name: x.model_name, version: x.model_version } }));
    return {
      SOPInstanceUID: j.sop_instance_uid,
      SeriesInstanceUID: j.series_instance_uid,
      status: j.status,
      reason: j.reason ?? r?.reason ?? null,
      boneAgeMonths: r?.bone_age_months ?? null,
      chronologicalAgeMonths: r?.chronological_age_months ?? null,
      differenceMonths: r?.difference_months ?? null,
      sds: r?.sds ?? null,
      verdict: r?.verdict ?? null,
      sex: r?.sex ?? null,
      model: r ? { name: r.model_name, version: r.model_version } : null,
      executionProvider: r?.execution_provider ?? null,
      resultId: r ? Number(r.id) : null,
      supersedes: r?.supersedes_id ? Number(r.supersedes_id) : null,
      otherResults: superseded,
      sr: r?.sr_sop_instance_uid ? { SOPInstanceUID: r.sr_sop_instance_uid, SeriesInstanceUID: r.sr_series_instance_uid } : null,
      sc: r?.sc_sop_instance_uid ? { SOPInstanceUID: r.sc_sop_instance_uid, SeriesInstanceUID: r.sc_series_instance_uid } : null,
      delivery: delivery(j.result_id),
      attempts: j.attempts,
      receivedAt: j.received_at,
      queuedAt: j.queued_at,
      startedAt: j.started_at,
      finishedAt: j.finished_at,
    };
  };
  const instances = jobs.map(view);
  // The study's answer is its most advanced instance: a done result first, then running, queued, rejected, failed;
  // among equals the most recently finished.
  const primary = [...instances].sort((a, b) => {
    const d = STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status);
    if (d) return d;
    return new Date(b.finishedAt ?? b.queuedAt).getTime() - new Date(a.finishedAt ?? a.queuedAt).getTime();
  })[0]!;
  const { SOPInstanceUID, SeriesInstanceUID, otherResults: _o, attempts: _a, receivedAt: _r, queuedAt: _q, startedAt: _s, finishedAt: _f, ...top } = primary;
  return { StudyInstanceUID: study, ...top, source: { SOPInstanceUID, SeriesInstanceUID }, instances };
}

export function registerAnalysisApi(app: FastifyInstance, ctx: NodeContext, analysis: AutoAnalysis | undefined): void {
  app.get<{ Params: { study: string } }>('/api/studies/:study/bone-age', { config: { role: 'read' } }, async (req, reply) => {
    const study = req.params.study;
    if (!UID.test(study)) return reply.code(400).send({ error: 'Bad Request', message: 'not a StudyInstanceUID' });
    const body = await studyBoneAge(ctx, analysis, study);
    if (!body) return reply.code(404).send({ error: 'Not Found', message: 'carpus holds no such study' });
    await analysis?.audit.recordQuietly('results.read', { principal: req.principal?.name, study, detail: { resource: '/api/studies/{uid}/bone-age' } });
    return body;
  });

  app.post<{ Params: { study: string } }>('/api/studies/:study/bone-age/reanalyse', { config: { role: 'admin' } }, async (req, reply) => {
    if (!analysis || !analysis.config.enabled) return reply.code(409).send({ error: 'Conflict', message: 'auto-analysis is off' });
    const n = await analysis.requeueStudy(req.params.study);
    if (n === 0) return reply.code(404).send({ error: 'Not Found', message: 'no analysed instance in this study' });
    return reply.code(202).send({ queued: n });
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/audit', { config: { role: 'admin' } }, async (req, reply) => {
    const q = req.query;
    const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
    const limit = num(q.limit);
    const after = num(q.after);
    if ((limit !== undefined && !Number.isInteger(limit)) || (after !== undefined && !Number.isInteger(after))) {
      return reply.code(400).send({ error: 'Bad Request', message: 'limit and after must be integers' });
    }
    for (const k of ['since', 'until'] as const) {
      if (q[k] && Number.isNaN(Date.parse(q[k]!))) return reply.code(400).send({ error: 'Bad Request', message: `${k} must be an ISO 8601 time` });
    }
    const rows = await queryAudit(ctx.db, { study: q.study, sop: q.sop, event: q.event, principal: q.principal, since: q.since, until: q.until, afterId: after, limit });
    return { events: rows.map((r) => ({ ...r, id: Number(r.id) })), next: rows.length ? Number(rows[rows.length - 1]!.id) : null };
  });

  if (analysis) {
    app.get('/metrics', { config: { role: 'read' } }, async (_req, reply) => {
      const text = await analysis.metrics.registry.metrics();
      return reply.header('content-type', analysis.metrics.registry.contentType).send(text);
    });
  }
}
