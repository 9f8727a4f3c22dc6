/**
 * Builds of the native/openjpeg addon side by side on the RG3 J2KR frame (issue 3), in one
 * process, one decode of each alternating (so load changes hit all alike): the codec call in the
 * same thread, and decode() through a worker pool of that addon (the node's path).
 *
 *   taskset -c 0 npx tsx bench/j2k-addons.ts [--runs N] --addon LABEL=PATH [--addon LABEL=PATH ...]
 *
 * e.g. `--addon system=native/openjpeg/build/Release/carpus_openjpeg.node --addon source=<an addon
 * built with CARPUS_OPENJPEG=source in a copy of native/openjpeg>`. Every decode is checked sample
 * for sample against the first addon's. Process CPU counts every thread (the worker's decode
 * included); minor page faults are the process's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { DecodePool } from '../src/pixel/decode-pool.ts';
import { decode, parsePart10 } from '../src/pixel/index.ts';
import { encapsulatedFrame } from '../src/pixel/parse.ts';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 15;
const addons = args.flatMap((a, i) => (args[i - 1] === '--addon' ? [a] : [])).map((a) => {
  const eq = a.indexOf('=');
  if (eq < 1 || !fs.existsSync(a.slice(eq + 1))) throw new Error(`--addon ${a}: want LABEL=PATH to a built carpus_openjpeg.node`);
  return { label: a.slice(0, eq), file: path.resolve(a.slice(eq + 1)) };
});
if (addons.length === 0) throw new Error('give at least one --addon LABEL=PATH');

const buf = fs.readFileSync(path.resolve(import.meta.dirname, '../../shared/data/dicom/cr-wg04/RG3_J2KR.dcm'));
const parsed = parsePart10(buf);
const enc = encapsulatedFrame(parsed, 0);
const require = createRequire(import.meta.url);
process.env.CARPUS_J2K_DECODER = 'native';
const loaded: Array<{ label: string; addon: { decode(b: Uint8Array): { data: Uint8Array }; openjpegVersion: string }; pool: DecodePool }> = [];
for (const a of addons) {
  // Each pool's worker loads the addon named in its environment when it starts (at its first decode).
  process.env.CARPUS_OPENJPEG_ADDON = a.file;
  const pool = new DecodePool();
  await decode(parsed, { decoder: pool });
  loaded.push({ label: a.label, addon: require(a.file), pool });
}

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const faults = (): number => process.resourceUsage().minorPageFault;
const res = new Map<string, { wall: number[]; cpu: number[]; faults: number[] }>();
const keep: unknown[] = []; // a few results alive, as callers hold them
let reference: Uint8Array | undefined;
let identical = true;
const same = (a: Uint8Array): boolean => reference !== undefined && a.length === reference.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(reference.buffer, reference.byteOffset, reference.byteLength)) === 0;

async function one(name: string, fn: () => Promise<Uint8Array> | Uint8Array, record: boolean): Promise<void> {
  const s = res.get(name) ?? { wall: [], cpu: [], faults: [] };
  res.set(name, s);
  const c0 = cpu();
  const f0 = faults();
  const t0 = performance.now();
  const out = await fn();
  if (record) {
    s.wall.push(performance.now() - t0);
    s.cpu.push(cpu() - c0);
    s.faults.push(faults() - f0);
  }
  reference ??= out;
  if (!same(out)) identical = false;
  keep.push(out);
  if (keep.length > 4) keep.shift();
}

const loadStart = os.loadavg();
for (let i = 0; i <= runs; i++) {
  const order = i % 2 ? [...loaded].reverse() : loaded;
  for (const l of order) {
    await one(`${l.label}: codec, same thread`, () => l.addon.decode(enc).data, i > 0);
    await one(`${l.label}: decode() through the worker pool`, async () => {
      const img = await decode(parsed, { decoder: l.pool });
      const f = img.frames[0]!;
      return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    }, i > 0);
  }
}
for (const l of loaded) await l.pool.close();

const q = (a: number[]): string => {
  const b = [...a].sort((x, y) => x - y);
  return `${b[0]!.toFixed(0)} / ${b[Math.floor(b.length / 2)]!.toFixed(0)}`;
};
const load = (l: number[]): string => l.map((x) => x.toFixed(1)).join(' ');
console.log(`${os.cpus()[0]?.model ?? 'cpu'} (${os.cpus().length} visible), ${new Date().toISOString().slice(0, 16)}Z, load average ${load(loadStart)} at the start, ${load(os.loadavg())} at the end; ${runs} interleaved runs after a warm-up; min / median, ms; samples identical across addons and paths: ${identical ? 'yes' : 'NO'}\n`);
console.log('| addon: path | wall | process CPU | minor page faults |\n|---|---:|---:|---:|');
for (const [k, s] of res) console.log(`| ${k} | ${q(s.wall)} | ${q(s.cpu)} | ${q(s.faults)} |`);
