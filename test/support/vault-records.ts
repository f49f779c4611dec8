/**
 * The records of a vault file in either format, for tests that look inside the file: format 1
 * as its lines are, format 2 as the replayed state shows them (core/log-view.ts), read through
 * the real format-2 repository with a throwaway trust directory.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VaultFileRecord, VaultState } from '../../src/core/model.js';
import type { Identity } from '../../src/core/ports.js';
import { parseFile } from '../../src/store/codec.js';
import { LogVaultRepository } from '../../src/store/log-vault.js';
import { TrustStore } from '../../src/store/trust.js';
import { isFormat2 } from '../../src/store/vault-format.js';

/** The state of a format-2 vault as records (no secret needed: reading verifies, it does not decrypt). */
export async function logView(path: string): Promise<VaultState> {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-view-'));
  try {
    const repo = new LogVaultRepository({ path, trust: new TrustStore(dir), clock: { now: () => new Date() }, lockTimeoutMs: 10_000 });
    return await repo.read(undefined as unknown as Identity);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every record of the vault at `path`. */
export async function vaultRecords(path: string): Promise<readonly VaultFileRecord[]> {
  if (!isFormat2(path)) return parseFile(readFileSync(path, 'utf8')).records;
  const s = await logView(path);
  return [s.vault, ...s.members, ...s.policies, s.head, ...s.secrets.flatMap((e) => [e.secret, ...e.versions])];
}
