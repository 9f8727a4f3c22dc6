/**
 * The bone-age engine: segmenter + RidgeNet sessions, batching queues, the pipeline of
 * docs/model-input.md, Grad-CAM, rejection, per-stage timings.
 */
import { performance } from 'node:perf_hooks';
import type { DecodePool, FloatImage } from '../pixel/index.ts';
import { loadBundle, defaultModelsDir, cardCropGeometry, cardInputSize, type ModelBundle } from './card.ts';
import { BatchQueue, Semaphore, type BatchQueueStats } from './batch-queue.ts';
import { checkAge, checkContent, checkDicom, checkMask, DEFAULT_LIMITS, type ContentCheck, type MaskQuality, type PlausibilityLimits, type Rejection } from './checks.ts';
import { mahalanobis, pooledFeatures } from './feature-stats.ts';
import { InferenceInputError } from './errors.ts';
import { decodeRasterSource, isDicom, parseDicom, readInputFile, type DicomAttributes, type SourceKind } from './image-input.ts';
import {
  camToImage,
  cropBox,
  gradCam,
  maskBounds,
  maskFromLogits,
  ridgeInput,
  DEFAULT_GEOMETRY,
  type CropBox,
  type Geometry,
} from './preprocess.ts';
import { floatSource, resizeSource, type ModelSource } from './upsample.ts';
import { createSession, ort, parseProviders, parseThreads, silentLogger, type InferenceLogger, type OrtSession } from './session.ts';

export type Sex = 'male' | 'female' | 'unknown';

export interface ModelRef {
  name: string;
  version: string;
}

export interface StageTimings {
  /** Waiting for a request slot (CARPUS_INFERENCE_IN_FLIGHT). */
  wait: number;
  /** File bytes to the [0,1] image (plus the file read for predictFile). */
  decode: number;
  segment: number;
  regress: number;
  heatmap: number;
  total: number;
}

export interface Heatmap {
  /** Columns of the radiograph. */
  width: number;
  /** Rows of the radiograph. */
  height: number;
  /** rows x columns, row-major, values in [0,1]. */
  data: Float32Array;
}

interface ResultBase {
  model: ModelRef;
  segmenter: ModelRef;
  /** The onnxruntime execution provider the sessions run on. */
  executionProvider: string;
  image: { width: number; height: number; kind: SourceKind; lossy: boolean };
  timingsMs: StageTimings;
  /** Whether the image content looked like a hand radiograph (RidgeNet feature statistics). */
  contentCheck: ContentCheck;
}

export interface BoneAgePrediction extends ResultBase {
  status: 'ok';
  boneAgeMonths: number;
  /** 'unknown' when PatientSex is missing or O and none was given: the model gets 0.5. */
  sexUsed: Sex;
  /** The value fed to the model's `sex` input: 1 male, 0 female, 0.5 unknown. */
  sexInput: number;
  sexSource: 'option' | 'dicom' | 'none';
  mask: MaskQuality;
  /** With `keepImage`. */
  radiograph?: FloatImage;
  /** Crop box on the 256 x 256 working grid. */
  crop: CropBox;
  heatmap?: Heatmap;
}

export interface RejectedPrediction extends ResultBase, Rejection {
  status: 'rejected';
  sexUsed?: Sex;
  mask?: MaskQuality;
  crop?: CropBox;
  /** Only with `keepRejectedEstimate` (evaluation): what the model said although rejected. */
  modelOutputMonths?: number;
}

export type PredictionResult = BoneAgePrediction | RejectedPrediction;

export interface PredictOptions {
  /** Overrides the DICOM PatientSex. */
  sex?: Sex | undefined;
  /** Compute the Grad-CAM heat map (default true). */
  heatmap?: boolean;
  /** Keep the model output of images rejected by the mask or range checks (evaluation). */
  keepRejectedEstimate?: boolean;
  /** Return the decoded [0,1] radiograph as `radiograph` (e.g. to draw the heat map over it). */
  keepImage?: boolean;
}

