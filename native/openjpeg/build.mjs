// Builds the in-process OpenJPEG decoder (carpus_openjpeg.node) at `npm ci` / `npm install` time
// (package.json "postinstall"; again by hand with `npm run build:native`).
// Needs Debian's libopenjp2-7-dev, pkg-config, a C compiler, make and python3 (.ci/apt-packages.txt).
// Uses the node-gyp bundled with npm and this Node's own headers (--nodedir): it never downloads.
// A failed build is not an install failure: the node then decodes JPEG 2000 with the WASM codec
// and says so once (src/pixel/openjpeg-native.ts). This prints one line either way; the
// compiler output goes to build.log beside this file.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const logFile = path.join(here, 'build.log');
const nodeDir = path.resolve(path.dirname(process.execPath), '..');
const nodeGyp =
  process.env.npm_config_node_gyp ||
  [path.join(nodeDir, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')].find((p) => fs.existsSync(p));

function fail(why) {
  console.warn(`[carpus] native OpenJPEG decoder NOT built (${why}; see native/openjpeg/build.log): JPEG 2000 will use the slower WASM codec`);
  process.exit(0);
}

// Skip when the addon is newer than its sources (every `npm install` of another package runs
// this); `npm run build:native` rebuilds anyway.
const addon = path.join(here, 'build/Release/carpus_openjpeg.node');
const mtime = (p) => (fs.existsSync(p) ? fs.statSync(p).mtimeMs : NaN);
if (!process.argv.includes('--force') && ['carpus_openjpeg.c', 'binding.gyp'].every((f) => mtime(path.join(here, f)) < mtime(addon))) {
  console.log('[carpus] native OpenJPEG decoder up to date (native/openjpeg/build/Release/carpus_openjpeg.node)');
  process.exit(0);
}
if (!fs.existsSync(path.join(nodeDir, 'include/node/node_api.h'))) fail(`no Node headers under ${nodeDir}/include/node`);
if (!nodeGyp) fail('node-gyp not found beside npm');
const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`, '--jobs=1'], { cwd: here, encoding: 'utf8', env: { ...process.env, JOBS: '1' } });
fs.writeFileSync(logFile, `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`);
if (r.status !== 0) {
  // The first line that names the cause: a missing package, header or tool, or a compiler error.
  const last = `${r.stderr ?? ''}`.split('\n').find((l) => /not found|error|No such file/i.test(l) && !/^gyp (ERR|info)/.test(l));
  fail(last ? last.trim().slice(0, 200) : `node-gyp exited ${r.status}`);
}
console.log('[carpus] built the native OpenJPEG decoder (native/openjpeg/build/Release/carpus_openjpeg.node)');
