/**
 * The git adapter: runs the `git` program in the vault's work tree, never through a shell,
 * with prompts off and a time limit, so a sync can never hang on a password prompt.
 */
import { spawn } from 'node:child_process';
import { SecretsError } from '../core/errors.js';
import { leadsToIdentity } from '../core/protected-variables.js';

/** One git run. */
export interface GitResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Network operations (fetch, push, clone) may take this long; local ones much less. */
const NETWORK_TIMEOUT_MS = 120_000;
const LOCAL_TIMEOUT_MS = 30_000;

/** Git in one directory. */
export class Git {
  readonly dir: string;
  readonly #env: Record<string, string>;

  constructor(dir: string, env: Readonly<Record<string, string | undefined>>) {
    this.dir = dir;
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
    // No prompts (a sync from cron must fail, not wait), stable messages to parse, and our
    // identity is not git's business: hooks and helpers it runs inherit neither the key nor
    // where it is (SECRETS_IDENTITY_KEY, SECRETS_IDENTITY_FILE, any SECRETS_IDENTITY_*).
    for (const k of Object.keys(clean)) if (leadsToIdentity(k)) delete clean[k];
    this.#env = { ...clean, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', GIT_ASKPASS: 'true', SSH_ASKPASS: 'true' };
  }

  /** Runs `git ARGS`; returns the result (check `code`). */
  run(args: readonly string[], opts: { network?: boolean; env?: Record<string, string> } = {}): Promise<GitResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('git', args, { cwd: this.dir, env: { ...this.#env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.network ? NETWORK_TIMEOUT_MS : LOCAL_TIMEOUT_MS);
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          e.code === 'ENOENT'
            ? new SecretsError('STORAGE', 'git is not installed (or not on PATH)', 'install git: apt-get install git')
            : new SecretsError('STORAGE', `cannot run git: ${e.message}`),
        );
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const stderr = Buffer.concat(err).toString('utf8');
        resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: signal ? `${stderr}git timed out\n` : stderr });
      });
    });
  }

  /** Runs and throws STORAGE with git's own first error line when it fails. */
  async ok(args: readonly string[], opts: { network?: boolean; env?: Record<string, string> } = {}): Promise<string> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new SecretsError('STORAGE', `git ${args[0] ?? ''} failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
    return r.stdout;
  }

  /** The file at `rev:path`, or undefined when it does not exist there. */
  async show(rev: string, path: string): Promise<string | undefined> {
    const r = await this.run(['show', `${rev}:${path}`]);
    return r.code === 0 ? r.stdout : undefined;
  }
}

/** The first meaningful line of git's stderr. */
export function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.replace(/^(fatal|error): /, '').trim())
      .find((l) => l !== '' && !l.startsWith('hint:')) ?? ''
  );
}

/** Quotes one word for the POSIX shell git runs drivers with. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
