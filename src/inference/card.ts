/**
 * Model bundles: `<modelsDir>/<name>/<version>/model.json` (the model card written by
 * training/carpus_training/export.py) + `model.onnx`, whose SHA-256 and size must match the card.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ModelBundleError, messageOf } from './errors.ts';
import { loadFeatureStats, type FeatureStats } from './feature-stats.ts';

const ioSchema = z.object({ name: z.string().min(1), shape: z.array(z.union([z.string(), z.number()])).optional() }).passthrough();

const cardSchema = z
  .object({
    name: z.string().min(1),
    version: z.string().min(1),
    onnx_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'),
    onnx_bytes: z.number().int().positive(),
    input: ioSchema.optional(),
    inputs: z.array(ioSchema).optional(),
    outputs: z.array(ioSchema).min(1),
    metrics: z.unknown().optional(),
    parity: z
      .object({
        dir: z.string(),
        tolerance: z.number().positive(),
        fixtures: z.array(z.record(z.string(), z.unknown())),
      })
      .optional(),
  })
  .passthrough();

export type ModelCard = z.infer<typeof cardSchema>;

export interface ModelBundle {
  name: string;
  version: string;
  dir: string;
  onnxPath: string;
  card: ModelCard;
  /** Input names declared by the card, in order. */
  inputNames: string[];
  outputNames: string[];
  /** RidgeNet's pooled-feature statistics for the content check, when the card references them. */
  featureStats?: FeatureStats;
}

/** `CARPUS_MODELS_DIR`, else `models/` of the repository (two levels above this file). */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.CARPUS_MODELS_DIR?.trim();
  if (fromEnv) return path.resolve(fromEnv);
  return path.resolve(import.meta.dirname, '..', '..', 'models');
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isFinite(nx) && Number.isFinite(ny) && x !== '' && y !== '' ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/** Versions of a model present under modelsDir (folders with a model.json), newest last. */
export function listVersions(modelsDir: string, name: string): string[] {
  const nd = path.join(modelsDir, name);
  if (!existsSync(nd) || !statSync(nd).isDirectory()) return [];
  return readdirSync(nd)
    .filter((v) => existsSync(path.join(nd, v, 'model.json')))
    .sort(compareVersions);
}

/** Reads and validates a card (no hashing). */
export function readCard(dir: string): ModelCard {
  const cardPath = path.join(dir, 'model.json');
  if (!existsSync(cardPath)) throw new ModelBundleError('card-missing', `Model card ${cardPath} does not exist`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cardPath, 'utf8'));
  } catch (e) {
    throw new ModelBundleError('card-invalid', `Model card ${cardPath} is not valid JSON: ${messageOf(e)}`);
  }
  const r = cardSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelBundleError('card-invalid', `Model card ${cardPath} is invalid: ${issues}`);
  }
  return r.data;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export interface LoadBundleOptions {
  modelsDir?: string;
  /** Default: the newest version present. */
  version?: string;
  /** Input and output names the runtime needs (checked against the card). */
  requiredInputs?: string[];
  requiredOutputs?: string[];
}

