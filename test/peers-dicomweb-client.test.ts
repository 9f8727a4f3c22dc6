/**
 * dicomweb-client (the DICOMweb library OHIF uses) against carpus: stores every file of
 * ../shared/data/dicom, finds it again with QIDO-RS, retrieves every instance with the
 * stored bytes unchanged, and retrieves metadata.
 *
 * Several shared files are the same instance (same SOPInstanceUID) in different transfer
 * syntaxes. An archive keeps one object per SOPInstanceUID (carpus refuses different bytes
 * under a known UID), so the files are split into rounds in which every UID occurs once,
 * and each round runs against a fresh node.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installXMLHttpRequest } from './helpers/xhr.ts';
import { createDicomwebClient } from './helpers/dicomweb-client.ts';
import { sharedDicomFiles, startTestNode, type TestNode } from './helpers/node.ts';
import { parseInstance } from '../src/dicom/part10.ts';

installXMLHttpRequest();

type Json = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }>;
const value = (ds: Json, tag: string) => ds[tag]?.Value?.[0] as string | number | undefined;

interface SharedFile {
  file: string;
  name: string;
  bytes: Buffer;
  sha: string;
  study: string;
  series: string;
  sop: string;
  sopClass: string;
  transferSyntax: string;
}

const files: SharedFile[] = sharedDicomFiles().map((file) => {
  const bytes = fs.readFileSync(file);
  const p = parseInstance(bytes);
  return {
    file,
    name: path.relative(path.resolve(file, '../..'), file),
    bytes,
    sha: createHash('sha256').update(bytes).digest('hex'),
    study: p.StudyInstanceUID,
    series: p.SeriesInstanceUID,
    sop: p.SOPInstanceUID,
    sopClass: p.SOPClassUID,
    transferSyntax: p.TransferSyntaxUID,
  };
});

/** Rounds of files in which each SOPInstanceUID occurs at most once. */
const rounds: SharedFile[][] = [];
for (const f of files) {
  const round = rounds.find((r) => !r.some((g) => g.sop === f.sop));
  if (round) round.push(f);
  else rounds.push([f]);
}

/**
 * dicomweb-client 0.11.3 rejects every explicit `mediaTypes` in retrieveInstance ("Media type
 * application/ is not supported": its common-type check compares "application/" with
 * "application/dicom"), so it can only ask for the default transfer syntax. The stored bytes
 * unchanged need `transfer-syntax=*`: a request hook (the client's own extension point, the
 * one OHIF uses for auth headers) adds it to the Accept header of instance retrievals.
 */
const anyTransferSyntax = (xhr: { setRequestHeader(k: string, v: string): void }, meta: { headers: Record<string, string> }) => {
  const accept = meta.headers.Accept;
  if (accept?.startsWith('multipart/related; type="application/dicom"') && !accept.includes('transfer-syntax')) {
    xhr.setRequestHeader('Accept', `${accept}; transfer-syntax=*`);
  }
  return xhr;
};

