import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, closeDefaultPool, PixelError, DecodePool } from '../src/pixel/index.ts';
import { countDiffs, dataFile, psnr, readReference, referenceDecode, tmpDir } from './pixel-helpers.ts';

interface Case {
  file: string;
  ts: string;
  lossless: boolean;
}

const cases: Case[] = [
  { file: 'ts-matrix-ct/CTImage.dcm', ts: '1.2.840.10008.1.2', lossless: true },
  { file: 'ts-matrix-ct/CTImage.dcm_LittleEndianImplicitTransferSyntax_1.2.840.10008.1.2.dcm', ts: '1.2.840.10008.1.2', lossless: true },
  { file: 'ts-matrix-ct/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm', ts: '1.2.840.10008.1.2.1', lossless: true },
  { file: 'ts-matrix-ct/CTImage.dcm_BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm', ts: '1.2.840.10008.1.2.2', lossless: true },
  { file: 'ts-matrix-ct/CTImage.dcm_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm', ts: '1.2.840.10008.1.2.1.99', lossless: true },
  { file: 'ts-matrix-ct/image_dfl_deflate_OT.dcm', ts: '1.2.840.10008.1.2.1.99', lossless: true },
  { file: 'ts-matrix-ct/CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm', ts: '1.2.840.10008.1.2.4.50', lossless: false },
  { file: 'ts-matrix-ct/CTImage.dcm_JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm', ts: '1.2.840.10008.1.2.4.51', lossless: false },
  { file: 'ts-matrix-ct/CTImage.dcm_JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm', ts: '1.2.840.10008.1.2.4.53', lossless: false },
  { file: 'ts-matrix-ct/CTImage.dcm_JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm', ts: '1.2.840.10008.1.2.4.55', lossless: false },
  { file: 'ts-matrix-ct/CTImage.dcm_JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm', ts: '1.2.840.10008.1.2.4.57', lossless: true },
  { file: 'ts-matrix-ct/CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm', ts: '1.2.840.10008.1.2.4.70', lossless: true },
  { file: 'ts-matrix-ct/CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm', ts: '1.2.840.10008.1.2.4.80', lossless: true },
  { file: 'ts-matrix-ct/CTImage.dcm_JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm', ts: '1.2.840.10008.1.2.4.81', lossless: false },
  { file: 'ts-matrix-ct/CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm', ts: '1.2.840.10008.1.2.4.90', lossless: true },
  { file: 'ts-matrix-ct/CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm', ts: '1.2.840.10008.1.2.4.91', lossless: false },
  { file: 'ts-matrix-ct/CTImage.dcm_RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm', ts: '1.2.840.10008.1.2.5', lossless: true },
  { file: 'cr-wg04/RG3_UNC.dcm', ts: '1.2.840.10008.1.2.1', lossless: true },
  { file: 'cr-wg04/RG3_RLE.dcm', ts: '1.2.840.10008.1.2.5', lossless: true },
  { file: 'cr-wg04/RG3_JPLL.dcm', ts: '1.2.840.10008.1.2.4.70', lossless: true },
  { file: 'cr-wg04/RG3_JPLY.dcm', ts: '1.2.840.10008.1.2.4.51', lossless: false },
  { file: 'cr-wg04/RG3_JLSL.dcm', ts: '1.2.840.10008.1.2.4.80', lossless: true },
  { file: 'cr-wg04/RG3_JLSN.dcm', ts: '1.2.840.10008.1.2.4.81', lossless: false },
  { file: 'cr-wg04/RG3_J2KR.dcm', ts: '1.2.840.10008.1.2.4.90', lossless: true },
  { file: 'cr-wg04/RG3_J2KI.dcm', ts: '1.2.840.10008.1.2.4.91', lossless: false },
  { file: 'cr-wg04/RG1_J2KI.dcm', ts: '1.2.840.10008.1.2.4.91', lossless: false },
  { file: 'cr-misc/gdcm-CR-MONO1-10-chest.dcm', ts: '1.2.840.10008.1.2.1', lossless: true },
  { file: 'cr-misc/orthanc_Issue44_Monochrome1-Jpeg.dcm', ts: '1.2.840.10008.1.2.4.50', lossless: false },
];

let refDir: string;
beforeAll(() => {
  refDir = tmpDir('carpus-pixel-ref-');
});
afterAll(async () => {
  await closeDefaultPool();
  fs.rmSync(refDir, { recursive: true, force: true });
});

