/**
 * Test support: spawn the built `secrets` binary in a throwaway HOME, as a user would run it.
 * Every sandbox has its own XDG directories and no session bus, so nothing touches the real
 * keychain or the developer's vault; the identity falls back to a file unless a test passes
 * SECRETS_IDENTITY_KEY or a keyring session's env.
 */
import { commandWord } from '../../src/cli/program.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (tests run from dist/test/...). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The installed entry point. */
export const BIN = join(ROOT, 'bin', 'secrets');
/**
 * The same code built with its test hooks (SECRETS_TEST_NOW, SECRETS_FAULT_KILL,
 * SECRETS_TEST_CLIP_CLEAR_MS), which the installed command ignores; used only for runs that set
 * one of them.
 */
export const TEST_HOOKS_BUNDLE = join(ROOT, 'dist', 'secrets-test-hooks.cjs');
const HOOK_VARIABLES = ['SECRETS_TEST_NOW', 'SECRETS_FAULT_KILL', 'SECRETS_TEST_CLIP_CLEAR_MS'];
/** The CLI with the test suites' format-1 writer (test/support/format1-cli.ts), test hooks included. */
export const FORMAT_1_BUNDLE = join(ROOT, 'dist', 'secrets-format1-test.cjs');
/** Read by this module only: a run in its presence starts FORMAT_1_BUNDLE. */
const FORMAT_1_MARK = 'TEST_FORMAT1_WRITER';

/**
 * The environment of a sandbox whose vault is format 1 (the signed snapshot), which the
 * installed command reads and migrates but no longer makes or writes: its runs start
 * FORMAT_1_BUNDLE, whose `init` makes format 1 and whose writes to format 1 go to the test
 * suites' writer (test/support/format1-writer.ts). For the suites that test the format-1 reader
 * and what `secrets migrate` reads.
 */
export const FORMAT_1: Readonly<Record<string, string>> = { [FORMAT_1_MARK]: '1' };

/** The result of one CLI run. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
}

/** Options for one run. */
export interface RunOptions {
  /** Bytes or text written to stdin (stdin is closed after). Omitted: stdin is /dev/null. */
  readonly input?: string | Uint8Array;
  /** Extra environment (undefined values remove a variable). */
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Kill after this many ms (default 30 s). */
  readonly timeoutMs?: number;
}

/** A temp HOME with its XDG directories and a `run` bound to it. */
export interface Sandbox {
  readonly home: string;
  readonly env: Record<string, string>;
  readonly vault: string;
  run(args: readonly string[], opts?: RunOptions): Promise<CliResult>;
  /** Runs and asserts exit 0, returning stdout. */
  ok(args: readonly string[], opts?: RunOptions): Promise<string>;
  cleanup(): void;
}

/** An environment with nothing from the developer's session that could reach real state. */
export function cleanEnv(home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'LANG', 'LC_ALL', 'TZ', 'NODE_OPTIONS', 'CI']) {
    const v = process.env[key];
    if (v !== undefined) env[key] = v;
  }
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_STATE_HOME: join(home, '.local', 'state'),
    TMPDIR: join(home, 'tmp'),
    USER: 'tester',
    ...(VAULT_FORMAT === '2' ? {} : FORMAT_1),
  };
}

/**
 * The vault format a test's `init` creates: format 2 (the operation log), as the installed
 * command does. TEST_VAULT_FORMAT=1 runs a suite against format 1 instead (every sandbox gets
 * FORMAT_1), and TEST_VAULT_FORMAT=migrated against a vault migrated from format 1.
 */
export const VAULT_FORMAT: '1' | '2' | 'migrated' =
  process.env['TEST_VAULT_FORMAT'] === '1' ? '1' : process.env['TEST_VAULT_FORMAT'] === 'migrated' ? 'migrated' : '2';

/** `init` in a sandbox with FORMAT_1 makes format 1, unless the test names a format. */
function withFormat(args: readonly string[], env: Record<string, string | undefined>): readonly string[] {
  if (env[FORMAT_1_MARK] === undefined || args.includes('--format') || commandWord(args) !== 'init') return args;
  return [...args, '--format', '1'];
}

