import { describe, expect, it } from 'vitest';
import { readMultipart, MultipartError } from '../src/dicomweb/multipart.ts';

async function collect(body: string | Buffer, boundary: string, chunk = 3) {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1');
  async function* source() {
    for (let i = 0; i < buf.length; i += chunk) yield buf.subarray(i, i + chunk);
  }
  const parts: { headers: Record<string, string>; body: string }[] = [];
  for await (const p of readMultipart(source(), boundary)) {
    const chunks: Buffer[] = [];
    for await (const c of p.body) chunks.push(c);
    parts.push({ headers: Object.fromEntries(p.headers), body: Buffer.concat(chunks).toString('latin1') });
  }
  return parts;
}

describe('multipart/related reader', () => {
  it('reads parts with preamble, epilogue, padding and header-less parts, at any chunking', async () => {
    const body =
      'preamble text\r\n--b0undary'.concat(' \t\r\nContent-Type: application/dicom\r\nX-Extra:  v \r\n\r\n', 'AB\r\n--b0undarX\r\n', '\r\n--b0undary\r\n\r\nsecond', '\r\n--b0undary--\r\nepilogue');
    for (const chunk of [1, 2, 5, 13, 1000]) {
      expect(await collect(body, 'b0undary', chunk)).toEqual([
        { headers: { 'content-type': 'application/dicom', 'x-extra': 'v' }, body: 'AB\r\n--b0undarX\r\n' },
        { headers: {}, body: 'second' },
      ]);
    }
  });

  it('finds a delimiter split anywhere between chunks of any size around its length, and passes body data on as views of the source chunks', async () => {
    // delimiter "\r\n--b0undary" is 12 bytes; near-misses sit in the data next to chunk edges
    const data = 'x\r\n--b0undarX\r\n-\r\n--b0undar'.repeat(3);
    const body = Buffer.from(`--b0undary\r\n\r\n${data}\r\n--b0undary\r\n\r\nz\r\n--b0undary--`, 'latin1');
    for (let chunk = 9; chunk <= 15; chunk++) {
      for (let shift = 0; shift < chunk; shift++) {
        const sources: Buffer[] = [];
        async function* source() {
          const cuts = [0, shift, ...Array.from({ length: Math.ceil(body.length / chunk) }, (_, k) => shift + (k + 1) * chunk)];
          for (let k = 0; k + 1 < cuts.length || cuts[k]! < body.length; k++) {
            const c = Buffer.from(new Uint8Array(body.subarray(cuts[k], cuts[k + 1] ?? body.length)).buffer); // own ArrayBuffer, not the pool
            sources.push(c);
            if (c.length) yield c;
          }
        }
        const parts: string[] = [];
        for await (const p of readMultipart(source(), 'b0undary')) {
          const chunks: Buffer[] = [];
          for await (const c of p.body) chunks.push(c);
          parts.push(Buffer.concat(chunks).toString('latin1'));
          // With chunks at least delimiter.length - 1 long, only data near the part headers may be copied.
          const copied = chunks.filter((c) => !sources.some((s) => s.buffer === c.buffer)).reduce((n, c) => n + c.length, 0);
          if (chunk >= 11) expect(copied).toBeLessThanOrEqual(2 * chunk);
        }
        expect(parts, `chunk ${chunk}, shift ${shift}`).toEqual([data, 'z']);
      }
    }
  });

  it('keeps binary bodies intact, including CR LF and dashes next to the boundary', async () => {
    const payload = Buffer.from([0x0d, 0x0a, 0x2d, 0x2d, 0x00, 0xff, 0x0d, 0x0a, 0x2d]);
    const body = Buffer.concat([Buffer.from('--x\r\n\r\n'), payload, Buffer.from('\r\n--x--')]);
    const [part] = await collect(body, 'x', 2);
    expect(Buffer.from(part!.body, 'latin1')).toEqual(payload);
  });

  it('lets the consumer skip a part body unread', async () => {
    const body = '--q\r\nA: 1\r\n\r\nfirst\r\n--q\r\nA: 2\r\n\r\nsecond\r\n--q--';
    const seen: string[] = [];
    async function* src() {
      yield Buffer.from(body);
    }
    for await (const p of readMultipart(src(), 'q')) {
      if (p.headers.get('a') === '1') continue;
      for await (const c of p.body) seen.push(c.toString());
    }
    expect(seen.join('')).toBe('second');
  });

  it('fails clearly on a wrong boundary, a cut-off body and malformed headers', async () => {
    await expect(collect('--other\r\n\r\nx\r\n--other--', 'b')).rejects.toThrowError(/no multipart boundary found/);
    await expect(collect('--b\r\n\r\nhalf a body', 'b')).rejects.toThrowError(/closing boundary missing/);
    await expect(collect('--b\r\nno colon here\r\n\r\nx\r\n--b--', 'b')).rejects.toThrowError(MultipartError);
    await expect(collect('--b\r\n\r\nx\r\n--b', 'b')).rejects.toThrowError(/closing "--" missing/);
    await expect(collect('--bjunk\r\n\r\nx\r\n--b--', 'b')).rejects.toThrowError(/unexpected characters after a multipart boundary/);
  });
});
