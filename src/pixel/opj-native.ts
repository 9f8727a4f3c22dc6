/**
 * Optional JPEG 2000 decoder: the native OpenJPEG command-line tool (`opj_decompress`, Debian
 * package libopenjp2-tools), used only with CARPUS_J2K_DECODER=native. The tool alone takes about
 * half the CPU of OpenJPEG in WASM on the RG3 frame, but spawning it from the server, writing the
 * codestream and reading the raw samples back cost more than that gain here (bench/README.md,
 * "Pixel decode"), so WASM stays the default. A separate process is its own guard: it is killed
 * at the time limit. Output is RAWL (little endian, colour-by-plane), checked for size.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { FrameGeometry } from './codecs.ts';

let available: boolean | undefined;

/** Whether CARPUS_J2K_DECODER=native asks for opj_decompress and it can be run (checked once). */
export function nativeJ2kAvailable(): boolean {
  if (process.env.CARPUS_J2K_DECODER !== 'native') return false;
  if (available === undefined) {
    // `opj_decompress -h` exits with status 1: only a failure to start means it is missing.
    const r = spawnSync('opj_decompress', ['-h'], { stdio: 'ignore', timeout: 5000 });
    available = r.error === undefined;
  }
  return available;
}

function run(args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('opj_decompress', args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.killed) reject(Object.assign(new Error(`opj_decompress ran past ${timeoutMs} ms`), { timeout: true }));
      else reject(new Error(`opj_decompress failed: ${String(stderr).trim().split('\n').slice(-2).join(' ') || e.message}`));
    });
  });
}

/** Decodes one JPEG 2000 frame (codestream or JP2) to little-endian samples, colour-by-pixel. */
export async function decodeJ2kNative(encoded: Uint8Array, g: FrameGeometry, timeoutMs: number): Promise<Uint8Array> {
  const isJp2 = encoded.length > 12 && encoded[4] === 0x6a && encoded[5] === 0x50 && encoded[6] === 0x20 && encoded[7] === 0x20;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'carpus-opj-'));
  const input = path.join(dir, `${randomUUID()}.${isJp2 ? 'jp2' : 'j2k'}`);
  const output = path.join(dir, 'out.rawl');
  try {
    await fs.writeFile(input, encoded);
    await run(['-quiet', '-i', input, '-o', output], timeoutMs);
    const raw = await fs.readFile(output);
    const pixels = g.rows * g.columns;
    // RAWL holds each component at the smallest whole number of bytes for its precision.
    const bytesPerSample = raw.length / (pixels * g.samplesPerPixel);
    const want = g.bitsAllocated > 8 ? 2 : 1;
    if (bytesPerSample !== 1 && bytesPerSample !== 2) {
      throw new Error(`JPEG 2000 stream decoded to ${raw.length} bytes, expected ${pixels * g.samplesPerPixel * want} for ${g.columns}x${g.rows}x${g.samplesPerPixel}`);
    }
    let bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    if (bytesPerSample === 1 && want === 2) {
      const wide = new Uint8Array(raw.length * 2);
      for (let i = 0; i < raw.length; i++) wide[2 * i] = raw[i]!;
      bytes = wide;
    } else if (bytesPerSample === 2 && want === 1) {
      throw new Error(`JPEG 2000 stream has more than 8 bits per sample but BitsAllocated is ${g.bitsAllocated}`);
    }
    if (g.samplesPerPixel === 3) {
      const out = new Uint8Array(bytes.length);
      for (let c = 0; c < 3; c++) {
        for (let i = 0; i < pixels; i++) {
          for (let b = 0; b < want; b++) out[(i * 3 + c) * want + b] = bytes[(c * pixels + i) * want + b]!;
        }
      }
      bytes = out;
    }
    return bytes;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
