import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDefaultPool, decode, renderFrame, transcodeToExplicitVRLittleEndian } from '../src/pixel/index.ts';
import { countDiffs, psnr, readReference, tmpDir } from './pixel-helpers.ts';

// Colour test objects made at test time with sharp (JPEG) and DCMTK (img2dcm, dcmdjpeg, dcmcrle).
const work = tmpDir('carpus-color-');
const W = 96;
const H = 64;
const f = (n: string) => path.join(work, n);

function dcmtk(cmd: string, ...args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

beforeAll(async () => {
  const rgb = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = 3 * (y * W + x);
      rgb[i] = x * 2;
      rgb[i + 1] = y * 3;
      rgb[i + 2] = (x * y) % 256;
    }
  }
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toFile(f('c444.jpg'));
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 95, chromaSubsampling: '4:2:0' }).toFile(f('c420.jpg'));
  dcmtk('img2dcm', f('c444.jpg'), f('c444.dcm')); // JPEG baseline, YBR_FULL_422
  dcmtk('img2dcm', f('c420.jpg'), f('c420.dcm'));
  dcmtk('dcmdjpeg', f('c444.dcm'), f('rgb.dcm')); // reference: RGB, by pixel
  dcmtk('dcmdjpeg', f('c420.dcm'), f('rgb420.dcm'));
  dcmtk('dcmdjpeg', '+cn', f('c444.dcm'), f('ybr.dcm')); // native YBR_FULL
  dcmtk('dcmcrle', f('rgb.dcm'), f('rle-rgb.dcm'));
  dcmtk('dcmcrle', f('ybr.dcm'), f('rle-ybr.dcm'));
  dcmtk('dcmcjpls', '+in', f('rgb.dcm'), f('jls-none.dcm')); // colour-by-plane scans
  dcmtk('dcmcjpls', '+il', f('rgb.dcm'), f('jls-line.dcm'));
  dcmtk('dcmcjpls', '+is', f('rgb.dcm'), f('jls-sample.dcm'));
  dcmtk('gdcmconv', '--j2k', f('rgb.dcm'), f('j2k-rgb.dcm')); // lossless, reversible colour transform
  // Native RGB colour-by-plane: rewrite the reference's pixel data and PlanarConfiguration.
  const buf = Buffer.from(fs.readFileSync(f('rgb.dcm')));
  const pc = buf.indexOf(Buffer.from([0x28, 0x00, 0x06, 0x00, 0x55, 0x53, 0x02, 0x00]));
  buf.writeUInt16LE(1, pc + 8);
  const n = W * H;
  const px = buf.subarray(buf.length - 3 * n);
  const planar = Buffer.alloc(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = px[3 * i + c]!;
  planar.copy(px);
  fs.writeFileSync(f('planar.dcm'), buf);
});
afterAll(async () => {
  await closeDefaultPool();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('colour', () => {
  const cases: [string, string, 'exact' | 'psnr', string][] = [
    ['JPEG baseline YBR_FULL_422 (4:4:4) -> RGB', 'c444.dcm', 'psnr', 'rgb.dcm'],
    ['JPEG baseline YBR_FULL_422 (4:2:0) -> RGB', 'c420.dcm', 'psnr', 'rgb420.dcm'],
    ['native YBR_FULL -> RGB', 'ybr.dcm', 'psnr', 'rgb.dcm'],
    ['RLE RGB', 'rle-rgb.dcm', 'exact', 'rgb.dcm'],
    ['RLE YBR_FULL -> RGB', 'rle-ybr.dcm', 'psnr', 'rgb.dcm'],
    ['native RGB, PlanarConfiguration 1', 'planar.dcm', 'exact', 'rgb.dcm'],
    ['JPEG-LS RGB, interleave none', 'jls-none.dcm', 'exact', 'rgb.dcm'],
    ['JPEG-LS RGB, interleave line', 'jls-line.dcm', 'exact', 'rgb.dcm'],
    ['JPEG-LS RGB, interleave sample', 'jls-sample.dcm', 'exact', 'rgb.dcm'],
    ['JPEG 2000 lossless RGB', 'j2k-rgb.dcm', 'exact', 'rgb.dcm'],
  ];
  for (const [name, file, how, refFile] of cases) {
    it(name, async () => {
      const img = await decode(fs.readFileSync(f(file)));
      expect(img.photometricInterpretation).toBe('RGB');
      expect(img.planarConfiguration).toBe(0);
      const ref = readReference(f(refFile));
      expect(ref.photometricInterpretation).toBe('RGB');
      expect(ref.planarConfiguration).toBe(0);
      const ours = img.frames[0]!;
      expect(ours.length).toBe(W * H * 3);
      if (how === 'exact') expect(countDiffs(ours, ref.values)).toBe(0);
      else expect(psnr(ours, ref.values, 255)).toBeGreaterThanOrEqual(40);
    });
  }

  it('renders colour as an RGB PNG and transcodes YBR JPEG to RGB native', async () => {
    const r = await renderFrame(fs.readFileSync(f('c444.dcm')), 1, { mediaType: 'image/png' });
    const meta = await sharp(r.body).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([W, H, 3]);
    const out = await transcodeToExplicitVRLittleEndian(fs.readFileSync(f('c444.dcm')));
    fs.writeFileSync(f('t.dcm'), out);
    const ref = readReference(f('rgb.dcm'));
    const got = readReference(f('t.dcm'));
    expect(got.photometricInterpretation).toBe('RGB');
    expect(got.planarConfiguration).toBe(0);
    expect(psnr(got.values, ref.values, 255)).toBeGreaterThanOrEqual(40);
  });
});
