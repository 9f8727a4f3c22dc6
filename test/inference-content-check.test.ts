// The content check (not a hand radiograph, whatever the header says): the feature statistics a
// card references (hash-checked like the ONNX), the Mahalanobis score, "not available" without
// statistics, and with the shipped RidgeNet: Issue44 (a chest CR with an empty header) and the
// chest, tibia and CT images rejected by the image content alone.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoneAgeEngine, loadBundle, ModelBundleError } from '../src/inference/index.ts';
import { FEATURE_STATS_FORMAT, loadFeatureStats, mahalanobis, pooledFeatures } from '../src/inference/feature-stats.ts';
import { checkContent } from '../src/inference/checks.ts';
import type { ModelCard } from '../src/inference/card.ts';
import { closeDefaultPool, decode, modelImageFromDecoded, parsePart10 } from '../src/pixel/index.ts';
import { DICOM, REAL_MODELS } from './inference-helpers/common.ts';
import { tinyModelsDir } from './inference-helpers/tiny-models.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'carpus-content-'));
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await closeDefaultPool();
});

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('feature statistics and the score', () => {
  const card = {
    name: 'ridgenet',
    version: '9.9.9',
    onnx_sha256: 'a'.repeat(64),
    onnx_bytes: 1,
    outputs: [{ name: 'features', shape: ['N', 2, 3, 3] }],
  } as unknown as ModelCard;
  const stats = {
    format: FEATURE_STATS_FORMAT,
    model: { name: 'ridgenet', version: '9.9.9', onnx_sha256: 'a'.repeat(64) },
    channels: 2,
    mean: [1, 2],
    precision: [2, 0, 0, 0.5],
    threshold: 3,
    threshold_rule: 'test',
    val: { n: 10, false_rejection_rate: 0.1 },
  };
  function bundle(name: string, body: string, ref: Record<string, unknown> = {}): { dir: string; card: ModelCard } {
    const dir = path.join(tmp, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'feature-stats.json'), body);
    const feature_stats = { file: 'feature-stats.json', sha256: sha(body), bytes: Buffer.byteLength(body), format: FEATURE_STATS_FORMAT, ...ref };
    return { dir, card: { ...card, feature_stats } as ModelCard };
  }

  it('loads, pools and scores: sqrt((f - mean)^T P (f - mean))', () => {
    const b = bundle('ok', JSON.stringify(stats));
    const s = loadFeatureStats(b.dir, b.card)!;
    expect(s.threshold).toBe(3);
    // channel 0 all 2, channel 1 all 4 on a 3x3 grid: pooled [2, 4]; d^2 = 2*1 + 0.5*4 = 4.
    const f = pooledFeatures(new Float32Array([2, 2, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4]), 2, 9);
    expect([...f]).toEqual([2, 4]);
    expect(mahalanobis(f, s)).toBeCloseTo(2, 12);
    expect(checkContent(2, s.threshold)).toBeUndefined();
    const rej = checkContent(3.5, s.threshold)!;
    expect(rej).toMatchObject({ stage: 'content', code: 'not-a-hand' });
    expect(rej.reason).toMatch(/3\.5.*3\.0/);
    expect(checkContent(Number.NaN, 3)?.code).toBe('not-a-hand');
  });

  it('a card without feature_stats has none (the check is then not available)', () => {
    expect(loadFeatureStats(tmp, card)).toBeUndefined();
  });

  it('wrong hash, size, missing file, another model, wrong channel count: ModelBundleError', () => {
    const codeOf = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return e instanceof ModelBundleError ? e.code : String(e);
      }
      return undefined;
    };
    const ok = bundle('hash', JSON.stringify(stats));
    writeFileSync(path.join(ok.dir, 'feature-stats.json'), JSON.stringify({ ...stats, threshold: 30 }).slice(0, JSON.stringify(stats).length));
    expect(codeOf(() => loadFeatureStats(ok.dir, ok.card))).toBe('feature-stats-mismatch');
    const b = bundle('missing', JSON.stringify(stats), { file: 'other.json' });
    expect(codeOf(() => loadFeatureStats(b.dir, b.card))).toBe('feature-stats-missing');
    const other = bundle('other', JSON.stringify({ ...stats, model: { ...stats.model, onnx_sha256: 'b'.repeat(64) } }));
    expect(codeOf(() => loadFeatureStats(other.dir, other.card))).toBe('feature-stats-invalid');
    const three = bundle('three', JSON.stringify({ ...stats, channels: 3, mean: [0, 0, 0], precision: new Array(9).fill(0) }));
    expect(codeOf(() => loadFeatureStats(three.dir, three.card))).toBe('feature-stats-invalid');
    const escape = bundle('escape', JSON.stringify(stats), { file: '../ok/feature-stats.json' });
    expect(codeOf(() => loadFeatureStats(escape.dir, escape.card))).toBe('card-invalid');
  });

  it('an engine whose RidgeNet card has no statistics reports the check as not available, never as passed', async () => {
    const e = await BoneAgeEngine.create({ modelsDir: tinyModelsDir(), providers: ['cpu'], warmUp: false });
    try {
      expect(e.health().contentCheck).toMatchObject({ available: false });
      const img = { width: 64, height: 64, data: new Float32Array(64 * 64) };
      for (let y = 8; y < 56; y++) for (let x = 20; x < 44; x++) img.data[y * 64 + x] = 0.8;
      const r = await e.predictImage(img, { keepRejectedEstimate: true });
      expect(r.contentCheck.status).toBe('not-available');
    } finally {
      await e.close();
    }
  });
});

