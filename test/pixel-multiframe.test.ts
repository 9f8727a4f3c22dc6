import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import dcmjs from 'dcmjs';
import dicomParser from 'dicom-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDefaultPool, decode, getFrame, getStoredFrame, transcodeToExplicitVRLittleEndian } from '../src/pixel/index.ts';
import { countDiffs, dataFile, tmpDir } from './pixel-helpers.ts';

// A 3-frame 512x512 signed 16-bit image built from the CT test image, compressed at test time by
// DCMTK and GDCM with different fragmentations and offset tables.
const work = tmpDir('carpus-multiframe-');
const f = (n: string) => path.join(work, n);
const N = 512 * 512;
const frames: Int16Array[] = [];

beforeAll(() => {
  const src = fs.readFileSync(dataFile('ts-matrix-ct/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm'));
  const file = dcmjs.data.DicomMessage.readFile(src.buffer.slice(src.byteOffset, src.byteOffset + src.byteLength) as ArrayBuffer);
  const base = new Int16Array((file.dict['7FE00010']!.Value as ArrayBuffer[])[0]!.slice(0));
  for (let k = 0; k < 3; k++) {
    const fr = new Int16Array(N);
    // frame 0: as is; frame 1: flipped left-right; frame 2: shifted values and rows rolled.
    for (let y = 0; y < 512; y++) for (let x = 0; x < 512; x++) {
      const v = base[y * 512 + x]!;
      fr[y * 512 + x] = k === 0 ? v : k === 1 ? base[y * 512 + (511 - x)]! : Math.max(-2000, Math.min(2400, v + ((x + y) % 97))) ;
    }
    if (k === 2) fr.copyWithin(0, 512 * 100).set(base.subarray(0, 512 * 100), N - 512 * 100);
    frames.push(fr);
  }
  const all = new Int16Array(3 * N);
  frames.forEach((fr, k) => all.set(fr, k * N));
  file.dict['7FE00010'] = { vr: 'OW', Value: [all.buffer] };
  file.dict['00280008'] = { vr: 'IS', Value: [3] };
  const out = new dcmjs.data.DicomDict(file.meta);
  out.dict = file.dict;
  fs.writeFileSync(f('mf.dcm'), Buffer.from(out.write({ allowInvalidVRLength: true })));
  const run = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  run('dcmcrle', f('mf.dcm'), f('mf-rle.dcm'));
  run('dcmcjpls', f('mf.dcm'), f('mf-jls.dcm'));
  run('dcmcjpeg', '+e1', '+fs', '16', '-ot', f('mf.dcm'), f('mf-jpll-frag.dcm')); // several fragments per frame, empty BOT
  run('gdcmconv', '--j2k', f('mf.dcm'), f('mf-j2k.dcm'));
});
afterAll(async () => {
  await closeDefaultPool();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('multi-frame', () => {
  for (const name of ['mf.dcm', 'mf-rle.dcm', 'mf-jls.dcm', 'mf-jpll-frag.dcm', 'mf-j2k.dcm']) {
    it(`${name}: every frame bit-exact`, async () => {
      const buf = fs.readFileSync(f(name));
      const img = await decode(buf);
      expect(img.numberOfFrames).toBe(3);
      img.frames.forEach((fr, k) => expect(countDiffs(fr, frames[k]!), `frame ${k + 1}`).toBe(0));
      const only2 = await decode(buf, { frames: [2] });
      expect(only2.frameNumbers).toEqual([2]);
      expect(countDiffs(only2.frames[0]!, frames[1]!)).toBe(0);
      const raw = await getFrame(buf, 3);
      expect(countDiffs(new Int16Array(raw.bytes.buffer, raw.bytes.byteOffset, N), frames[2]!)).toBe(0);
    });
  }

  it('stored frames of a fragmented stream are whole JPEG streams; transcoding keeps all frames', async () => {
    const buf = fs.readFileSync(f('mf-jpll-frag.dcm'));
    const el = dicomParser.parseDicom(buf).elements.x7fe00010!;
    expect(el.basicOffsetTable ?? []).toHaveLength(0);
    expect(el.fragments!.length).toBeGreaterThan(3);
    for (let n = 1; n <= 3; n++) {
      const fr = await getStoredFrame(buf, n);
      expect([fr.bytes[0], fr.bytes[1]]).toEqual([0xff, 0xd8]);
    }
    const out = await transcodeToExplicitVRLittleEndian(buf);
    const img = await decode(out);
    expect(img.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    img.frames.forEach((fr, k) => expect(countDiffs(fr, frames[k]!)).toBe(0));
  });
});
