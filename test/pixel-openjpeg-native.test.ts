/**
 * The in-process OpenJPEG addon (native/openjpeg, built by `npm ci`): same samples as OpenJPEG in
 * WASM (full size and reduced), the JP2 file format, corrupt input thrown as errors without
 * bringing the process down, and the WASM fallback with one log line when the addon is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrameSync, initCodecs, type FrameGeometry } from '../src/pixel/codecs.ts';
import { addonPath, j2kDecoder, nativeOpenJpegVersion } from '../src/pixel/openjpeg-native.ts';
import { closeDefaultPool, decode, parsePart10, PixelError } from '../src/pixel/index.ts';
import { encapsulatedFrame } from '../src/pixel/parse.ts';
import { dataFile, projectRoot, tmpDir } from './pixel-helpers.ts';

interface Addon {
  decode(codestream: unknown, reduce?: unknown): { columns: number; rows: number; components: number; precision: number; signed: boolean; data: Uint8Array };
}

const files = {
  rg3: 'cr-wg04/RG3_J2KR.dcm',
  rg3Lossy: 'cr-wg04/RG3_J2KI.dcm',
  ct: 'ts-matrix-ct/CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm',
  ctLossy: 'ts-matrix-ct/CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm',
};

function frame(rel: string): { enc: Uint8Array; g: FrameGeometry } {
  const parsed = parsePart10(fs.readFileSync(dataFile(rel)));
  const p = parsed.pixel;
  const g = { rows: p.rows, columns: p.columns, samplesPerPixel: p.samplesPerPixel, bitsAllocated: p.bitsAllocated, bitsStored: p.bitsStored, pixelRepresentation: p.pixelRepresentation, photometricInterpretation: p.photometricInterpretation };
  return { enc: encapsulatedFrame(parsed, 0), g };
}

/** A JP2 file (ISO/IEC 15444-1 Annex I) around a greyscale codestream: signature, ftyp, jp2h (ihdr, colr), jp2c. */
function wrapJp2(codestream: Uint8Array, width: number, height: number, precision: number, signed: boolean): Uint8Array {
  const box = (type: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(8 + body.length, 0);
    head.write(type, 4, 'latin1');
    return Buffer.concat([head, body]);
  };
  const ihdr = Buffer.alloc(14);
  ihdr.writeUInt32BE(height, 0);
  ihdr.writeUInt32BE(width, 4);
  ihdr.writeUInt16BE(1, 8); // components
  ihdr.writeUInt8((precision - 1) | (signed ? 0x80 : 0), 10);
  ihdr.writeUInt8(7, 11); // compression type: JPEG 2000
  const colr = Buffer.from([1, 0, 0, 0, 0, 0, 17]); // enumerated colour space 17: greyscale
  return Buffer.concat([
    box('jP  ', Buffer.from([0x0d, 0x0a, 0x87, 0x0a])),
    box('ftyp', Buffer.from('jp2 \0\0\0\0jp2 ', 'latin1')),
    box('jp2h', Buffer.concat([box('ihdr', ihdr), box('colr', colr)])),
    box('jp2c', Buffer.from(codestream)),
  ]);
}

/** Offset of the SIZ marker segment's Lsiz (just after FF4F FF51). */
function sizAt(enc: Uint8Array): number {
  expect([enc[0], enc[1], enc[2], enc[3]]).toEqual([0xff, 0x4f, 0xff, 0x51]);
  return 4;
}

let addon: Addon;
beforeAll(async () => {
  addon = createRequire(import.meta.url)(addonPath()) as Addon;
  await initCodecs();
});
afterAll(async () => {
  await closeDefaultPool();
});

