import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * Streaming writer for multipart/related responses (RFC 2046 / RFC 2387), as
 * WADO-RS sends them. Each part's body is an async iterable of chunks (a file
 * read stream, a generated buffer...), pulled only when the socket wants more,
 * so a study of any size goes out in bounded memory.
 */

export interface OutgoingPart {
  /** Full Content-Type of the part, e.g. 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1'. */
  contentType: string;
  /** Optional extra headers (e.g. Content-Location). */
  headers?: Record<string, string>;
  /** Known length in bytes, sent as Content-Length when given. */
  length?: number;
  body: AsyncIterable<Uint8Array> | Uint8Array;
}

/** A random boundary: 32 hex digits after a fixed prefix (well under RFC 2046's 70 characters). */
export function randomBoundary(): string {
  return `carpus-${randomBytes(16).toString('hex')}`;
}

/** `multipart/related; type="<partType>"; boundary=<boundary>` plus any extra parameters. */
export function multipartContentType(partType: string, boundary: string, extra: Record<string, string> = {}): string {
  let s = `multipart/related; type="${partType}"`;
  for (const [k, v] of Object.entries(extra)) s += `; ${k}=${v}`;
  return `${s}; boundary=${boundary}`;
}

/**
 * The body of a multipart/related response as a Readable. `parts` is pulled
 * lazily: the next part (and its file) is opened only when the previous one
 * has been written. An error thrown while producing a part destroys the
 * stream; the client then sees a body without its closing delimiter.
 */
export function multipartStream(boundary: string, parts: AsyncIterable<OutgoingPart> | Iterable<OutgoingPart>): Readable {
  async function* generate(): AsyncGenerator<Buffer, void, undefined> {
    for await (const part of parts) {
      let head = `--${boundary}\r\nContent-Type: ${part.contentType}\r\n`;
      if (part.length !== undefined) head += `Content-Length: ${part.length}\r\n`;
      for (const [k, v] of Object.entries(part.headers ?? {})) head += `${k}: ${v}\r\n`;
      yield Buffer.from(`${head}\r\n`, 'latin1');
      if (part.body instanceof Uint8Array) {
        yield Buffer.from(part.body.buffer, part.body.byteOffset, part.body.byteLength);
      } else {
        for await (const chunk of part.body) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
      yield Buffer.from('\r\n', 'latin1');
    }
    yield Buffer.from(`--${boundary}--\r\n`, 'latin1');
  }
  return Readable.from(generate(), { objectMode: false });
}
