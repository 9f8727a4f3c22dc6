import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT, startTestNode, stow, type TestNode } from '../helpers/node.ts';

export const STUB_MODULE = path.resolve(import.meta.dirname, 'stub-inference.ts');

/** A test node running auto-analysis with the stub backend, analysing at once (no stability wait). */
export async function startAnalysisNode(env: Record<string, string> = {}): Promise<TestNode> {
  return startTestNode({
    CARPUS_AUTO_ANALYSIS: 'on',
    CARPUS_ANALYSIS_INFERENCE_MODULE: STUB_MODULE,
    CARPUS_ROUTING_RULES: path.resolve(import.meta.dirname, 'routing-immediate.json'),
    CARPUS_ANALYSIS_RETRY_DELAY_SECONDS: '0',
    CARPUS_ANALYSIS_POLL_SECONDS: '0.5',
    ...env,
  });
}

export async function boneAge(node: { baseUrl: string }, study: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${node.baseUrl}/api/studies/${study}/bone-age`, { headers });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

/** Polls the results API until `pred` holds. */
export async function waitFor<T>(fn: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 60_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function waitForStatus(node: { baseUrl: string }, study: string, statuses: string[], timeoutMs = 60_000) {
  return waitFor(
    () => boneAge(node, study),
    (r) => r.status === 200 && statuses.includes(r.json.status),
    timeoutMs,
    `study ${study} status ${statuses.join('/')}`,
  );
}

export { stow };

/** `src/main.ts` as a child process (for kill -9); its log goes to stderr with CARPUS_TEST_VERBOSE=1. */
export function spawnNode(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'src/main.ts')], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, LOG_LEVEL: process.env.CARPUS_TEST_VERBOSE ? 'info' : 'warn', ...env },
    stdio: ['ignore', process.env.CARPUS_TEST_VERBOSE ? 'inherit' : 'ignore', 'inherit'],
  });
  return child;
}

export async function healthy(base: string, timeoutMs = 180_000): Promise<void> {
  await waitFor(
    () => fetch(`${base}/healthz`).then((r) => r.status, () => 0),
    (s) => s === 200,
    timeoutMs,
    'node health',
  );
}

/** A fresh database on CARPUS_TEST_DATABASE_URL's server for a spawned node; undefined: the node uses PGlite. */
export async function databaseUrl(): Promise<string | undefined> {
  const admin = process.env.CARPUS_TEST_DATABASE_URL;
  if (!admin) return undefined;
  const { default: pg } = await import('pg');
  const name = `carpus_spawned_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}
