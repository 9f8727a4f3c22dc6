import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dcmodify } from './helpers/dicom.ts';
import { startTestNode, stow, multipartBody, DICOM_DIR, type TestNode } from './helpers/node.ts';
import { parseInstance } from '../src/dicom/part10.ts';

const CT = path.join(DICOM_DIR, 'ts-matrix-ct/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm');
/** The same CT, JPEG-LS lossless: a part under the small-body size of FileStore.writeTemp. */
const CT_JLS = path.join(DICOM_DIR, 'ts-matrix-ct/CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm');
const CHEST = path.join(DICOM_DIR, 'cr-misc/gdcm-CR-MONO1-10-chest.dcm');
const RG3_RLE = path.join(DICOM_DIR, 'cr-wg04/RG3_RLE.dcm');

/** A copy of a file with some attributes replaced. */
function variant(file: string, changes: Record<string, string | undefined>): Buffer {
  const set: Record<string, string> = {};
  const erase: string[] = [];
  for (const [tag, value] of Object.entries(changes)) {
    const t = `(${tag.slice(0, 4)},${tag.slice(4)})`;
    if (value === undefined) erase.push(t);
    else set[t] = value;
  }
  return dcmodify(file, { set, erase });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function count(node: TestNode, table: string): Promise<number> {
  const rows = await node.node.ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0]!.n;
}

function failures(json: Record<string, any> | undefined): { sop?: string; reason: number; detail: string }[] {
  return (json?.['00081198']?.Value ?? []).map((i: any) => ({
    sop: i['00081155']?.Value?.[0],
    reason: i['00081197'].Value[0],
    detail: i['00091001']?.Value?.[0],
  }));
}
function referenced(json: Record<string, any> | undefined): string[] {
  return (json?.['00081199']?.Value ?? []).map((i: any) => i['00081155'].Value[0]);
}

