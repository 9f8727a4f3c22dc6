import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/**
 * The archive's files: every instance kept byte for byte as received, named by
 * its SHA-256 under objects/. A file is written under tmp/, fsynced, then
 * renamed into place, so no half-written file is ever visible under objects/.
 */
export class FileStore {
  readonly objectsDir: string;
  readonly tmpDir: string;
  readonly quarantineDir: string;
  /** Object directories known to exist (created and fsynced into their parent). */
  private readonly knownDirs = new Set<string>();

  constructor(readonly dataDir: string) {
    this.objectsDir = path.join(dataDir, 'objects');
    this.tmpDir = path.join(dataDir, 'tmp');
    this.quarantineDir = path.join(dataDir, 'quarantine');
  }

  /**
   * Creates the folders, the 256 object directories included, and removes temporary files left by
   * a crash. The object directories are made here, once, so storing an instance never creates one:
   * a new directory is an entry of its parent and needs its own fsync before the file can be indexed
   * (with the former two-level fan-out, 65,536 directories made as instances came, that was one
   * mkdir and one more directory fsync per instance for the first hundred thousand or so instances).
   */
  async init(): Promise<number> {
    for (const d of [this.objectsDir, this.tmpDir, this.quarantineDir]) await fsp.mkdir(d, { recursive: true });
    const present = new Set(await fsp.readdir(this.objectsDir));
    let made = 0;
    for (let i = 0; i < 256; i++) {
      const name = i.toString(16).padStart(2, '0');
      if (!present.has(name)) {
        await fsp.mkdir(path.join(this.objectsDir, name), { recursive: true });
        made++;
      }
      this.knownDirs.add(path.join(this.objectsDir, name));
    }
    if (made) await fsyncDir(this.objectsDir);
    let removed = 0;
    for (const f of await fsp.readdir(this.tmpDir)) {
      await fsp.rm(path.join(this.tmpDir, f), { force: true });
      removed++;
    }
    return removed;
  }

  /**
   * Streams a body into a temporary file, hashing it on the way. The fsync is started when the
   * last byte is written but not awaited: it runs in the thread pool while the caller parses this
   * part and receives the next ones, and several fsyncs in flight share one journal commit.
   * `temp.durable` settles when the data are on disk; nothing may be indexed before that.
   * Bodies up to `keepBytes` are also returned in memory, so they are parsed without a re-read.
   * A body that ends within SMALL_BYTES is held until its end and written with synchronous calls
   * (see writeSmall); a larger one is streamed to a file opened once it passes that size.
   */
  async writeTemp(body: AsyncIterable<Buffer>, maxBytes: number, keepBytes = 0): Promise<TempFile> {
    const tmpPath = path.join(this.tmpDir, `${randomUUID()}.part`);
    const hash = createHash('sha256');
    let fh: FileHandle | undefined;
    let out: BatchedWriter | undefined;
    let held: Buffer[] = []; // chunks not handed to a writer yet
    let size = 0;
    let kept: Buffer[] | undefined = keepBytes > 0 ? [] : undefined;
    try {
      for await (const chunk of body) {
        size += chunk.length;
        if (size > maxBytes) throw new TooLargeError(maxBytes);
        hash.update(chunk);
        if (out) await out.push(chunk);
        else {
          held.push(chunk);
          if (size > SMALL_BYTES) {
            fh = await fsp.open(tmpPath, 'wx', 0o640);
            out = new BatchedWriter(fh);
            for (const c of held) await out.push(c);
            held = [];
          }
        }
        if (kept && size <= keepBytes) kept.push(chunk);
        else kept = undefined;
      }
      await out?.end();
    } catch (err) {
      if (fh) {
        await out?.end().catch(() => undefined); // no write may still run when the file is closed and removed
        await fh.close().catch(() => undefined);
        await fsp.rm(tmpPath, { force: true });
      }
      throw err;
    }
    let durable: Promise<void>;
    if (fh) {
      const f = fh;
      durable = f.sync().finally(() => f.close());
    } else {
      durable = writeSmall(tmpPath, held, size);
    }
    durable.catch(() => undefined); // awaited (and its failure handled) before indexing
    const bytes = kept && (kept.length === 1 ? kept[0] : Buffer.concat(kept, size));
    return { path: tmpPath, size, sha256: hash.digest('hex'), bytes, durable };
  }

