/**
 * Keeping the vault's cryptography in step with its policy after an admin change:
 * `reseal` gives each version's data key to exactly the members allowed to read the secret,
 * `endorse` keeps valid, under their writer's name, the records whose writers lost the
 * permission they wrote them with, and holds those secrets' settings until an admin confirms.
 */
import { readersOf, writeProblem } from '../access.js';
import { SecretsError } from '../errors.js';
import { MAX_KEPT, type SecretEntry, type VaultState, type VersionRecord } from '../model.js';
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

/**
 * Refuses to share the data key of a version whose ciphertext does not open where it stands.
 * Its encryption binds the vault, secret and version ids; a member who copied another secret's
 * version into one they may read would otherwise be handed its key by the next re-seal.
 */
async function assertInPlace(deps: CoreDeps, state: VaultState, entry: SecretEntry, version: VersionRecord, identity: Identity): Promise<void> {
  try {
    (await deps.cipher.open(version, state.vault.id, identity)).wipe();
  } catch (err) {
    if (!(err instanceof SecretsError) || (err.code !== 'DECRYPTION_FAILED' && err.code !== 'INTEGRITY')) throw err;
    throw new SecretsError(
      'INTEGRITY',
      `version ${version.id} of ${entry.secret.name} does not decrypt where it stands (it was moved from another secret or vault), so its key is shared with no one`,
      'restore the vault from git or a backup; `secrets verify` lists who signed it',
    );
  }
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
        await assertInPlace(deps, state, entry, version, identity);
        const readers = missing.map((id) => deps.cipher.memberIdentity(members.get(id) as { id: string; enc: string; sign: string }));
        for (const [id, key] of await deps.cipher.shareKey(version, state.vault.id, identity, readers)) keys.set(id, key);
      }
    }
    if (!sameKeys(version.keys, new Set(keys.keys()))) replaced.set(version, unsign({ ...version, keys }));
    progress?.(++done, todo.length);
  }
  const secrets = state.secrets.map((e) => (e.versions.some((v) => replaced.has(v)) ? { ...e, versions: e.versions.map((v) => replaced.get(v) ?? v) } : e));
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

/**
 * Keeps valid every secret and version record that `next` would no longer accept because its
 * writer lost the permission (a narrower policy, a removal): the record keeps its author, its
 * signature goes on the writer's admin-signed `kept` list, and the secret's settings go on hold
 * (`held`) until an admin confirms them. The admin vouches for none of it.
 */
export function endorse(next: VaultState): VaultState {
  const kept = new Map<string, Set<string>>();
  const held = new Map<string, Set<string>>();
  const add = (map: Map<string, Set<string>>, id: string, value: string): void => {
    map.set(id, (map.get(id) ?? new Set()).add(value));
  };
  for (const entry of next.secrets) {
    for (const r of [entry.secret, ...entry.versions]) {
      if (r.sig === undefined || writeProblem(next, r, entry) === undefined) continue;
      add(kept, r.by, r.sig);
      if (r.kind === 'secret') add(held, r.by, entry.secret.id);
    }
  }
  if (kept.size === 0) return next;
  const members = next.members.map((m) => {
    const k = kept.get(m.id);
    if (!k) return m;
    const allKept = [...new Set([...(m.kept ?? []), ...k])].sort();
    if (allKept.length > MAX_KEPT) {
      throw new SecretsError(
        'LIMIT_EXCEEDED',
        `this change would leave ${allKept.length} records of ${m.name} without the permission they were written with, more than can be kept under their name`,
        'change the policy in smaller steps, or have the records rewritten (`secrets put`) first',
      );
    }
    const allHeld = [...new Set([...(m.held ?? []), ...(held.get(m.id) ?? [])])].sort();
    return unsign({ ...m, kept: allKept, ...(allHeld.length > 0 ? { held: allHeld } : {}) });
  });
  return { ...next, members };
}
