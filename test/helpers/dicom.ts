import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A modified copy of a DICOM file, made with DCMTK's dcmodify (a real, strict
 * DICOM tool; dcmjs refuses to re-write some of the shared test files).
 * `set`: tag "(gggg,eeee)" or keyword → value; `erase`: tags to remove.
 */
export function dcmodify(file: string, opts: { set?: Record<string, string>; erase?: string[] } = {}): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-dcmodify-'));
  const out = path.join(dir, 'out.dcm');
  fs.copyFileSync(file, out);
  const args = ['-nb', '-nrc'];
  for (const [k, v] of Object.entries(opts.set ?? {})) args.push('-i', `${k}=${v}`);
  for (const k of opts.erase ?? []) args.push('-e', k);
  execFileSync('dcmodify', [...args, out], { stdio: 'pipe' });
  const buf = fs.readFileSync(out);
  fs.rmSync(dir, { recursive: true, force: true });
  return buf;
}
