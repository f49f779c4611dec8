/**
 * The composition root: builds the core's ports from a plain context (environment, global
 * options, where warnings go), for the CLI and the library alike. Adapters are created on
 * first use, so `secrets --help` loads neither libsodium nor keytar.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { type AuditMode, FileAuditLog } from '../audit/file-audit-log.js';
import { SecretsError } from '../core/errors.js';
import type { RotationProbe } from '../core/ports.js';
import { ROTATION_STEPS } from '../core/rotation.js';
import type { RotationPorts } from '../core/use-cases/rotate.js';
import type { CoreDeps } from '../core/use-cases/deps.js';
import { secretIdFor, secretIdInLog } from '../crypto/digest.js';
import { SodiumValueCipher } from '../crypto/value-cipher.js';
import { DefaultIdentityProvider } from '../keychain/identity-provider.js';
import { OsKeychain } from '../keychain/os-keychain.js';
import { type FileAccess, SYNC_FILES } from '../store/file-access.js';
import { FileHandlerAllowlist } from '../store/handler-allowlist.js';
import { Format1Vault } from '../store/format1-vault.js';
import { TrustStore } from '../store/trust.js';
import { LogVaultRepository } from '../store/log-vault.js';
import type { MigrateOptions } from '../store/migrate.js';
import { VaultOfEitherFormat } from '../store/vault-format.js';
import { verifiedStateDir } from '../store/verified-state.js';
import { type Paths, resolvePaths } from './paths.js';

/**
 * True only in the test build (dist/secrets-test-hooks.cjs, which scripts/bundle.mjs makes for
 * the test suites and no package ships): the installed command and the library (tsc's
 * dist/src, where nothing defines it, and dist/index.cjs, bundled with it false) have no test
 * clock and no fault injection, whatever their environment says.
 */
declare const __SECRETS_TEST_HOOKS__: boolean | undefined;
const TEST_HOOKS = typeof __SECRETS_TEST_HOOKS__ !== 'undefined' && __SECRETS_TEST_HOOKS__;

/** Global options every command accepts (the library takes the same ones as client options). */
export interface GlobalOptions {
  readonly vault?: string;
  readonly identityFile?: string;
  readonly audit?: string;
}

/** What the composition root needs from whoever runs it: the CLI's process or a library caller. */
export interface AppContext {
  /** The environment paths, the identity, the audit mode and the lock timeout are resolved from. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where a warning goes (a message without prefix or newline). */
  readonly warn: (message: string) => void;
  /** Where a note that is no problem goes (rotation's progress). */
  readonly note: (message: string) => void;
  /** Whether a person is at a terminal (the `secrets:Tty` condition key, and audit events). */
  readonly tty: boolean;
  readonly globals: GlobalOptions;
  /**
   * How the read path reaches the disk: the CLI keeps the synchronous default; the library
   * passes ASYNC_FILES so a server's loop keeps turning.
   */
  readonly files?: FileAccess;
  /** A progress counter for long work (the CLI draws one on a terminal); undefined draws nothing. */
  readonly progress?: (label: string) => ((done: number, total: number) => void) | undefined;
}

/** `$XDG_CONFIG_HOME/secrets/config.json`: a small JSON object; absent is fine. */
function readConfig(configDir: string): { audit?: unknown } {
  const path = join(configDir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v;
  } catch {
    // reported below
  }
  throw new SecretsError('USAGE', `${path} is not a JSON object`, 'fix it, e.g. {"audit": "required"}');
}

/** The audit mode: --audit, then SECRETS_AUDIT, then config.json, then `required`. */
function auditMode(flag: string | undefined, env: string | undefined, configDir: string): AuditMode {
  const chosen = flag ?? (env || undefined) ?? readConfig(configDir).audit ?? 'required';
  if (chosen !== 'required' && chosen !== 'best-effort') {
    throw new SecretsError('USAGE', `invalid audit mode ${JSON.stringify(chosen)}`, 'use required (the default) or best-effort');
  }
  return chosen;
}

