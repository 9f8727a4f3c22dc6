/**
 * Auto-analysis: routing of newly stored instances, the durable job queue (pg-boss on the node's
 * own database, PostgreSQL or PGlite), idempotent results, local storage of the SR and SC, the
 * delivery outbox, audit events and metrics.
 */
import fsp from 'node:fs/promises';
import { Readable } from 'node:stream';
import PgBoss from 'pg-boss';
import type { NodeContext } from '../context.ts';
import type { Db, Queryable } from '../db/index.ts';
import { instanceFields, type ParsedInstance } from '../dicom/part10.ts';
import { str } from '../dicom/json.ts';
import { T } from '../dicom/dictionary.ts';
import { errInfo, type StoredInstance } from '../store/archive.ts';
import { Audit } from '../audit/index.ts';
import { RoutingRules } from '../routing/rules.ts';
import { DeliveryWorker } from '../delivery/outbox.ts';
import { Analyzer, loadBackend, type AnalysisOutcome } from './analyzer.ts';
import { createMetrics, type AnalysisMetrics } from './metrics.ts';
import type { AnalysisConfig } from './config.ts';

export const ANALYSIS_QUEUE = 'carpus-analysis';
export const DEAD_LETTER_QUEUE = 'carpus-analysis-dead';
const BOSS_SCHEMA = 'pgboss';

interface JobData {
  sop: string;
}

/** pg-boss's `db` adapter over the node's Db: PGlite takes parameterless multi-statement scripts only through exec(). */
function bossAdapter(db: Db) {
  return {
    async executeSql(text: string, values?: unknown[]) {
      if (!values || values.length === 0) {
        const body = text.trim().replace(/;\s*$/, '');
        if (body.includes(';')) {
          await db.exec(text);
          return { rows: [] };
        }
      }
      return { rows: await db.query(text, values ?? []) };
    },
  };
}

type JobRow = {
  sop_instance_uid: string;
  study_instance_uid: string;
  series_instance_uid: string;
  accession_number: string | null;
  status: string;
  received_at: Date;
};

export class AutoAnalysis {
  readonly audit: Audit;
  readonly metrics: AnalysisMetrics;
  readonly rules: RoutingRules;
  readonly delivery: DeliveryWorker | undefined;
  private boss: PgBoss | undefined;
  private workerIds: string[] = [];
  private analyzer: Analyzer | undefined;
  private stopped = false;

  constructor(
    private readonly ctx: NodeContext,
    readonly config: AnalysisConfig,
  ) {
    this.audit = new Audit(ctx.db, ctx.log);
    this.metrics = createMetrics(ctx.db);
    this.rules = RoutingRules.load(config.rulesFile);
    this.delivery = config.upstream
      ? new DeliveryWorker(ctx.db, ctx.archive, this.audit, ctx.log.child({ component: 'delivery' }), this.metrics, config.upstream, config.delivery)
      : undefined;
  }

  private get log() {
    return this.ctx.log;
  }

