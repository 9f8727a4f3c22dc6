/**
 * The demo viewer (/viewer/, viewer-extension/) in a real Chromium (Debian's, driven by
 * playwright-core), on a study analysed in the test by the real engine (shipped models):
 *   - carpus as the DICOMweb source: the study list, the study view at 1280x800, the panel's
 *     values equal to the SR's (read independently with DCMTK dsrdump), the heat-map overlay
 *     toggled (H key, checkbox) and its opacity changed, window/level by mouse; a study carpus
 *     rejected shows the reason;
 *   - Orthanc as the DICOMweb source: carpus delivers its SR and SC to Orthanc, Orthanc serves
 *     the built viewer from its ServeFolders plugin next to its own /dicom-web (same origin).
 * Screenshots go to test-artifacts/viewer/ (git-ignored; CI keeps them as artifacts).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildViewer } from '../../viewer-extension/build.ts';
import { handRadiograph, type Hand } from '../analysis/fixtures.ts';
import { boneAge, waitFor, waitForStatus } from '../analysis/helpers.ts';
import { getMultipart } from '../helpers/multipart.ts';
import { PROJECT_ROOT, startTestNode, stow, type TestNode } from '../helpers/node.ts';
import { ORTHANC_DICOMWEB_PLUGIN, startOrthanc, type OrthancPeer } from '../helpers/orthanc.ts';

export const ARTIFACTS = path.join(PROJECT_ROOT, 'test-artifacts/viewer');
const CHROMIUM = process.env.CARPUS_CHROMIUM ?? '/usr/bin/chromium';
const SERVE_FOLDERS = path.join(path.dirname(ORTHANC_DICOMWEB_PLUGIN), 'libServeFolders.so');
const SC_CLASS = '1.2.840.10008.5.1.4.1.1.7';
const SR_CLASS = '1.2.840.10008.5.1.4.1.1.88.33';

/** The SR's values as DCMTK's dsrdump prints them (independent of the viewer's dcmjs parsing). */
interface SrValues {
  boneAge: number;
  age?: number;
  difference?: number;
  sds?: number;
  sd?: number;
  verdict?: string;
  algorithmName?: string;
  algorithmVersion?: string;
  comment?: string;
}
function dsrdumpValues(part10: Buffer): SrValues {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-viewer-sr-'));
  const file = path.join(dir, 'sr.dcm');
  fs.writeFileSync(file, part10);
  const out = execFileSync('dsrdump', ['+Pl', '+Pc', file], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  const num = (code: string) => {
    const m = new RegExp(`NUM:\\(${code},[^,]*,"[^"]*"\\)="([^"]+)"`).exec(out);
    return m ? Number(m[1]) : undefined;
  };
  const text = (code: string) => new RegExp(`TEXT:\\(${code},DCM,"[^"]*"\\)="([^"]*)"`).exec(out)?.[1];
  return {
    boneAge: num('37362-1')!,
    age: num('30525-0'),
    difference: num('BA-CA'),
    sds: num('BA-SDS'),
    sd: num('GP-SD'),
    verdict: /CODE:\(BA-ASSESS,99CARPUS,"[^"]*"\)=\((BA-[A-Z]+),/.exec(out)?.[1],
    algorithmName: text('111001'),
    algorithmVersion: text('111003'),
    comment: text('121106'),
  };
}

/** The number in a panel field's text ("−19.31 months" → -19.31). */
const numberIn = (s: string | null | undefined) => Number(/[-\u2212+]?\d+(\.\d+)?/.exec(s ?? '')![0].replace('\u2212', '-'));

async function panelField(page: Page, field: string, part: 'value' | 'extra' = 'value') {
  return page.locator(`#panel [data-field="${field}"] .carpus-${part}`).textContent();
}

/**
 * Keeps a copy of the cornerstone canvas's pixels in the page under `name` (compared in the page:
 * megabytes of pixels never cross the DevTools connection).
 */
async function snap(page: Page, name: string): Promise<void> {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.evaluate((n) => {
    const c = document.querySelector('.cs canvas') as HTMLCanvasElement;
    const w = window as unknown as { snaps?: Record<string, Uint8ClampedArray> };
    (w.snaps ??= {})[n] = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
  }, name);
}
/** Pixels whose RGB differs between two snapshots. */
async function differing(page: Page, a: string, b: string): Promise<number> {
  return page.evaluate(([x, y]) => {
    const s = (window as unknown as { snaps: Record<string, Uint8ClampedArray> }).snaps;
    const p = s[x!]!;
    const q = s[y!]!;
    if (p.length !== q.length) return -1;
    let n = 0;
    for (let i = 0; i < p.length; i += 4) if (p[i] !== q[i] || p[i + 1] !== q[i + 1] || p[i + 2] !== q[i + 2]) n++;
    return n;
  }, [a, b]);
}

/** A page at 1280x800; generous time limits: CI's two cores are shared with other jobs. */
async function newPage(ctx: Browser | BrowserContext): Promise<Page> {
  const page = await ctx.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(120_000);
  page.setDefaultNavigationTimeout(120_000);
  return page;
}

async function openStudy(page: Page, url: string) {
  await page.goto(url);
  await page.waitForFunction(() => (window as any).carpusViewer?.state && !['starting'].includes((window as any).carpusViewer.state));
  // Two animation frames: cornerstone draws on requestAnimationFrame.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** Every panel value equals the SR's; returns the panel's texts for the report. */
async function expectPanelEqualsSr(page: Page, sr: SrValues) {
  expect(await page.locator('#panel').getAttribute('data-state')).toBe('result');
  expect(numberIn(await panelField(page, 'boneAge', 'extra'))).toBe(sr.boneAge);
  const y = Math.floor(Math.round(sr.boneAge) / 12);
  expect(await panelField(page, 'boneAge')).toContain(`${y} y`);
  expect(numberIn(await panelField(page, 'chronologicalAge', 'extra'))).toBe(sr.age);
  expect(numberIn(await panelField(page, 'difference'))).toBe(sr.difference);
  expect(numberIn(await panelField(page, 'sds'))).toBe(sr.sds);
  expect(await panelField(page, 'sds', 'extra')).toContain(`SD ${sr.sd}`);
  expect(await panelField(page, 'sds', 'extra')).toContain('normal range');
  const verdict = { 'BA-NORMAL': 'Within normal range', 'BA-DELAYED': 'Delayed', 'BA-ADVANCED': 'Advanced' }[sr.verdict ?? ''] ?? 'not assessed';
  expect(await panelField(page, 'verdict')).toBe(verdict);
  expect(await panelField(page, 'model')).toBe(`${sr.algorithmName} ${sr.algorithmVersion}`);
  expect(await page.locator('#panel [data-field="statement"]').textContent()).toBe(sr.comment);
}

/** Usable at 1280x800: nothing scrolls sideways, the image and the panel are both in view. */
async function expectFits(page: Page) {
  const m = await page.evaluate(() => {
    const r = (sel: string) => document.querySelector(sel)!.getBoundingClientRect().toJSON() as DOMRect;
    return { scrollW: document.documentElement.scrollWidth, scrollH: document.documentElement.scrollHeight, canvas: r('.cs canvas'), panel: r('#panel'), bone: r('#panel [data-field="boneAge"]') };
  });
  expect(m.scrollW).toBeLessThanOrEqual(1280);
  expect(m.scrollH).toBeLessThanOrEqual(800);
  expect(m.canvas.width).toBeGreaterThan(600);
  expect(m.canvas.height).toBeGreaterThan(600);
  expect(m.panel.right).toBeLessThanOrEqual(1280);
  expect(m.bone.bottom).toBeLessThanOrEqual(800);
}

/** Overlay on, off (H), on again (H): the canvas changes where the heat map is and comes back exactly. */
async function checkOverlayToggle(page: Page, name: string): Promise<number> {
  await expect.poll(() => page.locator('#overlay').isChecked()).toBe(true);
  await snap(page, 'on');
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}-overlay-on.png`) });
  await page.locator('.cs').focus();
  await page.keyboard.press('h');
  await expect.poll(() => page.locator('#overlay').isChecked()).toBe(false);
  await snap(page, 'off');
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}-overlay-off.png`) });
  const changed = await differing(page, 'on', 'off');
  expect(changed).toBeGreaterThan(500);
  await page.keyboard.press('h');
  await expect.poll(() => page.locator('#overlay').isChecked()).toBe(true);
  await snap(page, 'again');
  expect(await differing(page, 'on', 'again')).toBe(0);
  // The checkbox does the same; opacity 0 looks like off, 100 differs from the default 60.
  await page.locator('#overlay').uncheck();
  await snap(page, 'unchecked');
  expect(await differing(page, 'off', 'unchecked')).toBe(0);
  await page.locator('#overlay').check();
  await page.locator('#opacity').fill('0');
  await snap(page, 'o0');
  expect(await differing(page, 'off', 'o0')).toBe(0);
  await page.locator('#opacity').fill('100');
  await snap(page, 'o100');
  expect(await differing(page, 'on', 'o100')).toBeGreaterThan(100);
  await page.locator('#opacity').fill('60');
  await snap(page, 'o60');
  expect(await differing(page, 'on', 'o60')).toBe(0);
  return changed;
}

