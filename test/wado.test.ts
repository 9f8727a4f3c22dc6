import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, sharedDicomFiles, stow, type TestNode } from './helpers/node.ts';
import { getMultipart, parseMultipartResponse } from './helpers/multipart.ts';
import { ensureStored, fileInfo, makeMultiFrame, parseFile, storedPixelBytes, withIcon, type FileInfo } from './helpers/wado.ts';
import { loadTranscoder, canDecode } from '../src/dicomweb/wado-pixel.ts';

const ELE = '1.2.840.10008.1.2.1';
const ALL = 'multipart/related; type="application/dicom"; transfer-syntax=*';

let node: TestNode;
let files: FileInfo[];
const byName = (name: string): FileInfo => {
  const f = files.find((x) => path.basename(x.path) === name);
  if (!f) throw new Error(`no test file ${name}`);
  return f;
};
const ctName = (ts: string) => `CTImage.dcm_${ts}.dcm`;

function hasDcmdump(): boolean {
  try {
    execFileSync('dcmdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  node = await startTestNode();
  files = sharedDicomFiles().map(fileInfo);
  // One STOW with the first file of each SOPInstanceUID (several CT files are one instance in many syntaxes).
  const seen = new Set<string>();
  const first = files.filter((f) => (seen.has(f.sop) ? false : (seen.add(f.sop), true)));
  const r = await stow(node.dicomweb, first.map((f) => f.bytes));
  expect(r.status).toBe(200);
});

afterAll(async () => {
  await node?.stop();
});

describe('WADO-RS retrieve', () => {
  it('returns every shared file byte for byte with transfer-syntax=*', async () => {
    for (const f of files) {
      await ensureStored(node, f);
      const mp = await getMultipart(f.instanceUrl(node.dicomweb), ALL);
      expect(mp.status).toBe(200);
      expect(mp.parameters.type).toBe('application/dicom');
      expect(mp.parts, f.path).toHaveLength(1);
      expect(mp.parts[0]!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${f.ts}`);
      expect(mp.parts[0]!.body.equals(f.bytes), `bytes of ${path.basename(f.path)}`).toBe(true);
    }
  });

  it('sends Explicit VR Little Endian instances unchanged when Accept names no transfer syntax', async () => {
    for (const name of ['RG3_UNC.dcm', 'gdcm-CR-MONO1-10-chest.dcm', ctName('LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1')]) {
      const f = byName(name);
      expect(f.ts).toBe(ELE);
      await ensureStored(node, f);
      for (const accept of [undefined, '*/*', 'multipart/related; type="application/dicom"', `multipart/related; type="application/dicom"; transfer-syntax=${ELE}`]) {
        const mp = await getMultipart(f.instanceUrl(node.dicomweb), accept);
        expect(mp.parts).toHaveLength(1);
        expect(mp.parts[0]!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${ELE}`);
        expect(mp.parts[0]!.body.equals(f.bytes)).toBe(true);
      }
    }
  });

  it('answers a bare application/dicom Accept at instance level with the single file', async () => {
    const f = byName('RG3_UNC.dcm');
    await ensureStored(node, f);
    const res = await fetch(f.instanceUrl(node.dicomweb), { headers: { accept: 'application/dicom' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(`application/dicom; transfer-syntax=${ELE}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(f.bytes)).toBe(true);
  });

  it('sends the stored bytes when the asked transfer syntax is the stored one', async () => {
    const f = byName('RG3_JLSL.dcm');
    await ensureStored(node, f);
    const mp = await getMultipart(f.instanceUrl(node.dicomweb), `multipart/related; type="application/dicom"; transfer-syntax=${f.ts}`);
    expect(mp.parts[0]!.body.equals(f.bytes)).toBe(true);
  });

  it('answers 406 (or transcodes, once the pixel module can) for compressed instances without transfer-syntax=*', async () => {
    const f = byName('RG3_JPLL.dcm');
    await ensureStored(node, f);
    const transcoder = await loadTranscoder();
    const res = await fetch(f.instanceUrl(node.dicomweb), { headers: { accept: 'multipart/related; type="application/dicom"' } });
    const body = Buffer.from(await res.arrayBuffer());
    if (!transcoder) {
      expect(res.status).toBe(406);
      const msg = JSON.parse(body.toString()).message as string;
      expect(msg).toContain(f.ts);
      expect(msg).toContain('transfer-syntax=*');
      return;
    }
    expect(res.status).toBe(200);
    const mp = parseMultipartResponse(body, res.headers.get('content-type'));
    expect(mp.parts[0]!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${ELE}`);
    const ds = parseFile(mp.parts[0]!.body);
    expect(ds.string('x00020010')?.replace(/\0/g, '').trim()).toBe(ELE);
    // Lossless source: the transcoded pixels equal the uncompressed file's.
    expect(storedPixelBytes(mp.parts[0]!.body).equals(storedPixelBytes(byName('RG3_UNC.dcm').bytes))).toBe(true);
    if (hasDcmdump()) {
      const tmp = path.join(os.tmpdir(), `carpus-wado-${process.pid}.dcm`);
      fs.writeFileSync(tmp, mp.parts[0]!.body);
      const out = execFileSync('dcmdump', ['+P', '0002,0010', tmp]).toString();
      fs.rmSync(tmp);
      expect(out).toContain('LittleEndianExplicit');
    }
  });

  it('retrieves a study and a series, streaming every instance as stored with transfer-syntax=*', async () => {
    const rg3 = files.filter((f) => /RG3_(UNC|J2KI|J2KR|JLSL|JLSN|JPLL|JPLY)\.dcm$/.test(f.path));
    for (const f of rg3) await ensureStored(node, f);
    const study = rg3[0]!.study;
    const series = rg3[0]!.series;
    for (const url of [`${node.dicomweb}/studies/${study}`, `${node.dicomweb}/studies/${study}/series/${series}`]) {
      const mp = await getMultipart(url, ALL);
      expect(mp.status).toBe(200);
      const got = new Set(mp.parts.map((p) => p.body.toString('base64')));
      expect(mp.parts).toHaveLength(rg3.length);
      for (const f of rg3) expect(got.has(f.bytes.toString('base64')), path.basename(f.path)).toBe(true);
      for (const p of mp.parts) expect(p.headers['content-type']).toMatch(/^application\/dicom; transfer-syntax=[\d.]+$/);
    }
  });

  it('answers 206 with a Warning when only some instances of a study can be sent in the asked syntax', async () => {
    const rg3 = files.filter((f) => /RG3_(UNC|J2KI|JPLL)\.dcm$/.test(f.path));
    for (const f of rg3) await ensureStored(node, f);
    const jpll = byName('RG3_JPLL.dcm');
    // Only the instance stored in JPEG Lossless SV1 can be sent in that syntax (carpus transcodes to Explicit VR LE only).
    const res = await fetch(`${node.dicomweb}/studies/${jpll.study}`, { headers: { accept: `multipart/related; type="application/dicom"; transfer-syntax=${jpll.ts}` } });
    expect(res.status).toBe(206);
    expect(res.headers.get('warning')).toMatch(/^299 carpus ".*left out.*transfer-syntax=\*/);
    const mp = parseMultipartResponse(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type'));
    expect(mp.parts).toHaveLength(1);
    expect(mp.parts[0]!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${jpll.ts}`);
    expect(mp.parts[0]!.body.equals(jpll.bytes)).toBe(true);
    // A list of acceptable syntaxes: each instance goes out in the first one it can be sent in.
    const both = await getMultipart(`${node.dicomweb}/studies/${jpll.study}`, `multipart/related; type="application/dicom"; transfer-syntax=${jpll.ts}, ${ALL};q=0.5`);
    expect(both.status).toBe(200);
    expect(both.parts.find((p) => p.body.equals(jpll.bytes))).toBeDefined();
    expect(both.parts.find((p) => p.body.equals(byName('RG3_J2KI.dcm').bytes))).toBeDefined();
  });

  it('retrieves a whole study in the default syntax: every part Explicit VR Little Endian (transcoded where needed)', async () => {
    // The CT study (512x512 instances in many syntaxes): small frames keep the decodes quick on a loaded machine.
    const transcoder = await loadTranscoder();
    const ct = files.filter((f) => f.path.includes('ts-matrix-ct') && f.path.includes('CTImage'));
    const study = ct[0]!.study;
    const stored = await node.node.ctx.db.query<{ transfer_syntax_uid: string }>('SELECT transfer_syntax_uid FROM instance WHERE study_instance_uid = $1', [study]);
    expect(stored.some((r) => r.transfer_syntax_uid !== ELE)).toBe(true);
    const res = await fetch(`${node.dicomweb}/studies/${study}`);
    if (!transcoder) {
      expect(res.status).toBe(stored.some((r) => r.transfer_syntax_uid === ELE) ? 206 : 406);
      return;
    }
    expect(res.status).toBe(200);
    const mp = parseMultipartResponse(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type'));
    expect(mp.parts).toHaveLength(stored.length);
    for (const p of mp.parts) {
      expect(p.headers['content-type']).toBe(`application/dicom; transfer-syntax=${ELE}`);
      expect(parseFile(p.body).string('x00020010')?.replace(/\0/g, '').trim()).toBe(ELE);
    }
  });

  it('uses a random boundary per response', async () => {
    const f = byName('gdcm-CR-MONO1-10-chest.dcm');
    await ensureStored(node, f);
    const a = await getMultipart(f.instanceUrl(node.dicomweb), ALL);
    const b = await getMultipart(f.instanceUrl(node.dicomweb), ALL);
    expect(a.parameters.boundary).not.toBe(b.parameters.boundary);
    expect(a.parameters.boundary!.length).toBeGreaterThanOrEqual(16);
  });
});

describe('WADO-RS metadata and bulk data', () => {
  it('returns metadata at study, series and instance level with absolute BulkDataURIs that resolve', async () => {
    const f = byName('RG3_UNC.dcm');
    await ensureStored(node, f);
    const base = f.instanceUrl(node.dicomweb);
    for (const url of [`${node.dicomweb}/studies/${f.study}/metadata`, `${node.dicomweb}/studies/${f.study}/series/${f.series}/metadata`, `${base}/metadata`]) {
      const res = await fetch(url, { headers: { accept: 'application/dicom+json' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/dicom\+json/);
      const arr = (await res.json()) as Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>[];
      expect(Array.isArray(arr)).toBe(true);
      const mine = arr.find((ds) => ds['00080018']?.Value?.[0] === f.sop);
      expect(mine, url).toBeDefined();
      expect(mine!['7FE00010']!.BulkDataURI).toBe(`${base}/bulkdata/7FE00010`);
      if (url.endsWith(`${f.sop}/metadata`)) expect(arr).toHaveLength(1);
    }
    const mp = await getMultipart(`${base}/bulkdata/7FE00010`, 'multipart/related; type="application/octet-stream"');
    expect(mp.parameters.type).toBe('application/octet-stream');
    expect(mp.parts).toHaveLength(1);
    expect(mp.parts[0]!.headers['content-type']).toMatch(/^application\/octet-stream/);
    expect(mp.parts[0]!.body.equals(storedPixelBytes(f.bytes))).toBe(true);
  });

  it('metadata of a study lists every instance once', async () => {
    const rg3 = files.filter((f) => /RG3_(UNC|J2KI|J2KR|JLSL|JLSN|JPLL|JPLY)\.dcm$/.test(f.path));
    for (const f of rg3) await ensureStored(node, f);
    const res = await fetch(`${node.dicomweb}/studies/${rg3[0]!.study}/metadata`);
    const arr = (await res.json()) as Record<string, { Value?: unknown[] }>[];
    const sops = arr.map((ds) => ds['00080018']!.Value![0]);
    expect(new Set(sops).size).toBe(sops.length);
    for (const f of rg3) expect(sops).toContain(f.sop);
  });

  it('serves little-endian bulk data for big endian, implicit and deflated CT files', async () => {
    const le = byName(ctName('LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1'));
    const expected = storedPixelBytes(le.bytes);
    for (const name of [
      ctName('BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2'),
      ctName('LittleEndianImplicitTransferSyntax_1.2.840.10008.1.2'),
      ctName('DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99'),
    ]) {
      const f = byName(name);
      await ensureStored(node, f);
      const meta = (await (await fetch(`${f.instanceUrl(node.dicomweb)}/metadata`)).json()) as Record<string, { BulkDataURI?: string }>[];
      const uri = meta[0]!['7FE00010']!.BulkDataURI!;
      const mp = await getMultipart(uri, 'multipart/related; type="application/octet-stream"');
      expect(mp.parts[0]!.body.equals(expected), name).toBe(true);
      // And the frames resource gives the same bytes for frame 1.
      const fr = await getMultipart(`${f.instanceUrl(node.dicomweb)}/frames/1`);
      expect(fr.parts[0]!.body.equals(expected), `${name} frame`).toBe(true);
    }
  });

  it('resolves every BulkDataURI in the metadata of every native file', async () => {
    for (const f of files.filter((x) => ['1.2.840.10008.1.2', ELE, '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99'].includes(x.ts))) {
      await ensureStored(node, f);
      const meta = (await (await fetch(`${f.instanceUrl(node.dicomweb)}/metadata`)).json()) as Record<string, unknown>[];
      const uris: string[] = [];
      const walk = (ds: Record<string, unknown>) => {
        for (const el of Object.values(ds) as { vr: string; BulkDataURI?: string; Value?: unknown[] }[]) {
          if (el.BulkDataURI) uris.push(el.BulkDataURI);
          if (el.vr === 'SQ') for (const item of el.Value ?? []) walk(item as Record<string, unknown>);
        }
      };
      walk(meta[0]!);
      expect(uris.length, path.basename(f.path)).toBeGreaterThan(0);
      for (const uri of uris) {
        expect(uri.startsWith(f.instanceUrl(node.dicomweb))).toBe(true);
        const mp = await getMultipart(uri);
        expect(mp.parts).toHaveLength(1);
        expect(mp.parts[0]!.body.length).toBeGreaterThan(0);
      }
    }
  });

  it('resolves a BulkDataURI inside a sequence item (icon image pixel data)', async () => {
    const src = byName(ctName('LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1'));
    const sop = '1.2.826.0.1.3680043.9.7433.42.3';
    const { bytes, icon } = await withIcon(src.bytes, sop);
    expect((await stow(node.dicomweb, [bytes])).status).toBe(200);
    const base = `${node.dicomweb}/studies/${src.study}/series/${src.series}/instances/${sop}`;
    const meta = (await (await fetch(`${base}/metadata`)).json()) as Record<string, { Value?: Record<string, { BulkDataURI?: string }>[] }>[];
    const uri = meta[0]!['00880200']!.Value![0]!['7FE00010']!.BulkDataURI;
    expect(uri).toBe(`${base}/bulkdata/00880200/0/7FE00010`);
    const mp = await getMultipart(uri!);
    expect(mp.parts[0]!.body.equals(icon)).toBe(true);
    expect((await fetch(`${base}/bulkdata/00880200/1/7FE00010`)).status).toBe(404);
    expect((await fetch(`${base}/bulkdata/00880200`)).status).toBe(400);
  });

  it('sends compressed Pixel Data bulk data as stored frames when the client takes their media type', async () => {
    const f = byName('RG3_JLSL.dcm');
    await ensureStored(node, f);
    const mp = await getMultipart(`${f.instanceUrl(node.dicomweb)}/bulkdata/7FE00010`, 'multipart/related; type="image/jls"');
    expect(mp.parts).toHaveLength(1);
    expect(mp.parts[0]!.headers['content-type']).toBe(`image/jls; transfer-syntax=${f.ts}`);
    expect(mp.parts[0]!.body.subarray(0, 2).equals(Buffer.from([0xff, 0xd8]))).toBe(true);
  });

  it('answers 400 for a malformed bulk data path and 404 for an absent element', async () => {
    const f = byName('RG3_UNC.dcm');
    const base = f.instanceUrl(node.dicomweb);
    expect((await fetch(`${base}/bulkdata/XYZ`)).status).toBe(400);
    expect((await fetch(`${base}/bulkdata/7FE00010/0`)).status).toBe(400);
    expect((await fetch(`${base}/bulkdata/00091234`)).status).toBe(404);
  });

  it('answers 406 for XML metadata', async () => {
    const f = byName('RG3_UNC.dcm');
    const res = await fetch(`${f.instanceUrl(node.dicomweb)}/metadata`, { headers: { accept: 'multipart/related; type="application/dicom+xml"' } });
    expect(res.status).toBe(406);
  });
});

describe('WADO-RS frames', () => {
  it('returns the native frame of RG3_UNC and of the CT file', async () => {
    for (const name of ['RG3_UNC.dcm', ctName('LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1'), 'CTImage.dcm']) {
      const f = byName(name);
      await ensureStored(node, f);
      const ds = parseFile(f.bytes);
      const frameSize = ds.uint16('x00280010')! * ds.uint16('x00280011')! * (ds.uint16('x00280002') ?? 1) * (ds.uint16('x00280100')! / 8);
      const pixel = storedPixelBytes(f.bytes);
      expect(pixel.length).toBeGreaterThanOrEqual(frameSize);
      for (const accept of [undefined, 'multipart/related; type="application/octet-stream"', `multipart/related; type="application/octet-stream"; transfer-syntax=${ELE}`]) {
        const mp = await getMultipart(`${f.instanceUrl(node.dicomweb)}/frames/1`, accept);
        expect(mp.parameters.type).toBe('application/octet-stream');
        expect(mp.parts).toHaveLength(1);
        expect(mp.parts[0]!.body.equals(pixel.subarray(0, frameSize)), name).toBe(true);
      }
      // The same frame twice: two parts.
      const twice = await getMultipart(`${f.instanceUrl(node.dicomweb)}/frames/1,1`);
      expect(twice.parts).toHaveLength(2);
      // A bare application/octet-stream for one frame.
      const res = await fetch(`${f.instanceUrl(node.dicomweb)}/frames/1`, { headers: { accept: 'application/octet-stream' } });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(pixel.subarray(0, frameSize))).toBe(true);
    }
  });

  it('sends compressed frames as stored with transfer-syntax=* or their media type', async () => {
    const f = byName('RG3_JPLL.dcm');
    await ensureStored(node, f);
    for (const accept of ['multipart/related; type="image/jpeg"', 'multipart/related; type="application/octet-stream"; transfer-syntax=*']) {
      const mp = await getMultipart(`${f.instanceUrl(node.dicomweb)}/frames/1`, accept);
      expect(mp.parts).toHaveLength(1);
      expect(mp.parts[0]!.headers['content-type']).toBe(`image/jpeg; transfer-syntax=${f.ts}`);
      expect(mp.parts[0]!.body.subarray(0, 2).equals(Buffer.from([0xff, 0xd8]))).toBe(true);
    }
    // A compressed media type that does not match the stored syntax cannot be produced.
    expect((await fetch(`${f.instanceUrl(node.dicomweb)}/frames/1`, { headers: { accept: 'multipart/related; type="image/jp2"' } })).status).toBe(406);
  });

  it('decompresses frames of lossless compressed files through the pixel module, or answers 406', async () => {
    const unc = storedPixelBytes(byName('RG3_UNC.dcm').bytes);
    for (const name of ['RG3_JPLL.dcm', 'RG3_JLSL.dcm', 'RG3_J2KR.dcm', 'RG3_RLE.dcm']) {
      const f = byName(name);
      await ensureStored(node, f);
      const res = await fetch(`${f.instanceUrl(node.dicomweb)}/frames/1`, { headers: { accept: 'multipart/related; type="application/octet-stream"' } });
      const body = Buffer.from(await res.arrayBuffer());
      if (!(await canDecode(f.ts))) {
        expect(res.status, name).toBe(406);
        expect(JSON.parse(body.toString()).message).toContain(f.ts);
        continue;
      }
      expect(res.status, `${name}: ${res.status === 200 ? '' : body.toString()}`).toBe(200);
      const mp = parseMultipartResponse(body, res.headers.get('content-type'));
      expect(mp.parts).toHaveLength(1);
      expect(mp.parts[0]!.body.length).toBe(unc.length);
      if (name !== 'RG3_RLE.dcm') expect(mp.parts[0]!.body.equals(unc), name).toBe(true);
    }
  });

  it('answers 400 for malformed frame lists and 404 for frames out of range', async () => {
    const f = byName('RG3_UNC.dcm');
    await ensureStored(node, f);
    const base = f.instanceUrl(node.dicomweb);
    for (const bad of ['0', 'abc', '1,,2', '1,', '-1', '1.5', '1;2']) {
      const res = await fetch(`${base}/frames/${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
    }
    expect((await fetch(`${base}/frames/2`)).status).toBe(404);
    expect((await fetch(`${base}/frames/1,2`)).status).toBe(404);
  });
});

describe('WADO-RS errors', () => {
  it('answers 404 for unknown UIDs and for an instance under another study or series', async () => {
    const f = byName('RG3_UNC.dcm');
    const other = byName('gdcm-CR-MONO1-10-chest.dcm');
    await ensureStored(node, f);
    await ensureStored(node, other);
    const d = node.dicomweb;
    const cases = [
      `${d}/studies/1.2.3.4.5.6`,
      `${d}/studies/1.2.3.4.5.6/metadata`,
      `${d}/studies/${f.study}/series/1.2.3.4`,
      `${d}/studies/${f.study}/series/1.2.3.4/metadata`,
      `${d}/studies/${f.study}/series/${f.series}/instances/1.2.3.4`,
      `${d}/studies/${other.study}/series/${f.series}/instances/${f.sop}`,
      `${d}/studies/${other.study}/series/${f.series}`,
      `${d}/studies/${f.study}/series/${other.series}/instances/${f.sop}`,
      `${d}/studies/${other.study}/series/${other.series}/instances/${f.sop}`,
      `${d}/studies/${other.study}/series/${other.series}/instances/${f.sop}/metadata`,
      `${d}/studies/${other.study}/series/${other.series}/instances/${f.sop}/frames/1`,
      `${d}/studies/${other.study}/series/${other.series}/instances/${f.sop}/bulkdata/7FE00010`,
    ];
    for (const url of cases) {
      const res = await fetch(url);
      expect(res.status, url).toBe(404);
      expect(((await res.json()) as { message: string }).message).toBeTruthy();
    }
  });

  it('answers 400 for a malformed UID in the path', async () => {
    expect((await fetch(`${node.dicomweb}/studies/not-a-uid`)).status).toBe(400);
  });

  it('answers 406 for Accept values it cannot produce', async () => {
    const f = byName('RG3_UNC.dcm');
    const url = f.instanceUrl(node.dicomweb);
    for (const accept of ['text/html', 'application/dicom+json', 'multipart/related; type="application/dicom+xml"', 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50']) {
      const res = await fetch(url, { headers: { accept } });
      expect(res.status, accept).toBe(406);
      expect(((await res.json()) as { message: string }).message).toBeTruthy();
    }
    const fr = await fetch(`${url}/frames/1`, { headers: { accept: 'text/plain' } });
    expect(fr.status).toBe(406);
  });
});

describe('WADO-RS multi-frame and transcoding', () => {
  it('cuts the right frames, in the asked order, from a multi-frame native instance', async () => {
    const src = byName(ctName('LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1'));
    const sop = '1.2.826.0.1.3680043.9.7433.42.1';
    const mf = await makeMultiFrame(src.bytes, 3, sop);
    const r = await stow(node.dicomweb, [mf]);
    expect(r.status).toBe(200);
    const base = `${node.dicomweb}/studies/${src.study}/series/${src.series}/instances/${sop}`;
    const pixel = storedPixelBytes(mf);
    const size = pixel.length / 3;
    const mp = await getMultipart(`${base}/frames/3,1,2`);
    expect(mp.parts).toHaveLength(3);
    [3, 1, 2].forEach((n, i) => expect(mp.parts[i]!.body.equals(pixel.subarray((n - 1) * size, n * size)), `frame ${n}`).toBe(true));
    expect((await fetch(`${base}/frames/4`)).status).toBe(404);
    // A bare application/octet-stream cannot hold several frames.
    expect((await fetch(`${base}/frames/1,2`, { headers: { accept: 'application/octet-stream' } })).status).toBe(406);
    const bulk = await getMultipart(`${base}/bulkdata/7FE00010`);
    expect(bulk.parts[0]!.body.equals(pixel)).toBe(true);
  });

  it('transcodes every non-Explicit-LE file to Explicit VR Little Endian by default, once the pixel module can', async () => {
    if (!(await loadTranscoder())) return;
    const reference = (f: FileInfo): Buffer | undefined => {
      if (f.path.includes('CTImage') && !/4\.(5[0-5]|81|91)\.dcm$/.test(f.path)) return storedPixelBytes(byName(ctName('LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1')).bytes);
      if (/RG3_(JPLL|JLSL|J2KR)\.dcm$/.test(f.path)) return storedPixelBytes(byName('RG3_UNC.dcm').bytes);
      return undefined;
    };
    for (const f of files.filter((x) => x.ts !== ELE)) {
      await ensureStored(node, f);
      const res = await fetch(f.instanceUrl(node.dicomweb), { headers: { accept: 'multipart/related; type="application/dicom"' } });
      const body = Buffer.from(await res.arrayBuffer());
      expect(res.status, `${path.basename(f.path)}: ${res.status === 200 ? '' : body.toString()}`).toBe(200);
      const mp = parseMultipartResponse(body, res.headers.get('content-type'));
      expect(mp.parts[0]!.headers['content-type']).toBe(`application/dicom; transfer-syntax=${ELE}`);
      const out = mp.parts[0]!.body;
      const ds = parseFile(out);
      expect(ds.string('x00020010')?.replace(/\0/g, '').trim()).toBe(ELE);
      expect(ds.string('x00080018')?.replace(/\0/g, '').trim()).toBe(f.sop);
      const ref = reference(f);
      if (ref) expect(storedPixelBytes(out).equals(ref), path.basename(f.path)).toBe(true);
      // Frames of the stored instance decompress to the transcoded file's pixel data.
      const fr = await getMultipart(`${f.instanceUrl(node.dicomweb)}/frames/1`);
      const px = storedPixelBytes(out);
      expect(fr.parts[0]!.body.equals(px.subarray(0, fr.parts[0]!.body.length)), `${path.basename(f.path)} frame`).toBe(true);
    }
  });
});

describe('WADO-RS with a damaged archive', () => {
  it('answers 500 (not a broken stream) when an instance file is missing, and keeps serving', async () => {
    const src = byName(ctName('LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1'));
    const sop = '1.2.826.0.1.3680043.9.7433.42.2';
    const mf = await makeMultiFrame(src.bytes, 2, sop);
    expect((await stow(node.dicomweb, [mf])).status).toBe(200);
    const [row] = await node.node.ctx.db.query<{ storage_path: string }>('SELECT storage_path FROM instance WHERE sop_instance_uid = $1', [sop]);
    fs.rmSync(path.join(node.dataDir, row!.storage_path));
    const base = `${node.dicomweb}/studies/${src.study}/series/${src.series}/instances/${sop}`;
    for (const [url, accept] of [[base, ALL], [base, undefined], [`${base}/frames/1`, undefined], [`${base}/bulkdata/7FE00010`, undefined]] as const) {
      const res = await fetch(url, accept ? { headers: { accept } } : {});
      expect(res.status, url).toBe(500);
      expect(((await res.json()) as { message: string }).message).toMatch(/cannot be read/);
    }
    const ok = byName('RG3_UNC.dcm');
    await ensureStored(node, ok);
    expect((await getMultipart(ok.instanceUrl(node.dicomweb), ALL)).parts[0]!.body.equals(ok.bytes)).toBe(true);
  });
});
