/**
 * DICOMweb archive benchmark (issue 2): carpus and Orthanc 1.10 (+ DICOMweb plugin) side by
 * side, in one run, on the same bytes.
 *
 *   npm run bench -- stow-qido [--markdown] [--copies N] [--qido-instances N] [--rss-mib N]
 *                              [--pg postgresql://USER@HOST:PORT/postgres] [--only stow,qido,rss]
 *                              [--analysis-row] [--carpus-root DIR] [--cpu-prof DIR]
 *
 * 1. STOW-RS throughput: the shared DICOM files (one per SOPInstanceUID, deflated ones left
 *    out), copied N times with new Study/Series/SOP Instance UIDs (same-length UIDs patched
 *    into the bytes, so every copy is a new instance of the same size); one STOW request per
 *    copy, sequential, to a fresh server. Also: 10,000 small instances in requests of 100.
 * 2. QIDO-RS latency with 10,000 indexed instances (2,000 studies x 5): synthetic instances
 *    made with dcmjs from a shared CT file (16x16 pixels, new UIDs, PatientName/PatientID/
 *    StudyDate); study-level searches with a PatientName wildcard, the same queries on both.
 * 3. Peak RSS of carpus while one STOW request carries 1 GiB: a separate carpus process
 *    (`npx tsx src/main.ts`; RSS read from /proc/PID/status of the node process that serves),
 *    one multipart request generated on the fly (never held in memory), VmRSS sampled every
 *    50 ms.
 *
 * carpus runs as its own process (`npx tsx src/main.ts`) on its embedded PGlite database
 * unless --pg is given (then a fresh database on that PostgreSQL server per start). For the rows
 * compared with Orthanc (STOW and QIDO) it runs with CARPUS_AUTO_ANALYSIS=off: Orthanc does no
 * analysis, so both do the same archive work (carpus still writes its audit rows).
 * --analysis-row adds, for information, a shared-files STOW row of carpus with auto-analysis on
 * (the default of a node: a hand radiograph among the files is decoded and analysed in the
 * background on the same CPU). --carpus-root starts carpus from another checkout (before/after
 * comparisons with the same client).
 * Server CPU time (user + system, /proc/PID/stat) is reported per instance and per MB; with --pg
 * it includes the CPU of the PostgreSQL backends serving carpus's database (pg_stat_activity), as
 * Orthanc's SQLite index runs inside the Orthanc process.
 * Orthanc runs from Debian's package with SQLite index and file storage, as test/helpers/orthanc.ts
 * starts it. Everything on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { freePort, startOrthanc, type OrthancPeer } from '../test/helpers/orthanc.ts';
import { parseInstance } from '../src/dicom/part10.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DICOM = path.resolve(ROOT, '../shared/data/dicom');

// ------------------------------------------------------------------ arguments
const argv = process.argv.slice(2);
const arg = (name: string, def?: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const COPIES = Number(arg('copies', '20'));
const QIDO_INSTANCES = Number(arg('qido-instances', '10000'));
const QIDO_PER_STUDY = 5;
const QIDO_QUERIES = Number(arg('qido-queries', '300'));
const RSS_BYTES = Number(arg('rss-mib', '1024')) * 1024 * 1024;
const PG_ADMIN = arg('pg');
const ONLY = new Set((arg('only', 'stow,qido,rss') ?? '').split(','));
const MARKDOWN = argv.includes('--markdown');
/** Which servers to run (carpus,Orthanc): carpus alone is for profiling, never for the comparison. */
const SERVERS = new Set((arg('servers', 'carpus,Orthanc') ?? '').split(','));
const MEMORY_FILE = path.join(os.tmpdir(), `carpus-bench-memory-${process.pid}.jsonl`);
/** Also a shared-files STOW row of carpus with auto-analysis on (information, not the comparison). */
const ANALYSIS_ROW = argv.includes('--analysis-row');
/** Where carpus's processes write V8 CPU profiles (node --cpu-prof), if set: profiling, not timing. */
const CPU_PROF_DIR = arg('cpu-prof');
/** The checkout carpus is started from (default: this one). */
const CARPUS_ROOT = path.resolve(arg('carpus-root', ROOT)!);

const log = (...a: unknown[]) => process.stderr.write(`[bench] ${a.map(String).join(' ')}\n`);