describe('viewer extension and demo page in Chromium', () => {
  let node: TestNode;
  let orthanc: OrthancPeer;
  let browser: Browser;
  let hand: Hand;
  let rejected: Hand;
  const distDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-viewer-dist-'));

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await buildViewer(distDir);
    orthanc = await startOrthanc({ config: { Plugins: [ORTHANC_DICOMWEB_PLUGIN, SERVE_FOLDERS], ServeFolders: { '/viewer': distDir } } });
    node = await startTestNode({
      CARPUS_AUTO_ANALYSIS: 'on',
      CARPUS_ROUTING_RULES: path.join(PROJECT_ROOT, 'test/analysis/routing-immediate.json'),
      CARPUS_ANALYSIS_POLL_SECONDS: '0.5',
      CARPUS_UPSTREAM_DICOMWEB: orthanc.dicomweb,
      CARPUS_UPSTREAM_AUTH: `basic:${orthanc.user}:${orthanc.password}`,
      CARPUS_DELIVERY_RETRY_BASE_MS: '300',
    });
    hand = await handRadiograph({ id: '1377', width: 800 });
    rejected = await handRadiograph({ id: '1377', width: 400, keys: { BodyPartExamined: 'FOOT', SeriesDescription: 'Foot AP' } });
    expect((await stow(node.dicomweb, [hand.bytes])).status).toBe(200);
    expect((await stow(node.dicomweb, [rejected.bytes])).status).toBe(200);
    // The hospital's copy of the radiograph: Orthanc holds it as well as carpus's results.
    await orthanc.upload(hand.bytes);
    await waitForStatus(node, hand.study, ['done'], 240_000);
    await waitForStatus(node, rejected.study, ['rejected'], 60_000);
    await waitFor(() => boneAge(node, hand.study), (r) => r.json.delivery?.state === 'delivered', 120_000, 'delivery to Orthanc');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    await node?.stop();
    await orthanc?.stop();
    fs.rmSync(distDir, { recursive: true, force: true });
  });

  async function srFromCarpus(): Promise<SrValues> {
    const api = await boneAge(node, hand.study);
    const url = `${node.dicomweb}/studies/${hand.study}/series/${api.json.sr.SeriesInstanceUID}/instances/${api.json.sr.SOPInstanceUID}`;
    const mp = await getMultipart(url, 'multipart/related; type="application/dicom"; transfer-syntax=*');
    return dsrdumpValues(Buffer.from(mp.parts[0]!.body));
  }

  it('lists the studies (QIDO-RS) and links to the study view', async () => {
    const page = await newPage(browser);
    await page.goto(`${node.baseUrl}/viewer/`);
    await page.waitForFunction(() => (window as any).carpusViewer?.state === 'list');
    await expect.poll(() => page.locator(`tr[data-study="${hand.study}"]`).count()).toBe(1);
    expect(await page.locator(`tr[data-study="${rejected.study}"]`).count()).toBe(1);
    await page.screenshot({ path: path.join(ARTIFACTS, 'carpus-study-list.png') });
    await page.locator(`tr[data-study="${hand.study}"] a`).click();
    await page.waitForFunction(() => (window as any).carpusViewer?.state === 'ready');
    expect(new URL(page.url()).searchParams.get('StudyInstanceUID')).toBe(hand.study);
    await page.close();
  }, 300_000);

  it('carpus as source: image, panel equal to the SR, overlay on/off and opacity, window/level; fits 1280x800', async () => {
    const sr = await srFromCarpus();
    const page = await newPage(browser);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await openStudy(page, `${node.baseUrl}/viewer/?StudyInstanceUID=${hand.study}`);
    expect(await page.evaluate(() => (window as any).carpusViewer.state)).toBe('ready');
    await expectPanelEqualsSr(page, sr);
    await expectFits(page);
    await checkOverlayToggle(page, 'carpus');
    // Window/level: a left drag changes the rendering.
    await snap(page, 'before-wl');
    const box = (await page.locator('.cs canvas').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 60, { steps: 8 });
    await page.mouse.up();
    await snap(page, 'after-wl');
    expect(await differing(page, 'before-wl', 'after-wl')).toBeGreaterThan(1000);
    await page.locator('#reset').click();
    await page.screenshot({ path: path.join(ARTIFACTS, 'carpus-study.png') });
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('a study carpus rejected shows the reason', async () => {
    const api = await boneAge(node, rejected.study);
    const page = await newPage(browser);
    await openStudy(page, `${node.baseUrl}/viewer/?StudyInstanceUID=${rejected.study}`);
    expect(await page.locator('#panel').getAttribute('data-state')).toBe('rejected');
    expect(await page.locator('#panel [data-field="reason"]').textContent()).toBe(`Reason: ${api.json.reason}`);
    expect(await page.locator('#overlay').isDisabled()).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'carpus-rejected.png') });
    await page.close();
  }, 300_000);

  it('Orthanc as source: the same study from Orthanc\'s DICOMweb, viewer served by Orthanc', async () => {
    const found = (await (await orthanc.request(`/dicom-web/studies/${hand.study}/instances`, { headers: { accept: 'application/dicom+json' } })).json()) as Record<string, any>[];
    const classes = found.map((i) => i['00080016'].Value[0]);
    expect(classes).toContain(SR_CLASS);
    expect(classes).toContain(SC_CLASS);
    const sr = await srFromCarpus();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, httpCredentials: { username: orthanc.user, password: orthanc.password } });
    const page = await newPage(context);
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await openStudy(page, `${orthanc.url}/viewer/index.html?StudyInstanceUID=${hand.study}`);
    expect(await page.evaluate(() => (window as any).carpusViewer.state)).toBe('ready');
    await expectPanelEqualsSr(page, sr);
    await expectFits(page);
    await checkOverlayToggle(page, 'orthanc');
    await page.screenshot({ path: path.join(ARTIFACTS, 'orthanc-study.png') });
    // Everything came from Orthanc: no request left for carpus.
    expect(requests.every((u) => u.startsWith(orthanc.url))).toBe(true);
    await context.close();
  }, 300_000);
});