describe('decode against DCMTK/GDCM', () => {
  it('covers every transfer syntax in the data set', () => {
    const seen = new Set(cases.map((c) => c.ts));
    for (const ts of ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51', '1.2.840.10008.1.2.4.53', '1.2.840.10008.1.2.4.55', '1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70', '1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.81', '1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.91', '1.2.840.10008.1.2.5']) {
      expect(seen.has(ts), ts).toBe(true);
    }
  });

  for (const c of cases) {
    it(`${c.lossless ? 'bit-exact' : 'PSNR >= 40 dB'}: ${path.basename(c.file)} (${c.ts})`, async () => {
      const file = dataFile(c.file);
      const img = await decode(fs.readFileSync(file));
      expect(img.transferSyntaxUid).toBe(c.ts);
      const ref = readReference(referenceDecode(file, refDir));
      expect([img.rows, img.columns, img.samplesPerPixel]).toEqual([ref.rows, ref.columns, ref.samplesPerPixel]);
      const ours = img.frames[0]!;
      expect(ours.length).toBe(ref.values.length);
      if (c.lossless) {
        expect(countDiffs(ours, ref.values)).toBe(0);
      } else {
        const p = psnr(ours, ref.values, 2 ** img.bitsStored - 1);
        expect(p).toBeGreaterThanOrEqual(40);
      }
    });
  }
});

describe('JPEG 2000 through both decoders', () => {
  // decode() uses the system OpenJPEG in-process (native/openjpeg, built by `npm ci`) or, with
  // CARPUS_J2K_DECODER=wasm, OpenJPEG in WASM: both must be exact, through the worker pool.
  const j2k = cases.filter((c) => c.ts.startsWith('1.2.840.10008.1.2.4.9'));
  for (const backend of ['native', 'wasm'] as const) {
    it(`${backend}: ${j2k.length} files equal GDCM's decode`, async () => {
      const before = process.env.CARPUS_J2K_DECODER;
      process.env.CARPUS_J2K_DECODER = backend;
      try {
        const { j2kDecoder, nativeOpenJpegVersion } = await import('../src/pixel/openjpeg-native.ts');
        expect(j2kDecoder()).toBe(backend);
        // The native addon must be built here: a missing one is a failure, not a quiet WASM run.
        if (backend === 'native') expect(nativeOpenJpegVersion()).toMatch(/^2\./);
        for (const c of j2k) {
          const img = await decode(fs.readFileSync(dataFile(c.file)));
          const ref = readReference(referenceDecode(dataFile(c.file), refDir));
          expect(countDiffs(img.frames[0]!, ref.values), c.file).toBe(0);
        }
      } finally {
        if (before === undefined) delete process.env.CARPUS_J2K_DECODER;
        else process.env.CARPUS_J2K_DECODER = before;
      }
    });
  }
});

describe('decoded attributes', () => {
  it('reports geometry, signedness and lossy flag', async () => {
    const ct = await decode(fs.readFileSync(dataFile('ts-matrix-ct/CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm')));
    expect(ct).toMatchObject({ rows: 512, columns: 512, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1, lossy: false, numberOfFrames: 1 });
    expect(ct.frames[0]).toBeInstanceOf(Int16Array);
    const rg3 = await decode(fs.readFileSync(dataFile('cr-wg04/RG3_JPLY.dcm')));
    expect(rg3).toMatchObject({ bitsStored: 10, highBit: 9, photometricInterpretation: 'MONOCHROME1', lossy: true });
    expect(rg3.frames[0]).toBeInstanceOf(Uint16Array);
  });
});

