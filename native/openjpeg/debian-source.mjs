// OpenJPEG from Debian's source package, for native/openjpeg/build.mjs: fetched from a Debian
// mirror, every file checked against the size and SHA-256 pinned in openjpeg-source.json (copied
// from Debian's Sources index, whose own hash is in the release file signed by the Debian archive
// key), unpacked with Debian's patch series applied (its security fixes), and compiled by
// OpenJPEG's own CMake build as a static, position-independent library for this CPU level.
//
// Why not the system libopenjp2: Debian builds it for the generic x86-64 baseline, which leaves out
// OpenJPEG's SSE4/AVX2/AVX-512 wavelet code (dwt.c picks it at compile time) and is 2.5.0 on
// bookworm; bench/README.md ("Pixel decode") has the measurements behind the pinned choice.
// Why tar + patch rather than dpkg-source -x: the same steps for a "3.0 (quilt)" package, without
// dpkg-dev (the .dsc is only needed by dpkg-source, and the pin already names every file).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Whether this machine's CPU (and OS) runs code for an x86-64 level (x86-64-v2/v3/v4). Asks the C
 * compiler's own check (__builtin_cpu_supports, the one the addon makes when it loads) rather than
 * reading /proc/cpuinfo, whose flag names differ from CPUID under some hypervisors (this VM lists
 * no `abm` although its CPU has LZCNT).
 */
export function cpuHasLevel(level) {
  if (!/^x86-64-v[234]$/.test(level) || process.arch !== 'x64') return false;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-cpu-'));
  try {
    fs.writeFileSync(path.join(dir, 'probe.c'), `int main(void) { __builtin_cpu_init(); return __builtin_cpu_supports("${level}") ? 0 : 1; }\n`);
    const cc = spawnSync('cc', ['-o', path.join(dir, 'probe'), path.join(dir, 'probe.c')], { encoding: 'utf8' });
    if (cc.status !== 0) return false;
    return spawnSync(path.join(dir, 'probe')).status === 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  const out = `$ ${cmd} ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `${r.error}\n` : ''}`;
  if (r.status !== 0) {
    const why = r.error?.code === 'ENOENT' ? `${cmd} not found` : `${cmd} exited ${r.status}`;
    throw Object.assign(new Error(why), { log: out });
  }
  return out;
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function verified(file, f) {
  return fs.existsSync(file) && fs.statSync(file).size === f.size && sha256(file) === f.sha256;
}

/**
 * Puts the pinned files under `dir`, downloading the ones not already there and verified. Throws
 * (nothing is kept) when a file cannot be fetched or its size or SHA-256 differs from the pin.
 */
export async function fetchVerified(pin, dir, mirror, timeoutMs = 30_000) {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of pin.files) {
    const file = path.join(dir, f.name);
    if (verified(file, f)) continue;
    const url = `${mirror.replace(/\/+$/, '')}/${pin.directory}/${encodeURIComponent(f.name)}`;
    let res;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      throw new Error(`cannot fetch ${url} (${e?.cause?.code ?? e?.name ?? e})`);
    }
    if (!res.ok) throw new Error(`cannot fetch ${url} (HTTP ${res.status})`);
    const body = Buffer.from(await res.arrayBuffer());
    const got = crypto.createHash('sha256').update(body).digest('hex');
    if (body.length !== f.size || got !== f.sha256) {
      throw new Error(`${f.name} from ${mirror} does not match the pinned SHA-256 (got ${body.length} bytes, ${got.slice(0, 16)}...): refused`);
    }
    const tmp = `${file}.part`;
    fs.writeFileSync(tmp, body);
    fs.renameSync(tmp, file);
  }
}

/** Unpacks the .orig and .debian tarballs into `srcDir` and applies debian/patches/series in order. */
export function unpack(pin, downloads, srcDir) {
  fs.rmSync(srcDir, { recursive: true, force: true });
  fs.mkdirSync(srcDir, { recursive: true });
  const orig = pin.files.find((f) => /\.orig\.tar\.xz$/.test(f.name));
  const debian = pin.files.find((f) => /\.debian\.tar\.xz$/.test(f.name));
  if (!orig || !debian) throw new Error('the pin names no .orig.tar.xz and .debian.tar.xz');
  let log = run('tar', ['-xJf', path.join(downloads, orig.name), '-C', srcDir, '--strip-components=1']);
  log += run('tar', ['-xJf', path.join(downloads, debian.name), '-C', srcDir]);
  const format = fs.readFileSync(path.join(srcDir, 'debian/source/format'), 'utf8').trim();
  if (format !== '3.0 (quilt)') throw new Error(`source format ${format}, not 3.0 (quilt)`);
  const series = path.join(srcDir, 'debian/patches/series');
  const lines = fs.existsSync(series) ? fs.readFileSync(series, 'utf8').split('\n') : [];
  const applied = [];
  for (const line of lines) {
    const [name, ...opts] = line.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (!name) continue;
    log += run('patch', [...(opts.length ? opts : ['-p1']), '-N', '-s', '--no-backup-if-mismatch', '-i', path.join(srcDir, 'debian/patches', name)], { cwd: srcDir });
    applied.push(name);
  }
  return { log, applied };
}

/**
 * Compiles OpenJPEG's library alone (no tools, docs or tests) as a static PIC archive with
 * `cflags`, and installs it under `prefix` (include/openjpeg-2.5, lib/libopenjp2.a); with
 * `shared`, a shared library instead (lib/libopenjp2.so, for bench/openjpeg-builds.ts).
 */
export function buildLibrary(srcDir, buildDir, prefix, cflags, { jobs = 1, shared = false } = {}) {
  fs.rmSync(buildDir, { recursive: true, force: true });
  fs.rmSync(prefix, { recursive: true, force: true });
  let log = run('cmake', [
    '-S', srcDir, '-B', buildDir,
    '-DCMAKE_BUILD_TYPE=None', // the flags below only, as Debian builds it
    `-DCMAKE_C_FLAGS=${cflags}`,
    `-DCMAKE_INSTALL_PREFIX=${prefix}`,
    '-DCMAKE_INSTALL_LIBDIR=lib',
    '-DOPENJPEG_INSTALL_LIB_DIR=lib',
    '-DCMAKE_POSITION_INDEPENDENT_CODE=ON', // linked into the addon, a shared object
    `-DBUILD_SHARED_LIBS=${shared ? 'ON' : 'OFF'}`, `-DBUILD_STATIC_LIBS=${shared ? 'OFF' : 'ON'}`,
    '-DBUILD_CODEC=OFF', '-DBUILD_TESTING=OFF', '-DBUILD_DOC=OFF', '-DBUILD_JPIP=OFF', '-DBUILD_THIRDPARTY=OFF',
  ]);
  log += run('cmake', ['--build', buildDir, '--parallel', String(jobs)]);
  log += run('cmake', ['--install', buildDir]);
  const lib = path.join(prefix, shared ? 'lib/libopenjp2.so' : 'lib/libopenjp2.a');
  const header = path.join(prefix, 'include/openjpeg-2.5/openjpeg.h');
  if (!fs.existsSync(lib) || !fs.existsSync(header)) throw Object.assign(new Error(`the OpenJPEG build installed no ${fs.existsSync(lib) ? header : lib}`), { log });
  return log;
}
