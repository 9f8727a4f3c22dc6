/**
 * WADO-RS (PS3.18 10.4): retrieve study / series / instance, metadata, bulk
 * data and frames. Instances are served from the archive's files as stored
 * (byte for byte) or, for the default transfer syntax, transcoded by the pixel
 * module; responses are streamed, never assembled in memory.
 *
 * Conformance and decisions (PS3.18 8.7 negotiation):
 * - Retrieve (study, series, instance): multipart/related; type="application/dicom".
 *   `transfer-syntax=*` sends the stored bytes unchanged. No transfer-syntax
 *   parameter (also Accept absent, star-slash-star, multipart/related without type)
 *   means PS3.18's default, Explicit VR Little Endian: instances stored in it go
 *   out unchanged, the others are transcoded by src/pixel
 *   (transcodeToExplicitVRLittleEndian); a syntax equal to the stored one sends the
 *   stored bytes. carpus transcodes to no other syntax. Several Accept ranges are
 *   tried in order (q, then header order), per instance. Each part carries
 *   `Content-Type: application/dicom; transfer-syntax=<uid>`.
 * - A bare `Accept: application/dicom` at instance level gets the single file as
 *   the body (Content-Type application/dicom; transfer-syntax=...); at study and
 *   series level, where several instances may answer, it is taken as multipart.
 * - Partial answers: when some instances of a study or series cannot be sent in
 *   any acceptable syntax, carpus sends those it can with 206 Partial Content and
 *   a `Warning: 299 carpus "..."` header saying how many were left out and why
 *   (PS3.18 10.4.3); when none can, 406 with a message naming the stored syntax
 *   and pointing to transfer-syntax=*. A transcoding failure at instance level is
 *   a 406 before anything is sent; in a study or series stream, where the status
 *   line is already out, the stream is broken off (no closing delimiter) so that
 *   the client cannot mistake it for a complete answer.
 * - Metadata: application/dicom+json (application/json, star-slash-star accepted too), an
 *   array of the instances' DICOM JSON with absolute BulkDataURIs under the
 *   instance URL (.../bulkdata/7FE00010, .../bulkdata/{seq}/{item}/{tag}), streamed
 *   from the index page by page. XML metadata: 406.
 * - Bulk data: one application/octet-stream part (or a bare body for Accept:
 *   application/octet-stream) with the value in little endian (Explicit VR Big
 *   Endian values byte-swapped per VR; deflated files inflated). Encapsulated
 *   Pixel Data: decompressed by the pixel module into one part (frames one after
 *   another, Explicit VR Little Endian layout); or, when the client accepts the
 *   compressed media type (image/jpeg, image/jls, image/jp2, image/dicom-rle) or
 *   transfer-syntax=*, the compressed frames as stored, one part per frame; 406
 *   when neither is possible.
 * - Frames: comma-separated 1-based list (400 when malformed, 404 beyond
 *   NumberOfFrames or the stored value); one part per frame, in the asked order.
 *   Native data: Rows*Columns*SamplesPerPixel*BitsAllocated/8 bytes per frame,
 *   little endian, planar configuration as stored; BitsAllocated 1 is not
 *   supported (406). Compressed data: decoded by the pixel module (getFrame: the
 *   bytes the transcoded file would hold), or the stored bitstream as above.
 * - 404 for unknown UIDs and for an instance or series addressed under a study or
 *   series it does not belong to; 400 for a UID that is not a UID; 406 for Accept
 *   values that cannot be produced. Errors are application/json {error, message}.
 */
import fsp from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NodeContext } from '../context.ts';
import type { Db } from '../db/index.ts';
import { absolutizeBulk, type DicomJson } from '../dicom/json.ts';
import { isUsableUid } from '../dicom/part10.ts';
import { errInfo } from '../store/archive.ts';
import { problem } from './errors.ts';
import { dicomwebBase, instanceUrl } from './urls.ts';
import { registerRendered } from './wado-rendered.ts';
import { multipartContentType, multipartStream, randomBoundary, type OutgoingPart } from './multipart-writer.ts';
import { bulkOptions, checkMetadataAccept, instanceOptions, type BulkOption, type InstanceOption } from './wado-accept.ts';
import {
  EXPLICIT_VR_LE,
  NATIVE_SYNTAXES,
  WadoError,
  canDecode,
  checkFrameNumbers,
  compressedFrame,
  decodeFrames,
  elementValue,
  findElement,
  loadTranscoder,
  mediaTypeForSyntax,
  nativeFrame,
  openInstance,
  parseBulkPath,
  pixelGeometry,
  type Transcoder,
} from './wado-pixel.ts';

