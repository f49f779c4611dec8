/**
 * One vault path, either format: each call looks at the file's first line and goes to the
 * format-1 reader or the format-2 log repository. A new vault is format 2. A format-1 vault is
 * read, verified and synced (fast-forward only) but not written: a write says how to convert it
 * (`secrets migrate`, by an admin). Nothing here writes format 1.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { SecretsError } from '../core/errors.js';
import type { VaultState } from '../core/model.js';
import type { Identity, VaultRepository } from '../core/ports.js';
import { HEADER_LINE_V2 } from './format-header.js';
import type { Format1Vault } from './format1-vault.js';

/** Whether the file at `path` starts with the format-2 header (false when absent or unreadable). */
export function isFormat2(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(HEADER_LINE_V2.length);
    const n = readSync(fd, head, 0, head.length, 0);
    return n === head.length && head.toString('utf8') === HEADER_LINE_V2;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A repository that serves each call from the format the file is in. */
export class VaultOfEitherFormat implements VaultRepository {
  readonly location: string;
  readonly #one: Format1Vault;
  readonly #two: () => VaultRepository;
  #log: VaultRepository | undefined;

  constructor(path: string, one: Format1Vault, two: () => VaultRepository) {
    this.location = path;
    this.#one = one;
    this.#two = two;
  }

  /**
   * The repository a write goes to: format 1 refuses (the file is left as it is), after a read
   * that reports a file that is no vault, or a damaged one, as such.
   */
  async #writable(identity: Identity): Promise<VaultRepository> {
    if (isFormat2(this.location)) return (this.#log ??= this.#two());
    await this.#one.read(identity);
    throw readOnly(this.location);
  }

  #repo(): VaultRepository | Format1Vault {
    return isFormat2(this.location) ? (this.#log ??= this.#two()) : this.#one;
  }

  exists(): Promise<boolean> {
    return this.#one.exists();
  }

  read(identity: Identity): Promise<VaultState> {
    return this.#repo().read(identity);
  }

  readSome(identity: Identity, names: readonly string[]): Promise<VaultState> {
    const repo = this.#repo();
    return 'readSome' in repo && repo.readSome ? repo.readSome(identity, names) : repo.read(identity);
  }

  verifyRecords(state: VaultState, records: Parameters<VaultRepository['verifyRecords']>[1]): Promise<void> {
    return state.vault.format === 2 ? Promise.resolve() : this.#one.verifyRecords(state, records);
  }

  verifyAll(state: VaultState): Promise<{ checked: number; problems: string[] }> {
    return this.#repo().verifyAll(state);
  }

  async transact<T>(
    identity: Identity,
    change: (state: VaultState) => Promise<{ state: VaultState; result: T }>,
    scope?: { readonly names: readonly string[] },
  ): Promise<T> {
    return (await this.#writable(identity)).transact(identity, change, scope);
  }

  create(identity: Identity, name: string, memberName: string, format: 1 | 2 = 2): Promise<VaultState> {
    if (format === 2) return (this.#log ??= this.#two()).create(identity, name, memberName);
    throw new SecretsError('USAGE', 'a new vault is made in format 2 (the operation log); format 1 is only read and migrated', 'leave out --format');
  }
}

/** The error of a write to a format-1 vault. */
export function readOnly(path: string): SecretsError {
  return new SecretsError(
    'CONFLICT',
    `${path} is a vault of format 1, which this version reads but no longer writes`,
    'an admin converts it once with `secrets migrate`, then shares the result (secrets sync); every member can write again after that',
  );
}
