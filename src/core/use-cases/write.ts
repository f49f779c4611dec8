/**
 * Use cases that change secrets: create, put, update, tag, untag, stage, delete, restore.
 * Each runs inside one locked transaction, so concurrent writers never lose an update.
 */
import { readersOf } from '../access.js';
import { audited } from '../audit.js';
import { SecretsError } from '../errors.js';
import type { SecretEntry, SecretRecord, VaultState, VersionRecord } from '../model.js';
import { assertClientRequestToken, assertDescription, assertLabel, assertSecretName, MAX_TAGS, MAX_VALUE_BYTES } from '../names.js';
import type { Identity } from '../ports.js';
import type { SecretBytes } from '../secret-bytes.js';
import {
  assertDistinctRefs,
  CURRENT,
  labelsOf,
  moveLabel,
  PENDING,
  PREVIOUS,
  pruneVersions,
  resolveVersionRef,
  stagesForNewVersion,
  versionIdOf,
  versionsToStages,
} from '../versions.js';
import { check, type CoreDeps, findEntry, findLiveEntry, unsign, withEntry, withoutEntry } from './deps.js';

/** A value to store, with its type: text (valid UTF-8) or binary. */
export interface NewValue {
  readonly bytes: SecretBytes;
  readonly type: 'string' | 'binary';
}

/** What a write reports (AWS-shaped). */
export interface WriteResult {
  readonly Name: string;
  readonly VersionId?: string;
  readonly VersionStages?: string[];
  /** True when a client request token matched an existing identical version. */
  readonly Unchanged?: boolean;
  /** The pending version of a rotation this write abandoned. */
  readonly AbandonedRotationVersionId?: string;
}

function assertValue(value: NewValue): void {
  if (value.bytes.length > MAX_VALUE_BYTES) {
    throw new SecretsError('LIMIT_EXCEEDED', `the value is ${value.bytes.length} bytes; the limit is ${MAX_VALUE_BYTES} (64 KiB)`);
  }
}

/** Appends a version with `value` to `entry`; handles client request tokens as AWS does. */
export async function addVersion(
  deps: CoreDeps,
  identity: Identity,
  state: VaultState,
  entry: SecretEntry,
  value: NewValue,
  opts: { act: string; token?: string | undefined; labels?: readonly string[] | undefined },
): Promise<{ entry: SecretEntry; versionId: string; unchanged: boolean; abandoned?: string }> {
  assertValue(value);
  for (const label of opts.labels ?? []) assertLabel(label);
  if (opts.token !== undefined) {
    assertClientRequestToken(opts.token);
    const existing = entry.versions.find((v) => v.id === opts.token);
    if (existing) {
      await deps.vault.verifyRecords(state, [existing]);
      const old = await deps.cipher.open(existing, state.vault.id, identity);
      const same = existing.type === value.type && old.equals(value.bytes);
      old.wipe();
      if (!same) {
        throw new SecretsError(
          'CONFLICT',
          `version ${opts.token} of ${entry.secret.name} already exists with a different value`,
          'use a new --client-request-token for a new value',
        );
      }
      return { entry, versionId: existing.id, unchanged: true };
    }
  }
  const now = deps.clock.now().toISOString();
  const versionId = opts.token ?? deps.ids.newId();
  // Read access is enforced here: only members allowed GetSecretValue receive the data key.
  const readers = readersOf(state, entry).map((m) => deps.cipher.memberIdentity(m));
  const bound = state.vault.hash;
  const sealed = await deps.cipher.seal(
    value.bytes,
    {
      vaultId: state.vault.id,
      secretId: entry.secret.id,
      versionId,
      type: value.type,
      ...(bound !== undefined ? { bound: { vault: bound, writer: identity.id } } : {}),
    },
    readers,
  );
  const version: VersionRecord = {
    kind: 'version',
    secret: entry.secret.id,
    id: versionId,
    created: now,
    type: value.type,
    n: sealed.n,
    ct: sealed.ct,
    keys: sealed.keys,
    act: opts.act,
    by: identity.id,
    ctr: 0,
    ...(bound !== undefined ? { bound } : {}),
  };
  // The new id may not be a label of the secret, nor a new label one of its ids (see resolveVersionRef).
  assertDistinctRefs(entry.secret.name, entry.secret.stages.keys(), [versionId]);
  assertDistinctRefs(entry.secret.name, opts.labels ?? [], [...entry.versions.map((v) => v.id), versionId]);
  const stages = stagesForNewVersion(entry.secret.stages, versionId, opts.labels ?? []);
  // A new CURRENT stored by hand while a rotation is pending abandons the rotation, as in AWS:
  // its PENDING label goes (the version stays), and the rotation's finishSecret then refuses.
  const pending = stages.get(PENDING);
  const abandoned = opts.act !== 'RotateSecret' && stages.get(CURRENT) === versionId && pending !== undefined && pending !== versionId ? pending : undefined;
  if (abandoned !== undefined) stages.delete(PENDING);
  const secret: SecretRecord = unsign({ ...entry.secret, stages, changed: now, act: opts.act });
  return {
    entry: { secret, versions: pruneVersions(secret, [...entry.versions, version]) },
    versionId,
    unchanged: false,
    ...(abandoned !== undefined ? { abandoned } : {}),
  };
}