export interface Target {
  study: string;
  series?: string;
  instance?: string;
}

export type InstanceRow = {
  sop_instance_uid: string;
  series_instance_uid: string;
  study_instance_uid: string;
  transfer_syntax_uid: string;
  storage_path: string;
  size_bytes: number | string;
};

export type Params = { study: string; series?: string; instance?: string; frames?: string; '*'?: string };

/** Most frames one request may list. */
const MAX_FRAMES_PER_REQUEST = 10_000;
/** Metadata rows fetched from the database per page while streaming. */
const METADATA_PAGE = 200;

export function registerWado(app: FastifyInstance, ctx: NodeContext): void {
  const opts = { config: { role: 'read' as const } };
  const wrap =
    (fn: (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, target: Target) => Promise<FastifyReply>) =>
    async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      try {
        return await fn(req, reply, checkTarget(req.params));
      } catch (err) {
        if (err instanceof WadoError) {
          if (err.status >= 500) req.log.error({ err: errInfo(err) }, 'WADO-RS failed');
          return problem(reply, err.status, err.message);
        }
        throw err;
      }
    };

  const I = '/dicom-web/studies/:study/series/:series/instances/:instance';
  app.get('/dicom-web/studies/:study', opts, wrap((req, reply, t) => retrieve(ctx, req, reply, t)));
  app.get('/dicom-web/studies/:study/series/:series', opts, wrap((req, reply, t) => retrieve(ctx, req, reply, t)));
  app.get(I, opts, wrap((req, reply, t) => retrieve(ctx, req, reply, t)));
  app.get('/dicom-web/studies/:study/metadata', opts, wrap((req, reply, t) => metadata(ctx, req, reply, t)));
  app.get('/dicom-web/studies/:study/series/:series/metadata', opts, wrap((req, reply, t) => metadata(ctx, req, reply, t)));
  app.get(`${I}/metadata`, opts, wrap((req, reply, t) => metadata(ctx, req, reply, t)));
  app.get(`${I}/bulkdata/*`, opts, wrap((req, reply, t) => bulkdata(ctx, req, reply, t)));
  app.get(`${I}/frames/:frames`, opts, wrap((req, reply, t) => frames(ctx, req, reply, t)));
  registerRendered(app, ctx, wrap);
}

export function checkTarget(p: Params): Target {
  for (const [name, v] of [['StudyInstanceUID', p.study], ['SeriesInstanceUID', p.series], ['SOPInstanceUID', p.instance]] as const) {
    if (v !== undefined && !isUsableUid(v)) throw new WadoError(400, `${name} in the URL is not a valid UID`);
  }
  return { study: p.study, ...(p.series ? { series: p.series } : {}), ...(p.instance ? { instance: p.instance } : {}) };
}

// ---------------------------------------------------------------- lookups

/** 404 unless the target exists with exactly this study / series / instance hierarchy. */
async function resolve(db: Db, t: Target): Promise<void> {
  if (t.instance) {
    const rows = await db.query<{ study_instance_uid: string; series_instance_uid: string }>(
      'SELECT study_instance_uid, series_instance_uid FROM instance WHERE sop_instance_uid = $1',
      [t.instance],
    );
    const r = rows[0];
    if (!r) throw new WadoError(404, 'instance not found');
    if (r.study_instance_uid !== t.study || r.series_instance_uid !== t.series) {
      throw new WadoError(404, 'instance not found in this study and series (it is stored under another one)');
    }
    return;
  }
  if (t.series) {
    const rows = await db.query<{ study_instance_uid: string }>('SELECT study_instance_uid FROM series WHERE series_instance_uid = $1', [t.series]);
    const r = rows[0];
    if (!r) throw new WadoError(404, 'series not found');
    if (r.study_instance_uid !== t.study) throw new WadoError(404, 'series not found in this study (it belongs to another one)');
    return;
  }
  const rows = await db.query('SELECT 1 FROM study WHERE study_instance_uid = $1', [t.study]);
  if (!rows[0]) throw new WadoError(404, 'study not found');
}

