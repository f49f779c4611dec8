/**
 * Byte encodings used in the vault file: canonical base64 (standard alphabet, padded) and the
 * length-prefixed framing used for every multi-field AAD and signature input, so that no two
 * different tuples share an encoding (SOPS joins fields with ":", so ("a:b", "c") and ("a", "b:c")
 * authenticate alike).
 */
import { Buffer } from 'node:buffer';

/** Standard padded base64. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes canonical base64; returns undefined for anything else (non-canonical is refused). */
export function fromBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const EXACT = new Map<number, RegExp>();

/**
 * Whether `text` is the canonical base64 of exactly `bytes` bytes: `fromBase64(text)?.length ===
 * bytes`, decided by one regular expression (the last character's unused bits must be zero), so
 * a reader that checks every hash of a large file decodes none of them.
 */
export function isBase64Of(text: string, bytes: number): boolean {
  let re = EXACT.get(bytes);
  if (re === undefined) {
    const whole = Math.floor(bytes / 3) * 4;
    const tail = bytes % 3 === 0 ? '' : bytes % 3 === 1 ? '[A-Za-z0-9+/][AQgw]==' : '[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=';
    re = new RegExp(`^[A-Za-z0-9+/]{${whole}}${tail}$`);
    EXACT.set(bytes, re);
  }
  return re.test(text);
}

/** base64url without padding, for key strings people copy. */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Decodes base64url without padding; undefined when not canonical. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** u32be(length) ‖ bytes for each part. Injective: different tuples never collide. */
export function frame(parts: readonly (string | Uint8Array)[]): Uint8Array {
  const encoded = parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)));
  const total = encoded.reduce((n, p) => n + 4 + p.length, 0);
  const out = Buffer.alloc(total);
  let at = 0;
  for (const p of encoded) {
    out.writeUInt32BE(p.length, at);
    p.copy(out, at + 4);
    at += 4 + p.length;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
