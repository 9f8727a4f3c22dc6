import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, stow, DICOM_DIR, type TestNode } from './helpers/node.ts';
import { parseInstance } from '../src/dicom/part10.ts';
import type { TempFile } from '../src/store/files.ts';

const CT = fs.readFileSync(path.join(DICOM_DIR, 'ts-matrix-ct/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm'));
const CT_UIDS = (() => {
  const p = parseInstance(CT);
  return [p.StudyInstanceUID, p.SeriesInstanceUID, p.SOPInstanceUID];
})();

/** A copy of the CT with new Study/Series/SOP Instance UIDs of the same length (patched in place). */
function copy(tag: string): { bytes: Buffer; sop: string } {
  const b = Buffer.from(CT);
  let sop = '';
  for (const [i, uid] of CT_UIDS.entries()) {
    const digits = `${tag}${i}`.padStart(uid.length - 5, '9');
    const to = `2.25.${digits.slice(-(uid.length - 5)).replace(/^0/, '1')}`;
    for (let at = b.indexOf(uid); at >= 0; at = b.indexOf(uid, at + uid.length)) b.write(to, at, 'latin1');
    if (i === 2) sop = to;
  }
  return { bytes: b, sop };
}

const failed = (json: any): { sop: string; reason: number }[] =>
  (json?.['00081198']?.Value ?? []).map((i: any) => ({ sop: i['00081155']?.Value?.[0], reason: i['00081197'].Value[0] }));
const referenced = (json: any): string[] => (json?.['00081199']?.Value ?? []).map((i: any) => i['00081155'].Value[0]);

// The index transaction of a group runs while its files are renamed and their directories
// fsynced; it must commit only after that (a crash before leaves nothing indexed).
describe('STOW-RS: files durable before the index commits', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(async () => {
    await node?.stop();
  });

  async function indexed(sops: string[]): Promise<number> {
    const rows = await node.node.ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM instance WHERE sop_instance_uid = ANY($1::text[])', [sops]);
    return rows[0]!.n;
  }

  it('commits the rows only after the directory fsyncs are done', async () => {
    const files = node.node.ctx.archive.files;
    const db = node.node.ctx.db;
    const events: string[] = [];
    const syncDirs = files.syncDirs.bind(files);
    const transaction = db.transaction.bind(db);
    files.syncDirs = async (dirs) => {
      events.push('dirs:start');
      await new Promise((r) => setTimeout(r, 300)); // a slow disk
      await syncDirs(dirs);
      events.push('dirs:done');
    };
    db.transaction = async (fn) => {
      const r = await transaction(fn);
      events.push('commit');
      return r;
    };
    try {
      const parts = [copy('101'), copy('102'), copy('103')];
      const res = await stow(node.dicomweb, parts.map((p) => p.bytes));
      expect(res.status).toBe(200);
      expect(referenced(res.json).sort()).toEqual(parts.map((p) => p.sop).sort());
      expect(events).toEqual(['dirs:start', 'dirs:done', 'commit']);
      expect(await indexed(parts.map((p) => p.sop))).toBe(3);
    } finally {
      files.syncDirs = syncDirs;
      db.transaction = transaction;
    }
  });

  it('indexes nothing of a group whose directory fsync fails, and keeps serving', async () => {
    const files = node.node.ctx.archive.files;
    const syncDirs = files.syncDirs.bind(files);
    files.syncDirs = async () => {
      throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    };
    const parts = [copy('201'), copy('202')];
    try {
      const res = await stow(node.dicomweb, parts.map((p) => p.bytes));
      expect(res.status).toBe(409);
      expect(failed(res.json)).toEqual(parts.map((p) => ({ sop: p.sop, reason: 0x0110 })));
      expect(await indexed(parts.map((p) => p.sop))).toBe(0);
    } finally {
      files.syncDirs = syncDirs;
    }
    const again = await stow(node.dicomweb, [copy('203').bytes]);
    expect(again.status).toBe(200);
  });

  it('fails only the instance whose file cannot be placed; the others of its group are indexed', async () => {
    const files = node.node.ctx.archive.files;
    const place = files.place.bind(files);
    const parts = [copy('301'), copy('302'), copy('303')];
    const badSha = (await import('node:crypto')).createHash('sha256').update(parts[1]!.bytes).digest('hex');
    files.place = async (temp: TempFile, dirs: Set<string>) => {
      if (temp.sha256 === badSha) throw Object.assign(new Error('ENOSPC: no space left on device, rename'), { code: 'ENOSPC' });
      return place(temp, dirs);
    };
    try {
      const res = await stow(node.dicomweb, parts.map((p) => p.bytes));
      expect(res.status).toBe(202);
      expect(referenced(res.json).sort()).toEqual([parts[0]!.sop, parts[2]!.sop].sort());
      expect(failed(res.json)).toEqual([{ sop: parts[1]!.sop, reason: 0x0110 }]);
      expect(await indexed([parts[0]!.sop, parts[2]!.sop])).toBe(2);
      expect(await indexed([parts[1]!.sop])).toBe(0);
      expect(fs.existsSync(path.join(node.dataDir, files.objectPath(badSha)))).toBe(false);
    } finally {
      files.place = place;
    }
  });
});