/**
 * TEST_VAULT_FORMAT=migrated: `init` creates a format-1 vault and `secrets migrate --yes`
 * converts it at once, so a suite runs against a migrated vault (versions with format 1's AAD
 * come from the suite's own writes only after that; the migration tests cover carried-over ones).
 */
function migrating(args: readonly string[]): readonly string[] | undefined {
  if (VAULT_FORMAT !== 'migrated' || args.includes('--format')) return undefined;
  if (commandWord(args) !== 'init') return undefined;
  return [...args.slice(0, args.indexOf('init')), 'migrate', '--yes'];
}

/** The UUID of the vault at `path`, in either format (from its genesis). */
export function vaultIdIn(path: string): string {
  const lines = readFileSync(path, 'utf8').split('\n');
  const records = lines.filter((l) => l.startsWith('- ')).map((l) => JSON.parse(l.slice(2)) as Record<string, unknown>);
  const genesis = lines[0]?.includes('format 2')
    ? (records[0]?.['body'] as Record<string, unknown> | undefined)?.['vault']
    : records.find((r) => r['kind'] === 'vault')?.['id'];
  if (typeof genesis !== 'string') throw new Error(`no vault id in ${path}`);
  return genesis;
}

/** Spawns the binary with `args`. */
export async function runCli(cliArgs: readonly string[], env: Record<string, string | undefined>, opts: RunOptions = {}): Promise<CliResult> {
  const then = migrating(cliArgs);
  const r = await spawnCli(withFormat(cliArgs, { ...env, ...opts.env }), env, opts);
  if (then === undefined || r.code !== 0) return r;
  const { input: _input, ...rest } = opts;
  const m = await spawnCli(then, env, rest);
  if (m.code !== 0) throw new Error(`TEST_VAULT_FORMAT=migrated: secrets ${then.join(' ')} exited ${m.code}:\n${m.stderr}`);
  return r;
}

function spawnCli(args: readonly string[], env: Record<string, string | undefined>, opts: RunOptions): Promise<CliResult> {
  const fullEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...env, ...opts.env })) if (v !== undefined) fullEnv[k] = v;
  const entry = fullEnv[FORMAT_1_MARK] !== undefined ? FORMAT_1_BUNDLE : HOOK_VARIABLES.some((k) => fullEnv[k] !== undefined) ? TEST_HOOKS_BUNDLE : BIN;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [entry, ...args], {
      env: fullEnv,
      cwd: opts.cwd ?? env['HOME'] ?? ROOT,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolvePromise({ code, signal, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8') });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Creates a sandbox; call `cleanup()` when done (or use `withSandbox`). */
export function sandbox(extraEnv: Record<string, string> = {}): Sandbox {
  const home = mkdtempSync(join(tmpdir(), 'secrets-test-'));
  const env = { ...cleanEnv(home), ...extraEnv };
  rmSync(join(home, 'tmp'), { recursive: true, force: true });
  const run = (args: readonly string[], opts?: RunOptions): Promise<CliResult> => runCli(args, env, opts);
  return {
    home,
    env,
    vault: join(home, '.local', 'share', 'secrets', 'vault.yaml'),
    run,
    async ok(args, opts) {
      const r = await run(args, opts);
      if (r.code !== 0) {
        throw new Error(`secrets ${args.join(' ')} exited ${r.code} (signal ${r.signal}):\n${r.stderr}`);
      }
      return r.stdout;
    },
    cleanup() {
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A sandbox with a vault already initialised (identity in the fallback file). */
export async function initialisedSandbox(extraEnv: Record<string, string> = {}): Promise<Sandbox> {
  const sb = sandbox(extraEnv);
  await sb.ok(['init']);
  return sb;
}

/** A fresh random marker value, and the encodings a leak scan looks for. */
export function marker(): { value: string; encodings: string[] } {
  const raw = Buffer.from(Array.from({ length: 24 }, () => Math.floor(Math.random() * 256)));
  const value = `MARKER-${raw.toString('hex')}`;
  const bytes = Buffer.from(value, 'utf8');
  return { value, encodings: [value, bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url'), raw.toString('hex')] };
}
