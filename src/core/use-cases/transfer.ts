/**
 * `secrets import` and `secrets export`: many secrets in one go. An import is one locked write
 * however many secrets it brings (10,000 included), with one audit event per secret appended in
 * one batch; an export decrypts, records every read durably, and only then returns the values.
 */
import { AuditBatch, audited } from '../audit.js';
import { SecretsError } from '../errors.js';
import type { SecretEntry } from '../model.js';
import { assertSecretName, MAX_VALUE_BYTES } from '../names.js';
import { labelsOf } from '../versions.js';
import { check, type CoreDeps } from './deps.js';
import type { Progress } from './reseal.js';
import { batchGetSecretValue, type BatchValue } from './release.js';
import { addVersion, type NewValue, newSecretRecord } from './write.js';

/** One secret to import. */
export interface ImportItem {
  readonly name: string;
  readonly value: NewValue;
}

/** What an import did. */
export interface ImportResult {
  readonly Created: number;
  readonly Updated: number;
  readonly Unchanged: number;
}

/** Imports every item in one transaction: new names are created, changed values get a new version. */
export async function importSecrets(deps: CoreDeps, input: { items: readonly ImportItem[]; progress?: Progress | undefined }): Promise<ImportResult> {
  const seen = new Set<string>();
  for (const item of input.items) {
    assertSecretName(item.name);
    if (seen.has(item.name)) throw new SecretsError('USAGE', `${item.name} appears twice in the input`);
    seen.add(item.name);
    if (item.value.bytes.length > MAX_VALUE_BYTES) throw new SecretsError('LIMIT_EXCEEDED', `the value of ${item.name} is over 64 KiB`);
  }
  const { identity } = await deps.identities.load();
  const batch = new AuditBatch(deps.audit);
  const result = await deps.vault
    .transact(identity, async (start) => {
      // Members and policies do not change during an import, so every check runs against `start`;
      // the entries written are collected by name and put in the state once, at the end (one
      // pass, not one copy of the secret list per item).
      const state = start;
      const byName = new Map(start.secrets.map((e) => [e.secret.name, e]));
      const written = new Map<string, SecretEntry>();
      let created = 0;
      let updated = 0;
      let unchanged = 0;
      let done = 0;
      for (const item of input.items) {
        const existing = byName.get(item.name);
        const event = existing ? 'PutSecretValue' : 'CreateSecret';
        const next = await audited(batch, event, identity.id, async (scope): Promise<SecretEntry | undefined> => {
          scope.vault(state, identity.id).secretName(item.name);
          if (existing) {
            scope.secret(existing);
            if (existing.secret.deleted !== undefined) {
              throw new SecretsError(
                'CONFLICT',
                `${item.name} is scheduled for deletion`,
                `restore it first (\`secrets restore ${item.name}\`), or leave it out of the import`,
              );
            }
            check(deps, state, identity.id, 'PutSecretValue', existing, { versionStages: ['CURRENT'] });
            await deps.vault.verifyRecords(state, [existing.secret]);
            const current = existing.versions.find((v) => v.id === existing.secret.stages.get('CURRENT'));
            if (current && current.type === item.value.type) {
              await deps.vault.verifyRecords(state, [current]);
              const old = await deps.cipher.open(current, state.vault.id, identity);
              const same = old.equals(item.value.bytes);
              old.wipe();
              if (same) {
                unchanged++;
                scope.version(current, labelsOf(existing.secret, current.id));
                return undefined;
              }
            }
            const added = await addVersion(deps, identity, state, existing, item.value, { act: 'PutSecretValue' });
            scope.version({ id: added.versionId }, labelsOf(added.entry.secret, added.versionId));
            updated++;
            return added.entry;
          }
          const secret = newSecretRecord(deps, state, identity.id, item.name);
          const fresh: SecretEntry = { secret, versions: [] };
          scope.secret(fresh);
          check(deps, state, identity.id, 'CreateSecret', fresh, { tagKeys: [] });
          const added = await addVersion(deps, identity, state, fresh, item.value, { act: 'CreateSecret' });
          scope.version({ id: added.versionId }, labelsOf(added.entry.secret, added.versionId));
          created++;
          return added.entry;
        });
        if (next) written.set(item.name, next);
        input.progress?.(++done, input.items.length);
      }
      if (written.size === 0) return { state, result: { Created: created, Updated: updated, Unchanged: unchanged } };
      const secrets = start.secrets.map((e) => written.get(e.secret.name) ?? e);
      for (const [name, e] of written) if (!byName.has(name)) secrets.push(e);
      return { state: { ...start, secrets }, result: { Created: created, Updated: updated, Unchanged: unchanged } };
    })
    .catch(async (err: unknown) => {
      // The failed item's event (denied, error) is still recorded; nothing was written.
      await batch.flush().catch(() => undefined);
      throw err;
    });
  await batch.flushSaved('import');
  return result;
}

/** Export: the CURRENT value of every live secret passing `filter`, each read audited. */
export async function exportSecrets(
  deps: CoreDeps,
  input: { filter: (entry: SecretEntry) => boolean; progress?: ((done: number, total: number) => void) | undefined },
): Promise<{ values: BatchValue[]; errors: { SecretId: string; ErrorCode: string; Message: string }[] }> {
  return batchGetSecretValue(deps, { names: [], filter: input.filter, progress: input.progress });
}
