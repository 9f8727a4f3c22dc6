// Model cards (models/<name>/<version>/model.json): SHA-256 and size of each .onnx, parity fixture
// files present with the declared shapes, and (when onnxruntime-node is installed) the ONNX graphs
// reproduce the PyTorch outputs stored in the fixtures. CI never retrains. A RidgeNet card with
// test-time flip (1.5.1 on) also stores PyTorch autograd's Grad-CAM of the averaged age: the runtime's
// gradCam over the graph's 2C channels must give it.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gradCam } from '../src/inference/preprocess.ts';

const MODELS = join(import.meta.dirname, '..', 'models');

interface ArrayRef { file: string; shape: number[]; dtype: string }
interface Card {
  name: string;
  version: string;
  onnx_sha256: string;
  onnx_bytes: number;
  parity: { dir: string; tolerance: number; fixtures: Record<string, unknown>[] };
}

function cards(): { dir: string; card: Card }[] {
  const out: { dir: string; card: Card }[] = [];
  if (!existsSync(MODELS)) return out;
  for (const name of readdirSync(MODELS)) {
    const nd = join(MODELS, name);
    if (!statSync(nd).isDirectory()) continue;
    for (const version of readdirSync(nd)) {
      const dir = join(nd, version);
      if (existsSync(join(dir, 'model.json'))) {
        out.push({ dir, card: JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as Card });
      }
    }
  }
  return out;
}

