/**
 * One vault path, either format: each call looks at the file's first line and goes to the
 * format-1 snapshot repository or the format-2 log repository. A new vault is format 1 unless
 * asked for format 2 (until format 2 is the default).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { VaultState } from '../core/model.js';
import type { Identity, VaultRepository } from '../core/ports.js';
import { HEADER_LINE_V2 } from './op-codec.js';

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
  readonly #one: VaultRepository;
  readonly #two: () => VaultRepository;
  #log: VaultRepository | undefined;

  constructor(path: string, one: VaultRepository, two: () => VaultRepository) {
    this.location = path;
    this.#one = one;
    this.#two = two;
  }

  #repo(): VaultRepository {
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
    return repo.readSome ? repo.readSome(identity, names) : repo.read(identity);
  }

  verifyRecords(state: VaultState, records: Parameters<VaultRepository['verifyRecords']>[1]): Promise<void> {
    return state.vault.format === 2 ? Promise.resolve() : this.#one.verifyRecords(state, records);
  }

  verifyAll(state: VaultState): Promise<{ checked: number; problems: string[] }> {
    return this.#repo().verifyAll(state);
  }

  transact<T>(
    identity: Identity,
    change: (state: VaultState) => Promise<{ state: VaultState; result: T }>,
    scope?: { readonly names: readonly string[] },
  ): Promise<T> {
    return this.#repo().transact(identity, change, scope);
  }

  create(identity: Identity, name: string, memberName: string, format: 1 | 2 = 1): Promise<VaultState> {
    return format === 2 ? (this.#log ??= this.#two()).create(identity, name, memberName) : this.#one.create(identity, name, memberName);
  }
}
