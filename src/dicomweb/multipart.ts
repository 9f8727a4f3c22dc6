/**
 * Streaming reader for multipart/related bodies (RFC 2046 / RFC 2387).
 *
 * Written here because no maintained npm package streams multipart/related:
 * busboy takes only multipart/form-data, dicer is unmaintained, and
 * @remix-run/multipart-parser buffers each part in memory. A STOW-RS part may
 * be a large multi-frame instance, so part bodies are handed on chunk by chunk
 * and memory stays bounded by the chunk size, whatever the request size.
 */

export class MultipartError extends Error {
  override name = 'MultipartError';
}

export interface MultipartPart {
  /** Header names in lower case. */
  headers: Map<string, string>;
  /** The body; must be consumed (or abandoned) before the next part is read. */
  body: AsyncGenerator<Buffer, void, undefined>;
}

export interface MultipartLimits {
  maxHeaderBytes?: number;
  maxParts?: number;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

export async function* readMultipart(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  boundary: string,
  limits: MultipartLimits = {},
): AsyncGenerator<MultipartPart, void, undefined> {
  // RFC 2046 caps boundaries at 70 characters, but real peers exceed it: Orthanc 1.10's
  // STOW-RS client sends 73 (two UUIDs joined by '-'). Accept up to 256.
  if (!boundary || boundary.length > 256) throw new MultipartError('multipart boundary missing or longer than 256 characters');
  const maxHeaderBytes = limits.maxHeaderBytes ?? 16 * 1024;
  const maxParts = limits.maxParts ?? 100_000;
  const it = source[Symbol.asyncIterator]();
  const dashBoundary = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let buf: Buffer = Buffer.alloc(0);
  let eof = false;

  const next = async (): Promise<Buffer | undefined> => {
    if (eof) return undefined;
    const r = await it.next();
    if (r.done) {
      eof = true;
      return undefined;
    }
    return typeof r.value === 'string' ? Buffer.from(r.value) : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
  };
  const pull = async (): Promise<boolean> => {
    const chunk = await next();
    if (!chunk) return false;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    return true;
  };
  const need = async (n: number): Promise<boolean> => {
    while (buf.length < n) if (!(await pull())) return false;
    return true;
  };

  // Preamble: the first delimiter is "--boundary" at the start or after a CRLF.
  for (;;) {
    if (buf.length >= dashBoundary.length && buf.subarray(0, dashBoundary.length).equals(dashBoundary)) {
      buf = buf.subarray(dashBoundary.length);
      break;
    }
    const i = buf.indexOf(delimiter);
    if (i >= 0) {
      buf = buf.subarray(i + delimiter.length);
      break;
    }
    if (buf.length > delimiter.length) buf = buf.subarray(buf.length - delimiter.length);
    if (!(await pull())) throw new MultipartError('no multipart boundary found in the body (wrong boundary parameter?)');
  }

  let count = 0;
  for (;;) {
    // After a delimiter: "--" closes the body; else optional padding, then CRLF.
    if (!(await need(2))) throw new MultipartError('body ended right after a boundary (closing "--" missing)');
    if (buf[0] === 0x2d && buf[1] === 0x2d) return;
    for (;;) {
      const crlf = buf.indexOf(CRLF);
      if (crlf >= 0) {
        if (!/^[ \t]*$/.test(buf.subarray(0, crlf).toString('latin1'))) {
          throw new MultipartError('unexpected characters after a multipart boundary');
        }
        buf = buf.subarray(crlf + 2);
        break;
      }
      if (buf.length > 1024) throw new MultipartError('unexpected characters after a multipart boundary');
      if (!(await pull())) throw new MultipartError('body ended inside a multipart boundary line');
    }

    if (++count > maxParts) throw new MultipartError(`more than ${maxParts} parts`);

    // Part headers end at an empty line; a part may also have no headers at all.
    const headers = new Map<string, string>();
    if (!(await need(2))) throw new MultipartError('body ended before part headers');
    if (buf[0] === 0x0d && buf[1] === 0x0a) {
      buf = buf.subarray(2);
    } else {
      let end: number;
      while ((end = buf.indexOf(HEADER_END)) < 0) {
        if (buf.length > maxHeaderBytes) throw new MultipartError(`part headers longer than ${maxHeaderBytes} bytes`);
        if (!(await pull())) throw new MultipartError('body ended inside part headers');
      }
      for (const line of buf.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) throw new MultipartError(`malformed part header line`);
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      buf = buf.subarray(end + HEADER_END.length);
    }

    let done = false;
    let failure: MultipartError | undefined;
    async function* body(): AsyncGenerator<Buffer, void, undefined> {
      for (;;) {
        const i = buf.indexOf(delimiter);
        if (i >= 0) {
          const data = buf.subarray(0, i);
          buf = buf.subarray(i + delimiter.length);
          done = true;
          if (data.length) yield data;
          return;
        }
        // Keep a tail that could be the start of a delimiter split across chunks.
        const safe = buf.length - (delimiter.length - 1);
        if (safe > 0) {
          const data = buf.subarray(0, safe);
          buf = buf.subarray(safe);
          yield data;
        }
        const chunk = await next();
        if (!chunk) {
          failure = new MultipartError('body ended inside a part (closing boundary missing: request cut off?)');
          throw failure;
        }
        if (buf.length === 0 || chunk.length < delimiter.length - 1) {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
          continue;
        }
        // Appending each chunk to the tail (pull) copied the whole body once, 1 GiB of garbage per
        // 1 GiB request. Only a delimiter that starts in the tail needs the two joined, and it ends
        // within the chunk's first delimiter.length - 1 bytes: join just those.
        const bridge = Buffer.concat([buf, chunk.subarray(0, delimiter.length - 1)]);
        const j = bridge.indexOf(delimiter);
        if (j >= 0 && j < buf.length) {
          const data = buf.subarray(0, j);
          buf = chunk.subarray(j + delimiter.length - buf.length);
          done = true;
          if (data.length) yield data;
          return;
        }
        const data = buf; // no delimiter starts in the tail: it is part data
        buf = chunk;
        yield data;
      }
    }
    const gen = body();
    yield { headers, body: gen };
    if (failure) throw failure;
    // Skip whatever the consumer left unread of this part.
    if (!done) {
      const rest = body();
      for await (const _ of rest) void _;
    }
    if (failure) throw failure;
  }
}
