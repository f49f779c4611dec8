/**
 * `secrets completion bash|zsh|fish`: prints the shell completion script shipped in
 * completions/. And the hidden `secrets __complete secrets|members|policies|handlers [PREFIX]`
 * those scripts call for names: a line scan of the vault file (or this machine's handler
 * allowlist) that loads no identity and no key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Argument, type Command } from 'commander';
import { SecretsError } from '../../core/errors.js';
import { FileHandlerAllowlist } from '../../store/handler-allowlist.js';
import { type NamedKind, readPlaintextNames } from '../../store/plaintext-names.js';
import type { App } from '../app.js';
import type { GlobalOptions } from '../../app/compose.js';
import { resolvePaths } from '../../app/paths.js';

/** The shells we ship a completion script for, and its file in completions/. */
export const COMPLETION_FILES = { bash: 'secrets.bash', zsh: '_secrets', fish: 'secrets.fish' } as const;

/** The shells `secrets completion` knows. */
export type Shell = keyof typeof COMPLETION_FILES;

const NAME_KINDS: Record<string, NamedKind> = { secrets: 'secret', members: 'member', policies: 'policy' };

/** The handler names this machine allows; none when its allowlist cannot be trusted or read. */
function allowedHandlerNames(configDir: string): string[] {
  try {
    return new FileHandlerAllowlist(configDir).list().map((h) => h.Name);
  } catch {
    return [];
  }
}

/** The package's completions/ directory: the nearest one above this module (dist/src/… or the bundle in dist/). */
function completionsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5 && !existsSync(join(dir, 'completions', COMPLETION_FILES.bash)); up++) dir = dirname(dir);
  return join(dir, 'completions');
}

/** The completion script for `shell`, as shipped. */
export function completionScript(shell: Shell): string {
  try {
    return readFileSync(join(completionsDir(), COMPLETION_FILES[shell]), 'utf8');
  } catch (err) {
    throw new SecretsError(
      'STORAGE',
      `cannot read the ${shell} completion script: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      'reinstall secrets: the completions/ directory is part of the package',
    );
  }
}

export function register(program: Command, app: App): void {
  program
    .command('completion')
    .description('print the shell completion script for bash, zsh or fish (see README: Shell completion)')
    .addArgument(new Argument('<shell>', 'the shell').choices(Object.keys(COMPLETION_FILES)))
    .action((shell: Shell) => {
      app.emit({ stdout: completionScript(shell) });
    });

  program
    .command('__complete', { hidden: true })
    .description('names for the shell completion scripts, one a line, sorted; never unlocks anything')
    .addArgument(new Argument('<kind>', 'what to list').choices([...Object.keys(NAME_KINDS), 'handlers']))
    .argument('[prefix]', 'only names that start with this', '')
    .action((kind: string, prefix: string, _opts: unknown, cmd: Command) => {
      const paths = resolvePaths(app.io.env, cmd.optsWithGlobals<GlobalOptions>().vault);
      const all = kind === 'handlers' ? allowedHandlerNames(paths.configDir) : readPlaintextNames(paths.vault, NAME_KINDS[kind] ?? 'secret');
      const names = all.filter((n) => n.startsWith(prefix));
      app.emit({ stdout: names.map((n) => `${n}\n`).join('') });
    });
}
