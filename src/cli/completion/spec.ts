/**
 * What the shell completions offer, read from the commander tree: the commands, their options
 * and arguments. The tree does not say what a value can be, so the tables below do; building
 * the spec fails when a table names a command or option the tree lacks, or when a command with
 * arguments (or a --format option) is missing from them, so the completions cannot drift.
 */
import type { Argument, Command, Help, Option } from 'commander';

/**
 * What a word can be completed with: a fixed list of words, a name read from the vault
 * (`secret`, `member`, `policy`), a path (`file`, `dir`), a rotation handler (`password`… or
 * `command:NAME`), a command line (`command`, for exec), or nothing (`none`: free text).
 */
export type ValueKind = readonly string[] | 'secret' | 'member' | 'policy' | 'file' | 'dir' | 'handler' | 'command' | 'none';

/** One option as the completions see it. */
export interface OptionSpec {
  readonly short?: string;
  readonly long?: string;
  readonly description: string;
  /** Absent: a flag that takes no value (an optional value is never completed either). */
  readonly value?: ValueKind;
  /** The placeholder of its value in the help (`key=value` for `--tag <key=value>`). */
  readonly valueName?: string;
  /** Its help says it may be given several times. */
  readonly repeatable: boolean;
}

/** One positional argument. */
export interface ArgumentSpec {
  readonly name: string;
  readonly description: string;
  readonly value: ValueKind;
  readonly required: boolean;
  readonly variadic: boolean;
}

/** One command; `path` is empty for the program itself. */
export interface CommandSpec {
  readonly path: readonly string[];
  readonly description: string;
  /** Its own options, then the program's global ones (commander accepts those anywhere). */
  readonly options: readonly OptionSpec[];
  readonly args: readonly ArgumentSpec[];
  readonly subcommands: readonly CommandSpec[];
}

const STAGES = ['CURRENT', 'PREVIOUS', 'PENDING'];

/** Option values by long flag, in whichever command it appears. */
const OPTION_VALUES: Readonly<Record<string, ValueKind>> = {
  '--vault': 'file',
  '--identity-file': 'file',
  '--audit': ['required', 'best-effort'],
  '--version-stage': STAGES,
  '--from-file': 'file',
  '--env-file': 'file',
  '--file': 'file',
  '--in': 'file',
  '--out': 'file',
  '--passphrase-file': 'file',
  '--handler': 'handler',
  '--secret': 'secret',
  '--master-secret': 'secret',
  '--role': ['admin', 'member'],
  '--type': ['identity', 'resource'],
  '--outcome': ['success', 'denied', 'error'],
  '--member': 'member',
  '--principal': 'member',
  '--exposed-to': 'member',
};

/** Option values that differ by command ("PATH --long"), ahead of OPTION_VALUES. */
const COMMAND_OPTION_VALUES: Readonly<Record<string, ValueKind>> = {
  'env --format': ['dotenv', 'shell', 'docker', 'json', 'yaml'],
  'import --format': ['dotenv', 'json', 'aws', 'backup'],
  'export --format': ['dotenv', 'json', 'backup'],
  'audit export --format': ['jsonl', 'cloudtrail'],
  'stage --to': STAGES,
  'stage --from': STAGES,
};

/** Every command that takes arguments, with what each one is (choices in the tree need no entry). */
const ARGUMENT_VALUES: Readonly<Record<string, readonly ValueKind[]>> = {
  create: ['none'],
  get: ['secret'],
  put: ['secret'],
  edit: ['secret'],
  update: ['secret'],
  describe: ['secret'],
  versions: ['secret'],
  stage: ['secret', STAGES],
  rollback: ['secret'],
  tag: ['secret', 'none'],
  untag: ['secret', 'none'],
  delete: ['secret'],
  restore: ['secret'],
  rotate: ['secret'],
  exec: ['command'],
  import: ['file'],
  clone: ['none', 'dir'],
  'member add': ['none', 'none'],
  'member remove': ['member'],
  'member confirm': ['member', 'secret'],
  'handler allow': ['none', 'file'],
  'handler remove': ['none'],
  'policy put': ['policy'],
  'policy get': ['policy'],
  'policy delete': ['policy'],
  'policy attach': ['policy', 'member'],
  'policy detach': ['policy', 'member'],
};

const REPEATABLE = /\brepeat(able)?\b/;

function choices(x: Option | Argument): readonly string[] | undefined {
  return x.argChoices && x.argChoices.length > 0 ? x.argChoices : undefined;
}

