import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { canProduce, closeDefaultPool, decode, getFrame, getStoredFrame, negotiateTransferSyntax, transcodeToExplicitVRLittleEndian } from '../src/pixel/index.ts';
import { countDiffs, dataFile, psnr, readReference, referenceDecode, tmpDir } from './pixel-helpers.ts';

const work = tmpDir('carpus-transcode-');
afterAll(async () => {
  await closeDefaultPool();
  fs.rmSync(work, { recursive: true, force: true });
});

const CT = 'ts-matrix-ct/CTImage.dcm';
const files: { f: string; lossy: boolean }[] = [
  { f: `${CT}_LittleEndianImplicitTransferSyntax_1.2.840.10008.1.2.dcm`, lossy: false },
  { f: `${CT}_BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm`, lossy: false },
  { f: `${CT}_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm`, lossy: false },
  { f: `${CT}_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm`, lossy: true },
  { f: `${CT}_JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm`, lossy: false },
  { f: `${CT}_JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm`, lossy: true },
  { f: `${CT}_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm`, lossy: false },
  { f: `${CT}_RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm`, lossy: false },
  { f: 'cr-wg04/RG3_JPLY.dcm', lossy: true },
  { f: 'cr-wg04/RG3_J2KI.dcm', lossy: true },
];

function dciodvfyErrors(file: string): number {
  const r = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  return (r.stderr + r.stdout).split('\n').filter((l) => l.startsWith('Error')).length;
}

const STRING_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT']);

/** Compares the public top-level attributes of the source with the output (read with dicom-parser). */
function compareAttributes(src: Buffer, out: Buffer): void {
  const a = dicomParser.parseDicom(src);
  const b = dicomParser.parseDicom(out);
  const skip = new Set(['x00080005', 'x00282110', 'x00282112', 'x00282114', 'x7fe00010']);
  for (const [tag, el] of Object.entries(a.elements)) {
    if (tag.startsWith('x0002') || tag.endsWith('0000') || skip.has(tag)) continue;
    if (el.vr && !/^[A-Z]{2}$/.test(el.vr)) continue; // dicom-parser artefact of the deflated preamble
    if (parseInt(tag.slice(1, 5), 16) % 2 === 1) continue; // private: carried as UN from implicit VR
    const o = b.elements[tag];
    expect(o, tag).toBeDefined();
    if (!o) continue;
    if (el.items) {
      expect(o.items?.length, tag).toBe(el.items.length);
    } else if (o.vr && STRING_VRS.has(o.vr)) {
      expect((b.string(tag) ?? '').trim(), tag).toBe((a.string(tag) ?? '').trim());
    } else if (o.vr === 'US' || o.vr === 'SS') {
      // Same 16-bit value whatever the byte order (US/SS of signed images get their proper VR).
      expect(b.uint16(tag), tag).toBe(a.uint16(tag));
    } else {
      expect(o.length, tag).toBe(el.length);
    }
  }
}

describe('transcode to Explicit VR Little Endian', () => {
  for (const { f, lossy } of files) {
    it(path.basename(f), async () => {
      const src = fs.readFileSync(dataFile(f));
      const out = await transcodeToExplicitVRLittleEndian(src);
      const outFile = path.join(work, path.basename(f));
      fs.writeFileSync(outFile, out);
      // DCMTK reads it and sees the new transfer syntax and native pixel data.
      const dump = execFileSync('dcmdump', ['-q', '+P', '0002,0010', '+P', '7fe0,0010', '+P', '0028,2110', outFile], { encoding: 'utf8' });
      expect(dump).toMatch(/LittleEndianExplicit/);
      expect(dump).toMatch(/\(7fe0,0010\) O[BW]/);
      if (lossy) expect(dump).toMatch(/\(0028,2110\) CS \[01\]/);
      // Pixels: DCMTK/GDCM's own decompression of the source, read from our output independently.
      const ref = readReference(referenceDecode(dataFile(f), work));
      const got = readReference(outFile);
      if (lossy) expect(psnr(got.values, ref.values, 2 ** ref.bitsStored - 1)).toBeGreaterThanOrEqual(40);
      else expect(countDiffs(got.values, ref.values)).toBe(0);
      // Every other (public) attribute is kept.
      compareAttributes(src, out);
      expect(dciodvfyErrors(outFile)).toBeLessThanOrEqual(dciodvfyErrors(dataFile(f)));
    });
  }

  it('returns an Explicit VR Little Endian file unchanged', async () => {
    const src = fs.readFileSync(dataFile('cr-wg04/RG3_UNC.dcm'));
    const out = await transcodeToExplicitVRLittleEndian(src);
    expect(Buffer.compare(out, src)).toBe(0);
  });
});

describe('WADO frame access and negotiation', () => {
  it('getFrame gives the decompressed frame bytes in Explicit VR LE layout', async () => {
    const f = dataFile(`${CT}_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm`);
    const fr = await getFrame(fs.readFileSync(f), 1);
    expect(fr.mediaType).toBe('application/octet-stream');
    expect(fr.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    expect(fr.bytes.length).toBe(512 * 512 * 2);
    const ref = readReference(referenceDecode(f, work));
    const vals = new Int16Array(fr.bytes.buffer, fr.bytes.byteOffset, 512 * 512);
    expect(countDiffs(vals, ref.values)).toBe(0);
    await expect(getFrame(fs.readFileSync(f), 2)).rejects.toMatchObject({ code: 'frame-out-of-range' });
  });

  it('getStoredFrame gives the compressed bitstream with its media type', async () => {
    const fr = await getStoredFrame(fs.readFileSync(dataFile('cr-wg04/RG3_JPLL.dcm')), 1);
    expect(fr.mediaType).toBe('image/jpeg');
    expect(fr.bytes[0]).toBe(0xff);
    expect(fr.bytes[1]).toBe(0xd8);
    const j2k = await getStoredFrame(fs.readFileSync(dataFile('cr-wg04/RG3_J2KR.dcm')), 1);
    expect(j2k.mediaType).toBe('image/jp2');
    const native = await getStoredFrame(fs.readFileSync(dataFile('cr-wg04/RG3_UNC.dcm')), 1);
    expect(native.bytes.length).toBe(1760 * 1760 * 2);
    const img = await decode(fs.readFileSync(dataFile('cr-wg04/RG3_UNC.dcm')));
    expect(new Uint16Array(native.bytes.buffer.slice(native.bytes.byteOffset, native.bytes.byteOffset + 16))[3]).toBe(img.frames[0]![3]);
  });

  it('negotiates the transfer syntax; undefined means 406', () => {
    const jpll = '1.2.840.10008.1.2.4.70';
    expect(negotiateTransferSyntax(jpll, [])).toBe('1.2.840.10008.1.2.1');
    expect(negotiateTransferSyntax(jpll, ['*'])).toBe(jpll);
    expect(negotiateTransferSyntax(jpll, [jpll])).toBe(jpll);
    expect(negotiateTransferSyntax(jpll, ['1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.1'])).toBe('1.2.840.10008.1.2.1');
    expect(negotiateTransferSyntax(jpll, ['1.2.840.10008.1.2.4.90'])).toBeUndefined();
    expect(negotiateTransferSyntax('1.2.840.10008.1.2.4.201', ['1.2.840.10008.1.2.1'])).toBeUndefined();
    expect(canProduce('1.2.840.10008.1.2.5', '1.2.840.10008.1.2.1')).toBe(true);
  });
});
