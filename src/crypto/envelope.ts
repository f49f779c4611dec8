/**
 * Envelope encryption of secret values (docs/vault-format.md): a fresh 32-byte data key per
 * version, XChaCha20-Poly1305 with AAD binding vault, secret, version and value type, and the
 * data key sealed (crypto_box_seal) to each reader, in libsodium's formats (primitives.ts).
 * Any failure throws INTEGRITY; nothing here returns "not found".
 */
import { randomBytes } from 'node:crypto';
import { SecretsError } from '../core/errors.js';
import { frame } from './encoding.js';
import type { Identity, PublicIdentity } from '../core/ports.js';
import { SecretBytes } from '../core/secret-bytes.js';
import { aeadDecrypt, aeadEncrypt, boxSeal, boxSealOpen } from './primitives.js';

/** Data key size (XChaCha20-Poly1305 key). */
const DATA_KEY_BYTES = 32;
/** 192-bit nonces are safe to pick at random (libsodium docs). node:crypto is 25x faster here. */
const NONCE_BYTES = 24;
/** Domain separation for value AAD; bump with the vault format. */
const VALUE_AAD_DOMAIN = 'secrets-value-v1';
const VALUE_AAD_DOMAIN_V2 = 'secrets-value-v2';

/** What a ciphertext is bound to: moving it anywhere else makes decryption fail. */
export interface ValueContext {
  readonly vaultId: string;
  readonly secretId: string;
  readonly versionId: string;
  readonly type: 'string' | 'binary';
  /** Format 2: h(genesis) and the member who encrypted the value, both bound into the AAD. */
  readonly bound?: { readonly vault: string; readonly writer: string };
}

/** A sealed value as stored: nonce, ciphertext and the data key sealed per reader id. */
export interface SealedValue {
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly keys: ReadonlyMap<string, Uint8Array>;
}

function aad(ctx: ValueContext): Uint8Array {
  if (ctx.bound) return frame([VALUE_AAD_DOMAIN_V2, ctx.bound.vault, ctx.secretId, ctx.versionId, ctx.type, ctx.bound.writer]);
  return frame([VALUE_AAD_DOMAIN, ctx.vaultId, ctx.secretId, ctx.versionId, ctx.type]);
}

/** Encrypts `value` under a fresh data key sealed to every reader. */
export async function sealValue(value: SecretBytes, ctx: ValueContext, readers: readonly PublicIdentity[]): Promise<SealedValue> {
  const dataKey = new Uint8Array(randomBytes(DATA_KEY_BYTES));
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  try {
    const ciphertext = aeadEncrypt(value.reveal(), aad(ctx), nonce, dataKey);
    const keys = new Map<string, Uint8Array>();
    for (const reader of readers) keys.set(reader.id, boxSeal(dataKey, reader.enc));
    return { nonce, ciphertext, keys };
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Re-seals a version's data key to more readers. The key must open with `identity` and must
 * decrypt the value, so nobody is ever handed a key that does not belong to this version.
 */
export async function shareDataKey(
  sealed: SealedValue,
  ctx: ValueContext,
  identity: Identity,
  readers: readonly PublicIdentity[],
): Promise<ReadonlyMap<string, Uint8Array>> {
  const dataKey = openDataKey(sealed, ctx, identity);
  try {
    try {
      aeadDecrypt(sealed.ciphertext, aad(ctx), sealed.nonce, dataKey).fill(0);
    } catch {
      throw damagedVersion(ctx);
    }
    const keys = new Map<string, Uint8Array>();
    for (const reader of readers) keys.set(reader.id, boxSeal(dataKey, reader.enc));
    return keys;
  } finally {
    dataKey.fill(0);
  }
}

function damagedVersion(ctx: ValueContext): SecretsError {
  return new SecretsError(
    'INTEGRITY',
    `version ${ctx.versionId} of secret ${ctx.secretId} failed to decrypt: the vault file was altered or damaged`,
    'restore the vault file from a backup or from git; `secrets doctor` checks the whole file',
  );
}

function openDataKey(sealed: SealedValue, ctx: ValueContext, identity: Identity): Uint8Array {
  const sealedKey = sealed.keys.get(identity.id);
  if (!sealedKey) {
    throw new SecretsError(
      'DECRYPTION_FAILED',
      `version ${ctx.versionId} is not encrypted to this identity (${identity.id})`,
      'ask a member who can read it to re-share the secret with you',
    );
  }
  try {
    const dataKey = boxSealOpen(sealedKey, identity.enc, identity.encSecret.reveal());
    if (dataKey.length !== DATA_KEY_BYTES) throw new Error('bad data key length');
    return dataKey;
  } catch {
    throw damagedVersion(ctx);
  }
}

/** Opens a sealed value with `identity`. Throws INTEGRITY on any mismatch or damage. */
export async function openValue(sealed: SealedValue, ctx: ValueContext, identity: Identity): Promise<SecretBytes> {
  const dataKey = openDataKey(sealed, ctx, identity);
  try {
    return new SecretBytes(aeadDecrypt(sealed.ciphertext, aad(ctx), sealed.nonce, dataKey));
  } catch {
    throw damagedVersion(ctx);
  } finally {
    dataKey.fill(0);
  }
}
