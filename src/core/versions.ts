/**
 * Staging labels and versions, as AWS Secrets Manager moves them: a label is on one version
 * at a time; a new CURRENT pushes the old CURRENT to PREVIOUS; unlabeled versions beyond the
 * 100 newest are pruned. Pure functions over records.
 */
import { SecretsError } from './errors.js';
import type { SecretEntry, SecretRecord, VersionRecord } from './model.js';
import { MAX_LABELS, MAX_VERSIONS } from './names.js';

export const CURRENT = 'CURRENT';
export const PREVIOUS = 'PREVIOUS';
export const PENDING = 'PENDING';

/** Labels of one version. */
export function labelsOf(secret: SecretRecord, versionId: string): string[] {
  return [...secret.stages].filter(([, v]) => v === versionId).map(([label]) => label).sort();
}

/** Version id → labels, for every version that has any. */
export function versionsToStages(secret: SecretRecord): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [label, versionId] of secret.stages) (out[versionId] ??= []).push(label);
  for (const labels of Object.values(out)) labels.sort();
  return out;
}

/**
 * Moves `label` to `to` (or removes it when `to` is undefined). Moving CURRENT makes the version
 * that had it PREVIOUS.
 */
export function moveLabel(stages: ReadonlyMap<string, string>, label: string, to: string | undefined): Map<string, string> {
  const next = new Map(stages);
  const from = stages.get(label);
  if (to === undefined) {
    next.delete(label);
    return next;
  }
  next.set(label, to);
  if (label === CURRENT && from !== undefined && from !== to) next.set(PREVIOUS, from);
  if (next.size > MAX_LABELS) throw new SecretsError('LIMIT_EXCEEDED', `a secret can carry at most ${MAX_LABELS} staging labels`);
  return next;
}

/** Labels given to a new version: CURRENT (and PREVIOUS moving) unless labels are named. */
export function stagesForNewVersion(
  stages: ReadonlyMap<string, string>,
  versionId: string,
  labels: readonly string[],
): Map<string, string> {
  let next = new Map(stages);
  for (const label of labels.length > 0 ? labels : [CURRENT]) next = moveLabel(next, label, versionId);
  return next;
}

/** Drops the oldest unlabeled versions beyond MAX_VERSIONS. */
export function pruneVersions(secret: SecretRecord, versions: readonly VersionRecord[]): VersionRecord[] {
  const labelled = new Set(secret.stages.values());
  const sorted = [...versions].sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : 1));
  let excess = sorted.length - MAX_VERSIONS;
  return sorted.filter((v) => {
    if (excess > 0 && !labelled.has(v.id)) {
      excess--;
      return false;
    }
    return true;
  });
}

/** Finds the version a read asks for: by id, by label, or CURRENT. */
export function selectVersion(
  entry: SecretEntry,
  select: { versionId?: string | undefined; versionStage?: string | undefined },
): VersionRecord {
  const name = entry.secret.name;
  let id: string | undefined;
  if (select.versionId !== undefined) {
    id = select.versionId;
  } else {
    const stage = select.versionStage ?? CURRENT;
    id = entry.secret.stages.get(stage);
    if (id === undefined) {
      throw new SecretsError('NOT_FOUND', `secret ${name} has no version labelled ${stage}`, `\`secrets versions ${name}\` lists its versions and labels`);
    }
  }
  const version = entry.versions.find((v) => v.id === id);
  if (!version) {
    throw new SecretsError('NOT_FOUND', `secret ${name} has no version ${id}`, `\`secrets versions ${name}\` lists its versions`);
  }
  return version;
}