function whereClause(t: Target): { sql: string; params: string[] } {
  const params = [t.study];
  let sql = 'study_instance_uid = $1';
  if (t.series) {
    params.push(t.series);
    sql += ` AND series_instance_uid = $${params.length}`;
  }
  if (t.instance) {
    params.push(t.instance);
    sql += ` AND sop_instance_uid = $${params.length}`;
  }
  return { sql, params };
}

export async function listInstances(db: Db, t: Target): Promise<InstanceRow[]> {
  await resolve(db, t);
  const w = whereClause(t);
  const rows = await db.query<InstanceRow>(
    `SELECT sop_instance_uid, series_instance_uid, study_instance_uid, transfer_syntax_uid, storage_path, size_bytes
     FROM instance WHERE ${w.sql}
     ORDER BY series_instance_uid, instance_number NULLS LAST, sop_instance_uid`,
    w.params,
  );
  if (rows.length === 0) throw new WadoError(404, 'no instances found');
  return rows;
}

export async function readStored(ctx: NodeContext, row: InstanceRow): Promise<Uint8Array> {
  try {
    return await fsp.readFile(ctx.archive.files.absolute(row.storage_path));
  } catch (err) {
    ctx.log.error({ err: errInfo(err), SOPInstanceUID: row.sop_instance_uid }, 'stored file unreadable');
    throw new WadoError(500, 'the stored file of this instance cannot be read');
  }
}

// ---------------------------------------------------------------- retrieve

/** Whether an instance stored in `stored` can go out in `asked` ('*' = as stored). */
function producible(asked: string, stored: string, transcoder: Transcoder | undefined): boolean {
  if (asked === '*' || asked === stored) return true;
  return asked === EXPLICIT_VR_LE && transcoder !== undefined && transcoder.canTranscode(stored);
}

function cannotProduce(options: InstanceOption[], storedSyntaxes: string[], transcoder: Transcoder | undefined): string {
  const asked = [...new Set(options.map((o) => o.transferSyntax))].join(', ');
  const stored = [...new Set(storedSyntaxes)].join(', ');
  const why =
    options.some((o) => o.transferSyntax === EXPLICIT_VR_LE) && !transcoder
      ? 'transcoding to Explicit VR Little Endian is not available yet'
      : 'carpus does not transcode to the asked transfer syntax';
  return (
    `the instance${storedSyntaxes.length > 1 ? 's are' : ' is'} stored in transfer syntax ${stored} and cannot be sent in ${asked} ` +
    `(the default when Accept names none is Explicit VR Little Endian ${EXPLICIT_VR_LE}): ${why}; ` +
    'ask with Accept: multipart/related; type="application/dicom"; transfer-syntax=* to retrieve the stored bytes unchanged'
  );
}

/**
 * Study, series and instance retrieval. Per instance the first acceptable
 * representation that can be produced is used. In a multi-instance response
 * where only some instances can be produced in an acceptable transfer syntax,
 * carpus answers 206 Partial Content with those it can, and a Warning header
 * saying how many were left out (PS3.18 10.4.3); when none can, 406.
 */
