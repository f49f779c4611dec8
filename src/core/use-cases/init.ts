/** `secrets init`: this machine's identity (created or reused) and a new vault file. */
import { SecretsError } from '../errors.js';
import { assertMemberName, isPrintable } from '../names.js';
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
  input: { name: string; memberName: string; warn: (message: string) => void; format?: 1 | 2 | undefined },
): Promise<InitResult> {
  if (input.name.length < 1 || input.name.length > 256 || !isPrintable(input.name)) {
    throw new SecretsError('USAGE', '--name must be 1-256 characters without control characters');
  }
  assertMemberName(input.memberName, '--member-name');
  if (await deps.vault.exists()) {
    throw new SecretsError('VAULT_EXISTS', `a vault already exists at ${deps.vault.location}`, 'use it, or pick another path with --vault');
  }
  const loaded = await deps.identities.loadOrCreate(input.warn);
  const state = await deps.vault.create(loaded.identity, input.name, input.memberName, input.format);
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
