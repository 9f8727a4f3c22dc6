/** onResponse hook: every QIDO-RS / WADO-RS read is audited with its principal (path UIDs only, never the query string). */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NodeContext } from '../context.ts';
import type { Logger } from '../log.ts';
import { errInfo } from '../store/archive.ts';
import { Audit, dicomwebReadTarget, type AuditEventName, type AuditFields } from './index.ts';

/** A read's audit row is written at most this long after its response, or sooner once this many wait. */
export const READ_AUDIT_MAX_DELAY_MS = 200;
export const READ_AUDIT_MAX_ROWS = 100;

/**
 * Read-audit rows, written in batches: one multi-row INSERT per batch instead of one statement per
 * read. On PGlite every statement runs on the event loop, and a per-read INSERT made the next
 * request wait for it (see bench/README.md, "DICOMweb archive").
 * What can be lost: as before, the row is written after the response has gone, so a crash of the
 * process loses the rows not yet written; with batching that is the reads of the last
 * READ_AUDIT_MAX_DELAY_MS at most (before: the one read in flight). A failed INSERT is logged as an
 * error with the number of rows it lost, never silently. Closing the node writes what is waiting.
 */
export class ReadAuditWriter {
  private rows: [AuditEventName, AuditFields][] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly audit: Audit,
    private readonly log: Logger,
  ) {}

  add(event: AuditEventName, fields: AuditFields): void {
    this.rows.push([event, fields]);
    if (this.rows.length >= READ_AUDIT_MAX_ROWS) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), READ_AUDIT_MAX_DELAY_MS);
      this.timer.unref();
    }
  }

  /** Writes what is waiting; settles when it (and any earlier batch) is written or logged as lost. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const rows = this.rows;
    this.rows = [];
    if (rows.length) {
      this.writing = this.writing.then(async () => {
        try {
          await this.audit.recordMany(rows);
        } catch (err) {
          this.log.error({ err: errInfo(err), event: 'dicomweb.read', lost: rows.length }, 'audit write failed');
        }
      });
    }
    return this.writing;
  }
}

export function dicomwebReadAudit(ctx: NodeContext, app: FastifyInstance) {
  const writer = new ReadAuditWriter(new Audit(ctx.db, ctx.log), ctx.log);
  // Fastify closes before the database does (node.ts): what waits is written first.
  app.addHook('onClose', async () => writer.flush());
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return;
    const t = dicomwebReadTarget(req.url);
    if (!t) return;
    writer.add('dicomweb.read', {
      principal: req.principal?.name ?? null,
      study: t.study,
      series: t.series,
      sop: t.sop,
      detail: { kind: t.kind, resource: t.resource, status: reply.statusCode },
    });
  };
}
