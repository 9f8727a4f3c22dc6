/**
 * The BitsStored pass of toPixelArray is skipped only when the codec's reported sample range
 * (native OpenJPEG: the codestream's precision and sign) proves it cannot change a value. Streams
 * whose precision exceeds BitsStored, or whose sign differs from PixelRepresentation, are made
 * here with DCMTK dcmodify (only the Image Pixel attributes change, not the codestream) and must
 * still be masked and sign-extended, through the worker pool as the server decodes.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDefaultPool, decode, parsePart10 } from '../src/pixel/index.ts';
import dicomParser from 'dicom-parser';
import { decodeFrameBytes } from '../src/pixel/decode.ts';
import { encapsulatedFrame } from '../src/pixel/parse.ts';
import { samplesNeedNoFix, toPixelArray } from '../src/pixel/pixels.ts';
import { dataFile, tmpDir } from './pixel-helpers.ts';

const ctJ2k = dataFile('ts-matrix-ct/CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm');
const ctRaw = dataFile('ts-matrix-ct/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm');
const rg3J2k = dataFile('cr-wg04/RG3_J2KR.dcm');
const rg3Raw = dataFile('cr-wg04/RG3_UNC.dcm');

let dir: string;
let env: string | undefined;
beforeAll(() => {
  dir = tmpDir('carpus-sample-range-');
  env = process.env.CARPUS_J2K_DECODER;
  process.env.CARPUS_J2K_DECODER = 'native';
});
afterAll(async () => {
  if (env === undefined) delete process.env.CARPUS_J2K_DECODER;
  else process.env.CARPUS_J2K_DECODER = env;
  await closeDefaultPool();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of `file` with BitsStored, HighBit and PixelRepresentation changed by dcmodify. */
function variant(file: string, name: string, bitsStored: number, pixelRepresentation: number): Uint8Array {
  const out = path.join(dir, `${name}.dcm`);
  fs.copyFileSync(file, out);
  fs.chmodSync(out, 0o644);
  const m = [`(0028,0101)=${bitsStored}`, `(0028,0102)=${bitsStored - 1}`, `(0028,0103)=${pixelRepresentation}`];
  execFileSync('dcmodify', ['-nb', ...m.flatMap((x) => ['-m', x]), out], { stdio: ['ignore', 'ignore', 'pipe'] });
  return fs.readFileSync(out);
}

async function reference(file: string): Promise<number[]> {
  return Array.from((await decode(fs.readFileSync(file), { decoder: 'inline' })).frames[0]!);
}

/** Index of the first differing value, -1 if none (a 3-million-value toEqual diff is unreadable). */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe('samplesNeedNoFix', () => {
  const p = (bitsAllocated: number, bitsStored: number, pixelRepresentation: number) => ({ bitsAllocated, bitsStored, highBit: bitsStored - 1, pixelRepresentation });
  it('skips only when no sample can change', () => {
    expect(samplesNeedNoFix({ precision: 10, signed: false }, p(16, 10, 0))).toBe(true); // RG3
    expect(samplesNeedNoFix({ precision: 16, signed: true }, p(16, 16, 1))).toBe(true); // CT
    expect(samplesNeedNoFix({ precision: 12, signed: true }, p(16, 12, 1))).toBe(true);
    expect(samplesNeedNoFix({ precision: 10, signed: false }, p(16, 12, 1))).toBe(true); // below the sign bit
    expect(samplesNeedNoFix({ precision: 8, signed: true }, p(8, 8, 1))).toBe(true);
    expect(samplesNeedNoFix({ precision: 10, signed: false }, p(16, 8, 0))).toBe(false); // precision > BitsStored
    expect(samplesNeedNoFix({ precision: 12, signed: true }, p(16, 12, 0))).toBe(false); // negative values
    expect(samplesNeedNoFix({ precision: 10, signed: false }, p(16, 10, 1))).toBe(false); // reaches the sign bit
    expect(samplesNeedNoFix({ precision: 8, signed: true }, p(16, 8, 1))).toBe(false); // zero-widened to 16 bits
    expect(samplesNeedNoFix({ precision: 10, signed: false }, { ...p(16, 10, 0), highBit: 15 })).toBe(false); // not in the low bits
  });

  it('toPixelArray without a range, or with one that proves nothing, still masks and sign-extends', () => {
    const bytes = () => new Uint8Array(new Uint16Array([0x3ff, 0x200, 0x1ff]).buffer);
    expect(Array.from(toPixelArray(bytes(), p(16, 8, 0), { precision: 10, signed: false }))).toEqual([0xff, 0x00, 0xff]);
    expect(Array.from(toPixelArray(bytes(), p(16, 10, 1), { precision: 10, signed: false }))).toEqual([-1, -512, 511]);
    expect(Array.from(toPixelArray(bytes(), p(16, 10, 0), { precision: 10, signed: false }))).toEqual([0x3ff, 0x200, 0x1ff]);
  });
});

