import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
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

  constructor(readonly dataDir: string) {
    this.objectsDir = path.join(dataDir, 'objects');
    this.tmpDir = path.join(dataDir, 'tmp');
    this.quarantineDir = path.join(dataDir, 'quarantine');
  }

  /** Creates the folders and removes temporary files left by a crash. */
  async init(): Promise<number> {
    for (const d of [this.objectsDir, this.tmpDir, this.quarantineDir]) await fsp.mkdir(d, { recursive: true });
    let removed = 0;
    for (const f of await fsp.readdir(this.tmpDir)) {
      await fsp.rm(path.join(this.tmpDir, f), { force: true });
      removed++;
    }
    return removed;
  }

  /** Streams a body into a temporary file, hashing it on the way. */
  async writeTemp(body: AsyncIterable<Buffer>, maxBytes: number): Promise<TempFile> {
    const tmpPath = path.join(this.tmpDir, `${randomUUID()}.part`);
    const fh = await fsp.open(tmpPath, 'wx', 0o640);
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of body) {
        size += chunk.length;
        if (size > maxBytes) throw new TooLargeError(maxBytes);
        hash.update(chunk);
        await fh.write(chunk);
      }
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmpPath, { force: true });
      throw err;
    }
    await fh.close();
    return { path: tmpPath, size, sha256: hash.digest('hex') };
  }

  objectPath(sha256: string): string {
    return path.join('objects', sha256.slice(0, 2), sha256.slice(2, 4), `${sha256}.dcm`);
  }

  /** Moves a temp file to its content-addressed place; returns the path relative to the data dir. */
  async commit(temp: TempFile): Promise<string> {
    const rel = this.objectPath(temp.sha256);
    const abs = path.join(this.dataDir, rel);
    await fsp.mkdir(path.dirname(abs), { recursive: true });
    if (fs.existsSync(abs)) {
      // Same bytes already stored (content-addressed): keep the existing file.
      await fsp.rm(temp.path, { force: true });
    } else {
      await fsp.rename(temp.path, abs);
      await fsyncDir(path.dirname(abs));
    }
    return rel;
  }

  async quarantine(temp: TempFile): Promise<string> {
    const rel = path.join('quarantine', `${new Date().toISOString().replace(/[:.]/g, '-')}-${temp.sha256}.dcm`);
    await fsp.rename(temp.path, path.join(this.dataDir, rel));
    await fsyncDir(this.quarantineDir);
    return rel;
  }

  async discard(temp: TempFile): Promise<void> {
    await fsp.rm(temp.path, { force: true });
  }

  absolute(rel: string): string {
    return path.join(this.dataDir, rel);
  }
}

export interface TempFile {
  path: string;
  size: number;
  sha256: string;
}

export class TooLargeError extends Error {
  override name = 'TooLargeError';
  constructor(readonly maxBytes: number) {
    super(`instance larger than the configured maximum of ${maxBytes} bytes`);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