export interface EngineOptions {
  modelsDir?: string;
  /** Execution providers in order (default CARPUS_EXECUTION_PROVIDERS or cuda,cpu). */
  providers?: string[];
  /** onnxruntime intra-op threads (default CARPUS_INTRA_OP_THREADS, else onnxruntime's choice). */
  intraOpThreads?: number;
  /** Images run together at most (default CARPUS_INFERENCE_MAX_BATCH or 8). */
  maxBatch?: number;
  /** Batches run at once per model (default CARPUS_INFERENCE_CONCURRENCY or 1). */
  concurrency?: number;
  /** Images waiting per model before 'busy' (default 256). */
  maxQueued?: number;
  /** Requests decoded/processed at once (default CARPUS_INFERENCE_IN_FLIGHT or 2 x maxBatch); others wait. */
  maxInFlight?: number;
  segmenterVersion?: string;
  ridgenetVersion?: string;
  warmUp?: boolean;
  limits?: PlausibilityLimits;
  log?: InferenceLogger;
  /** Where compressed DICOM frames are decoded (default: the pixel module's worker pool). */
  decoder?: DecodePool | 'inline';
}

export const SEGMENTER_NAME = 'hand-segmenter';
export const RIDGENET_NAME = 'ridgenet';

interface SegOut {
  logits: Float32Array;
}
interface RidgeIn {
  image: Float32Array;
  sex: number;
}
interface RidgeOut {
  age: number;
  features: Float32Array;
  grad: Float32Array;
  channels: number;
  fh: number;
  fw: number;
}

export interface EngineHealth {
  ready: boolean;
  executionProvider: string;
  providersRequested: string[];
  fallbacks: { provider: string; error: string }[];
  intraOpThreads: number | null;
  maxBatch: number;
  models: (ModelRef & { sha256: string })[];
  queues: { segmenter: BatchQueueStats; ridgenet: BatchQueueStats; requests: { active: number; waiting: number; limit: number } };
  warmUpMs: number | null;
  /** The content check (not-a-hand rejection): its threshold, or why it is not available. */
  contentCheck: { available: true; threshold: number; rule: string } | { available: false; reason: string };
}

