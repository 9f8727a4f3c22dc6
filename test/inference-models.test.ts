// The shipped models (models/<name>/<version>/, skipped until they exist): onnxruntime-node vs the
// PyTorch parity fixtures of each card (1e-4 relative; bone age 1e-3 months), the whole pipeline
// vs the fixtures, rejection of the CT/chest/tibia files, and the 14 native-size samples accepted.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { BoneAgeEngine, loadBundle, listVersions, type ModelBundle } from '../src/inference/index.ts';
import { decodeRaster } from '../src/inference/image-input.ts';
import { cropBox, maskBounds, maskFromLogits, ridgeInput, segmenterInput, workImage } from '../src/inference/preprocess.ts';
import { closeDefaultPool } from '../src/pixel/index.ts';
import { DICOM, FULLRES, REAL_MODELS, REPO, maxAbsDiff, readF32, realModelPresent, realModelsPresent } from './inference-helpers/common.ts';

interface Ref {
  file: string;
  shape: number[];
}

const present = realModelsPresent();

/** max |a - b| / max |b| over the tensor. */
function relErr(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  return maxAbsDiff(a, b) / Math.max(scale, 1e-12);
}

describe.skipIf(!realModelPresent('hand-segmenter'))('shipped segmenter', () => {
  it('onnxruntime-node logits = PyTorch within 1e-4 relative; TypeScript segmenter input and crop = the fixtures', async () => {
    const seg = await loadBundle('hand-segmenter', { modelsDir: REAL_MODELS });
    const s = await ort.InferenceSession.create(seg.onnxPath, { executionProviders: ['cpu'], logSeverityLevel: 3 });
    const dir = path.join(seg.dir, seg.card.parity!.dir);
    expect(seg.card.parity!.fixtures.length).toBeGreaterThan(0);
    for (const fx of seg.card.parity!.fixtures) {
      const input = fx.input as Ref;
      const x = readF32(path.join(dir, input.file));
      const out = await s.run({ image: new ort.Tensor('float32', x, input.shape) });
      const logits = out.logits!.data as Float32Array;
      expect(relErr(logits, readF32(path.join(dir, (fx.logits as Ref).file)))).toBeLessThan(1e-4);
      const { image } = await decodeRaster(readFileSync(path.resolve(REPO, fx.image as string)));
      expect(maxAbsDiff(segmenterInput(image), x)).toBeLessThan(1e-4);
      const m = maskFromLogits(logits);
      const b = maskBounds(m.mask256)!;
      if (typeof fx.mask256_sum === 'number') expect(b.area).toBe(fx.mask256_sum);
      expect(cropBox(b)).toEqual(fx.crop);
    }
    await s.release();
  });
});

