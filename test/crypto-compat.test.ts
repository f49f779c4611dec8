/**
 * src/crypto/primitives.ts reproduces libsodium byte for byte (ADR 0011): every vault written
 * by an earlier version, sealed with libsodium, must still open, and libsodium must be able to
 * open what we write. libsodium-wrappers-sumo is the oracle here, in both directions.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers-sumo';
import {
  aeadDecrypt,
  aeadEncrypt,
  boxSeal,
  boxSealOpen,
  boxSeedKeypair,
  genericHash,
  isEd25519PublicKey,
  isX25519PublicKey,
  kdfDerive,
  signDetached,
  signSeedKeypair,
  verifyDetached,
} from '../src/crypto/primitives.js';
import { fingerprint, identityFromSeed } from '../src/crypto/identity.js';
import { SecretBytes } from '../src/core/secret-bytes.js';

const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const RUNS = { numRuns: 200 };

before(async () => {
  await sodium.ready;
});

describe('primitives match libsodium', () => {
  it('crypto_generichash, keyed and unkeyed, every output length', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 64 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.option(fc.uint8Array({ minLength: 16, maxLength: 64 }), { nil: undefined }),
        (len, input, key) => {
          assert.equal(hex(genericHash(len, input, key)), hex(sodium.crypto_generichash(len, input, key ?? null)));
        },
      ),
      RUNS,
    );
    // The identity fingerprint uses 8 bytes, below crypto_generichash's minimum in the wrappers' checks.
    assert.equal(genericHash(8, new Uint8Array(64), Buffer.from('secrets-identity')).length, 8);
  });

  it('crypto_kdf_derive_from_key for any key, subkey id and context', () => {
    fc.assert(
      // The wrappers pass the subkey id through a signed 32-bit int; ours use 1 to 3.
      fc.property(
        bytes(32),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.stringMatching(/^[a-zA-Z0-9]{8}$/),
        fc.integer({ min: 16, max: 64 }),
        (key, id, ctx, len) => {
          assert.equal(hex(kdfDerive(len, id, ctx, key)), hex(sodium.crypto_kdf_derive_from_key(len, id, ctx, key)));
        },
      ),
      RUNS,
    );
  });

  it('crypto_box_seed_keypair and crypto_sign_seed_keypair', () => {
    fc.assert(
      fc.property(bytes(32), (seed) => {
        const box = boxSeedKeypair(seed);
        const theirs = sodium.crypto_box_seed_keypair(seed);
        assert.equal(hex(box.publicKey), hex(theirs.publicKey));
        assert.equal(hex(box.privateKey), hex(theirs.privateKey));
        const sign = signSeedKeypair(seed);
        const theirSign = sodium.crypto_sign_seed_keypair(seed);
        assert.equal(hex(sign.publicKey), hex(theirSign.publicKey));
        assert.equal(hex(sign.privateKey), hex(theirSign.privateKey));
      }),
      { numRuns: 100 },
    );
  });

  it('an identity derives the same keys and id as the libsodium derivation of earlier versions', async () => {
    for (let i = 0; i < 20; i++) {
      const seed = sodium.randombytes_buf(32);
      const id = await identityFromSeed(new SecretBytes(new Uint8Array(seed)));
      const enc = sodium.crypto_box_seed_keypair(sodium.crypto_kdf_derive_from_key(32, 1, 'secrets1', seed));
      const sign = sodium.crypto_sign_seed_keypair(sodium.crypto_kdf_derive_from_key(32, 2, 'secrets1', seed));
      const input = new Uint8Array([...enc.publicKey, ...sign.publicKey]);
      // libsodium-wrappers accepts an 8-byte output here (libsodium's own minimum is 1).
      const expectedId = sodium.to_hex(sodium.crypto_generichash(8, input, 'secrets-identity'));
      assert.equal(id.id, expectedId);
      assert.equal(await fingerprint(enc.publicKey, sign.publicKey), expectedId);
      assert.equal(hex(id.enc), hex(enc.publicKey));
      assert.equal(hex(id.sign), hex(sign.publicKey));
      assert.equal(hex(id.encSecret.reveal()), hex(enc.privateKey));
      assert.equal(hex(id.signSecret.reveal()), hex(sign.privateKey));
    }
  });

  it('Ed25519: the same signatures, and verification agrees on valid, altered and malformed input', () => {
    fc.assert(
      fc.property(bytes(32), fc.uint8Array({ maxLength: 200 }), fc.nat(), (seed, message, flip) => {
        const { privateKey, publicKey } = sodium.crypto_sign_seed_keypair(seed);
        const sig = signDetached(message, privateKey);
        assert.equal(hex(sig), hex(sodium.crypto_sign_detached(message, privateKey)));
        assert.equal(verifyDetached(sig, message, publicKey), true);
        const bad = new Uint8Array(sig);
        bad[flip % 64] = (bad[flip % 64] as number) ^ (1 << (flip % 8));
        assert.equal(verifyDetached(bad, message, publicKey), false);
        assert.equal(sodium.crypto_sign_verify_detached(bad, message, publicKey), false);
        if (message.length > 0) {
          const other = new Uint8Array(message);
          other[flip % other.length] = (other[flip % other.length] as number) ^ 1;
          assert.equal(verifyDetached(sig, other, publicKey), false);
        }
      }),
      RUNS,
    );
  });

  it('Ed25519: non-canonical S, small-order and malformed keys are rejected as libsodium rejects them', () => {
    const { privateKey, publicKey } = sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(7));
    const message = Buffer.from('record');
    const sig = sodium.crypto_sign_detached(message, privateKey);
    // S + L: the same point equation, a non-canonical encoding that RFC 8032 rejects.
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i] as number);
    let sl = s + L;
    const malleable = new Uint8Array(sig);
    for (let i = 0; i < 32; i++) {
      malleable[32 + i] = Number(sl & 0xffn);
      sl >>= 8n;
    }
    assert.equal(sodium.crypto_sign_verify_detached(malleable, message, publicKey), false);
    assert.equal(verifyDetached(malleable, message, publicKey), false);
    // Small-order public keys (the identity, and order 2/4/8 points) never verify.
    const smallOrder = [
      '0100000000000000000000000000000000000000000000000000000000000000',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      '0000000000000000000000000000000000000000000000000000000000000000',
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
    ];
    for (const k of smallOrder) {
      const key = Buffer.from(k, 'hex');
      assert.equal(verifyDetached(sig, message, key), false, k);
      assert.equal(verifyDetached(new Uint8Array(64), message, key), false, k);
    }
    assert.equal(verifyDetached(sig, message, publicKey.subarray(0, 31)), false);
    assert.equal(verifyDetached(sig.subarray(0, 63), message, publicKey), false);
  });

  it('crypto_box_seal: what we seal libsodium opens, and what libsodium seals we open', () => {
    fc.assert(
      fc.property(bytes(32), fc.uint8Array({ maxLength: 100 }), (seed, message) => {
        const kp = sodium.crypto_box_seed_keypair(seed);
        const ours = boxSeal(message, kp.publicKey);
        assert.equal(ours.length, message.length + 48);
        assert.equal(hex(sodium.crypto_box_seal_open(ours, kp.publicKey, kp.privateKey)), hex(message));
        const theirs = sodium.crypto_box_seal(message, kp.publicKey);
        assert.equal(hex(boxSealOpen(theirs, kp.publicKey, kp.privateKey)), hex(message));
      }),
      { numRuns: 100 },
    );
  });

  it('crypto_box_seal_open fails on any flipped bit, the wrong key pair, or a short box', () => {
    const kp = sodium.crypto_box_seed_keypair(new Uint8Array(32).fill(1));
    const other = sodium.crypto_box_seed_keypair(new Uint8Array(32).fill(2));
    const sealed = sodium.crypto_box_seal(new Uint8Array(32).fill(9), kp.publicKey);
    for (let bit = 0; bit < sealed.length * 8; bit += 7) {
      const bad = new Uint8Array(sealed);
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
      assert.throws(() => boxSealOpen(bad, kp.publicKey, kp.privateKey));
    }
    assert.throws(() => boxSealOpen(sealed, other.publicKey, other.privateKey));
    assert.throws(() => boxSealOpen(sealed.subarray(0, 47), kp.publicKey, kp.privateKey));
    // An all-zero (small-order) ephemeral key gives an all-zero shared secret: refused, as libsodium does.
    const zeroEpk = new Uint8Array(sealed);
    zeroEpk.fill(0, 0, 32);
    assert.throws(() => boxSealOpen(zeroEpk, kp.publicKey, kp.privateKey));
  });

  it('crypto_aead_xchacha20poly1305_ietf in both directions, with AAD', () => {
    fc.assert(
      fc.property(bytes(32), bytes(24), fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ maxLength: 100 }), (key, nonce, message, aad) => {
        const ours = aeadEncrypt(message, aad, nonce, key);
        const theirs = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(message, aad, null, nonce, key);
        assert.equal(hex(ours), hex(theirs));
        assert.equal(hex(aeadDecrypt(theirs, aad, nonce, key)), hex(message));
        const bad = new Uint8Array(ours);
        bad[0] = (bad[0] as number) ^ 1;
        assert.throws(() => aeadDecrypt(bad, aad, nonce, key));
        assert.throws(() => aeadDecrypt(ours, new Uint8Array([...aad, 0]), nonce, key));
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Adversarial keys and signatures. OpenSSL's Ed25519 verify (under node:crypto) checks S < L and
// the equation [S]B - [k]A = R, but accepts small-order and non-canonical points; libsodium
// refuses them. Every case below is held to libsodium's verdict on the very same bytes.

/** The field prime and the group order. */
const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function le(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

function fromLe(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] as number);
  return n;
}

