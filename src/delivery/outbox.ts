/**
 * Delivery outbox: carpus's results STOWed to the upstream archive (CARPUS_UPSTREAM_DICOMWEB).
 * Rows are written in the same transaction as the result (sql/003_auto_analysis.sql,
 * delivery_outbox) and delivered strictly in seq order: the oldest pending row is retried with
 * exponential backoff and nothing overtakes it, so an upstream that is down for minutes gets
 * everything afterwards, in order. A permanent refusal (a 4xx other than 401/403/408/429) marks
 * the row failed, is audited, and delivery goes on with the next row.
 */
import fsp from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.ts';
import type { Logger } from '../log.ts';
import type { Archive } from '../store/archive.ts';
import { errInfo } from '../store/archive.ts';
import type { Audit } from '../audit/index.ts';
import type { AnalysisMetrics } from '../analysis/metrics.ts';

export interface Upstream {
  url: string;
  authorization: string | undefined;
}

export interface OutboxOptions {
  retryBaseMs: number;
  retryMaxMs: number;
  timeoutMs: number;
  pollMs?: number;
}

type OutboxRow = {
  seq: string;
  study_instance_uid: string;
  sop_instance_uid: string;
  source_sop_instance_uid: string | null;
  kind: string;
  attempts: number;
  next_attempt_at: Date;
  created_at: Date;
};

export class StowError extends Error {
  override name = 'StowError';
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

/** STOW-RS of one Part 10 object; resolves when the upstream archive has it. */
export async function stowOne(up: Upstream, studyUid: string, bytes: Buffer, timeoutMs: number): Promise<void> {
  const boundary = `carpus-${randomUUID()}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  let res: Response;
  try {
    res = await fetch(`${up.url}/studies/${encodeURIComponent(studyUid)}`, {
      method: 'POST',
      headers: {
        'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        accept: 'application/dicom+json',
        ...(up.authorization ? { authorization: up.authorization } : {}),
      },
      body: new Uint8Array(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new StowError(`upstream unreachable: ${cause ?? (err as Error).message}`, false);
  }
  const text = await res.text().catch(() => '');
  if (res.status === 200) return;
  if (res.status === 202) {
    // Accepted with warnings or partial failure: ours is the only instance, so look for a failure.
    try {
      const json = JSON.parse(text) as Record<string, { Value?: unknown[] }>;
      const failed = json['00081198']?.Value ?? [];
      if (failed.length === 0) return;
      const reason = (failed[0] as Record<string, { Value?: number[] }>)['00081197']?.Value?.[0];
      throw new StowError(`upstream refused the instance (FailureReason ${reason ?? 'unknown'})`, true);
    } catch (err) {
      if (err instanceof StowError) throw err;
      return;
    }
  }
  const retriable = res.status >= 500 || [401, 403, 408, 429].includes(res.status);
  throw new StowError(`upstream answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`, !retriable);
}

export class DeliveryWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly archive: Archive,
    private readonly audit: Audit,
    private readonly log: Logger,
    private readonly metrics: AnalysisMetrics,
    readonly upstream: Upstream,
    private readonly opts: OutboxOptions,
  ) {}

  /** The destination key stored with outbox rows (the URL without credentials). */
  get destination(): string {
    return this.upstream.url;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Something new was queued: look now instead of at the next poll. */
  notify(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.notify();
    await this.loop;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
      this.timer = setTimeout(() => this.wake?.(), ms);
    });
  }

  private async run(): Promise<void> {
    const pollMs = this.opts.pollMs ?? 1000;
    while (this.running) {
      let waitMs = pollMs;
      try {
        const delivered = await this.step();
        if (delivered === 'next') continue;
        if (typeof delivered === 'number') waitMs = Math.min(Math.max(delivered, 10), pollMs * 30);
      } catch (err) {
        this.log.error({ err: errInfo(err) }, 'delivery loop error');
      }
      if (this.running) await this.sleep(waitMs);
    }
  }

  /** One delivery attempt of the oldest pending row: 'next' when there may be more now, ms to wait otherwise. */
  async step(): Promise<'next' | number | 'idle'> {
    const rows = await this.db.query<OutboxRow>(
      `SELECT seq::text AS seq, study_instance_uid, sop_instance_uid, source_sop_instance_uid, kind, attempts, next_attempt_at, created_at
       FROM delivery_outbox WHERE status = 'pending' AND destination = $1 ORDER BY seq LIMIT 1`,
      [this.destination],
    );
    const row = rows[0];
    if (!row) return 'idle';
    const due = new Date(row.next_attempt_at).getTime() - Date.now();
    if (due > 0) return due;
    const t0 = performance.now();
    const ids = { study: row.study_instance_uid, sop: row.sop_instance_uid };
    try {
      const bytes = await this.readObject(row.sop_instance_uid);
      await stowOne(this.upstream, row.study_instance_uid, bytes, this.opts.timeoutMs);
    } catch (err) {
      const permanent = err instanceof StowError && err.permanent;
      const message = (err as Error).message.slice(0, 500);
      const attempts = row.attempts + 1;
      if (permanent) {
        await this.db.transaction(async (tx) => {
          await tx.query(`UPDATE delivery_outbox SET status = 'failed', attempts = $2, last_error = $3 WHERE seq = $1`, [row.seq, attempts, message]);
          await this.audit.record('delivery.failed', { ...ids, principal: 'carpus', detail: { seq: Number(row.seq), kind: row.kind, attempts, error: message, source: row.source_sop_instance_uid } }, tx);
        });
        this.metrics.deliveries.inc({ outcome: 'failed' });
        this.log.error({ seq: row.seq, error: message }, 'delivery refused by upstream: marked failed');
        return 'next';
      }
      const delay = Math.min(this.opts.retryBaseMs * 2 ** Math.min(row.attempts, 20), this.opts.retryMaxMs);
      await this.db.transaction(async (tx) => {
        await tx.query(
          `UPDATE delivery_outbox SET attempts = $2, last_error = $3, next_attempt_at = now() + ($4::int * interval '1 millisecond') WHERE seq = $1`,
          [row.seq, attempts, message, delay],
        );
        await this.audit.record('delivery.retry', { ...ids, principal: 'carpus', detail: { seq: Number(row.seq), kind: row.kind, attempts, error: message, retryInMs: delay } }, tx);
      });
      this.metrics.deliveries.inc({ outcome: 'retry' });
      this.log.warn({ seq: row.seq, attempts, retryInMs: delay, error: message }, 'delivery failed, will retry');
      return delay;
    }
    await this.db.transaction(async (tx) => {
      await tx.query(`UPDATE delivery_outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = now(), last_error = NULL WHERE seq = $1`, [row.seq]);
      await this.audit.record(
        'delivery.delivered',
        { ...ids, principal: 'carpus', detail: { seq: Number(row.seq), kind: row.kind, attempts: row.attempts + 1, destination: this.destination, source: row.source_sop_instance_uid } },
        tx,
      );
    });
    this.metrics.deliveries.inc({ outcome: 'delivered' });
    this.metrics.stage.observe({ stage: 'delivery' }, (performance.now() - t0) / 1000);
    return 'next';
  }

  private async readObject(sop: string): Promise<Buffer> {
    const rows = await this.db.query<{ storage_path: string }>('SELECT storage_path FROM instance WHERE sop_instance_uid = $1', [sop]);
    if (!rows[0]) throw new StowError(`object ${sop} is not in carpus's archive`, true);
    return fsp.readFile(this.archive.files.absolute(rows[0].storage_path));
  }
}
