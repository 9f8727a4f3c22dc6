/**
 * The Analyzer step: inference on one radiograph, then the SR writer (TID 1500 SR + heat-map SC).
 * The inference backend is pluggable so the queue, idempotency and delivery can be tested without
 * model weights; the node uses the real engine of src/inference unless told otherwise.
 */
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import type { ContentCheck } from '../inference/checks.ts';
import { deterministicUid, writeBoneAgeReports, type AgeAssessment, type Heatmap, type ModelIdentity, type Sex, type WrittenReports } from '../sr-writer/index.ts';

/** What an inference backend says about one radiograph. */
export type InferenceOutcome =
  | {
      status: 'ok';
      boneAgeMonths: number;
      sex: Sex;
      executionProvider: string;
      heatmap: Heatmap;
      maskQuality?: Record<string, number>;
      parameters?: Record<string, string | number | boolean>;
      timingsMs?: Record<string, number>;
    }
  | { status: 'rejected'; reason: string; code?: string; executionProvider: string; timingsMs?: Record<string, number> };

export interface InferenceBackend {
  /** The model whose results this backend produces (loads the models on first call). */
  model(): Promise<ModelIdentity>;
  infer(part10: Uint8Array): Promise<InferenceOutcome>;
  close(): Promise<void>;
}

export type AnalysisOutcome =
  | { status: 'done'; model: ModelIdentity; executionProvider: string; numbers: AgeAssessment; reports: WrittenReports; sex: Sex; timingsMs: Record<string, number> }
  | { status: 'rejected'; model: ModelIdentity; executionProvider: string; reason: string; timingsMs: Record<string, number> };

/** The content check (not-a-hand) as an algorithm parameter of the SR. */
function contentCheckText(c: ContentCheck): string {
  if (c.status === 'passed' || c.status === 'failed') return `${c.status}: feature distance ${c.score.toFixed(2)} (threshold ${c.threshold.toFixed(2)})`;
  return c.status === 'not-available' ? `not available (${c.reason})` : 'not run';
}

/** UIDs of the result objects are a function of (source instance, model): a rerun after a crash rewrites the same objects. */
export function resultUids(sop: string, model: ModelIdentity): { srSeries: string; srInstance: string; scSeries: string; scInstance: string; tracking: string } {
  const k = (what: string) => deterministicUid(['carpus', what, sop, model.name, model.version, model.sha256]);
  return { srSeries: k('sr-series'), srInstance: k('sr'), scSeries: k('sc-series'), scInstance: k('sc'), tracking: k('tracking') };
}

export class Analyzer {
  constructor(readonly backend: InferenceBackend) {}

  model(): Promise<ModelIdentity> {
    return this.backend.model();
  }

  async analyze(part10: Uint8Array, sop: string): Promise<AnalysisOutcome> {
    const model = await this.backend.model();
    const t0 = performance.now();
    const inf = await this.backend.infer(part10);
    const inferenceMs = performance.now() - t0;
    if (inf.status === 'rejected') {
      return { status: 'rejected', model, executionProvider: inf.executionProvider, reason: inf.reason, timingsMs: { inference: inferenceMs, ...inf.timingsMs } };
    }
    const uids = resultUids(sop, model);
    const t1 = performance.now();
    const reports = await writeBoneAgeReports(
      part10,
      {
        boneAgeMonths: inf.boneAgeMonths,
        sex: inf.sex,
        model,
        executionProvider: inf.executionProvider,
        heatmap: inf.heatmap,
        ...(inf.maskQuality ? { maskQuality: inf.maskQuality } : {}),
        ...(inf.parameters ? { parameters: inf.parameters } : {}),
      },
      {
        overrides: {
          srSeriesInstanceUid: uids.srSeries,
          srSopInstanceUid: uids.srInstance,
          scSeriesInstanceUid: uids.scSeries,
          scSopInstanceUid: uids.scInstance,
          trackingUid: uids.tracking,
        },
      },
    );
    const reportMs = performance.now() - t1;
    return {
      status: 'done',
      model,
      executionProvider: inf.executionProvider,
      numbers: reports.numbers,
      reports,
      sex: inf.sex,
      timingsMs: { inference: inferenceMs, report: reportMs, ...inf.timingsMs },
    };
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

/** The real engine of src/inference (RidgeNet + segmenter, Grad-CAM), started on first use. */
export function engineBackend(): InferenceBackend {
  let engine: Promise<import('../inference/index.ts').BoneAgeEngine> | undefined;
  const get = () => {
    if (!engine) {
      engine = import('../inference/index.ts').then((m) => m.startInference());
      // A failed start (no models yet) is retried by the next job.
      engine.catch(() => {
        engine = undefined;
      });
    }
    return engine;
  };
  return {
    async model() {
      const e = await get();
      return { name: e.ridgenet.name, version: e.ridgenet.version, sha256: e.ridgenet.card.onnx_sha256 };
    },
    async infer(part10): Promise<InferenceOutcome> {
      const e = await get();
      const r = await e.predictBytes(part10, { heatmap: true });
      if (r.status === 'rejected') return { status: 'rejected', reason: r.reason, code: r.code, executionProvider: r.executionProvider, timingsMs: { ...r.timingsMs } } satisfies InferenceOutcome;
      if (!r.heatmap) throw new Error('inference returned no heat map');
      return {
        status: 'ok',
        boneAgeMonths: r.boneAgeMonths,
        sex: r.sexUsed === 'male' ? 'M' : r.sexUsed === 'female' ? 'F' : 'unknown',
        executionProvider: r.executionProvider,
        heatmap: { ...r.heatmap, method: 'Grad-CAM' },
        maskQuality: Object.fromEntries(Object.entries(r.mask).filter((kv): kv is [string, number] => typeof kv[1] === 'number')),
        parameters: { segmenter: `${r.segmenter.name} ${r.segmenter.version}`, sexSource: r.sexSource, contentCheck: contentCheckText(r.contentCheck) },
        timingsMs: { ...r.timingsMs },
      };
    },
    async close() {
      if (engine) await import('../inference/index.ts').then((m) => m.stopInference());
    },
  };
}

/**
 * CARPUS_ANALYSIS_INFERENCE_MODULE: a module whose default export is `(env) => InferenceBackend`,
 * used instead of the engine (the test suite's slow stub; an alternative engine). Unset: the engine.
 */
export async function loadBackend(modulePath: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<InferenceBackend> {
  if (!modulePath) return engineBackend();
  const mod = (await import(pathToFileURL(path.resolve(modulePath)).href)) as { default: (env: NodeJS.ProcessEnv) => InferenceBackend | Promise<InferenceBackend> };
  return mod.default(env);
}
