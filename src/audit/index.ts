/**
 * The audit trail: one append-only row per event (sql/003_auto_analysis.sql, table audit_event).
 * Only UIDs, accession numbers, principals and technical detail: never names, IDs or dates of patients.
 */
import type { Queryable } from '../db/index.ts';
import type { Logger } from '../log.ts';
import { errInfo } from '../store/archive.ts';

export const AUDIT_EVENTS = [
  'instance.received',
  'rule.matched',
  'rule.not-matched',
  'job.queued',
  'job.started',
  'job.finished',
  'job.rejected',
  'job.failed',
  'job.retry',
  'job.skipped',
  'report.created',
  'delivery.queued',
  'delivery.delivered',
  'delivery.retry',
  'delivery.failed',
  'dicomweb.read',
  'results.read',
] as const;
export type AuditEventName = (typeof AUDIT_EVENTS)[number];

export interface AuditFields {
  principal?: string | null | undefined;
  study?: string | null | undefined;
  series?: string | null | undefined;
  sop?: string | null | undefined;
  accession?: string | null | undefined;
  detail?: Record<string, unknown>;
}

export type AuditRow = {
  id: string;
  at: Date;
  event: AuditEventName;
  principal: string | null;
  study_instance_uid: string | null;
  series_instance_uid: string | null;
  sop_instance_uid: string | null;
  accession_number: string | null;
  detail: Record<string, unknown>;
};

const INSERT = `INSERT INTO audit_event (event, principal, study_instance_uid, series_instance_uid, sop_instance_uid, accession_number, detail)
  VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)`;

function params(event: AuditEventName, f: AuditFields): unknown[] {
  return [event, f.principal ?? null, f.study ?? null, f.series ?? null, f.sop ?? null, f.accession ?? null, JSON.stringify(f.detail ?? {})];
}

export class Audit {
  constructor(
    private readonly db: Queryable,
    private readonly log: Logger,
  ) {}

  /** Appends one event; inside a transaction pass `tx` so the event commits with the change it records. */
  async record(event: AuditEventName, fields: AuditFields = {}, tx: Queryable = this.db): Promise<void> {
    await tx.query(INSERT, params(event, fields));
  }

  /** Appends several events in one statement (one round trip: what a STOW request of many instances needs). */
  async recordMany(events: [AuditEventName, AuditFields][], tx: Queryable = this.db): Promise<void> {
    if (!events.length) return;
    const rows = events.map(([e, f], i) => `($${i * 7 + 1}, $${i * 7 + 2}, $${i * 7 + 3}, $${i * 7 + 4}, $${i * 7 + 5}, $${i * 7 + 6}, $${i * 7 + 7}::jsonb)`);
    await tx.query(
      `INSERT INTO audit_event (event, principal, study_instance_uid, series_instance_uid, sop_instance_uid, accession_number, detail) VALUES ${rows.join(', ')}`,
      events.flatMap(([e, f]) => params(e, f)),
    );
  }

  /** Appends without failing the caller (for read audits after the response has gone). */
  async recordQuietly(event: AuditEventName, fields: AuditFields = {}): Promise<void> {
    try {
      await this.record(event, fields);
    } catch (err) {
      this.log.error({ err: errInfo(err), event }, 'audit write failed');
    }
  }
}

export interface AuditQuery {
  study?: string | undefined;
  sop?: string | undefined;
  event?: string | undefined;
  principal?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  afterId?: number | undefined;
  limit?: number | undefined;
}

/** Audit rows matching every given filter, oldest first. */
export async function queryAudit(db: Queryable, q: AuditQuery): Promise<AuditRow[]> {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    args.push(v);
    where.push(sql.replace('?', `$${args.length}`));
  };
  if (q.study) add('study_instance_uid = ?', q.study);
  if (q.sop) add('sop_instance_uid = ?', q.sop);
  if (q.event) {
    if (q.event.endsWith('*')) add('event LIKE ?', `${q.event.slice(0, -1).replace(/[%_\\]/g, '\\$&')}%`);
    else add('event = ?', q.event);
  }
  if (q.principal) add('principal = ?', q.principal);
  if (q.since) add('at >= ?::timestamptz', q.since);
  if (q.until) add('at < ?::timestamptz', q.until);
  if (q.afterId !== undefined) add('id > ?', q.afterId);
  const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
  args.push(limit);
  const rows = await db.query<AuditRow>(
    `SELECT id::text AS id, at, event, principal, study_instance_uid, series_instance_uid, sop_instance_uid, accession_number, detail
     FROM audit_event ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $${args.length}`,
    args,
  );
  return rows;
}

/** Parses a DICOMweb GET path into what the read audit records (no query string: it may carry PHI). */
export function dicomwebReadTarget(url: string): { kind: 'qido' | 'wado'; study?: string; series?: string; sop?: string; resource: string } | undefined {
  const p = url.split('?')[0]!;
  const m = /^\/dicom-web(\/.*)?$/.exec(p);
  if (!m) return undefined;
  const parts = (m[1] ?? '/').split('/').filter(Boolean).map(decodeURIComponent);
  const out: { study?: string; series?: string; sop?: string } = {};
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const [k, v] = [parts[i], parts[i + 1]];
    if (k === 'studies') out.study = v;
    else if (k === 'series') out.series = v;
    else if (k === 'instances') out.sop = v;
  }
  const last = parts[parts.length - 1] ?? '';
  // A search ends in a collection name (studies/series/instances) without a UID after it.
  const kind = parts.length % 2 === 1 && ['studies', 'series', 'instances'].includes(last) ? 'qido' : 'wado';
  const resource = parts.map((x, i) => (i % 2 === 1 && ['studies', 'series', 'instances'].includes(parts[i - 1] ?? '') ? '{uid}' : x)).join('/');
  return { kind, ...out, resource: `/${resource}` };
}
