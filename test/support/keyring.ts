// Test helper: a real, isolated, unlocked Secret Service (gnome-keyring on a private D-Bus session bus).
//
// Typical use in a node:test suite:
//
//   const skip = skipReason(keyringAvailable());
//   describe('keychain', { skip }, () => {
//     let kr: KeyringSession;
//     before(async () => { kr = await startKeyring(); });
//     after(async () => { await kr.stop(); });
//     it('stores', async () => { /* spawn the CLI with { ...process.env, ...kr.env } */ });
//   });
//
// Nothing here touches the real HOME or any existing session bus: the bus socket, the keyring files
// and the daemons' HOME/XDG dirs all live in one temp dir that stop() deletes.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Contract: a running keyring; `env` reaches it from a child process, `stop()` leaves nothing behind. */
export interface KeyringSession {
  /** Contract: merge over process.env for any child that must talk to this keyring. */
  readonly env: Record<string, string>;
  /** Contract: kills the keyring daemon and the bus, removes the temp dir; idempotent (same promise every call). */
  stop(): Promise<void>;
}

/** Contract: the result of keyringAvailable(); `reason` is one line, fit for a test skip message. */
export type KeyringCheck = { ok: true } | { ok: false; reason: string };

const REQUIRED_BINARIES = ['dbus-daemon', 'gnome-keyring-daemon', 'dbus-send', 'secret-tool'] as const;
const SECRETS_NAME = 'org.freedesktop.secrets';
const DEFAULT_PASSWORD = 'secrets-test-keyring';
const START_TIMEOUT_MS = 10_000;
const CALL_TIMEOUT_MS = 5_000;
const KILL_GRACE_MS = 3_000;

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Contract: ok when every binary startKeyring/secretToolLookup needs is on PATH; never throws, never spawns. */
export function keyringAvailable(): KeyringCheck {
  const missing = REQUIRED_BINARIES.filter((b) => which(b) === undefined);
  if (missing.length === 0) return { ok: true };
  return {
    ok: false,
    reason: `no real Secret Service here: ${missing.join(', ')} not on PATH (apt-get install gnome-keyring libsecret-tools dbus dbus-daemon)`,
  };
}

/** Contract: a skip reason for node:test's `skip` option; undefined when ok, and ALWAYS undefined when CI=true (so CI fails loudly instead of skipping). */
export function skipReason(check: KeyringCheck): string | undefined {
  if (check.ok || process.env.CI === 'true') return undefined;
  return check.reason;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = CALL_TIMEOUT_MS): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** dbus-send on a given bus address; returns the printed reply, throws on any D-Bus error. */
