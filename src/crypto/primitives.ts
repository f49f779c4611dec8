/**
 * The primitives every vault operation uses, with libsodium's exact formats but without its
 * 40 ms WebAssembly start-up (ADR 0011): Ed25519, X25519 and SHA-512 from node:crypto
 * (OpenSSL); BLAKE2b, HSalsa20, XSalsa20-Poly1305 and XChaCha20-Poly1305 from @noble/hashes
 * and @noble/ciphers (audited, pure JavaScript). The only importer of @noble/*.
 *
 * Each function names the libsodium function whose output it reproduces byte for byte;
 * test/crypto-compat.test.ts checks that against libsodium-wrappers-sumo in both directions.
 */
import { blake2b } from '@noble/hashes/blake2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hsalsa, xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';

/** RFC 8410 DER prefixes: PKCS#8 and SPKI wrappers of raw 32-byte X25519/Ed25519 keys. */
const DER = {
  x25519Private: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  x25519Public: Buffer.from('302a300506032b656e032100', 'hex'),
  ed25519Private: Buffer.from('302e020100300506032b657004220420', 'hex'),
  ed25519Public: Buffer.from('302a300506032b6570032100', 'hex'),
} as const;

function privateKey(prefix: Buffer, raw: Uint8Array): KeyObject {
  const der = Buffer.concat([prefix, raw]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function rawPublic(key: KeyObject, prefixLength: number): Uint8Array {
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }).subarray(prefixLength));
}

/** Public keys parsed once per process: verifying a vault checks many records by few members. */
const ed25519Keys = new Map<string, KeyObject>();

function ed25519Public(raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw).toString('hex');
  let key = ed25519Keys.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([DER.ed25519Public, raw]), format: 'der', type: 'spki' });
    ed25519Keys.set(id, key);
  }
  return key;
}

/** crypto_generichash: BLAKE2b with an optional key, `outLength` bytes. */
export function genericHash(outLength: number, input: Uint8Array, key?: Uint8Array): Uint8Array {
  return blake2b(input, { dkLen: outLength, ...(key ? { key } : {}) });
}

/** crypto_kdf_derive_from_key: BLAKE2b keyed by `key`, salted with the subkey id, personalised with the 8-byte context. */
export function kdfDerive(outLength: number, subkeyId: number, context: string, key: Uint8Array): Uint8Array {
  const ctx = Buffer.from(context, 'latin1');
  if (ctx.length !== 8) throw new Error('kdf context must be 8 bytes');
  const salt = new Uint8Array(16);
  new DataView(salt.buffer).setBigUint64(0, BigInt(subkeyId), true);
  const personalization = new Uint8Array(16);
  personalization.set(ctx);
  return blake2b(new Uint8Array(0), { dkLen: outLength, key, salt, personalization });
}

/** crypto_box_seed_keypair: the X25519 secret key is SHA-512(seed)[0..32]. */
export function boxSeedKeypair(seed: Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array } {
  const digest = createHash('sha512').update(seed).digest();
  const sk = new Uint8Array(digest.subarray(0, 32));
  digest.fill(0);
  return { publicKey: rawPublic(createPublicKey(privateKey(DER.x25519Private, sk)), DER.x25519Public.length), privateKey: sk };
}

/** crypto_sign_seed_keypair: the secret key is seed || public key, as libsodium stores it. */
export function signSeedKeypair(seed: Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array } {
  const publicKey = rawPublic(createPublicKey(privateKey(DER.ed25519Private, seed)), DER.ed25519Public.length);
  const sk = new Uint8Array(64);
  sk.set(seed, 0);
  sk.set(publicKey, 32);
  return { publicKey, privateKey: sk };
}

/**
 * Private keys parsed once per key array: an import signs a record per secret and version with
 * the same identity, and `exec` opens a data key per secret. Keyed by the array itself (a
 * WeakMap, so a key object lives no longer than the identity holding it), never by its bytes.
 */
