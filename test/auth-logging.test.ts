import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, DICOM_DIR, stow } from './helpers/node.ts';

const STORE = 'store-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';
const CT = path.join(DICOM_DIR, 'ts-matrix-ct/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm');

/** Runs the real entry point (`npm start` runs the same file) and collects its stdout. */
function startProcess(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

async function waitForListening(output: () => string, timeoutMs = 60_000): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    const m = /"port":(\d+).*"msg":"carpus listening"/.exec(output());
    if (m) return Number(m[1]);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`node did not start:\n${output()}`);
}

describe('access control and logs', () => {
  let proc: ReturnType<typeof startProcess>;
  let base: string;
  beforeAll(async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-auth-'));
    proc = startProcess({
      PORT: '0',
      CARPUS_DATA_DIR: dataDir,
      CARPUS_TOKENS: `pacs:store:${STORE},viewer:read:${READ}`,
    });
    base = `http://127.0.0.1:${await waitForListening(proc.output)}`;
  });
  afterAll(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
  });

  it('requires a bearer token once tokens are configured, and checks the role', async () => {
    expect((await stow(`${base}/dicom-web`, [CT])).status).toBe(401);
    expect((await stow(`${base}/dicom-web`, [CT], undefined, { authorization: `Bearer ${READ}` })).status).toBe(403);
    expect((await stow(`${base}/dicom-web`, [CT], undefined, { authorization: 'Bearer wrong-token-0000000000' })).status).toBe(401);
    expect((await stow(`${base}/dicom-web`, [CT], undefined, { authorization: `Bearer ${STORE}` })).status).toBe(200);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
  });

  it('logs one structured line per request, with status and duration, and no token or PHI', async () => {
    await fetch(`${base}/dicom-web/studies?PatientName=MISTER*&PatientID=12345`, { headers: { authorization: `Bearer ${READ}` } });
    await new Promise((r) => setTimeout(r, 300));
    const lines = proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(6);
    for (const r of requests) {
      expect(typeof r.status).toBe('number');
      expect(typeof r.ms).toBe('number');
      expect(String(r.path)).not.toContain('?');
    }
    expect(requests.filter((r) => r.path === '/dicom-web/studies' && r.method === 'GET')).toHaveLength(1);
    const text = proc.output();
    for (const secret of [STORE, READ, 'MISTER', '12345']) expect(text).not.toContain(secret);
  });

  it('refuses to start on a non-loopback address without tokens, with a clear message', async () => {
    const p = startProcess({ HOST: '0.0.0.0', PORT: '0', CARPUS_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-auth-')) });
    const code = await p.exited;
    expect(code).toBe(2);
    expect(p.output()).toMatch(/HOST=0\.0\.0\.0 is not a loopback address: set CARPUS_TOKENS/);
  });
});
