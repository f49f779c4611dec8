/**
 * Everything a person reads: `secrets: error: …` / `secrets: hint: …` / `secrets: warning: …`,
 * notes, tables and key-value blocks. Data goes to stdout, messages to stderr. Nothing else
 * writes these prefixes, so colour and wording change here only.
 */

/** Styles for one stream; the identity unless colour is on (see setColours). */
interface Painter {
  red(t: string): string;
  yellow(t: string): string;
  dim(t: string): string;
  bold(t: string): string;
}

const plain: Painter = { red: (t) => t, yellow: (t) => t, dim: (t) => t, bold: (t) => t };
let out: Painter = plain;
let err: Painter = plain;

/** Turns colour on for stdout and/or stderr (cli/main.ts, after colour.ts decided). */
export function setColours(colours: { out?: Painter; err?: Painter }): void {
  out = colours.out ?? plain;
  err = colours.err ?? plain;
}

/** One error line and an optional hint line. */
export function formatError(message: string, hint?: string): string {
  return `${err.red('secrets: error:')} ${message}\n${hint ? `${err.dim('secrets: hint:')} ${hint}\n` : ''}`;
}

/** A hint line alone, after an error line someone else printed (commander's parse errors). */
export function formatHint(hint: string): string {
  return `${err.dim('secrets: hint:')} ${hint}\n`;
}

/** A warning; continuation lines are kept as given. */
export function formatWarning(message: string): string {
  return `${err.yellow('secrets: warning:')} ${message}\n`;
}

/** A note on stderr that is no problem (`secrets: merged: …`); never styled. */
export function formatNote(message: string): string {
  return `secrets: ${message}\n`;
}

/**
 * commander's own error text, which it passes as `error: MESSAGE\n` (MESSAGE may have a second
 * line, its "Did you mean" one), as one of our errors; anything else is left as it is.
 */
export function formatParseError(text: string): string {
  if (!text.startsWith('error: ')) return text;
  return formatError(text.slice('error: '.length).replace(/\n$/, ''));
}

/** Pretty JSON with a final newline. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * An aligned table (the last column is not padded): a bold header, and the columns named in
 * `dimmed` (ids, dates) dimmed, when stdout is coloured. Widths are measured before styling.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], dimmed: readonly number[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[], style: (t: string, i: number) => string): string =>
    cells
      .map((c, i) => style(i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0), i))
      .join('  ')
      .trimEnd();
  const head = line(headers, (t) => out.bold(t));
  const body = rows.map((r) => line(r, (t, i) => (dimmed.includes(i) ? out.dim(t) : t)));
  return [head, ...body].map((l) => `${l}\n`).join('');
}

/** `Key: value` lines, skipping undefined values. */
export function formatFields(fields: readonly (readonly [string, string | undefined])[]): string {
  const shown = fields.filter((f): f is readonly [string, string] => f[1] !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}\n`).join('');
}

/** A progress counter on stderr, drawn only on a terminal, so stdout stays data. */
export function progressOnTty(
  io: { readonly stderrIsTTY: boolean; writeErr(text: string): void },
  label: string,
): ((done: number, total: number) => void) | undefined {
  if (!io.stderrIsTTY) return undefined;
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done !== total && now - last < 100) return;
    last = now;
    io.writeErr(`\r${label} ${done}/${total}${done === total ? '\n' : ''}`);
  };
}

/** A line about a re-seal, or nothing when no key moved. */
export function resealSummary(r: { changed: number; unshared: readonly string[] }): string {
  const parts: string[] = [];
  if (r.changed > 0) parts.push(`Re-sealed the data keys of ${r.changed} version(s).\n`);
  if (r.unshared.length > 0) {
    parts.push(
      formatWarning(
        `this identity holds no key for some versions of ${r.unshared.join(', ')}, so it could not share them; ` +
          'a member who can read them should run `secrets reseal`',
      ),
    );
  }
  return parts.join('');
}
