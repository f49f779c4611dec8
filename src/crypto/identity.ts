/**
 * Identities: a 32-byte seed from which an X25519 key pair (to open sealed data keys) and an
 * Ed25519 key pair (to sign records) are derived. The id is a short fingerprint of both public
 * keys. The seed is the master key; it lives in the OS keychain, an identity file or
 * SECRETS_IDENTITY_KEY, never in the vault.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SecretsError } from '../core/errors.js';
import type { Identity, PublicIdentity } from '../core/ports.js';
import { fromBase64Url, toBase64Url } from './encoding.js';
import { SecretBytes } from '../core/secret-bytes.js';
import { boxSeedKeypair, genericHash, isEd25519PublicKey, isX25519PublicKey, kdfDerive, signSeedKeypair } from './primitives.js';

/** Seed length: libsodium's crypto_kdf key size. */
export const SEED_BYTES = 32;
/** Key-derivation context (crypto_kdf takes exactly 8 bytes). */
const KDF_CONTEXT = 'secrets1';
const SUBKEY_ENCRYPTION = 1;
const SUBKEY_SIGNING = 2;
/**
 * The key of the MAC on this machine's verified state of a format-2 vault (store/verified-state.ts,
 * ADR 0018 §5); until ADR 0018 step 7 it was the read index's (ADR 0013).
 */
const SUBKEY_VERIFIED_STATE = 3;
/** The key of this machine's trust floor MAC for format-2 vaults (store/trust.ts, ADR 0018 §5). */
const SUBKEY_TRUST_FLOOR = 4;
/** Prefix of the private key string, like age's AGE-SECRET-KEY-1. */
export const KEY_PREFIX = 'SECRETS-KEY-1';
/** Bytes of the fingerprint that makes the id: 64 bits is plenty to name members. */
const ID_BYTES = 8;

/** A fresh random seed. */
export function generateSeed(): SecretBytes {
  return new SecretBytes(new Uint8Array(randomBytes(SEED_BYTES)));
}

/** Derives key pairs and id from a seed. */
export async function identityFromSeed(seed: SecretBytes): Promise<Identity> {
  if (seed.length !== SEED_BYTES) {
    throw new SecretsError('IDENTITY_UNAVAILABLE', `identity key has ${seed.length} bytes, expected ${SEED_BYTES}`);
  }
  const encSeed = kdfDerive(32, SUBKEY_ENCRYPTION, KDF_CONTEXT, seed.reveal());
  const signSeed = kdfDerive(32, SUBKEY_SIGNING, KDF_CONTEXT, seed.reveal());
  const enc = boxSeedKeypair(encSeed);
  const sign = signSeedKeypair(signSeed);
  encSeed.fill(0);
  signSeed.fill(0);
  return {
    id: await fingerprint(enc.publicKey, sign.publicKey),
    enc: enc.publicKey,
    sign: sign.publicKey,
    seed,
    encSecret: new SecretBytes(enc.privateKey),
    signSecret: new SecretBytes(sign.privateKey),
  };
}

/** The key that authenticates the verified state: only the holder of the seed can make a header. */
export function verifiedStateKey(identity: Identity): Uint8Array {
  return kdfDerive(32, SUBKEY_VERIFIED_STATE, KDF_CONTEXT, identity.seed.reveal());
}

/** The key that authenticates the trust floor: a forged floor is refused, not read as "never seen". */
export function trustFloorKey(identity: Identity): Uint8Array {
  return kdfDerive(32, SUBKEY_TRUST_FLOOR, KDF_CONTEXT, identity.seed.reveal());
}

/** The id of a pair of public keys: hex of a BLAKE2b fingerprint. */
export async function fingerprint(enc: Uint8Array, sign: Uint8Array): Promise<string> {
  const input = new Uint8Array(enc.length + sign.length);
  input.set(enc, 0);
  input.set(sign, enc.length);
  return Buffer.from(genericHash(ID_BYTES, input, Buffer.from('secrets-identity'))).toString('hex');
}

/** The private key string `SECRETS-KEY-1…` for an identity file or SECRETS_IDENTITY_KEY. */
export function encodeKey(seed: SecretBytes): SecretBytes {
  return SecretBytes.fromString(KEY_PREFIX + toBase64Url(seed.reveal()));
}

/** Parses a private key string; the error never echoes the input. */
export function decodeKey(text: string, source: string): SecretBytes {
  const trimmed = text.trim();
  const seed = trimmed.startsWith(KEY_PREFIX) ? fromBase64Url(trimmed.slice(KEY_PREFIX.length)) : undefined;
  if (!seed || seed.length !== SEED_BYTES) {
    throw new SecretsError('IDENTITY_UNAVAILABLE', `${source} does not hold a valid identity key`, `an identity key is one line starting with ${KEY_PREFIX}`);
  }
  return new SecretBytes(seed);
}

/** Prefix of a public identity string (what `secrets identity show` prints). */
export const PUBLIC_PREFIX = 'secrets-identity-1';
const CHECKSUM_BYTES = 4;

function checksum(payload: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(PUBLIC_PREFIX).update(payload).digest().subarray(0, CHECKSUM_BYTES));
}

/** The one-line public identity: prefix, then base64url of both public keys and a checksum. */
export function encodePublicIdentity(id: { enc: Uint8Array; sign: Uint8Array }): string {
  const payload = new Uint8Array(64);
  payload.set(id.enc, 0);
  payload.set(id.sign, 32);
  const all = new Uint8Array(64 + CHECKSUM_BYTES);
  all.set(payload, 0);
  all.set(checksum(payload), 64);
  return PUBLIC_PREFIX + toBase64Url(all);
}

/** Parses a public identity string; a typo fails the checksum with a clear error. */
export async function decodePublicIdentity(text: string): Promise<PublicIdentity> {
  const trimmed = text.trim();
  const bad = (why: string): SecretsError =>
    new SecretsError(
      'USAGE',
      `not a public identity: ${why}`,
      `run \`secrets identity show\` on the member's machine and pass the line starting with ${PUBLIC_PREFIX}`,
    );
  if (!trimmed.startsWith(PUBLIC_PREFIX)) throw bad(`it does not start with ${PUBLIC_PREFIX}`);
  const all = fromBase64Url(trimmed.slice(PUBLIC_PREFIX.length));
  if (!all || all.length !== 64 + CHECKSUM_BYTES) throw bad('wrong length');
  const payload = all.subarray(0, 64);
  const sum = checksum(payload);
  if (sum.some((b, i) => b !== all[64 + i])) throw bad('the checksum does not match (a typo or a truncated copy?)');
  const enc = new Uint8Array(payload.subarray(0, 32));
  const sign = new Uint8Array(payload.subarray(32, 64));
  // The checksum only catches typos: these keys come from whoever sent the line. A small-order
  // signing key would let anyone forge this member's signatures, a small-order encryption key
  // would seal data keys that anyone can open; no seed yields either.
  if (!isEd25519PublicKey(sign))
    throw bad('its signing key is not a usable Ed25519 public key (small order, non-canonical or off the curve), so `secrets identity` did not make it');
  if (!isX25519PublicKey(enc))
    throw bad('its encryption key is not a usable X25519 public key (small order or non-canonical), so `secrets identity` did not make it');
  return { id: await fingerprint(enc, sign), enc, sign };
}

/** The fingerprint grouped for reading aloud: `ab12 cd34 ef56 7890`. */
export function formatFingerprint(id: string): string {
  return id.replace(/(.{4})(?=.)/g, '$1 ');
}
