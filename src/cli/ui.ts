/**
 * Everything a person reads: `secrets: error: …` / `secrets: hint: …` / `secrets: warning: …`,
 * tables and key-value blocks. Data goes to stdout, messages to stderr (DESIGN.md section 11).
 */

/** One error line and an optional hint line. */
export function formatError(message: string, hint?: string): string {
  return `secrets: error: ${message}\n${hint ? `secrets: hint: ${hint}\n` : ''}`;
}

/** A warning; continuation lines are kept as given. */
export function formatWarning(message: string): string {
  return `secrets: warning: ${message}\n`;
}

/** Pretty JSON with a final newline. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A plain aligned table; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/** `Key: value` lines, skipping undefined values. */
export function formatFields(fields: readonly (readonly [string, string | undefined])[]): string {
  const shown = fields.filter((f): f is readonly [string, string] => f[1] !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}\n`).join('');
}

/** A progress counter on stderr, drawn only on a terminal (DESIGN.md section 11). */
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
