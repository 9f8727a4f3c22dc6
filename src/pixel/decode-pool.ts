/**
 * Runs compressed-frame decodes in worker threads with a time limit. A codec that throws gives a
 * PixelError('decode-failed'); one that runs past the limit (CPU time, so that a slow decode on a
 * loaded host is not mistaken for a stuck one) is terminated (PixelError
 * 'decode-timeout') and its worker replaced, so other requests are unaffected. (A native decoder
 * stuck inside C code cannot be interrupted: its worker is abandoned, not awaited.)
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { PixelError } from './errors.ts';
import type { FrameGeometry, CodecResult } from './codecs.ts';
import type { CodecFamily } from './uids.ts';
import type { DecodeRequest, DecodeResponse } from './decode-worker.ts';
import { j2kDecoder } from './openjpeg-native.ts';

export interface PoolOptions {
  /** Worker threads (default: env CARPUS_DECODE_WORKERS or 1). */
  size?: number;
  /** Base time limit per frame in ms of process CPU time (default 5000; wall time is capped at ten times it). */
  timeoutMs?: number;
  /** Added to the limit per million samples (default 100 ms). */
  msPerMegapixel?: number;
}

interface Job {
  req: DecodeRequest;
  resolve: (r: CodecResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Codecs initialised in the worker (until then a job also waits for the start-up). */
  ready: boolean;
  job?: Job;
  timer?: NodeJS.Timeout;
}

function spawnWorker(): Worker {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    // Running from TypeScript sources (tsx, vitest): register tsx's ESM hooks in the worker, then
    // load the worker module. (`execArgv: ['--import', ...]` is not applied to workers on Node 20.)
    const require = createRequire(import.meta.url);
    const tsxApi = path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs');
    const workerUrl = pathToFileURL(path.join(path.dirname(here), 'decode-worker.ts')).href;
    const boot = `import(${JSON.stringify(pathToFileURL(tsxApi).href)}).then((m) => { m.register(); return import(${JSON.stringify(workerUrl)}); });`;
    return new Worker(boot, { eval: true, stdout: true, stderr: true });
  }
  return new Worker(path.join(path.dirname(here), 'decode-worker.js'), { stdout: true, stderr: true });
}

export class DecodePool {
  private readonly size: number;
  private readonly timeoutMs: number;
  private readonly msPerMegapixel: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(opts: PoolOptions = {}) {
    this.size = Math.max(1, opts.size ?? (Number(process.env.CARPUS_DECODE_WORKERS) || 1));
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.msPerMegapixel = opts.msPerMegapixel ?? 100;
  }

  /** Time limit for one frame of this geometry, in ms (a new worker's start-up is added on top). */
  timeLimitMs(g: FrameGeometry): number {
    return Math.ceil(this.timeoutMs + (this.msPerMegapixel * g.rows * g.columns * g.samplesPerPixel) / 1e6);
  }

