/**
 * Fixtures for the report-writer tests: a hand radiograph from shared/data/rsna-fullres-sample
 * wrapped as DICOM with DCMTK's img2dcm (JPEG baseline, MONOCHROME2) plus the patient and study
 * attributes a PACS would carry (optionally downscaled to `width` columns for quicker tests),
 * and a synthetic (Gaussian) heat map.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { BoneAgeResult, Heatmap } from '../src/sr-writer/index.ts';

export const projectRoot = path.resolve(import.meta.dirname, '..');
export const sampleDir = path.resolve(projectRoot, '../shared/data/rsna-fullres-sample');

/** Fixed UIDs so that the golden dsrdump output is deterministic. */
export const FIXTURE = {
  studyUid: '2.25.111111111111111111111111111111111111',
  seriesUid: '2.25.222222222222222222222222222222222222',
  instanceUid: '2.25.333333333333333333333333333333333333',
  srSeriesUid: '2.25.444444444444444444444444444444444444',
  srInstanceUid: '2.25.555555555555555555555555555555555555',
  scSeriesUid: '2.25.666666666666666666666666666666666666',
  scInstanceUid: '2.25.777777777777777777777777777777777777',
  trackingUid: '2.25.888888888888888888888888888888888888',
  now: new Date('2026-11-27T06:00:00Z'),
} as const;

export function tmpDir(prefix = 'carpus-sr-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The RSNA sample `id` as a DICOM file (Part 10 bytes). `keys` adds or overrides attributes
 * (img2dcm -k syntax: "Keyword=value"); `erase` removes them (dcmodify -ea).
 */
export async function radiographDicom(id = '1377', keys: Record<string, string> = {}, erase: string[] = [], width?: number): Promise<Buffer> {
  const dir = tmpDir('carpus-sr-fixture-');
  try {
    const jpg = path.join(dir, 'in.jpg');
    let img = sharp(path.join(sampleDir, 'images', `${id}.png`));
    if (width) img = img.resize(width);
    await img.toColourspace('b-w').jpeg({ quality: 95 }).toFile(jpg);
    const all: Record<string, string> = {
      Modality: 'CR',
      PatientName: 'Carpus^Test',
      PatientID: `RSNA-${id}`,
      PatientSex: 'F',
      PatientBirthDate: '20050301',
      StudyDate: '20200915',
      StudyTime: '101500',
      AccessionNumber: 'ACC1377',
      StudyID: 'S1',
      SeriesNumber: '1',
      InstanceNumber: '1',
      BodyPartExamined: 'HAND',
      Laterality: 'L',
      StudyInstanceUID: FIXTURE.studyUid,
      SeriesInstanceUID: FIXTURE.seriesUid,
      SOPInstanceUID: FIXTURE.instanceUid,
      ...keys,
    };
    const out = path.join(dir, 'out.dcm');
    const args = [jpg, out];
    for (const [k, v] of Object.entries(all)) args.push('-k', `${k}=${v}`);
    execFileSync('img2dcm', args, { stdio: 'pipe' });
    if (erase.length) execFileSync('dcmodify', ['-nb', ...erase.flatMap((e) => ['-ea', e]), out], { stdio: 'pipe' });
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A sum of Gaussian blobs in [0,1] at the given geometry (centres as fractions of width/height). */
export function gaussianHeatmap(width: number, height: number, blobs: Array<{ x: number; y: number; sigma: number; weight?: number }> = [
  { x: 0.5, y: 0.8, sigma: 0.09, weight: 1 },
  { x: 0.32, y: 0.42, sigma: 0.06, weight: 0.7 },
  { x: 0.62, y: 0.38, sigma: 0.05, weight: 0.5 },
]): Heatmap {
  const data = new Float32Array(width * height);
  const s = Math.min(width, height);
  let max = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = 0;
      for (const b of blobs) {
        const dx = x - b.x * width;
        const dy = y - b.y * height;
        const sg = b.sigma * s;
        v += (b.weight ?? 1) * Math.exp(-(dx * dx + dy * dy) / (2 * sg * sg));
      }
      data[y * width + x] = v;
      if (v > max) max = v;
    }
  }
  for (let i = 0; i < data.length; i++) data[i] = data[i]! / max;
  return { width, height, data, method: 'synthetic Gaussian test heat map' };
}

export function sampleResult(width: number, height: number, over: Partial<BoneAgeResult> = {}): BoneAgeResult {
  return {
    boneAgeMonths: 171.437,
    sex: 'F',
    model: { name: 'RidgeNet', version: '0.3.0', sha256: 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8) },
    executionProvider: 'cpu',
    heatmap: gaussianHeatmap(width, height),
    maskQuality: { handFraction: 0.41, boxRecall: 1 },
    parameters: { inputSize: 512 },
    ...over,
  };
}
