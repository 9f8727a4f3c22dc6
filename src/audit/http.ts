/** onResponse hook: every QIDO-RS / WADO-RS read is audited with its principal (path UIDs only, never the query string). */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { NodeContext } from '../context.ts';
import { Audit, dicomwebReadTarget } from './index.ts';

export function dicomwebReadAudit(ctx: NodeContext) {
  const audit = new Audit(ctx.db, ctx.log);
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return;
    const t = dicomwebReadTarget(req.url);
    if (!t) return;
    await audit.recordQuietly('dicomweb.read', {
      principal: req.principal?.name ?? null,
      study: t.study,
      series: t.series,
      sop: t.sop,
      detail: { kind: t.kind, resource: t.resource, status: reply.statusCode },
    });
  };
}