  /**
   * objects/<first two hex digits>/<sha256>.dcm: 256 directories, about 4,000 files each at a
   * million instances. Files stored under the former objects/XX/YY/ layout keep their paths (each
   * index row has its own storage_path).
   */
  objectPath(sha256: string): string {
    return path.join('objects', sha256.slice(0, 2), `${sha256}.dcm`);
  }

  /**
   * Moves a durable temp file to its content-addressed place; returns the path relative to the
   * data dir and adds to `dirs` the directories whose entries changed: they must be fsynced
   * (`syncDirs`, once for a group of files) before the file is indexed.
   */
  async place(temp: TempFile, dirs: Set<string>): Promise<string> {
    const rel = this.objectPath(temp.sha256);
    const abs = path.join(this.dataDir, rel);
    const dir = path.dirname(abs);
    if (!this.knownDirs.has(dir)) {
      const first = await fsp.mkdir(dir, { recursive: true });
      // A new directory is itself an entry of its parent: those need an fsync too.
      if (first) for (let d = dir; d.length >= first.length; d = path.dirname(d)) dirs.add(path.dirname(d));
      this.knownDirs.add(dir);
    }
    if (fs.existsSync(abs)) {
      // Same bytes already stored (content-addressed): keep the existing file.
      fs.rmSync(temp.path, { force: true });
    } else {
      // Synchronous: a rename is one metadata update (tens of µs), less than the thread-pool
      // round trip of fsp.rename on a busy core (see SMALL_BYTES).
      fs.renameSync(temp.path, abs);
      dirs.add(dir);
    }
    return rel;
  }

  /** fsyncs directories, all at once (their flushes share journal commits). */
  async syncDirs(dirs: Iterable<string>): Promise<void> {
    await Promise.all([...dirs].map(fsyncDir));
  }

  /** Moves a durable temp file into quarantine (its directory fsynced by `syncDirs(dirs)`). */
  async quarantine(temp: TempFile, dirs: Set<string>): Promise<string> {
    const rel = path.join('quarantine', `${new Date().toISOString().replace(/[:.]/g, '-')}-${temp.sha256}.dcm`);
    fs.renameSync(temp.path, path.join(this.dataDir, rel));
    dirs.add(this.quarantineDir);
    return rel;
  }

  async discard(temp: TempFile): Promise<void> {
    // A small file is unlinked at once (as in place); a large one may take longer to free.
    if (temp.size <= SMALL_BYTES) fs.rmSync(temp.path, { force: true });
    else await fsp.rm(temp.path, { force: true });
  }

  absolute(rel: string): string {
    return path.join(this.dataDir, rel);
  }
}

export interface TempFile {
  path: string;
  size: number;
  sha256: string;
  /** The whole body, when it was small enough to keep (see writeTemp). */
  bytes?: Buffer | undefined;
  /** Settles once the file's data are on disk; rejects if the fsync failed. */
  durable: Promise<void>;
}

export class TooLargeError extends Error {
  override name = 'TooLargeError';
  constructor(readonly maxBytes: number) {
    super(`instance larger than the configured maximum of ${maxBytes} bytes`);
  }
}

/**
 * Bodies up to this size are held in memory until their end and written by writeSmall. Measured
 * on one busy core (2,156-byte files in groups of 32, 2026-11-27): open, writev, fsync, close and
 * rename through fs/promises cost 370-610 µs of CPU per file, mostly thread-pool hand-offs; with
 * synchronous open/write/close/rename and only the fsync in the pool, 210-300 µs. An open and
 * close alone: 70-150 µs awaited, 15-40 µs synchronous (the event loop waits no longer than that).
 */
