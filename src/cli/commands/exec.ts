/**
 * `secrets exec [selection] [--pristine] [--strict] [--mask|--no-mask] [--shell] -- CMD [ARGS...]`:
 * runs CMD with secrets in its environment. The child is spawned directly (no shell unless
 * --shell), its exit code is ours (128+N for a signal), and SIGINT/SIGTERM/SIGHUP are
 * forwarded. With masking, secret values (and their common encodings) in its output become
 * `*****`; on a terminal the child still gets a terminal, through util-linux `script` (a
 * pseudo-terminal). A variable name derived from a secret never replaces an inherited variable
 * nor sets a protected one (core/protected-variables.ts), and our identity is not passed on.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { constants } from 'node:os';
import type { Command } from 'commander';
import { shellQuote } from '../../core/dotenv.js';
import { SecretsError, SIGNAL_EXIT_BASE } from '../../core/errors.js';
import { leadsToIdentity } from '../../core/protected-variables.js';
import { type Released, releaseSecrets } from '../../core/use-cases/release.js';
import type { App } from '../app.js';
import { restoreCoreDumpFilter } from '../core-dumps.js';
import { Masker, maskedForms } from '../mask.js';
import { collect, selectionSources, type SelectionFlags } from '../selection.js';

/** What a pristine child keeps from our environment. */
const PRISTINE_KEEP = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TERM', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

interface ExecFlags extends SelectionFlags {
  readonly pristine?: boolean;
  readonly strict?: boolean;
  readonly mask?: boolean;
  readonly shell?: boolean;
}

/**
 * What the child inherits before any secret is added: ours (or the pristine few), minus what
 * leads to our identity. The other SECRETS_* variables are settings (the vault, the audit mode,
 * the lock timeout) that a `secrets` run by the child should share, so they pass.
 */
export function inheritedEnvironment(parent: Readonly<Record<string, string | undefined>>, pristine: boolean): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent)) {
    if (v === undefined || leadsToIdentity(k)) continue;
    if (pristine && !PRISTINE_KEEP.includes(k)) continue;
    env[k] = v;
  }
  return env;
}

/** The child's environment: the inherited one plus the secrets. */
export function childEnvironment(inherited: Readonly<Record<string, string>>, released: readonly Released[]): Record<string, string> {
  const env: Record<string, string> = { ...inherited };
  for (const r of released) {
    const text = r.value.revealText();
    if (text === undefined || text.includes('\0')) {
      throw new SecretsError(
        'INVALID_VALUE',
        `${r.variable} (${r.origin}) is binary, and an environment variable holds text`,
        'use `secrets get` to write it to a file instead',
      );
    }
    env[r.variable] = text;
  }
  return env;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? (constants.signals as Record<string, number>)[signal] : undefined;
  return SIGNAL_EXIT_BASE + (n ?? 1);
}

export function register(program: Command, app: App): void {
  program
    .command('exec')
    .description('run a command with secrets in its environment (never on disk or argv): secrets exec --secret prod/db -- npm start')
    .argument('<command...>', 'the program and its arguments, after --')
    .option('--env-file <file>', 'a references file: VAR=secret://NAME[#FIELD][?stage=…] or VAR=plain (repeatable; default ./secrets.env)', collect)
    .option('--secret <name[=VAR]>', 'inject a secret as NAME_IN_CAPS (JSON: NAME_KEY per key), or as VAR (repeatable)', collect)
    .option('--prefix <prefix>', 'inject every secret under PREFIX, named after the rest of its name (repeatable)', collect)
    .option('--pristine', 'start from an empty environment (only PATH, HOME, USER, LOGNAME, SHELL, TERM, LANG, LC_ALL, TZ, TMPDIR)')
    .option('--strict', 'fail before starting the command if any reference cannot be resolved')
    .option('--mask', "replace secret values in the command's output with ***** (default: on when stdout is a terminal)")
    .option('--no-mask', 'never mask output')
    .option('--shell', 'run the command through /bin/sh -c (for pipes and $VARS)')
    .action(async (argv: string[], opts: ExecFlags, cmd: Command) => {
      const deps = app.deps(cmd);
      const [file, ...args] = argv;
      if (file === undefined) throw new SecretsError('USAGE', 'no command to run', 'secrets exec [flags] -- CMD [ARGS...]');
      const sources = selectionSources(opts, process.cwd());
      const program = opts.shell ? 'sh' : basename(file);
      const inherited = inheritedEnvironment(app.io.env, opts.pristine === true);
      // A name a secret chose may not replace what the child would inherit, nor set a loader, shell or runtime variable.
      const release = await releaseSecrets(deps, { sources, strict: opts.strict === true, command: program, environment: inherited, textOnly: true });
      for (const p of release.problems) {
        app.warn(`${p.variable ?? p.origin}: ${p.error.message}; not set (--strict makes this an error)`);
      }
      let env: Record<string, string>;
      try {
        env = childEnvironment(inherited, release.variables);
      } catch (err) {
        for (const v of release.variables) v.value.wipe();
        throw err;
      }
      const mask = opts.mask ?? app.io.stdoutIsTTY;
      const secretValues = mask ? maskedForms(release.variables.filter((v) => v.secret).map((v) => v.value.reveal())) : [];
      for (const v of release.variables) v.value.wipe();
      const command = opts.shell ? ['/bin/sh', '-c', argv.join(' ')] : [file, ...args];
      const code = await run(app, command, env, mask ? secretValues : undefined);
      for (const b of secretValues) b.fill(0);
      app.emit({ exitCode: code });
    });
}