describe('native OpenJPEG addon', () => {
  it('is built by npm ci and is the default JPEG 2000 decoder', () => {
    expect(nativeOpenJpegVersion()).toMatch(/^2\.\d+\.\d+/);
    const before = process.env.CARPUS_J2K_DECODER;
    delete process.env.CARPUS_J2K_DECODER;
    try {
      expect(j2kDecoder()).toBe('native');
    } finally {
      if (before !== undefined) process.env.CARPUS_J2K_DECODER = before;
    }
  });

  it('gives the same samples as OpenJPEG in WASM, at full size and 1-3 levels down', () => {
    for (const rel of [files.rg3, files.ct]) {
      const { enc, g } = frame(rel);
      for (const reduce of [0, 1, 2, 3]) {
        const native = decodeFrameSync('jpeg2000', enc, g, reduce, 'native');
        const wasm = decodeFrameSync('jpeg2000', enc, g, reduce, 'wasm');
        const side = (n: number) => Math.ceil(n / 2 ** reduce);
        expect(native.bytes.length, `${rel} reduce ${reduce}`).toBe(side(g.rows) * side(g.columns) * 2);
        expect(Buffer.compare(native.bytes, wasm.bytes), `${rel} reduce ${reduce}`).toBe(0);
      }
    }
  });

  it('reports geometry and signedness from the codestream', () => {
    const ct = addon.decode(frame(files.ct).enc);
    expect(ct).toMatchObject({ columns: 512, rows: 512, components: 1, precision: 16, signed: true });
    const rg3 = addon.decode(frame(files.rg3).enc);
    expect(rg3).toMatchObject({ columns: 1760, rows: 1760, components: 1, precision: 10, signed: false });
    expect(rg3.data.length).toBe(1760 * 1760 * 2);
  });

  it('reads the JP2 file format as well as a raw codestream', () => {
    const { enc } = frame(files.ct);
    const raw = addon.decode(enc);
    const jp2 = wrapJp2(enc, raw.columns, raw.rows, raw.precision, raw.signed);
    const boxed = addon.decode(jp2);
    expect(boxed).toMatchObject({ columns: 512, rows: 512, precision: 16, signed: true });
    expect(Buffer.compare(boxed.data, raw.data)).toBe(0);
  });

  it('writes 8-bit grey and 8-bit RGB samples as DCMTK decodes the same image (the one-byte paths)', async () => {
    // Test objects made here: a grey and a colour image through sharp (JPEG), DCMTK img2dcm and
    // dcmdjpeg (the uncompressed reference), then GDCM gdcmconv --j2k (lossless).
    const dir = tmpDir('carpus-openjpeg-8bit-');
    try {
      const W = 97; // odd, so rows do not fall on word boundaries
      const H = 61;
      const grey = Buffer.alloc(W * H);
      const rgb = Buffer.alloc(W * H * 3);
      for (let i = 0; i < W * H; i++) {
        grey[i] = (i * 7) % 256;
        rgb.set([(i * 3) % 256, (i >> 2) % 256, (i * 11) % 256], 3 * i);
      }
      const f = (n: string) => path.join(dir, n);
      await sharp(grey, { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 90 }).toFile(f('grey.jpg'));
      await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toFile(f('rgb.jpg'));
      for (const n of ['grey', 'rgb']) {
        execFileSync('img2dcm', [f(`${n}.jpg`), f(`${n}-jpeg.dcm`)], { stdio: ['ignore', 'ignore', 'pipe'] });
        execFileSync('dcmdjpeg', [f(`${n}-jpeg.dcm`), f(`${n}-ref.dcm`)], { stdio: ['ignore', 'ignore', 'pipe'] });
        execFileSync('gdcmconv', ['--j2k', f(`${n}-ref.dcm`), f(`${n}-j2k.dcm`)], { stdio: ['ignore', 'ignore', 'pipe'] });
        const ref = await decode(fs.readFileSync(f(`${n}-ref.dcm`)), { decoder: 'inline' });
        const parsed = parsePart10(fs.readFileSync(f(`${n}-j2k.dcm`)));
        expect(parsed.ts.family).toBe('jpeg2000');
        const r = addon.decode(encapsulatedFrame(parsed, 0));
        expect(r, n).toMatchObject({ columns: W, rows: H, components: n === 'grey' ? 1 : 3, precision: 8, signed: false });
        const want = ref.frames[0]!;
        expect(r.data.length, n).toBe(want.length);
        expect(Buffer.compare(r.data, new Uint8Array(want.buffer, want.byteOffset, want.byteLength)), n).toBe(0);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throws an Error on truncated, garbled or foreign input and keeps decoding good data', () => {
    const { enc } = frame(files.ct);
    const good = addon.decode(enc).data;
    const bad: Array<[string, unknown]> = [
      ['empty', new Uint8Array(0)],
      ['text', Buffer.from('hello, not a codestream')],
      ['SOC only', enc.subarray(0, 2)],
      ['main header cut', enc.subarray(0, 60)],
      ['cut at a quarter', enc.subarray(0, enc.length >> 2)],
      ['cut at a half', enc.subarray(0, enc.length >> 1)],
      ['last 100 bytes missing', enc.subarray(0, enc.length - 100)],
    ];
    const siz = sizAt(enc);
    const garble = (what: string, at: number, bytes: number[]) => {
      const x = new Uint8Array(enc);
      x.set(bytes, at);
      bad.push([what, x]);
    };
    garble('SIZ: zero width', siz + 6, [0, 0, 0, 0]); // Xsiz
    garble('SIZ: image offset past its end', siz + 14, [0xff, 0xff, 0xff, 0x00]); // XOsiz
    garble('SIZ: zero components', siz + 38, [0, 0]); // Csiz
    garble('SIZ: 38-bit precision', siz + 40, [37]); // Ssiz of component 0
    garble('SIZ: length too short', siz, [0, 3]); // Lsiz
    for (const [what, input] of bad) {
      expect(() => addon.decode(input), what).toThrow(/JPEG 2000/);
    }
    expect(() => addon.decode(enc, 7)).toThrow(/resolutions/);
    expect(() => addon.decode('not bytes')).toThrow(/Uint8Array/);
    expect(() => addon.decode(new Uint16Array(8))).toThrow(/Uint8Array/);
    expect(() => addon.decode(enc, -1)).toThrow(/reduce/);
    expect(Buffer.compare(addon.decode(enc).data, good)).toBe(0);
  });

  it('survives 30 streams with random bytes overwritten in the coded data', () => {
    const { enc } = frame(files.ct);
    const good = addon.decode(enc).data;
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let threw = 0;
    let differed = 0;
    for (let i = 0; i < 30; i++) {
      const x = new Uint8Array(enc);
      // Past the main header (SIZ, COD, QCD: under 300 bytes here), so sizes stay sane.
      for (let k = 0; k < 1 + rand(16); k++) x[300 + rand(x.length - 300)] = rand(256);
      try {
        const r = addon.decode(x);
        expect(r.data.length).toBe(512 * 512 * 2);
        if (Buffer.compare(r.data, good) !== 0) differed++;
      } catch (e) {
        expect((e as Error).message).toMatch(/^JPEG 2000/);
        threw++;
      }
    }
    // Plain JPEG 2000 has no checksums: most damage decodes to wrong samples, some is caught.
    expect(threw + differed).toBeGreaterThan(25);
    expect(Buffer.compare(addon.decode(enc).data, good)).toBe(0);
  });

  it('decode() turns a native decoder error into PixelError decode-failed, through the worker pool', async () => {
    const buf = Buffer.from(fs.readFileSync(dataFile(files.rg3)));
    const soc = buf.indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
    buf.writeUInt16BE(0, soc + 4 + 38); // Csiz = 0
    const before = process.env.CARPUS_J2K_DECODER;
    process.env.CARPUS_J2K_DECODER = 'native';
    try {
      const err = await decode(buf).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PixelError);
      expect(err).toMatchObject({ code: 'decode-failed' });
      expect((err as Error).message).toMatch(/JPEG 2000/);
      const ok = await decode(fs.readFileSync(dataFile(files.rg3)));
      expect(ok.frames[0]!.length).toBe(1760 * 1760);
    } finally {
      if (before === undefined) delete process.env.CARPUS_J2K_DECODER;
      else process.env.CARPUS_J2K_DECODER = before;
    }
  });

  it('without the addon, decodes with WASM and says so in one line', () => {
    const dir = tmpDir('carpus-openjpeg-missing-');
    try {
      const script = path.join(dir, 'run.mts');
      const src = (f: string) => JSON.stringify(path.join(projectRoot, f));
      fs.writeFileSync(
        script,
        `import fs from 'node:fs';
import { decode, closeDefaultPool } from ${src('src/pixel/index.ts')};
import { j2kDecoder } from ${src('src/pixel/openjpeg-native.ts')};
const buf = fs.readFileSync(${JSON.stringify(dataFile(files.ct))});
const a = await decode(buf);
const b = await decode(buf, { decoder: 'inline' });
console.log(JSON.stringify({ decoder: j2kDecoder(), a: a.frames[0].length, b: b.frames[0].length }));
await closeDefaultPool();
`,
      );
      const env: NodeJS.ProcessEnv = { ...process.env, CARPUS_OPENJPEG_ADDON: path.join(dir, 'missing.node') };
      delete env.CARPUS_J2K_DECODER;
      const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: projectRoot, env, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ decoder: 'wasm', a: 512 * 512, b: 512 * 512 });
      const lines = r.stderr.split('\n').filter((l) => l.includes('native OpenJPEG decoder not available'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/WASM/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
