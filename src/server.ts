import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { NodeContext } from './context.ts';
import { Authenticator, authHook } from './auth.ts';
import { isMigrated } from './db/migrate.ts';
import { registerStow } from './dicomweb/stow.ts';
import { registerQido } from './dicomweb/qido.ts';
import { registerWado } from './dicomweb/wado.ts';
import { errInfo } from './store/archive.ts';
import { dicomwebReadAudit } from './audit/http.ts';
import { registerViewer } from './viewer.ts';

/**
 * Request logging is off (see below), and Fastify's LogController then also drops its warning
 * for a response body stream that fails after the headers went out: the client only sees the
 * socket closed ("other side closed"). Keep that one line, with the reason and no query string.
 */
export class CarpusLogController extends LogController {
  override streamError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    const where = { method: request.method, path: request.url.split('?')[0], status: reply.statusCode, err: errInfo(error) };
    if ((error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') reply.log.info(where, 'response closed before its end (client gone)');
    else reply.log.error(where, 'response aborted mid-stream: body stream failed after the headers were sent');
  }
}

export async function buildServer(ctx: NodeContext): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log,
    // One line per request is written in onResponse below, without query strings
    // (QIDO queries carry PatientName and PatientID).
    logController: new CarpusLogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 256 },
    return503OnClosing: true,
  }) as unknown as FastifyInstance;

  // STOW bodies are read as streams by the route itself, never buffered.
  app.addContentTypeParser(/^multipart\//i, (_req, _payload, done) => done(null, undefined));
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  const auth = new Authenticator(ctx.config);
  app.addHook('onRequest', authHook(auth));
  app.addHook('onResponse', async (req, reply) => {
    req.log.info(
      {
        method: req.method,
        path: req.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        principal: req.principal?.name,
      },
      'request',
    );
  });
  // Audit trail: every QIDO-RS/WADO-RS read with its principal (issue 7).
  app.addHook('onResponse', dicomwebReadAudit(ctx, app));
  app.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err: errInfo(err) }, 'request failed');
    return reply.code(status).send({ error: status === 500 ? 'Internal Server Error' : err.name, message: status === 500 ? 'internal error' : err.message });
  });
  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send({ error: 'Not Found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  app.get('/healthz', async (_req, reply) => {
    try {
      if (!(await isMigrated(ctx.db))) return reply.code(503).send({ status: 'migrating' });
      return { status: 'ok', database: ctx.db.kind };
    } catch (err) {
      ctx.log.error({ err: errInfo(err) }, 'health check failed');
      return reply.code(503).send({ status: 'unavailable' });
    }
  });

  registerStow(app, ctx);
  registerQido(app, ctx);
  registerWado(app, ctx);
  registerViewer(app, ctx);
  return app;
}