/**
 * The record of a secret about to be created: its id derived from the vault and the name, no
 * versions yet, written with CreateSecret by `identityId` now.
 */
export function newSecretRecord(
  deps: CoreDeps,
  state: VaultState,
  identityId: string,
  name: string,
  extra: { readonly description?: string; readonly tags?: ReadonlyMap<string, string> } = {},
): SecretRecord {
  const now = deps.clock.now().toISOString();
  return {
    kind: 'secret',
    id: deps.ids.secretId(state.vault, name),
    name,
    ...(extra.description !== undefined ? { description: extra.description } : {}),
    tags: extra.tags ?? new Map(),
    stages: new Map(),
    created: now,
    changed: now,
    act: 'CreateSecret',
    by: identityId,
    ctr: 0,
  };
}

/** `secrets create`. */
export async function createSecret(
  deps: CoreDeps,
  input: {
    name: string;
    description?: string | undefined;
    tags: ReadonlyMap<string, string>;
    value: NewValue;
    token?: string | undefined;
  },
): Promise<WriteResult> {
  assertSecretName(input.name);
  if (input.description !== undefined) assertDescription(input.description);
  if (input.tags.size > MAX_TAGS) throw new SecretsError('LIMIT_EXCEEDED', `at most ${MAX_TAGS} tags per secret`);
  assertValue(input.value);
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'CreateSecret', identity.id, (scope) =>
    deps.vault.transact<WriteResult>(
      identity,
      async (state) => {
        scope.vault(state, identity.id).secretName(input.name);
        const existing = state.secrets.find((e) => e.secret.name === input.name);
        const facts = { requestTags: input.tags, tagKeys: [...input.tags.keys()] };
        if (existing) {
          scope.secret(existing);
          check(deps, state, identity.id, 'CreateSecret', existing, facts);
          if (existing.secret.deleted !== undefined) {
            throw new SecretsError(
              'ALREADY_EXISTS',
              `secret ${input.name} is scheduled for deletion and its name is still taken`,
              `restore it with \`secrets restore ${input.name}\`, or delete it for good with \`secrets delete ${input.name} --force\``,
            );
          }
          if (input.token !== undefined && existing.versions.some((v) => v.id === input.token)) {
            const same = await addVersion(deps, identity, state, existing, input.value, { act: 'CreateSecret', token: input.token });
            scope.version({ id: same.versionId }, labelsOf(same.entry.secret, same.versionId));
            return {
              state,
              result: { Name: input.name, VersionId: same.versionId, VersionStages: labelsOf(existing.secret, same.versionId), Unchanged: true },
            };
          }
          throw new SecretsError('ALREADY_EXISTS', `secret ${input.name} already exists`, `add a new version with \`secrets put ${input.name}\``);
        }
        const secret = newSecretRecord(deps, state, identity.id, input.name, {
          ...(input.description !== undefined ? { description: input.description } : {}),
          tags: new Map(input.tags),
        });
        scope.secret({ secret, versions: [] });
        check(deps, state, identity.id, 'CreateSecret', { secret, versions: [] }, facts);
        const added = await addVersion(deps, identity, state, { secret, versions: [] }, input.value, { act: 'CreateSecret', token: input.token });
        scope.version({ id: added.versionId }, labelsOf(added.entry.secret, added.versionId));
        return {
          state: withEntry(state, added.entry),
          result: { Name: input.name, VersionId: added.versionId, VersionStages: labelsOf(added.entry.secret, added.versionId) },
        };
      },
      { names: [input.name] },
    ),
  );
}

