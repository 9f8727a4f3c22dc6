import contentType from 'content-type';

export interface MediaRange {
  type: string; // lower case "type/subtype"
  parameters: Record<string, string>;
  q: number;
}

/** Splits on commas that are not inside quoted strings. */
function splitList(header: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const c = header[i]!;
    if (c === '"' && header[i - 1] !== '\\') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter(Boolean);
}

/**
 * Parses an Accept header into media ranges, best first. DICOMweb puts
 * parameters such as type="application/dicom" and transfer-syntax=... in
 * Accept, which general-purpose negotiators drop, hence this small parser
 * on top of the content-type package.
 */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header || header.trim() === '') return [{ type: '*/*', parameters: {}, q: 1 }];
  const ranges: MediaRange[] = [];
  for (const item of splitList(header)) {
    try {
      const parsed = contentType.parse(item.replace(/;\s*$/, ''));
      const { q, ...parameters } = parsed.parameters;
      const qv = q === undefined ? 1 : Number(q);
      ranges.push({ type: parsed.type.toLowerCase(), parameters, q: Number.isFinite(qv) ? qv : 0 });
    } catch {
      // content-type rejects "*/*" forms with odd spacing; fall back to the bare type.
      const bare = item.split(';')[0]!.trim().toLowerCase();
      if (/^[\w.+*-]+\/[\w.+*-]+$/.test(bare)) ranges.push({ type: bare, parameters: {}, q: 1 });
    }
  }
  return ranges.filter((r) => r.q > 0).sort((a, b) => b.q - a.q);
}

export function parseContentType(header: string | undefined): { type: string; parameters: Record<string, string> } | undefined {
  if (!header) return undefined;
  try {
    const ct = contentType.parse(header);
    return { type: ct.type.toLowerCase(), parameters: ct.parameters };
  } catch {
    return undefined;
  }
}

export function typeMatches(range: string, type: string): boolean {
  if (range === '*/*') return true;
  const [rt, rs] = range.split('/');
  const [t, s] = type.split('/');
  return rt === t && (rs === '*' || rs === s);
}
