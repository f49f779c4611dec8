/**
 * Ed25519 signatures over the canonical bytes of vault records, framed with a domain and the
 * vault id so a record cannot be replayed into another vault or read as another kind of input.
 */
import { frame } from './encoding.js';
import type { Identity } from '../core/ports.js';
import { signDetached, verifyDetached } from './primitives.js';

const RECORD_SIGNATURE_DOMAIN = 'secrets-record-v1';

/**
 * The bytes a format-1 record's signature covers: the canonical form of the record (without its
 * `sig` field), framed. This version only verifies them; the test suites' format-1 writer signs.
 */
export function recordSignedBytes(vaultId: string, canonical: string): Uint8Array {
  return frame([RECORD_SIGNATURE_DOMAIN, vaultId, canonical]);
}

/** True when `sig` is a valid signature by `publicKey` over the record. */
export async function verifyRecord(publicKey: Uint8Array, vaultId: string, canonical: string, sig: Uint8Array): Promise<boolean> {
  return verifyDetached(sig, recordSignedBytes(vaultId, canonical), publicKey);
}

/**
 * Domain of a format-2 entry's signature. It differs from RECORD_SIGNATURE_DOMAIN, so no
 * format-1 record signature verifies as an entry, and from every other domain here.
 */
const ENTRY_SIGNATURE_DOMAIN = 'secrets-entry-v2';

/**
 * Signs a format-2 entry: `canonical` is the entry without `sig`, `vaultHash` is G (empty for the
 * genesis, whose hash is G). Synchronous: replay checks signatures through a synchronous port.
 */
export function signEntry(identity: Identity, vaultHash: string, canonical: string): Uint8Array {
  return signDetached(entrySignedBytes(vaultHash, canonical), identity.signSecret.reveal());
}

/** The bytes a format-2 entry's signature covers (as `signEntry` and `verifyEntry` frame them). */
export function entrySignedBytes(vaultHash: string, canonical: string): Uint8Array {
  return frame([ENTRY_SIGNATURE_DOMAIN, vaultHash, canonical]);
}

/** True when `sig` is a valid signature by `publicKey` over a format-2 entry (libsodium-exact). */
export function verifyEntry(publicKey: Uint8Array, vaultHash: string, canonical: string, sig: Uint8Array): boolean {
  return verifyDetached(sig, entrySignedBytes(vaultHash, canonical), publicKey);
}

const AUDIT_SIGNATURE_DOMAIN = 'secrets-audit-v1';

/** Signs one published audit line (the team trail); a different domain from vault records. */
export async function signAuditLine(identity: Identity, vaultId: string, line: string): Promise<Uint8Array> {
  return signDetached(frame([AUDIT_SIGNATURE_DOMAIN, vaultId, line]), identity.signSecret.reveal());
}

/** True when `sig` is a valid signature by `publicKey` over a published audit line. */
export async function verifyAuditLine(publicKey: Uint8Array, vaultId: string, line: string, sig: Uint8Array): Promise<boolean> {
  return verifyDetached(sig, frame([AUDIT_SIGNATURE_DOMAIN, vaultId, line]), publicKey);
}
