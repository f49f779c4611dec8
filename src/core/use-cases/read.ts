/** Use cases that read: get, describe, versions, list. */
import { audited } from '../audit.js';
import { SecretsError } from '../errors.js';
import type { SecretEntry, SecretRecord } from '../model.js';
import { isTag } from '../names.js';
import type { RotationConfig } from '../rotation.js';
import { scheduleAt } from '../schedule.js';
import type { SecretBytes } from '../secret-bytes.js';
import { labelsOf, selectVersion, versionsToStages } from '../versions.js';
import { check, type CoreDeps, findEntry, findLiveEntry } from './deps.js';

/** A decrypted value and its version metadata. */
export interface SecretValue {
  readonly Name: string;
  readonly VersionId: string;
  readonly VersionStages: string[];
  readonly CreatedDate: string;
  readonly type: 'string' | 'binary';
  readonly value: SecretBytes;
}

/** `secrets get`: verifies the records it uses, then decrypts one version. */
export async function getSecretValue(
  deps: CoreDeps,
  input: { name: string; versionId?: string | undefined; versionStage?: string | undefined },
): Promise<SecretValue> {
  if (input.versionId !== undefined && input.versionStage !== undefined) {
    throw new SecretsError('USAGE', '--version-id and --version-stage cannot be combined', 'pick one');
  }
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'GetSecretValue', identity.id, async (scope) => {
    const state = deps.vault.readSome ? await deps.vault.readSome(identity, [input.name]) : await deps.vault.read(identity);
    scope.vault(state, identity.id).secretName(input.name);
    const entry = findLiveEntry(state, input.name);
    scope.secret(entry);
    const version = selectVersion(entry, input);
    const stages = labelsOf(entry.secret, version.id);
    scope.version(version, stages);
    check(deps, state, identity.id, 'GetSecretValue', entry, { versionStages: stages, versionId: version.id });
    await deps.vault.verifyRecords(state, [entry.secret, version]);
    const value = await deps.cipher.open(version, state.vault.id, identity);
    // Fail-closed: the value leaves only after its event is on disk.
    try {
      await scope.commit();
    } catch (err) {
      value.wipe();
      throw err;
    }
    return { Name: entry.secret.name, VersionId: version.id, VersionStages: stages, CreatedDate: version.created, type: version.type, value };
  });
}

/** Reads one key of a JSON-object secret; a non-string value is returned as JSON. */
export function readField(value: SecretBytes, name: string, field: string): string {
  const text = value.revealText();
  let parsed: unknown;
  try {
    parsed = text === undefined ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SecretsError(
      'INVALID_VALUE',
      `secret ${name} is not a JSON object, so --field cannot read it`,
      `read the whole value with \`secrets get ${name}\``,
    );
  }
  if (!Object.prototype.hasOwnProperty.call(parsed, field)) {
    throw new SecretsError('NOT_FOUND', `secret ${name} has no field ${JSON.stringify(field)}`, `\`secrets get ${name} --json\` shows the whole value`);
  }
  const v = (parsed as Record<string, unknown>)[field];
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** AWS-shaped tags. */
export function tagList(secret: SecretRecord): { Key: string; Value: string }[] {
  return [...secret.tags].map(([Key, Value]) => ({ Key, Value })).sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0));
}

/** The metadata of a secret (DescribeSecret). */
export interface SecretDescription {
  readonly Name: string;
  readonly Id: string;
  readonly Description?: string;
  readonly Tags: { Key: string; Value: string }[];
  readonly VersionIdsToStages: Record<string, string[]>;
  readonly CreatedDate: string;
  readonly LastChangedDate: string;
  readonly DeletedDate?: string;
  readonly PurgeDate?: string;
  /** Day of the last GetSecretValue on this machine (AWS gives day precision too). */
  readonly LastAccessedDate?: string;
  /** Whether automatic rotation is on (AWS RotationEnabled); absent when never configured. */
  readonly RotationEnabled?: boolean;
  /** The handler rotating the secret (AWS RotationLambdaARN). */
  readonly RotationHandler?: string;
  /** AWS RotationRules: the schedule and its window. */
  readonly RotationRules?: { AutomaticallyAfterDays?: number; ScheduleExpression?: string; Duration?: string };
  readonly LastRotatedDate?: string;
  /** When the next rotation is due (in the past when it is overdue). */
  readonly NextRotationDate?: string;
}