/** `b` with bit 255 (the x sign of an Edwards point, ignored in X25519) set. */
function highBit(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b);
  out[31] = (out[31] as number) | 0x80;
  return out;
}

const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/** The base point B and the identity, encoded. */
const BASE = fromHex('5866666666666666666666666666666666666666666666666666666666666666');
const IDENTITY = le(1n);

/** The eight points of small order, and the non-canonical encodings of 0 and 1; each with both x signs. */
const EDWARDS_SMALL_ORDER = [
  le(0n),
  le(1n),
  fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'),
  fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'),
  le(P - 1n),
  le(P),
  le(P + 1n),
].flatMap((b) => [b, highBit(b)]);

/** The same for X25519 (u-coordinates; bit 255 is ignored by X25519 itself). */
const MONTGOMERY_SMALL_ORDER = [
  le(0n),
  le(1n),
  fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'),
  fromHex('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157'),
  le(P - 1n),
  le(P),
  le(P + 1n),
].flatMap((b) => [b, highBit(b)]);

/** Every encoding with y >= p: y = p + k for k = 0..18, with both x signs. */
const NON_CANONICAL_Y = Array.from({ length: 19 }, (_, k) => le(P + BigInt(k))).flatMap((b) => [b, highBit(b)]);

/** The eight small-order points, canonically encoded (libsodium re-encodes each), for mixed-order points. */
let TORSION: Uint8Array[] = [];