/** `secrets put`. */
export async function putSecretValue(
  deps: CoreDeps,
  input: { name: string; value: NewValue; labels: readonly string[]; token?: string | undefined },
): Promise<WriteResult> {
  assertValue(input.value);
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'PutSecretValue', identity.id, (scope) =>
    deps.vault.transact(
      identity,
      async (state) => {
        scope.vault(state, identity.id).secretName(input.name);
        const entry = findLiveEntry(state, input.name);
        scope.secret(entry);
        check(deps, state, identity.id, 'PutSecretValue', entry, { versionStages: [CURRENT, ...input.labels] });
        await deps.vault.verifyRecords(state, [entry.secret]);
        const added = await addVersion(deps, identity, state, entry, input.value, { act: 'PutSecretValue', token: input.token, labels: input.labels });
        scope.version({ id: added.versionId }, labelsOf(added.entry.secret, added.versionId));
        return {
          state: added.unchanged ? state : withEntry(state, added.entry),
          result: {
            Name: input.name,
            VersionId: added.versionId,
            VersionStages: labelsOf(added.entry.secret, added.versionId),
            ...(added.unchanged ? { Unchanged: true } : {}),
            ...(added.abandoned !== undefined ? { AbandonedRotationVersionId: added.abandoned } : {}),
          },
        };
      },
      { names: [input.name] },
    ),
  );
}

/** `secrets update`: description and/or a new value. */
export async function updateSecret(
  deps: CoreDeps,
  input: { name: string; description?: string | undefined; value?: NewValue | undefined; token?: string | undefined },
): Promise<WriteResult> {
  if (input.description === undefined && input.value === undefined) {
    throw new SecretsError('USAGE', 'nothing to update', 'pass --description and/or a value source (--value-stdin, --from-file, --generate)');
  }
  if (input.description !== undefined) assertDescription(input.description);
  if (input.value) assertValue(input.value);
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'UpdateSecret', identity.id, (scope) =>
    deps.vault.transact(
      identity,
      async (state) => {
        scope.vault(state, identity.id).secretName(input.name);
        let entry = findLiveEntry(state, input.name);
        scope.secret(entry);
        check(deps, state, identity.id, 'UpdateSecret', entry);
        await deps.vault.verifyRecords(state, [entry.secret]);
        const now = deps.clock.now().toISOString();
        if (input.description !== undefined) {
          entry = { ...entry, secret: unsign({ ...entry.secret, description: input.description, changed: now, act: 'UpdateSecret' }) };
        }
        let versionId: string | undefined;
        if (input.value) {
          const added = await addVersion(deps, identity, state, entry, input.value, { act: 'UpdateSecret', token: input.token });
          scope.version({ id: added.versionId }, labelsOf(added.entry.secret, added.versionId));
          entry = added.entry;
          versionId = added.versionId;
        }
        return {
          state: withEntry(state, entry),
          result: { Name: input.name, ...(versionId !== undefined ? { VersionId: versionId, VersionStages: labelsOf(entry.secret, versionId) } : {}) },
        };
      },
      { names: [input.name] },
    ),
  );
}

