// docs/model-input.md sections 3-4 against the Python reference (training/carpus_training/
// preprocess.py, run with /usr/bin/python3) within 1e-4, plus the pieces on their own.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { resizeBilinear } from '../src/pixel/index.ts';
import { decodeRaster } from '../src/inference/image-input.ts';
import { camToImage, cropBox, gradCam, largestComponent, maskBounds, maskFromLogits, ridgeInput, segmenterInput, workImage } from '../src/inference/preprocess.ts';
import { resizeFast } from '../src/inference/upsample.ts';
import { loadBundle } from '../src/inference/card.ts';
import { FULLRES, R299, REAL_MODELS, REPO, maxAbsDiff, readF32, realModelPresent } from './inference-helpers/common.ts';
import { tinyModelsDir } from './inference-helpers/tiny-models.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'carpus-prep-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('pieces', () => {
  it('largest 8-connected component; ties go to the first in row-major order', () => {
    // 5x5: a diagonal pair (8-connected, size 2) at top-left, a size-2 horizontal pair at bottom.
    const b = new Uint8Array([
      1, 0, 0, 0, 0,
      0, 1, 0, 0, 0,
      0, 0, 0, 0, 0,
      0, 0, 0, 1, 1,
      0, 0, 0, 0, 0,
    ]);
    const c = largestComponent(b, 5, 5);
    expect(c.count).toBe(2);
    expect(c.largestSize).toBe(2);
    expect(c.foreground).toBe(4);
    expect([...c.largest]).toEqual([1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b[24] = 1; // bottom pair becomes 3 (diagonal to (3,4)->(4,4)? (3,4) and (4,4) are vertical neighbours)
    expect(largestComponent(b, 5, 5).largest[24]).toBe(1);
  });

  it('empty logits: mask of all ones, flagged', () => {
    const m = maskFromLogits(new Float32Array(128 * 128).fill(-1));
    expect(m.empty).toBe(true);
    expect(m.mask256.every((v) => v === 1)).toBe(true);
  });

  it('crop box: square, margin 8, floor division, may leave the grid', () => {
    const mask = new Float32Array(256 * 256);
    for (let y = 10; y <= 59; y++) for (let x = 0; x <= 19; x++) mask[y * 256 + x] = 1; // h 50, w 20
    const b = maskBounds(mask)!;
    expect(b).toMatchObject({ r0: 10, r1: 59, c0: 0, c1: 19, area: 1000 });
    expect(cropBox(b)).toEqual({ top: 2, left: -23, side: 66 });
    const work = new Float32Array(256 * 256).fill(0.5);
    const x = ridgeInput(work, mask, cropBox(b), 66); // same size: no resampling
    expect(x[8 * 66 + 23]).toBeCloseTo(0.5, 6); // (10,0) inside
    expect(x[8 * 66 + 22]).toBe(0); // left of the image
  });

  it('resizeFast is bit-identical to the pixel module resize', () => {
    const g = new Float32Array(256 * 256);
    for (let i = 0; i < g.length; i++) g[i] = ((i * 2654435761) % 1000) / 999;
    for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) if (y < 30 || x > 200) g[y * 256 + x] = 0;
    const img = { width: 256, height: 256, data: g };
    for (const [w, h] of [[1514, 2044], [2044, 1514], [299, 299], [257, 1000], [160, 160], [100, 300]] as const) {
      expect(Buffer.from(resizeFast(img, w, h).data.buffer).equals(Buffer.from(resizeBilinear(img, w, h).data.buffer))).toBe(true);
    }
  });

  it('Grad-CAM: alpha = mean gradient per channel, ReLU of the weighted sum, mapped into [0,1] inside the crop box', () => {
    const c = 3;
    const hw = 4;
    const feats = new Float32Array(c * hw);
    const grad = new Float32Array(c * hw);
    feats.set([1, 2, 3, 4], 0);
    feats.set([4, 3, 2, 1], 4);
    feats.set([9, 9, 9, 9], 8);
    grad.fill(0.5, 0, 4); // alpha 0.5
    grad.set([-1, -1, -1, -1], 4); // alpha -1
    grad.set([1, -1, 1, -1], 8); // alpha 0
    const cam = gradCam(feats, grad, c, 2, 2);
    expect([...cam]).toEqual([0, 0, 0, 1]); // 0.5*[1,2,3,4] - [4,3,2,1] = [-3.5,-2,-0.5,1]
    const box = { top: 100, left: 60, side: 50 };
    const full = camToImage(cam, 2, 2, box, 600, 400);
    expect(full.data.length).toBe(600 * 400);
    let mx = 0;
    let outside = 0;
    for (let y = 0; y < 400; y++) {
      for (let x = 0; x < 600; x++) {
        const v = full.data[y * 600 + x]!;
        expect(v >= 0 && v <= 1).toBe(true);
        mx = Math.max(mx, v);
        // 256 grid -> image: x * 600/256, y * 400/256; box x 60..110, y 100..150 (+1 px of filter)
        const gx = (x + 0.5) * (256 / 600);
        const gy = (y + 0.5) * (256 / 400);
        if (gx < 58 || gx > 112 || gy < 98 || gy > 152) outside = Math.max(outside, v);
      }
    }
    expect(mx).toBeGreaterThan(0.95);
    expect(mx).toBeLessThanOrEqual(1);
    expect(outside).toBe(0);
  });
});

// Logits from the shipped segmenter when present, else from the tiny stand-in (a threshold).
const modelsDir = realModelPresent('hand-segmenter') ? REAL_MODELS : undefined;
const images = [
  path.join(FULLRES, '1377.png'),
  path.join(FULLRES, '1418.png'),
  path.join(FULLRES, '1489.png'),
  path.join(R299, 'images', '1379.jpg'),
];

describe(`preprocessing parity with the Python reference (${modelsDir ? 'shipped segmenter' : 'tiny stand-in segmenter'})`, () => {
  let session: ort.InferenceSession;
  beforeAll(async () => {
    const b = await loadBundle('hand-segmenter', { modelsDir: modelsDir ?? tinyModelsDir() });
    session = await ort.InferenceSession.create(b.onnxPath, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  });
  afterAll(async () => session?.release());

  for (const file of images) {
    it(path.basename(file), async () => {
      const { image } = await decodeRaster(readFileSync(file));
      const seg = segmenterInput(image);
      const out = await session.run({ image: new ort.Tensor('float32', seg, [1, 1, 128, 128]) });
      const logits = out.logits!.data as Float32Array;
      const lf = path.join(tmp, `${path.basename(file)}.logits.f32`);
      writeFileSync(lf, logits);
      const od = path.join(tmp, path.basename(file));
      execFileSync('/usr/bin/python3', ['-m', 'carpus_training.preprocess', file, od, '--seg-logits', lf], {
        cwd: REPO,
        env: { ...process.env, PYTHONPATH: path.join(REPO, 'training') },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const meta = JSON.parse(readFileSync(path.join(od, 'meta.json'), 'utf8')) as { crop: { top: number; left: number; side: number }; arrays: { ridge_input: { shape: number[] } } };
      const ridgeSize = meta.arrays.ridge_input.shape[2]!;
      const work = workImage(image);
      const m = maskFromLogits(logits);
      const box = cropBox(maskBounds(m.mask256)!);
      const rin = ridgeInput(work, m.mask256, box, ridgeSize);
      expect(maxAbsDiff(seg, readF32(path.join(od, 'seg_input.f32')))).toBeLessThan(1e-4);
      expect(maxAbsDiff(work, readF32(path.join(od, 'work.f32')))).toBeLessThan(1e-4);
      expect(maxAbsDiff(m.mask256, readF32(path.join(od, 'mask256.f32')))).toBe(0);
      expect(box).toEqual(meta.crop);
      expect(maxAbsDiff(rin, readF32(path.join(od, 'ridge_input.f32')))).toBeLessThan(1e-4);
    });
  }
});
