import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { applyWindow, closeDefaultPool, decode, present, type DecodedImage, type PixelModule } from '../src/pixel/index.ts';
import { dataFile, referenceDecode, tmpDir } from './pixel-helpers.ts';

const work = tmpDir('carpus-present-');
afterAll(async () => {
  await closeDefaultPool();
  fs.rmSync(work, { recursive: true, force: true });
});

/** DCMTK's rendering with the file's first window (what a DICOM viewer shows), as 8-bit gray. */
async function dcmtkRendering(file: string): Promise<Uint8Array> {
  const out = path.join(work, `${path.basename(file)}.png`);
  // DCMTK has no JPEG 2000 decoder: let GDCM decompress first (pixels unchanged).
  const input = file.includes('J2K') ? referenceDecode(file, work) : file;
  execFileSync('dcmj2pnm', ['+Wi', '1', '+on', input, out], { stdio: ['ignore', 'ignore', 'pipe'] });
  const { data } = await sharp(out).greyscale().raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) {
    const x = a[i]!, y = b[i]!;
    sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y;
  }
  const cov = sab / n - (sa / n) * (sb / n);
  return cov / Math.sqrt((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2));
}

describe('MONOCHROME1 comes out bone-bright, as DCMTK displays it', () => {
  for (const f of ['cr-wg04/RG3_JPLL.dcm', 'cr-misc/gdcm-CR-MONO1-10-chest.dcm', 'cr-misc/orthanc_Issue44_Monochrome1-Jpeg.dcm', 'cr-wg04/RG1_J2KI.dcm']) {
    it(path.basename(f), async () => {
      const file = dataFile(f);
      const img = await decode(fs.readFileSync(file));
      expect(img.photometricInterpretation).toBe('MONOCHROME1');
      const pres = present(img, img.frames[0]!);
      expect(pres.kind).toBe('gray');
      const ours = Array.from((pres as { data: Float32Array }).data, (v) => Math.round(v * 255));
      const ref = await dcmtkRendering(file);
      expect(ref.length).toBe(ours.length);
      // Same polarity and windowing: near-identical grey levels.
      expect(correlation(ours, ref)).toBeGreaterThan(0.99);
      let mad = 0;
      for (let i = 0; i < ref.length; i++) mad += Math.abs(ours[i]! - ref[i]!);
      expect(mad / ref.length).toBeLessThan(2);
    });
  }

  it('the per-value lookup path equals the per-pixel path', async () => {
    const img = await decode(fs.readFileSync(dataFile('ts-matrix-ct/CTImage.dcm_JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm')));
    const px = img.frames[0]!;
    for (const opts of [{}, { minMax: true }, { window: { center: 40, width: 400, function: 'SIGMOID' as const } }]) {
      const fast = present(img, px, opts) as { data: Float32Array };
      const slow = present(img, Float32Array.from(px), opts) as { data: Float32Array };
      expect(Array.from(fast.data)).toEqual(Array.from(slow.data));
    }
  });

  it('MONOCHROME1 is the inverse of the same data read as MONOCHROME2', async () => {
    const img = await decode(fs.readFileSync(dataFile('cr-wg04/RG3_UNC.dcm')));
    const m1 = present(img, img.frames[0]!);
    const m2 = present({ ...img, photometricInterpretation: 'MONOCHROME2' }, img.frames[0]!);
    const a = (m1 as { data: Float32Array }).data;
    const b = (m2 as { data: Float32Array }).data;
    for (let i = 0; i < a.length; i += 997) expect(a[i]! + b[i]!).toBeCloseTo(1, 6);
  });
});

