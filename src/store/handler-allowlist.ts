/**
 * This machine's allowed rotation handlers ($XDG_CONFIG_HOME/secrets/handlers.json): handler
 * name → the absolute path of the program it means here. The vault only names a handler
 * (`command:NAME`), and any member who may configure rotation can choose that name; what runs
 * is decided by this file, which only this machine's user can change, as `direnv allow` does
 * for an .envrc. A file that others could have written is not trusted at all.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { SecretsError } from '../core/errors.js';
import type { HandlerAllowlist } from '../core/ports.js';
import { HANDLER_NAME } from '../core/rotation.js';
import { writeFileAtomic } from './atomic.js';

/** One allowed handler. */
export interface AllowedHandler {
  readonly Name: string;
  readonly Path: string;
  /** When it was allowed (ISO time). */
  readonly Allowed: string;
}

const uid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);

/** Why a file or directory owned by someone else, or writable by others, cannot be trusted. */
function unsafeBecause(st: { uid: number; mode: number }, what: string): string | undefined {
  const me = uid();
  if (me !== undefined && st.uid !== me && st.uid !== 0) return `${what} belongs to another user (uid ${st.uid})`;
  if ((st.mode & 0o022) !== 0) return `${what} is writable by other users (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/**
 * Why the program at `path` may not run as a handler, or undefined: it must be an absolute path
 * to a regular, executable file that neither it nor its directory lets another user replace.
 */
export function handlerProgramProblem(path: string): string | undefined {
  if (!isAbsolute(path)) return `${JSON.stringify(path)} is not an absolute path`;
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    return `${path} cannot be found (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  if (!st.isFile()) return `${path} is not a regular file`;
  if ((st.mode & 0o111) === 0) return `${path} is not executable`;
  const file = unsafeBecause(st, path);
  if (file) return file;
  try {
    const dir = statSync(dirname(path));
    // A sticky directory (like /tmp) still lets others create files, but not replace this one.
    if ((dir.mode & 0o1000) === 0) return unsafeBecause(dir, `its directory ${dirname(path)}`);
  } catch {
    return `the directory of ${path} cannot be read`;
  }
  return undefined;
}

/** The allowlist file, read fresh on every lookup (it is small and rarely used). */
export class FileHandlerAllowlist implements HandlerAllowlist {
  readonly #file: string;

  constructor(configDir: string) {
    this.#file = join(configDir, 'handlers.json');
  }

  /** The file's path (named in hints). */
  get path(): string {
    return this.#file;
  }

  #read(): Map<string, { path: string; allowed: string }> {
    let fd: number;
    try {
      fd = openSync(this.#file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return new Map();
      if (code === 'ELOOP') throw this.#untrusted('it is a symbolic link');
      throw new SecretsError('STORAGE', `cannot read ${this.#file}: ${code ?? 'error'}`);
    }
    let text: string;
    try {
      const problem = unsafeBecause(fstatSync(fd), 'it');
      if (problem) throw this.#untrusted(problem);
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
    const dirProblem = unsafeBecause(lstatSync(dirname(this.#file)), `its directory ${dirname(this.#file)}`);
    if (dirProblem) throw this.#untrusted(dirProblem);
    const out = new Map<string, { path: string; allowed: string }>();
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw this.#damaged();
    }
    const handlers = (raw as { version?: unknown; handlers?: unknown } | null)?.handlers;
    if ((raw as { version?: unknown }).version !== 1 || typeof handlers !== 'object' || handlers === null || Array.isArray(handlers)) throw this.#damaged();
    for (const [name, v] of Object.entries(handlers)) {
      const { path, allowed } = (v ?? {}) as { path?: unknown; allowed?: unknown };
      if (!HANDLER_NAME.test(name) || typeof path !== 'string' || !isAbsolute(path) || typeof allowed !== 'string') throw this.#damaged();
      out.set(name, { path, allowed });
    }
    return out;
  }

  #untrusted(why: string): SecretsError {
    return new SecretsError(
      'DENIED',
      `the handler allowlist ${this.#file} is not trusted: ${why}`,
      `only you may write it: chmod 600 ${this.#file} and chmod 700 ${dirname(this.#file)}, after checking what it allows`,
    );
  }

  #damaged(): SecretsError {
    return new SecretsError(
      'USAGE',
      `the handler allowlist ${this.#file} is not valid`,
      'fix it or remove it, then allow handlers again with `secrets handler allow NAME PATH`',
    );
  }

  #write(handlers: ReadonlyMap<string, { path: string; allowed: string }>): void {
    const sorted = Object.fromEntries([...handlers].sort(([a], [b]) => (a < b ? -1 : 1)));
    mkdirSync(dirname(this.#file), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.#file, `${JSON.stringify({ version: 1, handlers: sorted }, null, 2)}\n`);
  }

  lookup(name: string): string | undefined {
    const path = this.#read().get(name)?.path;
    if (path === undefined) return undefined;
    const problem = handlerProgramProblem(path);
    if (problem) {
      throw new SecretsError(
        'DENIED',
        `rotation handler ${name} (${path}) will not run: ${problem}`,
        `fix the program's permissions, or allow it again: \`secrets handler allow ${name} PATH\``,
      );
    }
    return path;
  }

  /** Every allowed handler, by name. */
  list(): AllowedHandler[] {
    return [...this.#read()].map(([Name, h]) => ({ Name, Path: h.path, Allowed: h.allowed })).sort((a, b) => (a.Name < b.Name ? -1 : 1));
  }

  /** Allows `name` to mean the program at `path` on this machine (replacing what it meant). */
  allow(name: string, path: string, now: string): AllowedHandler {
    if (!HANDLER_NAME.test(name)) {
      throw new SecretsError(
        'USAGE',
        `invalid handler name ${JSON.stringify(name.slice(0, 70))}`,
        'a handler name is 1-64 characters of a-z 0-9 . _ - and starts with a letter or digit',
      );
    }
    const problem = handlerProgramProblem(path);
    if (problem)
      throw new SecretsError('USAGE', `cannot allow ${path}: ${problem}`, 'give the absolute path of an executable that only you (or root) can change');
    const handlers = this.#read();
    handlers.set(name, { path, allowed: now });
    this.#write(handlers);
    return { Name: name, Path: path, Allowed: now };
  }

  /** Stops allowing `name`; false when it was not allowed. */
  remove(name: string): boolean {
    const handlers = this.#read();
    if (!handlers.delete(name)) return false;
    this.#write(handlers);
    return true;
  }
}
