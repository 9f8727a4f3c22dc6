// Issue 2 (performance) changes that must not change results: the statement-level counter
// triggers of sql/004, PGlite's own VACUUM ANALYZE when idle, and batched read-audit rows.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, PGLITE_VACUUM_AFTER_ROWS, PGLITE_VACUUM_IDLE_MS } from '../src/db/index.ts';
import { migrate } from '../src/db/migrate.ts';
import { Audit } from '../src/audit/index.ts';
import { ReadAuditWriter, READ_AUDIT_MAX_DELAY_MS } from '../src/audit/http.ts';
import { createLogger } from '../src/log.ts';
import { startTestNode, type TestNode } from './helpers/node.ts';

const CR = '1.2.840.10008.5.1.4.1.1.1';
const CT = '1.2.840.10008.5.1.4.1.1.2';
const SR = '1.2.840.10008.5.1.4.1.1.88.33';

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode();
}, 120_000);
afterAll(async () => {
  await node?.stop();
});

/** The counters as the triggers keep them, and as a recount from the rows gives them. */
async function countersAndRecount(root: string) {
  const db = node.node.ctx.db;
  const kept = await db.query(
    `SELECT study_instance_uid AS uid, num_series, num_instances, modalities, sop_classes
     FROM study WHERE study_instance_uid LIKE $1 ORDER BY 1`,
    [`${root}.%`],
  );
  const recount = await db.query(
    `SELECT st.study_instance_uid AS uid,
       (SELECT count(*)::int FROM series s WHERE s.study_instance_uid = st.study_instance_uid) AS num_series,
       (SELECT count(*)::int FROM instance i WHERE i.study_instance_uid = st.study_instance_uid) AS num_instances,
       coalesce((SELECT array_agg(DISTINCT s.modality ORDER BY s.modality) FROM series s
                 WHERE s.study_instance_uid = st.study_instance_uid AND s.modality <> ''), '{}') AS modalities,
       coalesce((SELECT array_agg(DISTINCT i.sop_class_uid ORDER BY i.sop_class_uid) FROM instance i
                 WHERE i.study_instance_uid = st.study_instance_uid), '{}') AS sop_classes
     FROM study st WHERE st.study_instance_uid LIKE $1 ORDER BY 1`,
    [`${root}.%`],
  );
  const series = await db.query(
    `SELECT se.series_instance_uid AS uid, se.num_instances AS kept,
       (SELECT count(*)::int FROM instance i WHERE i.series_instance_uid = se.series_instance_uid) AS recount
     FROM series se WHERE se.study_instance_uid LIKE $1 ORDER BY 1`,
    [`${root}.%`],
  );
  return { kept, recount, series };
}

async function insertInstances(rows: [sop: string, series: string, study: string, sopClass: string][]) {
  const values = rows.map((_, i) => `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4}, '1.2.840.10008.1.2.1', 1, 'x', 'x', '{}')`);
  await node.node.ctx.db.query(
    `INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid, sop_class_uid,
       transfer_syntax_uid, size_bytes, sha256, storage_path, metadata) VALUES ${values.join(', ')}`,
    rows.flat(),
  );
}

describe('computed-attribute counters (statement-level triggers, sql/004)', () => {
  it('count every row of multi-row INSERTs and DELETEs that span several studies and series', async () => {
    const db = node.node.ctx.db;
    const r = '2.25.4004001';
    await db.query(`INSERT INTO study (study_instance_uid, attributes) VALUES ($1, '{}'), ($2, '{}'), ($3, '{}')`, [`${r}.1`, `${r}.2`, `${r}.3`]);
    // One statement: two studies, series with a repeated, an empty and a missing modality.
    await db.query(
      `INSERT INTO series (series_instance_uid, study_instance_uid, modality, attributes) VALUES
         ($1, $4, 'CR', '{}'), ($2, $4, 'CR', '{}'), ($3, $4, 'SR', '{}'),
         ($5, $7, '', '{}'), ($6, $7, NULL, '{}')`,
      [`${r}.1.1`, `${r}.1.2`, `${r}.1.3`, `${r}.1`, `${r}.2.1`, `${r}.2.2`, `${r}.2`],
    );
    await insertInstances([
      [`${r}.1.1.1`, `${r}.1.1`, `${r}.1`, CR],
      [`${r}.1.1.2`, `${r}.1.1`, `${r}.1`, CR],
      [`${r}.1.2.1`, `${r}.1.2`, `${r}.1`, CT],
      [`${r}.1.3.1`, `${r}.1.3`, `${r}.1`, SR],
      [`${r}.2.1.1`, `${r}.2.1`, `${r}.2`, CT],
    ]);
    // A later statement adds to counts and sets that already exist.
    await db.query(`INSERT INTO series (series_instance_uid, study_instance_uid, modality, attributes) VALUES ($1, $2, 'DX', '{}')`, [`${r}.2.3`, `${r}.2`]);
    await insertInstances([
      [`${r}.1.1.3`, `${r}.1.1`, `${r}.1`, CR],
      [`${r}.2.3.1`, `${r}.2.3`, `${r}.2`, CR],
      [`${r}.2.1.2`, `${r}.2.1`, `${r}.2`, CT],
    ]);
    let c = await countersAndRecount(r);
    expect(c.kept).toEqual(c.recount);
    expect(c.kept[0]).toMatchObject({ num_series: 3, num_instances: 5, modalities: ['CR', 'SR'], sop_classes: [CR, CT, SR].sort() });
    expect(c.kept[1]).toMatchObject({ num_series: 3, num_instances: 3, modalities: ['DX'], sop_classes: [CR, CT].sort() });
    expect(c.kept[2]).toMatchObject({ num_series: 0, num_instances: 0, modalities: [], sop_classes: [] });
    for (const s of c.series) expect(s.kept).toBe(s.recount);

    // One DELETE across studies and series; then the last SR series goes.
    await db.query('DELETE FROM instance WHERE sop_instance_uid = ANY($1::text[])', [[`${r}.1.3.1`, `${r}.1.1.1`, `${r}.2.3.1`, `${r}.2.1.1`]]);
    await db.query('DELETE FROM series WHERE series_instance_uid = ANY($1::text[])', [[`${r}.1.3`, `${r}.2.3`]]);
    c = await countersAndRecount(r);
    expect(c.kept).toEqual(c.recount);
    expect(c.kept[0]).toMatchObject({ num_series: 2, num_instances: 3, modalities: ['CR'], sop_classes: [CR, CT].sort() });
    expect(c.kept[1]).toMatchObject({ num_series: 2, num_instances: 1, modalities: [], sop_classes: [CT] });
    for (const s of c.series) expect(s.kept).toBe(s.recount);
  });
});

