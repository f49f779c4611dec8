/**
 * Test support: the format-1 writer. This version of `secrets` only reads format 1 (the signed
 * snapshot, docs/vault-format.md): the installed command refuses every write to it and has no
 * code that makes one. The suites that test the format-1 reader, `verify`, `sync`'s checks of a
 * format-1 copy and `secrets migrate` need format-1 vaults, so this module writes them as the
 * earlier versions did: each changed record signed with the writer's next counter, a new head
 * over every other line, the file replaced atomically under the lock. It is reached through
 * `FORMAT_1` (test/support/cli.ts), which runs the CLI of test/support/format1-cli.ts, or
 * directly as a repository (`Format1Writer`).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { requireMember } from '../../src/core/access.js';
import { SecretsError } from '../../src/core/errors.js';
import type { HeadRecord, MemberRecord, SecretEntry, VaultFileRecord, VaultRecord, VaultState } from '../../src/core/model.js';
import type { Clock, Identity, VaultRepository } from '../../src/core/ports.js';
import { sha256Hex } from '../../src/crypto/digest.js';
import { toBase64 } from '../../src/crypto/encoding.js';
import { signDetached } from '../../src/crypto/primitives.js';
import { recordSignedBytes } from '../../src/crypto/sign.js';
import { removeStaleTemps, writeFileAtomic } from '../../src/store/atomic.js';
import { canonicalJson, HEADER_LINE, recordToJson, signedBytesOf } from '../../src/store/codec.js';
import { Format1Vault, orderedRecords } from '../../src/store/format1-vault.js';
import { acquireLock } from '../../src/store/lock.js';
import type { TrustStore } from '../../src/store/trust.js';
import { isFormat2 } from '../../src/store/vault-format.js';

/** Signs the canonical form of a format-1 record (without its `sig` field), as earlier versions did. */
export async function signRecord(identity: Identity, vaultId: string, canonical: string): Promise<Uint8Array> {
  return signDetached(recordSignedBytes(vaultId, canonical), identity.signSecret.reveal());
}

/** One line of a format-1 file (without the newline). */
export function serializeRecord(record: VaultFileRecord): string {
  return `- ${canonicalJson(recordToJson(record, true))}`;
}

/** A whole format-1 file for a list of record lines. */
export function serializeFile(lines: readonly string[]): string {
  return `${HEADER_LINE}\n${lines.map((l) => `${l}\n`).join('')}`;
}

/** Options of the writer: the reader's, and what a write needs. */
export interface Format1WriterOptions {
  readonly path: string;
  readonly trust: TrustStore;
  readonly clock: Clock;
  readonly lockTimeoutMs: number;
  /** This machine's audit log tail, anchored in every head this machine writes. */
  readonly auditTail?: (vaultId: string) => Promise<{ log: string; seq: number; hash: string } | undefined>;
}

/** A format-1 vault file that can be written, as earlier versions wrote it. */
export class Format1Writer extends Format1Vault implements VaultRepository {
  readonly #w: Format1WriterOptions;

  constructor(opts: Format1WriterOptions) {
    super({ path: opts.path, trust: opts.trust, clock: opts.clock });
    this.#w = opts;
  }

