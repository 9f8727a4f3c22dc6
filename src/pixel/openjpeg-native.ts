/**
 * JPEG 2000 with OpenJPEG in-process: the Node-API addon in native/openjpeg, built at `npm ci`
 * time (no maintained Node binding exists on npm), on OpenJPEG compiled from Debian's pinned
 * source package for this CPU level, or on the system libopenjp2 when that source cannot be had
 * (native/openjpeg/build.mjs; nativeOpenJpegBuild() says which). Faster than OpenJPEG in WASM on
 * the RG3 frame (bench/README.md, "Pixel decode").
 *
 * CARPUS_J2K_DECODER picks the decoder: `wasm` (@cornerstonejs/codec-openjpeg), `native` (this
 * addon; decodes fail if it is missing), or unset/`auto`: native when built, else WASM, saying so
 * once on stderr. Like the WASM codecs it runs in the decode-pool worker with a time limit. Unlike
 * them, a memory-safety bug in libopenjp2 on a hostile stream would take the process down, not
 * only the worker. Security fixes come from Debian's source package pinned in
 * native/openjpeg/openjpeg-source.json (updated by hand, rebuilt by `npm run build:native`), or
 * from Debian's libopenjp2-7 updates for the system build; `wasm` is the safer choice where input
 * is untrusted.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FrameGeometry } from './codecs.ts';
import type { SampleRange } from './pixels.ts';

export type J2kDecoder = 'native' | 'wasm';

interface Addon {
  decode(codestream: Uint8Array, reduce?: number): { columns: number; rows: number; components: number; precision: number; signed: boolean; data: Uint8Array };
  openjpegVersion: string;
  openjpegBuild: OpenJpegBuild;
}

/** Which OpenJPEG the addon was linked with (native/openjpeg/build.mjs). */
export interface OpenJpegBuild {
  /** `debian-source`: compiled from Debian's source package; `system`: the distribution's libopenjp2. */
  library: 'debian-source' | 'system';
  /** e.g. "Debian openjpeg2 2.5.3-2.1~deb13u2 (trixie; patches: ...)" */
  source: string;
  linkage: 'static' | 'shared';
  /** x86-64 level it was compiled for (checked against the CPU when the addon loads). */
  isa: string;
  cflags: string;
}

/** Where native/openjpeg/build.mjs puts the addon (this file is src/pixel/*.ts), unless CARPUS_OPENJPEG_ADDON says. */
export function addonPath(): string {
  return process.env.CARPUS_OPENJPEG_ADDON || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../native/openjpeg/build/Release/carpus_openjpeg.node');
}

let addon: Addon | null | undefined;
let loadError = '';
let warned = false;

function load(): Addon | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(addonPath()) as Addon;
    } catch (e) {
      addon = null;
      loadError = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
    }
  }
  return addon;
}

/** The OpenJPEG version the addon runs on, or undefined when the addon is not built. */
export function nativeOpenJpegVersion(): string | undefined {
  return load()?.openjpegVersion;
}

/** Which OpenJPEG build the addon runs on (with its version), or undefined when the addon is not built or cannot load. */
export function nativeOpenJpegBuild(): (OpenJpegBuild & { version: string }) | undefined {
  const a = load();
  return a ? { ...a.openjpegBuild, version: a.openjpegVersion } : undefined;
}

/** Which decoder JPEG 2000 frames go to now (read per call, so tests can switch). */
export function j2kDecoder(): J2kDecoder {
  const want = process.env.CARPUS_J2K_DECODER;
  if (want === 'wasm' || want === 'native') return want;
  if (load()) return 'native';
  if (!warned) {
    warned = true;
    process.stderr.write(`carpus: native OpenJPEG decoder not available (${loadError}); JPEG 2000 decodes with the slower WASM codec. Build it with \`npm run build:native\`.\n`);
  }
  return 'wasm';
}

/**
 * Decodes one JPEG 2000 frame (codestream or JP2) to little-endian samples, colour-by-pixel,
 * checked against the data set's geometry like the WASM path, with the codestream's precision and
 * signedness (libopenjp2 clamps every sample to them). `reduce` > 0 (one component only)
 * decodes that many resolution levels down: the result then has reducedSize(g, reduce).
 */
export function decodeJ2kNative(encoded: Uint8Array, g: FrameGeometry, reduce = 0): { bytes: Uint8Array } & SampleRange {
  const a = load();
  if (!a) throw new Error(`native OpenJPEG decoder not available (${loadError})`);
  const r = a.decode(encoded, reduce);
  // The size of a reduced decode, as reducedSize() in codecs.ts (not imported: codecs.ts imports this).
  const want = { rows: Math.ceil(g.rows / 2 ** reduce), columns: Math.ceil(g.columns / 2 ** reduce) };
  if (r.columns !== want.columns || r.rows !== want.rows || r.components !== g.samplesPerPixel || r.precision > g.bitsAllocated) {
    throw new Error(`JPEG 2000 stream is ${r.columns}x${r.rows}x${r.components} at ${r.precision} bits, the data set says ${want.columns}x${want.rows}x${g.samplesPerPixel} at ${g.bitsAllocated}`);
  }
  // A plain view (not a Buffer) that owns its whole ArrayBuffer, so the worker can transfer it.
  const d = r.data;
  const bytes = d.byteOffset === 0 && d.byteLength === d.buffer.byteLength ? new Uint8Array(d.buffer) : new Uint8Array(d);
  return { bytes, precision: r.precision, signed: r.signed };
}
