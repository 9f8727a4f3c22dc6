/** `carpus eval`: run the engine over a labelled set, metrics overall and per sex, JSON and plots. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BoneAgeEngine, PredictionResult } from './engine.ts';
import { messageOf } from './errors.ts';
import { errorMetrics, type ErrorMetrics, type LabelRow } from './metrics.ts';
import { blandAltmanPng, predictedVsActualPng, type Point } from './plots.ts';
import { cardValMae } from './card.ts';

export interface EvalPrediction {
  id: string;
  file: string;
  male: boolean | undefined;
  actualMonths: number;
  /** The model's output (also for images rejected by the mask or range checks). */
  predictedMonths: number | null;
  status: 'ok' | 'rejected' | 'error';
  reason?: string;
  rejectionCode?: string;
  sexUsed?: string;
  mask?: PredictionResult['mask'];
  /** The content check's feature distance (when the card has feature statistics). */
  contentScore?: number;
}

export interface EvalReport {
  n: number;
  mae: number;
  rmse: number;
  rmspe: number;
  meanError: number;
  bySex: { male: ErrorMetrics; female: ErrorMetrics };
  /** Only the images the node would have answered (not rejected). */
  accepted: ErrorMetrics & { bySex: { male: ErrorMetrics; female: ErrorMetrics } };
  images: number;
  rejected: number;
  rejectedWithoutOutput: number;
  errors: number;
  rejections: Record<string, number>;
  model: { name: string; version: string };
  segmenter: { name: string; version: string };
  executionProvider: string;
  card: { valMae: number | null; difference: number | null };
  elapsedSeconds: number;
  imagesPerSecond: number;
  outputs?: string[];
}

export interface EvalOptions {
  /** Images in flight (default 2 x the engine's batch). */
  inFlight?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function evaluate(engine: BoneAgeEngine, rows: LabelRow[], opts: EvalOptions = {}): Promise<{ report: EvalReport; predictions: EvalPrediction[] }> {
  const t0 = performance.now();
  const predictions: EvalPrediction[] = new Array(rows.length);
  const inFlight = Math.max(1, opts.inFlight ?? engine.maxBatch * 2);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= rows.length) return;
      const row = rows[i]!;
      const base = { id: row.id, file: row.file, male: row.male, actualMonths: row.boneAgeMonths };
      try {
        const sex = row.male === undefined ? 'unknown' : row.male ? 'male' : 'female';
        const r = await engine.predictFile(row.file, { sex, heatmap: false, keepRejectedEstimate: true });
        const c = r.contentCheck;
        const content = c.status === 'passed' || c.status === 'failed' ? { contentScore: c.score } : {};
        if (r.status === 'ok') {
          predictions[i] = { ...base, predictedMonths: r.boneAgeMonths, status: 'ok', sexUsed: r.sexUsed, mask: r.mask, ...content };
        } else {
          predictions[i] = {
            ...base,
            predictedMonths: r.modelOutputMonths ?? null,
            status: 'rejected',
            reason: r.reason,
            rejectionCode: r.code,
            ...(r.sexUsed ? { sexUsed: r.sexUsed } : {}),
            ...(r.mask ? { mask: r.mask } : {}),
            ...content,
          };
        }
      } catch (e) {
        predictions[i] = { ...base, predictedMonths: null, status: 'error', reason: messageOf(e) };
      }
      done++;
      opts.onProgress?.(done, rows.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, rows.length) }, worker));
  const elapsed = (performance.now() - t0) / 1000;

  const withOutput = predictions.filter((p) => p.predictedMonths !== null);
  const pairs = (ps: EvalPrediction[]): { predicted: number; actual: number }[] => ps.map((p) => ({ predicted: p.predictedMonths!, actual: p.actualMonths }));
  const all = errorMetrics(pairs(withOutput));
  const bySex = (ps: EvalPrediction[]): { male: ErrorMetrics; female: ErrorMetrics } => ({
    male: errorMetrics(pairs(ps.filter((p) => p.male === true))),
    female: errorMetrics(pairs(ps.filter((p) => p.male === false))),
  });
  const okOnly = withOutput.filter((p) => p.status === 'ok');
  const rejections: Record<string, number> = {};
  for (const p of predictions) if (p.status === 'rejected') rejections[p.rejectionCode ?? 'other'] = (rejections[p.rejectionCode ?? 'other'] ?? 0) + 1;
  const cardMae = cardValMae(engine.ridgenet.card) ?? null;
  const report: EvalReport = {
    n: all.n,
    mae: all.mae,
    rmse: all.rmse,
    rmspe: all.rmspe,
    meanError: all.meanError,
    bySex: bySex(withOutput),
    accepted: { ...errorMetrics(pairs(okOnly)), bySex: bySex(okOnly) },
    images: rows.length,
    rejected: predictions.filter((p) => p.status === 'rejected').length,
    rejectedWithoutOutput: predictions.filter((p) => p.status === 'rejected' && p.predictedMonths === null).length,
    errors: predictions.filter((p) => p.status === 'error').length,
    rejections,
    model: { name: engine.ridgenet.name, version: engine.ridgenet.version },
    segmenter: { name: engine.segmenter.name, version: engine.segmenter.version },
    executionProvider: engine.executionProvider,
    card: { valMae: cardMae, difference: cardMae === null || !Number.isFinite(all.mae) ? null : all.mae - cardMae },
    elapsedSeconds: Math.round(elapsed * 100) / 100,
    imagesPerSecond: Math.round((rows.length / elapsed) * 100) / 100,
  };
  return { report, predictions };
}

/** Writes predictions.json, metrics.json and the four plots; returns the paths. */
export async function writeEvalOutputs(outDir: string, report: EvalReport, predictions: EvalPrediction[]): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  const put = async (name: string, data: string | Buffer): Promise<void> => {
    const p = path.join(outDir, name);
    await writeFile(p, data);
    files.push(p);
  };
  await put('predictions.json', JSON.stringify(predictions, null, 1));
  await put('metrics.json', JSON.stringify(report, null, 2));
  const pts: Point[] = predictions.filter((p) => p.predictedMonths !== null).map((p) => ({ actual: p.actualMonths, predicted: p.predictedMonths!, male: p.male }));
  const label = `${report.model.name} ${report.model.version}`;
  await put('predicted-vs-actual-all.png', await predictedVsActualPng(pts, `${label}: both sexes`, report.mae));
  await put('predicted-vs-actual-male.png', await predictedVsActualPng(pts.filter((p) => p.male === true), `${label}: male`, report.bySex.male.mae));
  await put('predicted-vs-actual-female.png', await predictedVsActualPng(pts.filter((p) => p.male === false), `${label}: female`, report.bySex.female.mae));
  await put('bland-altman.png', await blandAltmanPng(pts, `${label}: Bland-Altman`));
  return files;
}
