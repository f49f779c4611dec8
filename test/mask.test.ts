// The output masker of `exec --mask` (src/cli/mask.ts), as a unit: for any set of values and any
// chunking of any text, the masked stream equals a reference "replace every occurrence,
// leftmost-longest" of the whole text, and no chunk it emits ever contains a value.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MASK, Masker, MIN_ENCODED_BYTES, MIN_MASKED_BYTES, maskedForms } from '../src/cli/mask.js';

/** Replaces every occurrence of a value (of at least MIN_MASKED_BYTES) scanning left to right, longest value first at each position. */
function reference(text: Buffer, values: readonly Buffer[]): Buffer {
  const maskable = values.filter((v) => v.length >= MIN_MASKED_BYTES);
  const out: Buffer[] = [];
  let plainFrom = 0;
  let i = 0;
  while (i < text.length) {
    let best: Buffer | undefined;
    for (const v of maskable) {
      if (v.length > (best?.length ?? 0) && i + v.length <= text.length && text.compare(v, 0, v.length, i, i + v.length) === 0) best = v;
    }
    if (best) {
      out.push(text.subarray(plainFrom, i), MASK);
      i += best.length;
      plainFrom = i;
    } else {
      i++;
    }
  }
  out.push(text.subarray(plainFrom));
  return Buffer.concat(out);
}

/** Cuts `text` at the given byte offsets (any offset, also inside a UTF-8 character). */
function chunk(text: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(text.subarray(at, p));
    at = p;
  }
  out.push(text.subarray(at));
  return out;
}

/** Runs the masker over `chunks`: every pushed piece, then the end. */
function run(values: readonly Buffer[], chunks: readonly Buffer[]): Buffer[] {
  const m = new Masker(values);
  const out = chunks.map((c) => Buffer.from(m.push(c)));
  out.push(Buffer.from(m.end()));
  return out;
}

// A small alphabet, so values overlap and repeat often; 'é' (2 bytes) and '😀' (4 bytes) make
// byte lengths differ from character counts and let chunk boundaries split a character.
const CHARS = ['a', 'b', 'c', 'é', '😀'];
const alphaString = (min: number, max: number): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...CHARS), { minLength: min, maxLength: max }).map((a) => a.join(''));

/** Values that are substrings of one seed (so prefixes, suffixes and overlaps of each other), plus some independent ones. */
const valuesArb = fc
  .record({
    seed: alphaString(3, 14),
    slices: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 10 })), { minLength: 1, maxLength: 5 }),
    loose: fc.array(alphaString(1, 6), { maxLength: 3 }),
  })
  .map(({ seed, slices, loose }) => {
    const chars = [...seed];
    const fromSeed = slices.map(([start, len]) => {
      const s = start % chars.length;
      return chars.slice(s, s + len).join('');
    });
    return [...fromSeed, ...loose].filter((v) => v !== '').map((v) => Buffer.from(v, 'utf8'));
  });

/** A text built from the values and filler (with 'x', which no value contains), cut into chunks. */
const caseArb = valuesArb.chain((values) =>
  fc.record({
    values: fc.constant(values),
    text: fc
      .array(
        fc.oneof(
          fc.constantFrom(...values),
          fc.constantFrom('x', 'xx', '\n').map((s) => Buffer.from(s)),
          alphaString(1, 4).map((s) => Buffer.from(s)),
        ),
        {
          maxLength: 25,
        },
      )
      .map((parts) => Buffer.concat(parts)),
    cuts: fc.array(fc.nat(), { maxLength: 12 }),
  }),
);

