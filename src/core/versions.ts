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
  return [...secret.stages]
    .filter(([, v]) => v === versionId)
    .map(([label]) => label)
    .sort();
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
export function stagesForNewVersion(stages: ReadonlyMap<string, string>, versionId: string, labels: readonly string[]): Map<string, string> {
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

function candidates(entry: SecretEntry, ref: string): { byId: VersionRecord | undefined; byLabel: VersionRecord | undefined } {
  const labelled = entry.secret.stages.get(ref);
  return { byId: entry.versions.find((v) => v.id === ref), byLabel: labelled === undefined ? undefined : entry.versions.find((v) => v.id === labelled) };
}

/** The id of the version `ref` names (as resolveVersionRef), or undefined when it names none or is ambiguous. */
export function versionIdOf(entry: SecretEntry, ref: string): string | undefined {
  const { byId, byLabel } = candidates(entry, ref);
  return byId && byLabel && byId !== byLabel ? undefined : (byId ?? byLabel)?.id;
}

/**
 * The version `ref` names on this secret: a version id, or a staging label (`--to PREVIOUS`).
 * A version id and a label never share a name on one secret (assertDistinctRefs refuses it
 * on every write); a vault written before that rule is refused here rather than guessed at.
 */
export function resolveVersionRef(entry: SecretEntry, ref: string): VersionRecord {
  const name = entry.secret.name;
  const { byId, byLabel } = candidates(entry, ref);
  if (byId && byLabel && byId !== byLabel) {
    throw new SecretsError(
      'USAGE',
      `${ref} is both a version id of ${name} and its label on version ${byLabel.id}`,
      `remove the label with \`secrets stage ${name} ${ref} --from ${byLabel.id}\`, then ${ref} names the version`,
    );
  }
  const version = byId ?? byLabel;
  if (!version) {
    throw new SecretsError('NOT_FOUND', `secret ${name} has no version or staging label ${ref}`, `\`secrets versions ${name}\` lists its versions and labels`);
  }
  return version;
}

/** Refuses a label with the name of one of `versionIds` (or the reverse): a name given to --to or --from must mean one thing. */
export function assertDistinctRefs(name: string, labels: Iterable<string>, versionIds: Iterable<string>): void {
  const ids = new Set(versionIds);
  for (const label of labels) {
    if (ids.has(label)) {
      throw new SecretsError(
        'CONFLICT',
        `${label} would be both a staging label and a version id of ${name}`,
        'choose another label (or another --client-request-token)',
      );
    }
  }
}

/** Finds the version a read asks for: by id, by label, or CURRENT. */
export function selectVersion(entry: SecretEntry, select: { versionId?: string | undefined; versionStage?: string | undefined }): VersionRecord {
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
    // An id is only an id here (AWS VersionId): labels have their own flag and reference parameter.
    const hint =
      select.versionId !== undefined && entry.secret.stages.has(id)
        ? `${id} is a staging label, not a version id: read it with --version-stage ${id} (?stage=${id} in a reference)`
        : `\`secrets versions ${name}\` lists its versions`;
    throw new SecretsError('NOT_FOUND', `secret ${name} has no version ${id}`, hint);
  }
  return version;
}
