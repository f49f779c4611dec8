/**
 * `secrets export --format backup` and `secrets import --format backup` (ADR 0020): every live
 * secret with its description, tags, rotation settings and every version with its labels, read
 * (each version audited as a GetSecretValue) and restored as new secrets in one locked write.
 * Encryption of the file is the CLI's business (crypto/backup.ts); this is the data.
 */
import { AuditBatch, audited } from '../audit.js';
import { SecretsError } from '../errors.js';
import type { SecretEntry, SecretRecord, VersionRecord } from '../model.js';
import { assertDescription, assertLabel, assertSecretName, assertTag, MAX_TAGS, MAX_VALUE_BYTES, MAX_VERSIONS } from '../names.js';
import type { RotationConfig } from '../rotation.js';
import type { SecretBytes } from '../secret-bytes.js';
import { readersOf } from '../access.js';
import { CURRENT, labelsOf } from '../versions.js';
import { check, type CoreDeps } from './deps.js';
import type { Progress } from './reseal.js';
import { newSecretRecord } from './write.js';

/** One version as a backup holds it. */
export interface BackupVersion {
  readonly id: string;
  readonly created: string;
  readonly type: 'string' | 'binary';
  /** Its staging labels (none for a deprecated version). */
  readonly stages: readonly string[];
  readonly value: SecretBytes;
}

/** One secret as a backup holds it. */
export interface BackupSecret {
  readonly name: string;
  readonly description?: string;
  readonly tags: ReadonlyMap<string, string>;
  readonly created: string;
  readonly rotation?: RotationConfig;
  /** Oldest first. */
  readonly versions: readonly BackupVersion[];
}

/** A backup's content. */
export interface Backup {
  readonly vault: { readonly id: string; readonly name: string };
  readonly exported: string;
  readonly secrets: readonly BackupSecret[];
}

/** Wipes every value a backup holds. */
export function wipeBackup(backup: Backup): void {
  for (const s of backup.secrets) for (const v of s.versions) v.value.wipe();
}

/**
 * Reads every live secret passing `filter` with all its versions. All or nothing: a secret this
 * identity may not read fails the backup (exit 5) rather than leaving a hole in it; --filter
 * leaves secrets out on purpose. Every version read is audited before any value is returned.
 */
export async function backupSecrets(deps: CoreDeps, input: { filter: (entry: SecretEntry) => boolean; progress?: Progress | undefined }): Promise<Backup> {
  const { identity } = await deps.identities.load();
  const state = await deps.vault.read(identity);
  const entries = state.secrets.filter((e) => e.secret.deleted === undefined && input.filter(e));
  const batch = new AuditBatch(deps.audit);
  const secrets: BackupSecret[] = [];
  const wipe = (): void => wipeBackup({ vault: state.vault, exported: '', secrets });
  try {
    let done = 0;
    for (const entry of entries) {
      input.progress?.(done++, entries.length);
      await deps.vault.verifyRecords(state, [entry.secret]);
      const versions: BackupVersion[] = [];
      secrets.push({
        name: entry.secret.name,
        ...(entry.secret.description !== undefined ? { description: entry.secret.description } : {}),
        tags: entry.secret.tags,
        created: entry.secret.created,
        ...(entry.secret.rotation !== undefined ? { rotation: entry.secret.rotation } : {}),
        versions,
      });
      for (const version of entry.versions) {
        const stages = labelsOf(entry.secret, version.id);
        const value = await audited(batch, 'GetSecretValue', identity.id, async (scope) => {
          scope.vault(state, identity.id).secret(entry).version(version, stages);
          check(deps, state, identity.id, 'GetSecretValue', entry, { versionStages: stages, versionId: version.id });
          await deps.vault.verifyRecords(state, [version]);
          return deps.cipher.open(version, state.vault.id, identity);
        });
        versions.push({ id: version.id, created: version.created, type: version.type, stages, value });
      }
    }
    input.progress?.(entries.length, entries.length);
    await batch.flush();
  } catch (err) {
    wipe();
    await batch.flush().catch(() => undefined);
    throw err;
  }
  return { vault: { id: state.vault.id, name: state.vault.name }, exported: deps.clock.now().toISOString(), secrets };
}

/** What a restore did. */
export interface RestoreResult {
  readonly Created: number;
  readonly Versions: number;
  readonly Names: string[];
}

/** Checks a backup's content before anything is written (sizes, names, labels, stages). */
function assertRestorable(backup: Backup, prefix: string): void {
  const seen = new Set<string>();
  for (const s of backup.secrets) {
    const name = `${prefix}${s.name}`;
    assertSecretName(name);
    if (seen.has(name)) throw new SecretsError('INTEGRITY', `the backup holds ${name} twice`);
    seen.add(name);
    if (s.description !== undefined) assertDescription(s.description);
    if (s.tags.size > MAX_TAGS) throw new SecretsError('LIMIT_EXCEEDED', `${name} has more than ${MAX_TAGS} tags`);
    for (const [k, v] of s.tags) assertTag(k, v);
    if (s.versions.length === 0 || s.versions.length > MAX_VERSIONS)
      throw new SecretsError('INTEGRITY', `${name} has ${s.versions.length} versions in the backup`);
    const ids = new Set<string>();
    const labels = new Set<string>();
    for (const v of s.versions) {
      if (ids.has(v.id)) throw new SecretsError('INTEGRITY', `${name} holds version ${v.id} twice`);
      ids.add(v.id);
      if (v.value.length > MAX_VALUE_BYTES) throw new SecretsError('LIMIT_EXCEEDED', `a version of ${name} is over 64 KiB`);
      for (const l of v.stages) {
        assertLabel(l);
        if (labels.has(l)) throw new SecretsError('INTEGRITY', `${name}: label ${l} is on two versions`);
        labels.add(l);
      }
    }
    if (!labels.has(CURRENT)) throw new SecretsError('INTEGRITY', `${name} has no CURRENT version in the backup`);
  }
}

