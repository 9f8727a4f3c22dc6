import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, stow, DICOM_DIR, type TestNode } from './helpers/node.ts';
import { parseMultipartResponse } from './helpers/multipart.ts';
import { makeMultiFrame } from './helpers/wado.ts';

const CHEST = path.join(DICOM_DIR, 'cr-misc/gdcm-CR-MONO1-10-chest.dcm');
const RG3_JPLL = path.join(DICOM_DIR, 'cr-wg04/RG3_JPLL.dcm');
const CT = path.join(DICOM_DIR, 'ts-matrix-ct/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm');
const CHEST_URL = '/studies/1.2.392.200036.9125.0.199302241758.16/series/1.2.392.200036.9125.0.199302241758.16/instances/1.2.392.200036.9125.0.19950720112207';
const CT_STUDY = '1.2.840.113619.2.30.1.1762295590.1623.978668949.886';
const CT_SERIES = '1.2.840.113619.2.30.1.1762295590.1623.978668949.890';
const MULTI_SOP = '1.2.826.0.1.3680043.8.498.77001';

async function get(node: TestNode, url: string, accept?: string) {
  const res = await fetch(`${node.dicomweb}${url}`, { headers: accept ? { accept } : {} });
  return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}

describe('WADO-RS rendered resources', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode();
    const multi = await makeMultiFrame(fs.readFileSync(CT), 3, MULTI_SOP);
    expect((await stow(node.dicomweb, [CHEST, RG3_JPLL, CT, multi])).status).toBe(200);
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('renders an instance as JPEG by default and PNG on request, bone bright for MONOCHROME1', async () => {
    const jpeg = await get(node, `${CHEST_URL}/rendered`);
    expect(jpeg.status).toBe(200);
    expect(jpeg.type).toBe('image/jpeg');
    expect(await sharp(jpeg.body).metadata()).toMatchObject({ format: 'jpeg', width: 440, height: 440 });
    const png = await get(node, `${CHEST_URL}/rendered`, 'image/png');
    expect(png.type).toBe('image/png');
    const { data, info } = await sharp(png.body).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([440, 440]);
    // MONOCHROME1 chest: the spine (centre) must come out brighter than the lung fields beside it.
    const at = (x: number, y: number) => data[y * info.width + x]!;
    const centre = at(220, 300);
    const lung = Math.min(at(120, 200), at(320, 200));
    expect(centre).toBeGreaterThan(lung);
  });

  it('applies window and viewport', async () => {
    const narrow = await get(node, `${CHEST_URL}/rendered?window=500,100`, 'image/png');
    const wide = await get(node, `${CHEST_URL}/rendered?window=500,2000`, 'image/png');
    expect(narrow.status).toBe(200);
    expect(narrow.body.equals(wide.body)).toBe(false);
    const vp = await get(node, `${CHEST_URL}/rendered?viewport=220,110`, 'image/png');
    expect(await sharp(vp.body).metadata()).toMatchObject({ width: 110, height: 110 });
    const region = await get(node, `${CHEST_URL}/rendered?viewport=100,50,0,0,200,100`, 'image/png');
    expect(await sharp(region.body).metadata()).toMatchObject({ width: 100, height: 50 });
  });

  it('renders a compressed instance (JPEG lossless RG3)', async () => {
    const r = await get(
      node,
      '/studies/1.3.6.1.4.1.5962.1.2.11.20040826185059.5457/series/1.3.6.1.4.1.5962.1.3.11.1.20040826185059.5457/instances/1.3.6.1.4.1.5962.1.1.11.1.4.20040826185059.5457/rendered?viewport=440,440',
      'image/png',
    );
    expect(r.status).toBe(200);
    expect(await sharp(r.body).metadata()).toMatchObject({ width: 440, height: 440 });
  });

  it('renders frames of a multi-frame instance, one part each, in the order asked', async () => {
    const url = `/studies/${CT_STUDY}/series/${CT_SERIES}/instances/${MULTI_SOP}/frames/3,1/rendered`;
    const r = await get(node, url, 'image/png');
    expect(r.status).toBe(200);
    const mp = parseMultipartResponse(r.body, r.type);
    expect(mp.parameters.type).toBe('image/png');
    expect(mp.parts).toHaveLength(2);
    const one = await get(node, `/studies/${CT_STUDY}/series/${CT_SERIES}/instances/${MULTI_SOP}/frames/1/rendered`, 'image/png');
    expect(one.type).toBe('image/png');
    expect(mp.parts[1]!.body.equals(one.body)).toBe(true);
    expect(mp.parts[0]!.body.equals(one.body)).toBe(false);
  });

  it('renders a series: the first frame of each instance', async () => {
    const r = await get(node, `/studies/${CT_STUDY}/series/${CT_SERIES}/rendered`, 'image/jpeg');
    expect(r.status).toBe(200);
    const mp = parseMultipartResponse(r.body, r.type);
    expect(mp.parts).toHaveLength(2);
    for (const p of mp.parts) expect(await sharp(p.body).metadata()).toMatchObject({ format: 'jpeg', width: 512, height: 512 });
  });

  it('answers bad parameters with 400, unknown frames with 404, other media types with 406', async () => {
    const base = `/studies/${CT_STUDY}/series/${CT_SERIES}/instances/${MULTI_SOP}`;
    expect((await get(node, `${base}/rendered?window=abc`)).status).toBe(400);
    expect((await get(node, `${base}/rendered?window=40,0`)).status).toBe(400);
    expect((await get(node, `${base}/rendered?viewport=0,10`)).status).toBe(400);
    expect((await get(node, `${base}/rendered?viewport=10,10,600,0,100,100`)).status).toBe(400);
    expect((await get(node, `${base}/rendered?quality=101`)).status).toBe(400);
    expect((await get(node, `${base}/frames/0/rendered`)).status).toBe(400);
    expect((await get(node, `${base}/frames/9/rendered`)).status).toBe(404);
    expect((await get(node, `${base}/rendered`, 'text/html')).status).toBe(406);
    expect((await get(node, `/studies/${CT_STUDY}/series/${CT_SERIES}/instances/1.2.3.4/rendered`)).status).toBe(404);
  });
});
