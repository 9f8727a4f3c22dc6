/**
 * GPU part of the inference benchmark, run by bench/gpu-inference.sh on a lent GPU machine
 * (UNVERIFIED: written without one). Creates the engine with the CUDA provider ONLY (no CPU
 * fallback, so a CUDA that does not load fails loudly), checks the provider in use, then measures
 * model throughput at batch 1, 8, 32 (segmenter + RidgeNet on preprocessed inputs of the 14 RSNA
 * samples, repeated) and end-to-end images/s with batching.
 *
 *   npx tsx bench/inference-gpu.ts [--providers cuda] [--seconds 10]
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { BoneAgeEngine, stderrLogger } from '../src/inference/index.ts';
import { closeDefaultPool } from '../src/pixel/index.ts';

const args = process.argv.slice(2);
const arg = (n: string, d: string): string => (args.includes(n) ? args[args.indexOf(n) + 1]! : d);
const providers = arg('--providers', 'cuda').split(',');
const seconds = Number(arg('--seconds', '10'));
const FULLRES = path.resolve(import.meta.dirname, '..', '..', 'shared', 'data', 'rsna-fullres-sample', 'images');
const pngs = readdirSync(FULLRES)
  .filter((f) => f.endsWith('.png'))
  .sort()
  .map((f) => new Uint8Array(readFileSync(path.join(FULLRES, f))));

const out: Record<string, unknown> = { providersRequested: providers };
for (const batch of [1, 8, 32]) {
  const e = await BoneAgeEngine.create({ providers, maxBatch: batch, log: stderrLogger, maxQueued: 4096 });
  const h = e.health();
  out.executionProvider = h.executionProvider;
  out.models = h.models;
  if (!providers.includes('cpu') && h.executionProvider !== providers[0]) throw new Error(`expected ${providers[0]}, got ${h.executionProvider}`);
  // End-to-end: decode + preprocess (CPU, JS) + models, `batch` images in flight per model run.
  const inFlight = Math.max(batch * 2, 2);
  let done = 0;
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() - t0 < seconds * 1000) {
      const r = await e.predictBytes(pngs[next++ % pngs.length]!, { heatmap: true });
      if (r.status === 'ok' && r.executionProvider !== h.executionProvider) throw new Error('provider changed');
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const s = (performance.now() - t0) / 1000;
  const q = e.health().queues;
  // Models only: random inputs straight into the batch queues' sessions (no JS preprocessing).
  const g = e.geometry;
  const seg = await ort.InferenceSession.create(e.segmenter.onnxPath, { executionProviders: providers, logSeverityLevel: 3 });
  const ridge = await ort.InferenceSession.create(e.ridgenet.onnxPath, { executionProviders: providers, logSeverityLevel: 3 });
  const xs = new ort.Tensor('float32', new Float32Array(batch * g.seg * g.seg).fill(0.4), [batch, 1, g.seg, g.seg]);
  const xr = new ort.Tensor('float32', new Float32Array(batch * g.ridge * g.ridge).fill(0.4), [batch, 1, g.ridge, g.ridge]);
  const sx = new ort.Tensor('float32', new Float32Array(batch).fill(0.5), [batch, 1]);
  for (let i = 0; i < 3; i++) {
    await seg.run({ image: xs });
    await ridge.run({ image: xr, sex: sx });
  }
  let runs = 0;
  const t1 = performance.now();
  while (performance.now() - t1 < seconds * 500) {
    await seg.run({ image: xs });
    await ridge.run({ image: xr, sex: sx });
    runs++;
  }
  const ms = (performance.now() - t1) / runs;
  out[`batch${batch}`] = {
    endToEndImagesPerSecond: Math.round((done / s) * 10) / 10,
    largestRidgeBatch: q.ridgenet.largestBatch,
    modelsOnlyMsPerBatch: Math.round(ms * 100) / 100,
    modelsOnlyImagesPerSecond: Math.round(((batch * 1000) / ms) * 10) / 10,
  };
  await seg.release();
  await ridge.release();
  await e.close();
  process.stderr.write(`batch ${batch}: ${JSON.stringify(out[`batch${batch}`])}\n`);
}
await closeDefaultPool();
process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
