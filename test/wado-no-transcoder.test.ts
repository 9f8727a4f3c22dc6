/**
 * WADO-RS when the pixel module cannot transcode (not loaded, or an older build without
 * transcodeToExplicitVRLittleEndian): the default transfer syntax is then only available for
 * instances stored in it, and the answers say so.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestNode, sharedDicomFiles, stow, type TestNode } from './helpers/node.ts';
import { getMultipart, parseMultipartResponse } from './helpers/multipart.ts';
import { fileInfo, type FileInfo } from './helpers/wado.ts';

vi.mock('../src/dicomweb/wado-pixel.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/dicomweb/wado-pixel.ts')>();
  return { ...original, loadTranscoder: async () => undefined };
});

const ELE = '1.2.840.10008.1.2.1';
let node: TestNode;
let unc: FileInfo;
let jpll: FileInfo;
let j2ki: FileInfo;

beforeAll(async () => {
  node = await startTestNode();
  const files = sharedDicomFiles().map(fileInfo);
  const by = (n: string) => files.find((f) => path.basename(f.path) === n)!;
  unc = by('RG3_UNC.dcm');
  jpll = by('RG3_JPLL.dcm');
  j2ki = by('RG3_J2KI.dcm');
  expect((await stow(node.dicomweb, [unc.bytes, jpll.bytes, j2ki.bytes])).status).toBe(200);
});

afterAll(async () => {
  await node?.stop();
});

describe('WADO-RS without transcoding', () => {
  it('answers 406 naming the stored syntax and transfer-syntax=* for a compressed instance', async () => {
    for (const accept of [undefined, 'multipart/related; type="application/dicom"', 'application/dicom', '*/*']) {
      const res = await fetch(jpll.instanceUrl(node.dicomweb), accept ? { headers: { accept } } : {});
      expect(res.status, String(accept)).toBe(406);
      const msg = ((await res.json()) as { message: string }).message;
      expect(msg).toContain(jpll.ts);
      expect(msg).toContain('transfer-syntax=*');
    }
  });

  it('still sends stored bytes with transfer-syntax=* and Explicit VR LE instances by default', async () => {
    const stored = await getMultipart(jpll.instanceUrl(node.dicomweb), 'multipart/related; type="application/dicom"; transfer-syntax=*');
    expect(stored.parts[0]!.body.equals(jpll.bytes)).toBe(true);
    const def = await getMultipart(unc.instanceUrl(node.dicomweb));
    expect(def.parts[0]!.body.equals(unc.bytes)).toBe(true);
  });

  it('answers 206 with the Explicit VR LE instances of a mixed study, and a Warning', async () => {
    const res = await fetch(`${node.dicomweb}/studies/${unc.study}`);
    expect(res.status).toBe(206);
    expect(res.headers.get('warning')).toContain('2 of 3 instances were left out');
    const mp = parseMultipartResponse(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type'));
    expect(mp.parts).toHaveLength(1);
    expect(mp.parts[0]!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${ELE}`);
    expect(mp.parts[0]!.body.equals(unc.bytes)).toBe(true);
  });

  it('answers 406 for a series whose instances are all compressed', async () => {
    const rle = fileInfo(sharedDicomFiles().find((f) => path.basename(f) === 'RG3_RLE.dcm')!);
    expect((await stow(node.dicomweb, [rle.bytes])).status).toBe(200);
    const res = await fetch(`${node.dicomweb}/studies/${rle.study}/series/${rle.series}`);
    expect(res.status).toBe(406);
    expect(((await res.json()) as { message: string }).message).toContain(rle.ts);
  });
});
