/**
 * Builds libopenjp2 from Debian's source packages with several compiler settings, as shared
 * libraries for `bench/j2k-libs.ts --openjpeg LABEL=PATH` (issue 3: how much a build for this CPU,
 * or a newer OpenJPEG, saves on the RG3 J2KR decode against Debian's generic 2.5.0 build).
 *
 *   taskset -c 0 npx tsx bench/openjpeg-builds.ts DIR [--only LABEL,...]
 *
 * Fetches and checks the source with native/openjpeg/debian-source.mjs (the addon build's code):
 * bookworm's 2.5.0-2+deb12u3 (the system library's source) and the pin in
 * native/openjpeg/openjpeg-source.json. Every build gets Debian's hardening flags and upstream's
 * hidden visibility, as Debian builds it. Prints the compile time of each and, last, the
 * `--openjpeg` arguments for j2k-libs.ts. Keeps everything under DIR.
 */
import fs from 'node:fs';
import path from 'node:path';
// @ts-expect-error plain JavaScript module of the addon build (no types)
import { buildLibrary, fetchVerified, unpack } from '../native/openjpeg/debian-source.mjs';

interface Pin {
  package: string;
  version: string;
  directory: string;
  mirror: string;
  files: Array<{ name: string; size: number; sha256: string }>;
}

// Sizes and SHA-256 from bookworm's main/source/Sources.xz (its hash listed in the signed dists/bookworm/InRelease).
const bookworm: Pin = {
  package: 'openjpeg2',
  version: '2.5.0-2+deb12u3',
  directory: 'pool/main/o/openjpeg2',
  mirror: 'http://deb.debian.org/debian',
  files: [
    { name: 'openjpeg2_2.5.0.orig.tar.xz', size: 1221108, sha256: '007e19d772c8b6b22e35379630b06ff3549e49ba719d96453607a36ad7b4de73' },
    { name: 'openjpeg2_2.5.0-2+deb12u3.debian.tar.xz', size: 20404, sha256: '36dedb0ca4c1659c173feac97c19b31985656f4cd112b1a4d54d54bc4133ad37' },
  ],
};
const pinned = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../native/openjpeg/openjpeg-source.json'), 'utf8')) as Pin;

const HARDENING = '-fstack-protector-strong -D_FORTIFY_SOURCE=2 -fvisibility=hidden';
const settings: Array<[string, string]> = [
  ['O2', '-O2'], // as Debian builds it (generic x86-64)
  ['O2-mavx2', '-O2 -mavx2'],
  ['O2-v3', '-O2 -march=x86-64-v3'],
  ['O3-v3', '-O3 -march=x86-64-v3'],
  ['O3-v4', '-O3 -march=x86-64-v4'],
  ['O3-native', '-O3 -march=native'],
];

const args = process.argv.slice(2);
const dir = args[0] && !args[0].startsWith('--') ? path.resolve(args[0]) : undefined;
if (!dir) throw new Error('usage: bench/openjpeg-builds.ts DIR [--only LABEL,...]');
const only = args.includes('--only') ? new Set(args[args.indexOf('--only') + 1]!.split(',')) : undefined;

const out: string[] = [];
for (const pin of pinned.version === bookworm.version ? [bookworm] : [bookworm, pinned]) {
  const upstream = pin.version.replace(/-.*/, '');
  const downloads = path.join(dir, 'download');
  await fetchVerified(pin, downloads, pin.mirror);
  const src = path.join(dir, `src-${pin.version}`);
  const { applied } = unpack(pin, downloads, src) as { applied: string[] };
  console.log(`${pin.package} ${pin.version}: SHA-256 verified, patches applied: ${applied.join(' ')}`);
  for (const [name, flags] of settings) {
    const label = `${upstream}-${name}`;
    if (only && !only.has(label)) continue;
    const t0 = process.hrtime.bigint();
    buildLibrary(src, path.join(dir, `build-${label}`), path.join(dir, label), `${flags} ${HARDENING}`, { shared: true });
    console.log(`${label}: ${flags}, compiled in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);
    out.push('--openjpeg', `${label}=${path.join(dir, label, 'lib/libopenjp2.so')}`);
  }
}
console.log(out.join(' '));