  async transact<T>(identity: Identity, change: (state: VaultState) => Promise<{ state: VaultState; result: T }>): Promise<T> {
    const lock = await acquireLock(`${this.#w.path}.lock`, this.#w.lockTimeoutMs);
    try {
      removeStaleTemps(this.#w.path);
      const current = await this.read(identity);
      removeStaleTemps(this.#w.trust.path(current.vault.id));
      requireMember(current, identity.id, this.location);
      const { state, result } = await change(current);
      if (state === current) return result;
      const ctr = Math.max(current.head.ctrs.get(identity.id) ?? 0, this.trusted(current.vault.id)?.get(identity.id) ?? 0) + 1;
      const next = await signState(state, identity, ctr, this.#w);
      this.#write(next);
      this.trust(next, sha256Hex([serializeRecord(next.vault)]));
      return result;
    } finally {
      await lock.release();
    }
  }

  #write(state: VaultState): void {
    mkdirSync(dirname(this.#w.path), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.#w.path, serializeFile(orderedRecords(state).map(serializeRecord)));
  }

  async create(identity: Identity, name: string, memberName: string): Promise<VaultState> {
    mkdirSync(dirname(this.#w.path), { recursive: true, mode: 0o700 });
    const lock = await acquireLock(`${this.#w.path}.lock`, this.#w.lockTimeoutMs);
    try {
      if (existsSync(this.#w.path)) {
        throw new SecretsError('VAULT_EXISTS', `a vault already exists at ${this.location}`, 'use it, or pick another path with --vault');
      }
      const now = this.#w.clock.now().toISOString();
      const vault: VaultRecord = { kind: 'vault', id: randomUUID(), format: 1, name, created: now, by: identity.id, ctr: 1 };
      const member: MemberRecord = {
        kind: 'member',
        id: identity.id,
        name: memberName,
        enc: toBase64(identity.enc),
        sign: toBase64(identity.sign),
        roles: ['admin'],
        added: now,
        by: identity.id,
        ctr: 1,
      };
      const draft: VaultState = {
        vault,
        members: [member],
        policies: [],
        head: { kind: 'head', ctrs: new Map(), digest: '', at: now, by: identity.id, ctr: 1 },
        secrets: [],
      };
      const state = await signState(draft, identity, 1, this.#w);
      this.#write(state);
      this.trust(state, sha256Hex([serializeRecord(state.vault)]));
      return state;
    } finally {
      await lock.release();
    }
  }
}

/** Signs every unsigned record of `state` as `identity` at counter `ctr`, and builds the new head. */
export async function signState(
  state: VaultState,
  identity: Identity,
  ctr: number,
  opts: Pick<Format1WriterOptions, 'clock' | 'auditTail'>,
): Promise<VaultState> {
  const sign = async <R extends VaultFileRecord>(r: R): Promise<R> => {
    if (r.sig !== undefined) return r;
    const unsigned = { ...r, by: identity.id, ctr } as R;
    const sig = await signRecord(identity, state.vault.id, signedBytesOf(unsigned));
    return { ...unsigned, sig: toBase64(sig) };
  };
  const vault = await sign(state.vault);
  const members = await Promise.all(state.members.map(sign));
  const policies = await Promise.all(state.policies.map(sign));
  const secrets: SecretEntry[] = [];
  for (const e of state.secrets) secrets.push({ secret: await sign(e.secret), versions: await Promise.all(e.versions.map(sign)) });
  const ctrs = new Map(state.head.ctrs);
  ctrs.set(identity.id, ctr);
  const draft: VaultState = { vault, members, policies, head: { ...state.head, ctrs }, secrets };
  const lines = orderedRecords(draft)
    .filter((r) => r.kind !== 'head')
    .map(serializeRecord);
  const digest = sha256Hex(lines.flatMap((l) => [l, '\n']));
  const audit = new Map(state.head.audit ?? []);
  const tail = await opts.auditTail?.(state.vault.id);
  // Keyed by the writer, not by the log: a log cannot choose which anchor applies to it.
  if (tail) audit.set(identity.id, `${tail.log}:${tail.seq}:${tail.hash}`);
  const head: HeadRecord = await sign({
    kind: 'head',
    ctrs,
    digest,
    at: opts.clock.now().toISOString(),
    ...(audit.size > 0 ? { audit } : {}),
    by: identity.id,
    ctr,
  });
  return { ...draft, head };
}

/**
 * The vault of a CLI run with format 1 writable: a format-2 file goes to the installed command's
 * repository; a format-1 file, and `init --format 1`, to the writer (which reads it as the
 * installed command's reader does, and remembers the line of each record it read).
 */
export class WithFormat1Writer implements VaultRepository {
  readonly location: string;
  readonly #inner: VaultRepository;
  readonly #writer: Format1Writer;

  constructor(inner: VaultRepository, writer: Format1Writer) {
    this.location = inner.location;
    this.#inner = inner;
    this.#writer = writer;
  }

  #one(): boolean {
    return existsSync(this.location) && !isFormat2(this.location);
  }

  exists(): Promise<boolean> {
    return this.#inner.exists();
  }

  read(identity: Identity): Promise<VaultState> {
    return this.#one() ? this.#writer.read(identity) : this.#inner.read(identity);
  }

  readSome(identity: Identity, names: readonly string[]): Promise<VaultState> {
    if (this.#one()) return this.#writer.read(identity);
    return this.#inner.readSome ? this.#inner.readSome(identity, names) : this.#inner.read(identity);
  }

  verifyRecords(state: VaultState, records: Parameters<VaultRepository['verifyRecords']>[1]): Promise<void> {
    return state.vault.format === 2 ? this.#inner.verifyRecords(state, records) : this.#writer.verifyRecords(state, records);
  }

  verifyAll(state: VaultState): Promise<{ checked: number; problems: string[] }> {
    return state.vault.format === 2 ? this.#inner.verifyAll(state) : this.#writer.verifyAll(state);
  }

  transact<T>(
    identity: Identity,
    change: (state: VaultState) => Promise<{ state: VaultState; result: T }>,
    scope?: { readonly names: readonly string[] },
  ): Promise<T> {
    return this.#one() ? this.#writer.transact(identity, change) : this.#inner.transact(identity, change, scope);
  }

  create(identity: Identity, name: string, memberName: string, format: 1 | 2 = 2): Promise<VaultState> {
    return format === 1 ? this.#writer.create(identity, name, memberName) : this.#inner.create(identity, name, memberName, format);
  }
}