// The shipped RidgeNet carries statistics (models/ridgenet/<version>/feature-stats.json).
describe('shipped RidgeNet: content check', () => {
  let engine: BoneAgeEngine;
  beforeAll(async () => {
    engine = await BoneAgeEngine.create({ modelsDir: REAL_MODELS, providers: ['cpu'] });
  });
  afterAll(async () => engine?.close());

  it('the shipped card references its statistics and they load', async () => {
    const b = await loadBundle('ridgenet', { modelsDir: REAL_MODELS });
    expect(b.featureStats, 'models/ridgenet: run training/carpus_training/feature_stats.py').toBeDefined();
    expect(b.featureStats!.channels).toBe((b.card.outputs.find((o) => o.name === 'features')!.shape as number[])[1]);
    expect(engine.health().contentCheck).toMatchObject({ available: true });
  });

  it("Orthanc's Issue44 (chest CR, empty body part and descriptions) is rejected as not a hand", async () => {
    const r = await engine.predictFile(path.join(DICOM, 'cr-misc', 'orthanc_Issue44_Monochrome1-Jpeg.dcm'));
    expect(r.status).toBe('rejected');
    if (r.status === 'rejected') expect([r.stage, r.code]).toEqual(['content', 'not-a-hand']);
    expect(r.contentCheck.status).toBe('failed');
  });

  const nonHands = [
    path.join(DICOM, 'cr-misc', 'orthanc_Issue44_Monochrome1-Jpeg.dcm'),
    path.join(DICOM, 'cr-misc', 'gdcm-CR-MONO1-10-chest.dcm'),
    path.join(DICOM, 'cr-wg04', 'RG1_J2KI.dcm'),
    path.join(DICOM, 'cr-wg04', 'RG3_UNC.dcm'),
    path.join(DICOM, 'ts-matrix-ct', 'CTImage.dcm'),
  ];
  for (const f of nonHands) {
    it(`${path.basename(f)}: pixels alone (no header) fail the content check`, async () => {
      const img = await decode(parsePart10(readFileSync(f)), { frames: [1], decoder: 'inline' });
      const r = await engine.predictImage(modelImageFromDecoded(img, 0), { keepRejectedEstimate: true });
      expect(r.status).toBe('rejected');
      expect(r.contentCheck.status, JSON.stringify(r.contentCheck)).toBe('failed');
    });
  }

  it('chest and tibia CRs with body part and descriptions erased (dcmodify) are rejected by the content check', async () => {
    for (const name of ['cr-misc/gdcm-CR-MONO1-10-chest.dcm', 'cr-wg04/RG1_J2KI.dcm', 'cr-wg04/RG3_UNC.dcm']) {
      const copy = path.join(tmp, path.basename(name));
      copyFileSync(path.join(DICOM, name), copy);
      execFileSync('dcmodify', ['-nb', '-imt', '-ea', '(0018,0015)', '-ea', '(0008,1030)', '-ea', '(0008,103e)', '-ea', '(0018,1030)', copy], { stdio: 'pipe' });
      const r = await engine.predictFile(copy, { keepRejectedEstimate: true });
      expect(r.status, name).toBe('rejected');
      if (r.status === 'rejected') expect(r.stage, `${name}: ${r.reason}`).not.toBe('input');
      expect(r.contentCheck.status, name).toBe('failed');
    }
  });
});