function rotationRules(r: RotationConfig): NonNullable<SecretDescription['RotationRules']> {
  return {
    ...(r.every !== undefined ? { AutomaticallyAfterDays: r.every } : {}),
    ...(r.cron !== undefined ? { ScheduleExpression: `cron(${r.cron})` } : {}),
    ...(r.window !== undefined ? { Duration: r.window } : {}),
  };
}

function describeEntry(entry: SecretEntry): SecretDescription {
  const s = entry.secret;
  return {
    Name: s.name,
    Id: s.id,
    ...(s.description !== undefined ? { Description: s.description } : {}),
    Tags: tagList(s),
    VersionIdsToStages: versionsToStages(s),
    CreatedDate: s.created,
    LastChangedDate: s.changed,
    ...(s.deleted !== undefined ? { DeletedDate: s.deleted } : {}),
    ...(s.purge !== undefined ? { PurgeDate: s.purge } : {}),
    ...(s.rotation
      ? {
          RotationEnabled: s.rotation.enabled,
          RotationHandler: s.rotation.handler,
          RotationRules: rotationRules(s.rotation),
          ...(s.rotation.last !== undefined ? { LastRotatedDate: s.rotation.last } : {}),
        }
      : {}),
  };
}

/** `secrets describe` (works on deleted secrets too, as in AWS). */
export async function describeSecret(deps: CoreDeps, input: { name: string }): Promise<SecretDescription> {
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'DescribeSecret', identity.id, async (scope) => {
    const state = await deps.vault.read(identity);
    scope.vault(state, identity.id).secretName(input.name);
    const entry = findEntry(state, input.name);
    scope.secret(entry);
    check(deps, state, identity.id, 'DescribeSecret', entry);
    await deps.vault.verifyRecords(state, [entry.secret]);
    const last = await deps.audit.lastAccess(state.vault.id, entry.secret.id);
    const next = entry.secret.rotation && entry.secret.deleted === undefined ? (await scheduleAt(entry.secret.rotation, deps.clock.now())).next : undefined;
    return {
      ...describeEntry(entry),
      ...(last !== undefined ? { LastAccessedDate: `${last.slice(0, 10)}T00:00:00.000Z` } : {}),
      ...(next !== undefined ? { NextRotationDate: next.toISOString() } : {}),
    };
  });
}

/** One row of `secrets versions`. */
export interface VersionInfo {
  readonly VersionId: string;
  readonly VersionStages: string[];
  readonly CreatedDate: string;
}

/** `secrets versions`: newest first. */
export async function listSecretVersions(deps: CoreDeps, input: { name: string }): Promise<{ Name: string; Versions: VersionInfo[] }> {
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'ListSecretVersionIds', identity.id, async (scope) => {
    const state = await deps.vault.read(identity);
    scope.vault(state, identity.id).secretName(input.name);
    const entry = findEntry(state, input.name);
    scope.secret(entry);
    check(deps, state, identity.id, 'ListSecretVersionIds', entry);
    await deps.vault.verifyRecords(state, [entry.secret]);
    const Versions = [...entry.versions]
      .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : a.id < b.id ? 1 : -1))
      .map((v) => ({ VersionId: v.id, VersionStages: labelsOf(entry.secret, v.id), CreatedDate: v.created }));
    return { Name: entry.secret.name, Versions };
  });
}

/**
 * A ListSecrets filter: key and values, a leading `!` negating a value. The AWS keys match by
 * prefix, each on its own (`tag-key` and `tag-value` look at any tag, not at one pair); `tag:KEY`
 * matches the value of tag KEY exactly, so `tag:team=payments` means what it says.
 */