async function retrieve(ctx: NodeContext, req: FastifyRequest, reply: FastifyReply, t: Target): Promise<FastifyReply> {
  const options = instanceOptions(req.headers.accept);
  const rows = await listInstances(ctx.db, t);
  const needsTranscoder = rows.some((r) => options.some((o) => o.transferSyntax === EXPLICIT_VR_LE && r.transfer_syntax_uid !== EXPLICIT_VR_LE));
  const transcoder = needsTranscoder ? await loadTranscoder() : undefined;
  const plans = rows.map((row) => ({ row, option: options.find((o) => producible(o.transferSyntax, row.transfer_syntax_uid, transcoder)) }));
  const sendable = plans.filter((p): p is { row: InstanceRow; option: InstanceOption } => p.option !== undefined);
  if (sendable.length === 0) throw new WadoError(406, cannotProduce(options, rows.map((r) => r.transfer_syntax_uid), transcoder));

  const outSyntax = (p: { row: InstanceRow; option: InstanceOption }) => (p.option.transferSyntax === '*' ? p.row.transfer_syntax_uid : p.option.transferSyntax);
  const body = async (p: { row: InstanceRow; option: InstanceOption }): Promise<{ body: AsyncIterable<Uint8Array> | Uint8Array; length?: number }> => {
    if (outSyntax(p) === p.row.transfer_syntax_uid) {
      // Opened here, so that a missing file is an error before its part starts.
      let fh: fsp.FileHandle;
      try {
        fh = await fsp.open(ctx.archive.files.absolute(p.row.storage_path), 'r');
      } catch (err) {
        ctx.log.error({ err: errInfo(err), SOPInstanceUID: p.row.sop_instance_uid }, 'stored file unreadable');
        throw new WadoError(500, 'the stored file of this instance cannot be read');
      }
      return { body: fh.createReadStream({ highWaterMark: 1024 * 1024 }), length: Number(p.row.size_bytes) };
    }
    const stored = await readStored(ctx, p.row);
    try {
      const out = await transcoder!.toExplicitVrLittleEndian(stored);
      return { body: out, length: out.length };
    } catch (err) {
      throw new WadoError(406, `transcoding from ${p.row.transfer_syntax_uid} to Explicit VR Little Endian failed (${errInfo(err).message}); transfer-syntax=* retrieves the stored bytes`);
    }
  };

  // A single instance asked for as a bare application/dicom body.
  if (t.instance && sendable[0]!.option.container === 'single') {
    const p = sendable[0]!;
    const b = await body(p);
    reply.header('content-type', `application/dicom; transfer-syntax=${outSyntax(p)}`);
    if (b.length !== undefined) reply.header('content-length', String(b.length));
    return reply.code(200).send(b.body instanceof Uint8Array ? Buffer.from(b.body.buffer, b.body.byteOffset, b.body.byteLength) : b.body);
  }

  // Instance level: produce (and transcode) before the status line goes out, so a failure is a clean error.
  const first = t.instance ? await body(sendable[0]!) : undefined;
  const boundary = randomBoundary();
  async function* parts(): AsyncGenerator<OutgoingPart> {
    for (const p of sendable) {
      let b: { body: AsyncIterable<Uint8Array> | Uint8Array; length?: number };
      try {
        b = first ?? (await body(p));
      } catch (err) {
        // Headers are gone: the only honest signal left is to break the stream (no closing delimiter).
        ctx.log.error({ err: errInfo(err), SOPInstanceUID: p.row.sop_instance_uid }, 'WADO-RS retrieve aborted mid-stream');
        throw err;
      }
      yield { contentType: `application/dicom; transfer-syntax=${outSyntax(p)}`, body: b.body, ...(b.length !== undefined ? { length: b.length } : {}) };
    }
  }
  const omitted = plans.length - sendable.length;
  if (omitted > 0) {
    const stored = [...new Set(plans.filter((p) => !p.option).map((p) => p.row.transfer_syntax_uid))].join(', ');
    reply.header(
      'warning',
      `299 carpus "${omitted} of ${plans.length} instances were left out: stored in ${stored}, which cannot be sent in the asked transfer syntax; transfer-syntax=* retrieves the stored bytes"`,
    );
  }
  reply.header('content-type', multipartContentType('application/dicom', boundary));
  return reply.code(omitted > 0 ? 206 : 200).send(multipartStream(boundary, parts()));
}

// ---------------------------------------------------------------- metadata