describe('batched read-audit rows', () => {
  it('are written within the delay, together, and on close; a failed write is logged with the rows lost', async () => {
    const db = node.node.ctx.db;
    const lines: string[] = [];
    const log = createLogger('info', new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const writer = new ReadAuditWriter(new Audit(db, log), log);
    const study = '2.25.4004002';
    const count = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_event WHERE study_instance_uid = $1`, [study]))[0]!.n;
    for (let i = 0; i < 3; i++) writer.add('dicomweb.read', { principal: 'test', study, detail: { kind: 'qido', i } });
    expect(await count()).toBe(0); // waiting in the batch
    await new Promise((r) => setTimeout(r, READ_AUDIT_MAX_DELAY_MS + 300));
    await writer.flush();
    expect(await count()).toBe(3);
    writer.add('dicomweb.read', { principal: 'test', study, detail: { kind: 'wado' } });
    await writer.flush(); // what close() does
    expect(await count()).toBe(4);

    // A database without the audit table: the INSERT fails and says how many rows were lost.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-audit-fail-'));
    const bare = await openDb({ dataDir });
    try {
      const failing = new ReadAuditWriter(new Audit(bare, log), log);
      failing.add('dicomweb.read', { principal: 'test', study });
      failing.add('dicomweb.read', { principal: 'test', study });
      await failing.flush();
      const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'audit write failed');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ level: 50, lost: 2, event: 'dicomweb.read' });
    } finally {
      await bare.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('PGlite idle maintenance', () => {
  it('vacuums and analyzes the archive tables once enough rows were written and it is idle', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-vacuum-'));
    const db = await openDb({ dataDir }); // always PGlite: a PostgreSQL server has autovacuum
    try {
      expect(db.kind).toBe('pglite');
      await migrate(db);
      await db.query(`INSERT INTO study (study_instance_uid, attributes) VALUES ('2.25.4004003', '{}')`);
      await db.query(`INSERT INTO series (series_instance_uid, study_instance_uid, modality, attributes) VALUES ('2.25.4004003.1', '2.25.4004003', 'CR', '{}')`);
      // One instance per statement, as the row-level triggers of 002 did for every instance.
      for (let i = 0; i < 50; i++) {
        await db.query(
          `INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid, sop_class_uid,
             transfer_syntax_uid, size_bytes, sha256, storage_path, metadata)
           VALUES ($1, '2.25.4004003.1', '2.25.4004003', $2, '1.2.840.10008.1.2.1', 1, 'x', 'x', '{}')`,
          [`2.25.4004003.1.${i}`, CR],
        );
      }
      const stats = async () =>
        (await db.query<{ dead: number; vacuumed: boolean; analyzed: boolean }>(
          `SELECT n_dead_tup::int AS dead, last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS analyzed
           FROM pg_stat_user_tables WHERE relname = 'study'`,
        ))[0]!;
      // Table statistics reach pg_stat_user_tables at most once a second, after a transaction ends.
      let before = await stats();
      for (const t0 = Date.now(); before.dead === 0 && Date.now() - t0 < 5_000; before = await stats()) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(before.dead).toBeGreaterThan(0); // HOT pruning removes some on the way
      expect(before.vacuumed).toBe(false);

      db.noteWrites(PGLITE_VACUUM_AFTER_ROWS - 1);
      await new Promise((r) => setTimeout(r, PGLITE_VACUUM_IDLE_MS + 500));
      expect((await stats()).vacuumed).toBe(false); // not enough written yet

      db.noteWrites(1);
      let after = await stats();
      // The statistics views are flushed apart from the VACUUM itself: wait for all three to show.
      const done = (st: typeof after) => st.vacuumed && st.analyzed && st.dead === 0;
      for (const t0 = Date.now(); !done(after) && Date.now() - t0 < 20_000; after = await stats()) {
        await new Promise((r) => setTimeout(r, PGLITE_VACUUM_IDLE_MS + 300)); // polling more often would keep it busy
      }
      expect(after).toEqual({ dead: 0, vacuumed: true, analyzed: true });
      // The counters are what they were.
      expect((await db.query(`SELECT num_instances FROM study`))[0]).toEqual({ num_instances: 50 });
    } finally {
      await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
