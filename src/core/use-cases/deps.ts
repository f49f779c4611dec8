/** What every use case receives: the ports, built once in app/compose.ts. */
import { authorize, type RequestFacts, requireMember } from '../access.js';
import { SecretsError } from '../errors.js';
import type { MemberRecord, SecretEntry, VaultState } from '../model.js';
import type { AuditTrail, Clock, IdentityProvider, IdSource, ValueCipher, VaultRepository } from '../ports.js';

export interface CoreDeps {
  readonly vault: VaultRepository;
  readonly identities: IdentityProvider;
  readonly cipher: ValueCipher;
  readonly clock: Clock;
  readonly ids: IdSource;
  /** The audit trail every use case records itself in (through core/audit.ts `audited`). */
  readonly audit: AuditTrail;
  /** Whether a person is at a terminal (the `secrets:Tty` condition key). */
  readonly tty: boolean;
}

/**
 * Asks the authorization point (core/access.ts) whether this identity may do `action` to
 * `entry` (or to no one secret), throwing DENIED (exit 5) if not. Returns its member record.
 */
export function check(
  deps: CoreDeps,
  state: VaultState,
  identityId: string,
  action: string,
  entry: SecretEntry | undefined,
  facts: RequestFacts = {},
): MemberRecord {
  const member = requireMember(state, identityId, deps.vault.location);
  authorize(state, member, action, entry, facts, { now: deps.clock.now(), tty: deps.tty });
  return member;
}

const byName = new WeakMap<readonly SecretEntry[], Map<string, SecretEntry>>();

/** The entry named `name`, by an index built once per state (states are immutable). */
function entryNamed(state: VaultState, name: string): SecretEntry | undefined {
  let index = byName.get(state.secrets);
  if (!index) {
    index = new Map();
    for (const e of state.secrets) if (!index.has(e.secret.name)) index.set(e.secret.name, e);
    byName.set(state.secrets, index);
  }
  return index.get(name);
}

/** The entry for `name`, live or deleted; NOT_FOUND otherwise. */
export function findEntry(state: VaultState, name: string): SecretEntry {
  const entry = entryNamed(state, name);
  if (!entry) {
    throw new SecretsError('NOT_FOUND', `secret ${name} not found`, '`secrets list` shows the names in this vault');
  }
  return entry;
}

/** The entry for `name`, refusing a secret scheduled for deletion. */
export function findLiveEntry(state: VaultState, name: string): SecretEntry {
  const entry = findEntry(state, name);
  if (entry.secret.deleted !== undefined) {
    throw new SecretsError(
      'SECRET_DELETED',
      `secret ${name} is scheduled for deletion on ${entry.secret.purge ?? 'an unknown date'} and cannot be used`,
      `restore it with \`secrets restore ${name}\``,
    );
  }
  return entry;
}

/** The state with `entry` replacing the entry of the same id (or added). */
export function withEntry(state: VaultState, entry: SecretEntry): VaultState {
  const others = state.secrets.filter((e) => e.secret.id !== entry.secret.id);
  return { ...state, secrets: [...others, entry] };
}

/** The state without the secret of that id. */
export function withoutEntry(state: VaultState, secretId: string): VaultState {
  return { ...state, secrets: state.secrets.filter((e) => e.secret.id !== secretId) };
}

/** A copy of a record without its signature: the repository signs it with this writer's key. */
export function unsign<T extends { sig?: string }>(record: T): T {
  const { sig: _sig, ...rest } = record;
  return rest as T;
}
