/** What a command module receives: the streams, the ports, and a place to put its output. */
import type { Command } from 'commander';
import type { AppDeps } from '../app/compose.js';
import type { FileAccess } from '../store/file-access.js';
import type { Io } from './io.js';

/** A command's result; only cli/main.ts writes it out and sets the exit code. */
export interface Output {
  readonly stdout?: string | Uint8Array;
  readonly stderr?: string;
  readonly exitCode?: number;
}

/** Shared by every command module. */
export interface App {
  readonly io: Io;
  /** The ports for this run, from the global options of `cmd` (a server passes ASYNC_FILES). */
  deps(cmd: Command, files?: FileAccess): AppDeps;
  /** Records the command's output for main to print. */
  emit(output: Output): void;
  /** A warning on stderr right away (e.g. before a long operation). */
  warn(message: string): void;
}