const scalar = fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => sodium.crypto_core_ed25519_scalar_reduce(b));

/** The challenge k = SHA-512(R || A || M) mod L. */
function challenge(r: Uint8Array, a: Uint8Array, m: Uint8Array): Uint8Array {
  return sodium.crypto_core_ed25519_scalar_reduce(sodium.crypto_hash_sha512(cat(r, a, m)));
}

/** R || S, with R and S as given (no check). */
const sigOf = (r: Uint8Array, s: Uint8Array): Uint8Array => cat(r, s);

/** Points from libsodium's arithmetic: [n]B, and P + Q (which accepts any point of the curve). */
const mulBase = (n: Uint8Array): Uint8Array => sodium.crypto_scalarmult_ed25519_base_noclamp(n);
const add = (p: Uint8Array, q: Uint8Array): Uint8Array => sodium.crypto_core_ed25519_add(p, q);

/** Asserts our verdict is libsodium's on the same bytes, and returns it. */
function agree(sig: Uint8Array, message: Uint8Array, key: Uint8Array, label: string): boolean {
  const theirs = sodium.crypto_sign_verify_detached(sig, message, key);
  assert.equal(verifyDetached(sig, message, key), theirs, `${label}: sig ${hex(sig)} key ${hex(key)} message ${hex(message)}`);
  return theirs;
}

