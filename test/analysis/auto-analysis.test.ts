/**
 * Auto-analysis around the analysis step, with the stub inference backend (no model weights needed):
 * routing, queue with retries and dead letter, idempotency, supersession, results API, audit, metrics.
 * The real SR writer makes the SR and SC.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestNode } from '../helpers/node.ts';
import { handRadiograph } from './fixtures.ts';
import { boneAge, startAnalysisNode, stow, waitFor, waitForStatus } from './helpers.ts';

const SR_CLASS = '1.2.840.10008.5.1.4.1.1.88.33';
const SC_CLASS = '1.2.840.10008.5.1.4.1.1.7';

describe('auto-analysis (stub inference, real SR writer)', () => {
  let node: TestNode;
  beforeAll(async () => {
    // The first inference of the process fails: the first job shows a retry.
    node = await startAnalysisNode({ CARPUS_STUB_FAIL_FIRST: '1', CARPUS_ANALYSIS_RETRY_LIMIT: '2' });
  });
  afterAll(async () => {
    await node?.stop();
  });

  const q = (sql: string, p: unknown[] = []) => node.node.ctx.db.query<any>(sql, p);

  it('analyses a routed hand radiograph after one retry: result, SR and SC in the archive, audit trail', async () => {
    const hand = await handRadiograph({ width: 200 });
    const s = await stow(node.dicomweb, [hand.bytes]);
    expect(s.status).toBe(200);
    const r = await waitForStatus(node, hand.study, ['done', 'failed']);
    expect(r.json.status).toBe('done');
    expect(r.json.boneAgeMonths).toBe(120);
    expect(r.json.model).toEqual({ name: 'test-stub', version: '1.0.0' });
    expect(r.json.executionProvider).toBe('stub');
    // Born 2008-03-01, studied 2020-09-15: 12 years 6.5 months.
    expect(r.json.chronologicalAgeMonths).toBeGreaterThan(150);
    expect(r.json.differenceMonths).toBeCloseTo(120 - r.json.chronologicalAgeMonths, 1);
    expect(typeof r.json.sds).toBe('number');
    expect(['delayed', 'normal', 'advanced']).toContain(r.json.verdict);
    expect(r.json.reason).toBeNull();
    expect(r.json.delivery).toEqual({ state: 'not-configured' });
    expect(r.json.instances[0].attempts).toBe(2);

    // SR and SC are in carpus's archive, in the source study, and were not routed themselves.
    const inst = await q('SELECT sop_instance_uid, sop_class_uid FROM instance WHERE study_instance_uid = $1 ORDER BY sop_class_uid', [hand.study]);
    expect(inst.map((i: any) => i.sop_class_uid).sort()).toEqual([CR_OR(inst), SC_CLASS, SR_CLASS].sort());
    expect(inst.find((i: any) => i.sop_class_uid === SR_CLASS).sop_instance_uid).toBe(r.json.sr.SOPInstanceUID);
    expect(inst.find((i: any) => i.sop_class_uid === SC_CLASS).sop_instance_uid).toBe(r.json.sc.SOPInstanceUID);
    expect((await q('SELECT count(*)::int AS n FROM analysis_job WHERE study_instance_uid = $1', [hand.study]))[0].n).toBe(1);

    const events = (await q('SELECT event, principal, sop_instance_uid FROM audit_event WHERE study_instance_uid = $1 ORDER BY id', [hand.study])).map(
      (e: any) => e.event,
    );
    for (const e of ['instance.received', 'rule.matched', 'job.queued', 'job.started', 'job.retry', 'report.created', 'job.finished']) expect(events).toContain(e);
    expect(events.filter((e: string) => e === 'rule.not-matched')).toHaveLength(2); // the SR and SC carpus stored
    expect(events.indexOf('job.retry')).toBeLessThan(events.lastIndexOf('job.started'));
    const received = (await q(`SELECT principal FROM audit_event WHERE event = 'instance.received' AND sop_instance_uid = $1`, [hand.sop]))[0];
    expect(received.principal).toBe('loopback');
  });

  it('re-sending the same instance or re-queuing it makes no second result', async () => {
    const hand = await handRadiograph({ width: 200 });
    await stow(node.dicomweb, [hand.bytes]);
    const first = await waitForStatus(node, hand.study, ['done']);
    const again = await stow(node.dicomweb, [hand.bytes]);
    expect(again.status).toBe(200);
    // Explicit re-analysis with the same model version: skipped, same result.
    const rq = await fetch(`${node.baseUrl}/api/studies/${hand.study}/bone-age/reanalyse`, { method: 'POST' });
    expect(rq.status).toBe(202);
    await waitFor(
      () => q(`SELECT count(*)::int AS n FROM audit_event WHERE sop_instance_uid = $1 AND event = 'job.skipped'`, [hand.sop]),
      (r) => r[0].n === 1,
      30_000,
      'job.skipped',
    );
    const after = await waitForStatus(node, hand.study, ['done']);
    expect(after.json.resultId).toBe(first.json.resultId);
    expect(after.json.sr.SOPInstanceUID).toBe(first.json.sr.SOPInstanceUID);
    expect((await q('SELECT count(*)::int AS n FROM analysis_result WHERE sop_instance_uid = $1', [hand.sop]))[0].n).toBe(1);
    expect((await q('SELECT count(*)::int AS n FROM instance WHERE study_instance_uid = $1', [hand.study]))[0].n).toBe(3);
  });

  it('does not analyse what the rules exclude, and says why', async () => {
    const chest = await handRadiograph({ width: 120, keys: { BodyPartExamined: 'CHEST' } });
    const mr = await handRadiograph({ width: 120, keys: { Modality: 'MR' } });
    await stow(node.dicomweb, [chest.bytes, mr.bytes]);
    const r1 = await boneAge(node, chest.study);
    expect(r1.status).toBe(200);
    expect(r1.json.status).toBe('rejected');
    expect(r1.json.reason).toMatch(/BodyPartExamined "CHEST"/);
    const r2 = await boneAge(node, mr.study);
    expect(r2.json.reason).toMatch(/Modality "MR"/);
    expect((await boneAge(node, '1.2.3.4.5.6.7')).status).toBe(404);
    expect((await boneAge(node, 'not-a-uid')).status).toBe(400);
  });

  it('reports a model rejection, and dead-letters a job that keeps failing with its error', async () => {
    const rej = await handRadiograph({ width: 120, keys: { AccessionNumber: 'REJECT' } });
    const bad = await handRadiograph({ width: 120, keys: { AccessionNumber: 'FAILALWAYS' } });
    await stow(node.dicomweb, [rej.bytes, bad.bytes]);
    const r = await waitForStatus(node, rej.study, ['rejected']);
    expect(r.json.reason).toBe('stub rejection');
    expect(r.json.sr).toBeNull();
    const f = await waitForStatus(node, bad.study, ['failed']);
    expect(f.json.reason).toMatch(/stub inference failure/);
    expect(f.json.instances[0].attempts).toBe(3); // retry limit 2
    const dead = await waitFor(
      () => q(`SELECT state, data->>'sop' AS sop FROM pgboss.job WHERE name = 'carpus-analysis-dead'`),
      (rows) => rows.some((x: any) => x.sop === bad.sop),
      30_000,
      'dead letter',
    );
    expect(dead.length).toBeGreaterThan(0);
    const failed = await q(`SELECT detail FROM audit_event WHERE sop_instance_uid = $1 AND event = 'job.failed'`, [bad.sop]);
    expect(failed).toHaveLength(1);
    expect(failed[0].detail.error).toMatch(/stub inference failure/);
  });

  it('routes at start what a stopped process indexed but never routed', async () => {
    const hand = await handRadiograph({ width: 120 });
    const archive = node.node.ctx.archive as unknown as { listeners: unknown[] };
    const saved = archive.listeners;
    archive.listeners = []; // as if the process died right after the index commit
    try {
      expect((await stow(node.dicomweb, [hand.bytes])).status).toBe(200);
    } finally {
      archive.listeners = saved;
    }
    expect((await boneAge(node, hand.study)).json.instances).toEqual([]);
    await (node.node.analysis as unknown as { routeMissed(): Promise<void> }).routeMissed();
    const r = await waitForStatus(node, hand.study, ['done']);
    expect(r.json.instances).toHaveLength(1);
    const ev = await q(`SELECT detail FROM audit_event WHERE sop_instance_uid = $1 AND event = 'instance.received'`, [hand.sop]);
    expect(ev).toHaveLength(1);
    expect(ev[0].detail.recoveredAtStart).toBe(true);
  });

  it('re-queues at start a routed instance whose queue job was never sent', async () => {
    const hand = await handRadiograph({ width: 120 });
    const archive = node.node.ctx.archive as unknown as { listeners: unknown[] };
    const saved = archive.listeners;
    archive.listeners = [];
    try {
      expect((await stow(node.dicomweb, [hand.bytes])).status).toBe(200);
    } finally {
      archive.listeners = saved;
    }
    // As if the process died between the analysis_job insert and the queue send.
    await q(`INSERT INTO analysis_job (sop_instance_uid, study_instance_uid, series_instance_uid, status) VALUES ($1, $2, $3, 'queued')`, [hand.sop, hand.study, hand.series]);
    expect((await boneAge(node, hand.study)).json.status).toBe('queued');
    await (node.node.analysis as unknown as { resendOrphans(): Promise<void> }).resendOrphans();
    await waitForStatus(node, hand.study, ['done']);
  });

  it('keeps the audit trail append-only, audits DICOMweb reads, serves /api/audit and /metrics', async () => {
    await expect(q('UPDATE audit_event SET principal = $1', ['x'])).rejects.toThrow(/append-only/);
    await expect(q('DELETE FROM audit_event')).rejects.toThrow(/append-only/);
    const hand = (await q(`SELECT study_instance_uid FROM analysis_job WHERE status = 'done' LIMIT 1`))[0].study_instance_uid;
    const res = await fetch(`${node.dicomweb}/studies/${hand}/series?PatientName=Carpus*`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const reads = await waitFor(
      () => q(`SELECT principal, detail FROM audit_event WHERE event = 'dicomweb.read' AND study_instance_uid = $1`, [hand]),
      (r) => r.length > 0,
      10_000,
      'read audit',
    );
    expect(reads[0].principal).toBe('loopback');
    expect(reads[0].detail).toMatchObject({ kind: 'qido', resource: '/studies/{uid}/series', status: 200 });
    expect(JSON.stringify(reads)).not.toMatch(/Carpus/);

    const a = await fetch(`${node.baseUrl}/api/audit?study=${hand}&event=job.*&limit=50`);
    expect(a.status).toBe(200);
    const body = (await a.json()) as { events: any[] };
    expect(body.events.length).toBeGreaterThan(2);
    expect(body.events.every((e) => e.event.startsWith('job.') && e.study_instance_uid === hand)).toBe(true);
    // No patient names or IDs anywhere in the audit trail.
    const all = JSON.stringify(await q('SELECT * FROM audit_event'));
    expect(all).not.toMatch(/Carpus\^Auto|RSNA-/);

    const views = await q('SELECT * FROM analysis_results_by_model');
    expect(views.find((v: any) => v.model_name === 'test-stub')).toBeTruthy();
    expect((await q('SELECT * FROM audit_study_timeline WHERE study_instance_uid = $1', [hand])).length).toBeGreaterThan(5);
    expect((await q('SELECT * FROM analysis_turnaround_daily')).length).toBe(1);

    const m = await fetch(`${node.baseUrl}/metrics`);
    const text = await m.text();
    expect(text).toMatch(/carpus_analysis_jobs\{state="done"\} [1-9]/);
    expect(text).toMatch(/carpus_analysis_jobs\{state="failed"\} 1/);
    expect(text).toMatch(/carpus_analysis_stage_seconds_bucket\{le="[^"]+",stage="inference"\}/);
    expect(text).toMatch(/carpus_analysis_jobs_finished_total\{outcome="retry"\}/);
  });
});

function CR_OR(inst: any[]): string {
  return inst.find((i) => i.sop_class_uid === '1.2.840.10008.5.1.4.1.1.1')?.sop_class_uid ?? 'missing CR';
}
