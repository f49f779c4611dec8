/**
 * What a checkpoint summarises (docs/decisions/0018-operation-log.md §6): the secrets of a
 * replayed state as `state` lines, and the state a reader rebuilds from those lines and the
 * governance it replayed itself. Governance is never summarised: a reader learns who is an
 * admin from the genesis and the governance entries a compacted file keeps. Pure: the digests
 * a checkpoint carries are computed by the caller's codec and crypto.
 */
import { SecretsError } from './errors.js';
import { type CheckpointEntry, isGovernance, type LogEntry } from './ops.js';
import { PMap } from './pmap.js';
import type { ReplayInput, ReplayResult } from './replay.js';
import { byText, type MemberState, type ReplayState, type SecretState } from './state.js';

/**
 * One secret as a checkpoint keeps it: its replayed state and, since a compacted file has no
 * data entries left for a removal to look at, the removed members who could read it when they
 * were removed (what `rotate --exposed-to` rotates).
 */
export interface SecretSummary extends SecretState {
  /** Member ids, sorted; absent when none. */
  readonly exposed?: readonly string[];
}

/** The digests a checkpoint carries, computed with the codec's canonical lines and SHA-256. */
export interface CheckpointDigests {
  /** SHA-256 over the canonical `state` lines (`- …\n` each) in the order given. */
  readonly state: (secrets: readonly SecretSummary[]) => string;
  /** SHA-256 over the hashes of the accepted governance entries, in replay order. */
  readonly gov: (hashes: readonly string[]) => string;
}

/** Order of `state` lines: by name, then id (a deleted secret and a newer one may share a name). */
export function bySummaryOrder(a: SecretState, b: SecretState): number {
  return byText(a.name, b.name) || byText(a.id, b.id);
}

/** Whether a secret is gone for good at `at` (past its purge time): a checkpoint drops it. */
function purged(s: SecretState, at: string): boolean {
  return s.deleted !== undefined && s.deleted.purge <= at;
}

/** The secrets a checkpoint at `at` keeps, as `state` lines in their order (of a settled state). */
export function summarise(state: ReplayState, at: string): SecretSummary[] {
  const exposedTo = new Map<string, string[]>();
  for (const m of state.members.values()) for (const id of m.exposed ?? []) exposedTo.set(id, [...(exposedTo.get(id) ?? []), m.id]);
  return [...state.secrets.values()]
    .filter((s) => !purged(s, at))
    .map((s) => {
      const exposed = exposedTo.get(s.id)?.sort(byText);
      return exposed !== undefined ? { ...s, exposed } : s;
    })
    .sort(bySummaryOrder);
}

/**
 * The state as a checkpoint at `at` leaves it: secrets past their purge time are gone, with
 * the names and exposures that pointed at them, and versions no longer name the entry that
 * introduced them. A reader of the full history and a reader of
 * the compacted file reach this same state (what the property replay(compact(H)) = replay(H)
 * compares).
 */
export function settled(state: ReplayState, at: string): ReplayState {
  const gone = [...state.secrets.values()].filter((s) => purged(s, at)).map((s) => s.id);
  const dropped = new Set(gone);
  let secrets = state.secrets;
  for (const id of gone) secrets = secrets.delete(id);
  // The ops that introduced the versions are what compaction removes: a checkpoint forgets them.
  for (const s of secrets.values()) {
    if (s.versions.some((v) => v.entry !== undefined)) secrets = secrets.set(s.id, { ...s, versions: s.versions.map(({ entry: _entry, ...v }) => v) });
  }
  if (gone.length === 0) return { ...state, secrets };
  let names = state.names;
  for (const [name, id] of state.names) if (dropped.has(id)) names = names.delete(name);
  let members = state.members;
  for (const m of state.members.values()) {
    if (m.exposed?.some((id) => dropped.has(id))) members = members.set(m.id, { ...m, exposed: m.exposed.filter((id) => !dropped.has(id)) });
  }
  return { ...state, secrets, names, members };
}

/**
 * The state after a compacted file's checkpoint: the governance the reader replayed, the
 * secrets of the `state` lines, and the checkpoint's audit anchors. Each removed member's
 * exposure is rebuilt from the lines.
 */
export function restored(governance: ReplayState, secrets: readonly SecretSummary[], checkpoint: CheckpointEntry): ReplayState {
  let map = PMap.empty<SecretState>();
  let names = PMap.empty<string>();
  const exposure = new Map<string, string[]>();
  for (const { exposed, ...s } of secrets) {
    map = map.set(s.id, s);
    names = names.set(s.name, s.id);
    for (const m of exposed ?? []) exposure.set(m, [...(exposure.get(m) ?? []), s.id]);
  }
  let members = governance.members;
  for (const m of governance.members.values()) {
    if (m.removed === undefined) continue;
    const next: MemberState = { ...m, exposed: (exposure.get(m.id) ?? []).sort(byText) };
    members = members.set(m.id, next);
  }
  return { ...governance, members, secrets: map, names, anchors: PMap.from(checkpoint.anchors) };
}

/** What `compact` writes, in file order after the header: governance, `state` lines, their payloads, the checkpoint. */
export interface CompactionPlan {
  /** The genesis and every accepted governance entry, in replay order (never compacted). */
  readonly governance: readonly LogEntry[];
  readonly secrets: readonly SecretSummary[];
  /** The payloads the `state` lines name, in state order (per version: value, then keys), once each. */
  readonly payloads: readonly string[];
  /** The checkpoint to sign. */
  readonly checkpoint: Omit<CheckpointEntry, 'sig'>;
}

/**
 * Plans the compaction of a replayed history with a single head, as `by` at `now` (the
 * checkpoint's time is the later of `now` and the head's, as for any entry).
 */
export function planCompaction(input: ReplayInput, result: ReplayResult, digests: CheckpointDigests, by: string, now: string): CompactionPlan {
  const head = result.heads[0];
  if (head === undefined || result.heads.length !== 1) throw new SecretsError('CONFLICT', 'the history has several heads', 'merge them first');
  const byHash = new Map(input.entries.map((i) => [i.hash, i]));
  const headAt = byHash.get(head)?.entry.at ?? now;
  const at = headAt > now ? headAt : now;
  const governance = result.order.filter((h) => result.verdicts.get(h)?.accepted === true && isGovernance((byHash.get(h) as LogEntry).entry));
  const secrets = summarise(settled(result.state, at), at);
  const payloads = [...new Set(secrets.flatMap((s) => s.versions.flatMap((v) => [v.v, v.k])))];
  return {
    governance: governance.map((h) => byHash.get(h) as LogEntry),
    secrets,
    payloads,
    checkpoint: {
      kind: 'checkpoint',
      by,
      seq: (result.seqs.get(by) ?? 0) + 1,
      parents: [head],
      at,
      state: digests.state(secrets),
      secrets: secrets.length,
      seqs: new Map(result.seqs),
      gov: digests.gov(governance),
      anchors: new Map(result.state.anchors),
    },
  };
}
