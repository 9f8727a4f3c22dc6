/**
 * UIDs for the objects carpus writes. With a UID root (`CARPUS_UID_ROOT`, an organisation's
 * registered OID), UIDs are `<root>.<kind>.<decimal>`; without one they are UUID-derived
 * `2.25.<decimal of the 128-bit UUID>` (PS3.5 B.2).
 */
import { createHash, randomBytes } from 'node:crypto';

const UID_RE = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && UID_RE.test(uid);
}

/** The configured root, validated; undefined means 2.25 UIDs. */
export function uidRoot(explicit?: string): string | undefined {
  const root = (explicit ?? process.env.CARPUS_UID_ROOT ?? '').trim().replace(/\.$/, '');
  if (!root) return undefined;
  if (!isValidUid(root) || root.length > 40) {
    throw new Error(`CARPUS_UID_ROOT "${root}" is not a valid UID root (digits and dots, no leading zeros, at most 40 characters)`);
  }
  return root;
}

/** 16 bytes → RFC 9562 UUID bits (version nibble and variant set) → unsigned decimal. */
function uuidDecimal(bytes: Buffer, version: number): string {
  const b = Buffer.from(bytes.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | (version << 4);
  b[8] = (b[8]! & 0x3f) | 0x80;
  return BigInt(`0x${b.toString('hex')}`).toString(10);
}

/** Decimal of as many leading bits of `bytes` as fit in `digits` decimal digits (no leading zero). */
function fitDecimal(bytes: Buffer, digits: number): string {
  let n = BigInt(`0x${bytes.toString('hex')}`);
  const max = 10n ** BigInt(digits);
  n %= max;
  const s = n.toString(10);
  return s === '0' ? '1' : s;
}

function fromBytes(bytes: Buffer, kind: number, version: number, root?: string): string {
  if (!root) return `2.25.${uuidDecimal(bytes, version)}`;
  const prefix = `${root}.${kind}.`;
  const digits = Math.min(39, 64 - prefix.length);
  if (digits < 10) throw new Error(`UID root "${root}" is too long to leave room for unique suffixes`);
  return prefix + fitDecimal(bytes, digits);
}

/** A new unique UID (random, 122 bits of entropy in the 2.25 form). */
export function newUid(root?: string): string {
  return fromBytes(randomBytes(16), 1, 4, uidRoot(root));
}

/**
 * A UID that is a pure function of `parts` (the same inputs give the same UID): used for the
 * Device Observer UID, which must change with every model version or weights file.
 */
export function deterministicUid(parts: readonly string[], root?: string): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  return fromBytes(digest, 2, 8, uidRoot(root));
}

/** Device Observer UID of a model: from its name, version and weights SHA-256. */
export function deviceObserverUid(model: { name: string; version: string; sha256: string }, root?: string): string {
  return deterministicUid(['carpus-device-observer', model.name, model.version, model.sha256.toLowerCase()], root);
}
