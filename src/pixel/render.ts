/**
 * Rendered resources (PS3.18 8.3.5 / 9.5): a frame presented (present.ts) and encoded as PNG or
 * JPEG with sharp, honouring the `window`, `viewport` and `quality` query parameters.
 */
import sharp from 'sharp';
import { PixelError } from './errors.ts';
import { decodeFrameForDisplay } from './decode.ts';
import { parsePart10, type ParsedPart10 } from './parse.ts';
import { present, presentGray8, type VoiFunction, type WindowSpec } from './present.ts';
import type { DecodePool } from './decode-pool.ts';

export type RenderedMediaType = 'image/png' | 'image/jpeg';

/** PS3.18 8.3.5.1.3 viewport: output size vw x vh; optional source region sx,sy,sw,sh (negative sw/sh flip). */
export interface Viewport {
  vw: number;
  vh: number;
  sx?: number;
  sy?: number;
  sw?: number;
  sh?: number;
}

export interface RenderOptions {
  mediaType?: RenderedMediaType;
  /** PS3.18 `window=center,width,function` (parseWindowParam). */
  window?: WindowSpec;
  /** PS3.18 `viewport=vw,vh[,sx,sy,sw,sh]` (parseViewportParam). */
  viewport?: Viewport;
  /** PS3.18 `quality` 1-100 (JPEG only; default 90). */
  quality?: number;
  decoder?: DecodePool | 'inline';
}

export interface RenderedImage {
  mediaType: RenderedMediaType;
  body: Buffer;
  width: number;
  height: number;
}

function numbers(s: string, name: string): number[] {
  const parts = s.split(',').map((x) => x.trim());
  const out = parts.map((x) => (x === '' ? NaN : Number(x)));
  if (out.some((n) => !Number.isFinite(n))) throw new PixelError('bad-parameter', `Bad ${name} parameter "${s}"`);
  return out;
}

/** Parses PS3.18 `window=center,width,function` (function: linear, linear-exact or sigmoid). */
export function parseWindowParam(s: string): WindowSpec {
  const parts = s.split(',').map((x) => x.trim());
  if (parts.length < 2 || parts.length > 3) throw new PixelError('bad-parameter', `window must be center,width[,function]: "${s}"`);
  const [center, width] = numbers(parts.slice(0, 2).join(','), 'window') as [number, number];
  if (!(width > 0)) throw new PixelError('bad-parameter', `window width must be > 0: "${s}"`);
  let fn: VoiFunction = 'LINEAR';
  if (parts[2]) {
    const f = parts[2].toLowerCase();
    if (f === 'linear') fn = 'LINEAR';
    else if (f === 'linear-exact' || f === 'linear_exact') fn = 'LINEAR_EXACT';
    else if (f === 'sigmoid') fn = 'SIGMOID';
    else throw new PixelError('bad-parameter', `window function must be linear, linear-exact or sigmoid: "${parts[2]}"`);
  }
  return { center, width, function: fn };
}

/** Parses PS3.18 `viewport=vw,vh[,sx,sy,sw,sh]`. */
export function parseViewportParam(s: string): Viewport {
  const n = numbers(s, 'viewport');
  if (n.length !== 2 && n.length !== 6) throw new PixelError('bad-parameter', `viewport must be vw,vh or vw,vh,sx,sy,sw,sh: "${s}"`);
  const [vw, vh, sx, sy, sw, sh] = n;
  if (!(vw! >= 1 && vh! >= 1 && Number.isInteger(vw) && Number.isInteger(vh))) throw new PixelError('bad-parameter', `viewport size must be positive integers: "${s}"`);
  return n.length === 2 ? { vw: vw!, vh: vh! } : { vw: vw!, vh: vh!, sx: sx!, sy: sy!, sw: sw!, sh: sh! };
}

