/**
 * WADO-RS rendered resources (PS3.18 10.4.1.1.3): instance, frames and series
 * as image/jpeg or image/png, with the `window`, `viewport` and `quality`
 * query parameters. Rendering itself is the pixel module's (renderFrame).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NodeContext } from '../context.ts';
import { multipartContentType, multipartStream, randomBoundary, type OutgoingPart } from './multipart-writer.ts';
import { WadoError } from './wado-pixel.ts';
import { listInstances, readStored, type Params, type Target } from './wado.ts';
import type * as Pixel from '../pixel/index.ts';

type Handler = (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, target: Target) => Promise<FastifyReply>;
type Wrap = (fn: Handler) => (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => Promise<FastifyReply>;

interface Query {
  window?: string;
  viewport?: string;
  quality?: string;
}

/** Most frames one rendered request may list. */
const MAX_RENDERED_FRAMES = 500;

let pixel: Promise<typeof Pixel> | undefined;
const loadPixel = () => (pixel ??= import('../pixel/index.ts'));

export function registerRendered(app: FastifyInstance, ctx: NodeContext, wrap: Wrap): void {
  const opts = { config: { role: 'read' as const } };
  const I = '/dicom-web/studies/:study/series/:series/instances/:instance';
  app.get(`${I}/rendered`, opts, wrap((req, reply, t) => renderInstances(ctx, req, reply, t, [1])));
  app.get(`${I}/frames/:frames/rendered`, opts, wrap((req, reply, t) => renderInstances(ctx, req, reply, t, frameList(req.params.frames))));
  app.get('/dicom-web/studies/:study/series/:series/rendered', opts, wrap((req, reply, t) => renderInstances(ctx, req, reply, t, [1])));
}

function frameList(spec: string | undefined): number[] {
  const items = (spec ?? '').split(',').map((s) => s.trim());
  const out = items.map((s) => (/^[1-9][0-9]{0,8}$/.test(s) ? Number(s) : NaN));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n))) throw new WadoError(400, 'frame list must be comma-separated frame numbers starting at 1');
  if (out.length > MAX_RENDERED_FRAMES) throw new WadoError(400, `at most ${MAX_RENDERED_FRAMES} frames per rendered request`);
  return out;
}

async function renderOptions(req: FastifyRequest): Promise<Pixel.RenderOptions> {
  const px = await loadPixel();
  const mediaType = px.negotiateRenderedMediaType(req.headers.accept);
  if (!mediaType) throw new WadoError(406, 'rendered resources are available as image/jpeg or image/png');
  const q = req.query as Query;
  const o: Pixel.RenderOptions = { mediaType };
  try {
    if (q.window !== undefined) o.window = px.parseWindowParam(q.window);
    if (q.viewport !== undefined) o.viewport = px.parseViewportParam(q.viewport);
  } catch (err) {
    throw new WadoError(400, (err as Error).message);
  }
  if (q.quality !== undefined) {
    const n = Number(q.quality);
    if (!Number.isInteger(n) || n < 1 || n > 100) throw new WadoError(400, 'quality must be an integer from 1 to 100');
    o.quality = n;
  }
  return o;
}

/**
 * One instance and one frame: the image itself. Several images (a frame list,
 * or a series): multipart/related of images, one part each (for a series the
 * first frame of every instance).
 */
async function renderInstances(
  ctx: NodeContext,
  req: FastifyRequest<{ Params: Params }>,
  reply: FastifyReply,
  t: Target,
  frames: number[],
): Promise<FastifyReply> {
  const options = await renderOptions(req);
  const px = await loadPixel();
  const rows = await listInstances(ctx.db, t);
  const render = async (bytes: Uint8Array, frame: number) => {
    try {
      return await px.renderFrame(bytes, frame, options);
    } catch (err) {
      if (err instanceof px.PixelError) {
        const code = (err as { code?: string }).code;
        if (code === 'bad-parameter') throw new WadoError(400, err.message);
        if (code === 'frame-out-of-range') throw new WadoError(404, err.message);
        if (code === 'decode-timeout') throw new WadoError(503, err.message);
        throw new WadoError(406, `this instance cannot be rendered: ${err.message}`);
      }
      throw err;
    }
  };
  if (rows.length === 1 && frames.length === 1) {
    const img = await render(await readStored(ctx, rows[0]!), frames[0]!);
    return reply.type(img.mediaType).send(img.body);
  }
  // Render the first image before answering, so that a bad parameter is a 4xx, not a cut stream.
  const first = rows[0]!;
  const firstBytes = await readStored(ctx, first);
  const firstImage = await render(firstBytes, frames[0]!);
  async function* parts(): AsyncGenerator<OutgoingPart> {
    yield { contentType: firstImage.mediaType, body: firstImage.body, length: firstImage.body.length };
    if (rows.length === 1) {
      for (const f of frames.slice(1)) {
        const img = await render(firstBytes, f);
        yield { contentType: img.mediaType, body: img.body, length: img.body.length };
      }
      return;
    }
    for (const row of rows.slice(1)) {
      try {
        const img = await render(await readStored(ctx, row), 1);
        yield { contentType: img.mediaType, body: img.body, length: img.body.length };
      } catch (err) {
        // Non-image instances of a series (an SR, say) have nothing to render: skip them.
        if (err instanceof WadoError && err.status === 406) continue;
        throw err;
      }
    }
  }
  const boundary = randomBoundary();
  return reply.type(multipartContentType(options.mediaType ?? 'image/jpeg', boundary)).send(multipartStream(boundary, parts()));
}