/** What OpenSSL alone says: the verification before this module's libsodium checks. */
function opensslAlone(sig: Uint8Array, message: Uint8Array, key: Uint8Array): boolean {
  const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), key]), format: 'der', type: 'spki' });
  try {
    return nodeVerify(null, message, spki, sig);
  } catch {
    return false;
  }
}

describe('Ed25519 verification matches libsodium on adversarial keys and signatures', () => {
  before(() => {
    const all = EDWARDS_SMALL_ORDER.map((t) => hex(sodium.crypto_core_ed25519_add(t, IDENTITY)));
    TORSION = [...new Set(all)].map(fromHex);
    assert.equal(TORSION.length, 8);
  });

  it('the attack: with the identity as key, (R = B, S = 1) passes OpenSSL for any message, and we refuse it', () => {
    const forged = sigOf(BASE, le(1n));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (message) => {
        assert.equal(opensslAlone(forged, message, IDENTITY), true, 'the forgery is real against OpenSSL alone');
        assert.equal(agree(forged, message, IDENTITY, 'R = B, S = 1'), false);
      }),
      { numRuns: 50 },
    );
  });

  it('every small-order A (every encoding) is refused, with signatures that satisfy the equation for it', () => {
    let equationHolds = 0;
    fc.assert(
      fc.property(fc.constantFrom(...EDWARDS_SMALL_ORDER), scalar, fc.uint8Array({ maxLength: 64 }), bytes(64), (key, r, message, noise) => {
        // A = T of order <= 8 has no secret: [S]B - [k]T = R holds for (R = [r]B, S = r) whenever [k]T = 0.
        const candidates = [sigOf(mulBase(r), r), sigOf(BASE, le(1n)), sigOf(IDENTITY, le(0n)), sigOf(le(0n), le(0n)), noise];
        for (const sig of candidates) {
          if (opensslAlone(sig, message, key)) equationHolds++;
          assert.equal(agree(sig, message, key, 'small-order A'), false);
        }
      }),
      { numRuns: 300 },
    );
    assert.ok(equationHolds > 0, 'some of these signatures satisfy the equation (OpenSSL alone accepts them)');
  });

  it('every small-order R (every encoding) is refused, including a signature its key holder computed (R = identity, S = k a)', () => {
    let equationHolds = 0;
    fc.assert(
      fc.property(fc.constantFrom(...EDWARDS_SMALL_ORDER), scalar, fc.constantFrom(...TORSION), fc.uint8Array({ maxLength: 64 }), (r, a, torsion, message) => {
        // A = [a]B + T: [k a]B - [k]A = -[k]T, which is R when R = -[k]T (always for T = identity, R = identity).
        const key = add(mulBase(a), torsion);
        const sig = sigOf(r, sodium.crypto_core_ed25519_scalar_mul(challenge(r, key, message), a));
        if (opensslAlone(sig, message, key)) equationHolds++;
        assert.equal(agree(sig, message, key, 'small-order R'), false);
      }),
      { numRuns: 500 },
    );
    assert.ok(equationHolds > 0, 'some of these signatures satisfy the equation (OpenSSL alone accepts them)');
  });

  it('mixed-order keys and R (prime-order part plus torsion): the same verdict, accepting and refusing', () => {
    const verdicts = new Set<boolean>();
    let mixedAccepted = 0;
    fc.assert(
      fc.property(scalar, scalar, fc.constantFrom(...TORSION), fc.constantFrom(...TORSION), fc.uint8Array({ maxLength: 64 }), (a, r, tA, tR, message) => {
        // [S]B - [k]A = R - [k]tA: valid exactly when tR = -[k]tA.
        const key = add(mulBase(a), tA);
        const R = add(mulBase(r), tR);
        const S = sodium.crypto_core_ed25519_scalar_add(r, sodium.crypto_core_ed25519_scalar_mul(challenge(R, key, message), a));
        const verdict = agree(sigOf(R, S), message, key, 'mixed order');
        verdicts.add(verdict);
        if (verdict && hex(tA) !== hex(IDENTITY)) mixedAccepted++;
      }),
      { numRuns: 400 },
    );
    assert.deepEqual([...verdicts].sort(), [false, true], 'both verdicts were exercised');
    assert.ok(mixedAccepted > 0, 'libsodium accepts some signatures by mixed-order keys, and so must we');
  });

  it('non-canonical A (y >= p) is refused, and so is non-canonical R', () => {
    fc.assert(
      fc.property(fc.constantFrom(...NON_CANONICAL_Y), scalar, fc.uint8Array({ maxLength: 64 }), bytes(64), (y, r, message, noise) => {
        for (const sig of [sigOf(mulBase(r), r), sigOf(BASE, le(1n)), noise]) assert.equal(agree(sig, message, y, 'non-canonical A'), false);
        // As R, with a real key and S computed for that R.
        const a = r;
        const key = mulBase(a);
        const S = sodium.crypto_core_ed25519_scalar_mul(challenge(y, key, message), a);
        assert.equal(agree(sigOf(y, S), message, key, 'non-canonical R'), false);
      }),
      { numRuns: 300 },
    );
  });

  it('S >= L is refused: S + kL of a valid signature, and random high S', () => {
    fc.assert(
      fc.property(bytes(32), fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 15 }), bytes(32), (seed, message, k, noise) => {
        const { privateKey, publicKey } = sodium.crypto_sign_seed_keypair(seed);
        const sig = sodium.crypto_sign_detached(message, privateKey);
        assert.equal(agree(sig, message, publicKey, 'valid'), true);
        const s = fromLe(sig.subarray(32)) + BigInt(k) * L;
        if (s < 2n ** 256n) assert.equal(agree(sigOf(sig.subarray(0, 32), le(s)), message, publicKey, `S + ${k}L`), false);
        const high = new Uint8Array(noise);
        high[31] = (high[31] as number) | 0x10;
        assert.equal(agree(sigOf(sig.subarray(0, 32), high), message, publicKey, 'random S >= 2^252'), false);
      }),
      RUNS,
    );
  });

  it('any bit flipped in R, S or A of a valid signature, and random keys and signatures: the same verdict', () => {
    fc.assert(
      fc.property(
        bytes(32),
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 0, max: 767 }),
        bytes(32),
        bytes(64),
        (seed, message, bit, randomKey, randomSig) => {
          const { privateKey, publicKey } = sodium.crypto_sign_seed_keypair(seed);
          const both = cat(sodium.crypto_sign_detached(message, privateKey), publicKey);
          both[bit >> 3] = (both[bit >> 3] as number) ^ (1 << (bit & 7));
          assert.equal(agree(both.subarray(0, 64), message, both.subarray(64), `bit ${bit}`), false);
          agree(randomSig, message, randomKey, 'random');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a public key is usable exactly when libsodium decodes it as a canonical point not of small order', () => {
    const onList = (list: readonly Uint8Array[], k: Uint8Array): boolean => list.some((e) => hex(e) === hex(k));
    const onCurve = (k: Uint8Array): boolean => {
      try {
        add(k, IDENTITY);
        return true;
      } catch {
        return false;
      }
    };
    const usable = (k: Uint8Array): boolean => !onList(EDWARDS_SMALL_ORDER, k) && !onList(NON_CANONICAL_Y, k) && onCurve(k);
    for (const k of [...EDWARDS_SMALL_ORDER, ...NON_CANONICAL_Y]) assert.equal(isEd25519PublicKey(k), false, hex(k));
    // Some non-canonical encodings name points of the curve: refused all the same (a second spelling of a key).
    assert.ok(NON_CANONICAL_Y.some((k) => onCurve(k) && !onList(EDWARDS_SMALL_ORDER, k)));
    fc.assert(
      fc.property(bytes(32), scalar, fc.constantFrom(...TORSION), (random, a, t) => {
        assert.equal(isEd25519PublicKey(random), usable(random), hex(random));
        assert.equal(isEd25519PublicKey(add(mulBase(a), t)), true);
        assert.equal(isEd25519PublicKey(highBit(random)), usable(highBit(random)));
      }),
      { numRuns: 500 },
    );
    assert.equal(isEd25519PublicKey(IDENTITY.subarray(0, 31)), false);
  });
});

