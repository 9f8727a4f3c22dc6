import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchedWriter, FileStore, TooLargeError } from '../src/store/files.ts';

/** Chunks of uneven sizes (1 B to 100 KiB), `total` bytes in all. */
function chunksOf(total: number): Buffer[] {
  const out: Buffer[] = [];
  let left = total;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, 1 + ((i * 7919) % (100 * 1024)));
    out.push(randomBytes(n));
    left -= n;
  }
  return out;
}

async function* stream(chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield c;
}

describe('FileStore temporary files', () => {
  let dir: string;
  let store: FileStore;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-files-'));
    store = new FileStore(dir);
    await store.init();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes every byte in order, hashes them and keeps a small body in memory', async () => {
    const chunks = chunksOf(9 * 2 ** 20); // over the 4 MiB write queue: push waits at least once
    const whole = Buffer.concat(chunks);
    const temp = await store.writeTemp(stream(chunks), 2 ** 30, 16 * 2 ** 20);
    await temp.durable;
    expect(temp.size).toBe(whole.length);
    expect(temp.sha256).toBe(createHash('sha256').update(whole).digest('hex'));
    expect(temp.bytes?.equals(whole)).toBe(true);
    expect((await fsp.readFile(temp.path)).equals(whole)).toBe(true);
    await store.discard(temp);
  });

  it('keeps nothing in memory above keepBytes, still writes it all', async () => {
    const chunks = chunksOf(3 * 2 ** 20);
    const temp = await store.writeTemp(stream(chunks), 2 ** 30, 2 ** 20);
    await temp.durable;
    expect(temp.bytes).toBeUndefined();
    expect((await fsp.readFile(temp.path)).equals(Buffer.concat(chunks))).toBe(true);
    await store.discard(temp);
  });

  it('makes the 256 object directories at start: placing a file makes none and names only its own for fsync', async () => {
    const names = (await fsp.readdir(store.objectsDir)).sort();
    expect(names).toHaveLength(256);
    expect([names[0], names[255]]).toEqual(['00', 'ff']);
    const temp = await store.writeTemp(stream(chunksOf(5000)), 2 ** 30, 2 ** 20);
    await temp.durable;
    const dirs = new Set<string>();
    const rel = await store.place(temp, dirs);
    expect(rel).toBe(path.join('objects', temp.sha256.slice(0, 2), `${temp.sha256}.dcm`));
    expect([...dirs]).toEqual([path.join(store.objectsDir, temp.sha256.slice(0, 2))]);
    expect(await fsp.readdir(store.objectsDir)).toHaveLength(256);
    expect((await fsp.readFile(store.absolute(rel))).length).toBe(5000);
    // A restart finds them all: nothing to make.
    const again = new FileStore(dir);
    await again.init();
    expect(await fsp.readdir(again.objectsDir)).toHaveLength(256);
  });

  it('writes a small body (held until its end, written at once) byte for byte, also one of several chunks or none', async () => {
    for (const chunks of [[randomBytes(2156)], chunksOf(200_000), [Buffer.alloc(0)], []]) {
      const whole = Buffer.concat(chunks);
      const temp = await store.writeTemp(stream(chunks), 2 ** 30, 2 ** 20);
      expect(temp.size).toBe(whole.length);
      expect(temp.sha256).toBe(createHash('sha256').update(whole).digest('hex'));
      expect(temp.bytes?.equals(whole)).toBe(true);
      await temp.durable;
      expect((await fsp.readFile(temp.path)).equals(whole)).toBe(true);
      const dirs = new Set<string>();
      const rel = await store.place(temp, dirs);
      await store.syncDirs(dirs);
      expect((await fsp.readFile(store.absolute(rel))).equals(whole)).toBe(true);
    }
    expect(await fsp.readdir(store.tmpDir)).toEqual([]);
  });

  it('streams a body that grows past the small size to a file, in order', async () => {
    const chunks = [...chunksOf(250 * 1024), ...chunksOf(300 * 1024)]; // crosses 256 KiB mid-stream
    const whole = Buffer.concat(chunks);
    const temp = await store.writeTemp(stream(chunks), 2 ** 30, 0);
    await temp.durable;
    expect(temp.bytes).toBeUndefined();
    expect(temp.sha256).toBe(createHash('sha256').update(whole).digest('hex'));
    expect((await fsp.readFile(temp.path)).equals(whole)).toBe(true);
    await store.discard(temp);
    expect(await fsp.readdir(store.tmpDir)).toEqual([]);
  });

  it('leaves no file for a small body over the maximum or a body stream that fails', async () => {
    await expect(store.writeTemp(stream(chunksOf(5000)), 4000)).rejects.toBeInstanceOf(TooLargeError);
    async function* broken(): AsyncGenerator<Buffer> {
      yield randomBytes(1000);
      throw new Error('connection reset');
    }
    await expect(store.writeTemp(broken(), 2 ** 30, 2 ** 20)).rejects.toThrow('connection reset');
    expect(await fsp.readdir(store.tmpDir)).toEqual([]);
  });

  it('removes the temporary file of a body over the maximum', async () => {
    await expect(store.writeTemp(stream(chunksOf(2 ** 20)), 100_000)).rejects.toBeInstanceOf(TooLargeError);
    // Over the maximum after the file was opened (past the small size): the file is removed too.
    await expect(store.writeTemp(stream(chunksOf(2 ** 20)), 512 * 1024)).rejects.toBeInstanceOf(TooLargeError);
    expect(await fsp.readdir(store.tmpDir)).toEqual([]);
  });
});

describe('BatchedWriter', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-writer-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('joins chunks that arrive while a write is in flight into one writev', async () => {
    const file = path.join(dir, 'batched');
    const fh = await fsp.open(file, 'wx');
    const w = new BatchedWriter(fh);
    const chunks = Array.from({ length: 200 }, () => randomBytes(64 * 1024)); // 12.5 MiB
    for (const c of chunks) await w.push(c);
    await w.end();
    await fh.close();
    expect((await fsp.readFile(file)).equals(Buffer.concat(chunks))).toBe(true);
    // First chunk alone, then batches of up to 4 MiB (64 chunks) while the previous write runs.
    expect(w.writes).toBeGreaterThan(1);
    expect(w.writes).toBeLessThanOrEqual(10);
  });

  it('reports a failed write from push or end', async () => {
    const fh = await fsp.open(path.join(dir, 'closed'), 'wx');
    await fh.close();
    const w = new BatchedWriter(fh);
    const run = async () => {
      await w.push(Buffer.from('data'));
      await w.end();
    };
    await expect(run()).rejects.toThrow();
  });
});
