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
