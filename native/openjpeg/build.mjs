// Builds the in-process OpenJPEG decoder (carpus_openjpeg.node) at `npm ci` / `npm install` time
// (package.json "postinstall"; again by hand with `npm run build:native`).
//
// OpenJPEG itself comes from one of two places:
// - system (the default): Debian's libopenjp2 (libopenjp2-7-dev, pkg-config), generic x86-64 build.
// - source (CARPUS_OPENJPEG=source, opt-in): Debian's source package pinned in
//   openjpeg-source.json, fetched from a Debian mirror and checked against the pinned SHA-256, with
//   Debian's patches, compiled for an x86-64 level (x86-64-v3 = AVX2 by default, -O3) and linked
//   statically. 0-10% less CPU than the system library on the RG3 J2KR frame (bench/README.md,
//   "Pixel decode"); .ci/run asks for it, a plain `npm ci` does not (compiling takes 40 s to 2 min).
//   Needs cmake, tar, xz-utils and patch, and the mirror once: the verified files and the compiled
//   library are kept under native/openjpeg/deps/ (git-ignored), so later builds are offline. When
//   the source cannot be fetched or built, the build says so in one line and uses the system
//   library. The addon refuses to load on a CPU without its level (the node then uses WASM).
// Settings (environment): CARPUS_OPENJPEG=system|source; CARPUS_OPENJPEG_ISA=x86-64-v3|x86-64-v2|
// x86-64-v4|native|generic (native: this CPU, unchecked at load: only for a node run where it is
// built); CARPUS_DEBIAN_MIRROR (default http://deb.debian.org/debian); JOBS (compile jobs, 1).
//
// Uses the node-gyp bundled with npm and this Node's own headers (--nodedir): it never downloads
// anything but the pinned Debian files. A failed addon build is not an install failure: the node
// then decodes JPEG 2000 with the WASM codec and says so once (src/pixel/openjpeg-native.ts).
// Prints one line per decision; compiler output goes to build.log beside this file.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildLibrary, cpuHasLevel, fetchVerified, unpack } from './debian-source.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const logFile = path.join(here, 'build.log');
const deps = path.join(here, 'deps');
const nodeDir = path.resolve(path.dirname(process.execPath), '..');
const nodeGyp =
  process.env.npm_config_node_gyp ||
  [path.join(nodeDir, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')].find((p) => fs.existsSync(p));
const pin = JSON.parse(fs.readFileSync(path.join(here, 'openjpeg-source.json'), 'utf8'));
const force = process.argv.includes('--force');
const say = (line) => console.log(`[carpus] ${line}`);
let log = '';

function fail(why) {
  fs.writeFileSync(logFile, log);
  console.warn(`[carpus] native OpenJPEG decoder NOT built (${why}; see native/openjpeg/build.log): JPEG 2000 will use the slower WASM codec`);
  process.exit(0);
}

/** The x86-64 level to compile OpenJPEG for: the setting, else x86-64-v3 when this CPU has it. */
function chooseIsa() {
  const want = process.env.CARPUS_OPENJPEG_ISA || 'x86-64-v3';
  if (!['x86-64-v2', 'x86-64-v3', 'x86-64-v4', 'native', 'generic'].includes(want)) throw new Error(`CARPUS_OPENJPEG_ISA=${want} is not one of x86-64-v2, x86-64-v3, x86-64-v4, native, generic`);
  if (process.arch !== 'x64' || want === 'generic') return 'generic';
  if (want === 'native' || cpuHasLevel(want)) return want;
  // Built where it runs (npm ci on the host): a level this CPU lacks would only refuse to load.
  const below = { 'x86-64-v4': ['x86-64-v3', 'x86-64-v2'], 'x86-64-v3': ['x86-64-v2'], 'x86-64-v2': [] }[want];
  const lower = below.find((l) => cpuHasLevel(l));
  say(`this CPU lacks ${want}: compiling OpenJPEG for ${lower ?? 'the generic x86-64 baseline'}`);
  return lower ?? 'generic';
}

// Debian's hardening flags for the library (it parses untrusted input), and upstream's hidden visibility.
const HARDENING = '-fstack-protector-strong -D_FORTIFY_SOURCE=2 -fvisibility=hidden';

/** Compiles (or finds already compiled) OpenJPEG from the pinned Debian source; returns the install prefix. */
async function openjpegFromSource(isa) {
  // -ffp-contract=off: with FMA (x86-64-v3) GCC fuses the 9/7 wavelet's float multiply-adds, and the
  // irreversible RG3_J2KI frame then decoded 246 samples off the system library's and GDCM's
  // (2026-11-27); unfused, every sample is the same. The lossless 5/3 path is integer-only.
  // -funroll-loops: 0.8 % fewer instructions on RG3 J2KR (callgrind), CPU level to a few % less in
  // interleaved runs; of the build options profiled the only one not worse (bench/README.md, "Pixel
  // decode", 2026-11-27 19:52-20:10).
  const cflags = `-O3 ${isa === 'generic' ? '' : `-march=${isa} `}-ffp-contract=off -funroll-loops ${HARDENING}`;
  const prefix = path.join(deps, `openjpeg2-${pin.version}-${isa}`);
  const stamp = { version: pin.version, files: pin.files.map((f) => f.sha256), cflags };
  const stampFile = path.join(prefix, 'carpus-stamp.json');
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === JSON.stringify(stamp)) return { prefix, cflags, cached: true };

  const mirror = process.env.CARPUS_DEBIAN_MIRROR || pin.mirror;
  await fetchVerified(pin, path.join(deps, 'download'), mirror);
  const work = path.join(deps, 'work');
  const src = path.join(work, 'src');
  try {
    const u = unpack(pin, path.join(deps, 'download'), src);
    log += u.log;
    const t0 = Date.now();
    log += buildLibrary(src, path.join(work, 'build'), prefix, cflags, { jobs: Number(process.env.JOBS) || 1 });
    log += `OpenJPEG compiled in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`;
    const isaDefine = isa.startsWith('x86-64-') ? `#define CARPUS_OPENJPEG_ISA "${isa}"\n` : `#define CARPUS_OPENJPEG_ISA_NAME "${isa === 'native' ? 'native (the build machine, not checked at load)' : 'generic'}"\n`;
    fs.writeFileSync(
      path.join(prefix, 'carpus_openjpeg_build.h'),
      `/* Written by native/openjpeg/build.mjs. */\n#define CARPUS_OPENJPEG_LIBRARY "debian-source"\n#define CARPUS_OPENJPEG_SOURCE "Debian ${pin.package} ${pin.version} (${pin.suite}; patches: ${u.applied.join(' ')})"\n#define CARPUS_OPENJPEG_LINKAGE "static"\n#define CARPUS_OPENJPEG_CFLAGS "${cflags}"\n${isaDefine}`,
    );
    fs.writeFileSync(stampFile, JSON.stringify(stamp));
  } catch (e) {
    log += e.log ?? '';
    fs.rmSync(prefix, { recursive: true, force: true });
    throw e;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { prefix, cflags, cached: false };
}

// Which OpenJPEG: the system library unless the source build is asked for and can be had.
const env = { ...process.env, JOBS: process.env.JOBS || '1' };
delete env.CARPUS_OPENJPEG_PREFIX;
let want = { library: 'system' };
if (process.env.CARPUS_OPENJPEG === 'source') {
  try {
    const isa = chooseIsa();
    const { prefix, cflags, cached } = await openjpegFromSource(isa);
    env.CARPUS_OPENJPEG_PREFIX = prefix;
    want = { library: 'debian-source', version: pin.version, cflags };
    say(`OpenJPEG ${cached ? 'already compiled' : 'compiled'} from Debian's source ${pin.package} ${pin.version} (SHA-256 verified), ${cflags.split(' ').slice(0, 2).join(' ')}, static`);
  } catch (e) {
    say(`OpenJPEG source build not used (${e.message}): linking the system libopenjp2 instead (generic x86-64 build, slower)`);
  }
} else if ((process.env.CARPUS_OPENJPEG || 'system') !== 'system') {
  fail(`CARPUS_OPENJPEG=${process.env.CARPUS_OPENJPEG} is neither source nor system`);
}

// Skip when the addon is newer than its sources and was built the same way (every `npm install`
// of another package runs this); `npm run build:native` rebuilds anyway.
const addon = path.join(here, 'build/Release/carpus_openjpeg.node');
const stampFile = path.join(here, 'build/carpus-build.json');
const mtime = (p) => (fs.existsSync(p) ? fs.statSync(p).mtimeMs : NaN);
const inputs = ['carpus_openjpeg.c', 'binding.gyp', 'build.mjs', 'flags.mjs', 'debian-source.mjs', 'openjpeg-source.json'];
const same = fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === JSON.stringify(want);
if (!force && same && inputs.every((f) => mtime(path.join(here, f)) < mtime(addon))) {
  say('native OpenJPEG decoder up to date (native/openjpeg/build/Release/carpus_openjpeg.node)');
  process.exit(0);
}
if (!fs.existsSync(path.join(nodeDir, 'include/node/node_api.h'))) fail(`no Node headers under ${nodeDir}/include/node`);
if (!nodeGyp) fail('node-gyp not found beside npm');
const gyp = () => {
  const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`, '--jobs=1'], { cwd: here, encoding: 'utf8', env });
  log += `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  return r;
};
let r = gyp();
if (r.status !== 0 && env.CARPUS_OPENJPEG_PREFIX) {
  say(`the addon did not build on OpenJPEG from Debian's source (see native/openjpeg/build.log): linking the system libopenjp2 instead (generic x86-64 build, slower)`);
  delete env.CARPUS_OPENJPEG_PREFIX;
  want = { library: 'system' };
  r = gyp();
}
fs.writeFileSync(logFile, log);
if (r.status !== 0) {
  // The first line that names the cause: a missing package, header or tool, or a compiler error.
  const last = `${r.stderr ?? ''}`.split('\n').find((l) => /not found|error|No such file/i.test(l) && !/^gyp (ERR|info)/.test(l));
  fail(last ? last.trim().slice(0, 200) : `node-gyp exited ${r.status}`);
}
fs.writeFileSync(stampFile, JSON.stringify(want));
say(`built the native OpenJPEG decoder (native/openjpeg/build/Release/carpus_openjpeg.node) on ${want.library === 'system' ? 'the system libopenjp2' : `OpenJPEG ${pin.version} from Debian's source`}`);
