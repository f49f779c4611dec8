/**
 * Where a new secret value comes from: `--value-stdin`, `--from-file`, `--generate`, or a
 * hidden, confirmed prompt on a terminal. Never argv. Exactly one source; none on a pipe is a
 * usage error naming the flags.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { SecretsError } from '../core/errors.js';
import { MAX_VALUE_BYTES } from '../core/names.js';
import { SecretBytes } from '../core/secret-bytes.js';
import type { NewValue } from '../core/use-cases/write.js';
import { DEFAULT_PASSWORD_OPTIONS, type PasswordOptions, randomPassword } from '../crypto/password.js';
import type { Io } from './io.js';
import { askHiddenConfirmed } from './prompt.js';

/** Parses a positive integer flag. */
export function intArg(flag: string): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value)) throw new SecretsError('USAGE', `${flag} must be a whole number, not ${JSON.stringify(value)}`);
    return Number(value);
  };
}

/** Adds the options of `random` (shared with `--generate`). */
export function addPasswordOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--length <n>', 'password length (1-4096)').argParser(intArg('--length')).default(DEFAULT_PASSWORD_OPTIONS.length))
    .option('--exclude-characters <chars>', 'characters never to use')
    .option('--exclude-numbers', 'no digits')
    .option('--exclude-punctuation', 'no punctuation')
    .option('--exclude-uppercase', 'no upper-case letters')
    .option('--exclude-lowercase', 'no lower-case letters')
    .option('--include-space', 'allow the space character')
    .option('--require-each-included-type', 'at least one character of every included type (the default)')
    .option('--no-require-each-included-type', 'do not require every included type');
}

/** The password options from parsed flags. */
export function passwordOptions(opts: Record<string, unknown>): PasswordOptions {
  return {
    length: (opts['length'] as number | undefined) ?? DEFAULT_PASSWORD_OPTIONS.length,
    excludeCharacters: (opts['excludeCharacters'] as string | undefined) ?? '',
    excludeNumbers: opts['excludeNumbers'] === true,
    excludePunctuation: opts['excludePunctuation'] === true,
    excludeUppercase: opts['excludeUppercase'] === true,
    excludeLowercase: opts['excludeLowercase'] === true,
    includeSpace: opts['includeSpace'] === true,
    requireEachIncludedType: opts['requireEachIncludedType'] !== false,
  };
}

/** Adds `--value-stdin`, `--from-file` and `--generate` with the password options. */
export function addValueSourceOptions(cmd: Command): Command {
  cmd
    .option('--value-stdin', 'read the value from standard input (one trailing newline removed)')
    .option('--from-file <path>', 'read the value from a file, byte for byte (non-UTF-8 becomes a binary secret)')
    .option('--generate', 'generate a random password (see `secrets random` for the options)');
  return addPasswordOptions(cmd);
}

function typed(bytes: Uint8Array): NewValue {
  const value = new SecretBytes(bytes);
  return { bytes: value, type: value.revealText() === undefined ? 'binary' : 'string' };
}

/** True when one of the value source flags was given. */
export function hasValueSource(opts: Record<string, unknown>): boolean {
  return opts['valueStdin'] === true || opts['fromFile'] !== undefined || opts['generate'] === true;
}

/** Reads the value from the one source given, or prompts when allowed. */
export async function readValue(io: Io, opts: Record<string, unknown>, what: string): Promise<NewValue> {
  const given = [opts['valueStdin'] === true, opts['fromFile'] !== undefined, opts['generate'] === true].filter(Boolean).length;
  if (given > 1) {
    throw new SecretsError('USAGE', 'give one value source', 'pick one of --value-stdin, --from-file PATH, --generate');
  }
  if (opts['valueStdin'] === true) {
    const bytes = await io.readStdin();
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0a) end--;
    if (end > 0 && end < bytes.length && bytes[end - 1] === 0x0d) end--;
    return typed(bytes.subarray(0, end));
  }
  if (typeof opts['fromFile'] === 'string') {
    const path = opts['fromFile'];
    try {
      const bytes = readFileSync(path);
      if (bytes.length > MAX_VALUE_BYTES) {
        throw new SecretsError('LIMIT_EXCEEDED', `${path} is ${bytes.length} bytes; the limit is ${MAX_VALUE_BYTES} (64 KiB)`);
      }
      return typed(new Uint8Array(bytes));
    } catch (err) {
      if (err instanceof SecretsError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new SecretsError('USAGE', `cannot read ${path}: ${code}`, code === 'ENOENT' ? 'check the path' : `check the permissions of ${path}`);
    }
  }
  if (opts['generate'] === true) {
    return { bytes: SecretBytes.fromString(randomPassword(passwordOptions(opts))), type: 'string' };
  }
  if (!io.stdinIsTTY || !io.stderrIsTTY) {
    throw new SecretsError(
      'USAGE',
      `no value given for ${what}, and standard input is not a terminal to ask on`,
      'pipe the value with --value-stdin, or use --from-file PATH or --generate',
    );
  }
  return { bytes: await askHiddenConfirmed(`Value for ${what}`), type: 'string' };
}
