// Compiler and linker flags for binding.gyp (`node flags.mjs cflags|libraries|ldflags`): the
// OpenJPEG that build.mjs compiled from Debian's source when CARPUS_OPENJPEG_PREFIX names it,
// else the system libopenjp2 through pkg-config. A script because gyp can only read the
// environment through a command.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const what = process.argv[2];
const prefix = process.env.CARPUS_OPENJPEG_PREFIX;
let flags;
if (prefix) {
  flags = {
    // carpus_openjpeg_build.h (written by build.mjs) says which build this is and for which CPU level.
    cflags: [`-I${path.join(prefix, 'include/openjpeg-2.5')}`, '-include', path.join(prefix, 'carpus_openjpeg_build.h')],
    libraries: [path.join(prefix, 'lib/libopenjp2.a'), '-lm', '-lpthread'],
    // The archive's opj_* symbols stay inside the addon: its calls never bind to another libopenjp2 in the process.
    ldflags: ['-Wl,--exclude-libs,ALL'],
  }[what];
} else {
  const arg = { cflags: '--cflags', libraries: '--libs' }[what];
  if (arg) {
    const r = spawnSync('pkg-config', [arg, 'libopenjp2'], { encoding: 'utf8' });
    if (r.status !== 0) {
      process.stderr.write(r.stderr || 'pkg-config not found\n');
      process.exit(1);
    }
    flags = r.stdout.trim().split(/\s+/).filter(Boolean);
  } else if (what === 'ldflags') {
    flags = [];
  }
}
if (!flags) {
  process.stderr.write(`flags.mjs: unknown ${what}\n`);
  process.exit(2);
}
process.stdout.write(`${flags.join(' ')}\n`);