  /**
   * `handOver`: the caller will not use `encoded` again, so when it is the whole of its
   * ArrayBuffer (a frame joined from several fragments) that buffer moves to the worker instead of
   * being copied; a view into a larger buffer (the file) is still copied.
   */
  decode(family: CodecFamily, encoded: Uint8Array, geometry: FrameGeometry, reduce = 0, handOver = false): Promise<CodecResult> {
    if (this.closed) return Promise.reject(new PixelError('decode-failed', 'decode pool is closed'));
    // Copy unless handed over whole: the encoded view usually points into the whole file, which must not be transferred.
    const whole = encoded.byteOffset === 0 && encoded.byteLength === encoded.buffer.byteLength && encoded.buffer instanceof ArrayBuffer;
    const copy = handOver && whole ? encoded : new Uint8Array(encoded);
    return new Promise<CodecResult>((resolve, reject) => {
      // The JPEG 2000 decoder is chosen here, not in the worker, whose environment is a copy made at its start.
      const j2k = family === 'jpeg2000' ? { j2k: j2kDecoder() } : {};
      this.queue.push({ req: { id: this.nextId++, family, geometry, encoded: copy, ...(reduce > 0 ? { reduce } : {}), ...j2k }, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new PixelError('decode-failed', 'decode pool closed'));
    await Promise.all(this.slots.splice(0).map((s) => this.kill(s)));
  }

  private spawn(): Slot {
    const worker = spawnWorker();
    worker.unref();
    // The codecs may print diagnostics: keep them off the server's stdout.
    worker.stdout.resume();
    worker.stderr.resume();
    const slot: Slot = { worker, ready: false };
    worker.on('message', (res: DecodeResponse) => this.onMessage(slot, res));
    worker.on('error', (err) => this.onDeath(slot, `decoder worker crashed: ${err.message}`));
    worker.on('exit', (code) => this.onDeath(slot, `decoder worker exited (${code})`));
    return slot;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.job);
      if (!slot && this.slots.length < this.size) {
        slot = this.spawn();
        this.slots.push(slot);
      }
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      const g = job.req.geometry;
      const limit = this.timeLimitMs(g) + (slot.ready ? 0 : 20_000);
      // The limit counts the CPU time this process got, not wall time: on an overloaded host a
      // legitimate decode may wait seconds for a core, and killing it aborted WADO-RS responses
      // mid-stream. A decoder looping on a corrupt stream burns CPU, so it still trips the limit;
      // one blocked without using CPU is stopped after ten times the limit in wall time.
      // (process.cpuUsage() sums all threads, so other work only makes the limit trip sooner.)
      const cpu0 = process.cpuUsage();
      const wall0 = performance.now();
      const wallCap = limit * 10;
      const check = (): void => {
        if (slot!.job !== job) return;
        const c = process.cpuUsage(cpu0);
        const cpuMs = (c.user + c.system) / 1000;
        const wallMs = performance.now() - wall0;
        if (cpuMs < limit && wallMs < wallCap) {
          slot!.timer = setTimeout(check, Math.max(10, Math.min(limit - cpuMs, wallCap - wallMs)));
          return;
        }
        job.reject(
          new PixelError('decode-timeout', `Decoding took longer than ${limit} ms of CPU time (${Math.round(wallMs)} ms wall): stream corrupt or too large`),
        );
        slot!.job = undefined;
        this.replace(slot!);
      };
      slot.timer = setTimeout(check, limit);
      slot.worker.postMessage(job.req, [job.req.encoded.buffer as ArrayBuffer]);
    }
  }

  private onMessage(slot: Slot, res: DecodeResponse): void {
    if ('ready' in res) {
      slot.ready = true;
      return;
    }
    const job = slot.job;
    if (!job || job.req.id !== res.id) return;
    clearTimeout(slot.timer);
    slot.job = undefined;
    if (res.ok) {
      job.resolve({ bytes: res.bytes, photometricInterpretation: res.photometricInterpretation, ...(res.range ? { range: res.range } : {}) });
      this.pump();
    } else {
      job.reject(new PixelError('decode-failed', `Decoder error: ${res.message}`));
      // A WASM module that failed may be left in a bad state: start afresh.
      this.replace(slot);
    }
  }

  private onDeath(slot: Slot, why: string): void {
    const idx = this.slots.indexOf(slot);
    if (idx < 0) return; // already replaced
    this.slots.splice(idx, 1);
    clearTimeout(slot.timer);
    slot.job?.reject(new PixelError('decode-failed', why));
    slot.job = undefined;
    if (!this.closed) this.pump();
  }

  private replace(slot: Slot): void {
    const idx = this.slots.indexOf(slot);
    if (idx >= 0) this.slots.splice(idx, 1);
    void this.kill(slot);
    if (!this.closed) this.pump();
  }

  private async kill(slot: Slot): Promise<void> {
    clearTimeout(slot.timer);
    slot.worker.removeAllListeners('exit');
    slot.worker.removeAllListeners('error');
    slot.worker.on('error', () => {});
    // terminate() waits for a native call in progress to return: do not wait on it for ever.
    await Promise.race([slot.worker.terminate().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  }
}

let shared: DecodePool | undefined;

/** The process-wide pool used by decode() unless one is passed in. */
export function defaultPool(): DecodePool {
  shared ??= new DecodePool();
  return shared;
}

/** Stops the shared pool's workers (for tests and shutdown). */
export async function closeDefaultPool(): Promise<void> {
  const p = shared;
  shared = undefined;
  await p?.close();
}
