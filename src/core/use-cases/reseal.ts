/**
 * Keeping the vault's cryptography in step with its policy after an admin change:
 * `reseal` gives each version's data key to exactly the members allowed to read the secret,
 * `endorse` re-signs (with the admin's key) records whose writers lost the permission they
 * wrote them with, so that history stays valid under the new policy.
 */
import { readersOf, writeProblem } from '../access.js';
import { SecretsError } from '../errors.js';
import type { SecretEntry, VaultState, VersionRecord } from '../model.js';
import type { Identity } from '../ports.js';
import { type CoreDeps, unsign } from './deps.js';

/** Reports progress of long operations (the CLI draws it on a TTY). */
export type Progress = (done: number, total: number) => void;

/** What a re-seal did. */
export interface ResealReport {
  /** Versions whose set of readers changed. */
  readonly changed: number;
  /** Secrets with versions this identity holds no key for, so it could not share them. */
  readonly unshared: readonly string[];
}


function sameKeys(have: ReadonlyMap<string, string>, want: ReadonlySet<string>): boolean {
  return have.size === want.size && [...have.keys()].every((k) => want.has(k));
}

/** The versions whose holders differ from the readers the policy allows. */
export function drift(state: VaultState): { entry: SecretEntry; version: VersionRecord; want: Set<string> }[] {
  const out: { entry: SecretEntry; version: VersionRecord; want: Set<string> }[] = [];
  for (const entry of state.secrets) {
    const want = new Set(readersOf(state, entry).map((m) => m.id));
    for (const version of entry.versions) if (!sameKeys(version.keys, want)) out.push({ entry, version, want });
  }
  return out;
}

/** Shares or withdraws data keys so each version is sealed to exactly its allowed readers. */
export async function reseal(
  deps: CoreDeps,
  identity: Identity,
  state: VaultState,
  progress?: Progress,
): Promise<{ state: VaultState; report: ResealReport; withdrawn: ReadonlyMap<string, ReadonlySet<string>> }> {
  const todo = drift(state);
  const withdrawn = new Map<string, Set<string>>();
  if (todo.length === 0) return { state, report: { changed: 0, unshared: [] }, withdrawn };
  const members = new Map(state.members.map((m) => [m.id, m]));
  const replaced = new Map<VersionRecord, VersionRecord>();
  const unshared = new Set<string>();
  let done = 0;
  for (const { entry, version, want } of todo) {
    const keys = new Map([...version.keys].filter(([id]) => want.has(id)));
    for (const id of version.keys.keys()) {
      if (!want.has(id)) withdrawn.set(id, (withdrawn.get(id) ?? new Set()).add(entry.secret.id));
    }
    const missing = [...want].filter((id) => !version.keys.has(id));
    if (missing.length > 0) {
      if (!version.keys.has(identity.id)) {
        unshared.add(entry.secret.name);
      } else {
        const readers = missing.map((id) => deps.cipher.memberIdentity(members.get(id) as { id: string; enc: string; sign: string }));
        for (const [id, key] of await deps.cipher.shareKey(version, state.vault.id, identity, readers)) keys.set(id, key);
      }
    }
    if (!sameKeys(version.keys, new Set(keys.keys()))) replaced.set(version, unsign({ ...version, keys }));
    progress?.(++done, todo.length);
  }
  const secrets = state.secrets.map((e) =>
    e.versions.some((v) => replaced.has(v)) ? { ...e, versions: e.versions.map((v) => replaced.get(v) ?? v) } : e,
  );
  return { state: { ...state, secrets }, report: { changed: replaced.size, unshared: [...unshared].sort() }, withdrawn };
}

/** Refuses an admin change on a vault that already holds records nobody was allowed to write. */
export async function assertAllAuthorized(deps: CoreDeps, state: VaultState): Promise<void> {
  const { problems } = await deps.vault.verifyAll(state);
  if (problems.length > 0) {
    throw new SecretsError(
      'INTEGRITY',
      `the vault holds ${problems.length} record(s) that fail verification, so it cannot be changed: ${problems[0] ?? ''}`,
      'run `secrets verify` for the list; restore the vault from git or a backup',
    );
  }
}

/** Marks for re-signing every secret and version record that `next` would no longer accept. */
export function endorse(next: VaultState): VaultState {
  let touched = false;
  const secrets = next.secrets.map((entry) => {
    const secret = writeProblem(next, entry.secret, entry) === undefined ? entry.secret : unsign(entry.secret);
    const versions = entry.versions.map((v) => (writeProblem(next, v, entry) === undefined ? v : unsign(v)));
    if (secret === entry.secret && versions.every((v, i) => v === entry.versions[i])) return entry;
    touched = true;
    return { secret, versions };
  });
  return touched ? { ...next, secrets } : next;
}
