// `random` (AWS GetRandomPassword): character classes, exclusions, and unbiased sampling.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SecretsError } from '../src/core/errors.js';
import { DEFAULT_PASSWORD_OPTIONS, randomPassword } from '../src/crypto/password.js';

test('every included type appears when required, for short lengths too', () => {
  for (let i = 0; i < 200; i++) {
    const pw = randomPassword({ ...DEFAULT_PASSWORD_OPTIONS, length: 4 });
    assert.match(pw, /[a-z]/);
    assert.match(pw, /[A-Z]/);
    assert.match(pw, /[0-9]/);
    assert.match(pw, /[^A-Za-z0-9]/);
  }
});

test('excluded characters never appear', () => {
  const pw = randomPassword({ ...DEFAULT_PASSWORD_OPTIONS, length: 4096, excludeCharacters: 'aeiou0O"\'\\' });
  assert.equal(pw.length, 4096);
  assert.doesNotMatch(pw, /[aeiou0O"'\\]/);
});

test('characters are drawn uniformly (chi-square over 10 digits)', () => {
  const options = { ...DEFAULT_PASSWORD_OPTIONS, length: 4096, excludeLowercase: true, excludeUppercase: true, excludePunctuation: true };
  const pw = Array.from({ length: 20 }, () => randomPassword(options)).join('');
  let chi = 0;
  const samples = pw.length;
  for (const d of '0123456789') {
    const observed = [...pw].filter((c) => c === d).length;
    chi += (observed - samples / 10) ** 2 / (samples / 10);
  }
  // 9 degrees of freedom, p = 1e-6 at 43. Over 81,920 draws a byte-modulo-10 sampler (26/256 vs
  // 25/256 per digit) scores about 100, so this catches the classic bias without flaking.
  assert.ok(chi < 43, `chi-square ${chi.toFixed(2)}`);
});

test('impossible option sets are usage errors', () => {
  const usage = (e: unknown) => e instanceof SecretsError && e.code === 'USAGE';
  assert.throws(() => randomPassword({ ...DEFAULT_PASSWORD_OPTIONS, length: 0 }), usage);
  assert.throws(() => randomPassword({ ...DEFAULT_PASSWORD_OPTIONS, length: 4097 }), usage);
  assert.throws(() => randomPassword({ ...DEFAULT_PASSWORD_OPTIONS, length: 3 }), usage);
  assert.equal(randomPassword({ ...DEFAULT_PASSWORD_OPTIONS, length: 3, requireEachIncludedType: false }).length, 3);
});