/** `secrets tag`. */
export async function tagSecret(deps: CoreDeps, input: { name: string; tags: ReadonlyMap<string, string> }): Promise<WriteResult> {
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'TagResource', identity.id, (scope) =>
    deps.vault.transact(
      identity,
      async (state) => {
        scope.vault(state, identity.id).secretName(input.name);
        const entry = findLiveEntry(state, input.name);
        scope.secret(entry);
        check(deps, state, identity.id, 'TagResource', entry, { requestTags: input.tags, tagKeys: [...input.tags.keys()] });
        // A record this write re-signs must be valid first, or the write would launder a forgery.
        await deps.vault.verifyRecords(state, [entry.secret]);
        const tags = new Map(entry.secret.tags);
        for (const [k, v] of input.tags) tags.set(k, v);
        if (tags.size > MAX_TAGS) throw new SecretsError('LIMIT_EXCEEDED', `at most ${MAX_TAGS} tags per secret; ${input.name} would have ${tags.size}`);
        const secret = unsign({ ...entry.secret, tags, changed: deps.clock.now().toISOString(), act: 'TagResource' });
        return { state: withEntry(state, { ...entry, secret }), result: { Name: input.name } };
      },
      { names: [input.name] },
    ),
  );
}

/** `secrets untag`. Removing a tag that is not there is not an error (as in AWS). */
export async function untagSecret(deps: CoreDeps, input: { name: string; keys: readonly string[] }): Promise<WriteResult> {
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'UntagResource', identity.id, (scope) =>
    deps.vault.transact(
      identity,
      async (state) => {
        scope.vault(state, identity.id).secretName(input.name);
        const entry = findLiveEntry(state, input.name);
        scope.secret(entry);
        check(deps, state, identity.id, 'UntagResource', entry, { tagKeys: input.keys });
        // A record this write re-signs must be valid first, or the write would launder a forgery.
        await deps.vault.verifyRecords(state, [entry.secret]);
        const tags = new Map(entry.secret.tags);
        for (const k of input.keys) tags.delete(k);
        if (tags.size === entry.secret.tags.size) return { state, result: { Name: input.name } };
        const secret = unsign({ ...entry.secret, tags, changed: deps.clock.now().toISOString(), act: 'UntagResource' });
        return { state: withEntry(state, { ...entry, secret }), result: { Name: input.name } };
      },
      { names: [input.name] },
    ),
  );
}

/** What `stage` and `rollback` report: where every label is now. */
export interface StageResult {
  readonly Name: string;
  readonly VersionStages: Record<string, string[]>;
}

/**
 * `secrets stage`: AWS UpdateSecretVersionStage. `to` and `from` name a version by id or by
 * the label it carries (`--to PREVIOUS`), resolved inside the transaction.
 */