/** Locates, validates and hash-checks one model bundle. */
export async function loadBundle(name: string, opts: LoadBundleOptions = {}): Promise<ModelBundle> {
  const modelsDir = opts.modelsDir ?? defaultModelsDir();
  if (!existsSync(modelsDir)) {
    throw new ModelBundleError('models-dir-missing', `Models folder ${modelsDir} does not exist (set CARPUS_MODELS_DIR)`);
  }
  let version = opts.version;
  if (!version) {
    const versions = listVersions(modelsDir, name);
    version = versions[versions.length - 1];
    if (!version) {
      throw new ModelBundleError('model-missing', `No version of model "${name}" under ${modelsDir} (expected ${name}/<version>/model.json)`);
    }
  }
  const dir = path.join(modelsDir, name, version);
  if (!existsSync(dir)) throw new ModelBundleError('model-missing', `Model ${name} ${version} not found: ${dir} does not exist`);
  const card = readCard(dir);
  if (card.name !== name || card.version !== version) {
    throw new ModelBundleError('card-invalid', `Model card in ${dir} is for ${card.name} ${card.version}, expected ${name} ${version}`);
  }
  const onnxPath = path.join(dir, 'model.onnx');
  if (!existsSync(onnxPath)) throw new ModelBundleError('onnx-missing', `ONNX graph ${onnxPath} does not exist`);
  const size = statSync(onnxPath).size;
  if (size !== card.onnx_bytes) {
    throw new ModelBundleError('onnx-size-mismatch', `${onnxPath} has ${size} bytes, the card says ${card.onnx_bytes}: wrong or truncated file`);
  }
  const digest = await sha256File(onnxPath);
  if (digest !== card.onnx_sha256) {
    throw new ModelBundleError('onnx-sha256-mismatch', `${onnxPath} SHA-256 ${digest} does not match the card's ${card.onnx_sha256}`);
  }
  const inputNames = (card.inputs ?? (card.input ? [card.input] : [])).map((i) => i.name);
  const outputNames = card.outputs.map((o) => o.name);
  for (const n of opts.requiredInputs ?? []) {
    if (!inputNames.includes(n)) throw new ModelBundleError('card-invalid', `Model card of ${name} ${version} declares no input "${n}" (has ${inputNames.join(', ') || 'none'})`);
  }
  for (const n of opts.requiredOutputs ?? []) {
    if (!outputNames.includes(n)) throw new ModelBundleError('card-invalid', `Model card of ${name} ${version} declares no output "${n}" (has ${outputNames.join(', ')})`);
  }
  const featureStats = loadFeatureStats(dir, card);
  return { name, version, dir, onnxPath, card, inputNames, outputNames, ...(featureStats ? { featureStats } : {}) };
}

/** The validation MAE (months, sex given) the card reports, when it does. */
export function cardValMae(card: ModelCard): number | undefined {
  const m = card.metrics as Record<string, unknown> | null | undefined;
  if (!m || typeof m !== 'object') return undefined;
  const paths: string[][] = [
    ['sex_given', 'all', 'mae'],
    ['val', 'sex_given', 'all', 'mae'],
    ['val', 'all', 'mae'],
    ['all', 'mae'],
    ['val_mae'],
    ['mae'],
  ];
  for (const p of paths) {
    let cur: unknown = m;
    for (const k of p) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
    if (typeof cur === 'number') return cur;
  }
  return undefined;
}

/** Height (= width) of a square NCHW input declared by the card, when numeric. */
export function cardInputSize(card: ModelCard, input: string): number | undefined {
  const io = (card.inputs ?? (card.input ? [card.input] : [])).find((i) => i.name === input);
  const shape = io?.shape;
  if (!shape || shape.length !== 4) return undefined;
  const h = shape[2];
  const w = shape[3];
  if (typeof h !== 'number' || typeof w !== 'number') return undefined;
  if (h !== w) throw new ModelBundleError('card-invalid', `Model card of ${card.name} ${card.version}: input "${input}" is ${h}x${w}, a square input is expected`);
  return h;
}

/** Working grid and crop margin from the segmenter card's postprocessing, when given. */
export function cardCropGeometry(card: ModelCard): { work?: number; margin?: number } {
  const crop = (card as { postprocessing?: { crop?: { grid?: unknown; margin?: unknown } } }).postprocessing?.crop;
  const out: { work?: number; margin?: number } = {};
  if (typeof crop?.grid === 'number' && Number.isInteger(crop.grid) && crop.grid > 0) out.work = crop.grid;
  if (typeof crop?.margin === 'number' && Number.isInteger(crop.margin) && crop.margin >= 0) out.margin = crop.margin;
  return out;
}
