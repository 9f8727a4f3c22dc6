/** Shared by the pixel tests: data paths, reference decodes by DCMTK/GDCM, independent pixel reading. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dicomParser from 'dicom-parser';

export const projectRoot = path.resolve(import.meta.dirname, '..');
export const dataDir = path.resolve(projectRoot, '../shared/data');
export const dicomDir = path.join(dataDir, 'dicom');

export function dataFile(rel: string): string {
  return path.join(dicomDir, rel);
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Which reference tool decompresses a file of this transfer syntax. */
export function referenceCommand(ts: string, input: string, output: string): [string, string[]] {
  if (['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99'].includes(ts)) return ['dcmconv', ['+te', input, output]];
  if (ts.startsWith('1.2.840.10008.1.2.4.5') || ts === '1.2.840.10008.1.2.4.70') return ['dcmdjpeg', [input, output]];
  if (ts.startsWith('1.2.840.10008.1.2.4.8')) return ['dcmdjpls', [input, output]];
  if (ts === '1.2.840.10008.1.2.5') return ['dcmdrle', [input, output]];
  if (ts.startsWith('1.2.840.10008.1.2.4.9')) return ['gdcmconv', ['--raw', input, output]];
  throw new Error(`no reference tool for ${ts}`);
}

export function transferSyntaxOf(file: string): string {
  const ds = dicomParser.parseDicom(fs.readFileSync(file), { untilTag: 'x00020010' });
  return (ds.string('x00020010') ?? '').trim();
}

/** Decompresses `input` with DCMTK or GDCM into `dir`; returns the output path. */
export function referenceDecode(input: string, dir: string): string {
  const out = path.join(dir, `${path.basename(input)}.ref.dcm`);
  if (!fs.existsSync(out)) {
    const [cmd, args] = referenceCommand(transferSyntaxOf(input), input, out);
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return out;
}

export interface RefImage {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsStored: number;
  photometricInterpretation: string;
  planarConfiguration: number;
  /** Frame 1 values, masked to BitsStored and sign-extended: read here independently of src/pixel. */
  values: Float64Array;
}

/** Reads frame 1 of an Explicit VR Little Endian file written by DCMTK/GDCM. */
export function readReference(file: string): RefImage {
  const ds = dicomParser.parseDicom(fs.readFileSync(file));
  const el = ds.elements.x7fe00010!;
  const rows = ds.uint16('x00280010')!;
  const columns = ds.uint16('x00280011')!;
  const spp = ds.uint16('x00280002') ?? 1;
  const ba = ds.uint16('x00280100')!;
  const bs = ds.uint16('x00280101')!;
  const hb = ds.uint16('x00280102')!;
  const signed = ds.uint16('x00280103') === 1;
  const n = rows * columns * spp;
  const bytes = ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let raw = ba === 8 ? dv.getUint8(i) : ba === 16 ? dv.getUint16(2 * i, true) : dv.getUint32(4 * i, true);
    raw = Math.floor(raw / 2 ** (hb + 1 - bs)) % 2 ** bs;
    values[i] = signed && raw >= 2 ** (bs - 1) ? raw - 2 ** bs : raw;
  }
  return {
    rows,
    columns,
    samplesPerPixel: spp,
    bitsStored: bs,
    photometricInterpretation: (ds.string('x00280004') ?? '').trim(),
    planarConfiguration: ds.uint16('x00280006') ?? 0,
    values,
  };
}

export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, peak: number): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    se += d * d;
  }
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((peak * peak) / mse);
}

export function countDiffs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n + Math.abs(a.length - b.length);
}
