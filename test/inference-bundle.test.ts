// Model bundles: cards, SHA-256, clear errors for every way a bundle can be missing or wrong.
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync, cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoneAgeEngine, defaultModelsDir, listVersions, loadBundle, ModelBundleError, cardValMae } from '../src/inference/index.ts';
import { tinyModelsCopy, tinyModelsDir, TINY_VERSION } from './inference-helpers/tiny-models.ts';

let dir: string;
const made: string[] = [];

function copy(): string {
  const d = tinyModelsCopy();
  made.push(d);
  return d;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ModelBundleError);
    return `${(e as ModelBundleError).code}: ${(e as Error).message}`;
  }
  return 'no error';
}

beforeAll(() => {
  dir = tinyModelsDir();
});
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

describe('model bundles', () => {
  it('loads a bundle, checks its SHA-256, picks the newest version', async () => {
    const b = await loadBundle('ridgenet', { modelsDir: dir });
    expect(b.version).toBe(TINY_VERSION);
    expect(b.inputNames).toEqual(['image', 'sex']);
    expect(b.outputNames).toEqual(['bone_age_months', 'features', 'd_bone_age_d_features']);
    expect(cardValMae(b.card)).toBe(99);
    const d = copy();
    cpSync(path.join(d, 'ridgenet', TINY_VERSION), path.join(d, 'ridgenet', '0.0.10'), { recursive: true });
    const card = JSON.parse(readFileSync(path.join(d, 'ridgenet', '0.0.10', 'model.json'), 'utf8'));
    card.version = '0.0.10';
    writeFileSync(path.join(d, 'ridgenet', '0.0.10', 'model.json'), JSON.stringify(card));
    mkdirSync(path.join(d, 'ridgenet', '0.0.9')); // no card: not a version
    expect(listVersions(d, 'ridgenet')).toEqual([TINY_VERSION, '0.0.10']);
    expect((await loadBundle('ridgenet', { modelsDir: d })).version).toBe('0.0.10');
    expect((await loadBundle('ridgenet', { modelsDir: d, version: TINY_VERSION })).version).toBe(TINY_VERSION);
  });

  it('CARPUS_MODELS_DIR selects the folder', () => {
    expect(defaultModelsDir({ CARPUS_MODELS_DIR: '/x/y' })).toBe('/x/y');
    expect(defaultModelsDir({})).toMatch(/models$/);
  });

  it('missing models folder, model, version', async () => {
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: '/nonexistent/models' }))).toMatch(/^models-dir-missing: .*CARPUS_MODELS_DIR/);
    expect(await codeOf(loadBundle('nomodel', { modelsDir: dir }))).toMatch(/^model-missing: No version of model "nomodel"/);
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: dir, version: '9.9.9' }))).toMatch(/^model-missing: Model ridgenet 9.9.9 not found/);
  });

  it('missing card', async () => {
    const d = copy();
    rmSync(path.join(d, 'ridgenet', TINY_VERSION, 'model.json'));
    mkdirSync(path.join(d, 'ridgenet', '1.0.0'));
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: d, version: '1.0.0' }))).toMatch(/^card-missing: Model card .*model.json does not exist/);
  });

  it('card not JSON, card missing fields, card for another model', async () => {
    const d = copy();
    const cardPath = path.join(d, 'ridgenet', TINY_VERSION, 'model.json');
    const good = readFileSync(cardPath, 'utf8');
    writeFileSync(cardPath, '{ not json');
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: d }))).toMatch(/^card-invalid: .*not valid JSON/);
    const c = JSON.parse(good);
    delete c.onnx_sha256;
    writeFileSync(cardPath, JSON.stringify(c));
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: d }))).toMatch(/^card-invalid: .*onnx_sha256/);
    writeFileSync(cardPath, JSON.stringify({ ...JSON.parse(good), onnx_sha256: 'abc' }));
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: d }))).toMatch(/^card-invalid: .*onnx_sha256: must be 64/);
    writeFileSync(cardPath, JSON.stringify({ ...JSON.parse(good), name: 'hand-segmenter' }));
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: d }))).toMatch(/^card-invalid: .*is for hand-segmenter/);
    writeFileSync(cardPath, good);
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: d, requiredOutputs: ['saliency'] }))).toMatch(/^card-invalid: .*no output "saliency"/);
  });

  it('missing, truncated, altered ONNX file', async () => {
    const d = copy();
    const onnx = path.join(d, 'ridgenet', TINY_VERSION, 'model.onnx');
    const bytes = readFileSync(onnx);
    appendFileSync(onnx, Buffer.from([0]));
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: d }))).toMatch(/^onnx-size-mismatch: .*wrong or truncated/);
    const altered = Buffer.from(bytes);
    altered[altered.length - 1] = altered[altered.length - 1]! ^ 0xff;
    writeFileSync(onnx, altered);
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: d }))).toMatch(/^onnx-sha256-mismatch: .*does not match the card/);
    rmSync(onnx);
    expect(await codeOf(loadBundle('ridgenet', { modelsDir: d }))).toMatch(/^onnx-missing: ONNX graph .*does not exist/);
  });

  it('a graph that lacks an output its card declares', async () => {
    const d = copy();
    // The segmenter graph under the ridgenet card (hash updated): the graph has no "sex" input.
    const src = path.join(d, 'hand-segmenter', TINY_VERSION, 'model.onnx');
    const dst = path.join(d, 'ridgenet', TINY_VERSION);
    cpSync(src, path.join(dst, 'model.onnx'));
    const card = JSON.parse(readFileSync(path.join(dst, 'model.json'), 'utf8'));
    const { sha256File } = await import('../src/inference/index.ts');
    card.onnx_sha256 = await sha256File(path.join(dst, 'model.onnx'));
    card.onnx_bytes = readFileSync(path.join(dst, 'model.onnx')).length;
    writeFileSync(path.join(dst, 'model.json'), JSON.stringify(card));
    expect(await codeOf(BoneAgeEngine.create({ modelsDir: d, providers: ['cpu'], warmUp: false }))).toMatch(/^onnx-io-mismatch: .*no input "sex"/);
  });

  it('an ONNX file that is not a graph', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'carpus-bad-onnx-'));
    made.push(d);
    cpSync(dir, d, { recursive: true });
    const seg = path.join(d, 'hand-segmenter', TINY_VERSION);
    writeFileSync(path.join(seg, 'model.onnx'), 'not an onnx graph');
    const card = JSON.parse(readFileSync(path.join(seg, 'model.json'), 'utf8'));
    const { sha256File } = await import('../src/inference/index.ts');
    card.onnx_sha256 = await sha256File(path.join(seg, 'model.onnx'));
    card.onnx_bytes = 17;
    writeFileSync(path.join(seg, 'model.json'), JSON.stringify(card));
    expect(await codeOf(BoneAgeEngine.create({ modelsDir: d, providers: ['cpu'], warmUp: false }))).toMatch(/^session-failed: Cannot create an onnxruntime session for hand-segmenter/);
  });
});