function envInt(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not "${v}"`);
  return n;
}

const ms = (t0: number): number => Math.round((performance.now() - t0) * 100) / 100;

function sexValue(sex: Sex): number {
  return sex === 'male' ? 1 : sex === 'female' ? 0 : 0.5;
}

/** PatientSex M/F; anything else (O, empty, missing) is unknown. */
export function sexFromDicom(v: string | undefined): Sex {
  const s = (v ?? '').trim().toUpperCase();
  return s === 'M' ? 'male' : s === 'F' ? 'female' : 'unknown';
}

export class BoneAgeEngine {
  private readonly segQueue: BatchQueue<Float32Array, SegOut>;
  private readonly ridgeQueue: BatchQueue<RidgeIn, RidgeOut>;
  private readonly requests: Semaphore;
  private closed = false;
  private warmUpMs: number | null = null;
  /** Grid sizes from the cards. */
  readonly geometry: Geometry;

  private constructor(
    readonly segmenter: ModelBundle,
    readonly ridgenet: ModelBundle,
    private readonly segSession: OrtSession,
    private readonly ridgeSession: OrtSession,
    readonly executionProvider: string,
    private readonly providersRequested: string[],
    private readonly fallbacks: { provider: string; error: string }[],
    private readonly intraOpThreads: number | undefined,
    readonly maxBatch: number,
    concurrency: number,
    maxQueued: number,
    maxInFlight: number,
    private readonly limits: PlausibilityLimits,
    private readonly log: InferenceLogger,
    private readonly decoder: DecodePool | 'inline' | undefined,
  ) {
    const crop = cardCropGeometry(segmenter.card);
    this.geometry = {
      seg: cardInputSize(segmenter.card, 'image') ?? DEFAULT_GEOMETRY.seg,
      work: crop.work ?? DEFAULT_GEOMETRY.work,
      margin: crop.margin ?? DEFAULT_GEOMETRY.margin,
      ridge: cardInputSize(ridgenet.card, 'image') ?? DEFAULT_GEOMETRY.ridge,
    };
    const q = { maxBatch, concurrency, maxQueued };
    this.requests = new Semaphore(maxInFlight, maxQueued);
    this.segQueue = new BatchQueue((items) => this.runSegmenter(items), q);
    this.ridgeQueue = new BatchQueue((items) => this.runRidge(items), q);
  }

  static async create(opts: EngineOptions = {}): Promise<BoneAgeEngine> {
    const log = opts.log ?? silentLogger;
    const modelsDir = opts.modelsDir ?? defaultModelsDir();
    const providers = opts.providers ?? parseProviders(process.env.CARPUS_EXECUTION_PROVIDERS);
    const threads = opts.intraOpThreads ?? parseThreads(process.env.CARPUS_INTRA_OP_THREADS);
    const maxBatch = opts.maxBatch ?? envInt('CARPUS_INFERENCE_MAX_BATCH', 8);
    const concurrency = opts.concurrency ?? envInt('CARPUS_INFERENCE_CONCURRENCY', 1);
    const segmenter = await loadBundle(SEGMENTER_NAME, {
      modelsDir,
      ...(opts.segmenterVersion ? { version: opts.segmenterVersion } : {}),
      requiredInputs: ['image'],
      requiredOutputs: ['logits'],
    });
    const ridgenet = await loadBundle(RIDGENET_NAME, {
      modelsDir,
      ...(opts.ridgenetVersion ? { version: opts.ridgenetVersion } : {}),
      requiredInputs: ['image', 'sex'],
      requiredOutputs: ['bone_age_months', 'features', 'd_bone_age_d_features'],
    });
    const seg = await createSession(segmenter, { providers, intraOpThreads: threads, log });
    // A provider that failed for the first model is not tried (nor logged) again.
    const rest = providers.slice(providers.indexOf(seg.provider));
    const ridge = await createSession(ridgenet, { providers: rest, intraOpThreads: threads, log });
    const fallbacks = [...seg.fallbacks, ...ridge.fallbacks];
    const provider = seg.provider === ridge.provider ? seg.provider : `${seg.provider}+${ridge.provider}`;
    const engine = new BoneAgeEngine(
      segmenter,
      ridgenet,
      seg.session,
      ridge.session,
      provider,
      providers,
      fallbacks,
      threads,
      maxBatch,
      concurrency,
      opts.maxQueued ?? 256,
      opts.maxInFlight ?? envInt('CARPUS_INFERENCE_IN_FLIGHT', 2 * maxBatch),
      opts.limits ?? DEFAULT_LIMITS,
      log,
      opts.decoder,
    );
    if (!ridgenet.featureStats) log.warn(`inference: ${ridgenet.name} ${ridgenet.version} has no feature statistics: the content check (not-a-hand) is not available`);
    if (opts.warmUp ?? true) await engine.warmUp();
    return engine;
  }

  /** One run of each model on a blank input (first-run allocations, CUDA kernels). */
  async warmUp(): Promise<number> {
    const t0 = performance.now();
    const g = this.geometry;
    await this.runSegmenter([new Float32Array(g.seg * g.seg)]);
    await this.runRidge([{ image: new Float32Array(g.ridge * g.ridge), sex: 0.5 }]);
    this.warmUpMs = ms(t0);
    return this.warmUpMs;
  }

  health(): EngineHealth {
    return {
      ready: !this.closed,
      executionProvider: this.executionProvider,
      providersRequested: this.providersRequested,
      fallbacks: this.fallbacks,
      intraOpThreads: this.intraOpThreads ?? null,
      maxBatch: this.maxBatch,
      models: [this.segmenter, this.ridgenet].map((b) => ({ name: b.name, version: b.version, sha256: b.card.onnx_sha256 })),
      queues: { segmenter: this.segQueue.stats(), ridgenet: this.ridgeQueue.stats(), requests: this.requests.stats() },
      warmUpMs: this.warmUpMs,
      contentCheck: this.ridgenet.featureStats
        ? { available: true, threshold: this.ridgenet.featureStats.threshold, rule: this.ridgenet.featureStats.thresholdRule }
        : { available: false, reason: this.contentUnavailable() },
    };
  }

  private contentUnavailable(): string {
    return `model card of ${this.ridgenet.name} ${this.ridgenet.version} has no feature_stats`;
  }

  /** The content check on one image's RidgeNet features. */
  private contentCheck(r: RidgeOut): { check: ContentCheck; rejection?: Rejection } {
    const stats = this.ridgenet.featureStats;
    if (!stats) return { check: { status: 'not-available', reason: this.contentUnavailable() } };
    const score = mahalanobis(pooledFeatures(r.features, r.channels, r.fh * r.fw), stats);
    const rejection = checkContent(score, stats.threshold);
    return { check: { status: rejection ? 'failed' : 'passed', score, threshold: stats.threshold }, ...(rejection ? { rejection } : {}) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.segQueue.close();
    this.ridgeQueue.close();
    await Promise.all([this.segSession.release(), this.ridgeSession.release()]);
  }

  private async runSegmenter(items: Float32Array[]): Promise<SegOut[]> {
    const n = items.length;
    const S = this.geometry.seg;
    const plane = S * S;
    const x = new Float32Array(n * plane);
    items.forEach((it, i) => x.set(it, i * plane));
    const out = await this.segSession.run({ image: new ort.Tensor('float32', x, [n, 1, S, S]) });
    const logits = out.logits!.data as Float32Array;
    return items.map((_, i) => ({ logits: logits.slice(i * plane, (i + 1) * plane) }));
  }

  private async runRidge(items: RidgeIn[]): Promise<RidgeOut[]> {
    const n = items.length;
    const R = this.geometry.ridge;
    const plane = R * R;
    const x = new Float32Array(n * plane);
    const s = new Float32Array(n);
    items.forEach((it, i) => {
      x.set(it.image, i * plane);
      s[i] = it.sex;
    });
    const out = await this.ridgeSession.run({
      image: new ort.Tensor('float32', x, [n, 1, R, R]),
      sex: new ort.Tensor('float32', s, [n, 1]),
    });
    const age = out.bone_age_months!.data as Float32Array;
    const f = out.features!;
    const g = out.d_bone_age_d_features!.data as Float32Array;
    const [, c, fh, fw] = f.dims as number[];
    const per = c! * fh! * fw!;
    const fd = f.data as Float32Array;
    return items.map((_, i) => ({
      age: age[i]!,
      features: fd.subarray(i * per, (i + 1) * per),
      grad: g.subarray(i * per, (i + 1) * per),
      channels: c!,
      fh: fh!,
      fw: fw!,
    }));
  }

  private base(image: ResultBase['image'], timings: StageTimings, contentCheck: ContentCheck = { status: 'not-run' }): ResultBase {
    return {
      contentCheck,
      model: { name: this.ridgenet.name, version: this.ridgenet.version },
      segmenter: { name: this.segmenter.name, version: this.segmenter.version },
      executionProvider: this.executionProvider,
      image,
      timingsMs: timings,
    };
  }

  /** Predicts from a file (DICOM, PNG, JPEG). */
  async predictFile(file: string, opts: PredictOptions = {}): Promise<PredictionResult> {
    const t0 = performance.now();
    const buf = await readInputFile(file);
    return this.predictBytes(buf, opts, t0);
  }

  /** Predicts from the bytes of a DICOM Part 10 file, a PNG or a JPEG. */
  async predictBytes(buf: Uint8Array, opts: PredictOptions = {}, t0 = performance.now()): Promise<PredictionResult> {
    if (this.closed) throw new InferenceInputError('closed', 'inference engine is closed');
    const tw = performance.now();
    const release = await this.requests.acquire();
    try {
      return await this.predictBytesNow(buf, opts, t0, ms(tw));
    } finally {
      release();
    }
  }

  private async predictBytesNow(buf: Uint8Array, opts: PredictOptions, t0: number, wait: number): Promise<PredictionResult> {
    // Decode time: from the start (file read included) less the wait for a slot.
    const decodeMs = (): number => Math.round((performance.now() - t0 - wait) * 100) / 100;
    let source: ModelSource;
    let kind: SourceKind;
    let lossy: boolean;
    let dicom: DicomAttributes | undefined;
    if (isDicom(buf)) {
      const parsed = parseDicom(buf, this.decoder);
      dicom = parsed.attributes;
      const rej = checkDicom(dicom);
      if (rej) {
        const timings = { wait, decode: decodeMs(), segment: 0, regress: 0, heatmap: 0, total: ms(t0) };
        return { status: 'rejected', ...rej, ...this.base({ width: dicom.columns ?? 0, height: dicom.rows ?? 0, kind: 'dicom', lossy: false }, timings) };
      }
      ({ source, lossy } = await parsed.decodeSource());
      kind = 'dicom';
    } else {
      ({ source, kind, lossy } = await decodeRasterSource(buf));
    }
    const sex: Sex = opts.sex ?? sexFromDicom(dicom?.patientSex);
    const sexSource = opts.sex ? 'option' : dicom?.patientSex && sex !== 'unknown' ? 'dicom' : 'none';
    return this.run(source, { ...opts, sex }, { kind, lossy, t0, sexSource, decodeMs: decodeMs(), wait });
  }

  /** Predicts from an already decoded [0,1] bone-bright radiograph. */
  async predictImage(image: FloatImage, opts: PredictOptions = {}): Promise<PredictionResult> {
    if (this.closed) throw new InferenceInputError('closed', 'inference engine is closed');
    const t0 = performance.now();
    const release = await this.requests.acquire();
    try {
      return await this.run(floatSource(image), opts, { kind: 'image', lossy: false, t0, sexSource: opts.sex ? 'option' : 'none', decodeMs: 0, wait: ms(t0) });
    } finally {
      release();
    }
  }

  private async run(
    source: ModelSource,
    opts: PredictOptions,
    ctx: { kind: SourceKind; lossy: boolean; t0: number; sexSource: BoneAgePrediction['sexSource']; decodeMs: number; wait: number },
  ): Promise<PredictionResult> {
    const { width, height } = source;
    if (width < 8 || height < 8) throw new InferenceInputError('not-an-image', `Image ${width}x${height} is too small to be a radiograph`);
    const timings: StageTimings = { wait: ctx.wait, decode: ctx.decodeMs, segment: 0, regress: 0, heatmap: 0, total: 0 };
    const imgInfo = { width, height, kind: ctx.kind, lossy: ctx.lossy };
    const sex: Sex = opts.sex ?? 'unknown';

    // Segment: resize, segmenter, largest component, mask, crop box, RidgeNet input.
    // Both resizes in one sweep over the source (= segmenterInput and workImage, bit-identical).
    const g = this.geometry;
    let t = performance.now();
    const [segIn, work] = resizeSource(source, [
      { width: g.seg, height: g.seg },
      { width: g.work, height: g.work },
    ]) as [Float32Array, Float32Array];
    const { logits } = await this.segQueue.submit(segIn);
    const m = maskFromLogits(logits, g.seg, g.work);
    const bounds = maskBounds(m.mask256, g.work)!;
    const box = cropBox(bounds, g.margin);
    const bh = bounds.r1 - bounds.r0 + 1;
    const bw = bounds.c1 - bounds.c0 + 1;
    const mask: MaskQuality = {
      areaFraction: bounds.area / (g.work * g.work),
      componentCount: m.components.count,
      largestComponentShare: m.components.foreground > 0 ? m.components.largestSize / m.components.foreground : 0,
      boxAspect: (bh * height) / (bw * width),
      boxFill: bounds.area / (bh * bw),
      boxFraction: (bh * bw) / (g.work * g.work),
      empty: m.empty,
    };
    if (m.empty) this.log.warn('inference: the segmenter found no hand (empty mask)');
    const maskRej = checkMask(mask, this.limits);
    const rIn = ridgeInput(work, m.mask256, box, g.ridge, g.work);
    timings.segment = ms(t);

    if (maskRej && !opts.keepRejectedEstimate) {
      timings.total = ms(ctx.t0);
      return { status: 'rejected', ...maskRej, ...this.base(imgInfo, timings), sexUsed: sex, mask, crop: box };
    }

    t = performance.now();
    const r = await this.ridgeQueue.submit({ image: rIn, sex: sexValue(sex) });
    const content = this.contentCheck(r);
    timings.regress = ms(t);
    // Order: mask, content (not a hand), then range.
    const rej = maskRej ?? content.rejection ?? checkAge(r.age);
    if (rej) {
      timings.total = ms(ctx.t0);
      return {
        status: 'rejected',
        ...rej,
        ...this.base(imgInfo, timings, content.check),
        sexUsed: sex,
        mask,
        crop: box,
        ...(opts.keepRejectedEstimate ? { modelOutputMonths: r.age } : {}),
      };
    }

    let heatmap: Heatmap | undefined;
    if (opts.heatmap ?? true) {
      t = performance.now();
      const cam = gradCam(r.features, r.grad, r.channels, r.fh, r.fw);
      const mapped = camToImage(cam, r.fh, r.fw, box, width, height, g.ridge, g.work);
      heatmap = { width, height, data: mapped.data };
      timings.heatmap = ms(t);
    }
    timings.total = ms(ctx.t0);
    return {
      status: 'ok',
      boneAgeMonths: r.age,
      ...this.base(imgInfo, timings, content.check),
      sexUsed: sex,
      sexInput: sexValue(sex),
      sexSource: ctx.sexSource,
      mask,
      crop: box,
      ...(heatmap ? { heatmap } : {}),
      ...(opts.keepImage ? { radiograph: source.full() } : {}),
    };
  }
}
