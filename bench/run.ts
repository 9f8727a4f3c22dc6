/**
 * `npm run bench -- NAME [args...]` runs bench/NAME.ts (e.g. `npm run bench -- stow-qido --markdown`).
 * Without a name it lists the benchmarks.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const dir = import.meta.dirname;
const names = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();
const [name, ...args] = process.argv.slice(2);

if (!name || !names.includes(name)) {
  if (name) process.stderr.write(`unknown benchmark "${name}"\n`);
  process.stderr.write(`usage: npm run bench -- NAME [args...]\nbenchmarks: ${names.join(', ')}\n`);
  process.exit(name ? 2 : 0);
}

const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, `${name}.ts`), ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