describe('dicomweb-client against carpus', () => {
  it('covers every shared file', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(rounds.flat().length).toBe(files.length);
  });

  for (const [i, round] of rounds.entries()) {
    describe(`round ${i + 1} of ${rounds.length} (${round.length} file${round.length > 1 ? 's' : ''})`, () => {
      let node: TestNode;
      let client: ReturnType<typeof createDicomwebClient>;
      let rawClient: ReturnType<typeof createDicomwebClient>;
      const studies = [...new Set(round.map((f) => f.study))];

      beforeAll(async () => {
        node = await startTestNode();
        rawClient = createDicomwebClient(node.dicomweb);
        client = createDicomwebClient(node.dicomweb);
        (client as unknown as { requestHooks: unknown[] }).requestHooks = [anyTransferSyntax];
      });
      afterAll(async () => {
        await node?.stop();
      });

      it('stores every file with storeInstances (one STOW-RS request)', async () => {
        const datasets = round.map((f) => f.bytes.buffer.slice(f.bytes.byteOffset, f.bytes.byteOffset + f.bytes.byteLength));
        const response = await client.storeInstances({ datasets } as Parameters<typeof client.storeInstances>[0]);
        const body = (typeof response === 'string' ? JSON.parse(response) : response) as Json;
        expect(body['00081198'], JSON.stringify(body)).toBeUndefined();
        const referenced = (body['00081199']?.Value ?? []) as Json[];
        expect(referenced.map((r) => value(r, '00081155')).sort()).toEqual(round.map((f) => f.sop).sort());
      });

      it('finds the studies, series and instances with searchForStudies/Series/Instances', async () => {
        const found = (await client.searchForStudies()) as Json[];
        expect(found.map((s) => value(s, '0020000D')).sort()).toEqual([...studies].sort());
        for (const study of studies) {
          const inStudy = round.filter((f) => f.study === study);
          const [s] = (await client.searchForStudies({ queryParams: { StudyInstanceUID: study } })) as Json[];
          expect(value(s!, '00201208')).toBe(inStudy.length); // NumberOfStudyRelatedInstances

          const series = (await client.searchForSeries({ studyInstanceUID: study })) as Json[];
          expect(series.map((x) => value(x, '0020000E')).sort()).toEqual([...new Set(inStudy.map((f) => f.series))].sort());
          for (const se of series) {
            const seriesUid = value(se, '0020000E') as string;
            const instances = (await client.searchForInstances({ studyInstanceUID: study, seriesInstanceUID: seriesUid })) as Json[];
            const want = inStudy.filter((f) => f.series === seriesUid);
            expect(instances.map((x) => value(x, '00080018')).sort()).toEqual(want.map((f) => f.sop).sort());
            for (const x of instances) {
              const f = want.find((w) => w.sop === value(x, '00080018'))!;
              expect(value(x, '00080016')).toBe(f.sopClass);
            }
          }
        }
      });

      it('retrieves every instance with the stored bytes unchanged (retrieveInstance, transfer-syntax=*)', async () => {
        for (const f of round) {
          const got = (await client.retrieveInstance({
            studyInstanceUID: f.study,
            seriesInstanceUID: f.series,
            sopInstanceUID: f.sop,
          })) as ArrayBuffer;
          const bytes = Buffer.from(got);
          expect(bytes.length, f.name).toBe(f.bytes.length);
          expect(createHash('sha256').update(bytes).digest('hex'), f.name).toBe(f.sha);
        }
      });

      it('retrieves instances stored in Explicit VR Little Endian with the default Accept unchanged', async () => {
        for (const f of round.filter((x) => x.transferSyntax === '1.2.840.10008.1.2.1')) {
          const got = (await rawClient.retrieveInstance({ studyInstanceUID: f.study, seriesInstanceUID: f.series, sopInstanceUID: f.sop })) as ArrayBuffer;
          expect(Buffer.from(got).equals(f.bytes), f.name).toBe(true);
        }
      });

      it('retrieves study and instance metadata (DICOM JSON, pixel data as BulkDataURI)', async () => {
        for (const study of studies) {
          const inStudy = round.filter((f) => f.study === study);
          const md = (await client.retrieveStudyMetadata({ studyInstanceUID: study })) as Json[];
          expect(md.map((m) => value(m, '00080018')).sort()).toEqual(inStudy.map((f) => f.sop).sort());
        }
        for (const f of round) {
          const [md] = (await client.retrieveInstanceMetadata({
            studyInstanceUID: f.study,
            seriesInstanceUID: f.series,
            sopInstanceUID: f.sop,
          })) as Json[];
          expect(value(md!, '00080018'), f.name).toBe(f.sop);
          expect(value(md!, '0020000D'), f.name).toBe(f.study);
          expect(value(md!, '00080016'), f.name).toBe(f.sopClass);
          const pixels = md!['7FE00010'];
          if (pixels) {
            expect(pixels.BulkDataURI, f.name).toBeTruthy();
            expect(pixels.InlineBinary, f.name).toBeUndefined();
          }
        }
      });
    });
  }
});
