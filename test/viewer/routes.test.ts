// The /viewer/ routes with malformed or unknown paths: a clear 404, never a file outside the
// in-memory bundle, and the archive keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../helpers/node.ts';

describe('/viewer/ routes: bad paths', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode();
  }, 120_000);
  afterAll(async () => node?.stop());

  it('serves the page, answers unknown and traversal paths with 404, and the node stays healthy', async () => {
    const page = await fetch(`${node.baseUrl}/viewer/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    for (const p of ['/viewer/no-such-file.js', '/viewer/..%2Fpackage.json', '/viewer/%2e%2e%2fsrc%2fmain.ts', '/viewer/package.json']) {
      const r = await fetch(`${node.baseUrl}${p}`);
      expect(r.status, p).toBe(404);
      expect(await r.text(), p).not.toMatch(/"dependencies"|startNode/);
    }
    expect((await fetch(`${node.baseUrl}/healthz`)).status).toBe(200);
  }, 120_000);
});
