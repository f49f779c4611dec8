/**
 * The completion scripts as they should be: each one in completions/ with its generated block
 * rebuilt from the real command tree. Used by scripts/gen-completions.mjs (which writes them) and
 * by the completion tests (which fail on any difference).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from '../app.js';
import { COMPLETION_FILES, type Shell } from '../commands/completion.js';
import { commandModules, createProgram } from '../program.js';
import { updateScript } from './render.js';
import { buildCompletionSpec } from './spec.js';

/** One script: where it is, what is committed, and what the tree says it should be. */
export interface ScriptState {
  readonly shell: Shell;
  readonly path: string;
  readonly committed: string;
  readonly expected: string;
}

/** An App that is never run: the tree is only read. */
function inertApp(): App {
  const never = (): never => {
    throw new Error('the completion generator runs no command');
  };
  return {
    io: { env: {}, stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false, readStdin: never, writeOut: () => undefined, writeErr: () => undefined },
    deps: never,
    emit: () => undefined,
    warn: () => undefined,
  };
}

/** The three scripts under `root`/completions, committed and expected. */
export async function completionScripts(root: string): Promise<ScriptState[]> {
  // The modules `secrets --help` loads: every command.
  const spec = buildCompletionSpec(createProgram(inertApp(), await commandModules(['--help'])));
  return (Object.keys(COMPLETION_FILES) as Shell[]).map((shell) => {
    const path = join(root, 'completions', COMPLETION_FILES[shell]);
    const committed = readFileSync(path, 'utf8');
    return { shell, path, committed, expected: updateScript(committed, shell, spec) };
  });
}
