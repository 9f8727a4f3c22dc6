/**
 * Makes docs/viewer.png, the README's screenshot: RSNA training image 1377 (the image of
 * docs/sr-example.md; RSNA Pediatric Bone Age Challenge, Halabi et al., Radiology 2018) wrapped as
 * a CR study by the tests' fixture, analysed by a local node with the shipped models, shown in the
 * demo viewer at 1280x800 in Debian's Chromium. (The shared NEMA WG04 RG3 image is a lower leg,
 * not a hand.)
 *   npx tsx viewer-extension/make-screenshot.ts [out.png]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startNode } from '../src/node.ts';
import { handRadiograph } from '../test/analysis/fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const out = path.resolve(process.argv[2] ?? path.join(ROOT, 'docs/viewer.png'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-viewer-shot-'));
const hand = await handRadiograph({ id: '1377' });
const study = hand.study;

const node = await startNode({
  ...process.env,
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'warn',
  CARPUS_DATA_DIR: path.join(dir, 'var'),
  CARPUS_ROUTING_RULES: path.join(ROOT, 'test/analysis/routing-immediate.json'),
});
try {
  const addr = node.app.server.address() as { port: number };
  const base = `http://127.0.0.1:${addr.port}`;
  const boundary = 'carpus-shot';
  const body = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), hand.bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  const res = await fetch(`${base}/dicom-web/studies`, { method: 'POST', headers: { 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}` }, body });
  if (res.status !== 200) throw new Error(`STOW answered ${res.status}`);
  let status = '';
  for (let i = 0; i < 600 && !['done', 'rejected', 'failed'].includes(status); i++) {
    await new Promise((r) => setTimeout(r, 500));
    status = ((await (await fetch(`${base}/api/studies/${study}/bone-age`)).json()) as { status: string }).status;
  }
  console.log(`analysis: ${status}`);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(120_000);
  await page.goto(`${base}/viewer/?StudyInstanceUID=${study}`);
  await page.waitForFunction(() => (window as any).carpusViewer?.state === 'ready');
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.screenshot({ path: out });
  await browser.close();
  console.log(`wrote ${out}`);
} finally {
  await node.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
