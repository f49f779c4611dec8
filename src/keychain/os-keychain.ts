/**
 * The OS keychain through keytar (@github/keytar: Secret Service on Linux, Keychain on macOS,
 * Credential Manager on Windows). The only keytar importer. Loaded with createRequire on first
 * use, so commands that never touch the keychain do not load the native module. A module that
 * cannot load (libsecret missing) or a bus that cannot be reached is KEYCHAIN_UNAVAILABLE with
 * the platform's reason.
 */
import { createRequire } from 'node:module';
import { SecretsError } from '../core/errors.js';
import type { Keychain } from '../core/ports.js';

/** The keychain service name under which identities are stored (account = identity id). */
export const KEYCHAIN_SERVICE = 'secrets';

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

function unavailable(reason: string): SecretsError {
  return new SecretsError(
    'KEYCHAIN_UNAVAILABLE',
    `the OS keychain is not reachable: ${reason}`,
    'unlock or start your keyring (Secret Service), or use SECRETS_IDENTITY_KEY or --identity-file',
  );
}

function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]?.trim() || 'unknown error';
}

/** Keytar behind the Keychain port. */
export class OsKeychain implements Keychain {
  readonly description = 'OS keychain';
  #keytar: Keytar | undefined;

  #load(): Keytar {
    if (this.#keytar) return this.#keytar;
    try {
      this.#keytar = createRequire(import.meta.url)('@github/keytar') as Keytar;
    } catch (err) {
      throw unavailable(`the keychain module could not load (${reasonOf(err)}); on Linux install libsecret-1-0`);
    }
    return this.#keytar;
  }

  async get(account: string): Promise<string | null> {
    const keytar = this.#load();
    try {
      return await keytar.getPassword(KEYCHAIN_SERVICE, account);
    } catch (err) {
      throw unavailable(reasonOf(err));
    }
  }

  async set(account: string, secret: string): Promise<void> {
    const keytar = this.#load();
    try {
      await keytar.setPassword(KEYCHAIN_SERVICE, account, secret);
    } catch (err) {
      throw unavailable(reasonOf(err));
    }
  }

  async delete(account: string): Promise<boolean> {
    const keytar = this.#load();
    try {
      return await keytar.deletePassword(KEYCHAIN_SERVICE, account);
    } catch (err) {
      throw unavailable(reasonOf(err));
    }
  }
}