export async function updateVersionStage(
  deps: CoreDeps,
  input: { name: string; label: string; to?: string | undefined; from?: string | undefined },
): Promise<StageResult> {
  assertLabel(input.label);
  if (input.to === undefined && input.from === undefined) {
    throw new SecretsError(
      'USAGE',
      'say where the label goes',
      'pass --to VERSION (and --from VERSION if it is on another version); a version is an id or a label',
    );
  }
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'UpdateSecretVersionStage', identity.id, (scope) =>
    deps.vault.transact(
      identity,
      async (state) => {
        scope.vault(state, identity.id).secretName(input.name);
        const entry = findLiveEntry(state, input.name);
        scope.secret(entry);
        // Authorization comes first (a denied caller learns nothing of the versions), on the id the label names.
        const factsId = input.to === undefined ? undefined : (versionIdOf(entry, input.to) ?? input.to);
        check(deps, state, identity.id, 'UpdateSecretVersionStage', entry, {
          versionStages: [input.label],
          ...(factsId !== undefined ? { versionId: factsId } : {}),
        });
        await deps.vault.verifyRecords(state, [entry.secret]);
        const to = input.to === undefined ? undefined : resolveVersionRef(entry, input.to).id;
        const from = input.from === undefined ? undefined : resolveVersionRef(entry, input.from).id;
        const { secret } = entry;
        const holder = secret.stages.get(input.label);
        if (from !== undefined && holder !== from) {
          throw new SecretsError('CONFLICT', `label ${input.label} is not on version ${from}`, holder ? `it is on ${holder}` : 'it is not on any version');
        }
        if (to !== undefined && holder !== undefined && holder !== to && from === undefined) {
          const hint =
            input.label === CURRENT && secret.stages.get(PREVIOUS) === to
              ? `move it with --from ${CURRENT} --to ${input.to ?? to}, or run \`secrets rollback ${input.name}\``
              : `move it with --from ${holder} --to ${input.to ?? to}`;
          throw new SecretsError('CONFLICT', `label ${input.label} is on version ${holder}`, hint);
        }
        if (to === undefined && input.label === CURRENT) {
          throw new SecretsError('USAGE', 'CURRENT cannot be removed, only moved', 'pass --to VERSION');
        }
        if (to !== undefined)
          assertDistinctRefs(
            input.name,
            [input.label],
            entry.versions.map((v) => v.id),
          );
        if (to !== undefined && holder === to) return { state, result: stageReport(secret) };
        const next = movedStage(deps, entry, input.label, to);
        return { state: withEntry(state, next), result: stageReport(next.secret) };
      },
      { names: [input.name] },
    ),
  );
}

function stageReport(secret: SecretRecord): StageResult {
  return { Name: secret.name, VersionStages: versionsToStages(secret) };
}

/** The entry with `label` moved to version `to` (removed when undefined), stamped as a stage change. */
function movedStage(deps: CoreDeps, entry: SecretEntry, label: string, to: string | undefined): SecretEntry {
  const secret = unsign({
    ...entry.secret,
    stages: moveLabel(entry.secret.stages, label, to),
    changed: deps.clock.now().toISOString(),
    act: 'UpdateSecretVersionStage',
  });
  return { secret, versions: pruneVersions(secret, entry.versions) };
}

/** What `rollback` reports: the stage report, and which version is CURRENT and PREVIOUS now. */
export interface RollbackResult extends StageResult {
  readonly VersionId: string;
  readonly PreviousVersionId: string;
}

/**
 * `secrets rollback`: AWS's manual rollback in one step. CURRENT moves to the PREVIOUS version
 * and PREVIOUS to the version that was CURRENT, in one transaction. It is the same change as
 * `stage NAME CURRENT --from CURRENT --to PREVIOUS`, authorized and audited as that
 * (UpdateSecretVersionStage on the CURRENT label).
 */
export async function rollbackSecret(deps: CoreDeps, input: { name: string }): Promise<RollbackResult> {
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'UpdateSecretVersionStage', identity.id, (scope) =>
    deps.vault.transact(
      identity,
      async (state) => {
        scope.vault(state, identity.id).secretName(input.name);
        const entry = findLiveEntry(state, input.name);
        scope.secret(entry);
        const current = entry.secret.stages.get(CURRENT);
        const previous = entry.secret.stages.get(PREVIOUS);
        check(deps, state, identity.id, 'UpdateSecretVersionStage', entry, {
          versionStages: [CURRENT],
          ...(previous !== undefined ? { versionId: previous } : {}),
        });
        await deps.vault.verifyRecords(state, [entry.secret]);
        if (previous === undefined || !entry.versions.some((v) => v.id === previous)) {
          throw new SecretsError(
            'NOT_FOUND',
            `secret ${input.name} has no PREVIOUS version to roll back to`,
            `\`secrets versions ${input.name}\` lists its versions; \`secrets stage ${input.name} CURRENT --from CURRENT --to VERSION_ID\` picks one`,
          );
        }
        if (current === undefined || current === previous) {
          throw new SecretsError(
            'CONFLICT',
            `CURRENT and PREVIOUS of ${input.name} are on the same version`,
            `\`secrets versions ${input.name}\` lists its versions`,
          );
        }
        scope.version({ id: previous }, [CURRENT]);
        const next = movedStage(deps, entry, CURRENT, previous);
        return {
          state: withEntry(state, next),
          result: { ...stageReport(next.secret), VersionId: previous, PreviousVersionId: current },
        };
      },
      { names: [input.name] },
    ),
  );
}

