/** `secrets init`: this machine's identity (created or reused) and a new vault file. */
import { SecretsError } from '../errors.js';
import { isPrintable } from '../names.js';
import type { IdentitySourceKind } from '../ports.js';
import type { CoreDeps } from './deps.js';

/** What init reports. */
export interface InitResult {
  readonly VaultId: string;
  readonly Path: string;
  readonly Name: string;
  readonly IdentityId: string;
  readonly IdentitySource: IdentitySourceKind;
  readonly IdentityLocation: string;
  readonly IdentityCreated: boolean;
}

/** Creates the vault; refuses (exit 4) when one exists, before creating any identity. */
export async function initVault(
  deps: CoreDeps,
  input: { name: string; memberName: string; warn: (message: string) => void },
): Promise<InitResult> {
  for (const [flag, value, max] of [
    ['--name', input.name, 256],
    ['--member-name', input.memberName, 128],
  ] as const) {
    if (value.length < 1 || value.length > max || !isPrintable(value)) {
      throw new SecretsError('USAGE', `${flag} must be 1-${max} characters without control characters`);
    }
  }
  if (await deps.vault.exists()) {
    throw new SecretsError('VAULT_EXISTS', `a vault already exists at ${deps.vault.location}`, 'use it, or pick another path with --vault');
  }
  const loaded = await deps.identities.loadOrCreate(input.warn);
  const state = await deps.vault.create(loaded.identity, input.name, input.memberName);
  return {
    VaultId: state.vault.id,
    Path: deps.vault.location,
    Name: state.vault.name,
    IdentityId: loaded.identity.id,
    IdentitySource: loaded.source,
    IdentityLocation: loaded.where,
    IdentityCreated: loaded.created,
  };
}
