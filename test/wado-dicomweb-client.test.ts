import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, sharedDicomFiles, stow, type TestNode } from './helpers/node.ts';
import { createDicomwebClient, type DicomwebClient } from './helpers/dicomweb-client.ts';
import { fileInfo, parseFile, storedPixelBytes, type FileInfo } from './helpers/wado.ts';
import { loadTranscoder } from '../src/dicomweb/wado-pixel.ts';

let node: TestNode;
let client: DicomwebClient;
let unc: FileInfo;
let jpll: FileInfo;

beforeAll(async () => {
  node = await startTestNode();
  const files = sharedDicomFiles().map(fileInfo);
  unc = files.find((f) => path.basename(f.path) === 'RG3_UNC.dcm')!;
  jpll = files.find((f) => path.basename(f.path) === 'RG3_JPLL.dcm')!;
  expect((await stow(node.dicomweb, [unc.bytes, jpll.bytes])).status).toBe(200);
  client = createDicomwebClient(node.dicomweb);
});

afterAll(async () => {
  await node?.stop();
});

const ids = (f: FileInfo) => ({ studyInstanceUID: f.study, seriesInstanceUID: f.series, sopInstanceUID: f.sop });

describe('dicomweb-client against carpus WADO-RS', () => {
  it('retrieves an instance with its default Accept, byte for byte', async () => {
    const buf = (await client.retrieveInstance(ids(unc))) as ArrayBuffer;
    expect(Buffer.from(buf).equals(unc.bytes)).toBe(true);
  });

  // dicomweb-client 0.11.3 rejects every `mediaTypes` option of retrieveInstance/Series/Study
  // ("Media type application/ is not supported": _getCommonMediaType returns "application/"),
  // so transfer-syntax=* is asked through the client's own headers, which replace its Accept.
  const storedClient = () => createDicomwebClient(node.dicomweb, { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' });

  it('retrieves a compressed instance as stored with transfer-syntax=*', async () => {
    const buf = (await storedClient().retrieveInstance(ids(jpll))) as ArrayBuffer;
    expect(Buffer.from(buf).equals(jpll.bytes)).toBe(true);
  });

  it('retrieves a compressed instance with its default Accept: transcoded to Explicit VR Little Endian, or a 406', async () => {
    const transcoder = await loadTranscoder();
    if (!transcoder) {
      await expect(client.retrieveInstance(ids(jpll))).rejects.toBeTruthy();
      return;
    }
    const buf = Buffer.from((await client.retrieveInstance(ids(jpll))) as ArrayBuffer);
    expect(parseFile(buf).string('x00020010')?.replace(/\0/g, '').trim()).toBe('1.2.840.10008.1.2.1');
    expect(storedPixelBytes(buf).equals(storedPixelBytes(unc.bytes))).toBe(true);
  });

  it('retrieves a study as stored', async () => {
    const parts = (await storedClient().retrieveStudy({ studyInstanceUID: unc.study })) as ArrayBuffer[];
    const got = parts.map((p) => Buffer.from(p).toString('base64')).sort();
    expect(got).toEqual([unc.bytes.toString('base64'), jpll.bytes.toString('base64')].sort());
  });

  it('retrieves instance and series metadata, and the pixel data through its BulkDataURI', async () => {
    const meta = (await client.retrieveInstanceMetadata(ids(unc))) as Record<string, { Value?: unknown[]; BulkDataURI?: string }>[];
    expect(meta).toHaveLength(1);
    expect(meta[0]!['00080018']!.Value![0]).toBe(unc.sop);
    const uri = meta[0]!['7FE00010']!.BulkDataURI!;
    expect(uri).toBe(`${node.dicomweb}/studies/${unc.study}/series/${unc.series}/instances/${unc.sop}/bulkdata/7FE00010`);
    const series = (await client.retrieveSeriesMetadata({ studyInstanceUID: unc.study, seriesInstanceUID: unc.series })) as unknown[];
    expect(series).toHaveLength(2);
    const bulk = (await client.retrieveBulkData({ BulkDataURI: uri })) as ArrayBuffer[];
    expect(Buffer.from(bulk[0]!).equals(storedPixelBytes(unc.bytes))).toBe(true);
  });

  it('retrieves frames', async () => {
    const frames = (await client.retrieveInstanceFrames({ ...ids(unc), frameNumbers: [1] })) as ArrayBuffer[];
    expect(frames).toHaveLength(1);
    expect(Buffer.from(frames[0]!).equals(storedPixelBytes(unc.bytes))).toBe(true);
  });
});