/** Recovery window bounds (AWS: 7–30 days, default 30). */
export const MIN_RECOVERY_DAYS = 7;
export const MAX_RECOVERY_DAYS = 30;
export const DEFAULT_RECOVERY_DAYS = 30;

/** `secrets delete`. */
export async function deleteSecret(
  deps: CoreDeps,
  input: { name: string; recoveryWindowDays?: number | undefined; force: boolean },
): Promise<{ Name: string; DeletionDate: string }> {
  if (input.force && input.recoveryWindowDays !== undefined) {
    throw new SecretsError('USAGE', '--force and --recovery-window-days cannot be combined', 'pick one');
  }
  const days = input.recoveryWindowDays ?? DEFAULT_RECOVERY_DAYS;
  if (!Number.isInteger(days) || days < MIN_RECOVERY_DAYS || days > MAX_RECOVERY_DAYS) {
    throw new SecretsError('USAGE', `--recovery-window-days must be ${MIN_RECOVERY_DAYS} to ${MAX_RECOVERY_DAYS}`);
  }
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'DeleteSecret', identity.id, (scope) =>
    deps.vault.transact(
      identity,
      async (state) => {
        scope.vault(state, identity.id).secretName(input.name);
        const entry = findEntry(state, input.name);
        scope.secret(entry);
        check(deps, state, identity.id, 'DeleteSecret', entry, input.force ? { forceDelete: true } : { recoveryWindowInDays: days, forceDelete: false });
        // A record this write re-signs must be valid first, or the write would launder a forgery.
        await deps.vault.verifyRecords(state, [entry.secret]);
        const now = deps.clock.now();
        if (input.force) {
          return { state: withoutEntry(state, entry.secret.id), result: { Name: input.name, DeletionDate: now.toISOString() } };
        }
        if (entry.secret.deleted !== undefined) {
          throw new SecretsError(
            'CONFLICT',
            `secret ${input.name} is already scheduled for deletion on ${entry.secret.purge ?? '?'}`,
            `restore it with \`secrets restore ${input.name}\`, or use --force to delete it now`,
          );
        }
        const purge = new Date(now.getTime() + days * 86_400_000).toISOString();
        const secret = unsign({ ...entry.secret, deleted: now.toISOString(), purge, changed: now.toISOString(), act: 'DeleteSecret' });
        return { state: withEntry(state, { ...entry, secret }), result: { Name: input.name, DeletionDate: purge } };
      },
      { names: [input.name] },
    ),
  );
}

/** `secrets restore`. */
export async function restoreSecret(deps: CoreDeps, input: { name: string }): Promise<{ Name: string }> {
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'RestoreSecret', identity.id, (scope) =>
    deps.vault.transact(
      identity,
      async (state) => {
        scope.vault(state, identity.id).secretName(input.name);
        const entry = findEntry(state, input.name);
        scope.secret(entry);
        check(deps, state, identity.id, 'RestoreSecret', entry);
        // A record this write re-signs must be valid first, or the write would launder a forgery.
        await deps.vault.verifyRecords(state, [entry.secret]);
        if (entry.secret.deleted === undefined) {
          throw new SecretsError('CONFLICT', `secret ${input.name} is not scheduled for deletion`);
        }
        const { deleted: _d, purge: _p, ...rest } = entry.secret;
        const secret = unsign({ ...rest, changed: deps.clock.now().toISOString(), act: 'RestoreSecret' });
        return { state: withEntry(state, { ...entry, secret }), result: { Name: input.name } };
      },
      { names: [input.name] },
    ),
  );
}
