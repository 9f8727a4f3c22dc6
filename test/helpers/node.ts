import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startNode } from '../../src/node.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DATA = path.resolve(PROJECT_ROOT, '../shared/data');
export const DICOM_DIR = path.join(SHARED_DATA, 'dicom');

/** Every DICOM file of ../shared/data/dicom, recursively. */
export function sharedDicomFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.dcm')) out.push(p);
    }
  };
  walk(DICOM_DIR);
  return out.sort();
}

/**
 * Which database the tests run on: PGlite by default; a PostgreSQL server when
 * CARPUS_TEST_DATABASE_URL is set (.ci/run runs the whole suite both ways).
 * Each test node gets a database of its own on that server.
 */
async function freshDatabaseUrl(): Promise<string | undefined> {
  const admin = process.env.CARPUS_TEST_DATABASE_URL;
  if (!admin) return undefined;
  const { default: pg } = await import('pg');
  const name = `carpus_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface TestNode {
  baseUrl: string;
  dicomweb: string;
  dataDir: string;
  port: number;
  node: Awaited<ReturnType<typeof startNode>>;
  stop(): Promise<void>;
}

export async function startTestNode(env: Record<string, string> = {}): Promise<TestNode> {
  const dataDir = env.CARPUS_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-test-'));
  const databaseUrl = env.DATABASE_URL ?? (await freshDatabaseUrl());
  const node = await startNode({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env.CARPUS_TEST_LOG_LEVEL ?? 'silent',
    // Auto-analysis (job queue, inference on routed hand radiographs) is opt-in for test nodes.
    CARPUS_AUTO_ANALYSIS: 'off',
    CARPUS_DATA_DIR: dataDir,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...env,
  });
  const addr = node.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('node did not bind a TCP port');
  const baseUrl = `http://127.0.0.1:${addr.port}`;
  return {
    baseUrl,
    dicomweb: `${baseUrl}/dicom-web`,
    dataDir,
    port: addr.port,
    node,
    async stop() {
      await node.stop();
    },
  };
}

/** Builds a multipart/related body from parts (Buffer = application/dicom part). */
export function multipartBody(
  parts: (Buffer | { contentType: string; body: Buffer })[],
  boundary = `carpus-${randomUUID()}`,
): { body: Buffer; contentType: string; boundary: string } {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const { contentType, body } = Buffer.isBuffer(p) ? { contentType: 'application/dicom', body: p } : p;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${contentType}\r\n\r\n`), body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    body: Buffer.concat(chunks),
    boundary,
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}

/** STOWs files (paths or buffers) to a node; returns status and parsed JSON. */
export async function stow(dicomweb: string, files: (string | Buffer)[], study?: string, headers: Record<string, string> = {}) {
  const mp = multipartBody(files.map((f) => (typeof f === 'string' ? fs.readFileSync(f) : f)));
  const res = await fetch(`${dicomweb}/studies${study ? `/${study}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': mp.contentType, accept: 'application/dicom+json', ...headers },
    body: new Uint8Array(mp.body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, any>) : undefined, headers: res.headers };
}
