/**
 * kill -9 of a node (a spawned `src/main.ts`) during an analysis: after a restart on the same data
 * directory the job completes, with exactly one result and one SR.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/orthanc.ts';
import { handRadiograph } from './fixtures.ts';
import { STUB_MODULE, boneAge, databaseUrl, healthy, spawnNode, stow, waitFor } from './helpers.ts';

const SR_CLASS = '1.2.840.10008.5.1.4.1.1.88.33';

describe('kill -9 during analysis', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('completes the job after a restart with exactly one SR', async () => {
    const port = await freePort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-crash-'));
    const dbUrl = await databaseUrl();
    const env = {
      HOST: '127.0.0.1',
      PORT: String(port),
      CARPUS_DATA_DIR: dataDir,
      ...(dbUrl ? { DATABASE_URL: dbUrl } : {}),
      CARPUS_ANALYSIS_INFERENCE_MODULE: STUB_MODULE,
      CARPUS_ROUTING_RULES: path.resolve(import.meta.dirname, 'routing-immediate.json'),
      CARPUS_ANALYSIS_POLL_SECONDS: '0.5',
      CARPUS_ANALYSIS_RETRY_DELAY_SECONDS: '0',
    };
    const base = `http://127.0.0.1:${port}`;
    const first = spawnNode({ ...env, CARPUS_STUB_DELAY_MS: '60000' });
    children.push(first);
    await healthy(base);
    const hand = await handRadiograph({ width: 160 });
    expect((await stow(`${base}/dicom-web`, [hand.bytes])).status).toBe(200);
    await waitFor(() => boneAge({ baseUrl: base }, hand.study), (r) => r.json.status === 'running', 60_000, 'running');
    const exited = new Promise((r) => first.once('exit', r));
    first.kill('SIGKILL');
    await exited;

    const second = spawnNode({ ...env, CARPUS_STUB_DELAY_MS: '100' });
    children.push(second);
    await healthy(base);
    const done = await waitFor(() => boneAge({ baseUrl: base }, hand.study), (r) => r.json.status === 'done' || r.json.status === 'failed', 120_000, 'done');
    expect(done.json.status).toBe('done');
    expect(done.json.instances).toHaveLength(1);
    const qido = await fetch(`${base}/dicom-web/studies/${hand.study}/instances`, { headers: { accept: 'application/dicom+json' } });
    const instances = (await qido.json()) as Record<string, { Value?: string[] }>[];
    const srs = instances.filter((i) => i['00080016']?.Value?.[0] === SR_CLASS);
    expect(srs).toHaveLength(1);
    expect(srs[0]!['00080018']!.Value![0]).toBe(done.json.sr.SOPInstanceUID);
    const audit = (await (await fetch(`${base}/api/audit?sop=${hand.sop}&limit=200`)).json()) as { events: { event: string; detail: any }[] };
    const events = audit.events.map((e) => e.event);
    expect(events.filter((e) => e === 'job.started').length).toBe(2);
    expect(audit.events.find((e) => e.event === 'job.retry')?.detail.reason).toMatch(/restart/);
    expect(events.filter((e) => e === 'job.finished')).toHaveLength(1);
    const exited2 = new Promise((r) => second.once('exit', r));
    second.kill('SIGTERM');
    await exited2;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 400_000);
});
