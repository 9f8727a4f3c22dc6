// The engine on tiny stand-in models (the shipped ones are exercised in inference-models.test.ts):
// providers and fallback, warm-up, batching, sex handling, Grad-CAM geometry, rejection of the
// CT, chest and tibia DICOM files, /healthz information.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dcmjs from 'dcmjs';
import {
  BatchQueue,
  BoneAgeEngine,
  checkAge,
  checkDicom,
  checkMask,
  DEFAULT_LIMITS,
  inferenceHealth,
  InferenceInputError,
  ModelBundleError,
  parseProviders,
  parseThreads,
  startInference,
  stopInference,
  type BoneAgePrediction,
  type PredictionResult,
  type MaskQuality,
} from '../src/inference/index.ts';
import { closeDefaultPool } from '../src/pixel/index.ts';
import { DICOM, FULLRES } from './inference-helpers/common.ts';
import { tinyModelsDir } from './inference-helpers/tiny-models.ts';

let modelsDir: string;
let engine: BoneAgeEngine;
const logs: string[] = [];
const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m) };

beforeAll(async () => {
  modelsDir = tinyModelsDir();
  engine = await BoneAgeEngine.create({ modelsDir, providers: ['cuda', 'cpu'], log, maxBatch: 4, intraOpThreads: 1 });
});
afterAll(async () => {
  await engine?.close();
  await stopInference();
  await closeDefaultPool();
});

