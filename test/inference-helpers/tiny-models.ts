// Builds (once per machine, cached in the temp folder by the generator's hash) tiny ONNX stand-ins
// for hand-segmenter and ridgenet with the real inputs, outputs and card format.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const SCRIPT = path.join(import.meta.dirname, 'make_tiny_models.py');
export const TINY_VERSION = '0.0.1-test';

export function tinyModelsDir(): string {
  const hash = createHash('sha256').update(readFileSync(SCRIPT)).digest('hex').slice(0, 12);
  const dir = path.join(tmpdir(), `carpus-tiny-models-${hash}`);
  if (existsSync(path.join(dir, 'ridgenet', TINY_VERSION, 'model.json'))) return dir;
  const work = mkdtempSync(path.join(tmpdir(), 'carpus-tiny-build-'));
  execFileSync('/usr/bin/python3', [SCRIPT, work], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 180_000 });
  try {
    renameSync(work, dir);
  } catch {
    rmSync(work, { recursive: true, force: true }); // another test built it meanwhile
  }
  return dir;
}

/** A private copy of the tiny models (for tests that damage them). */
export function tinyModelsCopy(): string {
  const src = tinyModelsDir();
  const dst = mkdtempSync(path.join(tmpdir(), 'carpus-tiny-copy-'));
  cpSync(src, dst, { recursive: true });
  return dst;
}