/** The pid of `script`'s child (the command, which the shell `exec`s), to signal it directly. */
function ptyChild(scriptPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return children.length > 0 ? Number(children[0]) : undefined;
  } catch {
    return undefined;
  }
}

/** Spawns the child, forwards signals, masks if asked, and resolves with our exit code. */
function run(app: App, command: readonly string[], env: Record<string, string>, maskValues: Buffer[] | undefined): Promise<number> {
  let file = command[0] as string;
  let args = command.slice(1);
  let values = maskValues;
  // A terminal stays a terminal for the child: `script` gives it a pseudo-terminal whose output
  // we read and mask. Only in a fully interactive session: with a redirected stream, the child
  // gets pipes, so stdin, stderr and redirections behave exactly as without masking. The command
  // line is quoted and exec'd by the shell; the secrets are in env, never here.
  const viaPty = maskValues !== undefined && app.io.stdinIsTTY && app.io.stdoutIsTTY && app.io.stderrIsTTY;
  if (viaPty && maskValues) {
    args = ['-qefc', `exec ${command.map(shellQuote).join(' ')}`, '/dev/null'];
    file = 'script';
    // The terminal turns \n into \r\n: mask that spelling of a multi-line value too.
    values = [...maskValues, ...maskValues.filter((v) => v.includes(0x0a)).map((v) => Buffer.from(v.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'))];
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env,
      stdio: values ? ['inherit', 'pipe', viaPty ? 'inherit' : 'pipe'] : 'inherit',
    });
    restoreCoreDumpFilter(child.pid);
    const forward = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      // Under `script`, signal the command itself: `script` would turn a signal into a hangup.
      const target = viaPty ? ptyChild(child.pid) : undefined;
      try {
        if (target !== undefined) process.kill(target, signal);
        else child.kill(signal);
      } catch {
        // already gone
      }
    };
    for (const s of FORWARDED) process.on(s, forward);
    if (values) {
      for (const [stream, write] of [
        [child.stdout, (b: Uint8Array) => app.io.writeOut(b)],
        [child.stderr, (b: Uint8Array) => app.io.writeErr(b)],
      ] as const) {
        if (!stream) continue;
        const masker = new Masker(values);
        stream.on('data', (chunk: Buffer) => {
          const out = masker.push(chunk);
          if (out.length > 0) write(out);
        });
        stream.on('end', () => {
          const out = masker.end();
          if (out.length > 0) write(out);
        });
      }
    }
    child.on('error', (err: NodeJS.ErrnoException) => {
      for (const s of FORWARDED) process.off(s, forward);
      // Exit 127 / 126 as env(1) and shells do, so scripts can tell "not found" from a failure.
      reject(
        err.code === 'ENOENT'
          ? new SecretsError('COMMAND_NOT_FOUND', `command not found: ${command[0] ?? ''}`, 'check the name and your PATH (or use --shell for shell syntax)')
          : new SecretsError('CANNOT_EXECUTE', `cannot run ${command[0] ?? ''}: ${err.code ?? err.message}`),
      );
    });
    child.on('close', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve(exitCodeOf(code, signal));
    });
  });
}