/** Study, series and instance metadata: a DICOM JSON array, streamed page by page from the index. */
async function metadata(ctx: NodeContext, req: FastifyRequest, reply: FastifyReply, t: Target): Promise<FastifyReply> {
  checkMetadataAccept(req.headers.accept);
  await resolve(ctx.db, t);
  const base = dicomwebBase(req, ctx.config);
  const w = whereClause(t);
  const db = ctx.db;
  const log = ctx.log;
  async function* generate(): AsyncGenerator<string> {
    yield '[';
    let last: [string, string] | undefined;
    let n = 0;
    try {
      for (;;) {
        const params: unknown[] = [...w.params];
        let after = '';
        if (last) {
          params.push(last[0], last[1]);
          after = ` AND (series_instance_uid, sop_instance_uid) > ($${params.length - 1}, $${params.length})`;
        }
        params.push(METADATA_PAGE);
        const rows = await db.query<{ sop_instance_uid: string; series_instance_uid: string; study_instance_uid: string; metadata: DicomJson | string }>(
          `SELECT sop_instance_uid, series_instance_uid, study_instance_uid, metadata FROM instance
           WHERE ${w.sql}${after} ORDER BY series_instance_uid, sop_instance_uid LIMIT $${params.length}`,
          params,
        );
        for (const r of rows) {
          const ds = typeof r.metadata === 'string' ? (JSON.parse(r.metadata) as DicomJson) : r.metadata;
          const abs = absolutizeBulk(ds, instanceUrl(base, r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid));
          yield (n++ ? ',' : '') + JSON.stringify(abs);
        }
        if (rows.length < METADATA_PAGE) break;
        const l = rows[rows.length - 1]!;
        last = [l.series_instance_uid, l.sop_instance_uid];
      }
    } catch (err) {
      log.error({ err: errInfo(err) }, 'WADO-RS metadata aborted mid-stream');
      throw err;
    }
    yield ']';
  }
  reply.header('content-type', 'application/dicom+json');
  return reply.code(200).send(Readable.from(generate()));
}

// ---------------------------------------------------------------- bulk data and frames

interface FramePart {
  contentType: string;
  bytes: Uint8Array;
}

function sendParts(reply: FastifyReply, option: BulkOption, parts: FramePart[], what: string): FastifyReply {
  if (option.container === 'single') {
    if (parts.length !== 1) {
      throw new WadoError(406, `${what} has ${parts.length} parts; a bare application/octet-stream holds one: ask multipart/related; type="application/octet-stream"`);
    }
    const p = parts[0]!;
    reply.header('content-type', p.contentType);
    return reply.code(200).send(Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength));
  }
  const boundary = randomBoundary();
  const types = new Set(parts.map((p) => p.contentType.split(';')[0]!));
  const partType = types.size === 1 ? [...types][0]! : 'application/octet-stream';
  reply.header('content-type', multipartContentType(partType, boundary));
  return reply.code(200).send(multipartStream(boundary, parts.map((p) => ({ contentType: p.contentType, body: p.bytes, length: p.bytes.length }))));
}

/** Which representation of (possibly compressed) pixel frames to produce, or a 406 explaining why none. */
async function pickFrameOption(options: BulkOption[], stored: string, encapsulated: boolean): Promise<{ option: BulkOption; decode: boolean }> {
  const compressedType = mediaTypeForSyntax(stored);
  for (const o of options) {
    if (o.transferSyntax && o.transferSyntax !== stored) continue;
    if (o.form === 'stored') return { option: o, decode: false };
    if (o.form === 'uncompressed') {
      if (!encapsulated) return { option: o, decode: false };
      if (await canDecode(stored)) return { option: o, decode: true };
      continue;
    }
    if (encapsulated && o.form === compressedType) return { option: o, decode: false };
  }
  if (encapsulated) {
    throw new WadoError(
      406,
      `the pixel data is stored compressed in transfer syntax ${stored} and cannot be decompressed here; ` +
        `ask multipart/related; type="${compressedType}" (or type="application/octet-stream"; transfer-syntax=*) for the compressed frames as stored`,
    );
  }
  throw new WadoError(406, `the pixel data is stored uncompressed (${stored}); ask multipart/related; type="application/octet-stream"`);
}

async function framesOf(
  ctx: NodeContext,
  row: InstanceRow,
  bytes: Uint8Array,
  numbers: number[] | 'all',
  options: BulkOption[],
): Promise<{ option: BulkOption; parts: FramePart[] }> {
  const inst = openInstance(bytes);
  const g = pixelGeometry(inst);
  const list = numbers === 'all' ? Array.from({ length: g.numberOfFrames }, (_, i) => i + 1) : numbers;
  checkFrameNumbers(g, list);
  const { option, decode } = await pickFrameOption(options, inst.ts, g.encapsulated);
  if (!g.encapsulated) {
    const ct = `application/octet-stream; transfer-syntax=${EXPLICIT_VR_LE}`;
    return { option, parts: list.map((n) => ({ contentType: ct, bytes: nativeFrame(inst, g, n) })) };
  }
  if (!decode) {
    const type = option.form === 'stored' && option.container === 'single' ? 'application/octet-stream' : mediaTypeForSyntax(inst.ts);
    return { option, parts: list.map((n) => ({ contentType: `${type}; transfer-syntax=${inst.ts}`, bytes: compressedFrame(inst, g, n) })) };
  }
  ctx.log.debug({ SOPInstanceUID: row.sop_instance_uid, frames: list.length }, 'decompressing frames for WADO-RS');
  const decoded = await decodeFrames(bytes, list);
  const ct = `application/octet-stream; transfer-syntax=${EXPLICIT_VR_LE}`;
  return { option, parts: decoded.frames.map((f) => ({ contentType: ct, bytes: f })) };
}