function fakeImage(values: number[], module: Partial<PixelModule>): { img: DecodedImage; px: Int16Array } {
  const m: PixelModule = {
    transferSyntaxUid: '1.2.840.10008.1.2.1', rows: 1, columns: values.length, samplesPerPixel: 1, photometricInterpretation: 'MONOCHROME2',
    bitsAllocated: 16, bitsStored: 16, highBit: 15, pixelRepresentation: 1, planarConfiguration: 0, numberOfFrames: 1,
    rescaleSlope: 1, rescaleIntercept: 0, windows: [], voiLutFunction: 'LINEAR', voiLuts: [], ...module,
  };
  const px = Int16Array.from(values);
  const img: DecodedImage = {
    transferSyntaxUid: m.transferSyntaxUid, rows: 1, columns: values.length, samplesPerPixel: 1, photometricInterpretation: m.photometricInterpretation,
    storedPhotometricInterpretation: m.photometricInterpretation, bitsAllocated: 16, bitsStored: 16, highBit: 15, pixelRepresentation: 1,
    planarConfiguration: 0, numberOfFrames: 1, lossy: false, module: m, frames: [px], frameNumbers: [1],
  };
  return { img, px };
}

describe('VOI and Modality LUT (PS3.3 C.11)', () => {
  it('LINEAR window follows the standard formula (centre - 0.5, width - 1)', () => {
    const v = Float32Array.from([-160, -159.5, 39.5, 239, 240]);
    applyWindow(v, { center: 40, width: 400 });
    expect(v[0]).toBe(0);
    expect(v[1]).toBeCloseTo((-159.5 - 39.5) / 399 + 0.5, 6);
    expect(v[2]).toBeCloseTo(0.5, 6);
    expect(v[3]).toBeCloseTo((239 - 39.5) / 399 + 0.5, 6);
    expect(v[4]).toBe(1);
  });

  it('LINEAR_EXACT and SIGMOID', () => {
    const e = Float32Array.from([-160, 40, 240, 241]);
    applyWindow(e, { center: 40, width: 400, function: 'LINEAR_EXACT' });
    expect(Array.from(e)).toEqual([0, 0.5, 1, 1]);
    const s = Float32Array.from([40, 140]);
    applyWindow(s, { center: 40, width: 400, function: 'SIGMOID' });
    expect(s[0]).toBeCloseTo(0.5, 6);
    expect(s[1]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
  });

  it('rescale slope/intercept before the window; several windows; explicit window wins', () => {
    const { img, px } = fakeImage([1023, 1064, 2048], { rescaleSlope: 1, rescaleIntercept: -1024, windows: [{ center: 40, width: 81 }, { center: 1000, width: 2001 }] });
    const a = present(img, px) as { data: Float32Array };
    expect(a.data[0]).toBe(0); // -1 HU: at or below 40 - 0.5 - 40
    expect(a.data[1]).toBeCloseTo(0.5 + 0.5 / 80, 6); // 40 HU
    const b = present(img, px, { windowIndex: 1 }) as { data: Float32Array };
    expect(b.data[2]).toBeCloseTo((1024 - 999.5) / 2000 + 0.5, 6);
    const c = present(img, px, { window: { center: 0, width: 2, function: 'LINEAR_EXACT' } }) as { data: Float32Array };
    expect(Array.from(c.data)).toEqual([0, 1, 1]);
  });

  it('VOI LUT Sequence, Modality LUT Sequence, and min-max when nothing is stored', () => {
    const lut = { entries: 4, firstMapped: 10, bits: 8, data: Uint16Array.from([0, 51, 204, 255]) };
    const { img, px } = fakeImage([9, 10, 11, 12, 13], { voiLuts: [lut] });
    const a = present(img, px) as { data: Float32Array };
    expect(Array.from(a.data, (x) => Math.round(x * 255))).toEqual([0, 0, 51, 204, 255]);
    const mod = fakeImage([0, 1, 2], { modalityLut: { entries: 3, firstMapped: 0, bits: 16, data: Uint16Array.from([100, 300, 200]) } });
    const b = present(mod.img, mod.px) as { data: Float32Array; voi: { kind: string } };
    expect(b.voi.kind).toBe('min-max');
    expect(Array.from(b.data)).toEqual([0, 1, 0.5]);
  });
});
