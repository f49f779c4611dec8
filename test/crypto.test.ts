/**
 * Envelope encryption, identities, framing and signatures (docs/vault-format.md): open inverts
 * seal; any tampering is INTEGRITY and releases nothing; the AAD binds every context field; frame()
 * is injective; keys round-trip and bad keys are never echoed; SecretBytes never prints; nonces
 * never repeat.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { format, inspect } from 'node:util';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { SecretsError } from '../src/core/errors.js';
import type { Identity, PublicIdentity } from '../src/core/ports.js';
import { SecretBytes } from '../src/core/secret-bytes.js';
import { frame, toBase64Url } from '../src/crypto/encoding.js';
import { openValue, sealValue, type SealedValue, type ValueContext } from '../src/crypto/envelope.js';
import { decodeKey, encodeKey, generateSeed, identityFromSeed, KEY_PREFIX, SEED_BYTES } from '../src/crypto/identity.js';
import { verifyRecord } from '../src/crypto/sign.js';
import { signRecord } from './support/format1-writer.js';

let alice: Identity;
let bob: Identity;
let carol: Identity;

before(async () => {
  alice = await identityFromSeed(generateSeed());
  bob = await identityFromSeed(generateSeed());
  carol = await identityFromSeed(generateSeed());
});

function pub(i: Identity): PublicIdentity {
  return { id: i.id, enc: i.enc, sign: i.sign };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const i = Math.floor(bit / 8) % out.length;
  out[i] = (out[i] as number) ^ (1 << (bit % 8));
  return out;
}

/** Asserts that `p` rejects with a SecretsError of `code` (so it never returned a value). */
async function rejectsWith(p: Promise<unknown>, code: string, what: string): Promise<void> {
  await assert.rejects(
    p,
    (e: unknown) => {
      assert.ok(e instanceof SecretsError, `${what}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      assert.equal(e.code, code, `${what}: ${e.message}`);
      return true;
    },
    what,
  );
}

const ctxArb: fc.Arbitrary<ValueContext> = fc.record({
  vaultId: fc.oneof(fc.uuid(), fc.string()),
  secretId: fc.oneof(fc.uuid(), fc.string()),
  versionId: fc.oneof(fc.uuid(), fc.string()),
  type: fc.constantFrom('string' as const, 'binary' as const),
});

const CTX: ValueContext = {
  vaultId: '7df1c0a8-2b06-4c25-9c62-b604782c56da',
  secretId: 'fa5e02d9-a649-4f63-aae4-e15c8f10eda2',
  versionId: 'e79fc4fd-cbbc-4fb5-a84f-4b23fd289c0f',
  type: 'string',
};

describe('envelope encryption', () => {
  it('open inverts seal for random values up to 4 KiB, for every reader', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), ctxArb, async (value, ctx) => {
        const sealed = await sealValue(new SecretBytes(new Uint8Array(value)), ctx, [pub(alice), pub(bob)]);
        assert.deepEqual([...sealed.keys.keys()].sort(), [alice.id, bob.id].sort());
        for (const reader of [alice, bob]) {
          const opened = await openValue(sealed, ctx, reader);
          assert.ok(bytesEqual(opened.reveal(), value), 'opened value differs');
        }
      }),
      { numRuns: 200 },
    );
  });

  it('open inverts seal for large values (4 KiB to 64 KiB, including both ends)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 4097, max: 64 * 1024 }), ctxArb, async (size, ctx) => {
        const value = new Uint8Array(randomBytes(size));
        const sealed = await sealValue(new SecretBytes(new Uint8Array(value)), ctx, [pub(alice)]);
        assert.equal(sealed.ciphertext.length, size + 16);
        assert.ok(bytesEqual((await openValue(sealed, ctx, alice)).reveal(), value));
      }),
      {
        numRuns: 20,
        examples: [
          [64 * 1024, CTX],
          [4097, CTX],
        ],
      },
    );
    const empty = await sealValue(new SecretBytes(new Uint8Array(0)), CTX, [pub(alice)]);
    assert.equal((await openValue(empty, CTX, alice)).length, 0);
  });

  it('any flipped bit in nonce, ciphertext or sealed key fails with INTEGRITY (exhaustive, small value)', async () => {
    const value = new TextEncoder().encode('hunter2!');
    const sealed = await sealValue(new SecretBytes(new Uint8Array(value)), CTX, [pub(alice)]);
    const sealedKey = sealed.keys.get(alice.id) as Uint8Array;
    let tried = 0;
    for (let bit = 0; bit < sealed.nonce.length * 8; bit++, tried++) {
      await rejectsWith(openValue({ ...sealed, nonce: flipBit(sealed.nonce, bit) }, CTX, alice), 'INTEGRITY', `nonce bit ${bit}`);
    }
    for (let bit = 0; bit < sealed.ciphertext.length * 8; bit++, tried++) {
      await rejectsWith(openValue({ ...sealed, ciphertext: flipBit(sealed.ciphertext, bit) }, CTX, alice), 'INTEGRITY', `ciphertext bit ${bit}`);
    }
    for (let bit = 0; bit < sealedKey.length * 8; bit++, tried++) {
      const keys = new Map([[alice.id, flipBit(sealedKey, bit)]]);
      await rejectsWith(openValue({ ...sealed, keys }, CTX, alice), 'INTEGRITY', `sealed key bit ${bit}`);
    }
    assert.equal(tried, (24 + value.length + 16 + 32 + 48) * 8);
    // Untouched, it still opens: the failures above were the flips.
    assert.ok(bytesEqual((await openValue(sealed, CTX, alice)).reveal(), value));
  });

  it('any flipped bit, truncation or extension of a random sealed value fails with INTEGRITY', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 2048 }),
        fc.constantFrom('nonce', 'ciphertext', 'sealedKey'),
        fc.nat(),
        fc.constantFrom('flip', 'truncate', 'extend'),
        fc.uint8Array({ minLength: 1, maxLength: 16 }),
        async (value, part, at, how, extra) => {
          const sealed = await sealValue(new SecretBytes(new Uint8Array(value)), CTX, [pub(alice)]);
          const original = part === 'nonce' ? sealed.nonce : part === 'ciphertext' ? sealed.ciphertext : (sealed.keys.get(alice.id) as Uint8Array);
          const changed =
            how === 'flip'
              ? flipBit(original, at % (original.length * 8))
              : how === 'truncate'
                ? original.subarray(0, at % original.length)
                : new Uint8Array(Buffer.concat([original, extra]));
          const tampered: SealedValue =
            part === 'nonce'
              ? { ...sealed, nonce: changed }
              : part === 'ciphertext'
                ? { ...sealed, ciphertext: changed }
                : { ...sealed, keys: new Map([[alice.id, changed]]) };
          await rejectsWith(openValue(tampered, CTX, alice), 'INTEGRITY', `${how} ${part} at ${at}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('changing any AAD context field (vaultId, secretId, versionId, type) fails with INTEGRITY', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 256 }),
        ctxArb,
        fc.constantFrom('vaultId', 'secretId', 'versionId', 'type'),
        fc.oneof(fc.string(), fc.uuid(), fc.constantFrom('', ':', '/', '\0')),
        async (value, ctx, field, replacement) => {
          const sealed = await sealValue(new SecretBytes(new Uint8Array(value)), ctx, [pub(alice)]);
          let other: ValueContext;
          if (field === 'type') other = { ...ctx, type: ctx.type === 'string' ? 'binary' : 'string' };
          else other = { ...ctx, [field]: replacement === ctx[field] ? `${replacement}x` : replacement };
          await rejectsWith(openValue(sealed, other, alice), 'INTEGRITY', `changed ${field}`);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('moving text across AAD field boundaries fails (no ambiguous AAD encoding)', async () => {
    const a: ValueContext = { vaultId: 'v', secretId: 'prod:db', versionId: 'x', type: 'string' };
    const shifted: ValueContext[] = [
      { ...a, secretId: 'prod', versionId: 'db:x' },
      { ...a, secretId: 'prod:dbx', versionId: '' },
      { ...a, vaultId: 'vprod:db', secretId: '' },
      { ...a, vaultId: 'v\0', secretId: 'prod:db' },
    ];
    const sealed = await sealValue(SecretBytes.fromString('value'), a, [pub(alice)]);
    for (const ctx of shifted) await rejectsWith(openValue(sealed, ctx, alice), 'INTEGRITY', JSON.stringify(ctx));
  });

  it('a reader not in keys gets DECRYPTION_FAILED; a key sealed to someone else under your id is INTEGRITY', async () => {
    const sealed = await sealValue(SecretBytes.fromString('for alice and bob'), CTX, [pub(alice), pub(bob)]);
    await rejectsWith(openValue(sealed, CTX, carol), 'DECRYPTION_FAILED', 'carol is not a reader');
    const none = await sealValue(SecretBytes.fromString('for nobody'), CTX, []);
    assert.equal(none.keys.size, 0);
    await rejectsWith(openValue(none, CTX, alice), 'DECRYPTION_FAILED', 'no readers at all');
    // Alice's sealed key filed under carol's id: carol cannot open it, and it is not "not found".
    const misfiled = { ...sealed, keys: new Map([[carol.id, sealed.keys.get(alice.id) as Uint8Array]]) };
    await rejectsWith(openValue(misfiled, CTX, carol), 'INTEGRITY', 'misfiled sealed key');
  });

  it('10,000 seals of the same plaintext under one reader give distinct nonces and ciphertexts', async () => {
    const value = SecretBytes.fromString('the same plaintext every time');
    const nonces = new Set<string>();
    const ciphertexts = new Set<string>();
    const sealedKeys = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const s = await sealValue(value, CTX, [pub(alice)]);
      assert.equal(s.nonce.length, 24);
      nonces.add(Buffer.from(s.nonce).toString('hex'));
      ciphertexts.add(Buffer.from(s.ciphertext).toString('hex'));
      sealedKeys.add(Buffer.from(s.keys.get(alice.id) as Uint8Array).toString('hex'));
    }
    assert.equal(nonces.size, 10_000, 'a nonce repeated');
    assert.equal(ciphertexts.size, 10_000, 'a ciphertext repeated');
    assert.equal(sealedKeys.size, 10_000, 'a sealed data key repeated');
    // The plaintext is untouched by sealing.
    assert.equal(value.revealText(), 'the same plaintext every time');
  });
});

describe('frame (length-prefixed AAD and signature input)', () => {
  /** Strings biased towards separators, NULs, empties and things that look like length prefixes. */
  const tricky = fc.oneof(
    fc.constantFrom('', ':', '/', '.', '\0', 'to', 'ot', 'to:ot', 'a/b', '\0\0\0\u0001', '\0\0\0\0', '\u0004'),
    fc.string({ unit: fc.constantFrom(':', '/', '.', '\0', 'a', 't', 'o', '\u0001', '\u0004', 'é', '\u{1F600}'), maxLength: 8 }),
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'grapheme', maxLength: 6 }),
  );
  const tuple = fc.array(tricky, { maxLength: 5 });

  it('distinct tuples of strings give distinct bytes', () => {
    fc.assert(
      fc.property(tuple, tuple, (x, y) => {
        const same = x.length === y.length && x.every((s, i) => s === y[i]);
        assert.equal(bytesEqual(frame(x), frame(y)), same, `${JSON.stringify(x)} vs ${JSON.stringify(y)}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('distinct tuples built by splitting or joining the same text give distinct bytes', () => {
    // The SOPS failure: ["to:ot"] and ["to","ot"] must not collide; nor any other re-split.
    fc.assert(
      fc.property(fc.array(tricky, { minLength: 1, maxLength: 5 }), fc.constantFrom('', ':', '/', '\0'), (parts, sep) => {
        const joined = [parts.join(sep)];
        const same = parts.length === 1;
        assert.equal(bytesEqual(frame(parts), frame(joined)), same, `${JSON.stringify(parts)} vs ${JSON.stringify(joined)}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('regression: ["to:ot"] and ["to","ot"] differ, and so do [""] and [] and ["",""]', () => {
    assert.ok(!bytesEqual(frame(['to:ot']), frame(['to', 'ot'])));
    assert.ok(!bytesEqual(frame(['']), frame([])));
    assert.ok(!bytesEqual(frame(['']), frame(['', ''])));
    assert.ok(!bytesEqual(frame(['a\0\0\0\u0001b']), frame(['a', 'b'])));
    // u32be length then bytes, as documented.
    assert.deepEqual([...frame(['to:ot'])], [0, 0, 0, 5, 0x74, 0x6f, 0x3a, 0x6f, 0x74]);
  });
});

describe('identities and key strings', () => {
  it('identityFromSeed is deterministic, and distinct seeds give distinct ids and keys', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: SEED_BYTES, maxLength: SEED_BYTES }),
        fc.uint8Array({ minLength: SEED_BYTES, maxLength: SEED_BYTES }),
        async (s1, s2) => {
          const a = await identityFromSeed(new SecretBytes(new Uint8Array(s1)));
          const again = await identityFromSeed(new SecretBytes(new Uint8Array(s1)));
          assert.equal(a.id, again.id);
          assert.ok(bytesEqual(a.enc, again.enc) && bytesEqual(a.sign, again.sign));
          assert.ok(a.encSecret.equals(again.encSecret) && a.signSecret.equals(again.signSecret));
          assert.match(a.id, /^[0-9a-f]{16}$/);
          if (!bytesEqual(s1, s2)) {
            const b = await identityFromSeed(new SecretBytes(new Uint8Array(s2)));
            assert.notEqual(a.id, b.id);
            assert.ok(!bytesEqual(a.enc, b.enc) && !bytesEqual(a.sign, b.sign));
          }
        },
      ),
      { numRuns: 100 },
    );
    assert.notEqual(alice.id, bob.id);
  });

  it('identityFromSeed refuses seeds of the wrong length', async () => {
    for (const n of [0, 16, 31, 33, 64]) {
      await rejectsWith(identityFromSeed(new SecretBytes(new Uint8Array(n))), 'IDENTITY_UNAVAILABLE', `${n}-byte seed`);
    }
  });

  it('encodeKey/decodeKey round-trip (also with surrounding whitespace)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: SEED_BYTES, maxLength: SEED_BYTES }), fc.constantFrom('', '\n', '\r\n', '  '), (seed, ws) => {
        const key = encodeKey(new SecretBytes(new Uint8Array(seed))).revealText() as string;
        assert.ok(key.startsWith(KEY_PREFIX));
        assert.match(key.slice(KEY_PREFIX.length), /^[A-Za-z0-9_-]{43}$/);
        const back = decodeKey(`${ws}${key}${ws}`, 'test');
        assert.ok(bytesEqual(back.reveal(), seed));
      }),
      { numRuns: 200 },
    );
  });

  it('decodeKey rejects garbage with IDENTITY_UNAVAILABLE and never echoes it', () => {
    const validPayload = fc.uint8Array({ minLength: SEED_BYTES, maxLength: SEED_BYTES }).map((b) => toBase64Url(b));
    const marker = fc.stringMatching(/^[A-Za-z0-9_-]{16}$/);
    const garbage = fc.oneof(
      // wrong payload length (short, long), with a marker inside (the 16-char marker is 12 bytes)
      fc
        .tuple(
          marker,
          fc.uint8Array({ maxLength: 64 }).filter((b) => b.length !== SEED_BYTES - 12),
        )
        .map(([m, b]) => ({ text: KEY_PREFIX + m + toBase64Url(b), secret: m })),
      fc.tuple(validPayload, fc.integer({ min: 8, max: 42 })).map(([p, n]) => ({ text: KEY_PREFIX + p.slice(0, n), secret: p.slice(0, n) })),
      fc.tuple(validPayload, marker).map(([p, m]) => ({ text: KEY_PREFIX + p + m, secret: p + m })),
      // wrong or mangled prefix
      fc
        .tuple(validPayload, fc.constantFrom('SECRETS-KEY-2', 'secrets-key-1', 'AGE-SECRET-KEY-1', '', 'SECRETS-KEY-', ' SECRETS-KEY-1 '))
        .map(([p, pre]) => ({ text: pre + p, secret: p })),
      // characters outside base64url, padding, non-canonical trailing bits
      fc
        .tuple(validPayload, fc.constantFrom('+', '/', '=', ' ', '.', '\n', '\u00e9'))
        .map(([p, c]) => ({ text: `${KEY_PREFIX}${p.slice(0, 20)}${c}${p.slice(21)}`, secret: p.slice(0, 20) })),
      fc.tuple(validPayload).map(([p]) => ({ text: `${KEY_PREFIX}${p}=`, secret: p })),
      fc.tuple(validPayload).map(([p]) => {
        // 32 bytes = 43 chars: the last one carries 2 unused bits; setting them is non-canonical.
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const last = alphabet.indexOf(p[42] as string);
        return { text: KEY_PREFIX + p.slice(0, 42) + alphabet[last | 1], secret: p.slice(0, 42) };
      }),
      // anything at all, with a marker
      fc.tuple(fc.string(), marker, fc.string()).map(([a, m, b]) => ({ text: a + m + b, secret: m })),
    );
    fc.assert(
      fc.property(garbage, ({ text, secret }) => {
        let thrown: unknown;
        try {
          decodeKey(text, 'SECRETS_IDENTITY_KEY');
        } catch (e) {
          thrown = e;
        }
        assert.ok(thrown instanceof SecretsError, `accepted ${JSON.stringify(text)}`);
        assert.equal(thrown.code, 'IDENTITY_UNAVAILABLE');
        assert.match(thrown.message, /SECRETS_IDENTITY_KEY/, 'the message names the source');
        for (const shown of [thrown.message, thrown.hint ?? '', String(thrown), thrown.stack ?? '', inspect(thrown)]) {
          if (secret.length >= 8) assert.ok(!shown.includes(secret), `the error echoes the input: ${shown.slice(0, 200)}`);
          assert.ok(!shown.includes(text.trim()), 'the error echoes the input');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('SecretBytes', () => {
  it('prints as [REDACTED] through String(), template literals, JSON.stringify, util.inspect and console formats', () => {
    const value = `MARKER-${randomBytes(12).toString('hex')}`;
    const sb = SecretBytes.fromString(value);
    const raw = Buffer.from(value);
    const leaks = [value, raw.toString('hex'), raw.toString('base64'), raw.toString('base64url'), [...raw].join(',')];
    assert.equal(String(sb), '[REDACTED]');
    // These coercions are what the test is about; the lint rules exist to catch them by accident.
    // eslint-disable-next-line @typescript-eslint/restrict-template-expressions
    assert.equal(`${sb}`, '[REDACTED]');
    // eslint-disable-next-line @typescript-eslint/restrict-plus-operands
    assert.equal(sb + '', '[REDACTED]');
    assert.equal(JSON.stringify(sb), '"[REDACTED]"');
    assert.equal(JSON.stringify({ password: sb }), '{"password":"[REDACTED]"}');
    assert.equal(inspect(sb), '[REDACTED]');
    const rendered = [
      inspect({ nested: { deeper: [sb] } }, { depth: 10 }),
      inspect(sb, { showHidden: true, depth: 10 }),
      inspect(sb, { customInspect: false, showHidden: true }),
      format('%s %o %O %j %d', sb, sb, sb, sb, sb),
      format(sb),
      // eslint-disable-next-line @typescript-eslint/restrict-template-expressions
      new Error(`failed with ${sb}`).message,
      JSON.stringify([sb, { a: sb }]),
      JSON.stringify({ ...sb }),
      Object.keys(sb).join(','),
    ];
    for (const text of rendered) for (const leak of leaks) assert.ok(!text.includes(leak), `leaked in: ${text}`);
    // …and the value is still there for reveal().
    assert.equal(sb.revealText(), value);
  });
});

describe('record signatures', () => {
  const canonicalish = fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 400 });

  it('verify accepts the signed record and fails for any flipped bit of the message', async () => {
    await fc.assert(
      fc.asyncProperty(canonicalish, fc.nat(), fc.integer({ min: 0, max: 6 }), async (canonical, at, bit) => {
        const sig = await signRecord(alice, CTX.vaultId, canonical);
        assert.equal(sig.length, 64);
        assert.equal(await verifyRecord(alice.sign, CTX.vaultId, canonical, sig), true);
        const i = at % canonical.length;
        // Flipping one of the low 7 bits keeps the character ASCII, so exactly one byte changes.
        const flipped = canonical.slice(0, i) + String.fromCharCode(canonical.charCodeAt(i) ^ (1 << bit)) + canonical.slice(i + 1);
        assert.equal(await verifyRecord(alice.sign, CTX.vaultId, flipped, sig), false, `bit ${bit} of char ${i}`);
      }),
      { numRuns: 300 },
    );
  });

  it('verify fails for every flipped bit of the signature (exhaustive), another vault id, another key or a short signature', async () => {
    const canonical = '{"kind":"secret","by":"176deb08a592a613","ctr":4,"name":"prod/db"}';
    const sig = await signRecord(alice, CTX.vaultId, canonical);
    for (let bit = 0; bit < sig.length * 8; bit++) {
      assert.equal(await verifyRecord(alice.sign, CTX.vaultId, canonical, flipBit(sig, bit)), false, `signature bit ${bit}`);
    }
    assert.equal(await verifyRecord(alice.sign, 'another-vault', canonical, sig), false);
    assert.equal(await verifyRecord(bob.sign, CTX.vaultId, canonical, sig), false);
    assert.equal(await verifyRecord(alice.sign, CTX.vaultId, canonical, sig.subarray(0, 63)), false);
    assert.equal(await verifyRecord(alice.sign, CTX.vaultId, canonical, new Uint8Array(0)), false);
    assert.equal(await verifyRecord(alice.sign.subarray(0, 31), CTX.vaultId, canonical, sig), false);
    assert.equal(await verifyRecord(alice.sign, CTX.vaultId, canonical, sig), true);
  });
});
