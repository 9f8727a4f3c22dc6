import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { resizeBilinear, toModelTensor, u8ToUnit, type FloatImage } from '../src/pixel/index.ts';
import { dataDir, tmpDir } from './pixel-helpers.ts';

const PY = '/usr/bin/python3';
const work = tmpDir('carpus-model-input-');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

// Pillow itself is the reference: mode 'F' image, Image.resize((W, H), Image.BILINEAR).
const PIL_RESIZE = `
import sys, json, numpy as np
from PIL import Image
jobs = json.load(open(sys.argv[1]))
for j in jobs:
    if j.get('png'):
        a = np.asarray(Image.open(j['png']).convert('L'), dtype=np.uint8)
        a = (a.astype(np.float32) / np.float32(255.0)).astype(np.float32)
    else:
        a = np.fromfile(j['in'], dtype='<f4').reshape(j['h'], j['w'])
    out = np.asarray(Image.fromarray(a, mode='F').resize((j['W'], j['H']), Image.BILINEAR), dtype=np.float32)
    out.astype('<f4').tofile(j['out'])
`;

interface Job {
  in?: string;
  png?: string;
  w: number;
  h: number;
  W: number;
  H: number;
  out: string;
}

function runPil(jobs: Job[]): Float32Array[] {
  const script = path.join(work, 'pil_resize.py');
  fs.writeFileSync(script, PIL_RESIZE);
  const spec = path.join(work, `jobs-${Date.now()}.json`);
  fs.writeFileSync(spec, JSON.stringify(jobs));
  execFileSync(PY, [script, spec], { stdio: ['ignore', 'inherit', 'inherit'] });
  return jobs.map((j) => {
    const b = fs.readFileSync(j.out);
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Deterministic pseudo-random image (mulberry32). */
function randomImage(w: number, h: number, seed: number): FloatImage {
  let s = seed >>> 0;
  const data = new Float32Array(w * h);
  for (let i = 0; i < data.length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return { width: w, height: h, data };
}

describe('resizeBilinear matches Pillow BILINEAR on mode F', () => {
  it('random images, down and up, integer and fractional factors', () => {
    const sizes: [number, number, number, number][] = [
      [1514, 2044, 128, 128],
      [1514, 2044, 256, 256],
      [299, 299, 256, 256],
      [128, 128, 256, 256],
      [201, 173, 160, 160],
      [90, 90, 160, 160],
      [7, 5, 3, 11],
      [1760, 1760, 299, 299],
      [64, 48, 64, 20],
    ];
    const jobs: Job[] = [];
    const ours: Float32Array[] = [];
    sizes.forEach(([w, h, W, H], i) => {
      const img = randomImage(w, h, 1234 + i);
      const inFile = path.join(work, `r${i}.f32`);
      fs.writeFileSync(inFile, Buffer.from(img.data.buffer));
      jobs.push({ in: inFile, w, h, W, H, out: path.join(work, `r${i}.out.f32`) });
      ours.push(resizeBilinear(img, W, H).data);
    });
    const ref = runPil(jobs);
    ref.forEach((r, i) => expect(maxAbsDiff(ours[i]!, r), `case ${sizes[i]!.join('x')}`).toBeLessThan(1e-4));
  });

  it('a full-size radiograph PNG, value/255, to the model sizes', async () => {
    const png = path.join(dataDir, 'rsna-fullres-sample/images/1377.png');
    const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(1);
    const img = u8ToUnit(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info.width, info.height);
    const targets: [number, number][] = [
      [128, 128],
      [256, 256],
      [160, 160],
      [299, 299],
    ];
    const jobs = targets.map(([W, H], i) => ({ png, w: info.width, h: info.height, W, H, out: path.join(work, `p${i}.f32`) }));
    const ref = runPil(jobs);
    targets.forEach(([W, H], i) => expect(maxAbsDiff(resizeBilinear(img, W, H).data, ref[i]!)).toBeLessThan(1e-4));
  });
});

describe('toModelTensor', () => {
  it('normalises per channel and lays out NCHW', () => {
    const img: FloatImage = { width: 4, height: 2, data: Float32Array.from([0, 0.25, 0.5, 1, 1, 0.5, 0.25, 0]) };
    const t = toModelTensor(img, { width: 4, height: 2, channels: 3, mean: [0.5, 0, 1], std: [0.5, 1, 2] });
    expect(t.dims).toEqual([1, 3, 2, 4]);
    expect(Array.from(t.data.subarray(0, 8))).toEqual([-1, -0.5, 0, 1, 1, 0, -0.5, -1]);
    expect(Array.from(t.data.subarray(8, 16))).toEqual(Array.from(img.data));
    expect(t.data[16]).toBeCloseTo(-0.5, 6);
    expect(() => toModelTensor(img, { width: 4, height: 2, std: 0 })).toThrow();
  });
});

// The model-specific pipeline (mask, crop, RidgeNet input) is checked against the training
// reference in test/inference-preprocess.test.ts.