/**
 * Frames (PS3.18 10.4.1.1.7): native frames cut from the stored Pixel Data
 * (little endian, planar configuration as stored); compressed ones decoded by
 * the pixel module, or sent as stored when the client takes their media type.
 */
async function frames(ctx: NodeContext, req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, t: Target): Promise<FastifyReply> {
  const raw = req.params.frames ?? '';
  if (!/^\s*\d+\s*(,\s*\d+\s*)*$/.test(raw)) throw new WadoError(400, 'frame list must be comma-separated frame numbers, e.g. frames/1,3');
  const numbers = raw.split(',').map((s) => Number(s.trim()));
  if (numbers.some((n) => !Number.isSafeInteger(n) || n < 1)) throw new WadoError(400, 'frame numbers start at 1');
  if (numbers.length > MAX_FRAMES_PER_REQUEST) throw new WadoError(400, `at most ${MAX_FRAMES_PER_REQUEST} frames per request`);
  const options = bulkOptions(req.headers.accept);
  const [row] = await listInstances(ctx.db, t);
  const bytes = await readStored(ctx, row!);
  const { option, parts } = await framesOf(ctx, row!, bytes, numbers, options);
  return sendParts(reply, option, parts, 'the frame list');
}

/**
 * Bulk data (PS3.18 10.4.1.1.5) at the BulkDataURIs carpus puts in metadata.
 * A native value goes out as one little-endian application/octet-stream part.
 * Encapsulated Pixel Data goes out decompressed (all frames in one part) when
 * the pixel module can decode it, else as its compressed frames (one part per
 * frame) when the client accepts their media type or transfer-syntax=*, else 406.
 */
async function bulkdata(ctx: NodeContext, req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, t: Target): Promise<FastifyReply> {
  const path = parseBulkPath(req.params['*'] ?? '');
  const options = bulkOptions(req.headers.accept);
  const [row] = await listInstances(ctx.db, t);
  const bytes = await readStored(ctx, row!);
  const inst = openInstance(bytes);
  const { element, ds, tag } = findElement(inst, path);
  const isPixel = path.tags.length === 1 && tag === '7FE00010';
  if (!isPixel && element.encapsulatedPixelData) {
    throw new WadoError(406, 'compressed pixel data inside a sequence item (e.g. an icon image) is not offered as bulk data');
  }
  if (isPixel && element.encapsulatedPixelData) {
    const { option, parts } = await framesOf(ctx, row!, bytes, 'all', options);
    if (option.form === 'uncompressed') {
      // Decompressed Pixel Data: one value, the frames one after the other.
      const all = Buffer.concat(parts.map((p) => p.bytes));
      return sendParts(reply, option, [{ contentType: parts[0]!.contentType, bytes: all }], 'the bulk data');
    }
    return sendParts(reply, option, parts, 'the compressed Pixel Data');
  }
  if (element.hadUndefinedLength && element.items) throw new WadoError(400, 'this path names a sequence, not a bulk data value');
  const option = options.find((o) => o.form === 'uncompressed' || o.form === 'stored');
  if (!option) throw new WadoError(406, 'this bulk data value is uncompressed: ask multipart/related; type="application/octet-stream"');
  if (option.transferSyntax && option.transferSyntax !== inst.ts && !NATIVE_SYNTAXES.has(option.transferSyntax)) {
    throw new WadoError(406, `bulk data cannot be sent in transfer syntax ${option.transferSyntax}`);
  }
  const value = elementValue(inst, ds, element, tag);
  return sendParts(reply, option, [{ contentType: `application/octet-stream; transfer-syntax=${EXPLICIT_VR_LE}`, bytes: value }], 'the bulk data');
}
