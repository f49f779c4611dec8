/**
 * createProgram: the commander tree. Parsing errors become usage errors (exit 2) through
 * exitOverride; output goes through the Io so tests and main see the same thing.
 */
import { Command } from 'commander';
import type { App } from './app.js';
import { examplesText, exitCodesText } from './help.js';
import { VERSION } from './version.js';

/** A command module: registers its commands on the program. */
type CommandModule = { register(program: Command, app: App): void };

/**
 * Every command module, in help order, with the top-level commands it registers. Modules load
 * only when needed: a run of `get` imports get.js alone, so no command pays for the others'
 * dependencies (DESIGN.md section 2: "lazy-load what a command does not need").
 */
const MODULES: readonly (readonly [readonly string[], () => Promise<CommandModule>])[] = [
  [['init'], () => import('./commands/init.js')],
  [['create'], () => import('./commands/create.js')],
  [['get'], () => import('./commands/get.js')],
  [['put'], () => import('./commands/put.js')],
  [['update'], () => import('./commands/update.js')],
  [['describe'], () => import('./commands/describe.js')],
  [['versions'], () => import('./commands/versions.js')],
  [['stage', 'rollback'], () => import('./commands/stage.js')],
  [['list'], () => import('./commands/list.js')],
  [['tag', 'untag'], () => import('./commands/tag.js')],
  [['delete', 'restore'], () => import('./commands/delete.js')],
  [['rotate'], () => import('./commands/rotate.js')],
  [['handler'], () => import('./commands/handler.js')],
  [['exec'], () => import('./commands/exec.js')],
  [['env'], () => import('./commands/env.js')],
  [['inject'], () => import('./commands/inject.js')],
  [['import', 'export'], () => import('./commands/transfer.js')],
  [['random'], () => import('./commands/random.js')],
  [['identity'], () => import('./commands/identity.js')],
  [['member'], () => import('./commands/member.js')],
  [['policy'], () => import('./commands/policy.js')],
  [['verify', 'reseal'], () => import('./commands/verify.js')],
  [['sync', 'clone', 'status', 'merge-driver', 'diff-text'], () => import('./commands/sync.js')],
  [['audit'], () => import('./commands/audit.js')],
  [['doctor'], () => import('./commands/doctor.js')],
  [['completion', '__complete'], () => import('./commands/completion.js')],
];

/** Global options that take a value (so the command name is found after them). */
const GLOBAL_WITH_VALUE = new Set(['--vault', '--identity-file', '--audit']);

/** The command word of `argv`: the first argument that is not a global option or its value. */
export function commandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (GLOBAL_WITH_VALUE.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) {
      if (a === '--no-color' || [...GLOBAL_WITH_VALUE].some((g) => a.startsWith(`${g}=`))) continue;
      return undefined; // --help, --version or an unknown flag: the full program answers
    }
    return a;
  }
  return undefined;
}

/** The modules `argv` needs: the one owning its command, or all of them (help, unknown commands). */
export async function commandModules(argv: readonly string[]): Promise<CommandModule[]> {
  const word = commandWord(argv);
  if (word === 'exit-codes') return [];
  const owner = word !== undefined && word !== 'help' ? MODULES.find(([names]) => names.includes(word)) : undefined;
  return Promise.all((owner ? [owner] : MODULES).map(([, load]) => load()));
}

export { VERSION };

/** Builds the command tree with the given command modules (commandModules picks them). */
export function createProgram(app: App, modules: readonly CommandModule[]): Command {
  const program = new Command('secrets')
    .description('A local-first secrets manager: an encrypted vault file, versions with staging labels, the key in your OS keychain.')
    .version(VERSION, '-V, --version')
    .option('--vault <path>', 'vault file (default $SECRETS_VAULT or $XDG_DATA_HOME/secrets/vault.yaml)')
    .option('--identity-file <path>', 'read the identity key from this file (or $SECRETS_IDENTITY_FILE)')
    .option('--audit <mode>', 'required (default: fail closed) or best-effort (or $SECRETS_AUDIT, or "audit" in config.json)')
    .option('--no-color', 'no colour (also NO_COLOR=1; FORCE_COLOR=1 forces it)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => app.io.writeOut(s),
      writeErr: (s) => app.io.writeErr(s),
      outputError: (s, write) => write(s.replace(/^error: /, 'secrets: error: ')),
    });
  program.configureHelp({ sortSubcommands: false });
  for (const m of modules) m.register(program, app);
  program
    .command('exit-codes')
    .description('what each exit code means')
    .addHelpText('after', exitCodesText())
    .action(() => app.emit({ stdout: exitCodesText().trimStart() }));
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  const pathOf = (c: Command): string => {
    const names: string[] = [];
    for (let x: Command | null = c; x && x !== program; x = x.parent) names.unshift(x.name());
    return names.join(' ');
  };
  for (const cmd of all(program).slice(1)) {
    const examples = examplesText(pathOf(cmd));
    if (examples !== '') cmd.addHelpText('after', examples);
    cmd.exitOverride().configureOutput({
      writeOut: (s) => app.io.writeOut(s),
      writeErr: (s) => app.io.writeErr(s),
      outputError: (s, write) => write(s.replace(/^error: /, 'secrets: error: ')),
    });
  }
  return program;
}