// ------------------------------------------------------------------ UIDs and byte patching
/** A UID of exactly `len` characters (2.25.<digits>), derived from `seed`. */
function uidOfLength(len: number, seed: string): string {
  let digits = '';
  for (let i = 0; digits.length < len; i++) {
    digits += BigInt(`0x${createHash('sha256').update(`${seed}/${i}`).digest('hex')}`).toString();
  }
  const body = digits.slice(0, len - 5).replace(/^0/, '1');
  return `2.25.${body}`;
}

/** Replaces every occurrence of `from` (not followed by a digit or '.') by `to`, same length. */
function patchAll(buf: Buffer, from: string, to: string): number {
  if (from.length !== to.length) throw new Error('patch must keep the length');
  const f = Buffer.from(from, 'latin1');
  const t = Buffer.from(to, 'latin1');
  let n = 0;
  for (let i = buf.indexOf(f); i >= 0; i = buf.indexOf(f, i + f.length)) {
    const next = buf[i + f.length];
    if (next !== undefined && ((next >= 0x30 && next <= 0x39) || next === 0x2e)) continue;
    t.copy(buf, i);
    n++;
  }
  return n;
}

interface Base {
  name: string;
  bytes: Buffer;
  uids: string[]; // study, series, sop
}

/** Shared files usable as STOW workload: one per SOPInstanceUID, not deflated. */
function loadBases(): Base[] {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.dcm')) files.push(p);
    }
  };
  walk(DICOM);
  files.sort();
  const seen = new Set<string>();
  const out: Base[] = [];
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    const p = parseInstance(bytes);
    if (p.TransferSyntaxUID === '1.2.840.10008.1.2.1.99' || seen.has(p.SOPInstanceUID)) continue;
    seen.add(p.SOPInstanceUID);
    out.push({ name: path.relative(DICOM, file), bytes, uids: [p.StudyInstanceUID, p.SeriesInstanceUID, p.SOPInstanceUID] });
  }
  return out;
}

/** Copy `c` of a base with new UIDs (the same original UID maps to the same new one within a copy). */
function copyOf(base: Base, tag: string): Buffer {
  const b = Buffer.from(base.bytes);
  for (const u of base.uids) patchAll(b, u, uidOfLength(u.length, `${tag}/${u}`));
  return b;
}

// ------------------------------------------------------------------ QIDO data set (dcmjs template)
const PH = {
  study: `2.25.${'1'.repeat(50)}`,
  series: `2.25.${'2'.repeat(50)}`,
  sop: `2.25.${'3'.repeat(50)}`,
  name: 'PLACEHOLDER^NAME'.padEnd(24, 'X'),
  pid: 'PID0000000',
  date: '19990101',
};

function qidoTemplate(): Buffer {
  const { DicomMessage, DicomMetaDictionary, DicomDict } = (dcmjs as any).data;
  const f = fs.readFileSync(path.join(DICOM, 'ts-matrix-ct/CTImage.dcm'));
  const msg = DicomMessage.readFile(f.buffer.slice(f.byteOffset, f.byteOffset + f.length));
  const ds = DicomMetaDictionary.naturalizeDataset(msg.dict);
  const meta = DicomMetaDictionary.naturalizeDataset(msg.meta);
  Object.assign(ds, {
    StudyInstanceUID: PH.study,
    SeriesInstanceUID: PH.series,
    SOPInstanceUID: PH.sop,
    PatientName: PH.name,
    PatientID: PH.pid,
    StudyDate: PH.date,
    AccessionNumber: 'ACC',
    Rows: 16,
    Columns: 16,
    PixelData: [new Uint16Array(256).buffer],
  });
  ds._vrMap = { ...(ds._vrMap ?? {}), PixelData: 'OW' };
  meta.MediaStorageSOPInstanceUID = PH.sop;
  meta.TransferSyntaxUID = '1.2.840.10008.1.2.1';
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return Buffer.from(dict.write());
}

const SURNAMES = ['SMITH', 'JONES', 'GARCIA', 'MUELLER', 'DUBOIS', 'ROSSI', 'NOVAK', 'SILVA', 'KIM', 'NGUYEN', 'OKAFOR', 'HANSEN', 'KOWALSKI', 'PETROV', 'TANAKA', 'BROWN', 'MARTIN', 'BERNARD', 'MOREAU', 'LAURENT'];
const GIVEN = ['ANNA', 'BEN', 'CLARA', 'DAVID', 'EMMA', 'FELIX', 'GRACE', 'HUGO', 'IDA', 'JONAS'];

