/**
 * The demo viewer at /viewer/ (viewer-extension/): static files built by esbuild on the first
 * request and kept in memory, so `npm ci && npm start` serves it with no separate build step.
 * Public like /healthz: the page holds no data; its DICOMweb calls go through the usual auth.
 */
import type { FastifyInstance } from 'fastify';
import { buildViewer, type ViewerFile } from '../viewer-extension/build.ts';
import { errInfo } from './store/archive.ts';
import type { NodeContext } from './context.ts';

export function registerViewer(app: FastifyInstance, ctx: NodeContext): void {
  let built: Promise<Map<string, ViewerFile>> | undefined;
  const files = () => {
    built ??= buildViewer().catch((err) => {
      built = undefined; // try again on the next request
      throw err;
    });
    return built;
  };
  const send = async (name: string, reply: import('fastify').FastifyReply) => {
    let all: Map<string, ViewerFile>;
    try {
      all = await files();
    } catch (err) {
      ctx.log.error({ err: errInfo(err) }, 'viewer build failed');
      return reply.code(500).send({ error: 'Internal Server Error', message: 'the viewer could not be built' });
    }
    const f = all.get(name);
    if (!f) return reply.code(404).send({ error: 'Not Found', message: `no viewer file ${name}` });
    return reply.header('content-type', f.contentType).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(f.body);
  };
  app.get('/viewer', async (req, reply) => reply.redirect(`/viewer/${req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : ''}`));
  app.get('/viewer/', async (_req, reply) => send('index.html', reply));
  app.get<{ Params: { file: string } }>('/viewer/:file', async (req, reply) => send(req.params.file, reply));
}
