// The engine's fast path (src/inference/upsample.ts resizeSource, image-input.ts row sources) must
// give bit for bit what the reference path gives: the pixel module's modelImageFromDecoded /
// decodeRaster image, then resizeBilinear (= segmenterInput / workImage, parity-tested against the
// Python reference in inference-preprocess.test.ts).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { closeDefaultPool, decode, modelImageFromDecoded, parsePart10, resizeBilinear, type FloatImage } from '../src/pixel/index.ts';
import { decodeRaster, decodeRasterSource, modelSourceFromDecoded } from '../src/inference/image-input.ts';
import { floatSource, resizeFast, resizeSource, type ModelSource } from '../src/inference/upsample.ts';
import { FULLRES, R299 } from './inference-helpers/common.ts';

afterAll(() => closeDefaultPool());

const DICOM = path.resolve(import.meta.dirname, '..', '..', 'shared', 'data', 'dicom');
const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

// Square model grids, a non-square one, an upscale and an identity axis.
function sizesFor(img: FloatImage): { width: number; height: number }[] {
  return [
    { width: 128, height: 128 },
    { width: 256, height: 256 },
    { width: 192, height: 160 },
    { width: img.width * 2 + 1, height: 7 },
    { width: img.width, height: 64 },
  ];
}

function expectSameAsReference(src: ModelSource, ref: FloatImage): void {
  expect([src.width, src.height]).toEqual([ref.width, ref.height]);
  expect(same(src.full().data, ref.data)).toBe(true);
  const sizes = sizesFor(ref);
  const got = resizeSource(src, sizes);
  sizes.forEach((s, i) => expect(same(got[i]!, resizeBilinear(ref, s.width, s.height).data), `${s.width}x${s.height}`).toBe(true));
}

describe('DICOM: pixels + presentation LUT = modelImageFromDecoded', () => {
  const files = [
    ...['cr-misc', 'cr-wg04'].flatMap((d) => readdirSync(path.join(DICOM, d)).map((f) => path.join(DICOM, d, f))),
    // Signed CT with rescale, big endian, deflated.
    ...readdirSync(path.join(DICOM, 'ts-matrix-ct'))
      .filter((f) => /^CTImage\.dcm(_BigEndian|_Deflated|$)/.test(f))
      .map((f) => path.join(DICOM, 'ts-matrix-ct', f)),
  ];
  it('has the test images', () => expect(files.length).toBeGreaterThanOrEqual(12));
  for (const file of files) {
    it(path.basename(file), async () => {
      const img = await decode(parsePart10(readFileSync(file)), { frames: [1], decoder: 'inline' });
      const src = modelSourceFromDecoded(img, 0);
      expectSameAsReference(src, modelImageFromDecoded(img, 0));
    });
  }
  it('integer grey frames take the LUT path (MONOCHROME1 inverted in the LUT)', async () => {
    const img = await decode(parsePart10(new Uint8Array(readFileSync(path.join(DICOM, 'cr-misc', 'gdcm-CR-MONO1-10-chest.dcm')))), { frames: [1], decoder: 'inline' });
    expect(img.photometricInterpretation).toBe('MONOCHROME1');
    const src = modelSourceFromDecoded(img, 0);
    // The fast path really is the LUT one (a float source's full() returns the same object every time).
    expect(src.full()).not.toBe(src.full());
  });
});

describe('PNG/JPEG: pixels + value/255 LUT = decodeRaster', () => {
  const files = [path.join(FULLRES, '1377.png'), path.join(FULLRES, '1489.png'), path.join(R299, 'images', '1379.jpg')];
  for (const file of files) {
    it(path.basename(file), async () => {
      const buf = readFileSync(file);
      const { image } = await decodeRaster(buf);
      const { source } = await decodeRasterSource(buf);
      expectSameAsReference(source, image);
    });
  }
  it('RGB and 16-bit grey PNGs', async () => {
    const w = 97;
    const h = 61;
    const rgb = Buffer.alloc(w * h * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) % 256;
    const grey16 = new Uint16Array(w * h);
    for (let i = 0; i < grey16.length; i++) grey16[i] = (i * 977) % 65536;
    const pngs = [
      await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer(),
      await sharp(Buffer.from(grey16.buffer), { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16').png().toBuffer(),
    ];
    for (const png of pngs) {
      const { image } = await decodeRaster(png);
      const { source } = await decodeRasterSource(png);
      expectSameAsReference(source, image);
    }
  });
});

describe('float sources and the heat-map upsample', () => {
  it('resizeSource of a float image = resizeBilinear', () => {
    const img = { width: 300, height: 211, data: new Float32Array(300 * 211).map((_, i) => ((i * 2654435761) % 1000) / 999) };
    expectSameAsReference(floatSource(img), img);
  });
  it('resizeFast skips zero rows and columns and stays bit-identical', () => {
    const g = new Float32Array(256 * 256);
    for (let y = 40; y < 190; y++) for (let x = 70; x < 150; x++) g[y * 256 + x] = ((y * 31 + x * 17) % 100) / 99;
    const img = { width: 256, height: 256, data: g };
    for (const [w, h] of [[2048, 1536], [1514, 2044], [255, 257], [256, 1000]] as const) {
      expect(same(resizeFast(img, w, h).data, resizeBilinear(img, w, h).data), `${w}x${h}`).toBe(true);
    }
    expect(resizeFast({ width: 256, height: 256, data: new Float32Array(65536) }, 600, 400).data.every((v) => v === 0)).toBe(true);
  });
});