interface QidoStudy {
  study: string;
  name: string;
  instances: Buffer[];
}

/** 10,000 instances in studies of 5 (one series each); patient names from a fixed list. */
function* qidoStudies(template: Buffer, total: number): Generator<QidoStudy> {
  const studies = Math.ceil(total / QIDO_PER_STUDY);
  for (let s = 0; s < studies; s++) {
    const surname = SURNAMES[s % SURNAMES.length]!;
    const l1 = String.fromCharCode(65 + (Math.floor(s / SURNAMES.length) % 26));
    const l2 = String.fromCharCode(65 + (Math.floor(s / (SURNAMES.length * 26)) % 26));
    const name = `${surname}${l1}${l2}^${GIVEN[s % GIVEN.length]}`;
    const study = uidOfLength(PH.study.length, `q-study-${s}`);
    const series = uidOfLength(PH.series.length, `q-series-${s}`);
    const instances: Buffer[] = [];
    for (let i = 0; i < QIDO_PER_STUDY && s * QIDO_PER_STUDY + i < total; i++) {
      const b = Buffer.from(template);
      patchAll(b, PH.study, study);
      patchAll(b, PH.series, series);
      patchAll(b, PH.sop, uidOfLength(PH.sop.length, `q-sop-${s}-${i}`));
      patchAll(b, PH.name, name.padEnd(PH.name.length, ' '));
      patchAll(b, PH.pid, `P${String(s).padStart(9, '0')}`);
      patchAll(b, PH.date, `20${String(10 + (s % 15)).padStart(2, '0')}${String(1 + (s % 12)).padStart(2, '0')}${String(1 + (s % 28)).padStart(2, '0')}`);
      instances.push(b);
    }
    yield { study, name, instances };
  }
}

// ------------------------------------------------------------------ HTTP clients
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

