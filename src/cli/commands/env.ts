/** `secrets env [selection] [--format …]`: the selected secrets as text for `eval`, files or programs. */
import type { Command } from 'commander';
import { dotenvQuote, shellQuote } from '../../core/dotenv.js';
import { SecretsError } from '../../core/errors.js';
import { type Released, releaseSecrets } from '../../core/use-cases/release.js';
import type { App } from '../app.js';
import { collect, selectionSources, type SelectionFlags } from '../selection.js';

const FORMATS = ['dotenv', 'shell', 'docker', 'json', 'yaml'] as const;
type Format = (typeof FORMATS)[number];

/** The variables in one format. Values are text; binary values are refused by the caller. */
export function formatEnvironment(vars: readonly { variable: string; value: string }[], format: Format): string {
  switch (format) {
    case 'dotenv':
      return vars.map((v) => `${v.variable}=${dotenvQuote(v.value)}\n`).join('');
    case 'shell':
      return vars.map((v) => `export ${v.variable}=${shellQuote(v.value)}\n`).join('');
    case 'docker':
      // docker --env-file takes everything after `=` literally, up to the end of the line.
      for (const v of vars) {
        if (/[\n\r\0]/.test(v.value)) {
          throw new SecretsError(
            'INVALID_VALUE',
            `${v.variable} spans several lines, which docker --env-file cannot carry`,
            'use --format shell (for eval) or pass it with docker -e',
          );
        }
      }
      return vars.map((v) => `${v.variable}=${v.value}\n`).join('');
    case 'json':
      return `${JSON.stringify(Object.fromEntries(vars.map((v) => [v.variable, v.value])), null, 2)}\n`;
    case 'yaml':
      // A JSON string is a valid YAML double-quoted scalar.
      return vars.map((v) => `${v.variable}: ${JSON.stringify(v.value)}\n`).join('');
  }
}

/** The text of each variable; binary values are refused. */
export function textValues(released: readonly Released[]): { variable: string; value: string }[] {
  return released.map((r) => {
    const text = r.value.revealText();
    if (text === undefined || text.includes('\0')) {
      throw new SecretsError(
        'INVALID_VALUE',
        `${r.variable} (${r.origin}) is binary and cannot be printed as text`,
        'use `secrets get NAME > FILE` for binary secrets',
      );
    }
    return { variable: r.variable, value: text };
  });
}

export function register(program: Command, app: App): void {
  program
    .command('env')
    .description('print the selected secrets as dotenv, shell exports, a docker env-file, JSON or YAML')
    .option('--env-file <file>', 'a references file (repeatable; default ./secrets.env)', collect)
    .option('--secret <name[=VAR]>', 'a secret, as NAME_IN_CAPS or VAR (repeatable)', collect)
    .option('--prefix <prefix>', 'every secret under PREFIX (repeatable)', collect)
    .option('--strict', 'fail if any reference cannot be resolved')
    .option('--format <format>', `${FORMATS.join(', ')}`, 'dotenv')
    .action(async (opts: SelectionFlags & { strict?: boolean; format: string }, cmd: Command) => {
      if (!(FORMATS as readonly string[]).includes(opts.format)) {
        throw new SecretsError('USAGE', `--format must be one of ${FORMATS.join(', ')}, not ${JSON.stringify(opts.format)}`);
      }
      // The output is usually eval'd or sourced by the shell that runs us: a name a secret chose may
      // not replace a variable of this environment, nor set a loader, shell or runtime variable.
      const sources = selectionSources(opts, process.cwd());
      const release = await releaseSecrets(app.deps(cmd), { sources, strict: opts.strict === true, environment: app.io.env, textOnly: true });
      for (const p of release.problems) app.warn(`${p.variable ?? p.origin}: ${p.error.message}; left out (--strict makes this an error)`);
      try {
        app.emit({ stdout: formatEnvironment(textValues(release.variables), opts.format as Format) });
      } finally {
        for (const v of release.variables) v.value.wipe();
      }
    });
}
