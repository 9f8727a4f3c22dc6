import fs from 'node:fs';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { closeDefaultPool, decode, negotiateRenderedMediaType, parseViewportParam, parseWindowParam, present, renderFrame } from '../src/pixel/index.ts';
import { dataFile } from './pixel-helpers.ts';

afterAll(async () => {
  await closeDefaultPool();
});

const CT = dataFile('ts-matrix-ct/CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm');

async function rawGray(buf: Buffer): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(buf).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

describe('rendered (PS3.18)', () => {
  it('PNG of RG3 equals the presented image (stored window, MONOCHROME1 inverted)', async () => {
    const buf = fs.readFileSync(dataFile('cr-wg04/RG3_JPLL.dcm'));
    const r = await renderFrame(buf, 1, { mediaType: 'image/png' });
    expect(r.mediaType).toBe('image/png');
    expect(r.body.subarray(1, 4).toString('latin1')).toBe('PNG');
    const png = await rawGray(r.body);
    expect([png.width, png.height]).toEqual([1760, 1760]);
    const img = await decode(buf);
    const pres = present(img, img.frames[0]!) as { data: Float32Array };
    for (let i = 0; i < png.data.length; i += 1009) expect(png.data[i]).toBe(Math.round(pres.data[i]! * 255));
  });

  it('JPEG with window and quality', async () => {
    const buf = fs.readFileSync(CT);
    const narrow = await renderFrame(buf, 1, { mediaType: 'image/jpeg', window: parseWindowParam('40,400,linear'), quality: 80 });
    expect(narrow.body[0]).toBe(0xff);
    expect(narrow.body[1]).toBe(0xd8);
    const wide = await renderFrame(buf, 1, { mediaType: 'image/png', window: parseWindowParam('1000,4000') });
    const soft = await renderFrame(buf, 1, { mediaType: 'image/png', window: parseWindowParam('40,400') });
    const a = await rawGray(wide.body);
    const b = await rawGray(soft.body);
    const mean = (d: Uint8Array) => d.reduce((s, v) => s + v, 0) / d.length;
    // Air (-1000 HU) is black in both; soft-tissue window saturates bone and fat differently.
    expect(Math.abs(mean(a.data) - mean(b.data))).toBeGreaterThan(5);
  });

  it('viewport scales the region to fit, keeping its aspect ratio, and flips on negative extents', async () => {
    const buf = fs.readFileSync(CT);
    const r1 = await renderFrame(buf, 1, { mediaType: 'image/png', viewport: parseViewportParam('128,128') });
    expect([r1.width, r1.height]).toEqual([128, 128]);
    const r2 = await renderFrame(buf, 1, { mediaType: 'image/png', viewport: parseViewportParam('100,100,0,0,512,256') });
    expect([r2.width, r2.height]).toEqual([100, 50]);
    expect((await sharp(r2.body).metadata()).height).toBe(50);
    const region = await renderFrame(buf, 1, { mediaType: 'image/png', viewport: parseViewportParam('64,64,100,200,64,64') });
    const flipped = await renderFrame(buf, 1, { mediaType: 'image/png', viewport: parseViewportParam('64,64,164,200,-64,64') });
    const a = await rawGray(region.body);
    const b = await rawGray(flipped.body);
    for (let y = 0; y < 64; y += 7) for (let x = 0; x < 64; x += 5) expect(b.data[y * 64 + (63 - x)]).toBe(a.data[y * 64 + x]);
    await expect(renderFrame(buf, 1, { viewport: parseViewportParam('64,64,500,500,64,64') })).rejects.toMatchObject({ code: 'bad-parameter' });
  });

  it('a small viewport of a JPEG 2000 image decodes a lower resolution level and looks the same', async () => {
    const { j2kDecompositionLevels } = await import('../src/pixel/decode.ts');
    const { encapsulatedFrame, parsePart10 } = await import('../src/pixel/parse.ts');
    const j2k = fs.readFileSync(dataFile('cr-wg04/RG3_J2KR.dcm'));
    expect(j2kDecompositionLevels(encapsulatedFrame(parsePart10(j2k), 0))).toBeGreaterThanOrEqual(2);
    const unc = fs.readFileSync(dataFile('cr-wg04/RG3_UNC.dcm'));
    for (const size of [440, 300]) {
      const a = await rawGray((await renderFrame(j2k, 1, { mediaType: 'image/png', viewport: { vw: size, vh: size } })).body);
      const b = await rawGray((await renderFrame(unc, 1, { mediaType: 'image/png', viewport: { vw: size, vh: size } })).body);
      expect([a.width, a.height]).toEqual([size, size]);
      let se = 0;
      for (let i = 0; i < a.data.length; i++) se += (a.data[i]! - b.data[i]!) ** 2;
      const psnr = 10 * Math.log10((255 * 255) / (se / a.data.length));
      expect(psnr, `viewport ${size}`).toBeGreaterThan(35);
    }
  });

  it('parses and rejects parameters; negotiates the media type', () => {
    expect(parseWindowParam('40,400,sigmoid')).toEqual({ center: 40, width: 400, function: 'SIGMOID' });
    expect(parseWindowParam('-600, 1500')).toEqual({ center: -600, width: 1500, function: 'LINEAR' });
    expect(() => parseWindowParam('40')).toThrow();
    expect(() => parseWindowParam('40,0')).toThrow();
    expect(() => parseWindowParam('40,400,cubic')).toThrow();
    expect(parseViewportParam('512,512')).toEqual({ vw: 512, vh: 512 });
    expect(() => parseViewportParam('512')).toThrow();
    expect(() => parseViewportParam('a,b')).toThrow();
    expect(negotiateRenderedMediaType('image/png')).toBe('image/png');
    expect(negotiateRenderedMediaType('image/png;q=0.5, image/jpeg')).toBe('image/jpeg');
    expect(negotiateRenderedMediaType(undefined)).toBe('image/jpeg');
    expect(negotiateRenderedMediaType('image/gif')).toBeUndefined();
  });
});