interface Target {
  label: string;
  dicomweb: string; // http://127.0.0.1:PORT/dicom-web
  headers: Record<string, string>;
  pid: number;
  /** CPU time (ms) of the server so far, including its database server's backends where it has one. */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

interface StowResult {
  status: number;
  ms: number;
  bytes: number;
  parts: number;
  stored: number;
  failed: number;
}

/** One STOW-RS request whose body is written part by part with backpressure (never buffered whole). */
async function stow(t: Target, parts: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<StowResult> {
  const boundary = `bench-${randomUUID()}`;
  const url = new URL(`${t.dicomweb}/studies`);
  const t0 = performance.now();
  let bytes = 0;
  let n = 0;
  return new Promise<StowResult>((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          ...t.headers,
          'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
          accept: 'application/dicom+json',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const ms = performance.now() - t0;
          const text = Buffer.concat(chunks).toString('utf8');
          let stored = 0;
          let failed = 0;
          try {
            const json = text ? JSON.parse(text) : {};
            stored = json['00081199']?.Value?.length ?? 0;
            failed = json['00081198']?.Value?.length ?? 0;
          } catch {
            /* not JSON */
          }
          if (res.statusCode !== 200) log(`${t.label} STOW HTTP ${res.statusCode}: ${text.slice(0, 500)}`);
          resolve({ status: res.statusCode ?? 0, ms, bytes, parts: n, stored, failed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const write = (b: Buffer | string) => (req.write(b) ? Promise.resolve() : new Promise<void>((r) => req.once('drain', () => r())));
    (async () => {
      for await (const p of parts) {
        await write(`--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${p.length}\r\n\r\n`);
        await write(p);
        await write('\r\n');
        bytes += p.length;
        n++;
      }
      req.end(`--${boundary}--\r\n`);
    })().catch((err) => req.destroy(err as Error));
  });
}

async function getJson(t: Target, pathAndQuery: string): Promise<{ ms: number; status: number; count: number }> {
  const url = new URL(`${t.dicomweb}${pathAndQuery}`);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, agent, headers: { ...t.headers, accept: 'application/dicom+json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const json = text ? (JSON.parse(text) as unknown[]) : [];
        resolve({ ms: performance.now() - t0, status: res.statusCode ?? 0, count: Array.isArray(json) ? json.length : -1 });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

// ------------------------------------------------------------------ servers
function readStatus(pid: number): { rss: number; hwm: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** CPU time (user + system) of a process so far, in ms: a figure less bent by a shared machine's load than wall time. */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime (fields 14, 15) in USER_HZ = 100
}

function children(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The node process that runs src/main.ts under `npx tsx` (npm exec → tsx cli → node with the loader). */
function serverPid(root: number): number {
  let pid = root;
  for (;;) {
    const kids = children(pid).filter((k) => {
      try {
        return fs.readFileSync(`/proc/${k}/cmdline`, 'utf8').includes('src/main.ts');
      } catch {
        return false;
      }
    });
    if (kids.length === 0) return pid;
    pid = kids[0]!;
  }
}

/**
 * CPU time of the PostgreSQL backends connected to `database` (same machine), summed over the
 * backends seen at each call; a backend that exits between two calls loses its share.
 */
function pgBackendCpu(database: string): () => Promise<number> {
  const seen = new Map<number, number>();
  return async () => {
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: PG_ADMIN });
    await c.connect();
    try {
      const r = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
      for (const { pid } of r.rows) {
        try {
          seen.set(pid, cpuMs(pid));
        } catch {
          /* exited */
        }
      }
    } finally {
      await c.end();
    }
    let total = 0;
    for (const v of seen.values()) total += v;
    return total;
  };
}

async function freshDatabase(): Promise<string | undefined> {
  if (!PG_ADMIN) return undefined;
  const { default: pg } = await import('pg');
  const name = `carpus_bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(PG_ADMIN);
  u.pathname = `/${name}`;
  return u.toString();
}

async function startCarpus(opts: { sampleMemory?: boolean; autoAnalysis?: boolean; label?: string } = {}): Promise<Target> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-bench-'));
  const port = await freePort();
  const databaseUrl = await freshDatabase();
  const logFile = path.join(dataDir, 'carpus.log');
  const fd = fs.openSync(logFile, 'a');
  // node refuses --cpu-prof in NODE_OPTIONS: a profiled carpus is started as node --import tsx.
  const [cmd, args] = CPU_PROF_DIR
    ? [process.execPath, ['--cpu-prof', `--cpu-prof-dir=${path.resolve(CPU_PROF_DIR)}`, '--import', 'tsx', 'src/main.ts']]
    : ['npx', ['tsx', 'src/main.ts']];
  const child = spawn(cmd, args, {
    cwd: CARPUS_ROOT,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      CARPUS_DATA_DIR: path.join(dataDir, 'var'),
      LOG_LEVEL: 'info',
      CARPUS_AUTO_ANALYSIS: opts.autoAnalysis ? 'on' : 'off',
      ...(opts.sampleMemory
        ? {
            NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${path.join(ROOT, 'bench/memory-sampler.mjs')}`.trim(),
            CARPUS_BENCH_MEMORY_FILE: MEMORY_FILE,
          }
        : {}),
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { DATABASE_URL: '' }),
    },
  });
  fs.closeSync(fd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch {
      /* starting */
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`carpus did not start:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const pid = serverPid(child.pid!);
  const dbCpu = databaseUrl ? pgBackendCpu(new URL(databaseUrl).pathname.slice(1)) : undefined;
  return {
    label: opts.label ?? 'carpus',
    dicomweb: `${base}/dicom-web`,
    headers: {},
    pid,
    cpu: async () => cpuMs(pid) + (dbCpu ? await dbCpu() : 0),
    async stop() {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startOrthancTarget(): Promise<Target> {
  const o: OrthancPeer = await startOrthanc();
  return { label: 'Orthanc', dicomweb: o.dicomweb, headers: { authorization: o.authorization }, pid: o.pid, cpu: async () => cpuMs(o.pid), stop: () => o.stop() };
}

const STARTERS = ([
  ['carpus', () => startCarpus()],
  ['Orthanc', startOrthancTarget],
] as [string, () => Promise<Target>][]).filter(([label]) => SERVERS.has(label));

// ------------------------------------------------------------------ stats
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const f1 = (x: number) => x.toFixed(1);
const MB = 1e6;

// ------------------------------------------------------------------ main
const rows: string[][] = [];
const notes: string[] = [];
const row = (...cells: string[]) => rows.push(cells);

async function benchStow() {
  const bases = loadBases();
  const perCopy = bases.reduce((a, b) => a + b.bytes.length, 0);
  log(`STOW: ${bases.length} shared files per copy (${f1(perCopy / MB)} MB) x ${COPIES} copies`);
  // The same copies, built once, for both servers.
  const copies: Buffer[][] = [];
  for (let c = 0; c < COPIES; c++) copies.push(bases.map((b) => copyOf(b, `stow-${c}`)));
  // Sanity: the patched copies carry the new UIDs.
  for (const [i, b] of bases.entries()) {
    const p = parseInstance(copies[0]![i]!);
    if (p.SOPInstanceUID === b.uids[2] || p.StudyInstanceUID === b.uids[0]) throw new Error(`UID patch failed for ${b.name}`);
  }
  const warm = bases.slice(0, 2).map((b) => copyOf(b, 'warm'));
  const runs = [...STARTERS];
  if (ANALYSIS_ROW && SERVERS.has('carpus')) {
    runs.push(['carpus, auto-analysis on (information: not compared)', () => startCarpus({ autoAnalysis: true, label: 'carpus, auto-analysis on (information: not compared)' })]);
  }
  for (const [label, start] of runs) {
    const t = await start();
    try {
      await stow(t, warm);
      const cpu0 = await t.cpu();
      let ms = 0;
      let bytes = 0;
      let n = 0;
      let stored = 0;
      for (const parts of copies) {
        const r = await stow(t, parts);
        if (r.status !== 200) throw new Error(`${label}: STOW answered ${r.status}`);
        ms += r.ms;
        bytes += r.bytes;
        n += r.parts;
        stored += r.stored;
      }
      // Read at once: with auto-analysis on, the background analysis would count as STOW time.
      const cpu = (await t.cpu()) - cpu0;
      if (stored !== n) notes.push(`${label}: ${stored} of ${n} instances referenced as stored`);
      row(
        `STOW shared files (${bases.length} per request, ${COPIES} requests, ${f1(bytes / MB)} MB)`,
        label,
        `${f1(n / (ms / 1000))} inst/s`,
        `${f1(bytes / MB / (ms / 1000))} MB/s; server CPU ${f1(cpu / n)} ms/inst, ${f1(cpu / (bytes / MB))} ms/MB (${f1((cpu / ms) * 100)} % of wall)`,
      );
      log(`${label}: ${n} instances, ${f1(bytes / MB)} MB in ${f1(ms)} ms, server CPU ${f1(cpu)} ms`);
    } finally {
      await t.stop();
    }
  }
}

async function benchQido() {
  const template = qidoTemplate();
  log(`QIDO: ${QIDO_INSTANCES} instances of ${template.length} bytes, ${QIDO_PER_STUDY} per study`);
  const studies = [...qidoStudies(template, QIDO_INSTANCES)];
  // Study-level searches with a PatientName wildcard, three kinds (the same list for both
  // servers): a whole surname + '*' (about 1 study), a surname less its last letter + '*'
  // (about 4 studies), and a 3-letter prefix + '*' (about 1 in 20 studies: 100 of 2,000).
  const KINDS = ['surname*', 'surnam*', '3-letter*'] as const;
  const queries: { kind: (typeof KINDS)[number]; q: string }[] = [];
  for (let i = 0; i < QIDO_QUERIES; i++) {
    const s = studies[(i * 7919) % studies.length]!;
    const surname = s.name.split('^')[0]!;
    const kind = KINDS[i % 3]!;
    const pattern = kind === 'surname*' ? `${surname}*` : kind === 'surnam*' ? `${surname.slice(0, -1)}*` : `${surname.slice(0, 3)}*`;
    queries.push({ kind, q: `/studies?PatientName=${encodeURIComponent(pattern)}` });
  }
  const counts: Record<string, number[]> = {};
  for (const [label, start] of STARTERS) {
    const t = await start();
    try {
      let ms = 0;
      let n = 0;
      let bytes = 0;
      const batch = 100;
      let parts: Buffer[] = [];
      const flush = async () => {
        const r = await stow(t, parts);
        if (r.status !== 200) throw new Error(`${label}: STOW answered ${r.status}`);
        ms += r.ms;
        n += r.parts;
        bytes += r.bytes;
        parts = [];
      };
      const cpuLoad0 = await t.cpu();
      for (const s of studies) {
        parts.push(...s.instances);
        if (parts.length >= batch) await flush();
      }
      if (parts.length) await flush();
      const cpuLoad = (await t.cpu()) - cpuLoad0;
      row(`STOW ${n} small instances (${template.length} B, ${batch} per request)`, label, `${f1(n / (ms / 1000))} inst/s`, `${f1(bytes / MB / (ms / 1000))} MB/s; server CPU ${f1(cpuLoad / n)} ms/inst`);
      log(`${label}: loaded ${n} instances in ${f1(ms / 1000)} s`);

      const all = await getJson(t, '/studies?limit=100000');
      log(`${label}: /studies returns ${all.count} studies`);
      for (const { q } of queries.slice(0, 30)) await getJson(t, q); // warm-up
      const lat: number[] = [];
      counts[label] = [];
      const cpuQ0 = await t.cpu();
      for (const { q } of queries) {
        const r = await getJson(t, q);
        if (r.status !== 200 && r.status !== 204) throw new Error(`${label}: QIDO ${q} answered ${r.status}`);
        lat.push(r.ms);
        counts[label]!.push(r.count);
      }
      const cpuQ = (await t.cpu()) - cpuQ0;
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      row(`QIDO /studies?PatientName=<wildcard>, ${n} instances indexed: all ${QIDO_QUERIES} queries (mean ${f1(mean(counts[label]!))} studies returned)`, label, `p50 ${f1(pct(lat, 50))} ms`, `p95 ${f1(pct(lat, 95))} ms; server CPU ${f1(cpuQ / QIDO_QUERIES)} ms/query`);
      for (const kind of KINDS) {
        const idx = queries.map((q, i) => (q.kind === kind ? i : -1)).filter((i) => i >= 0);
        const l = idx.map((i) => lat[i]!);
        row(`  … PatientName=${kind} (mean ${f1(mean(idx.map((i) => counts[label]![i]!)))} studies)`, label, `p50 ${f1(pct(l, 50))} ms`, `p95 ${f1(pct(l, 95))} ms`);
      }
    } finally {
      await t.stop();
    }
  }
  const [a, b] = Object.values(counts);
  if (a && b) {
    const labels = Object.keys(counts);
    const differ = a.map((x, i) => i).filter((i) => a[i] !== b[i]);
    if (differ.length) {
      const examples = differ.slice(0, 3).map((i) => `${decodeURIComponent(queries[i]!.q)}: ${labels[0]} ${a[i]}, ${labels[1]} ${b[i]}`);
      notes.push(`QIDO: ${differ.length} of ${a.length} queries returned different result counts (e.g. ${examples.join('; ')})`);
    }
    else notes.push(`QIDO: every query returned the same number of studies on carpus and Orthanc`);
  }
}

async function benchRss() {
  const base = loadBases().find((b) => b.name === 'ts-matrix-ct/CTImage.dcm')!;
  const count = Math.ceil(RSS_BYTES / base.bytes.length);
  log(`RSS: one STOW request of ${count} x ${base.bytes.length} B = ${f1((count * base.bytes.length) / MB)} MB`);
  fs.rmSync(MEMORY_FILE, { force: true });
  const t = await startCarpus({ sampleMemory: true, autoAnalysis: true }); // as before: a node's default configuration
  try {
    await stow(t, [copyOf(base, 'rss-warm-1'), copyOf(base, 'rss-warm-2'), copyOf(base, 'rss-warm-3')]);
    await new Promise((r) => setTimeout(r, 2000));
    const before = readStatus(t.pid);
    const t0 = Date.now();
    let peak = before.rss;
    const timer = setInterval(() => {
      try {
        peak = Math.max(peak, readStatus(t.pid).rss);
      } catch {
        /* exited */
      }
    }, 50);
    // All parts belong to one new study/series; each gets its own SOPInstanceUID. Copies are
    // made one at a time as the request is written: the body is never in memory.
    const [studyUid, seriesUid, sopUid] = base.uids as [string, string, string];
    const rssBase = Buffer.from(base.bytes);
    patchAll(rssBase, studyUid, uidOfLength(studyUid.length, 'rss-study'));
    patchAll(rssBase, seriesUid, uidOfLength(seriesUid.length, 'rss-series'));
    function* parts() {
      for (let i = 0; i < count; i++) {
        const b = Buffer.from(rssBase);
        patchAll(b, sopUid, uidOfLength(sopUid.length, `rss-${i}`));
        yield b;
      }
    }
    const r = await stow(t, parts());
    const t1 = Date.now();
    clearInterval(timer);
    const after = readStatus(t.pid);
    peak = Math.max(peak, after.rss);
    log(`RSS: status ${r.status}, ${r.stored} stored, ${r.failed} failed in ${f1(r.ms / 1000)} s; before ${f1(before.rss / 2 ** 20)} MiB, peak ${f1(peak / 2 ** 20)} MiB, HWM ${f1(before.hwm / 2 ** 20)} -> ${f1(after.hwm / 2 ** 20)} MiB`);
    if (r.status !== 200 || r.stored !== count) notes.push(`RSS run: STOW answered ${r.status}, ${r.stored} of ${count} stored, ${r.failed} failed`);
    row(
      `carpus RSS, one STOW request of ${f1(r.bytes / 2 ** 30)} GiB (${r.parts} instances, ${f1(r.bytes / MB / (r.ms / 1000))} MB/s)`,
      'carpus',
      `VmRSS ${f1(before.rss / 2 ** 20)} → peak ${f1(peak / 2 ** 20)} MiB (+${f1((peak - before.rss) / 2 ** 20)})`,
      `VmHWM ${f1(before.hwm / 2 ** 20)} → ${f1(after.hwm / 2 ** 20)} MiB`,
    );
    const mem = memoryGrowth(t.pid, t0, t1);
    if (mem) row('  … process.memoryUsage() of that process, before → peak during the request (MiB)', 'carpus', mem, '');
  } finally {
    await t.stop();
  }
}

/** What grew, from bench/memory-sampler.mjs's samples: the last one before t0, the peak of each field in [t0, t1]. */
function memoryGrowth(pid: number, t0: number, t1: number): string | undefined {
  if (!fs.existsSync(MEMORY_FILE)) return undefined;
  type S = { t: number; pid: number } & Record<'rss' | 'heapTotal' | 'heapUsed' | 'external' | 'arrayBuffers', number>;
  const samples = fs.readFileSync(MEMORY_FILE, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as S).filter((x) => x.pid === pid);
  const base = samples.filter((x) => x.t <= t0).at(-1);
  const during = samples.filter((x) => x.t >= t0 && x.t <= t1);
  if (!base || !during.length) return undefined;
  const keys = ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const;
  return keys
    .map((k) => {
      const top = Math.max(...during.map((x) => x[k]));
      return `${k} ${f1(base[k] / 2 ** 20)} → ${f1(top / 2 ** 20)}`;
    })
    .join('; ');
}

const started = new Date();
const loadStart = os.loadavg()[0]!;
const orthancVersion = await (async () => {
  const o = await startOrthanc();
  try {
    const sys = await o.getJson<{ Version: string }>('/system');
    const plugins = await o.getJson<string[]>('/plugins');
    const dw = plugins.includes('dicom-web') ? (await o.getJson<{ Version: string }>('/plugins/dicom-web')).Version : '?';
    return `Orthanc ${sys.Version}, DICOMweb plugin ${dw}`;
  } finally {
    await o.stop();
  }
})();
log(orthancVersion);
if (ONLY.has('stow')) await benchStow();
if (ONLY.has('qido')) await benchQido();
if (ONLY.has('rss')) await benchRss();
agent.destroy();

const header = [
  `Date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC; machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${f1(os.totalmem() / 2 ** 30)} GiB, ${fs.existsSync('/etc/debian_version') ? `Debian ${fs.readFileSync('/etc/debian_version', 'utf8').trim()}` : os.type()}, Node ${process.version}`,
  `Load average (1 min) at start ${f1(loadStart)}, at end ${f1(os.loadavg()[0]!)} (the machine is shared: other processes ran beside the benchmark)`,
  `carpus: \`npx tsx src/main.ts\`${CARPUS_ROOT === ROOT ? '' : ` in ${CARPUS_ROOT}`}, ${PG_ADMIN ? 'PostgreSQL (fresh database; server CPU includes its backends)' : 'embedded PGlite'}, LOG_LEVEL=info, CARPUS_AUTO_ANALYSIS=off for the STOW and QIDO rows compared with Orthanc (Orthanc does no analysis)${ANALYSIS_ROW ? '; one shared-files row with auto-analysis on, for information' : ''}; RSS row: default configuration (auto-analysis on); ${orthancVersion} (SQLite index, file storage, StorageCompression false)`,
];
if (MARKDOWN) {
  console.log(header.map((h) => `${h}  `).join('\n'));
  console.log('\n| measurement | server | result | |\n| --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  if (notes.length) console.log(`\n${notes.map((n) => `- ${n}`).join('\n')}`);
} else {
  console.log(header.join('\n'));
  for (const r of rows) console.log(r.join('  |  '));
  for (const n of notes) console.log(`note: ${n}`);
}
