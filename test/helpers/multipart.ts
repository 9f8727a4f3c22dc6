/**
 * A small, strict parser of multipart/related response bodies for the tests
 * (independent of the node's own reader and writer): it checks the boundary
 * framing, the closing delimiter and that nothing but a CRLF follows.
 */
import contentType from 'content-type';

export interface ParsedPart {
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface ParsedMultipart {
  type: string;
  parameters: Record<string, string>;
  parts: ParsedPart[];
}

export function parseMultipartResponse(body: Buffer, contentTypeHeader: string | null): ParsedMultipart {
  if (!contentTypeHeader) throw new Error('no Content-Type');
  const ct = contentType.parse(contentTypeHeader);
  if (ct.type !== 'multipart/related') throw new Error(`not multipart/related: ${contentTypeHeader}`);
  const boundary = ct.parameters.boundary;
  if (!boundary) throw new Error('no boundary');
  const dash = Buffer.from(`--${boundary}`);
  const delim = Buffer.from(`\r\n--${boundary}`);
  if (!body.subarray(0, dash.length).equals(dash)) throw new Error('body does not start with the boundary');
  const parts: ParsedPart[] = [];
  let pos = dash.length;
  for (;;) {
    const after = body.subarray(pos, pos + 2).toString('latin1');
    if (after === '--') {
      const rest = body.subarray(pos + 2).toString('latin1');
      if (rest !== '\r\n' && rest !== '') throw new Error(`unexpected bytes after the closing delimiter: ${JSON.stringify(rest.slice(0, 20))}`);
      break;
    }
    if (after !== '\r\n') throw new Error(`bad delimiter line at ${pos}`);
    pos += 2;
    const headEnd = body.indexOf('\r\n\r\n', pos, 'latin1');
    let headers: Record<string, string> = {};
    let bodyStart: number;
    if (body.subarray(pos, pos + 2).toString('latin1') === '\r\n') {
      bodyStart = pos + 2; // no headers
    } else {
      if (headEnd < 0) throw new Error('part headers not terminated');
      headers = Object.fromEntries(
        body
          .subarray(pos, headEnd)
          .toString('latin1')
          .split('\r\n')
          .map((l) => {
            const i = l.indexOf(':');
            return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
          }),
      );
      bodyStart = headEnd + 4;
    }
    const end = body.indexOf(delim, bodyStart);
    if (end < 0) throw new Error('part not terminated by a delimiter (truncated body?)');
    parts.push({ headers, body: body.subarray(bodyStart, end) });
    pos = end + delim.length;
  }
  return { type: ct.type, parameters: ct.parameters, parts };
}

/** GETs a URL and parses the multipart body (throws unless 2xx multipart/related). */
export async function getMultipart(url: string, accept?: string): Promise<ParsedMultipart & { status: number; headers: Headers }> {
  const res = await fetch(url, { headers: accept === undefined ? {} : { accept } });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status >= 300) throw new Error(`GET ${url} → ${res.status}: ${body.toString('utf8').slice(0, 300)}`);
  return { ...parseMultipartResponse(body, res.headers.get('content-type')), status: res.status, headers: res.headers };
}
