import { readFileSync } from 'node:fs';
import path from 'node:path';
import { listVersions } from '../../src/inference/card.ts';

export const REPO = path.resolve(import.meta.dirname, '..', '..');
export const SHARED = path.resolve(REPO, '..', 'shared', 'data');
export const REAL_MODELS = path.join(REPO, 'models');
export const FULLRES = path.join(SHARED, 'rsna-fullres-sample', 'images');
export const R299 = path.join(SHARED, 'rsna-train-299');
export const DICOM = path.join(SHARED, 'dicom');

/** A shipped model is present (a card). */
export function realModelPresent(name: string): boolean {
  return listVersions(REAL_MODELS, name).length > 0;
}

/** The shipped models are present (a card of each). */
export function realModelsPresent(): boolean {
  return ['hand-segmenter', 'ridgenet'].every((n) => listVersions(REAL_MODELS, n).length > 0);
}

export function readF32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
