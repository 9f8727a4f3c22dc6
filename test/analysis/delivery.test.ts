/**
 * Delivery outbox: the upstream archive (another carpus node, with a bearer token) is down while
 * results are made; once it is up everything is delivered, in order, nothing lost.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { freePort } from '../helpers/orthanc.ts';
import { handRadiograph } from './fixtures.ts';
import { startAnalysisNode, stow, waitFor, waitForStatus } from './helpers.ts';

const TOKEN = 'upstream-secret-0123456789';

describe('delivery outbox', () => {
  const nodes: TestNode[] = [];
  afterAll(async () => {
    for (const n of nodes.reverse()) await n.stop().catch(() => undefined);
  });

  it('delivers everything in order after the upstream archive comes back', async () => {
    const upPort = await freePort();
    const a = await startAnalysisNode({
      CARPUS_UPSTREAM_DICOMWEB: `http://127.0.0.1:${upPort}/dicom-web`,
      CARPUS_UPSTREAM_AUTH: `bearer:${TOKEN}`,
      CARPUS_DELIVERY_RETRY_BASE_MS: '200',
      CARPUS_DELIVERY_RETRY_MAX_MS: '1000',
    });
    nodes.push(a);
    const hands = [];
    for (let i = 0; i < 3; i++) hands.push(await handRadiograph({ width: 120 }));
    for (const h of hands) expect((await stow(a.dicomweb, [h.bytes])).status).toBe(200);
    for (const h of hands) {
      const r = await waitForStatus(a, h.study, ['done']);
      expect(['pending', 'delivered']).toContain(r.json.delivery.state);
    }
    const q = (sql: string, p: unknown[] = []) => a.node.ctx.db.query<any>(sql, p);
    // Upstream down: retried with backoff, nothing delivered, nothing lost.
    await waitFor(() => q(`SELECT count(*)::int AS n FROM audit_event WHERE event = 'delivery.retry'`), (r) => r[0].n >= 2, 30_000, 'retries');
    const pending = await q(`SELECT * FROM delivery_pending_or_failed ORDER BY seq`);
    expect(pending).toHaveLength(6);
    expect(pending.every((p: any) => p.status === 'pending')).toBe(true);
    expect(pending[0].attempts).toBeGreaterThan(0);
    expect(pending[0].last_error).toMatch(/unreachable/);
    const metrics = await (await fetch(`${a.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/carpus_delivery_outbox\{status="pending"\} 6/);

    // Upstream comes back on that port, requiring a token.
    const b = await startTestNode({ PORT: String(upPort), CARPUS_TOKENS: `upstream:store+read:${TOKEN}`, CARPUS_AUTO_ANALYSIS: 'on' });
    nodes.push(b);
    await waitFor(() => q(`SELECT count(*)::int AS n FROM delivery_outbox WHERE status = 'delivered'`), (r) => r[0].n === 6, 60_000, 'all delivered');
    const order = await q(`SELECT sop_instance_uid, kind FROM delivery_outbox ORDER BY seq`);
    const got = await b.node.ctx.db.query<any>(`SELECT sop_instance_uid, sop_class_uid, received_from FROM instance ORDER BY received_at, sop_instance_uid`);
    expect(got.map((g: any) => g.sop_instance_uid)).toEqual(order.map((o: any) => o.sop_instance_uid));
    expect(new Set(got.map((g: any) => g.received_from))).toEqual(new Set(['upstream']));
    // The upstream does not analyse carpus's own results (no loop).
    expect((await b.node.ctx.db.query<any>('SELECT count(*)::int AS n FROM analysis_job'))[0].n).toBe(0);
    for (const h of hands) {
      const r = await waitForStatus(a, h.study, ['done']);
      expect(r.json.delivery.state).toBe('delivered');
      expect(r.json.delivery.objects.map((o: any) => o.kind)).toEqual(['sc', 'sr']);
    }
    expect(await q(`SELECT * FROM delivery_pending_or_failed`)).toHaveLength(0);
    const turnaround = await q(`SELECT * FROM analysis_turnaround_daily`);
    expect(Number(turnaround[0].delivered)).toBe(3);
    const delivered = await q(`SELECT count(*)::int AS n FROM audit_event WHERE event = 'delivery.delivered'`);
    expect(delivered[0].n).toBe(6);
  }, 300_000);
});
