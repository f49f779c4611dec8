/**
 * `secrets random`: AWS GetRandomPassword semantics. Characters are drawn with
 * crypto.randomInt (rejection sampling, so unbiased); "require each included type" is met by
 * drawing whole passwords until one qualifies, which keeps every qualifying password equally
 * likely (patching a character in would bias positions).
 */
import { randomInt } from 'node:crypto';
import { SecretsError } from '../core/errors.js';

/** The options of `random` (and of `--generate`). */
export interface PasswordOptions {
  readonly length: number;
  readonly excludeCharacters: string;
  readonly excludeNumbers: boolean;
  readonly excludePunctuation: boolean;
  readonly excludeUppercase: boolean;
  readonly excludeLowercase: boolean;
  readonly includeSpace: boolean;
  readonly requireEachIncludedType: boolean;
}

/** AWS defaults: 32 characters, every class, at least one of each. */
export const DEFAULT_PASSWORD_OPTIONS: PasswordOptions = {
  length: 32,
  excludeCharacters: '',
  excludeNumbers: false,
  excludePunctuation: false,
  excludeUppercase: false,
  excludeLowercase: false,
  includeSpace: false,
  requireEachIncludedType: true,
};

/** AWS: 1 to 4096 characters. */
export const MAX_PASSWORD_LENGTH = 4096;
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
/** The punctuation of GetRandomPassword. */
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** Generates a password; throws a usage error when the options leave nothing to draw from. */
export function randomPassword(opts: PasswordOptions): string {
  if (!Number.isInteger(opts.length) || opts.length < 1 || opts.length > MAX_PASSWORD_LENGTH) {
    throw new SecretsError('USAGE', `--length must be 1 to ${MAX_PASSWORD_LENGTH}`);
  }
  const excluded = new Set(opts.excludeCharacters);
  const classes = [
    opts.excludeLowercase ? '' : LOWER,
    opts.excludeUppercase ? '' : UPPER,
    opts.excludeNumbers ? '' : DIGITS,
    opts.excludePunctuation ? '' : PUNCTUATION,
    opts.includeSpace ? ' ' : '',
  ]
    .map((chars) => [...chars].filter((c) => !excluded.has(c)).join(''))
    .filter((chars) => chars.length > 0);
  const alphabet = classes.join('');
  if (alphabet.length === 0) {
    throw new SecretsError('USAGE', 'the options exclude every character', 'allow at least one character class');
  }
  if (opts.requireEachIncludedType && classes.length > opts.length) {
    throw new SecretsError(
      'USAGE',
      `--length ${opts.length} is too short to include each of ${classes.length} character types`,
      'raise --length or pass --no-require-each-included-type',
    );
  }
  for (;;) {
    let out = '';
    for (let i = 0; i < opts.length; i++) out += alphabet[randomInt(alphabet.length)];
    if (!opts.requireEachIncludedType || classes.every((chars) => [...out].some((c) => chars.includes(c)))) return out;
  }
}