describe('X25519 small-order keys are refused as libsodium refuses them', () => {
  it('crypto_scalarmult, crypto_box_seal and crypto_box_seal_open fail on every small-order encoding, and so do ours', () => {
    const kp = sodium.crypto_box_seed_keypair(new Uint8Array(32).fill(5));
    const message = new Uint8Array(32).fill(9);
    for (const u of MONTGOMERY_SMALL_ORDER) {
      assert.throws(() => sodium.crypto_scalarmult(kp.privateKey, u), Error, hex(u));
      assert.throws(() => sodium.crypto_box_seal(message, u), Error, hex(u));
      assert.throws(() => boxSeal(message, u), /small order/, hex(u));
      assert.equal(isX25519PublicKey(u), false, hex(u));
      // As the ephemeral key of a sealed box.
      const sealed = cat(u, sodium.crypto_box_seal(message, kp.publicKey).subarray(32));
      assert.throws(() => sodium.crypto_box_seal_open(sealed, kp.publicKey, kp.privateKey), Error, hex(u));
      assert.throws(() => boxSealOpen(sealed, kp.publicKey, kp.privateKey), Error, hex(u));
    }
  });

  it("other keys, non-canonical ones included, seal as libsodium seals (each opens the other's box)", () => {
    fc.assert(
      fc.property(bytes(32), fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 2, max: 18 }), bytes(32), (seed, message, k, random) => {
        const kp = sodium.crypto_box_seed_keypair(seed);
        assert.equal(isX25519PublicKey(kp.publicKey), true);
        // Bit 255 set: X25519 ignores it, so the box opens with the same secret key (the nonce hashes the bytes as given).
        const variant = highBit(kp.publicKey);
        assert.equal(isX25519PublicKey(variant), false, 'a second spelling of a key is not a public key we accept');
        assert.equal(hex(sodium.crypto_box_seal_open(boxSeal(message, variant), variant, kp.privateKey)), hex(message));
        assert.equal(hex(boxSealOpen(sodium.crypto_box_seal(message, variant), variant, kp.privateKey)), hex(message));
        // u = p + k, and random bytes (not a key anyone holds): both seal, neither refuses.
        for (const u of [le(P + BigInt(k)), random]) {
          assert.equal(sodium.crypto_box_seal(message, u).length, message.length + 48);
          assert.equal(boxSeal(message, u).length, message.length + 48);
        }
        assert.equal(isX25519PublicKey(le(P + BigInt(k))), false);
      }),
      { numRuns: 100 },
    );
  });
});