describe('Masker', () => {
  test('chunked output equals a whole-text leftmost-longest replacement (property)', () => {
    fc.assert(
      fc.property(caseArb, ({ values, text, cuts }) => {
        const pieces = run(values, chunk(text, cuts));
        assert.equal(Buffer.concat(pieces).toString('latin1'), reference(text, values).toString('latin1'), 'masked stream equals the reference');
      }),
      { numRuns: 3000 },
    );
  });

  test('no emitted chunk ever contains a value (property)', () => {
    fc.assert(
      fc.property(caseArb, ({ values, text, cuts }) => {
        const pieces = run(values, chunk(text, cuts));
        for (const piece of [...pieces, Buffer.concat(pieces)]) {
          for (const v of values) {
            if (v.length >= MIN_MASKED_BYTES) assert.equal(piece.indexOf(v), -1, `output contains the value ${JSON.stringify(v.toString('utf8'))}`);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('one byte at a time equals the whole text at once (property)', () => {
    fc.assert(
      fc.property(caseArb, ({ values, text }) => {
        const bytewise = Buffer.concat(
          run(
            values,
            [...text].map((b) => Buffer.from([b])),
          ),
        );
        const whole = Buffer.concat(run(values, [text]));
        assert.deepEqual(bytewise, whole);
        assert.deepEqual(whole, reference(text, values));
      }),
      { numRuns: 1000 },
    );
  });

  test('values shorter than 3 bytes are never masked (property)', () => {
    const shortValues = fc
      .array(fc.oneof(fc.constantFrom('a', 'b', 'ab', 'ba', 'é', 'cc'), alphaString(1, 2)), { minLength: 1, maxLength: 4 })
      .map((vs) => vs.map((v) => Buffer.from(v, 'utf8')).filter((b) => b.length > 0 && b.length < MIN_MASKED_BYTES));
    fc.assert(
      fc.property(shortValues, alphaString(0, 30), fc.array(fc.nat(), { maxLength: 8 }), (values, text, cuts) => {
        const bytes = Buffer.from(text, 'utf8');
        assert.deepEqual(Buffer.concat(run(values, chunk(bytes, cuts))), bytes);
      }),
      { numRuns: 500 },
    );
    assert.equal(MIN_MASKED_BYTES, 3);
    // 'é' + 'a' is 3 bytes although 2 characters: it is masked.
    assert.equal(Buffer.concat(run([Buffer.from('éa')], [Buffer.from('xéax')])).toString(), 'x*****x');
    assert.equal(Buffer.concat(run([Buffer.from('ok'), Buffer.from('1')], [Buffer.from('ok 1 ok')])).toString(), 'ok 1 ok');
  });

  test('ordinary output flows through at once; only a possible start of a value is held back', () => {
    const m = new Masker([Buffer.from('s3cret-value')]);
    assert.equal(m.push(Buffer.from('hello world\n')).toString(), 'hello world\n');
    assert.equal(m.push(Buffer.from('token=s3cr')).toString(), 'token=');
    assert.equal(m.push(Buffer.from('et-value done')).toString(), '***** done');
    assert.equal(m.push(Buffer.from('s3cret')).toString(), '');
    assert.equal(m.end().toString(), 's3cret');
  });

  // Examples fast-check finds; kept explicit so a regression names itself.
  test('a value containing another value is masked whole even when a chunk ends inside it', () => {
    // 'bcd' is found in the first chunk before 'abcdef' can be seen whole.
    assert.equal(Buffer.concat(run([Buffer.from('abcdef'), Buffer.from('bcd')], [Buffer.from('abcd'), Buffer.from('ef')])).toString(), '*****');
    // A value that is a prefix of a longer one, the longer one split after the shorter.
    assert.equal(Buffer.concat(run([Buffer.from('abc'), Buffer.from('abcdef')], [Buffer.from('abc'), Buffer.from('def')])).toString(), '*****');
  });
});

describe('maskedForms', () => {
  const masked = (values: readonly Uint8Array[], text: string): string => {
    const m = new Masker(maskedForms(values));
    return Buffer.concat([m.push(Buffer.from(text, 'latin1')), m.end()]).toString('latin1');
  };

  test('a value inside a longer base64 text is masked at every alignment, in both alphabets, leaving at most 2 of its bytes before the mask (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: MIN_ENCODED_BYTES, maxLength: 64 }),
        fc.uint8Array({ maxLength: 20 }),
        fc.uint8Array({ maxLength: 20 }),
        (value, pre, post) => {
          const whole = Buffer.concat([pre, value, post]);
          for (const encoding of ['base64', 'base64url'] as const) {
            const out = masked([value], whole.toString(encoding));
            const at = out.indexOf(MASK.toString());
            assert.ok(at >= 0, `masked: ${out}`);
            assert.ok(Buffer.from(out.slice(0, at), encoding).length <= pre.length + 2, `at most 2 bytes of the value before the mask: ${out}`);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('hex (either case), base64 (padded or not) and percent-encodings of a value are masked (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: MIN_ENCODED_BYTES, maxLength: 40 }), (text) => {
        const v = Buffer.from(text, 'utf8');
        const b64 = v.toString('base64');
        const forms = [
          v.toString('hex'),
          v.toString('hex').toUpperCase(),
          b64,
          b64.replace(/=+$/, ''),
          v.toString('base64url'),
          encodeURIComponent(text),
          encodeURIComponent(text).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
          new URLSearchParams({ k: text }).toString().slice(2),
        ];
        for (const f of forms) assert.equal(masked([v], `<${f}>`), `<${MASK.toString()}>`, `${f} of ${JSON.stringify(text)}`);
      }),
      { numRuns: 500 },
    );
  });

  test(`a value shorter than ${MIN_ENCODED_BYTES} bytes is masked only as itself`, () => {
    assert.deepEqual(maskedForms([Buffer.from('seven77')]), [Buffer.from('seven77')]);
    assert.equal(masked([Buffer.from('seven77')], Buffer.from('seven77').toString('hex')), Buffer.from('seven77').toString('hex'));
  });
});
