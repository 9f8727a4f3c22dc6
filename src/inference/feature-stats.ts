/**
 * Content check (is this image a hand radiograph at all?), independent of the DICOM header:
 * Mahalanobis distance of RidgeNet's pooled features (the mean over the grid of its `features`
 * output, i.e. what its head sees) to the training hands' distribution. The statistics (mean,
 * Ledoit-Wolf precision matrix, threshold at a high percentile of the val hands' distances) are
 * made by training/carpus_training/feature_stats.py, stored beside the ONNX as
 * `feature-stats.json` and referenced from model.json (`feature_stats`: file, sha256, bytes),
 * checked at load like the ONNX. A card without them: the check is reported as not available.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ModelCard } from './card.ts';
import { ModelBundleError, messageOf } from './errors.ts';

export const FEATURE_STATS_FORMAT = 'carpus-feature-stats/1';

const refSchema = z.object({
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'),
  bytes: z.number().int().positive(),
  format: z.literal(FEATURE_STATS_FORMAT),
});

const statsSchema = z
  .object({
    format: z.literal(FEATURE_STATS_FORMAT),
    model: z.object({ name: z.string(), version: z.string(), onnx_sha256: z.string() }),
    channels: z.number().int().positive(),
    mean: z.array(z.number()),
    precision: z.array(z.number()),
    threshold: z.number().positive(),
    threshold_rule: z.string(),
    val: z.object({ n: z.number().int(), false_rejection_rate: z.number() }).passthrough(),
  })
  .passthrough();

export interface FeatureStats {
  file: string;
  channels: number;
  mean: Float64Array;
  /** channels x channels, row-major. */
  precision: Float64Array;
  threshold: number;
  thresholdRule: string;
  /** Share of the val hands above the threshold when the statistics were made. */
  valFalseRejectionRate: number;
}

/** Loads and checks the statistics a card references; undefined when it references none. */
export function loadFeatureStats(dir: string, card: ModelCard): FeatureStats | undefined {
  const rawRef = (card as { feature_stats?: unknown }).feature_stats;
  if (rawRef === undefined) return undefined;
  const id = `${card.name} ${card.version}`;
  const ref = refSchema.safeParse(rawRef);
  if (!ref.success) {
    throw new ModelBundleError('card-invalid', `Model card of ${id}: feature_stats is invalid: ${ref.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const file = path.join(dir, ref.data.file);
  if (path.dirname(path.resolve(file)) !== path.resolve(dir)) throw new ModelBundleError('card-invalid', `Model card of ${id}: feature_stats.file must be a file beside model.json`);
  if (!existsSync(file)) throw new ModelBundleError('feature-stats-missing', `Feature statistics ${file} named by the card of ${id} do not exist`);
  const bytes = readFileSync(file);
  if (bytes.length !== ref.data.bytes) {
    throw new ModelBundleError('feature-stats-mismatch', `${file} has ${bytes.length} bytes, the card says ${ref.data.bytes}: wrong or truncated file`);
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== ref.data.sha256) throw new ModelBundleError('feature-stats-mismatch', `${file} SHA-256 ${digest} does not match the card's ${ref.data.sha256}`);
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ModelBundleError('feature-stats-invalid', `${file} is not valid JSON: ${messageOf(e)}`);
  }
  const r = statsSchema.safeParse(raw);
  if (!r.success) throw new ModelBundleError('feature-stats-invalid', `${file} is invalid: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const s = r.data;
  if (s.model.name !== card.name || s.model.version !== card.version || s.model.onnx_sha256 !== card.onnx_sha256) {
    throw new ModelBundleError('feature-stats-invalid', `${file} was made for ${s.model.name} ${s.model.version} (ONNX ${s.model.onnx_sha256.slice(0, 12)}), not for this ${id}`);
  }
  const c = s.channels;
  if (s.mean.length !== c || s.precision.length !== c * c) {
    throw new ModelBundleError('feature-stats-invalid', `${file}: ${c} channels but ${s.mean.length} means and ${s.precision.length} precision values`);
  }
  const featuresOut = card.outputs.find((o) => o.name === 'features');
  const declared = featuresOut?.shape?.[1];
  if (typeof declared === 'number' && declared !== c) {
    throw new ModelBundleError('feature-stats-invalid', `${file} has ${c} channels, the card's features output ${declared}`);
  }
  return {
    file,
    channels: c,
    mean: Float64Array.from(s.mean),
    precision: Float64Array.from(s.precision),
    threshold: s.threshold,
    thresholdRule: s.threshold_rule,
    valFalseRejectionRate: s.val.false_rejection_rate,
  };
}

/** Mean over the grid of each channel of one image's `features` (channels x grid, row-major). */
export function pooledFeatures(features: Float32Array, channels: number, grid: number): Float64Array {
  const g = new Float64Array(channels);
  for (let k = 0; k < channels; k++) {
    let s = 0;
    const off = k * grid;
    for (let j = 0; j < grid; j++) s += features[off + j]!;
    g[k] = s / grid;
  }
  return g;
}

/** sqrt((f - mean)^T P (f - mean)) in float64. */
export function mahalanobis(f: Float64Array, stats: Pick<FeatureStats, 'channels' | 'mean' | 'precision'>): number {
  const c = stats.channels;
  if (f.length !== c) throw new Error(`${f.length} pooled features, the statistics have ${c}`);
  const d = new Float64Array(c);
  for (let i = 0; i < c; i++) d[i] = f[i]! - stats.mean[i]!;
  let q = 0;
  for (let i = 0; i < c; i++) {
    let row = 0;
    const off = i * c;
    for (let j = 0; j < c; j++) row += stats.precision[off + j]! * d[j]!;
    q += d[i]! * row;
  }
  return Math.sqrt(Math.max(q, 0));
}