export interface ListFilter {
  readonly key: 'name' | 'description' | 'tag-key' | 'tag-value' | 'all' | `tag:${string}`;
  readonly values: readonly string[];
}

const FILTER_KEYS = new Set(['name', 'description', 'tag-key', 'tag-value', 'all']);
const TAG_FILTER = 'tag:';

/** Parses repeated `--filter KEY=VALUE`; values of the same key are OR'd, keys are AND'd. */
export function parseFilters(args: readonly string[]): ListFilter[] {
  const byKey = new Map<ListFilter['key'], string[]>();
  for (const arg of args) {
    const at = arg.indexOf('=');
    const key = at < 0 ? arg : arg.slice(0, at);
    const value = arg.slice(at + 1);
    const tagKey = key.startsWith(TAG_FILTER) ? key.slice(TAG_FILTER.length) : undefined;
    const known = tagKey !== undefined ? isTag(tagKey, value.startsWith('!') ? value.slice(1) : value) : FILTER_KEYS.has(key);
    if (at < 0 || !known) {
      // `team=payments` is nearly always a tag pair: show the spelling that finds it.
      const hint =
        at > 0 && tagKey === undefined && isTag(key, value)
          ? `for the tag pair, use --filter tag:${arg}; other keys: name, description, tag-key, tag-value, all`
          : 'use --filter tag:KEY=VALUE for one tag pair, or KEY=VALUE with KEY one of name, description, tag-key, tag-value, all';
      throw new SecretsError('USAGE', `invalid filter ${JSON.stringify(arg)}`, hint);
    }
    const k = key as ListFilter['key'];
    const list = byKey.get(k) ?? [];
    list.push(value);
    byKey.set(k, list);
  }
  return [...byKey].map(([key, values]) => ({ key, values }));
}

function fieldsFor(secret: SecretRecord, key: ListFilter['key']): string[] {
  switch (key) {
    case 'name':
      return [secret.name];
    case 'description':
      return secret.description === undefined ? [] : [secret.description];
    case 'tag-key':
      return [...secret.tags.keys()];
    case 'tag-value':
      return [...secret.tags.values()];
    case 'all':
      return [secret.name, ...(secret.description === undefined ? [] : [secret.description]), ...secret.tags.keys(), ...secret.tags.values()];
    default: {
      const value = secret.tags.get(key.slice(TAG_FILTER.length));
      return value === undefined ? [] : [value];
    }
  }
}

/** True when the secret passes every filter. */
export function matchesFilters(secret: SecretRecord, filters: readonly ListFilter[]): boolean {
  return filters.every((f) => {
    const fields = fieldsFor(secret, f.key);
    const matches = f.key.startsWith(TAG_FILTER) ? (x: string, v: string) => x === v : (x: string, v: string) => x.startsWith(v);
    const positive = f.values.filter((v) => !v.startsWith('!'));
    const negative = f.values.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
    const anyPositive = positive.length === 0 || positive.some((p) => fields.some((x) => matches(x, p)));
    const noNegative = negative.every((n) => !fields.some((x) => matches(x, n)));
    return anyPositive && noNegative;
  });
}

/** `secrets list`: metadata only, no decryption. */
export async function listSecrets(
  deps: CoreDeps,
  input: { filters: readonly ListFilter[]; includeDeleted: boolean },
): Promise<{ SecretList: SecretDescription[] }> {
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'ListSecrets', identity.id, async (scope) => {
    const state = await deps.vault.read(identity);
    scope.vault(state, identity.id);
    check(deps, state, identity.id, 'ListSecrets', undefined);
    const SecretList = state.secrets
      .filter((e) => input.includeDeleted || e.secret.deleted === undefined)
      .filter((e) => matchesFilters(e.secret, input.filters))
      .sort((a, b) => (a.secret.name < b.secret.name ? -1 : 1))
      .map(describeEntry);
    return { SecretList };
  });
}