async function dbusCall(address: string, dest: string, path: string, method: string, ...args: string[]): Promise<string> {
  const r = await run(
    'dbus-send',
    [`--bus=${address}`, '--print-reply', `--reply-timeout=${CALL_TIMEOUT_MS}`, `--dest=${dest}`, path, method, ...args],
    process.env,
  );
  if (r.code !== 0) {
    throw new Error(`dbus-send ${method} failed (${r.code ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

async function nameHasOwner(address: string, name: string): Promise<boolean> {
  const out = await dbusCall(address, 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', `string:${name}`);
  return /boolean true/.test(out);
}

async function ownerPid(address: string, name: string): Promise<number | undefined> {
  try {
    const out = await dbusCall(address, 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.GetConnectionUnixProcessID', `string:${name}`);
    const m = /uint32 (\d+)/.exec(out);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined; // NameHasNoOwner, or the bus is already gone
  }
}

/** Ready = the default alias resolves to a collection and that collection is unlocked. */
async function defaultCollectionUnlocked(address: string): Promise<boolean> {
  const alias = await dbusCall(address, SECRETS_NAME, '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.ReadAlias', 'string:default');
  const m = /object path "([^"]+)"/.exec(alias);
  const path = m?.[1];
  if (path === undefined || path === '/') return false;
  const locked = await dbusCall(
    address,
    SECRETS_NAME,
    path,
    'org.freedesktop.DBus.Properties.Get',
    'string:org.freedesktop.Secret.Collection',
    'string:Locked',
  );
  return /boolean false/.test(locked);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, wait up to KILL_GRACE_MS, then SIGKILL; resolves once the process is gone (and reaped if it is our child). */
async function terminate(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  child.ref(); // the child was unref'd after start; keep the loop alive until its exit event arrives
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

async function terminatePid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + KILL_GRACE_MS;
  while (alive(pid) && Date.now() < deadline) await sleep(20);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

// Safety net for a suite that throws or forgets stop(): the children are unref'd (the test process can exit),
// and on exit we kill them and delete the temp dir synchronously. setpriv --pdeathsig also covers a crashed parent.
const live = new Set<{ pids: () => number[]; root: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      for (const pid of s.pids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(s.root, { recursive: true, force: true });
    }
  });
}

/** Spawn a daemon; with setpriv available it gets SIGTERM if this process dies, so even a crashed test leaks nothing. */
function spawnDaemon(file: string, args: readonly string[], env: NodeJS.ProcessEnv, stdio: ['ignore' | 'pipe', 'pipe' | number, number]): ChildProcess {
  const setpriv = which('setpriv');
  return setpriv === undefined ? spawn(file, args, { env, stdio }) : spawn(setpriv, ['--pdeathsig', 'TERM', '--', file, ...args], { env, stdio });
}

function readAddress(bus: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const out = bus.stdout;
    if (out === null) return reject(new Error('dbus-daemon: no stdout pipe'));
    let buf = '';
    const timer = setTimeout(() => finish(new Error(`dbus-daemon printed no address within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: string): void => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(undefined, buf.slice(0, nl).trim());
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      finish(new Error(`dbus-daemon exited before printing its address (${code ?? signal})`));
    const onError = (e: Error): void => finish(e);
    function finish(err?: Error, address?: string): void {
      clearTimeout(timer);
      out?.off('data', onData);
      bus.off('exit', onExit);
      bus.off('error', onError);
      out?.destroy(); // it prints nothing else; don't let the pipe hold the event loop
      if (err !== undefined || address === undefined || address === '') reject(err ?? new Error('dbus-daemon printed an empty address'));
      else resolve(address);
    }
    out.setEncoding('utf8').on('data', onData);
    bus.once('exit', onExit);
    bus.once('error', onError);
  });
}

/**
 * Contract: resolves once org.freedesktop.secrets is owned by our own gnome-keyring-daemon on a private bus and its
 * default (login) collection is unlocked with `password` (non-empty; default 'secrets-test-keyring'); rejects within ~10 s
 * otherwise, leaving nothing running. Each call gets a fresh, empty keyring.
 */
