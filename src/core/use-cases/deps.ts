/** What every use case receives: the ports, built once in cli/deps.ts. */
import { SecretsError } from '../errors.js';
import type { SecretEntry, VaultState } from '../model.js';
import type { Clock, IdentityProvider, IdSource, ValueCipher, VaultRepository } from '../ports.js';

export interface CoreDeps {
  readonly vault: VaultRepository;
  readonly identities: IdentityProvider;
  readonly cipher: ValueCipher;
  readonly clock: Clock;
  readonly ids: IdSource;
}

/** The entry for `name`, live or deleted; NOT_FOUND otherwise. */
export function findEntry(state: VaultState, name: string): SecretEntry {
  const entry = state.secrets.find((e) => e.secret.name === name);
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
