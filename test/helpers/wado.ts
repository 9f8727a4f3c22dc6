/** Test helpers for WADO-RS: what a test file is (UIDs, syntax, pixel bytes) and getting it stored. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import dicomParser from 'dicom-parser';
import { parseStructure } from '../../src/dicom/part10.ts';
import { stow, type TestNode } from './node.ts';

export interface FileInfo {
  path: string;
  bytes: Buffer;
  sha256: string;
  study: string;
  series: string;
  sop: string;
  ts: string;
  instanceUrl(dicomweb: string): string;
}

/** The node's own strict parse (dicom-parser, deflate handled): one implementation. */
export function parseFile(bytes: Uint8Array): dicomParser.DataSet {
  return parseStructure(bytes);
}

export function fileInfo(path: string): FileInfo {
  const bytes = fs.readFileSync(path);
  const ds = parseFile(bytes);
  const s = (tag: string) => (ds.string(tag) ?? '').replace(/\0/g, '').trim();
  const info = {
    path,
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    study: s('x0020000d'),
    series: s('x0020000e'),
    sop: s('x00080018'),
    ts: s('x00020010'),
    instanceUrl: (dicomweb: string) => `${dicomweb}/studies/${info.study}/series/${info.series}/instances/${info.sop}`,
  };
  return info;
}

/** Native Pixel Data value bytes as stored in the file (no swapping). */
export function storedPixelBytes(bytes: Uint8Array): Buffer {
  const ds = parseFile(bytes);
  const el = ds.elements.x7fe00010!;
  return Buffer.from(ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length));
}

/**
 * Makes `file` the stored instance for its SOPInstanceUID. Several shared test
 * files are the same instance in different transfer syntaxes (same UID); the
 * archive (rightly) refuses a second one with different content, and has no
 * delete yet, so the test removes the index row of the other one directly.
 */
export async function ensureStored(node: TestNode, file: FileInfo): Promise<void> {
  const rows = await node.node.ctx.db.query<{ sha256: string }>('SELECT sha256 FROM instance WHERE sop_instance_uid = $1', [file.sop]);
  if (rows[0]?.sha256 === file.sha256) return;
  if (rows[0]) await node.node.ctx.db.query('DELETE FROM instance WHERE sop_instance_uid = $1', [file.sop]);
  const r = await stow(node.dicomweb, [file.bytes]);
  if (r.status !== 200) throw new Error(`STOW of ${file.path} → ${r.status} ${JSON.stringify(r.json)}`);
}

/**
 * A synthetic multi-frame instance made from a single-frame native Explicit VR
 * Little Endian file: `frames` frames, frame k (0-based) = the original pixels
 * with k added to every 16-bit sample (8-bit: to every byte), new SOPInstanceUID.
 */
export async function makeMultiFrame(source: Uint8Array, frames: number, sop: string): Promise<Buffer> {
  const { default: dcmjs } = await import('dcmjs');
  const ab = source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength) as ArrayBuffer;
  const file = dcmjs.data.DicomMessage.readFile(ab);
  const ds = parseFile(source);
  const bits = ds.uint16('x00280100')!;
  const one = storedPixelBytes(source);
  const all = Buffer.alloc(one.length * frames);
  for (let k = 0; k < frames; k++) {
    const f = Buffer.from(one);
    if (bits === 16) for (let i = 0; i + 1 < f.length; i += 2) f.writeUInt16LE((f.readUInt16LE(i) + k) & 0xffff, i);
    else for (let i = 0; i < f.length; i++) f[i] = (f[i]! + k) & 0xff;
    f.copy(all, k * one.length);
  }
  file.dict['7FE00010'] = { vr: bits > 8 ? 'OW' : 'OB', Value: [all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)] };
  file.dict['00280008'] = { vr: 'IS', Value: [frames] };
  file.dict['00080018'] = { vr: 'UI', Value: [sop] };
  file.meta['00020003'] = { vr: 'UI', Value: [sop] };
  for (const tag of Object.keys(file.dict)) if (tag.endsWith('0000')) delete file.dict[tag];
  const out = new dcmjs.data.DicomDict(file.meta);
  out.dict = file.dict;
  return Buffer.from(out.write({ allowInvalidVRLength: true }));
}

/**
 * A copy of a native file with an IconImageSequence (0088,0200) whose item holds a 64x64 8-bit
 * Pixel Data (4096 bytes, over the bulk data threshold): a nested BulkDataURI. New SOPInstanceUID.
 */
export async function withIcon(source: Uint8Array, sop: string): Promise<{ bytes: Buffer; icon: Buffer }> {
  const { default: dcmjs } = await import('dcmjs');
  const ab = source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength) as ArrayBuffer;
  const file = dcmjs.data.DicomMessage.readFile(ab);
  const icon = Buffer.alloc(64 * 64);
  for (let i = 0; i < icon.length; i++) icon[i] = (i * 7) & 0xff;
  file.dict['00880200'] = {
    vr: 'SQ',
    Value: [
      {
        '00280002': { vr: 'US', Value: [1] },
        '00280004': { vr: 'CS', Value: ['MONOCHROME2'] },
        '00280010': { vr: 'US', Value: [64] },
        '00280011': { vr: 'US', Value: [64] },
        '00280100': { vr: 'US', Value: [8] },
        '00280101': { vr: 'US', Value: [8] },
        '00280102': { vr: 'US', Value: [7] },
        '00280103': { vr: 'US', Value: [0] },
        '7FE00010': { vr: 'OB', Value: [icon.buffer.slice(icon.byteOffset, icon.byteOffset + icon.byteLength)] },
      },
    ],
  };
  file.dict['00080018'] = { vr: 'UI', Value: [sop] };
  file.meta['00020003'] = { vr: 'UI', Value: [sop] };
  for (const tag of Object.keys(file.dict)) if (tag.endsWith('0000')) delete file.dict[tag];
  const out = new dcmjs.data.DicomDict(file.meta);
  out.dict = file.dict;
  return { bytes: Buffer.from(out.write({ allowInvalidVRLength: true })), icon };
}
