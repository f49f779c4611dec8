/**
 * The editor of `secrets edit`: a private directory in memory-backed storage, one file in it,
 * the person's editor on that file, and the directory gone afterwards whatever happened. The
 * value reaches the editor as a file path only: never on its argv, never in its environment.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretsError } from '../core/errors.js';

/** statfs(2) f_type of the file systems that never write to a disk (linux/magic.h). */
const MEMORY_FILE_SYSTEMS = new Set([
  0x01021994, // tmpfs: $XDG_RUNTIME_DIR under systemd, /dev/shm
  0x858458f6, // ramfs
]);

/** Where the editable copy may live. */
export interface EditDir {
  readonly parent: string;
  /** False only with --unsafe-tmp, when no memory-backed directory exists. */
  readonly inMemory: boolean;
}

function inMemory(dir: string): boolean {
  try {
    return MEMORY_FILE_SYSTEMS.has(Number(statfsSync(dir).type));
  } catch {
    return false;
  }
}

/**
 * The parent of the private directory: $XDG_RUNTIME_DIR when it is a tmpfs, else /dev/shm; a
 * disk-backed $TMPDIR only when the person said --unsafe-tmp (a plaintext copy on a disk can
 * outlive its deletion in free blocks, journals and backups).
 */
export function editDirectory(env: Readonly<Record<string, string | undefined>>, unsafeTmp: boolean): EditDir {
  for (const dir of [env['XDG_RUNTIME_DIR'], '/dev/shm']) {
    if (dir !== undefined && dir !== '' && existsSync(dir) && inMemory(dir)) return { parent: dir, inMemory: true };
  }
  if (unsafeTmp) return { parent: tmpdir(), inMemory: false };
  throw new SecretsError(
    'USAGE',
    'no memory-backed directory for the plaintext copy ($XDG_RUNTIME_DIR and /dev/shm are not tmpfs)',
    'set XDG_RUNTIME_DIR to a tmpfs directory, or accept a copy on disk with --unsafe-tmp',
  );
}

/** The editor command: $VISUAL, then $EDITOR, then vi, as git chooses (a terminal is needed for vi). */
export function editorCommand(env: Readonly<Record<string, string | undefined>>, interactive: boolean): string {
  const chosen = (env['TERM'] !== 'dumb' ? env['VISUAL'] : undefined) || env['EDITOR'] || undefined;
  if (chosen !== undefined) return chosen;
  if (!interactive) {
    throw new SecretsError(
      'USAGE',
      'no editor: VISUAL and EDITOR are unset, and vi needs a terminal',
      'set EDITOR to a program that edits the file it is given, e.g. EDITOR="code --wait"',
    );
  }
  return 'vi';
}

/** How the editor finished. */
export type EditorExit = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly notFound?: boolean };

/** The processes under `pid`, deepest first (Linux /proc; none elsewhere). */
function descendants(pid: number): number[] {
  let children: number[];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [...descendants(c), c]);
}

/** Signals we pass on to the editor (and stop for) instead of dying with the copy on disk. */
const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];

/**
 * Runs `editor` on `path` through /bin/sh, so `code --wait` or `vim -n` work as in git: the
 * command is the person's own, and the path is a positional parameter, never parsed as shell.
 * Ctrl-C belongs to the editor (as in git); SIGTERM and SIGHUP are forwarded to it.
 */
export function runEditor(editor: string, path: string, env: Record<string, string>): Promise<EditorExit> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', `${editor} "$@"`, editor, path], { env, stdio: 'inherit' });
    const ignore = (): void => undefined;
    let stopped: NodeJS.Signals | undefined;
    const forward = (signal: NodeJS.Signals): void => {
      stopped = signal;
      // The shell may still be waiting for the editor rather than have exec'd it: tell both.
      for (const pid of child.pid === undefined ? [] : [...descendants(child.pid), child.pid]) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
    };
    process.on('SIGINT', ignore);
    for (const s of FORWARDED) process.on(s, forward);
    const done = (result: EditorExit): void => {
      process.off('SIGINT', ignore);
      for (const s of FORWARDED) process.off(s, forward);
      resolve(result);
    };
    child.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, reason: `cannot start it (${err.code ?? err.message})`, notFound: true }));
    child.on('close', (code, signal) => {
      if (stopped !== undefined) done({ ok: false, reason: `we received ${stopped}` });
      else if (signal !== null) done({ ok: false, reason: `it was killed by ${signal}` });
      else if (code === 127) done({ ok: false, reason: 'it was not found (exit 127)', notFound: true });
      else if (code !== 0) done({ ok: false, reason: `it exited with status ${code ?? '?'}` });
      else done({ ok: true });
    });
  });
}

/** A private copy of a value: a 0700 directory holding one 0600 file. */
export class PrivateCopy {
  readonly dir: string;
  readonly path: string;
  #removed = false;
  readonly #onExit = (): void => this.remove();

  /** Creates the directory under `parent` and writes `bytes` to `fileName` in it (O_EXCL, 0600). */
  constructor(parent: string, fileName: string, bytes: Uint8Array) {
    // mkdtemp creates the directory 0700; the umask can only narrow that.
    this.dir = mkdtempSync(join(parent, 'secrets-edit-'));
    this.path = join(this.dir, fileName);
    // A process that exits without reaching `remove()` (an uncaught error) still removes it;
    // only SIGKILL, or the machine stopping, can leave it, and then in memory-backed storage.
    process.on('exit', this.#onExit);
    try {
      const fd = openSync(this.path, 'wx', 0o600);
      try {
        writeSync(fd, bytes);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      this.remove();
      throw err;
    }
  }

  /** The file's bytes as the editor left them (an editor may replace the file: read by path). */
  read(): Uint8Array {
    return new Uint8Array(readFileSync(this.path));
  }

  /** Overwrites the file with zeros where it still is, then removes the directory and all in it (editor swap and backup files too). */
  remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    process.off('exit', this.#onExit);
    try {
      const fd = openSync(this.path, 'r+');
      try {
        writeSync(fd, new Uint8Array(fstatSync(fd).size));
      } finally {
        closeSync(fd);
      }
    } catch {
      // gone or replaced by something we will remove anyway
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
