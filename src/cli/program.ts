/**
 * createProgram: the commander tree. Parsing errors become usage errors (exit 2) through
 * exitOverride; output goes through the Io so tests and main see the same thing.
 */
import { Command, type Option } from 'commander';
import { shellQuote } from '../core/dotenv.js';
import { SecretsError } from '../core/errors.js';
import type { App } from './app.js';
import { examplesText, exitCodesText } from './help.js';
import { nearest } from './suggest.js';
import { formatParseError } from './ui.js';
import { VERSION } from './version.js';

/** A command module: registers its commands on the program. */
type CommandModule = { register(program: Command, app: App): void };

/**
 * Every command module, in help order, with the top-level commands it registers. Modules load
 * only when needed: a run of `get` imports get.js alone, so no command pays for the others'
 * dependencies.
 */
const MODULES: readonly (readonly [readonly string[], () => Promise<CommandModule>])[] = [
  [['init'], () => import('./commands/init.js')],
  [['create'], () => import('./commands/create.js')],
  [['get'], () => import('./commands/get.js')],
  [['put'], () => import('./commands/put.js')],
  [['edit'], () => import('./commands/edit.js')],
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
  [['compact'], () => import('./commands/compact.js')],
  [['migrate'], () => import('./commands/migrate.js')],
  [['serve', 'aws-credentials'], () => import('./commands/serve.js')],
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

/** Where a command line lands in the tree: the command it runs and where that command's operands start. */
export interface CommandLine {
  readonly command: Command;
  /** The command words, without the program's name (`['member', 'add']`). */
  readonly path: readonly string[];
  /** Index in argv of the first operand the command itself takes, if any. */
  readonly operandAt: number | undefined;
}

/** The option `flag` names on `cmd` or an ancestor (global options are accepted anywhere). */
function optionOf(cmd: Command, flag: string): Option | undefined {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const o = c.options.find((x) => x.long === flag || x.short === flag);
    if (o) return o;
  }
  return undefined;
}

/**
 * Walks `argv` down the command tree. A word where a command of a group is expected must name
 * one: an unknown command is a usage error (exit 2) with the nearest names as a hint, also with
 * `--help` (commander would print the general help and exit 0) and after `help`.
 */
export function commandLine(program: Command, argv: readonly string[]): CommandLine {
  let command = program;
  const path: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return { command, path, operandAt: i + 1 < argv.length ? i + 1 : undefined };
    if (a.startsWith('-') && a !== '-') {
      const eq = a.indexOf('=');
      const option = optionOf(command, eq < 0 ? a : a.slice(0, eq));
      if (option?.required === true && eq < 0) i++;
      continue;
    }
    const group = command.commands.length > 0 && command.registeredArguments.length === 0;
    if (!group) return { command, path, operandAt: i };
    if (a === 'help') continue; // `help CMD`: CMD must exist too
    const sub = command.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) throw unknownCommand(command, path, a);
    command = sub;
    path.push(a);
  }
  return { command, path, operandAt: undefined };
}

function unknownCommand(group: Command, path: readonly string[], word: string): SecretsError {
  const names = group
    .createHelp()
    .visibleCommands(group)
    .flatMap((c) => [c.name(), ...c.aliases()]);
  const near = nearest(word, names);
  const prefix = ['secrets', ...path].join(' ');
  const list = `\`${prefix} --help\` lists the commands`;
  return new SecretsError(
    'USAGE',
    `unknown command '${[...path, word].join(' ')}'`,
    near.length > 0 ? `did you mean ${near.map((n) => `\`${prefix} ${n}\``).join(' or ')}? (${list})` : list,
  );
}

/**
 * A hint for a parse error commander reported, or undefined. `exec ls -la` reads `-la` as a flag
 * of exec: the hint shows the `--` that hands it to the command.
 */
export function parseErrorHint(program: Command, argv: readonly string[], code: string): string | undefined {
  if (code !== 'commander.unknownOption' || argv.includes('--')) return undefined;
  let line: CommandLine;
  try {
    line = commandLine(program, argv);
  } catch {
    return undefined;
  }
  if (line.path.join(' ') !== 'exec') return undefined;
  const at = line.operandAt;
  const unknown = argv.findIndex((a, i) => i > (at ?? -1) && a.startsWith('-') && a !== '-' && optionOf(line.command, a.split('=')[0] as string) === undefined);
  if (at === undefined || unknown < 0) return 'a flag for the command goes after --: secrets exec [flags] -- CMD [ARGS...]';
  // Our own flags, `--`, then the command up to the flag it has (not more of its arguments: they are not ours to repeat).
  const words = [...argv.slice(0, at), '--', ...argv.slice(at, unknown + 1)].map((w) => (w === '--' ? w : shellQuote(w)));
  return `a flag for the command goes after --: secrets ${words.join(' ')}${unknown + 1 < argv.length ? ' …' : ''}`;
}

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
      outputError: (s, write) => write(formatParseError(s)),
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
      outputError: (s, write) => write(formatParseError(s)),
    });
  }
  return program;
}
