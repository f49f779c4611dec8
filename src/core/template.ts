/**
 * Templates for `secrets inject`: `{{ secret://NAME[#FIELD][?…] [| FILTER] }}` placeholders,
 * and the filters that write a value so that the file's own parser reads it back exactly
 * (docs/programs.md). Pure: no I/O, no values kept.
 */
import { shellQuote } from './dotenv.js';
import { SecretsError } from './errors.js';

/**
 * How a value is written in place of its placeholder. `raw` is the default: the template's
 * author may already have written quotes around the placeholder, and inject cannot know the
 * file's syntax without guessing it.
 */
export const TEMPLATE_FILTERS = ['raw', 'yaml', 'json', 'shell'] as const;

/** One of TEMPLATE_FILTERS. */
export type TemplateFilter = (typeof TEMPLATE_FILTERS)[number];

/** A placeholder found in a template. */
export interface Placeholder {
  /** The reference text, `secret://…`. */
  readonly reference: string;
  readonly filter: TemplateFilter;
  /** 1-based line of the placeholder, for messages. */
  readonly line: number;
}

/**
 * `{{`, the reference (no space, `}` or `|`: no secret name holds one), an optional
 * `| filter`, `}}`. Anything else between braces is left alone, as before filters existed.
 */
const PLACEHOLDER = /\{\{\s*(secret:\/\/[^\s}|]+)\s*(?:\|\s*([^\s}]*)\s*)?\}\}/g;

function isFilter(name: string): name is TemplateFilter {
  return (TEMPLATE_FILTERS as readonly string[]).includes(name);
}

/** Where a placeholder starts: each one must then parse in full. */
const OPENING = /\{\{\s*secret:\/\//g;

function lineAt(template: string, index: number): number {
  return template.slice(0, index).split('\n').length;
}

/**
 * The placeholders of a template, in order. Throws USAGE (with the line) for an unknown filter,
 * or for `{{ secret://` that does not close as a placeholder: copied as it is, it would leave a
 * reference unrendered in a file that looks complete.
 */
export function findPlaceholders(template: string, source: string): Placeholder[] {
  const matches = [...template.matchAll(PLACEHOLDER)];
  const starts = new Set(matches.map((m) => m.index));
  for (const open of template.matchAll(OPENING)) {
    if (!starts.has(open.index)) {
      throw new SecretsError(
        'USAGE',
        `${source}:${lineAt(template, open.index)}: a {{ secret://… }} placeholder that does not parse`,
        `write {{ secret://NAME }} or {{ secret://NAME | FILTER }} with FILTER one of ${TEMPLATE_FILTERS.join(', ')}`,
      );
    }
  }
  return matches.map((m) => {
    const line = lineAt(template, m.index);
    const filter = m[2] ?? 'raw';
    if (!isFilter(filter)) {
      throw new SecretsError(
        'USAGE',
        `${source}:${line}: unknown template filter ${JSON.stringify(filter.slice(0, 40))}`,
        `write {{ secret://NAME | FILTER }} with FILTER one of ${TEMPLATE_FILTERS.join(', ')}`,
      );
    }
    return { reference: m[1] as string, filter, line };
  });
}

/** `template` with the n-th placeholder replaced by `values[n]` (already filtered). */
export function fillPlaceholders(template: string, values: readonly string[]): string {
  let i = 0;
  // A function, not a string: `$&` in a value is not a replacement pattern.
  return template.replace(PLACEHOLDER, () => values[i++] ?? '');
}

/**
 * Characters YAML does not allow raw in a scalar (outside c-printable, or read as a line break
 * by YAML 1.1 parsers), which JSON.stringify leaves as they are: DEL, C1 controls, NEL, the
 * Unicode line and paragraph separators, the BOM and the noncharacters U+FFFE/U+FFFF.
 */
const YAML_UNSAFE = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g;

/**
 * A YAML double-quoted scalar, quotes included. A JSON string is one, once the characters YAML
 * refuses raw are escaped as `\uXXXX` (an escape both languages read the same way).
 */
export function yamlQuote(value: string): string {
  return JSON.stringify(value).replace(YAML_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A value written through `filter`. */
export function applyFilter(filter: TemplateFilter, value: string): string {
  switch (filter) {
    case 'raw':
      return value;
    case 'yaml':
      return yamlQuote(value);
    case 'json':
      // U+2028/U+2029 are valid in JSON; escaped anyway so the string is also valid JavaScript.
      return JSON.stringify(value).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
    case 'shell':
      return shellQuote(value);
  }
}