function optionSpec(o: Option, path: string, used: Set<string>): OptionSpec {
  const takesValue = o.required && !o.negate;
  let value: ValueKind | undefined;
  if (takesValue) {
    const byCommand = o.long === undefined ? undefined : COMMAND_OPTION_VALUES[`${path} ${o.long}`];
    const byName = o.long === undefined ? undefined : OPTION_VALUES[o.long];
    if (byCommand !== undefined) used.add(`${path} ${o.long}`);
    else if (byName !== undefined && o.long !== undefined) used.add(o.long);
    value = choices(o) ?? byCommand ?? byName ?? 'none';
    if (o.long === '--format' && value === 'none') throw new Error(`completion spec: "${path} --format" has no values in COMMAND_OPTION_VALUES`);
  }
  return {
    ...(o.short !== undefined ? { short: o.short } : {}),
    ...(o.long !== undefined ? { long: o.long } : {}),
    description: o.description,
    ...(value !== undefined ? { value, valueName: /<([^>]+)>/.exec(o.flags)?.[1] ?? 'value' } : {}),
    repeatable: REPEATABLE.test(o.description),
  };
}

function argumentSpecs(cmd: Command, path: string, siblings: readonly string[], used: Set<string>): ArgumentSpec[] {
  const args = cmd.registeredArguments;
  if (args.length === 0) return [];
  // The help command commander adds to every command with subcommands: its argument is one of them.
  const isHelp = cmd.name() === 'help' && args.length === 1 && cmd.options.length === 0;
  const table = ARGUMENT_VALUES[path];
  if (table !== undefined) used.add(path);
  if (table !== undefined && table.length !== args.length) {
    throw new Error(`completion spec: ARGUMENT_VALUES["${path}"] lists ${table.length} arguments, the command has ${args.length}`);
  }
  return args.map((a, i) => {
    const value = choices(a) ?? (isHelp ? siblings : table?.[i]);
    if (value === undefined) throw new Error(`completion spec: argument <${a.name()}> of "${path}" is not in ARGUMENT_VALUES`);
    return { name: a.name(), description: a.description, value, required: a.required, variadic: a.variadic };
  });
}

interface Context {
  readonly help: Help;
  readonly globals: readonly OptionSpec[];
  readonly used: Set<string>;
}

function commandSpec(cmd: Command, path: readonly string[], siblings: readonly string[], ctx: Context): CommandSpec {
  const key = path.join(' ');
  const subs = ctx.help.visibleCommands(cmd);
  const names = subs.map((c) => c.name()).filter((n) => n !== 'help');
  const own = ctx.help.visibleOptions(cmd).map((o) => optionSpec(o, key, ctx.used));
  return {
    path,
    description: ctx.help.subcommandDescription(cmd),
    // The same objects everywhere, so a renderer can tell a global option by identity.
    options:
      path.length === 0
        ? own.map((o) => ctx.globals.find((g) => g.long === o.long) ?? o)
        : [...own, ...ctx.globals.filter((g) => !own.some((o) => o.long === g.long))],
    args: argumentSpecs(cmd, key, siblings, ctx.used),
    subcommands: subs.map((sub) => commandSpec(sub, [...path, sub.name()], names, ctx)),
  };
}

/** The spec of the whole tree; throws when the value tables and the tree disagree. */
export function buildCompletionSpec(program: Command): CommandSpec {
  const help = program.createHelp();
  const used = new Set<string>();
  const globals = help
    .visibleOptions(program)
    .filter((o) => o.long !== '--help' && o.long !== '--version')
    .map((o) => optionSpec(o, '', used));
  const spec = commandSpec(program, [], [], { help, globals, used });
  const unused = [...Object.keys(OPTION_VALUES), ...Object.keys(COMMAND_OPTION_VALUES), ...Object.keys(ARGUMENT_VALUES)].filter((k) => !used.has(k));
  if (unused.length > 0) throw new Error(`completion spec: no such command or option in the tree: ${unused.join(', ')}`);
  return spec;
}

/** The program's options that every command accepts (not --help and --version). */
export function globalOptions(spec: CommandSpec): OptionSpec[] {
  return spec.options.filter((o) => o.long !== '--help' && o.long !== '--version');
}

/** Every command of the spec, the program first, depth first. */
export function allCommands(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.subcommands.flatMap(allCommands)];
}