const SMALL_BYTES = 256 * 1024;

/**
 * Writes a small temporary file with synchronous open/write (the file is new, the bytes in
 * memory) and returns its durability: the fsync, which waits for the disk, stays in the thread
 * pool (callback API, one hand-off) and the descriptor is closed after it.
 */
function writeSmall(file: string, bufs: Buffer[], size: number): Promise<void> {
  const fd = fs.openSync(file, 'wx', 0o640);
  try {
    let done = bufs.length ? fs.writevSync(fd, bufs, 0) : 0;
    while (done < size) {
      // A short write is rare for a regular file but allowed: write the rest.
      const rest = Buffer.concat(bufs, size).subarray(done);
      const n = fs.writeSync(fd, rest, 0, rest.length, done);
      if (n <= 0) throw new Error('write wrote nothing');
      done += n;
    }
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw err;
  }
  return fsyncAndClose(fd);
}

/** fsync in the thread pool (callback API, one hand-off), then a synchronous close; either error rejects. */
function fsyncAndClose(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.fsync(fd, (err) => {
      try {
        fs.closeSync(fd);
      } catch (e) {
        err ??= e as NodeJS.ErrnoException;
      }
      if (err) reject(err);
      else resolve();
    });
  });
}

/** Bytes queued before `push` waits for the write in flight (bounds memory per part). */
const WRITE_QUEUE_BYTES = 4 * 2 ** 20;

/**
 * Appends chunks to a file with one writev in flight while the next chunks queue up. Written by
 * hand because a write per received chunk, each awaited (what fs.WriteStream does too), cost a
 * thread-pool round trip per 64 KiB and held back reading the request until the disk write was done.
 */
export class BatchedWriter {
  private queue: Buffer[] = [];
  private queued = 0;
  private position = 0;
  private inflight: Promise<void> | undefined;
  private error: unknown;
  /** writev calls made (for tests). */
  writes = 0;

  constructor(private readonly fh: FileHandle) {}

  /** Queues a chunk (kept by reference: do not modify it); waits only when too much is queued. */
  async push(chunk: Buffer): Promise<void> {
    if (this.error !== undefined) throw this.error;
    if (!chunk.length) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.inflight) this.kick();
    else if (this.queued >= WRITE_QUEUE_BYTES) await this.inflight;
    if (this.error !== undefined) throw this.error;
  }

  /** Waits until every queued chunk is written; throws the first write error. */
  async end(): Promise<void> {
    while (this.inflight) await this.inflight;
    if (this.error !== undefined) throw this.error;
  }

  private kick(): void {
    const bufs = this.queue;
    const bytes = this.queued;
    this.queue = [];
    this.queued = 0;
    const at = this.position;
    this.position += bytes;
    this.writes++;
    this.inflight = writevAll(this.fh, bufs, at).then(
      () => {
        this.inflight = undefined;
        if (this.queue.length) this.kick();
      },
      (err: unknown) => {
        this.error = err ?? new Error('write failed');
        this.inflight = undefined;
      },
    );
  }
}

async function writevAll(fh: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let total = 0;
  for (const b of bufs) total += b.length;
  let done = (await fh.writev(bufs, position)).bytesWritten;
  // A short write is rare for a regular file but allowed: write the rest.
  while (done < total) {
    let skip = done;
    const rest: Buffer[] = [];
    for (const b of bufs) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    const n = (await fh.writev(rest, position + done)).bytesWritten;
    if (n <= 0) throw new Error('writev wrote nothing');
    done += n;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fd = fs.openSync(dir, 'r'); // synchronous open and close as in writeSmall; the fsync waits in the pool
  await fsyncAndClose(fd);
}
