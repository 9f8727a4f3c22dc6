import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NodeContext } from '../context.ts';
import { FailureReason, errInfo, type StoreOutcome } from '../store/archive.ts';
import { T } from '../dicom/dictionary.ts';
import type { DicomJson } from '../dicom/json.ts';
import { MultipartError, readMultipart } from './multipart.ts';
import { parseContentType } from './media.ts';
import { problem } from './errors.ts';
import { dicomwebBase, instanceUrl, studyUrl } from './urls.ts';
import { isUsableUid } from '../dicom/part10.ts';

/** Private block for a human-readable failure detail in FailedSOPSequence items. */
const PRIVATE_CREATOR = { tag: '00090010', value: 'CARPUS' };
const PRIVATE_DETAIL = '00091001';

/** STOW-RS (PS3.18 10.5): POST /dicom-web/studies[/{StudyInstanceUID}] with multipart/related; type="application/dicom". */
export function registerStow(app: FastifyInstance, ctx: NodeContext): void {
  const handler = async (req: FastifyRequest<{ Params: { study?: string } }>, reply: FastifyReply) => {
    const expected = req.params.study;
    if (expected !== undefined && !isUsableUid(expected)) return problem(reply, 400, 'StudyInstanceUID in the URL is not a valid UID');
    const ct = parseContentType(req.headers['content-type']);
    if (!ct) return problem(reply, 415, 'Content-Type missing or malformed; STOW-RS takes multipart/related; type="application/dicom"');
    if (ct.type !== 'multipart/related') {
      return problem(reply, 415, `media type ${ct.type} is not accepted; STOW-RS takes multipart/related; type="application/dicom"`);
    }
    const partType = ct.parameters.type?.toLowerCase();
    if (partType && partType !== 'application/dicom') {
      return problem(reply, 415, `multipart/related type="${partType}" is not accepted; send Part 10 instances as type="application/dicom"`);
    }
    const boundary = ct.parameters.boundary;
    if (!boundary) return problem(reply, 400, 'multipart/related Content-Type has no boundary parameter');

    const batch = ctx.archive.batch({
      expectedStudyInstanceUID: expected,
      receivedFrom: req.principal?.name,
      maxBytes: ctx.config.maxInstanceBytes,
    });
    let streamError: string | undefined;
    try {
      for await (const part of readMultipart(req.raw, boundary)) {
        const pct = parseContentType(part.headers.get('content-type') ?? 'application/dicom');
        if (!pct || pct.type !== 'application/dicom') {
          batch.push({
            status: 'failed',
            failureReason: FailureReason.CannotUnderstand,
            message: `part media type ${pct?.type ?? 'malformed'} is not application/dicom`,
          });
          continue;
        }
        await batch.add(part.body);
      }
    } catch (err) {
      // Complete parts received before the failure are still indexed (or their temp files removed).
      const outcomes = await batch.finish();
      if (!(err instanceof MultipartError) && (req.raw.readableAborted || (err as NodeJS.ErrnoException).code === 'ECONNRESET')) {
        req.log.warn({ stored: outcomes.length }, 'STOW request aborted by the client');
        return reply.code(400).send();
      }
      if (!(err instanceof MultipartError)) {
        req.log.error({ err: errInfo(err) }, 'STOW failed');
        throw err;
      }
      streamError = err.message;
    }
    const outcomes: StoreOutcome[] = await batch.finish();

    if (streamError !== undefined) {
      if (outcomes.length === 0) return problem(reply, 400, `malformed multipart body: ${streamError}`);
      outcomes.push({ status: 'failed', failureReason: FailureReason.CannotUnderstand, message: `malformed multipart body: ${streamError}` });
    }
    if (outcomes.length === 0) return problem(reply, 400, 'the multipart body contains no parts');

    const base = dicomwebBase(req, ctx.config);
    const stored = outcomes.filter((o) => o.status !== 'failed');
    const failed = outcomes.filter((o) => o.status === 'failed');
    const status = failed.length === 0 ? 200 : stored.length > 0 ? 202 : 409;
    const body: DicomJson = {};
    const studies = new Set(stored.map((o) => o.StudyInstanceUID));
    body[T.RetrieveURL] = studies.size === 1 ? { vr: 'UR', Value: [studyUrl(base, [...studies][0]!)] } : { vr: 'UR' };
    if (failed.length) {
      body[T.FailedSOPSequence] = {
        vr: 'SQ',
        Value: failed.map((o) => ({
          [T.ReferencedSOPClassUID]: uid(o.SOPClassUID),
          [T.ReferencedSOPInstanceUID]: uid(o.SOPInstanceUID),
          [T.FailureReason]: { vr: 'US', Value: [o.failureReason] },
          [PRIVATE_CREATOR.tag]: { vr: 'LO', Value: [PRIVATE_CREATOR.value] },
          [PRIVATE_DETAIL]: { vr: 'LT', Value: [o.message] },
        })),
      };
    }
    if (stored.length) {
      body[T.ReferencedSOPSequence] = {
        vr: 'SQ',
        Value: stored.map((o) => ({
          [T.ReferencedSOPClassUID]: uid(o.SOPClassUID),
          [T.ReferencedSOPInstanceUID]: uid(o.SOPInstanceUID),
          [T.RetrieveURL]: { vr: 'UR', Value: [instanceUrl(base, o.StudyInstanceUID, o.SeriesInstanceUID, o.SOPInstanceUID)] },
        })),
      };
    }
    req.log.info(
      {
        stored: stored.filter((o) => o.status === 'stored').length,
        duplicates: stored.filter((o) => o.status === 'duplicate').length,
        failed: failed.map((o) => ({ reason: `0x${o.failureReason.toString(16).toUpperCase().padStart(4, '0')}`, message: o.message })),
      },
      'STOW-RS',
    );
    return reply.code(status).type('application/dicom+json').send(JSON.stringify(body));
  };

  const config = { role: 'store' as const };
  app.post('/dicom-web/studies', { config }, handler);
  app.post('/dicom-web/studies/:study', { config }, handler);
}

function uid(v: string | undefined): { vr: string; Value?: string[] } {
  return v ? { vr: 'UI', Value: [v] } : { vr: 'UI' };
}