/** A PNG hand radiograph wrapped as a DX DICOM with the given attributes (dcmjs). */
async function handDicom(attrs: Record<string, unknown>): Promise<Uint8Array> {
  const sharp = (await import('sharp')).default;
  const { data, info } = await sharp(path.join(FULLRES, '1377.png')).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  const { DicomMetaDictionary, DicomDict } = dcmjs.data;
  const ds: Record<string, unknown> = {
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.1',
    SOPInstanceUID: DicomMetaDictionary.uid(),
    StudyInstanceUID: DicomMetaDictionary.uid(),
    SeriesInstanceUID: DicomMetaDictionary.uid(),
    Modality: 'DX',
    BodyPartExamined: 'HAND',
    PatientSex: 'M',
    Rows: info.height,
    Columns: info.width,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: new Uint8Array(data).buffer,
    _vrMap: { PixelData: 'OB' },
    ...attrs,
  };
  for (const [k, v] of Object.entries(ds)) if (v === undefined) delete ds[k];
  const meta = {
    MediaStorageSOPClassUID: ds.SOPClassUID,
    MediaStorageSOPInstanceUID: ds.SOPInstanceUID,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: '1.2.826.0.1.3680043.9.7433.1',
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return new Uint8Array(dict.write());
}

describe('configuration', () => {
  it('CARPUS_EXECUTION_PROVIDERS and CARPUS_INTRA_OP_THREADS parsing', () => {
    expect(parseProviders(undefined)).toEqual(['cuda', 'cpu']);
    expect(parseProviders(' CPU ')).toEqual(['cpu']);
    expect(parseProviders('cuda,cpu,cuda')).toEqual(['cuda', 'cpu']);
    expect(() => parseProviders('tpu')).toThrow(/unknown execution provider "tpu"/);
    expect(parseThreads(undefined)).toBeUndefined();
    expect(parseThreads('2')).toBe(2);
    expect(() => parseThreads('two')).toThrow(/CARPUS_INTRA_OP_THREADS/);
  });

  it('CUDA missing: one log line, the CPU provider, reported in health and results', async () => {
    // No CUDA provider library on this machine (onnxruntime-node ships the CPU one only).
    expect(logs.filter((l) => /cuda/i.test(l))).toHaveLength(1);
    expect(logs[0]).toMatch(/^inference: execution provider cuda unavailable .*; using cpu$/);
    const h = engine.health();
    expect(h.executionProvider).toBe('cpu');
    expect(h.providersRequested).toEqual(['cuda', 'cpu']);
    expect(h.fallbacks.map((f) => f.provider)).toEqual(['cuda']);
    expect(h.warmUpMs).toBeGreaterThan(0);
    expect(h.models.map((m) => m.name)).toEqual(['hand-segmenter', 'ridgenet']);
  });

  it('CUDA only: a clear error, no silent CPU', async () => {
    await expect(BoneAgeEngine.create({ modelsDir, providers: ['cuda'], warmUp: false })).rejects.toThrow(ModelBundleError);
    await expect(BoneAgeEngine.create({ modelsDir, providers: ['cuda'], warmUp: false })).rejects.toThrow(/provider cuda/);
  });

  it('inferenceHealth() for /healthz', async () => {
    expect(await inferenceHealth()).toMatchObject({ status: 'stopped', ready: false });
    process.env.CARPUS_MODELS_DIR = modelsDir;
    process.env.CARPUS_EXECUTION_PROVIDERS = 'cpu';
    try {
      const e = await startInference();
      expect(await startInference()).toBe(e);
      const h = await inferenceHealth();
      expect(h).toMatchObject({ status: 'ready', ready: true, executionProvider: 'cpu' });
    } finally {
      delete process.env.CARPUS_MODELS_DIR;
      delete process.env.CARPUS_EXECUTION_PROVIDERS;
      await stopInference();
    }
    expect(await inferenceHealth()).toMatchObject({ status: 'stopped' });
  });
});

describe('pipeline', () => {
  it('PNG: bone age, model, provider, mask figures, heat map over the radiograph in [0,1]', async () => {
    const r = (await engine.predictFile(path.join(FULLRES, '1377.png'), { sex: 'female' })) as BoneAgePrediction;
    expect(r.status).toBe('ok');
    expect(Number.isFinite(r.boneAgeMonths)).toBe(true);
    expect(r.model).toEqual({ name: 'ridgenet', version: '0.0.1-test' });
    expect(r.executionProvider).toBe('cpu');
    expect(r.sexUsed).toBe('female');
    expect(r.sexInput).toBe(0);
    expect(r.image).toMatchObject({ width: 1514, height: 2044, kind: 'png' });
    expect(r.mask.areaFraction).toBeGreaterThan(0.05);
    expect(r.mask.componentCount).toBeGreaterThanOrEqual(1);
    expect(r.heatmap!.data.length).toBe(1514 * 2044);
    let max = 0;
    let min = 1;
    for (const v of r.heatmap!.data) {
      max = Math.max(max, v);
      min = Math.min(min, v);
    }
    expect(min).toBe(0);
    expect(max === 0 || max > 0.95).toBe(true); // scaled to max 1 on the 256 grid (all 0 when the CAM is 0 everywhere)
    const u = (await engine.predictFile(path.join(FULLRES, '1377.png'), { sex: 'unknown' })) as BoneAgePrediction;
    expect(u.heatmap!.data.reduce((a, b) => Math.max(a, b), 0)).toBeGreaterThan(0.95);
    for (const k of ['decode', 'segment', 'regress', 'heatmap', 'total'] as const) expect(r.timingsMs[k]).toBeGreaterThanOrEqual(0);
  });

  it('sex: the option, PatientSex M/F, missing or O -> 0.5 reported as unknown', async () => {
    const male = await engine.predictBytes(await handDicom({ PatientSex: 'M' }));
    const female = await engine.predictBytes(await handDicom({ PatientSex: 'F' }));
    const other = await engine.predictBytes(await handDicom({ PatientSex: 'O' }));
    const none = await engine.predictBytes(await handDicom({ PatientSex: undefined }));
    const forced = await engine.predictBytes(await handDicom({ PatientSex: 'M' }), { sex: 'female' });
    for (const r of [male, female, other, none, forced]) expect(r.status).toBe('ok');
    const ok = (r: typeof male): BoneAgePrediction => r as BoneAgePrediction;
    expect([ok(male).sexUsed, ok(male).sexInput, ok(male).sexSource]).toEqual(['male', 1, 'dicom']);
    expect([ok(female).sexUsed, ok(female).sexInput]).toEqual(['female', 0]);
    expect([ok(other).sexUsed, ok(other).sexInput, ok(other).sexSource]).toEqual(['unknown', 0.5, 'none']);
    expect([ok(none).sexUsed, ok(none).sexInput]).toEqual(['unknown', 0.5]);
    expect([ok(forced).sexUsed, ok(forced).sexSource]).toEqual(['female', 'option']);
    expect(ok(male).boneAgeMonths).not.toBe(ok(female).boneAgeMonths);
    // The same pixels as the PNG (8-bit DICOM, no window: min/max... identical only with a full-range image)
    expect(ok(male).image).toMatchObject({ kind: 'dicom', width: 1514, height: 2044 });
  });

  it('batching: concurrent requests are grouped into model runs and give the same numbers as one by one', async () => {
    const files = ['1377.png', '1380.png', '1418.png', '1511.png', '1512.png', '1513.png'].map((f) => path.join(FULLRES, f));
    const single: number[] = [];
    const age = (r: PredictionResult): number => (r.status === 'ok' ? r.boneAgeMonths : r.modelOutputMonths!);
    for (const f of files) single.push(age(await engine.predictFile(f, { heatmap: false, sex: 'male', keepRejectedEstimate: true })));
    const before = engine.health().queues.segmenter;
    const together = await Promise.all(files.map((f) => engine.predictFile(f, { heatmap: false, sex: 'male', keepRejectedEstimate: true })));
    const after = engine.health().queues.segmenter;
    expect(after.items - before.items).toBe(files.length);
    expect(after.batches - before.batches).toBeLessThan(files.length);
    expect(after.largestBatch).toBeGreaterThan(1);
    expect(after.largestBatch).toBeLessThanOrEqual(4);
    together.forEach((r, i) => expect(Math.abs(age(r) - single[i]!)).toBeLessThan(1e-3));
  });

  it('the queue: bounded batch size and waiting list', async () => {
    const seen: number[] = [];
    const q = new BatchQueue<number, number>(
      async (xs) => {
        seen.push(xs.length);
        await new Promise((r) => setTimeout(r, 5));
        return xs.map((x) => x * 2);
      },
      { maxBatch: 3, concurrency: 1, maxQueued: 7 },
    );
    const ps = Array.from({ length: 7 }, (_, i) => q.submit(i));
    await expect(q.submit(99)).rejects.toThrow(InferenceInputError);
    expect(await Promise.all(ps)).toEqual([0, 2, 4, 6, 8, 10, 12]);
    expect(seen).toEqual([3, 3, 1]);
    q.close();
    await expect(q.submit(1)).rejects.toThrow(/closed/);
  });

  it('requests in flight are bounded; the rest wait, beyond the waiting list: busy', async () => {
    const { Semaphore } = await import('../src/inference/batch-queue.ts');
    const sem = new Semaphore(2, 1);
    const a = await sem.acquire();
    const b = await sem.acquire();
    let cGot = false;
    const c = sem.acquire().then((r) => {
      cGot = true;
      return r;
    });
    await expect(sem.acquire()).rejects.toMatchObject({ code: 'busy' });
    expect(sem.stats()).toEqual({ active: 2, waiting: 1, limit: 2 });
    a();
    a(); // a second release is ignored
    const rc = await c;
    expect(cGot).toBe(true);
    expect(sem.stats()).toEqual({ active: 2, waiting: 0, limit: 2 });
    b();
    rc();
    expect(sem.stats().active).toBe(0);
    expect(engine.health().queues.requests.limit).toBe(8);
  });

  it('bad input: missing file, not an image', async () => {
    await expect(engine.predictFile('/nonexistent/x.png')).rejects.toMatchObject({ code: 'file-missing' });
    await expect(engine.predictFile(path.join(import.meta.dirname, '..', 'package.json'))).rejects.toMatchObject({ code: 'not-an-image' });
    const notDicom = new Uint8Array(400);
    notDicom.set([0x44, 0x49, 0x43, 0x4d], 128);
    await expect(engine.predictBytes(notDicom)).rejects.toMatchObject({ code: 'unreadable-image' });
  });
});

describe('rejection', () => {
  const all = (dir: string): string[] => readdirSync(path.join(DICOM, dir)).filter((f) => f.endsWith('.dcm')).map((f) => path.join(DICOM, dir, f));

  it('every CT file of ../shared/data/dicom (16 transfer syntaxes) and the OT image: not a projection radiograph', async () => {
    for (const f of all('ts-matrix-ct')) {
      const r = await engine.predictFile(f);
      expect(r.status, f).toBe('rejected');
      if (r.status !== 'rejected') continue;
      expect(r.stage).toBe('input');
      if (f.includes('CTImage')) expect(r.reason).toMatch(/not a projection radiograph: SOP class CT Image/);
      else expect(r.reason).toMatch(/secondary capture \(modality OT\) that does not say it shows a hand/);
      expect(r.executionProvider).toBe('cpu');
      expect('boneAgeMonths' in r).toBe(false);
    }
  });

  it('the chest radiographs: body part CHEST', async () => {
    for (const f of [path.join(DICOM, 'cr-misc', 'gdcm-CR-MONO1-10-chest.dcm'), path.join(DICOM, 'cr-wg04', 'RG1_J2KI.dcm')]) {
      const r = await engine.predictFile(f);
      expect(r).toMatchObject({ status: 'rejected', stage: 'input', code: 'body-part' });
      expect((r as { reason: string }).reason).toBe('body part examined is CHEST, not a hand');
    }
  });

  it('the tibia radiographs (EXTREMITY, "distal tibia"), every transfer syntax', async () => {
    const files = all('cr-wg04').filter((f) => path.basename(f).startsWith('RG3'));
    expect(files.length).toBe(8);
    for (const f of files) {
      const r = await engine.predictFile(f);
      expect(r, f).toMatchObject({ status: 'rejected', stage: 'input', code: 'description' });
      expect((r as { reason: string }).reason).toMatch(/names tibia/);
    }
  });

  it('header rules', () => {
    const base = { hasPixelData: true, sopClassUid: '1.2.840.10008.5.1.4.1.1.1', modality: 'CR' };
    expect(checkDicom(base)).toBeUndefined();
    expect(checkDicom({ ...base, bodyPartExamined: 'HAND' })).toBeUndefined();
    expect(checkDicom({ ...base, bodyPartExamined: 'EXTREMITY', studyDescription: 'Bone age left hand' })).toBeUndefined();
    expect(checkDicom({ ...base, bodyPartExamined: 'EXTREMITY', studyDescription: 'Knee AP' })?.code).toBe('description');
    expect(checkDicom({ ...base, bodyPartExamined: 'FOOT' })?.code).toBe('body-part');
    expect(checkDicom({ ...base, sopClassUid: '1.2.840.10008.5.1.4.1.1.4', modality: 'MR' })?.reason).toMatch(/MR Image/);
    expect(checkDicom({ hasPixelData: false, sopClassUid: '1.2.840.10008.5.1.4.1.1.88.33', modality: 'SR' })?.code).toBe('not-an-image-sop-class');
    expect(checkDicom({ ...base, modality: 'MG' })?.code).toBe('modality');
    expect(checkDicom({ ...base, sopClassUid: '1.2.840.10008.5.1.4.1.1.7', modality: 'OT' })?.code).toBe('not-projection-radiograph');
    expect(checkDicom({ ...base, sopClassUid: '1.2.840.10008.5.1.4.1.1.7', modality: 'OT', bodyPartExamined: 'HAND' })).toBeUndefined();
    expect(checkDicom({ ...base, sopClassUid: '1.2.840.10008.5.1.4.1.1.7', modality: 'OT', seriesDescription: 'Bone age' })).toBeUndefined();
    expect(checkDicom({ ...base, patientAge: '045Y' })?.code).toBe('adult');
    expect(checkDicom({ ...base, patientAge: '011Y' })).toBeUndefined();
  });

  it('a DX hand DICOM is read; the same with MR modality or a foot is rejected', async () => {
    expect((await engine.predictBytes(await handDicom({}))).status).toBe('ok');
    expect(await engine.predictBytes(await handDicom({ BodyPartExamined: 'FOOT' }))).toMatchObject({ status: 'rejected', code: 'body-part' });
    expect(await engine.predictBytes(await handDicom({ Modality: 'MR' }))).toMatchObject({ status: 'rejected', code: 'modality' });
  });

  it('segmentation plausibility and range rules', () => {
    const q: MaskQuality = { areaFraction: 0.3, componentCount: 2, largestComponentShare: 0.95, boxAspect: 1.3, boxFill: 0.5, boxFraction: 0.7, empty: false };
    expect(checkMask(q)).toBeUndefined();
    expect(checkMask({ ...q, empty: true })?.code).toBe('no-segmentation');
    expect(checkMask({ ...q, areaFraction: 0.01 })?.code).toBe('mask-area');
    expect(checkMask({ ...q, areaFraction: 0.99 }, { ...DEFAULT_LIMITS, maxAreaFraction: 0.8 })?.code).toBe('mask-area');
    expect(checkMask({ ...q, largestComponentShare: 0.3, componentCount: 9 })?.reason).toMatch(/fragmented into 9 parts/);
    expect(checkMask({ ...q, boxAspect: 6 })?.code).toBe('mask-shape');
    expect(checkMask({ ...q, boxAspect: 0.3 })?.code).toBe('mask-shape');
    expect(checkMask(q, { ...DEFAULT_LIMITS, minAreaFraction: 0.5 })?.code).toBe('mask-area');
    expect(checkAge(120)).toBeUndefined();
    expect(checkAge(-3)?.code).toBe('out-of-range');
    expect(checkAge(300)?.reason).toMatch(/outside 0-240 months/);
    expect(checkAge(NaN)?.code).toBe('out-of-range');
  });

  it('an image with no hand (blank) is rejected at the segmentation stage, with its mask figures', async () => {
    const blank = { width: 400, height: 500, data: new Float32Array(400 * 500) };
    const r = await engine.predictImage(blank);
    expect(r).toMatchObject({ status: 'rejected', stage: 'segmentation', code: 'no-segmentation' });
    const spot = { width: 400, height: 500, data: new Float32Array(400 * 500) };
    for (let y = 200; y < 240; y++) spot.data.fill(1, y * 400 + 180, y * 400 + 220);
    expect(await engine.predictImage(spot)).toMatchObject({ status: 'rejected', stage: 'segmentation', code: 'mask-area' });
    const kept = await engine.predictImage(spot, { keepRejectedEstimate: true });
    expect(kept.status === 'rejected' && typeof kept.modelOutputMonths === 'number').toBe(true);
  });
});

it('the engine reads the same pixels from a DICOM as from its PNG', async () => {
  // 8-bit MONOCHROME2 without window: min/max of the frame (docs/model-input.md 1); 1418.png spans 0..255?
  const png = readFileSync(path.join(FULLRES, '1377.png'));
  const a = (await engine.predictBytes(png, { sex: 'male', heatmap: false })) as BoneAgePrediction;
  const d = (await engine.predictBytes(await handDicom({ WindowCenter: '127.5', WindowWidth: '256' }), { heatmap: false })) as BoneAgePrediction;
  expect(d.status).toBe('ok');
  expect(Math.abs(a.boneAgeMonths - d.boneAgeMonths)).toBeLessThan(0.5);
});