const privateKeys = new Map<Buffer, WeakMap<Uint8Array, KeyObject>>([
  [DER.ed25519Private, new WeakMap()],
  [DER.x25519Private, new WeakMap()],
]);

function cachedPrivate(prefix: Buffer, secretKey: Uint8Array): KeyObject {
  const cache = privateKeys.get(prefix) as WeakMap<Uint8Array, KeyObject>;
  let key = cache.get(secretKey);
  if (!key) {
    key = privateKey(prefix, secretKey.subarray(0, 32));
    cache.set(secretKey, key);
  }
  return key;
}

/** crypto_sign_detached (Ed25519 is deterministic: the same bytes libsodium produces). */
export function signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(null, message, cachedPrivate(DER.ed25519Private, secretKey)));
}

/** crypto_sign_verify_detached: false for any malformed key or signature. */
export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return nodeVerify(null, message, ed25519Public(publicKey), signature);
  } catch {
    return false;
  }
}

/** Salsa20's constant, as the four little-endian words HSalsa20 takes. */
const SIGMA = new Uint32Array(new Uint8Array(Buffer.from('expand 32-byte k', 'latin1')).buffer);

/** crypto_box_beforenm: HSalsa20 of the X25519 shared secret (which must not be all zero). */
function boxBeforenm(publicKey: Uint8Array, secretKey: KeyObject): Uint8Array {
  const shared = new Uint8Array(
    diffieHellman({
      privateKey: secretKey,
      publicKey: createPublicKey({ key: Buffer.concat([DER.x25519Public, publicKey]), format: 'der', type: 'spki' }),
    }),
  );
  const out = new Uint32Array(8);
  hsalsa(SIGMA, new Uint32Array(shared.buffer), new Uint32Array(4), out);
  shared.fill(0);
  return new Uint8Array(out.buffer);
}

/** The nonce crypto_box_seal derives: BLAKE2b-192(ephemeral pk || recipient pk). */
function sealNonce(ephemeral: Uint8Array, recipient: Uint8Array): Uint8Array {
  const input = new Uint8Array(64);
  input.set(ephemeral, 0);
  input.set(recipient, 32);
  return blake2b(input, { dkLen: 24 });
}

const SEAL_OVERHEAD = 32 + 16;

/** crypto_box_seal: ephemeral pk || XSalsa20-Poly1305(tag || ciphertext). */
export function boxSeal(message: Uint8Array, recipient: Uint8Array): Uint8Array {
  if (recipient.length !== 32) throw new Error('bad X25519 public key');
  const { privateKey: eskObject, publicKey: epkObject } = generateKeyPairSync('x25519');
  const epk = rawPublic(epkObject, DER.x25519Public.length);
  const key = boxBeforenm(recipient, eskObject);
  try {
    const box = xsalsa20poly1305(key, sealNonce(epk, recipient)).encrypt(message);
    const out = new Uint8Array(32 + box.length);
    out.set(epk, 0);
    out.set(box, 32);
    return out;
  } finally {
    key.fill(0);
  }
}

/** crypto_box_seal_open: throws when the box was not sealed to this key pair or was altered. */
export function boxSealOpen(sealed: Uint8Array, publicKey: Uint8Array, secretKey: Uint8Array): Uint8Array {
  if (sealed.length < SEAL_OVERHEAD) throw new Error('sealed box too short');
  const epk = sealed.subarray(0, 32);
  const key = boxBeforenm(epk, cachedPrivate(DER.x25519Private, secretKey));
  try {
    return xsalsa20poly1305(key, sealNonce(epk, publicKey)).decrypt(sealed.subarray(32));
  } finally {
    key.fill(0);
  }
}

/** crypto_aead_xchacha20poly1305_ietf_encrypt: ciphertext || tag. */
export function aeadEncrypt(message: Uint8Array, aad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, nonce, aad).encrypt(message);
}

/** crypto_aead_xchacha20poly1305_ietf_decrypt: throws on any mismatch. */
export function aeadDecrypt(ciphertext: Uint8Array, aad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, nonce, aad).decrypt(ciphertext);
}
