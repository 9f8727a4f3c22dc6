/**
 * Hand radiographs for the auto-analysis tests: an RSNA sample PNG made into a CR instance with
 * DCMTK (img2dcm, then dcmodify to the CR SOP class), with the attributes a PACS carries.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { newUid } from '../../src/sr-writer/index.ts';

export const SAMPLE_DIR = path.resolve(import.meta.dirname, '../../../shared/data/rsna-fullres-sample');
export const CR_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.1';

export interface SampleLabel {
  id: string;
  male: boolean;
  boneAgeMonths: number;
}

export function sampleLabels(): SampleLabel[] {
  const lines = fs.readFileSync(path.join(SAMPLE_DIR, 'labels.csv'), 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => {
    const [id, male, months] = l.split(',');
    return { id: id!, male: male === 'true', boneAgeMonths: Number(months) };
  });
}

export interface HandOptions {
  id?: string;
  width?: number;
  study?: string;
  series?: string;
  sop?: string;
  keys?: Record<string, string>;
}

export interface Hand {
  bytes: Buffer;
  study: string;
  series: string;
  sop: string;
}

const jpegCache = new Map<string, string>();

async function jpegOf(id: string, width: number | undefined, dir: string): Promise<string> {
  const key = `${id}:${width ?? 0}`;
  const have = jpegCache.get(key);
  if (have && fs.existsSync(have)) return have;
  const out = path.join(dir, `${id}-${width ?? 0}.jpg`);
  let img = sharp(path.join(SAMPLE_DIR, 'images', `${id}.png`));
  if (width) img = img.resize(width);
  await img.toColourspace('b-w').jpeg({ quality: 95 }).toFile(out);
  jpegCache.set(key, out);
  return out;
}

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-aa-fixture-'));

/** A CR hand radiograph (JPEG baseline) as Part 10 bytes, with fresh UIDs unless given. */
export async function handRadiograph(o: HandOptions = {}): Promise<Hand> {
  const id = o.id ?? '1377';
  const label = sampleLabels().find((l) => l.id === id);
  const study = o.study ?? newUid();
  const series = o.series ?? newUid();
  const sop = o.sop ?? newUid();
  const jpg = await jpegOf(id, o.width, workDir);
  const out = path.join(workDir, `${sop}.dcm`);
  const keys: Record<string, string> = {
    Modality: 'CR',
    PatientName: 'Carpus^Auto',
    PatientID: `RSNA-${id}`,
    PatientSex: label?.male ? 'M' : 'F',
    PatientBirthDate: '20080301',
    StudyDate: '20200915',
    StudyTime: '101500',
    AccessionNumber: `ACC${id}`,
    StudyID: 'S1',
    SeriesNumber: '1',
    InstanceNumber: '1',
    BodyPartExamined: 'HAND',
    SeriesDescription: 'Hand PA',
    Laterality: 'L',
    StudyInstanceUID: study,
    SeriesInstanceUID: series,
    SOPInstanceUID: sop,
    ...o.keys,
  };
  const args = [jpg, out];
  for (const [k, v] of Object.entries(keys)) args.push('-k', `${k}=${v}`);
  execFileSync('img2dcm', args, { stdio: 'pipe' });
  const sopClass = o.keys?.SOPClassUID ?? CR_SOP_CLASS;
  execFileSync('dcmodify', ['-nb', '-m', `(0008,0016)=${sopClass}`, out], { stdio: 'pipe' });
  const bytes = fs.readFileSync(out);
  fs.rmSync(out, { force: true });
  return { bytes, study, series, sop };
}