describe.skipIf(!present)('shipped models', () => {
  let seg: ModelBundle;
  let ridge: ModelBundle;
  let segS: ort.InferenceSession;
  let ridgeS: ort.InferenceSession;
  let engine: BoneAgeEngine;

  beforeAll(async () => {
    seg = await loadBundle('hand-segmenter', { modelsDir: REAL_MODELS });
    ridge = await loadBundle('ridgenet', { modelsDir: REAL_MODELS });
    const o = { executionProviders: ['cpu'], logSeverityLevel: 3 as const };
    segS = await ort.InferenceSession.create(seg.onnxPath, o);
    ridgeS = await ort.InferenceSession.create(ridge.onnxPath, o);
    engine = await BoneAgeEngine.create({ modelsDir: REAL_MODELS, providers: ['cpu'] });
  });
  afterAll(async () => {
    await segS?.release();
    await ridgeS?.release();
    await engine?.close();
    await closeDefaultPool();
  });

  it('both cards load with matching SHA-256 (the newest versions)', () => {
    expect(seg.version).toBe(listVersions(REAL_MODELS, 'hand-segmenter').at(-1));
    expect(ridge.version).toBe(listVersions(REAL_MODELS, 'ridgenet').at(-1));
    expect(seg.card.parity?.fixtures.length).toBeGreaterThan(0);
    expect(ridge.card.parity?.fixtures.length).toBeGreaterThan(0);
  });

  it('segmenter: onnxruntime-node logits = PyTorch within 1e-4 relative', async () => {
    const dir = path.join(seg.dir, seg.card.parity!.dir);
    for (const fx of seg.card.parity!.fixtures) {
      const input = fx.input as Ref;
      const out = await segS.run({ image: new ort.Tensor('float32', readF32(path.join(dir, input.file)), input.shape) });
      const ref = readF32(path.join(dir, (fx.logits as Ref).file));
      expect(relErr(out.logits!.data as Float32Array, ref)).toBeLessThan(1e-4);
    }
  });

  it('RidgeNet: bone age (1e-3 months), features and gradient (1e-4 relative) = PyTorch', async () => {
    const dir = path.join(ridge.dir, ridge.card.parity!.dir);
    for (const fx of ridge.card.parity!.fixtures) {
      const input = fx.input as Ref;
      const x = new ort.Tensor('float32', readF32(path.join(dir, input.file)), input.shape);
      for (const c of fx.cases as Record<string, unknown>[]) {
        const out = await ridgeS.run({ image: x, sex: new ort.Tensor('float32', new Float32Array([c.sex as number]), [1, 1]) });
        expect(Math.abs((out.bone_age_months!.data as Float32Array)[0]! - (c.bone_age_months as number))).toBeLessThan(1e-3);
        if (c.features) {
          expect(relErr(out.features!.data as Float32Array, readF32(path.join(dir, (c.features as Ref).file)))).toBeLessThan(1e-4);
          const g = out.d_bone_age_d_features!.data as Float32Array;
          const perChannel = readF32(path.join(dir, (c.d_bone_age_d_features_per_channel as Ref).file));
          const hw = g.length / perChannel.length;
          const full = new Float32Array(g.length);
          for (let k = 0; k < perChannel.length; k++) full.fill(perChannel[k]!, k * hw, (k + 1) * hw);
          expect(relErr(g, full)).toBeLessThan(1e-4);
        }
      }
    }
  });

  it('the TypeScript pipeline reproduces the fixtures: segmenter input, RidgeNet input, bone age', async () => {
    const sdir = path.join(seg.dir, seg.card.parity!.dir);
    const rdir = path.join(ridge.dir, ridge.card.parity!.dir);
    for (const fx of ridge.card.parity!.fixtures) {
      const imgPath = path.resolve(REPO, fx.image as string);
      const { image } = await decodeRaster(readFileSync(imgPath));
      const sfx = seg.card.parity!.fixtures.find((s) => s.image === fx.image);
      const segIn = segmenterInput(image, engine.geometry.seg);
      if (sfx) expect(maxAbsDiff(segIn, readF32(path.join(sdir, (sfx.input as Ref).file)))).toBeLessThan(1e-4);
      const out = await segS.run({ image: new ort.Tensor('float32', segIn, [1, 1, engine.geometry.seg, engine.geometry.seg]) });
      const m = maskFromLogits(out.logits!.data as Float32Array, engine.geometry.seg, engine.geometry.work);
      const box = cropBox(maskBounds(m.mask256, engine.geometry.work)!, engine.geometry.margin);
      if (sfx?.crop) expect(box).toEqual(sfx.crop);
      const rin = ridgeInput(workImage(image, engine.geometry.work), m.mask256, box, engine.geometry.ridge, engine.geometry.work);
      expect(maxAbsDiff(rin, readF32(path.join(rdir, (fx.input as Ref).file)))).toBeLessThan(1e-4);
      const unknown = (fx.cases as { sex: number; bone_age_months: number }[]).find((c) => c.sex === 0.5)!;
      // keepRejectedEstimate: 1418.png (24 months) gets -7.9 months from ridgenet 1.0.0, rejected by the range check.
      const r = await engine.predictFile(imgPath, { sex: 'unknown', keepRejectedEstimate: true });
      const months = r.status === 'ok' ? r.boneAgeMonths : r.modelOutputMonths!;
      // 1418.png (24 months): also farther from the training hands than the content threshold.
      if (r.status === 'rejected') expect(['range', 'content']).toContain(r.stage);
      expect(Math.abs(months - unknown.bone_age_months)).toBeLessThan(1e-3);
      expect(r.sexUsed).toBe('unknown');
    }
  });

  it('the 14 native-size samples pass the header and segmentation checks, in a plausible range of their labels', async () => {
    // Rejected at most: the youngest child by range and content (1418.png, 24 months, -7.9 months from
    // ridgenet 1.0.0, feature distance 29.5) and one hand near the content threshold.
    const labels = readFileSync(path.join(FULLRES, '..', 'labels.csv'), 'utf8').trim().split(/\r?\n/).slice(1).map((l) => l.split(','));
    let abs = 0;
    let rangeRejected = 0;
    for (const [, male, age, file] of labels) {
      const r = await engine.predictFile(path.join(FULLRES, '..', file!), { sex: male === 'true' ? 'male' : 'female', heatmap: false, keepRejectedEstimate: true });
      // A young child may get a slightly negative bone age (range check, 0-240 months) or lie beyond the
      // content check's threshold; nothing else.
      if (r.status === 'rejected') {
        expect(['range', 'content'], `${file}: ${r.reason}`).toContain(r.stage);
        rangeRejected++;
      }
      abs += Math.abs((r.status === 'ok' ? r.boneAgeMonths : r.modelOutputMonths!) - Number(age));
    }
    expect(rangeRejected).toBeLessThanOrEqual(2);
    expect(abs / labels.length).toBeLessThan(30);
  });

  it('the CT, chest and tibia files of ../shared/data/dicom are rejected with a reason', async () => {
    const files = ['ts-matrix-ct', 'cr-wg04']
      .flatMap((d) => readdirSync(path.join(DICOM, d)).map((f) => path.join(DICOM, d, f)))
      .concat([path.join(DICOM, 'cr-misc', 'gdcm-CR-MONO1-10-chest.dcm')]);
    for (const f of files) {
      const r = await engine.predictFile(f);
      expect(r.status, f).toBe('rejected');
      if (r.status === 'rejected') expect(r.reason.length).toBeGreaterThan(10);
    }
  });
});