function userName(env: Readonly<Record<string, string | undefined>>): string {
  try {
    return userInfo().username;
  } catch {
    return env['USER'] ?? 'unknown';
  }
}

/** Default wait for the vault lock, in seconds (SECRETS_LOCK_TIMEOUT overrides). */
const DEFAULT_LOCK_TIMEOUT_S = 30;

/** Everything a command needs beyond its own flags. */
export interface AppDeps extends CoreDeps {
  readonly paths: Paths;
  readonly keychain: () => OsKeychain;
  /** The audit log adapter (for the audit commands). */
  readonly auditLog: () => FileAuditLog;
  /** Rotation handlers and the person's stderr (for rotate). */
  readonly rotation: () => Promise<RotationPorts>;
  /** This machine's allowed rotation handlers. */
  readonly handlerAllowlist: () => FileHandlerAllowlist;
  /** The format-1 reader of the vault path (sync verifies a format-1 copy with it, and fast-forwards). */
  readonly fileVault: Format1Vault;
  /** A format-1 reader for another path (clone). */
  readonly repoFor: (path: string) => Format1Vault;
  /** The format-2 repository of the vault path (compact). */
  readonly logVault: () => LogVaultRepository;
  /** What `migrate` needs: the path, the format-1 adapter, the trust state. */
  readonly migration: () => MigrateOptions;
  /** Test hook: how long `get --clip` leaves a value on the clipboard, in ms (absent: the clipboard's own delay). */
  readonly clipClearMs?: number;
}

/**
 * Test hook, in the test build only: SECRETS_TEST_NOW (an ISO time) fixes the clock, so
 * schedule tests need not wait for days to pass.
 */
function clockFrom(env: Readonly<Record<string, string | undefined>>): { now(): Date } {
  const fixed = TEST_HOOKS ? env['SECRETS_TEST_NOW'] : undefined;
  if (fixed === undefined || fixed === '') return { now: () => new Date() };
  const t = Date.parse(fixed);
  if (Number.isNaN(t))
    throw new SecretsError('USAGE', `SECRETS_TEST_NOW is not a time: ${JSON.stringify(fixed)}`, 'use an ISO time such as 2026-01-01T00:00:00Z, or unset it');
  return { now: () => new Date(t) };
}

/**
 * Test hook, in the test build only: SECRETS_FAULT_KILL=STEP:before|after makes a rotation
 * SIGKILL its own process at that point, so crash tests can stop it at every step.
 */
function faultProbe(env: Readonly<Record<string, string | undefined>>): RotationProbe | undefined {
  const spec = TEST_HOOKS ? env['SECRETS_FAULT_KILL'] : undefined;
  if (spec === undefined || spec === '') return undefined;
  const [step, phase] = spec.split(':');
  if (!(ROTATION_STEPS as readonly string[]).includes(step ?? '') || (phase !== 'before' && phase !== 'after')) {
    throw new SecretsError('USAGE', `SECRETS_FAULT_KILL must be STEP:before or STEP:after, not ${JSON.stringify(spec)}`);
  }
  return (s, p) => {
    if (s === step && p === phase) process.kill(process.pid, 'SIGKILL');
  };
}

/**
 * Test hook, in the test build only: SECRETS_TEST_CLIP_CLEAR_MS shortens the 45 s a value
 * copied by `get --clip` stays on the clipboard, so the clearing can be watched.
 */
function clipClearDelay(env: Readonly<Record<string, string | undefined>>): number | undefined {
  const ms = TEST_HOOKS ? env['SECRETS_TEST_CLIP_CLEAR_MS'] : undefined;
  if (ms === undefined || ms === '') return undefined;
  if (!/^\d+$/.test(ms)) throw new SecretsError('USAGE', `SECRETS_TEST_CLIP_CLEAR_MS is not a number of milliseconds: ${JSON.stringify(ms)}`);
  return Number(ms);
}

