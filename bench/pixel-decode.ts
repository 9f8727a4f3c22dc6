/**
 * Pixel decode benchmark (issue 3): decode time per frame for each transfer syntax of the NEMA
 * WG04 RG3 image (1760 x 1760, 10-bit CR) and of the 512 x 512 CT transfer-syntax matrix, and
 * rendered-PNG latency.
 *
 *   taskset -c 0 npx tsx bench/pixel-decode.ts [--runs N] [--markdown]
 *
 * "codec" = the codec call alone (same thread); "decode" = decode() in the same thread
 * (parse + codec + pixel values); "decode (worker)" = decode() through the guarded worker pool
 * (copy to the worker and back). JPEG 2000 files get two rows: the in-process native OpenJPEG
 * (native/openjpeg, the default when built) and OpenJPEG in WASM (CARPUS_J2K_DECODER=wasm).
 * Wall min / wall median / mean CPU of N runs after one warm-up; for the codec call and the worker
 * decode also the mean minor page faults per run (the process's), which cost this VM's CPU whatever
 * its load.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeFrameSync, initCodecs } from '../src/pixel/codecs.ts';
import { nativeOpenJpegBuild, nativeOpenJpegVersion, type J2kDecoder } from '../src/pixel/openjpeg-native.ts';
import { decode, closeDefaultPool, parsePart10, renderFrame, transferSyntaxInfo } from '../src/pixel/index.ts';
import { encapsulatedFrame } from '../src/pixel/parse.ts';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 7;
const markdown = args.includes('--markdown');
const dicom = path.resolve(import.meta.dirname, '../../shared/data/dicom');

const rg3 = ['RG3_UNC', 'RG3_RLE', 'RG3_JPLL', 'RG3_JPLY', 'RG3_JLSL', 'RG3_JLSN', 'RG3_J2KR', 'RG3_J2KI'].map((n) => path.join(dicom, 'cr-wg04', `${n}.dcm`));
const ct = fs
  .readdirSync(path.join(dicom, 'ts-matrix-ct'))
  .filter((f) => f.startsWith('CTImage.dcm_'))
  .map((f) => path.join(dicom, 'ts-matrix-ct', f));

interface Stat {
  min: number;
  median: number;
  /** Mean CPU ms per run: this process (all threads) plus waited-for child processes. */
  cpu: number;
  /** Mean minor page faults per run, this process. */
  faults: number;
}

/** CPU time used so far, ms: process.cpuUsage() (all threads) + children's (from /proc, 10 ms ticks). */
function cpuMs(): number {
  const u = process.cpuUsage();
  let children = 0;
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    children = ((Number(fields[13]) || 0) + (Number(fields[14]) || 0)) * 10; // cutime + cstime, USER_HZ 100
  } catch {
    // not Linux: children not counted
  }
  return (u.user + u.system) / 1000 + children;
}

async function time(fn: () => unknown): Promise<Stat> {
  await fn(); // warm-up
  const t: number[] = [];
  const c0 = cpuMs();
  const f0 = process.resourceUsage().minorPageFault;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  const cpu = (cpuMs() - c0) / runs;
  const faults = (process.resourceUsage().minorPageFault - f0) / runs;
  t.sort((a, b) => a - b);
  return { min: t[0]!, median: t[Math.floor(t.length / 2)]!, cpu, faults };
}

interface Row {
  file: string;
  ts: string;
  name: string;
  size: string;
  codec?: Stat;
  inline: Stat;
  worker: Stat;
  png?: Stat;
  png512?: Stat;
}

await initCodecs();
const rows: Row[] = [];
const j2kDecoders: J2kDecoder[] = nativeOpenJpegVersion() ? ['native', 'wasm'] : ['wasm'];
for (const file of [...rg3, ...ct]) {
  const buf = fs.readFileSync(file);
  const parsed = parsePart10(buf);
  const p = parsed.pixel;
  const info = transferSyntaxInfo(parsed.ts.uid)!;
  for (const j2k of parsed.ts.family === 'jpeg2000' ? j2kDecoders : [undefined]) {
    // decode() and renderFrame() pick the JPEG 2000 decoder from this variable on each call.
    if (j2k) process.env.CARPUS_J2K_DECODER = j2k;
    const label = `${path.basename(file, '.dcm')}${j2k ? ` (${j2k})` : ''}`;
    const row: Row = { file: label, ts: parsed.ts.uid, name: info.name, size: `${p.columns}x${p.rows}`, inline: { min: 0, median: 0, cpu: 0, faults: 0 }, worker: { min: 0, median: 0, cpu: 0, faults: 0 } };
    if (parsed.ts.encapsulated) {
      const enc = encapsulatedFrame(parsed, 0);
      const g = { rows: p.rows, columns: p.columns, samplesPerPixel: p.samplesPerPixel, bitsAllocated: p.bitsAllocated, bitsStored: p.bitsStored, pixelRepresentation: p.pixelRepresentation, photometricInterpretation: p.photometricInterpretation };
      row.codec = await time(() => decodeFrameSync(parsed.ts.family, enc, g, 0, j2k));
    }
    row.inline = await time(() => decode(buf, { decoder: 'inline' }));
    row.worker = await time(() => decode(buf));
    if (file.includes('RG3')) {
      row.png = await time(() => renderFrame(buf, 1, { mediaType: 'image/png' }));
      row.png512 = await time(() => renderFrame(buf, 1, { mediaType: 'image/png', viewport: { vw: 512, vh: 512 } }));
    }
    rows.push(row);
    if (!markdown) console.log(JSON.stringify(row));
  }
  delete process.env.CARPUS_J2K_DECODER;
}
await closeDefaultPool();

const f = (x?: Stat) => (x === undefined ? '–' : `${x.min.toFixed(0)} / ${x.median.toFixed(0)} / ${x.cpu.toFixed(0)}`);
if (markdown) {
  console.log(`Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} (${os.cpus().length} visible), ${new Date().toISOString().slice(0, 16)}Z, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, native OpenJPEG ${nativeOpenJpegVersion() ?? 'not built'}${((b) => (b ? ` (${b.library === 'system' ? 'system libopenjp2' : `${b.source}, ${b.linkage}, ${b.cflags}`})` : ''))(nativeOpenJpegBuild())}; wall min / wall median / mean CPU of ${runs} runs after a warm-up, ms\n`);
  console.log('| file | transfer syntax | size | codec | decode (same thread) | decode (worker) | PNG full size | PNG 512x512 | page faults: codec / worker |');
  console.log('|---|---|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.file.replace('CTImage.dcm_', 'CT ').replace(/TransferSyntax[^ ]*/, '')} | ${r.ts} ${r.name} | ${r.size} | ${f(r.codec)} | ${f(r.inline)} | ${f(r.worker)} | ${f(r.png)} | ${f(r.png512)} | ${r.codec ? r.codec.faults.toFixed(0) : '–'} / ${r.worker.faults.toFixed(0)} |`);
}
