/** carpus inference: model bundles, onnxruntime sessions, the bone-age pipeline, Grad-CAM, rejection. */
export { BoneAgeEngine, sexFromDicom, SEGMENTER_NAME, RIDGENET_NAME } from './engine.ts';
export type { BoneAgePrediction, RejectedPrediction, PredictionResult, PredictOptions, EngineOptions, EngineHealth, Heatmap, ModelRef, Sex, StageTimings } from './engine.ts';
export { loadBundle, readCard, listVersions, defaultModelsDir, cardValMae, sha256File, type ModelBundle, type ModelCard } from './card.ts';
export { ModelBundleError, InferenceInputError, type ModelErrorCode, type InputErrorCode } from './errors.ts';
export { checkDicom, checkMask, checkContent, checkAge, DEFAULT_LIMITS, AGE_RANGE_MONTHS, type Rejection, type RejectionCode, type ContentCheck, type MaskQuality, type PlausibilityLimits } from './checks.ts';
export { loadFeatureStats, type FeatureStats } from './feature-stats.ts';
export { parseProviders, parseThreads, stderrLogger, silentLogger, type InferenceLogger } from './session.ts';
export { BatchQueue } from './batch-queue.ts';
export * as preprocess from './preprocess.ts';
export { heatmapPng } from './heatmap-png.ts';

import { BoneAgeEngine, type EngineHealth, type EngineOptions } from './engine.ts';
import { messageOf } from './errors.ts';

let shared: Promise<BoneAgeEngine> | undefined;
let sharedError: string | undefined;

/** Starts (once) the process-wide engine: models loaded, sessions created, warmed up. */
export function startInference(opts: EngineOptions = {}): Promise<BoneAgeEngine> {
  if (!shared) {
    sharedError = undefined;
    shared = BoneAgeEngine.create(opts);
    shared.catch((e: unknown) => {
      sharedError = messageOf(e);
      shared = undefined;
    });
  }
  return shared;
}

export type InferenceHealth = ({ status: 'ready' } & EngineHealth) | { status: 'starting' | 'stopped'; ready: false; error?: string };

/** For /healthz: the execution provider in use, the models, the queues (never throws). */
export async function inferenceHealth(): Promise<InferenceHealth> {
  if (!shared) return { status: 'stopped', ready: false, ...(sharedError ? { error: sharedError } : {}) };
  const settled = await Promise.race([shared.then((e) => e, () => undefined), new Promise<null>((r) => setImmediate(() => r(null)))]);
  if (settled === null) return { status: 'starting', ready: false };
  if (!settled) return { status: 'stopped', ready: false, ...(sharedError ? { error: sharedError } : {}) };
  return { status: 'ready', ...settled.health() };
}

/** Releases the process-wide engine. */
export async function stopInference(): Promise<void> {
  const p = shared;
  shared = undefined;
  if (p) await (await p.catch(() => undefined))?.close();
}