/** The real path of a file (symlinks resolved), or the path itself when it cannot be resolved. */
function realPathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Builds the ports for one command run or one library client. */
export function composeDeps(context: AppContext): AppDeps {
  const { env, globals } = context;
  const files = context.files ?? SYNC_FILES;
  const paths = resolvePaths(env, globals.vault);
  const clock = clockFrom(env);
  let keychain: OsKeychain | undefined;
  const getKeychain = (): OsKeychain => (keychain ??= new OsKeychain());
  const identityProvider = new DefaultIdentityProvider({
    envKey: env['SECRETS_IDENTITY_KEY'],
    identityFile: globals.identityFile ?? (env['SECRETS_IDENTITY_FILE'] || undefined),
    configDir: paths.configDir,
    keychain: getKeychain,
    files,
  });
  const timeout = Number(env['SECRETS_LOCK_TIMEOUT'] ?? DEFAULT_LOCK_TIMEOUT_S);
  const lockTimeoutMs = (Number.isFinite(timeout) && timeout >= 0 ? timeout : DEFAULT_LOCK_TIMEOUT_S) * 1000;
  const repoFor = (path: string): Format1Vault => new Format1Vault({ path, trust: new TrustStore(paths.trustDir, files), clock, files });
  const fileVault = repoFor(paths.vault);
  let logVault: LogVaultRepository | undefined;
  const getLogVault = (): LogVaultRepository =>
    (logVault ??= new LogVaultRepository({
      path: paths.vault,
      trust: new TrustStore(paths.trustDir, files),
      clock,
      lockTimeoutMs,
      auditTail: (vaultId) => auditLog().tail(vaultId),
      files,
      ...(context.progress ? { progress: context.progress } : {}),
      ...(env['SECRETS_READ_INDEX'] === '0'
        ? {}
        : { verifiedDir: (identityId: string) => verifiedStateDir(paths.cacheDir, realPathOf(paths.vault), identityId) }),
    }));
  const vault = new VaultOfEitherFormat(paths.vault, fileVault, getLogVault);
  const clipClearMs = clipClearDelay(env);
  let audit: FileAuditLog | undefined;
  const auditLog = (): FileAuditLog =>
    (audit ??= new FileAuditLog({
      dir: join(paths.stateDir, 'audit'),
      clock,
      lockTimeoutMs,
      mode: auditMode(globals.audit, env['SECRETS_AUDIT'], paths.configDir),
      warn: context.warn,
      context: { host: hostname(), pid: process.pid, user: userName(env), tty: context.tty, requestId: randomUUID() },
      files,
    }));
  return {
    vault,
    audit: {
      append: (entry) => auditLog().append(entry),
      appendAll: (entries) => auditLog().appendAll(entries),
      lastAccess: (vaultId, secretId) => auditLog().lastAccess(vaultId, secretId),
    },
    auditLog,
    identities: identityProvider,
    cipher: new SodiumValueCipher(),
    clock,
    ids: { newId: () => randomUUID(), secretId: (vault, name) => (vault.hash !== undefined ? secretIdInLog(vault.hash, name) : secretIdFor(vault.id, name)) },
    tty: context.tty,
    paths,
    keychain: getKeychain,
    fileVault,
    repoFor,
    logVault: getLogVault,
    migration: () => ({ path: paths.vault, formatOne: fileVault, trust: new TrustStore(paths.trustDir, files), lockTimeoutMs }),
    handlerAllowlist: () => new FileHandlerAllowlist(paths.configDir),
    ...(clipClearMs !== undefined ? { clipClearMs } : {}),
    rotation: async () => {
      const probe = faultProbe(env);
      const { DefaultRotationHandlers } = await import('../rotation/handlers.js');
      const allowlist = new FileHandlerAllowlist(paths.configDir);
      return {
        handlers: new DefaultRotationHandlers(env, allowlist, allowlist.path),
        note: context.note,
        ...(probe ? { probe } : {}),
      };
    },
  };
}
