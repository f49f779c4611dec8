/** SHA-256 over vault bytes (node:crypto: hardware-accelerated, no WASM start-up). */
import { createHash, hash } from 'node:crypto';
import { frame } from './encoding.js';

/** Domain of a secret's derived id, so no other hash in the project can collide with it. */
const SECRET_ID_DOMAIN = 'secrets secret id v1';

/**
 * A secret's id: a UUID (version 8, RFC 9562) made of SHA-256 over the vault id and the name.
 * Secrets made before ids were derived have random (version 4) ids, which name no such check.
 */
export function secretIdFor(vaultId: string, name: string): string {
  return uuidV8(createHash('sha256').update(`${SECRET_ID_DOMAIN}\0${vaultId}\0${name}`).digest());
}

/** The first 16 bytes of a digest as a version 8 UUID (RFC 9562). */
function uuidV8(h: Buffer): string {
  h[6] = ((h[6] as number) & 0x0f) | 0x80;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** Domain of a secret's id in a format-2 vault (named by G, the hash of its genesis line). */
const SECRET_ID_DOMAIN_V2 = 'secrets secret id v2';

/** A format-2 secret's id: a version 8 UUID of SHA-256(frame("secrets secret id v2", G, name)). */
export function secretIdInLog(vaultHash: string, name: string): string {
  return uuidV8(
    createHash('sha256')
      .update(frame([SECRET_ID_DOMAIN_V2, vaultHash, name]))
      .digest(),
  );
}

/**
 * SHA-256 as 44 characters of padded base64: how format 2 names a line (and its other digests).
 * One-shot: a read hashes every line, and a Hash object per line costs more than the hashing.
 */
export function sha256Base64(bytes: string | Uint8Array): string {
  return hash('sha256', bytes, 'base64');
}

/** Whether `id` is a derived secret id (version 8), which must match its vault and name. */
export function isDerivedSecretId(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id);
}

/** Hex SHA-256 of the given chunks, in order. */
export function sha256Hex(chunks: Iterable<string | Uint8Array>): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}
