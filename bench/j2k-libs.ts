/**
 * JPEG 2000 libraries side by side on the RG3 J2KR frame (issue 3): the system OpenJPEG behind
 * native/openjpeg, and Grok (Debian libgrokj2k1) with one worker thread, called from C in one
 * process (bench/j2k-libs.c), so the numbers are the libraries' own, without Node or file output.
 *
 *   taskset -c 0 npx tsx bench/j2k-libs.ts [--runs N] [--keep-memory] [--markdown] [--openjpeg LABEL=PATH ...]
 *
 * `--openjpeg LABEL=PATH` (repeatable) adds another build of libopenjp2 (a shared library, e.g.
 * one compiled from Debian's source with other flags, bench/README.md) timed beside the system
 * one, whose samples are the reference.
 *
 * Needs a C compiler, pkg-config and libopenjp2-7-dev; Grok is measured only when
 * libgrokj2k1-dev is installed (else one line says it is left out). Writes its temporary files
 * (the codestream, the compiled driver) in a fresh folder under the OS temp dir. Minor page faults
 * are counted because on the 2-core VM each one cost microseconds: a load-independent check.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePart10 } from '../src/pixel/index.ts';
import { encapsulatedFrame } from '../src/pixel/parse.ts';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 15;
const markdown = args.includes('--markdown');
const keepMemory = args.includes('--keep-memory');
const builds = args.flatMap((a, i) => (args[i - 1] === '--openjpeg' ? [a] : []));
for (const b of builds) {
  const eq = b.indexOf('=');
  if (eq < 1 || !fs.existsSync(b.slice(eq + 1))) throw new Error(`--openjpeg ${b}: want LABEL=PATH to an existing libopenjp2 shared library`);
}
const file = path.resolve(import.meta.dirname, '../../shared/data/dicom/cr-wg04/RG3_J2KR.dcm');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-j2k-libs-'));
try {
  const codestream = path.join(tmp, 'rg3.j2k');
  fs.writeFileSync(codestream, encapsulatedFrame(parsePart10(fs.readFileSync(file)), 0));

  const pkg = (...a: string[]) => spawnSync('pkg-config', a, { encoding: 'utf8' });
  const withGrok = pkg('--exists', 'libgrokj2k').status === 0;
  if (!withGrok) console.log('Grok left out: pkg-config finds no libgrokj2k (install libgrokj2k1-dev to measure it)');
  // OpenJPEG's headers only: the driver dlopen()s each libopenjp2 build (bench/j2k-libs.c).
  const flags = [pkg('--cflags', 'libopenjp2'), ...(withGrok ? [pkg('--cflags', '--libs', 'libgrokj2k')] : [])];
  const bad = flags.find((f) => f.status !== 0);
  if (bad) throw new Error(`pkg-config: ${bad.stderr.trim()}`);
  const driver = path.join(tmp, 'j2k-libs');
  const cc = spawnSync(
    'cc',
    ['-O2', ...(withGrok ? ['-DHAVE_GROK'] : []), '-o', driver, path.join(import.meta.dirname, 'j2k-libs.c'), ...flags.flatMap((f) => f.stdout.trim().split(/\s+/).filter(Boolean)), '-ldl'],
    { encoding: 'utf8' },
  );
  if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);

  const load0 = os.loadavg();
  const t0 = new Date();
  const run = spawnSync(driver, [codestream, String(runs), ...(keepMemory ? ['keep-memory'] : []), ...builds], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`driver failed: ${run.stderr}`);
  const load1 = os.loadavg();

  const versions = new Map<string, string>();
  const identical = new Map<string, string>();
  const samples = new Map<string, { wall: number[]; proc: number[]; thread: number[]; faults: number[] }>();
  for (const line of run.stdout.trim().split('\n')) {
    const [a, b, c, d, e] = line.split(' ');
    if (a === 'version') versions.set(b!, line.split(' ').slice(2).join(' '));
    else if (a === 'identical') identical.set(b!, c!);
    else {
      const s = samples.get(a!) ?? { wall: [], proc: [], thread: [], faults: [] };
      s.wall.push(Number(b));
      s.proc.push(Number(c));
      s.thread.push(Number(d));
      s.faults.push(Number(e));
      samples.set(a!, s);
    }
  }
  const stat = (xs: number[]) => {
    const s = [...xs].sort((x, y) => x - y);
    return `${s[0]!.toFixed(0)} / ${s[Math.floor(s.length / 2)]!.toFixed(0)}`;
  };
  const load = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
  const head = `${os.cpus()[0]?.model ?? 'cpu'} (${os.cpus().length} visible), ${t0.toISOString().slice(0, 16)}Z, load average ${load(load0)} at the start, ${load(load1)} at the end; ${runs} interleaved runs after a warm-up${keepMemory ? ', glibc keeps freed memory (keep-memory)' : ''}; min / median, ms`;
  if (markdown) {
    console.log(`${head}\n`);
    console.log('| library | wall | process CPU | calling thread CPU | minor page faults | samples identical to the system OpenJPEG |');
    console.log('|---|---:|---:|---:|---:|---|');
    for (const [name, s] of samples) console.log(`| ${name} ${versions.get(name) ?? ''} | ${stat(s.wall)} | ${stat(s.proc)} | ${stat(s.thread)} | ${stat(s.faults)} | ${identical.get(name) ?? '?'} |`);
  } else {
    console.log(head);
    for (const [name, s] of samples) console.log(JSON.stringify({ library: name, version: versions.get(name), wall: stat(s.wall), processCpu: stat(s.proc), threadCpu: stat(s.thread), minorFaults: stat(s.faults), identical: identical.get(name) }));
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
