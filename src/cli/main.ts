/**
 * The entry point and the only place that sets the exit code. Known errors print as
 * `secrets: error: …` / `secrets: hint: …` with their exit code; anything else is a bug,
 * printed as an internal error without a stack trace unless SECRETS_DEBUG is set.
 */
import { type Command, CommanderError } from 'commander';
import { type AppContext, type AppDeps, composeDeps, type GlobalOptions } from '../app/compose.js';
import { ExitCode, isSecretsError } from '../core/errors.js';
import type { App, Output } from './app.js';
import { type Io, processIo } from './io.js';
import { commandLine, commandModules, createProgram, parseErrorHint } from './program.js';
import { colourLevel } from './colour.js';
import { excludeMemoryFromCoreDumps } from './core-dumps.js';
import { formatError, formatHint, formatNote, formatWarning, progressOnTty, setColours } from './ui.js';

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code. `compose`
 * builds each command's ports (the composition root unless a caller in this package, such as
 * the test suites' format-1 writer, wraps it).
 */
export async function run(argv: readonly string[], io: Io, compose: (context: AppContext) => AppDeps = composeDeps): Promise<number> {
  const outLevel = colourLevel(io.env, argv, io.stdoutIsTTY);
  const errLevel = colourLevel(io.env, argv, io.stderrIsTTY);
  if (outLevel > 0 || errLevel > 0) {
    const { Chalk } = await import('chalk');
    setColours({ ...(outLevel > 0 ? { out: new Chalk({ level: outLevel }) } : {}), ...(errLevel > 0 ? { err: new Chalk({ level: errLevel }) } : {}) });
  }
  let output: Output | undefined;
  const app: App = {
    io,
    deps: (cmd, files) =>
      compose({
        ...(files ? { files } : {}),
        env: io.env,
        warn: (message) => io.writeErr(formatWarning(message)),
        note: (message) => io.writeErr(formatNote(message)),
        // secrets:Tty: a person at a terminal (stdin is where a person would type).
        tty: io.stdinIsTTY,
        globals: cmd.optsWithGlobals<GlobalOptions>(),
        progress: (label) => progressOnTty(io, label),
      }),
    emit: (o) => {
      output = o;
    },
    warn: (message) => io.writeErr(formatWarning(message)),
  };
  let program: Command | undefined;
  try {
    program = createProgram(app, await commandModules(argv));
    // An unknown command fails here, before commander could answer `nosuch --help` with the general help.
    commandLine(program, argv);
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message (or the help/version text).
      const hint = program && err.exitCode !== 0 ? parseErrorHint(program, argv, err.code) : undefined;
      if (hint !== undefined) io.writeErr(formatHint(hint));
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (isSecretsError(err)) {
      io.writeErr(formatError(err.message, err.hint));
      return err.exit;
    }
    io.writeErr(formatError(`internal error: ${err instanceof Error ? err.message : String(err)}`, 'this is a bug; please report it'));
    if (io.env['SECRETS_DEBUG']) io.writeErr(`${err instanceof Error ? err.stack : ''}\n`);
    return ExitCode.internal;
  }
  if (output?.stdout !== undefined) io.writeOut(output.stdout);
  if (output?.stderr !== undefined) io.writeErr(output.stderr);
  return output?.exitCode ?? ExitCode.ok;
}

/** Runs the real process (bin/secrets, through the bundle of ADR 0012). */
export async function main(compose?: (context: AppContext) => AppDeps): Promise<void> {
  // Before any key or value is in memory: a crash must not write them to a core file.
  excludeMemoryFromCoreDumps();
  process.exitCode = await run(process.argv.slice(2), processIo(), compose);
}