function readF32(dir: string, ref: ArrayRef): Float32Array {
  const buf = readFileSync(join(dir, ref.file));
  const n = ref.shape.reduce((a, b) => a * b, 1);
  expect(buf.byteLength).toBe(n * 4);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return new Float32Array(ab);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function arrayRefs(x: unknown): ArrayRef[] {
  if (x === null || typeof x !== 'object') return [];
  const o = x as Record<string, unknown>;
  if (typeof o.file === 'string' && Array.isArray(o.shape)) return [o as unknown as ArrayRef];
  return Object.values(o).flatMap(arrayRefs);
}

// Minimal view of onnxruntime-node (an optional dependency here; imported by name at run time).
interface OrtTensor { data: unknown; dims: readonly number[] }
interface OrtSession { run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }
interface Ort {
  InferenceSession: { create(path: string, opts: object): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
}

async function loadOrt(): Promise<Ort | null> {
  const name = 'onnxruntime-node';
  try {
    const mod = (await import(name)) as Ort & { default?: Ort };
    return mod.InferenceSession ? mod : (mod.default ?? null);
  } catch {
    return null;
  }
}

const all = cards();

describe('model cards', () => {
  it('ships both models', () => {
    const names = all.map((c) => c.card.name).sort();
    expect(names).toEqual(expect.arrayContaining(['hand-segmenter', 'ridgenet']));
  });

  for (const { dir, card } of all) {
    describe(`${card.name} ${card.version}`, () => {
      it('SHA-256 and size of model.onnx match the card; under 30 MB', () => {
        const bytes = readFileSync(join(dir, 'model.onnx'));
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(card.onnx_sha256);
        expect(bytes.byteLength).toBe(card.onnx_bytes);
        expect(bytes.byteLength).toBeLessThan(30 * 1024 * 1024);
      });

      // RidgeNet's content-check statistics (optional per card; the shipped one has them).
      // defined for RidgeNet cards only (the segmenter has no pooled features): not a skip
      if (card.name === 'ridgenet') it('feature statistics: file beside the card with its SHA-256 and size, for this ONNX', () => {
        const ref = (card as unknown as { feature_stats?: { file: string; sha256: string; bytes: number } }).feature_stats;
        expect(ref, 'run training/carpus_training/feature_stats.py (training/README.md)').toBeDefined();
        const bytes = readFileSync(join(dir, ref!.file));
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(ref!.sha256);
        expect(bytes.byteLength).toBe(ref!.bytes);
        const stats = JSON.parse(bytes.toString('utf8')) as { model: { onnx_sha256: string }; channels: number; mean: number[]; precision: number[]; threshold: number };
        expect(stats.model.onnx_sha256).toBe(card.onnx_sha256);
        expect(stats.mean.length).toBe(stats.channels);
        expect(stats.precision.length).toBe(stats.channels ** 2);
        expect(stats.threshold).toBeGreaterThan(0);
        // the content check pools the `features` output: one statistic per declared channel
        const featOut = (card as unknown as { outputs: { name: string; shape: (number | string)[] }[] }).outputs.find((o) => o.name === 'features');
        expect(stats.channels).toBe(featOut!.shape[1]);
      });

      it('parity fixture files exist with the declared shapes', () => {
        const refs = arrayRefs(card.parity.fixtures);
        expect(refs.length).toBeGreaterThan(0);
        for (const r of refs) readF32(join(dir, card.parity.dir), r);
      });

      it('onnxruntime reproduces the PyTorch outputs', async () => {
        const ort = await loadOrt();
        expect(ort, 'onnxruntime-node is a dependency: npm ci installs it').toBeDefined();
        if (!ort) return;
        const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), {
          executionProviders: ['cpu'],
          logSeverityLevel: 3,
        });
        const pdir = join(dir, card.parity.dir);
        let camChecks = 0;
        for (const fx of card.parity.fixtures) {
          const input = fx.input as ArrayRef;
          const x = new ort.Tensor('float32', readF32(pdir, input), input.shape);
          if (card.name === 'hand-segmenter') {
            const out = await session.run({ image: x });
            const ref = readF32(pdir, fx.logits as ArrayRef);
            expect(maxAbsDiff(out.logits!.data as Float32Array, ref)).toBeLessThan(card.parity.tolerance * 10);
          } else {
            for (const c of fx.cases as Record<string, unknown>[]) {
              const sex = new ort.Tensor('float32', new Float32Array([c.sex as number]), [1, 1]);
              const out = await session.run({ image: x, sex });
              const age = (out.bone_age_months!.data as Float32Array)[0]!;
              expect(Math.abs(age - (c.bone_age_months as number))).toBeLessThan(1e-3);
              if (c.features) {
                const f = out.features!.data as Float32Array;
                const fr = readF32(pdir, c.features as ArrayRef);
                // the graph's feature layout is the card's (2C channels with test-time flip)
                const declared = (card as unknown as { outputs: { name: string; shape: (number | string)[] }[] }).outputs.find((o) => o.name === 'features')!.shape;
                expect(out.features!.dims.slice(1)).toEqual(declared.slice(1));
                expect(out.d_bone_age_d_features!.dims).toEqual(out.features!.dims);
                expect(f.length).toBe(fr.length);
                let worst = 0;
                for (let i = 0; i < fr.length; i++) worst = Math.max(worst, Math.abs(f[i]! - fr[i]!) / (1 + Math.abs(fr[i]!)));
                expect(worst).toBeLessThan(card.parity.tolerance);
                const g = out.d_bone_age_d_features!.data as Float32Array;
                const gc = readF32(pdir, c.d_bone_age_d_features_per_channel as ArrayRef);
                const hw = g.length / gc.length;
                let worstG = 0;
                for (let k = 0; k < gc.length; k++) {
                  for (let j = 0; j < hw; j++) {
                    worstG = Math.max(worstG, Math.abs(g[k * hw + j]! - gc[k]!) / (1e-2 + Math.abs(gc[k]!)));
                  }
                }
                expect(worstG).toBeLessThan(card.parity.tolerance);
                if (c.gradcam) {
                  const [, ch, fh, fw] = out.features!.dims as number[];
                  const cam = gradCam(f, g, ch!, fh!, fw!);
                  const ref = readF32(pdir, c.gradcam as ArrayRef);
                  expect(cam.length).toBe(ref.length);
                  // a CAM that is 0 everywhere (every position's weighted sum negative, e.g. 1418.png) must stay 0
                  const scale = Math.max(...ref);
                  if (scale === 0) expect(Math.max(...cam)).toBe(0);
                  else {
                    expect(maxAbsDiff(cam, ref) / scale).toBeLessThan(card.parity.tolerance);
                    camChecks++;
                  }
                }
              }
            }
          }
        }
        const tta = (card as unknown as { test_time_augmentation?: { type: string } }).test_time_augmentation;
        if (tta?.type === 'hflip') expect(camChecks, 'a test-time-flip card stores non-zero autograd Grad-CAM fixtures').toBeGreaterThan(0);
      });
    });
  }
});