/** Picks the rendered media type from an Accept header; undefined means 406. */
export function negotiateRenderedMediaType(accept: string | undefined): RenderedMediaType | undefined {
  if (!accept || accept.trim() === '') return 'image/jpeg';
  const ranges = accept
    .split(',')
    .map((r) => {
      const [type = '', ...params] = r.split(';').map((x) => x.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      return { type, q: q ? Number(q.slice(2)) : 1 };
    })
    .filter((r) => r.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const r of ranges) {
    if (r.type === 'image/jpeg' || r.type === 'image/png') return r.type;
    if (r.type === 'image/*' || r.type === '*/*') return 'image/jpeg';
  }
  return undefined;
}

/** Renders frame `frameNumber` (1-based) of a Part 10 instance. */
export async function renderFrame(part10: Uint8Array | ParsedPart10, frameNumber = 1, opts: RenderOptions = {}): Promise<RenderedImage> {
  const parsed = 'pixel' in part10 ? part10 : parsePart10(part10);
  const p = parsed.pixel;
  const vp = opts.viewport;
  // Source region and output size (PS3.18 viewport: the region scaled to fit, aspect kept).
  let left = 0, top = 0, w = p.columns, h = p.rows, flop = false, flip = false;
  let width = p.columns;
  let height = p.rows;
  if (vp) {
    const sw0 = vp.sw ?? p.columns - (vp.sx ?? 0);
    const sh0 = vp.sh ?? p.rows - (vp.sy ?? 0);
    // A negative extent selects the region to the left of / above (sx,sy) and flips it.
    left = Math.round(sw0 < 0 ? (vp.sx ?? 0) + sw0 : vp.sx ?? 0);
    top = Math.round(sh0 < 0 ? (vp.sy ?? 0) + sh0 : vp.sy ?? 0);
    w = Math.round(Math.abs(sw0));
    h = Math.round(Math.abs(sh0));
    flop = sw0 < 0;
    flip = sh0 < 0;
    if (w < 1 || h < 1 || left < 0 || top < 0 || left + w > p.columns || top + h > p.rows) {
      throw new PixelError('bad-parameter', `viewport region ${left},${top},${w},${h} is not inside the ${p.columns}x${p.rows} image`);
    }
    const scale = Math.min(vp.vw / w, vp.vh / h);
    width = Math.max(1, Math.min(vp.vw, Math.round(w * scale)));
    height = Math.max(1, Math.min(vp.vh, Math.round(h * scale)));
  }
  // Whole image shrunk at least 2x: JPEG 2000 can decode a lower resolution level directly.
  const whole = left === 0 && top === 0 && w === p.columns && h === p.rows;
  const shrink = Math.min(width / p.columns, height / p.rows);
  const reduce = whole && shrink < 1 ? Math.floor(Math.log2(1 / shrink)) : 0;
  const frame = await decodeFrameForDisplay(parsed, frameNumber - 1, reduce, opts.decoder);
  const input = { rows: frame.rows, columns: frame.columns, samplesPerPixel: p.samplesPerPixel, photometricInterpretation: frame.photometricInterpretation, bitsStored: p.bitsStored, module: p };
  const popts = opts.window ? { window: opts.window } : {};
  let raw: Uint8Array;
  let channels: 1 | 3;
  if (p.samplesPerPixel === 1) {
    raw = presentGray8(input, frame.pixels, popts);
    channels = 1;
  } else {
    const pres = present(input, frame.pixels, popts);
    if (pres.kind !== 'rgb') throw new PixelError('unsupported-pixel-format', 'expected colour');
    raw = pres.data;
    channels = 3;
  }
  let img = sharp(raw, { raw: { width: frame.columns, height: frame.rows, channels } });
  if (vp) {
    if (!whole) img = sharp(await img.extract({ left, top, width: w, height: h }).raw().toBuffer(), { raw: { width: w, height: h, channels } });
    if (flop) img = img.flop();
    if (flip) img = img.flip();
    if (width !== frame.columns || height !== frame.rows) img = img.resize(width, height, { fit: 'fill', kernel: 'lanczos3' });
  }
  const mediaType = opts.mediaType ?? 'image/jpeg';
  const body =
    mediaType === 'image/png'
      ? await img.png({ compressionLevel: 3 }).toBuffer()
      : await img.jpeg({ quality: Math.min(100, Math.max(1, Math.round(opts.quality ?? 90))) }).toBuffer();
  return { mediaType, body, width, height };
}