  async start(): Promise<void> {
    const { ctx, config } = this;
    ctx.archive.onStored((stored, receivedFrom) => this.onStoredGroup(stored, receivedFrom ?? null));
    if (!config.enabled) {
      this.log.info('auto-analysis off (CARPUS_AUTO_ANALYSIS)');
      return;
    }
    this.analyzer = new Analyzer(await loadBackend(config.inferenceModule, config.env));
    const common = {
      schema: BOSS_SCHEMA,
      // Archive completed jobs after a day, keep them a week: the results and audit tables are the record.
      archiveCompletedAfterSeconds: 24 * 3600,
      maintenanceIntervalSeconds: 60,
      monitorStateIntervalSeconds: 60,
    };
    const boss =
      ctx.db.kind === 'postgres' && ctx.config.databaseUrl
        ? new PgBoss({ connectionString: ctx.config.databaseUrl, max: 3, ...common })
        : new PgBoss({ db: bossAdapter(ctx.db), ...common } as unknown as PgBoss.ConstructorOptions);
    boss.on('error', (err) => this.log.error({ err: errInfo(err) }, 'job queue error'));
    await boss.start();
    this.boss = boss;
    const queueOpts = { retryLimit: config.retryLimit, retryBackoff: true, retryDelay: config.retryDelaySeconds, expireInSeconds: config.expireSeconds };
    await ensureQueue(boss, DEAD_LETTER_QUEUE, { retryLimit: 0 });
    await ensureQueue(boss, ANALYSIS_QUEUE, { ...queueOpts, deadLetter: DEAD_LETTER_QUEUE });
    if (config.singleNode) await this.recoverInterrupted();
    await this.resendOrphans();
    await this.routeMissed();
    for (let i = 0; i < config.concurrency; i++) {
      this.workerIds.push(
        await boss.work<JobData>(ANALYSIS_QUEUE, { batchSize: 1, pollingIntervalSeconds: config.pollSeconds, includeMetadata: true }, async ([job]) => {
          if (job) await this.runJob(job);
        }),
      );
    }
    this.delivery?.start();
    this.log.info(
      { rules: this.rules.source, concurrency: config.concurrency, upstream: config.upstream?.url ?? null, backend: config.inferenceModule ?? 'engine' },
      'auto-analysis started',
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.delivery?.stop();
    if (this.boss) await this.boss.stop({ graceful: true, wait: true, timeout: 15_000, close: true });
    await this.analyzer?.close().catch(() => undefined);
  }

  /** Jobs a killed process left active are retried now (this node is the only worker of its database). */
  private async recoverInterrupted(): Promise<void> {
    const rows = await this.ctx.db.query<{ id: string; sop: string | null }>(
      `SELECT id::text AS id, data->>'sop' AS sop FROM ${BOSS_SCHEMA}.job WHERE name = $1 AND state = 'active'`,
      [ANALYSIS_QUEUE],
    );
    for (const r of rows) {
      const reason = 'interrupted by a node restart';
      const jr = (await this.ctx.db.query<JobRow>('SELECT * FROM analysis_job WHERE sop_instance_uid = $1', [r.sop]))[0];
      const ids = { sop: r.sop, study: jr?.study_instance_uid, series: jr?.series_instance_uid, accession: jr?.accession_number };
      await this.boss!.fail(ANALYSIS_QUEUE, r.id, { message: `interrupted: the node stopped during the analysis` });
      const job = await this.boss!.getJobById(ANALYSIS_QUEUE, r.id);
      if (job?.state === 'failed') {
        // That was its last retry: dead-lettered.
        await this.ctx.db.query(`UPDATE analysis_job SET status = 'failed', reason = $2, finished_at = now() WHERE sop_instance_uid = $1 AND status = 'running'`, [r.sop, reason]);
        await this.audit.record('job.failed', { ...ids, principal: 'carpus', detail: { jobId: r.id, error: reason } });
      } else {
        await this.ctx.db.query(`UPDATE analysis_job SET status = 'queued', reason = $2 WHERE sop_instance_uid = $1 AND status = 'running'`, [r.sop, reason]);
        await this.audit.record('job.retry', { ...ids, principal: 'carpus', detail: { jobId: r.id, reason } });
      }
      this.log.warn({ jobId: r.id, state: job?.state }, 'analysis interrupted by a restart');
    }
  }

  /** Routed instances whose queue job is missing or over (the process died between the two writes): queued again. */
  private async resendOrphans(): Promise<void> {
    const rows = await this.ctx.db.query<JobRow>(
      `SELECT a.* FROM analysis_job a
       LEFT JOIN ${BOSS_SCHEMA}.job j ON j.name = $1 AND j.id::text = a.boss_job_id
       WHERE a.status IN ('queued', 'running') AND (j.id IS NULL OR j.state IN ('completed', 'cancelled', 'failed'))`,
      [ANALYSIS_QUEUE],
    );
    for (const r of rows) {
      await this.enqueue({ study: r.study_instance_uid, series: r.series_instance_uid, sop: r.sop_instance_uid, accession: r.accession_number }, 'requeued at start', 0);
    }
    if (rows.length) this.log.warn({ count: rows.length }, 're-queued routed instances that had no live job');
  }

  /**
   * Instances indexed but never routed (the process died between the index commit and the routing
   * decision): routed now. Only instances received since auto-analysis was installed.
   */
  private async routeMissed(): Promise<void> {
    const rows = await this.ctx.db.query<{ sop_instance_uid: string; series_instance_uid: string; study_instance_uid: string; sop_class_uid: string; metadata: unknown; sha256: string }>(
      `SELECT i.sop_instance_uid, i.series_instance_uid, i.study_instance_uid, i.sop_class_uid, i.metadata, i.sha256
       FROM instance i
       WHERE i.received_at >= (SELECT applied_at FROM schema_migrations WHERE version = 3)
         AND NOT EXISTS (SELECT 1 FROM analysis_job j WHERE j.sop_instance_uid = i.sop_instance_uid)
         AND NOT EXISTS (SELECT 1 FROM audit_event a WHERE a.sop_instance_uid = i.sop_instance_uid AND a.event = 'rule.not-matched')
       ORDER BY i.received_at
       LIMIT 10000`,
    );
    for (const r of rows) {
      const metadata = (typeof r.metadata === 'string' ? JSON.parse(r.metadata) : r.metadata) as ParsedInstance['metadata'];
      await this.onStored(
        { status: 'stored', SOPClassUID: r.sop_class_uid, SOPInstanceUID: r.sop_instance_uid, StudyInstanceUID: r.study_instance_uid, SeriesInstanceUID: r.series_instance_uid, sha256: r.sha256 },
        { SOPClassUID: r.sop_class_uid, SOPInstanceUID: r.sop_instance_uid, StudyInstanceUID: r.study_instance_uid, SeriesInstanceUID: r.series_instance_uid, TransferSyntaxUID: '', metadata },
        true,
      );
    }
    if (rows.length) this.log.warn({ count: rows.length }, 'routed instances that a stopped process had stored but not routed');
  }

  /** Archive listener: audit the reception, apply the routing rules, queue matching instances. */
  async onStored(outcome: StoredInstance, parsed: ParsedInstance, recovered = false): Promise<void> {
    const m = parsed.metadata;
    const accession = str(m, T.AccessionNumber) ?? null;
    const ids = { study: outcome.StudyInstanceUID, series: outcome.SeriesInstanceUID, sop: outcome.SOPInstanceUID, accession };
    const rows = await this.ctx.db.query<{ received_from: string | null }>('SELECT received_from FROM instance WHERE sop_instance_uid = $1', [outcome.SOPInstanceUID]);
    const principal = rows[0]?.received_from ?? null;
    const seen = recovered
      ? await this.ctx.db.query(`SELECT 1 FROM audit_event WHERE sop_instance_uid = $1 AND event = 'instance.received' LIMIT 1`, [outcome.SOPInstanceUID])
      : [];
    if (!seen.length) {
      await this.audit.record('instance.received', { ...ids, principal, detail: { sopClass: outcome.SOPClassUID, sha256: outcome.sha256, ...(recovered ? { recoveredAtStart: true } : {}) } });
    }
    const decision = this.config.enabled ? this.rules.evaluate(outcome.SOPClassUID, m) : { match: false, reason: 'auto-analysis off' };
    if (!decision.match) {
      await this.audit.record('rule.not-matched', { ...ids, principal, detail: { reason: decision.reason } });
      return;
    }
    await this.audit.record('rule.matched', { ...ids, principal, detail: { reason: decision.reason, rules: this.rules.source } });
    await this.enqueue(ids, decision.reason, this.rules.stableMs);
  }

  /**
   * Archive listener for the instances of one STOW group: the same audit events and routing as
   * onStored, with the audit rows of the whole group in one statement (per-statement cost on PGlite).
   */
  async onStoredGroup(stored: { outcome: StoredInstance; parsed: ParsedInstance }[], principal: string | null): Promise<void> {
    const events: Parameters<Audit['recordMany']>[0] = [];
    const matched: { ids: { study: string; series: string; sop: string; accession: string | null }; reason: string }[] = [];
    for (const { outcome, parsed } of stored) {
      const accession = instanceFields(parsed).AccessionNumber ?? null;
      const ids = { study: outcome.StudyInstanceUID, series: outcome.SeriesInstanceUID, sop: outcome.SOPInstanceUID, accession };
      events.push(['instance.received', { ...ids, principal, detail: { sopClass: outcome.SOPClassUID, sha256: outcome.sha256 } }]);
      // `metadata` is rebuilt on each read (see parseInstance): read only for the rules, once per instance.
      const decision = this.config.enabled ? this.rules.evaluate(outcome.SOPClassUID, parsed.metadata) : { match: false, reason: 'auto-analysis off' };
      if (!decision.match) {
        events.push(['rule.not-matched', { ...ids, principal, detail: { reason: decision.reason } }]);
        continue;
      }
      events.push(['rule.matched', { ...ids, principal, detail: { reason: decision.reason, rules: this.rules.source } }]);
      matched.push({ ids, reason: decision.reason });
    }
    await this.audit.recordMany(events);
    for (const m of matched) {
      try {
        await this.enqueue(m.ids, m.reason, this.rules.stableMs);
      } catch (err) {
        // One failed enqueue leaves the others queued; resendOrphans/routeMissed retry it at start.
        this.log.error({ err: errInfo(err), SOPInstanceUID: m.ids.sop }, 'queueing a routed instance failed');
      }
    }
  }

  /** Queues (or re-queues) one source instance. */
  async enqueue(ids: { study: string; series: string; sop: string; accession: string | null }, rule: string, delayMs: number): Promise<string | null> {
    if (!this.boss) throw new Error('auto-analysis is not running');
    await this.ctx.db.query(
      `INSERT INTO analysis_job (sop_instance_uid, study_instance_uid, series_instance_uid, accession_number, status, rule)
       VALUES ($1, $2, $3, $4, 'queued', $5)
       ON CONFLICT (sop_instance_uid) DO UPDATE SET status = 'queued', reason = NULL, queued_at = now(), started_at = NULL, finished_at = NULL`,
      [ids.sop, ids.study, ids.series, ids.accession, rule],
    );
    const jobId = await this.send(ids.sop, delayMs);
    await this.ctx.db.query('UPDATE analysis_job SET boss_job_id = $2 WHERE sop_instance_uid = $1', [ids.sop, jobId]);
    await this.audit.record('job.queued', { ...ids, principal: 'carpus', detail: { jobId, startAfterMs: delayMs } });
    return jobId;
  }

  private async send(sop: string, delayMs: number): Promise<string | null> {
    const id = await this.boss!.send(ANALYSIS_QUEUE, { sop } satisfies JobData, delayMs > 0 ? { startAfter: new Date(Date.now() + delayMs) } : {});
    if (delayMs <= 0) for (const w of this.workerIds) this.boss!.notifyWorker(w);
    return id;
  }

  /** Re-queues every routed instance of a study (e.g. after a model update: the new version makes new results). */
  async requeueStudy(study: string): Promise<number> {
    const rows = await this.ctx.db.query<JobRow>('SELECT * FROM analysis_job WHERE study_instance_uid = $1 AND status <> $2', [study, 'running']);
    for (const r of rows) {
      await this.enqueue({ study: r.study_instance_uid, series: r.series_instance_uid, sop: r.sop_instance_uid, accession: r.accession_number }, 'requeued', 0);
    }
    return rows.length;
  }

  private async runJob(job: PgBoss.JobWithMetadata<JobData>): Promise<void> {
    const sop = job.data.sop;
    const db = this.ctx.db;
    const jobRow = (await db.query<JobRow>('SELECT * FROM analysis_job WHERE sop_instance_uid = $1', [sop]))[0];
    if (!jobRow) return; // nothing to do (never routed)
    const ids = { study: jobRow.study_instance_uid, series: jobRow.series_instance_uid, sop, accession: jobRow.accession_number };

    // Wait until the series has been stable for the configured time.
    const last = await db.query<{ last: Date | null }>('SELECT max(received_at) AS last FROM instance WHERE series_instance_uid = $1', [ids.series]);
    const lastAt = last[0]?.last ? new Date(last[0].last).getTime() : 0;
    const wait = lastAt + this.rules.stableMs - Date.now();
    if (wait > 50) {
      const next = await this.send(sop, wait);
      await db.query('UPDATE analysis_job SET boss_job_id = $2 WHERE sop_instance_uid = $1', [sop, next]);
      return;
    }

    const t0 = performance.now();
    const attempt = job.retryCount + 1;
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE analysis_job SET status = 'running', attempts = attempts + 1, started_at = now(), boss_job_id = $2 WHERE sop_instance_uid = $1`, [sop, job.id]);
      await this.audit.record('job.started', { ...ids, principal: 'carpus', detail: { jobId: job.id, attempt } }, tx);
    });
    try {
      await this.analyse(job, ids, jobRow, t0);
      this.metrics.stage.observe({ stage: 'job' }, (performance.now() - t0) / 1000);
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).slice(0, 1000);
      const final = job.retryCount >= job.retryLimit;
      await db.transaction(async (tx) => {
        await tx.query(`UPDATE analysis_job SET status = $2, reason = $3, finished_at = CASE WHEN $2 = 'failed' THEN now() END WHERE sop_instance_uid = $1`, [
          sop,
          final ? 'failed' : 'queued',
          message,
        ]);
        await this.audit.record(final ? 'job.failed' : 'job.retry', { ...ids, principal: 'carpus', detail: { jobId: job.id, attempt, error: message } }, tx);
      });
      this.metrics.jobsFinished.inc({ outcome: final ? 'failed' : 'retry' });
      this.log.warn({ err: errInfo(err), SOPInstanceUID: sop, attempt, final }, final ? 'analysis failed: dead-lettered' : 'analysis failed: will retry');
      throw err;
    }
  }

  private async analyse(job: PgBoss.JobWithMetadata<JobData>, ids: { study: string; series: string; sop: string; accession: string | null }, jobRow: JobRow, t0: number) {
    const db = this.ctx.db;
    const analyzer = this.analyzer!;
    const model = await analyzer.model();
    const existing = await db.query<{ id: string; status: string; reason: string | null }>(
      'SELECT id::text AS id, status, reason FROM analysis_result WHERE sop_instance_uid = $1 AND model_name = $2 AND model_version = $3',
      [ids.sop, model.name, model.version],
    );
    if (existing[0]) {
      // Idempotent: this instance already has a result of this model version.
      await db.transaction(async (tx) => {
        await tx.query(`UPDATE analysis_job SET status = $2, reason = $3, result_id = $4, finished_at = now() WHERE sop_instance_uid = $1`, [
          ids.sop,
          existing[0]!.status,
          existing[0]!.reason,
          existing[0]!.id,
        ]);
        await this.audit.record('job.skipped', { ...ids, principal: 'carpus', detail: { jobId: job.id, resultId: Number(existing[0]!.id), model: `${model.name} ${model.version}` } }, tx);
      });
      this.metrics.jobsFinished.inc({ outcome: 'skipped' });
      return;
    }
    const file = await db.query<{ storage_path: string }>('SELECT storage_path FROM instance WHERE sop_instance_uid = $1', [ids.sop]);
    if (!file[0]) throw new Error('source instance is no longer in the archive');
    const bytes = await fsp.readFile(this.ctx.archive.files.absolute(file[0].storage_path));
    const outcome = await analyzer.analyze(bytes, ids.sop);
    if (outcome.timingsMs.inference !== undefined) this.metrics.stage.observe({ stage: 'inference' }, outcome.timingsMs.inference / 1000);
    if (outcome.timingsMs.report !== undefined) this.metrics.stage.observe({ stage: 'report' }, outcome.timingsMs.report / 1000);

    if (outcome.status === 'done') {
      const ts = performance.now();
      // SC first: the SR references it. An object already stored by an interrupted run is kept as is.
      for (const obj of [outcome.reports.sc, outcome.reports.sr]) await this.storeResultObject(obj.part10, obj.sopInstanceUid);
      this.metrics.stage.observe({ stage: 'store' }, (performance.now() - ts) / 1000);
    }
    const prev = await db.query<{ id: string }>(
      `SELECT id::text AS id FROM analysis_result WHERE sop_instance_uid = $1 AND NOT (model_name = $2 AND model_version = $3) ORDER BY id DESC LIMIT 1`,
      [ids.sop, model.name, model.version],
    );
    const supersedes = prev[0]?.id ?? null;
    const upstream = this.delivery?.destination;
    await db.transaction(async (tx) => {
      const resultId = await insertResult(tx, ids, outcome, supersedes);
      await tx.query(`UPDATE analysis_job SET status = $2, reason = $3, result_id = $4, finished_at = now() WHERE sop_instance_uid = $1`, [
        ids.sop,
        outcome.status,
        outcome.status === 'rejected' ? outcome.reason : null,
        resultId,
      ]);
      const common = { ...ids, principal: 'carpus' };
      const modelDesc = { name: model.name, version: model.version };
      if (outcome.status === 'done') {
        for (const [kind, obj] of [['sc', outcome.reports.sc], ['sr', outcome.reports.sr]] as const) {
          await this.audit.record('report.created', { ...common, detail: { kind, sopInstanceUid: obj.sopInstanceUid, seriesInstanceUid: obj.seriesInstanceUid, resultId: Number(resultId) } }, tx);
          if (upstream) {
            await tx.query(
              `INSERT INTO delivery_outbox (result_id, source_sop_instance_uid, study_instance_uid, sop_instance_uid, kind, destination)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sop_instance_uid, destination) DO NOTHING`,
              [resultId, ids.sop, ids.study, obj.sopInstanceUid, kind, upstream],
            );
            await this.audit.record('delivery.queued', { ...common, detail: { kind, sopInstanceUid: obj.sopInstanceUid, destination: upstream } }, tx);
          }
        }
        await this.audit.record(
          'job.finished',
          {
            ...common,
            detail: { jobId: job.id, resultId: Number(resultId), model: modelDesc, executionProvider: outcome.executionProvider, boneAgeMonths: outcome.numbers.boneAgeMonths, supersedes: supersedes ? Number(supersedes) : null },
          },
          tx,
        );
      } else {
        await this.audit.record('job.rejected', { ...common, detail: { jobId: job.id, resultId: Number(resultId), model: modelDesc, reason: outcome.reason } }, tx);
      }
    });
    this.metrics.jobsFinished.inc({ outcome: outcome.status });
    this.metrics.stage.observe({ stage: 'turnaround' }, (Date.now() - new Date(jobRow.received_at).getTime()) / 1000);
    this.log.info(
      { SOPInstanceUID: ids.sop, status: outcome.status, ms: Math.round(performance.now() - t0), model: `${model.name} ${model.version}` },
      'analysis finished',
    );
    this.delivery?.notify();
  }

  private async storeResultObject(part10: Buffer, sop: string): Promise<void> {
    const have = await this.ctx.db.query('SELECT 1 FROM instance WHERE sop_instance_uid = $1', [sop]);
    if (have.length) return;
    const res = await this.ctx.archive.store(Readable.from([part10]), { receivedFrom: 'carpus', maxBytes: this.ctx.config.maxInstanceBytes });
    if (res.status === 'failed') throw new Error(`storing result object ${sop} failed: ${res.message}`);
  }
}

async function ensureQueue(boss: PgBoss, name: string, opts: Omit<PgBoss.Queue, 'name'>): Promise<void> {
  const existing = await boss.getQueue(name);
  if (!existing) await boss.createQueue(name, { name, ...opts });
  else await boss.updateQueue(name, { name, ...opts } as PgBoss.Queue);
}

async function insertResult(tx: Queryable, ids: { study: string; sop: string }, o: AnalysisOutcome, supersedes: string | null): Promise<string> {
  const done = o.status === 'done' ? o : undefined;
  const n = done?.numbers;
  const rows = await tx.query<{ id: string }>(
    `INSERT INTO analysis_result (sop_instance_uid, study_instance_uid, model_name, model_version, model_sha256, status, reason,
       bone_age_months, chronological_age_months, difference_months, sds, verdict, sex, execution_provider,
       sr_sop_instance_uid, sr_series_instance_uid, sc_sop_instance_uid, sc_series_instance_uid, supersedes_id, timings)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20::jsonb)
     ON CONFLICT (sop_instance_uid, model_name, model_version) DO UPDATE SET model_sha256 = analysis_result.model_sha256
     RETURNING id::text AS id`,
    [
      ids.sop,
      ids.study,
      o.model.name,
      o.model.version,
      o.model.sha256,
      o.status,
      o.status === 'rejected' ? o.reason : null,
      n?.boneAgeMonths ?? null,
      n?.chronologicalAgeMonths ?? null,
      n?.differenceMonths ?? null,
      n?.sds ?? null,
      n?.verdict ?? null,
      done?.sex ?? null,
      o.executionProvider,
      done?.reports.sr.sopInstanceUid ?? null,
      done?.reports.sr.seriesInstanceUid ?? null,
      done?.reports.sc.sopInstanceUid ?? null,
      done?.reports.sc.seriesInstanceUid ?? null,
      supersedes,
      JSON.stringify(o.timingsMs),
    ],
  );
  return rows[0]!.id;
}