describe('decode() through the pool with the native decoder', () => {
  it('reports the RG3 codestream range, so its pass is skipped, and stays equal to the uncompressed RG3', async () => {
    const parsed = parsePart10(fs.readFileSync(rg3J2k));
    const r = await decodeFrameBytes(parsed, 0);
    expect(r.range).toEqual({ precision: 10, signed: false });
    expect(samplesNeedNoFix(r.range!, { ...parsed.pixel, highBit: parsed.pixel.bitsStored - 1 })).toBe(true);
    const got = (await decode(parsed)).frames[0]!;
    expect(got).toBeInstanceOf(Uint16Array);
    expect(firstDifference(got, await reference(rg3Raw))).toBe(-1);
  });

  it('RG3 (10-bit unsigned stream) declared 8 bits stored, or signed: masked, or sign-extended', async () => {
    const raw = await reference(rg3Raw);
    const masked = raw.map((v) => v & 0xff);
    const signed = raw.map((v) => (v >= 512 ? v - 1024 : v));
    // Else a wrong skip would pass unnoticed.
    expect(firstDifference(masked, raw)).not.toBe(-1);
    expect(firstDifference(signed, raw)).not.toBe(-1);
    const a = (await decode(variant(rg3J2k, 'rg3-bs8', 8, 0))).frames[0]!;
    expect(firstDifference(a, masked)).toBe(-1);
    const b = (await decode(variant(rg3J2k, 'rg3-signed', 10, 1))).frames[0]!;
    expect(b).toBeInstanceOf(Int16Array);
    expect(firstDifference(b, signed)).toBe(-1);
  });

  it('CT (16-bit signed stream) declared 12 bits stored, signed or unsigned: masked and sign-extended', async () => {
    const raw = await reference(ctRaw);
    const signed12 = raw.map((v) => (((v & 0xfff) ^ 0x800) - 0x800));
    const unsigned12 = raw.map((v) => v & 0xfff);
    expect(firstDifference(signed12, raw)).not.toBe(-1);
    expect(firstDifference(unsigned12, raw)).not.toBe(-1);
    const a = (await decode(variant(ctJ2k, 'ct-bs12', 12, 1))).frames[0]!;
    expect(a).toBeInstanceOf(Int16Array);
    expect(firstDifference(a, signed12)).toBe(-1);
    const b = (await decode(variant(ctJ2k, 'ct-bs12-unsigned', 12, 0))).frames[0]!;
    expect(b).toBeInstanceOf(Uint16Array);
    expect(firstDifference(b, unsigned12)).toBe(-1);
  });
});

describe('encapsulatedFrame of a single-frame image', () => {
  it('joins the fragments exactly as dicom-parser does (RG3_J2KR: 16 fragments; CT: one, kept as a view)', () => {
    for (const file of [rg3J2k, ctJ2k]) {
      const parsed = parsePart10(fs.readFileSync(file));
      const el = parsed.pixelDataElement;
      const want = dicomParser.readEncapsulatedPixelDataFromFragments(parsed.dataSet, el, 0, el.fragments!.length) as Uint8Array;
      const got = encapsulatedFrame(parsed, 0);
      expect(got.length, file).toBe(want.length);
      expect(Buffer.compare(got, want), file).toBe(0);
      if (el.fragments!.length === 1) expect(got.buffer).toBe(parsed.dataSet.byteArray.buffer);
    }
    expect(parsePart10(fs.readFileSync(rg3J2k)).pixelDataElement.fragments!.length).toBeGreaterThan(1);
  });
});