/**
 * Restores a backup as new secrets, each with its versions (ids, dates, types, labels), tags,
 * description and rotation settings, in one locked write. A name that exists in the vault
 * (deleted or not) stops the restore with nothing written: pass a prefix to restore beside
 * them. Each secret needs CreateSecret (with its tags), PutSecretValue for its labels, and
 * RotateSecret if it rotates; each is one CreateSecret audit event. `signer` (for a backup sealed
 * to an identity) must be this identity or a current member.
 */
export async function restoreBackup(
  deps: CoreDeps,
  input: { backup: Backup; prefix: string; signer?: string | undefined; progress?: Progress | undefined },
): Promise<RestoreResult> {
  const { backup, prefix } = input;
  assertRestorable(backup, prefix);
  const restoredNames = new Set(backup.secrets.map((s) => s.name));
  const { identity } = await deps.identities.load();
  const batch = new AuditBatch(deps.audit);
  const result = await deps.vault
    .transact(identity, async (start) => {
      // Anyone who knows a public identity can seal a backup to it: one sealed to this identity
      // is trusted only if this identity or a current member of the vault signed it.
      if (input.signer !== undefined && input.signer !== identity.id && !start.members.some((m) => m.id === input.signer && m.removed === undefined)) {
        throw new SecretsError(
          'INTEGRITY',
          `the backup was signed by ${input.signer}, who is neither this identity nor a member of this vault; nothing was restored`,
          'restore only backups exported by you or a member; a passphrase backup proves itself by its passphrase',
        );
      }
      const taken = backup.secrets.map((s) => `${prefix}${s.name}`).filter((n) => start.secrets.some((e) => e.secret.name === n));
      if (taken.length > 0) {
        throw new SecretsError(
          'CONFLICT',
          `${taken.length} secret(s) of the backup already exist: ${taken.slice(0, 5).join(', ')}${taken.length > 5 ? ', …' : ''}; nothing was restored`,
          'restore beside them with --prefix (e.g. --prefix restored/), or delete them first (`secrets delete NAME --force`)',
        );
      }
      const now = deps.clock.now().toISOString();
      const entries: SecretEntry[] = [];
      let versions = 0;
      let done = 0;
      for (const s of backup.secrets) {
        const name = `${prefix}${s.name}`;
        // A master secret restored alongside moves under the prefix with it.
        const rotation: RotationConfig | undefined =
          s.rotation === undefined
            ? undefined
            : s.rotation.master !== undefined && restoredNames.has(s.rotation.master)
              ? { ...s.rotation, master: `${prefix}${s.rotation.master}` }
              : s.rotation;
        const entry = await audited(batch, 'CreateSecret', identity.id, async (scope): Promise<SecretEntry> => {
          scope.vault(start, identity.id).secretName(name);
          const stages = new Map<string, string>();
          for (const v of s.versions) for (const l of v.stages) stages.set(l, v.id);
          const secret: SecretRecord = {
            ...newSecretRecord(deps, start, identity.id, name, {
              ...(s.description !== undefined ? { description: s.description } : {}),
              tags: new Map(s.tags),
            }),
            stages,
            created: s.created,
            changed: now,
            // The record's action is the strongest one it needs, so the vault checks that one too.
            act: rotation !== undefined ? 'RotateSecret' : 'CreateSecret',
            restored: true,
            ...(rotation !== undefined ? { rotation } : {}),
          };
          const bare: SecretEntry = { secret, versions: [] };
          scope.secret(bare);
          check(deps, start, identity.id, 'CreateSecret', bare, { requestTags: s.tags, tagKeys: [...s.tags.keys()] });
          check(deps, start, identity.id, 'PutSecretValue', bare, { versionStages: [...stages.keys()] });
          if (rotation !== undefined) check(deps, start, identity.id, 'RotateSecret', bare);
          const readers = readersOf(start, bare).map((m) => deps.cipher.memberIdentity(m));
          const records: VersionRecord[] = [];
          for (const v of s.versions) {
            const bound = start.vault.hash;
            const ctx = { vaultId: start.vault.id, secretId: secret.id, versionId: v.id, type: v.type };
            const sealed = await deps.cipher.seal(v.value, bound !== undefined ? { ...ctx, bound: { vault: bound, writer: identity.id } } : ctx, readers);
            records.push({
              kind: 'version',
              secret: secret.id,
              id: v.id,
              created: v.created,
              type: v.type,
              n: sealed.n,
              ct: sealed.ct,
              keys: sealed.keys,
              act: 'CreateSecret',
              by: identity.id,
              ctr: 0,
              ...(bound !== undefined ? { bound } : {}),
            });
          }
          scope.version({ id: stages.get(CURRENT) as string }, [CURRENT]);
          return { secret, versions: records };
        });
        entries.push(entry);
        versions += entry.versions.length;
        input.progress?.(++done, backup.secrets.length);
      }
      return {
        state: { ...start, secrets: [...start.secrets, ...entries] },
        result: { Created: entries.length, Versions: versions, Names: entries.map((e) => e.secret.name) },
      };
    })
    .catch(async (err: unknown) => {
      await batch.flush().catch(() => undefined);
      throw err;
    });
  await batch.flushSaved('restore');
  return result;
}