describe('STOW-RS', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('stores instances byte for byte and answers 200 with ReferencedSOPSequence', async () => {
    const r = await stow(node.dicomweb, [CT, CHEST]);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/dicom\+json/);
    expect(referenced(r.json).sort()).toEqual(
      ['1.2.840.113619.2.30.1.1762295590.1623.978668950.109', '1.2.392.200036.9125.0.19950720112207'].sort(),
    );
    expect(r.json?.['00081198']).toBeUndefined();
    const rows = await node.node.ctx.db.query<{ sha256: string; storage_path: string; sop_instance_uid: string }>(
      'SELECT sha256, storage_path, sop_instance_uid FROM instance ORDER BY sop_instance_uid',
    );
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      const onDisk = fs.readFileSync(path.join(node.dataDir, row.storage_path));
      expect(sha(onDisk)).toBe(row.sha256);
    }
    expect(rows.map((r) => r.sha256).sort()).toEqual([sha(fs.readFileSync(CT)), sha(fs.readFileSync(CHEST))].sort());
  });

  it('accepts an identical re-send without a duplicate row', async () => {
    const before = await count(node, 'instance');
    const r = await stow(node.dicomweb, [CT]);
    expect(r.status).toBe(200);
    expect(referenced(r.json)).toEqual(['1.2.840.113619.2.30.1.1762295590.1623.978668950.109']);
    expect(await count(node, 'instance')).toBe(before);
  });

  it('never overwrites a known SOPInstanceUID with different content, and records it', async () => {
    const changed = variant(CT, { '00081030': 'Different description' });
    const r = await stow(node.dicomweb, [changed]);
    expect(r.status).toBe(409);
    const f = failures(r.json);
    expect(f).toHaveLength(1);
    expect(f[0]!.reason).toBe(0x0111);
    expect(f[0]!.sop).toBe('1.2.840.113619.2.30.1.1762295590.1623.978668950.109');
    const stored = await node.node.ctx.db.query<{ sha256: string }>(
      'SELECT sha256 FROM instance WHERE sop_instance_uid = $1',
      ['1.2.840.113619.2.30.1.1762295590.1623.978668950.109'],
    );
    expect(stored[0]!.sha256).toBe(sha(fs.readFileSync(CT)));
    const conflicts = await node.node.ctx.db.query<{ received_sha256: string; quarantine_path: string }>(
      'SELECT received_sha256, quarantine_path FROM store_conflict',
    );
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]!.received_sha256).toBe(sha(changed));
    expect(sha(fs.readFileSync(path.join(node.dataDir, conflicts[0]!.quarantine_path)))).toBe(sha(changed));
  });

  it('stores the good parts of a mixed request and reports each bad one (202)', async () => {
    const noSop = variant(CT, { '00080018': undefined });
    const truncated = fs.readFileSync(RG3_RLE).subarray(0, 5000);
    const mp = multipartBody([
      fs.readFileSync(RG3_RLE),
      { contentType: 'application/dicom', body: Buffer.from('this is not DICOM at all') },
      truncated,
      noSop,
      { contentType: 'image/jpeg', body: Buffer.from([0xff, 0xd8, 0xff]) },
    ]);
    const res = await fetch(`${node.dicomweb}/studies`, {
      method: 'POST',
      headers: { 'content-type': mp.contentType },
      body: new Uint8Array(mp.body),
    });
    expect(res.status).toBe(202);
    const json = (await res.json()) as Record<string, any>;
    expect(referenced(json)).toEqual(['1.2.276.0.7230010.3.1.4.1787205428.2355.1071048148.1']);
    const f = failures(json);
    expect(f.map((x) => x.reason)).toEqual([0xc000, 0xc000, 0xa900, 0xc000]);
    expect(f[0]!.detail).toMatch(/not a DICOM Part 10 file/);
    expect(f[1]!.detail).toMatch(/truncated/);
    expect(f[2]!.detail).toMatch(/SOPInstanceUID/);
    expect(f[3]!.detail).toMatch(/image\/jpeg/);
    expect(fs.readdirSync(path.join(node.dataDir, 'tmp'))).toEqual([]);
  });

  it('rejects instances of another study than the URL names (409), keeps none of them', async () => {
    const before = await count(node, 'instance');
    const other = variant(CT, { '00080018': '1.2.826.0.1.3680043.8.498.1001' });
    const r = await stow(node.dicomweb, [other], '1.2.3.999');
    expect(r.status).toBe(409);
    expect(failures(r.json)[0]!.reason).toBe(0xc409);
    expect(await count(node, 'instance')).toBe(before);
    const ok = await stow(node.dicomweb, [other], '1.2.840.113619.2.30.1.1762295590.1623.978668949.886');
    expect(ok.status).toBe(200);
  });

  it('answers 415 for media types it does not take, 400 for malformed requests', async () => {
    const body = fs.readFileSync(CHEST);
    const post = (ct: string | undefined, b: Uint8Array<ArrayBuffer> | string = new Uint8Array(body)) =>
      fetch(`${node.dicomweb}/studies`, { method: 'POST', headers: ct ? { 'content-type': ct } : {}, body: b });
    expect((await post('application/dicom')).status).toBe(415);
    expect((await post('application/json', '{}')).status).toBe(415);
    expect((await post('multipart/related; type="application/dicom+json"; boundary=x')).status).toBe(415);
    const noBoundary = await post('multipart/related; type="application/dicom"');
    expect(noBoundary.status).toBe(400);
    expect(((await noBoundary.json()) as { message: string }).message).toMatch(/boundary/);
    const wrong = await post('multipart/related; type="application/dicom"; boundary=nothere');
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { message: string }).message).toMatch(/no multipart boundary/);
    const empty = await post('multipart/related; type="application/dicom"; boundary=b', '--b--\r\n');
    expect(empty.status).toBe(400);
  });

  it('keeps complete parts when the body ends before the closing boundary', async () => {
    const other = variant(CT, { '00080018': '1.2.826.0.1.3680043.8.498.2002' });
    const third = variant(CT, { '00080018': '1.2.826.0.1.3680043.8.498.2003' });
    const mp = multipartBody([other, third]);
    const cut = mp.body.subarray(0, mp.body.length - Math.floor(third.length / 2));
    const res = await fetch(`${node.dicomweb}/studies`, { method: 'POST', headers: { 'content-type': mp.contentType }, body: new Uint8Array(cut) });
    expect(res.status).toBe(202);
    const json = (await res.json()) as Record<string, any>;
    expect(referenced(json)).toEqual(['1.2.826.0.1.3680043.8.498.2002']);
    expect(failures(json)[0]!.detail).toMatch(/closing boundary missing/);
    const rows = await node.node.ctx.db.query('SELECT 1 FROM instance WHERE sop_instance_uid = $1', ['1.2.826.0.1.3680043.8.498.2003']);
    expect(rows).toHaveLength(0);
    expect(fs.readdirSync(path.join(node.dataDir, 'tmp'))).toEqual([]);
  });

  it('survives a client that disconnects mid-stream: nothing half-stored, node keeps serving', async () => {
    const inst = variant(CT, { '00080018': '1.2.826.0.1.3680043.8.498.3003' });
    const boundary = 'cutcutcut';
    const head = Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(node.port, '127.0.0.1', () => {
        sock.write(
          `POST /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/related; type="application/dicom"; boundary=${boundary}\r\n` +
            `Content-Length: ${head.length + inst.length + 100}\r\n\r\n`,
        );
        sock.write(head);
        sock.write(inst.subarray(0, inst.length >> 1), () => setTimeout(() => sock.destroy(), 200));
      });
      sock.on('close', () => resolve());
      sock.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    const rows = await node.node.ctx.db.query('SELECT 1 FROM instance WHERE sop_instance_uid = $1', ['1.2.826.0.1.3680043.8.498.3003']);
    expect(rows).toHaveLength(0);
    expect(fs.readdirSync(path.join(node.dataDir, 'tmp'))).toEqual([]);
    const health = await fetch(`${node.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    const again = await stow(node.dicomweb, [inst]);
    expect(again.status).toBe(200);
  });

  it('takes a request whose parts arrive in tiny chunks (boundary split across reads)', async () => {
    const inst = variant(CT, { '00080018': '1.2.826.0.1.3680043.8.498.4004' });
    const mp = multipartBody([inst]);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < mp.body.length; i += 4093) controller.enqueue(new Uint8Array(mp.body.subarray(i, i + 4093)));
        controller.close();
      },
    });
    const res = await fetch(`${node.dicomweb}/studies`, {
      method: 'POST',
      headers: { 'content-type': mp.contentType },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(200);
    const [row] = await node.node.ctx.db.query<{ sha256: string }>('SELECT sha256 FROM instance WHERE sop_instance_uid = $1', [
      '1.2.826.0.1.3680043.8.498.4004',
    ]);
    expect(row!.sha256).toBe(sha(inst));
  });

  /** 40 copies of `file` in a new study (UIDs patched in place, same length), more than one index group. */
  async function manyPartsInGroups(file: string, studyNo: number, sopBase: number): Promise<void> {
    const base = fs.readFileSync(file);
    const uids = parseInstance(base);
    const patch = (buf: Buffer, from: string, to: string) => {
      for (let i = buf.indexOf(from, 0, 'latin1'); i >= 0; i = buf.indexOf(from, i + from.length, 'latin1')) {
        const next = buf[i + from.length]!;
        if ((next >= 0x30 && next <= 0x39) || next === 0x2e) continue; // a longer UID that starts with this one
        buf.write(to, i, 'latin1');
      }
    };
    const uid = (u: string, n: number) => `${u.slice(0, -3)}${String(n).padStart(3, '0')}`;
    const copy = (n: number) => {
      const b = Buffer.from(base);
      patch(b, uids.StudyInstanceUID, uid(uids.StudyInstanceUID, studyNo));
      patch(b, uids.SeriesInstanceUID, uid(uids.SeriesInstanceUID, studyNo));
      patch(b, uids.SOPInstanceUID, uid(uids.SOPInstanceUID, n));
      return b;
    };
    const parts = Array.from({ length: 40 }, (_, n) => copy(sopBase + n));
    const changed = copy(sopBase + 1);
    changed[changed.length - 100]! ^= 0xff; // a byte of Pixel Data (before an encapsulated value's delimiter): same UIDs, other content
    const r = await stow(node.dicomweb, [...parts, copy(sopBase), changed]);
    expect(r.status).toBe(202);
    expect(referenced(r.json)).toHaveLength(41); // 40 stored + the identical re-send
    expect(failures(r.json)).toEqual([expect.objectContaining({ sop: uid(uids.SOPInstanceUID, sopBase + 1), reason: 0x0111 })]);
    const study = uid(uids.StudyInstanceUID, studyNo);
    const rows = await node.node.ctx.db.query<{ sop_instance_uid: string; sha256: string }>(
      'SELECT sop_instance_uid, sha256 FROM instance WHERE study_instance_uid = $1',
      [study],
    );
    expect(rows).toHaveLength(40);
    for (const row of rows) expect(row.sha256).toBe(sha(parts[Number(row.sop_instance_uid.slice(-3)) - sopBase]!));
    const [counts] = await node.node.ctx.db.query<{ num_instances: number; num_series: number }>(
      'SELECT num_instances, num_series FROM study WHERE study_instance_uid = $1',
      [study],
    );
    expect(counts).toEqual({ num_instances: 40, num_series: 1 });
    const conflict = await node.node.ctx.db.query<{ stored_sha256: string; received_sha256: string }>(
      'SELECT stored_sha256, received_sha256 FROM store_conflict WHERE sop_instance_uid = $1',
      [uid(uids.SOPInstanceUID, sopBase + 1)],
    );
    expect(conflict).toEqual([{ stored_sha256: sha(parts[1]!), received_sha256: sha(changed) }]);
    for (const row of rows) expect(fs.existsSync(path.join(node.dataDir, 'objects', row.sha256.slice(0, 2), `${row.sha256}.dcm`))).toBe(true);
    expect(fs.readdirSync(path.join(node.dataDir, 'tmp'))).toEqual([]);
  }

  it('indexes a request of many parts in groups; a SOPInstanceUID sent twice in it is stored once', async () => {
    await manyPartsInGroups(CT, 900, 500); // 530 KB parts: streamed to their temporary files
  });

  it('the same with small parts (written at once), a group mixing new, re-sent and conflicting instances', async () => {
    expect(fs.statSync(CT_JLS).size).toBeLessThan(256 * 1024);
    await manyPartsInGroups(CT_JLS, 901, 600);
  });

  it('reports healthy once migrated', async () => {
    const res = await fetch(`${node.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });
});
