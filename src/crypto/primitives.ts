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
/** The DER prefix of an Ed25519 public key (SubjectPublicKeyInfo) before its 32 bytes. */
export const ED25519_SPKI_PREFIX = '302a300506032b6570032100';

const DER = {
  x25519Private: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  x25519Public: Buffer.from('302a300506032b656e032100', 'hex'),
  ed25519Private: Buffer.from('302e020100300506032b657004220420', 'hex'),
  ed25519Public: Buffer.from(ED25519_SPKI_PREFIX, 'hex'),
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

/**
 * The order L of Ed25519's prime-order group, little-endian. S >= L is refused, as libsodium's
 * sc25519_is_canonical does: S + L satisfies the same equation, so accepting it would let
 * anyone turn one valid signature into another.
 */
const ED25519_ORDER = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');

/**
 * The encodings of Ed25519's eight points of small order, sign bit ignored, as in libsodium's
 * ge25519_has_small_order: y = 0, 1, the two y of the order-8 points, p - 1, and the
 * non-canonical p and p + 1 (0 and 1 again). OpenSSL's verify accepts them; with such an A,
 * [S]B - [k]A takes at most eight values whatever the message, so a signature made for one
 * message without any private key (the identity with R = B, S = 1) verifies for all of them.
 * libsodium refuses them as A and as R, and so do we.
 */
const ED25519_SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Buffer.from(h, 'hex'));

/**
 * The u-coordinates of X25519's points of small order, top bit ignored, as in libsodium's
 * x25519_ref10 has_small_order: 0, 1, the two order-8 points, p - 1, and the non-canonical
 * p and p + 1. A clamped scalar is a multiple of 8, so sealing to any of them gives an all-zero
 * shared secret: a key anyone can compute, which libsodium's crypto_scalarmult refuses.
 */
const X25519_SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Buffer.from(h, 'hex'));

/** True when the 32 bytes, with bit 255 cleared, are one of `list`. Public data: no need for constant time. */
function onList(list: readonly Buffer[], s: Uint8Array): boolean {
  return list.some((entry) => {
    for (let i = 0; i < 31; i++) if (s[i] !== entry[i]) return false;
    return ((s[31] as number) & 0x7f) === entry[31];
  });
}

/** True when the little-endian 32 bytes are below `bound` (sc25519_is_canonical with L). */
function below(s: Uint8Array, bound: Buffer): boolean {
  for (let i = 31; i >= 0; i--) {
    if ((s[i] as number) !== bound[i]) return (s[i] as number) < (bound[i] as number);
  }
  return false;
}

/** ge25519_is_canonical: y (bit 255, the sign of x, aside) is below p = 2^255 - 19. */
function canonicalY(s: Uint8Array): boolean {
  if (((s[31] as number) & 0x7f) !== 0x7f || (s[0] as number) < 0xed) return true;
  for (let i = 1; i < 31; i++) if (s[i] !== 0xff) return true;
  return false;
}

/** The field prime p = 2^255 - 19. */
const P = 2n ** 255n - 19n;
/** The Edwards curve constant d = -121665 / 121666 mod p. */
const D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;

function modPow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  for (let b = base % P, e = exponent; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) result = (result * b) % P;
  return result;
}

function littleEndian(s: Uint8Array): bigint {
  let n = 0n;
  for (let i = 31; i >= 0; i--) n = (n << 8n) | BigInt(s[i] as number);
  return n;
}

/**
 * True when libsodium's crypto_sign_verify_detached would take `key` as a public key at all:
 * canonical, not of small order, and a point of the curve (x^2 = (y^2 - 1) / (d y^2 + 1) has a
 * root, i.e. (y^2 - 1)(d y^2 + 1) is a square: Euler's criterion). A modular exponentiation:
 * for decoding an identity, not for every verification (node:crypto refuses off-curve keys).
 */
export function isEd25519PublicKey(key: Uint8Array): boolean {
  if (key.length !== 32 || !canonicalY(key) || onList(ED25519_SMALL_ORDER, key)) return false;
  const y = littleEndian(key) & (2n ** 255n - 1n);
  const yy = (y * y) % P;
  const euler = modPow(((yy - 1n + P) * ((D * yy + 1n) % P)) % P, (P - 1n) / 2n);
  return euler === 1n || euler === 0n;
}

/** p = 2^255 - 19, little-endian. */
const X25519_P = Buffer.from('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex');

/**
 * True for an X25519 public key as `crypto_box_seed_keypair` makes them: u below p (so bit 255
 * clear: a set bit would be a second spelling of the same key) and not of small order.
 */
export function isX25519PublicKey(key: Uint8Array): boolean {
  return key.length === 32 && below(key, X25519_P) && !x25519SmallOrder(key);
}

/** True for the X25519 keys libsodium's crypto_scalarmult (and so crypto_box_seal) refuses. */
export function x25519SmallOrder(key: Uint8Array): boolean {
  return onList(X25519_SMALL_ORDER, key);
}

/**
 * libsodium's refusals before an Ed25519 verification (see verifyDetached): lengths, S < L, a
 * small-order R, a non-canonical or small-order A. A signature that passes still needs
 * OpenSSL's check of the equation (`verifyDetached`, or `ED25519_SPKI_PREFIX` and
 * crypto.verify elsewhere, as the worker threads of store/preverify.ts do).
 */
export function ed25519Acceptable(signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  if (!below(signature.subarray(32), ED25519_ORDER) || onList(ED25519_SMALL_ORDER, signature.subarray(0, 32))) return false;
  return canonicalY(publicKey) && !onList(ED25519_SMALL_ORDER, publicKey);
}

/**
 * crypto_sign_verify_detached as libsodium 1.0.18 to 1.0.22 build it by default: false for any
 * malformed key or signature. OpenSSL checks S < L and the equation [S]B - [k]A = R by
 * comparing encodings, as libsodium does; what it lacks are libsodium's refusals of a
 * non-canonical or small-order A and a small-order R, made here first. They are byte
 * comparisons, about 0.1 us beside the ~60 us of the verification itself.
 */
export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!ed25519Acceptable(signature, publicKey)) return false;
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
  // libsodium fails here too (crypto_scalarmult returns -1), before any key is derived.
  if (x25519SmallOrder(recipient)) throw new Error('X25519 public key of small order: the shared secret would be zero');
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
