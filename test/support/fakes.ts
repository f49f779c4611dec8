/**
 * In-memory fakes behind the core's ports, for unit tests of use cases (no files, no
 * libsodium, no keychain). The cipher "encrypts" by base64 so tests can see what it was given.
 */
import { SecretsError } from '../../src/core/errors.js';
import type { SecretRecord, VaultState, VersionRecord } from '../../src/core/model.js';
import type { AuditEntry, AuditTrail, Identity, IdentityProvider, LoadedIdentity, PublicIdentity, ValueCipher, VaultRepository } from '../../src/core/ports.js';
import { SecretBytes } from '../../src/core/secret-bytes.js';
import type { CoreDeps } from '../../src/core/use-cases/deps.js';

/** A fixed identity. */
export const ME: Identity = {
  id: '0123456789abcdef',
  enc: new Uint8Array(32),
  sign: new Uint8Array(32),
  seed: new SecretBytes(new Uint8Array(32)),
  encSecret: new SecretBytes(new Uint8Array(32)),
  signSecret: new SecretBytes(new Uint8Array(64)),
};

/** A settable clock. */
export class FakeClock {
  time: Date;
  constructor(iso = '2026-01-01T00:00:00.000Z') {
    this.time = new Date(iso);
  }
  now(): Date {
    return new Date(this.time);
  }
  advanceDays(days: number): void {
    this.time = new Date(this.time.getTime() + days * 86_400_000);
  }
}

/** A vault held in memory; `writes` counts committed transactions. */
export class MemoryVault implements VaultRepository {
  readonly location = 'memory';
  state: VaultState;
  writes = 0;

  constructor() {
    this.state = {
      vault: { kind: 'vault', id: 'vault-1', format: 1, name: 'test', created: '2026-01-01T00:00:00.000Z', by: ME.id, ctr: 1, sig: 'x' },
      members: [{ kind: 'member', id: ME.id, name: 'me', enc: '', sign: '', roles: ['admin'], added: '', by: ME.id, ctr: 1, sig: 'x' }],
      policies: [],
      head: { kind: 'head', ctrs: new Map([[ME.id, 1]]), digest: '', at: '', by: ME.id, ctr: 1, sig: 'x' },
      secrets: [],
    };
  }
  async exists(): Promise<boolean> {
    return true;
  }
  async read(): Promise<VaultState> {
    return this.state;
  }
  async verifyRecords(_s: VaultState, _r: readonly (SecretRecord | VersionRecord)[]): Promise<void> {}
  async verifyAll(): Promise<{ checked: number; problems: string[] }> {
    return { checked: 0, problems: [] };
  }
  async transact<T>(_i: Identity, change: (s: VaultState) => Promise<{ state: VaultState; result: T }>): Promise<T> {
    const { state, result } = await change(this.state);
    if (state !== this.state) {
      this.state = state;
      this.writes++;
    }
    return result;
  }
  async create(): Promise<VaultState> {
    throw new SecretsError('VAULT_EXISTS', 'exists');
  }
}

/** Identity provider that always has ME. */
export const fakeIdentities: IdentityProvider = {
  async load(): Promise<LoadedIdentity> {
    return { identity: ME, source: 'env', where: 'test' };
  },
  async loadOrCreate() {
    return { identity: ME, source: 'env', where: 'test', created: false };
  },
};

/** A transparent "cipher": ct is the base64 of the value. */
export const fakeCipher: ValueCipher = {
  async seal(value, _ctx, readers) {
    return {
      n: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      ct: Buffer.from(value.reveal()).toString('base64'),
      keys: new Map(readers.map((r) => [r.id, 'k'])),
    };
  },
  async open(version) {
    return new SecretBytes(new Uint8Array(Buffer.from(version.ct, 'base64')));
  },
  async shareKey(_version, _vaultId, _identity, readers) {
    return new Map(readers.map((r) => [r.id, 'k']));
  },
  memberIdentity(m): PublicIdentity {
    return { id: m.id, enc: new Uint8Array(32), sign: new Uint8Array(32) };
  },
};

/** An audit trail in memory: `events` holds what was appended, in order. */
export class MemoryAudit implements AuditTrail {
  readonly events: AuditEntry[] = [];
  /** When set, append throws it (to test fail-closed reads). */
  failWith: Error | undefined;
  async append(entry: AuditEntry): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.events.push(entry);
  }
  async appendAll(entries: readonly AuditEntry[]): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.events.push(...entries);
  }
  async lastAccess(_vaultId: string, secretId: string): Promise<string | undefined> {
    return this.events.some((e) => e.secretId === secretId && e.eventName === 'GetSecretValue') ? '2026-01-01T00:00:00.000Z' : undefined;
  }
}

/** Core deps over the fakes. */
export function fakeDeps(): CoreDeps & { vault: MemoryVault; clock: FakeClock; audit: MemoryAudit } {
  let n = 0;
  return {
    vault: new MemoryVault(),
    identities: fakeIdentities,
    cipher: fakeCipher,
    clock: new FakeClock(),
    ids: { newId: () => `id-${String(++n).padStart(6, '0')}`, secretId: () => `id-${String(++n).padStart(6, '0')}` },
    tty: false,
    audit: new MemoryAudit(),
  };
}

/** A text value. */
export function text(value: string): { bytes: SecretBytes; type: 'string' } {
  return { bytes: SecretBytes.fromString(value), type: 'string' };
}