export async function startKeyring(opts?: { password?: string }): Promise<KeyringSession> {
  const check = keyringAvailable();
  if (!check.ok) throw new Error(check.reason);
  const password = opts?.password ?? DEFAULT_PASSWORD;
  // gnome-keyring --unlock ignores an empty password: no login collection is created and nothing can be stored.
  if (password === '') throw new Error('startKeyring: password must not be empty');

  // Unix socket paths are limited to ~107 bytes; fall back to /tmp if TMPDIR is deep.
  const base = tmpdir().length > 60 ? '/tmp' : tmpdir();
  const root = await mkdtemp(join(base, 'secrets-keyring-'));
  const dirs = {
    XDG_RUNTIME_DIR: join(root, 'run'),
    XDG_DATA_HOME: join(root, 'data'),
    XDG_CONFIG_HOME: join(root, 'config'),
    XDG_CACHE_HOME: join(root, 'cache'),
    HOME: join(root, 'home'),
  };
  for (const d of Object.values(dirs)) await mkdir(d, { mode: 0o700 });
  const logPath = join(root, 'daemons.log');
  const logTail = (): string => {
    try {
      return readFileSync(logPath, 'utf8').trim().split('\n').slice(-10).join('\n');
    } catch {
      return '';
    }
  };

  // The daemons see only the temp dirs: no DISPLAY (no GUI prompts, no X11 autolaunch), no inherited bus.
  const daemonEnv: NodeJS.ProcessEnv = { ...process.env, ...dirs };
  for (const k of ['DISPLAY', 'WAYLAND_DISPLAY', 'DBUS_SESSION_BUS_ADDRESS', 'GNOME_KEYRING_CONTROL', 'SSH_AUTH_SOCK']) delete daemonEnv[k];

  let bus: ChildProcess | undefined;
  let keyring: ChildProcess | undefined;
  let foreignPid: number | undefined;
  const entry = { pids: (): number[] => [keyring?.pid, foreignPid, bus?.pid].filter((p): p is number => p !== undefined), root };
  installExitHook();
  live.add(entry);

  let address = '';
  const teardown = async (): Promise<void> => {
    // Ask the bus who really owns the name BEFORE the bus goes away: normally our child, but a D-Bus-activated
    // second daemon would otherwise be orphaned.
    if (address !== '' && bus !== undefined && !exited(bus)) {
      const pid = await ownerPid(address, SECRETS_NAME);
      if (pid !== undefined && pid !== keyring?.pid) foreignPid = pid;
    }
    if (keyring !== undefined) await terminate(keyring);
    if (foreignPid !== undefined) await terminatePid(foreignPid);
    if (bus !== undefined) await terminate(bus);
    live.delete(entry);
    await rm(root, { recursive: true, force: true });
  };

  const logFd = openSync(logPath, 'a');
  try {
    bus = spawnDaemon('dbus-daemon', ['--session', '--nofork', `--address=unix:path=${join(root, 'bus')}`, '--print-address=1'], daemonEnv, [
      'ignore',
      'pipe',
      logFd,
    ]);
    address = await readAddress(bus, START_TIMEOUT_MS);

    // --foreground keeps the daemon our own child (a daemonised --unlock is reparented to init and can leak).
    keyring = spawnDaemon('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], { ...daemonEnv, DBUS_SESSION_BUS_ADDRESS: address }, [
      'pipe',
      logFd,
      logFd,
    ]);
    const kr = keyring;
    let spawnError: Error | undefined;
    kr.on('error', (e) => (spawnError = e));
    kr.stdin?.on('error', () => undefined); // EPIPE if it dies early; reported below instead
    kr.stdin?.end(password); // no trailing newline: it is part of the password

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (spawnError !== undefined) throw spawnError;
      if (exited(kr)) throw new Error(`gnome-keyring-daemon exited early (${kr.exitCode ?? kr.signalCode})`);
      // NameHasOwner never triggers D-Bus activation, so polling cannot start a second (locked) daemon.
      if (await nameHasOwner(address, SECRETS_NAME)) {
        const pid = await ownerPid(address, SECRETS_NAME);
        if (pid !== undefined && pid !== kr.pid) {
          foreignPid = pid;
          throw new Error(`${SECRETS_NAME} is owned by pid ${pid}, not by our gnome-keyring-daemon (pid ${kr.pid})`);
        }
        if (pid !== undefined && (await defaultCollectionUnlocked(address))) break;
      }
      if (Date.now() > deadline) throw new Error(`${SECRETS_NAME} not ready within ${START_TIMEOUT_MS} ms`);
      await sleep(15);
    }
  } catch (e) {
    const tail = logTail();
    await teardown();
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`startKeyring: ${msg}${tail === '' ? '' : `\n--- daemon log ---\n${tail}`}`, { cause: e });
  } finally {
    closeSync(logFd);
  }

  // A suite that forgets stop() must still be able to exit; the exit hook cleans up after it.
  bus.unref();
  keyring.unref();

  let stopping: Promise<void> | undefined;
  return {
    env: {
      DBUS_SESSION_BUS_ADDRESS: address,
      XDG_RUNTIME_DIR: dirs.XDG_RUNTIME_DIR,
      XDG_DATA_HOME: dirs.XDG_DATA_HOME,
    },
    stop(): Promise<void> {
      stopping ??= teardown();
      return stopping;
    },
  };
}

/**
 * Contract: the secret stored under keytar's attributes {service, account}, read with `secret-tool` (independent of
 * our code) through `env` (a KeyringSession's env); null when no such item exists; throws on any other failure.
 */
export async function secretToolLookup(env: Record<string, string>, service: string, account: string): Promise<string | null> {
  const r = await run('secret-tool', ['lookup', 'service', service, 'account', account], { ...process.env, ...env });
  if (r.code === 0) return r.stdout;
  if (r.code === 1 && r.stderr.trim() === '') return null; // "not found" is exit 1 with no message
  throw new Error(`secret-tool lookup failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
}