describe('bad input', () => {
  const jpll = () => Buffer.from(fs.readFileSync(dataFile('ts-matrix-ct/CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm')));

  it('names the UID of a transfer syntax it cannot decode', async () => {
    const buf = jpll();
    const at = buf.indexOf('1.2.840.10008.1.2.4.70');
    buf.write('1.2.840.10008.1.2.4.52', at, 'latin1'); // retired JPEG Extended (3,5): same length
    await expect(decode(buf)).rejects.toThrow(/1\.2\.840\.10008\.1\.2\.4\.52/);
    await expect(decode(buf)).rejects.toMatchObject({ code: 'unsupported-transfer-syntax' });
  });

  it('rejects native pixel data of the wrong length', async () => {
    const buf = Buffer.from(fs.readFileSync(dataFile('ts-matrix-ct/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm')));
    // Rows (0028,0010) US 512 -> 513
    const tag = Buffer.from([0x28, 0x00, 0x10, 0x00, 0x55, 0x53, 0x02, 0x00]);
    const at = buf.indexOf(tag);
    buf.writeUInt16LE(513, at + 8);
    await expect(decode(buf)).rejects.toMatchObject({ code: 'bad-pixel-data' });
  });

  it('rejects a file that is not DICOM and a truncated one', async () => {
    await expect(decode(Buffer.from('hello, not dicom'))).rejects.toBeInstanceOf(PixelError);
    const whole = fs.readFileSync(dataFile('cr-wg04/RG3_JLSL.dcm'));
    await expect(decode(whole.subarray(0, whole.length >> 1))).rejects.toBeInstanceOf(PixelError);
  });

  it('survives corrupt compressed streams of every codec, then decodes good data', async () => {
    const files = [
      'ts-matrix-ct/CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm',
      'ts-matrix-ct/CTImage.dcm_JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm',
      'ts-matrix-ct/CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm',
      'ts-matrix-ct/CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm',
      'ts-matrix-ct/CTImage.dcm_RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm',
    ];
    for (const f of files) {
      const buf = Buffer.from(fs.readFileSync(dataFile(f)));
      // Overwrite the middle of the compressed stream with garbage, and also cut the header short.
      const mid = buf.length - Math.floor((buf.length - 2000) / 2);
      for (let i = 0; i < 4000; i++) buf[mid + i] = (i * 7919) & 0xff;
      const t = Date.now();
      const r = await decode(buf).then(
        (img) => img.frames[0]!.length,
        (e: unknown) => e,
      );
      // Bounded, not fast: a spinning decoder is stopped after 5 s of CPU or 10x that in wall time.
      expect(Date.now() - t).toBeLessThan(60_000);
      if (typeof r !== 'number') expect(r, f).toBeInstanceOf(PixelError);
    }
    const ok = await decode(fs.readFileSync(dataFile(files[0]!)));
    expect(ok.frames[0]!.length).toBe(512 * 512);
  }, 300_000);

  it('stops a decode that runs past its time limit and keeps serving', async () => {
    const pool = new DecodePool({ timeoutMs: 1, msPerMegapixel: 0 });
    try {
      const small = fs.readFileSync(dataFile('ts-matrix-ct/CTImage.dcm_RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm'));
      // Both run in the worker, which is killed and replaced.
      for (const name of ['RG3_JLSL.dcm', 'RG3_J2KR.dcm']) {
        // The first job of a (new) worker is given its start-up time: warm it with a small frame.
        await decode(small, { decoder: pool });
        const big = fs.readFileSync(dataFile(`cr-wg04/${name}`));
        await expect(decode(big, { decoder: pool }), name).rejects.toMatchObject({ code: 'decode-timeout' });
        const again = await decode(big);
        expect(again.frames[0]!.length).toBe(1760 * 1760);
      }
    } finally {
      await pool.close();
    }
  });

  it('rejects frame numbers out of range', async () => {
    await expect(decode(jpll(), { frames: [2] })).rejects.toMatchObject({ code: 'frame-out-of-range' });
  });
});

describe('native sample unpacking (PS3.5 8.1.1)', () => {
  it('drops bits outside HighBit..HighBit-BitsStored+1 and sign-extends', async () => {
    const { toPixelArray } = await import('../src/pixel/pixels.ts');
    // 12 bits stored at the top of 16 (HighBit 15), with junk in the low 4 bits.
    const u = new Uint16Array([(0xabc << 4) | 0xf, (0x001 << 4) | 0x3]);
    const a = toPixelArray(new Uint8Array(u.buffer.slice(0)), { bitsAllocated: 16, bitsStored: 12, highBit: 15, pixelRepresentation: 0 });
    expect(Array.from(a)).toEqual([0xabc, 0x001]);
    // Signed 12 bits in the low bits with an overlay bit set above them.
    const s = new Uint16Array([0x8fff, 0x07ff, 0x0800]);
    const b = toPixelArray(new Uint8Array(s.buffer.slice(0)), { bitsAllocated: 16, bitsStored: 12, highBit: 11, pixelRepresentation: 1 });
    expect(b).toBeInstanceOf(Int16Array);
    expect(Array.from(b)).toEqual([-1, 2047, -2048]);
    const c = toPixelArray(Uint8Array.from([0xff, 0x7f, 0x80]), { bitsAllocated: 8, bitsStored: 8, highBit: 7, pixelRepresentation: 1 });
    expect(Array.from(c)).toEqual([-1, 127, -128]);
  });
});
