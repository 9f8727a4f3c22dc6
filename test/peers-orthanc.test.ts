/**
 * Orthanc (Debian `orthanc` 1.10 + `orthanc-dicomweb` 1.7) as a real DICOMweb peer of carpus:
 * Orthanc STOWs into carpus through its DicomWeb `Servers` entry, and Orthanc retrieves
 * studies from carpus through /dicom-web/servers/carpus/retrieve (its own WADO-RS client).
 * Bytes must survive both ways unchanged (SHA-256 of every file).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDicomFiles, startTestNode, type TestNode } from './helpers/node.ts';
import { orthancAvailable, startOrthanc, type OrthancPeer } from './helpers/orthanc.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// CI installs Orthanc (.ci/run) and must never skip these; elsewhere they need `apt-get install orthanc orthanc-dicomweb`.
const skip = !orthancAvailable() && process.env.CI !== 'true';

interface OrthancInstance {
  ID: string;
  ParentSeries: string;
  MainDicomTags: { SOPInstanceUID: string };
}

/** Uploads files to Orthanc; returns, per Orthanc instance, the file Orthanc kept (the first one with those UIDs). */
async function uploadAll(orthanc: OrthancPeer, files: string[]) {
  const kept = new Map<string, { file: string; sha: string }>();
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    const id = await orthanc.upload(bytes);
    if (!kept.has(id)) kept.set(id, { file, sha: sha256(bytes) });
  }
  return kept;
}

async function instanceInfo(orthanc: OrthancPeer, id: string) {
  const info = await orthanc.getJson<OrthancInstance>(`/instances/${id}`);
  const tags = await orthanc.getJson<Record<string, string>>(`/instances/${id}/simplified-tags`);
  return { sop: info.MainDicomTags.SOPInstanceUID, study: tags.StudyInstanceUID!, series: tags.SeriesInstanceUID! };
}

async function orthancFileSha(orthanc: OrthancPeer, id: string) {
  const res = await orthanc.request(`/instances/${id}/file`);
  expect(res.status).toBe(200);
  return sha256(new Uint8Array(await res.arrayBuffer()));
}

describe.skipIf(skip)('Orthanc as a DICOMweb peer', () => {
  let carpus: TestNode;
  let orthanc: OrthancPeer;
  /** Orthanc instance id → the shared file it holds and its SHA-256. */
  let kept: Map<string, { file: string; sha: string }>;
  /** SOPInstanceUID → { sha, study } of what Orthanc sent to carpus. */
  const sent = new Map<string, { sha: string; study: string; file: string }>();

  beforeAll(async () => {
    carpus = await startTestNode();
    orthanc = await startOrthanc({ servers: { carpus: `${carpus.dicomweb}/` } });
    kept = await uploadAll(orthanc, sharedDicomFiles());
    for (const [id, k] of kept) {
      const info = await instanceInfo(orthanc, id);
      sent.set(info.sop, { sha: k.sha, study: info.study, file: k.file });
    }
  });

  afterAll(async () => {
    await orthanc?.stop();
    await carpus?.stop();
  });

  it('holds the shared files unchanged before sending them (precondition)', async () => {
    expect(kept.size).toBeGreaterThan(10);
    for (const [id, k] of kept) expect(await orthancFileSha(orthanc, id), path.basename(k.file)).toBe(k.sha);
  });

  it('STOWs every instance into carpus through its DicomWeb server entry, byte for byte', async () => {
    const ids = [...kept.keys()];
    const res = await orthanc.request('/dicom-web/servers/carpus/stow', {
      method: 'POST',
      body: JSON.stringify({ Resources: ids }),
    });
    const text = await res.text();
    expect(res.status, `${text}\n${orthanc.logTail()}`).toBe(200);

    const rows = await carpus.node.ctx.db.query<{ sop_instance_uid: string; sha256: string; storage_path: string }>(
      'SELECT sop_instance_uid, sha256, storage_path FROM instance',
    );
    expect(rows.length).toBe(sent.size);
    for (const row of rows) {
      const want = sent.get(row.sop_instance_uid);
      expect(want, row.sop_instance_uid).toBeDefined();
      const onDisk = sha256(fs.readFileSync(path.join(carpus.dataDir, row.storage_path)));
      expect(onDisk, path.basename(want!.file)).toBe(want!.sha);
      expect(row.sha256).toBe(want!.sha);
    }
  });

  it('re-sending the same instances succeeds without duplicates', async () => {
    const ids = [...kept.keys()].slice(0, 3);
    const before = await carpus.node.ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM instance');
    const res = await orthanc.request('/dicom-web/servers/carpus/stow', { method: 'POST', body: JSON.stringify({ Resources: ids }) });
    expect(res.status, await res.text()).toBe(200);
    const after = await carpus.node.ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM instance');
    expect(after[0]!.n).toBe(before[0]!.n);
  });

  it('Orthanc retrieves every study from carpus (WADO-RS) and holds the same bytes', async () => {
    // A second, empty Orthanc pulls from carpus what the first one pushed.
    const puller = await startOrthanc({ servers: { carpus: `${carpus.dicomweb}/` } });
    try {
      const studies = [...new Set([...sent.values()].map((s) => s.study))];
      for (const study of studies) {
        const res = await puller.request('/dicom-web/servers/carpus/retrieve', {
          method: 'POST',
          body: JSON.stringify({ Resources: [{ Study: study }] }),
        });
        const text = await res.text();
        expect(res.status, `retrieve ${study}: ${text}\n${puller.logTail()}`).toBe(200);
      }
      const ids = await puller.getJson<string[]>('/instances');
      expect(ids.length).toBe(sent.size);
      for (const id of ids) {
        const info = await instanceInfo(puller, id);
        const want = sent.get(info.sop);
        expect(want, info.sop).toBeDefined();
        expect(await orthancFileSha(puller, id), path.basename(want!.file)).toBe(want!.sha);
      }
    } finally {
      await puller.stop();
    }
  });
});
