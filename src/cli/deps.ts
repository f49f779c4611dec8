/**
 * The composition root: builds the core's ports from the global options and environment.
 * Adapters are created on first use, so `secrets --help` loads neither libsodium nor keytar.
 */
import { randomUUID } from 'node:crypto';
import type { CoreDeps } from '../core/use-cases/deps.js';
import { SodiumValueCipher } from '../crypto/value-cipher.js';
import { DefaultIdentityProvider } from '../keychain/identity-provider.js';
import { OsKeychain } from '../keychain/os-keychain.js';
import { FileVaultRepository } from '../store/file-vault.js';
import { TrustStore } from '../store/trust.js';
import type { Io } from './io.js';
import { type Paths, resolvePaths } from './paths.js';

/** Global options every command accepts. */
export interface GlobalOptions {
  readonly vault?: string;
  readonly identityFile?: string;
}

/** Default wait for the vault lock, in seconds (SECRETS_LOCK_TIMEOUT overrides). */
const DEFAULT_LOCK_TIMEOUT_S = 30;

/** Everything a command needs beyond its own flags. */
export interface AppDeps extends CoreDeps {
  readonly paths: Paths;
  readonly keychain: () => OsKeychain;
}

/** Builds the ports for one command run. */
export function buildDeps(io: Io, globals: GlobalOptions): AppDeps {
  const paths = resolvePaths(io.env, globals.vault);
  const clock = { now: () => new Date() };
  let keychain: OsKeychain | undefined;
  const getKeychain = (): OsKeychain => (keychain ??= new OsKeychain());
  const identityProvider = new DefaultIdentityProvider({
    envKey: io.env['SECRETS_IDENTITY_KEY'],
    identityFile: globals.identityFile ?? (io.env['SECRETS_IDENTITY_FILE'] || undefined),
    configDir: paths.configDir,
    keychain: getKeychain,
  });
  const timeout = Number(io.env['SECRETS_LOCK_TIMEOUT'] ?? DEFAULT_LOCK_TIMEOUT_S);
  const vault = new FileVaultRepository({
    path: paths.vault,
    trust: new TrustStore(paths.trustDir),
    clock,
    lockTimeoutMs: (Number.isFinite(timeout) && timeout >= 0 ? timeout : DEFAULT_LOCK_TIMEOUT_S) * 1000,
  });
  return {
    vault,
    identities: identityProvider,
    cipher: new SodiumValueCipher(),
    clock,
    ids: { newId: () => randomUUID() },
    // secrets:Tty: a person at a terminal (stdin is where a person would type).
    tty: io.stdinIsTTY,
    paths,
    keychain: getKeychain,
  };
}
