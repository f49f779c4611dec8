/**
 * src/crypto/primitives.ts reproduces libsodium byte for byte (ADR 0011): every vault written
 * by an earlier version, sealed with libsodium, must still open, and libsodium must be able to
 * open what we write. libsodium-wrappers-sumo is the oracle here, in both directions.
 */
import assert from 'node:assert/strict';
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
      fc.property(fc.integer({ min: 16, max: 64 }), fc.uint8Array({ maxLength: 300 }), fc.option(fc.uint8Array({ minLength: 16, maxLength: 64 }), { nil: undefined }), (len, input, key) => {
        assert.equal(hex(genericHash(len, input, key)), hex(sodium.crypto_generichash(len, input, key ?? null)));
      }),
      RUNS,
    );
    // The identity fingerprint uses 8 bytes, below crypto_generichash's minimum in the wrappers' checks.
    assert.equal(genericHash(8, new Uint8Array(64), Buffer.from('secrets-identity')).length, 8);
  });

  it('crypto_kdf_derive_from_key for any key, subkey id and context', () => {
    fc.assert(
      // The wrappers pass the subkey id through a signed 32-bit int; ours use 1 to 3.
      fc.property(bytes(32), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.stringMatching(/^[a-zA-Z0-9]{8}$/), fc.integer({ min: 16, max: 64 }), (key, id, ctx, len) => {
        assert.equal(hex(kdfDerive(len, id, ctx, key)), hex(sodium.crypto_kdf_derive_from_key(len, id, ctx, key)));
      }),
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
        bad[flip % 64] = (bad[flip % 64] as number) ^ (1 << flip % 8);
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
    const smallOrder = ['0100000000000000000000000000000000000000000000000000000000000000', 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', '0000000000000000000000000000000000000000000000000000000000000000', 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'];
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
