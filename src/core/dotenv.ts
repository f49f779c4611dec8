/**
 * dotenv files, both ways. Parsing follows the common dotenv rules (`KEY=VALUE`, optional
 * `export `, `#` comments, single quotes literal, double quotes with `\n` `\"` `\\` escapes and
 * multi-line values, unquoted values trimmed and cut at ` #`). Serialising picks a quoting that
 * round-trips through bash `eval`, `set -a; . FILE`, and (for docker) states what cannot.
 */
import { SecretsError } from './errors.js';
import { isEnvName } from './references.js';

/** One `KEY=VALUE` of a file, with its line number. */
export interface DotenvEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

/** Parses a dotenv text; throws USAGE naming the line of the first error. */
export function parseDotenv(text: string, source: string): DotenvEntry[] {
  const out: DotenvEntry[] = [];
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i] as string;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const body = line.startsWith('export ') ? line.slice(7).trimStart() : line;
    const eq = body.indexOf('=');
    const fail = (why: string): SecretsError =>
      new SecretsError('USAGE', `${source}:${lineNo}: ${why}`, 'each line is KEY=VALUE (values may be quoted); # starts a comment');
    if (eq <= 0) throw fail('expected KEY=VALUE');
    const key = body.slice(0, eq).trim();
    // Never quote the line: a value whose quotes went wrong (a PEM body with base64 `=` padding,
    // say) lands here, and an error must not print any of it.
    if (!isEnvName(key)) throw fail('the text before "=" is not a variable name (letters, digits and _, not starting with a digit)');
    let rest = body.slice(eq + 1).trimStart();
    let value: string;
    if (rest.startsWith("'") || rest.startsWith('"')) {
      const quote = rest[0] as string;
      let acc = '';
      let j = 1;
      let closed = false;
      for (;;) {
        while (j < rest.length) {
          const c = rest[j] as string;
          if (quote === '"' && c === '\\' && j + 1 < rest.length) {
            const n = rest[j + 1] as string;
            acc += n === 'n' ? '\n' : n === 'r' ? '\r' : n === 't' ? '\t' : n;
            j += 2;
            continue;
          }
          if (c === quote) {
            closed = true;
            break;
          }
          acc += c;
          j++;
        }
        if (closed) break;
        // The value goes on: a newline inside quotes is part of it.
        i++;
        if (i >= lines.length) throw fail(`unterminated ${quote === '"' ? 'double' : 'single'} quote`);
        acc += '\n';
        rest = lines[i] as string;
        j = 0;
      }
      const after = rest.slice(j + 1).trim();
      if (after !== '' && !after.startsWith('#')) throw fail('unexpected text after the closing quote');
      value = acc;
    } else {
      const hashAt = rest.search(/\s#/);
      value = (hashAt >= 0 ? rest.slice(0, hashAt) : rest).trim();
    }
    out.push({ key, value, line: lineNo });
  }
  return out;
}

/** A value quoted for a dotenv file that `parseDotenv` (and dotenv libraries) read back exactly. */
export function dotenvQuote(value: string): string {
  if (/^[A-Za-z0-9_./:@%+,-]*$/.test(value)) return value;
  if (!value.includes("'") && !value.includes('\n') && !value.includes('\r')) return `'${value}'`;
  // `$` and backquote are escaped too: a shell sourcing the file must not expand or run them.
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$').replace(/`/g, '\\`').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
}

/** A value quoted for POSIX shells (`eval`, `. FILE`): single quotes, with `'` as `'\''`. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_./:@%+,=-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
