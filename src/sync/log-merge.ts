/**
 * Merging two copies of a format-2 vault (docs/decisions/0018-operation-log.md §7), for the
 * merge driver git calls and for `sync`. The union of both histories is verified by replay, as
 * any read verifies the file, and checked against what this machine verified before: its own
 * heads and seqs (the trust state) and the heads the remote had when this machine last saw it.
 * A copy that fails any check is refused with INTEGRITY (exit 6) and nothing is written.
 * Otherwise the result is the common prefix, each copy's suffix whole (core/log-union.ts), and,
 * when the union has several heads, one `merge` entry naming them, signed by the merging member.
 * The state a replay gives does not depend on who merges or in which order; the files converge
 * once the last merge is fast-forwarded everywhere.
 */
import { SecretsError } from '../core/errors.js';
import { headsOf, type LogUnit, unionOf } from '../core/log-union.js';
import type { Entry, MergeEntry } from '../core/ops.js';
import type { Clock, Identity } from '../core/ports.js';
import { replay, type ReplayResult } from '../core/replay.js';
import { notAfterOf, REPLAY_OPTIONS } from '../store/log-vault.js';
import { encodeLine, HEADER_LINE_V2, signedEntry } from '../store/op-codec.js';
import { readLogBytes, replayInput } from '../store/op-log.js';
import { belowFloor, TrustFloorStore, TrustStore } from '../store/trust.js';
import { trustFloorKey } from '../crypto/identity.js';

const HEADER = Buffer.from(`${HEADER_LINE_V2}\n`);

export const REWRITTEN_HINT =
  'someone force-pushed a fork or an older history, or edited the file; nothing was merged. Find out why with `git log -p`; push your copy back only after checking it';

/** Whether a copy of the vault file is format 2 (it starts with the format-2 header line). */
export function isLogText(bytes: Buffer): boolean {
  return bytes.length >= HEADER.length && bytes.subarray(0, HEADER.length).equals(HEADER);
}

/** What a merge needs to know besides the two copies. */
export interface LogMergeOptions {
  readonly identity: Identity;
  readonly clock: Clock;
  /** This machine's trust state: the heads and seqs it verified of each vault. */
  readonly trust: TrustStore;
  /** When `theirs` is the remote's copy: the heads the remote had when this machine last saw it (by h(genesis)). */
  readonly remoteHeads?: ((vault: string) => Promise<readonly string[] | undefined>) | undefined;
  /** How messages name `theirs` ("the remote's copy", "the other copy"). */
  readonly theirsName: string;
}

/** What a merge did. */
export interface LogMergeResult {
  /** The merged file. */
  readonly text: Buffer;
  /** `unchanged`: ours holds everything; `fast-forward`: theirs holds everything; `merged`: a merge entry joins both. */
  readonly outcome: 'unchanged' | 'fast-forward' | 'merged';
  /** What the replay of the result reports about entries new to either copy (never a value). */
  readonly reports: readonly string[];
  /** h(genesis). */
  readonly vault: string;
  /** The heads of `theirs`, verified (what the remote has, when it is the remote's copy). */
  readonly theirsHeads: readonly string[];
  /** The heads of the result. */
  readonly heads: readonly string[];
  /** What must follow once `text` is written in place of this copy (the trust state moved past a compaction). */
  readonly afterWrite?: () => void;
}

/** A copy parsed: its complete units, and its entries by hash. */
export interface Copy {
  readonly bytes: Buffer;
  readonly units: readonly LogUnit[];
  readonly vault: string;
  /** Each entry's time, by hash. */
  readonly times: ReadonlyMap<string, string>;
  readonly entries: ReadonlyMap<string, Entry>;
}

/** How messages name the local copy. */
export const THIS_COPY = 'this copy';

const REFUSED_HINT = "nothing was merged; `git log -p` on the other copy's branch shows where the entry came from";

/** Prefixes an error's message with the copy it is about, keeping its code; this copy keeps its hint, others say nothing was merged. */
function about(name: string, err: unknown): unknown {
  if (!(err instanceof SecretsError)) return err;
  return new SecretsError(err.code, `${name}: ${err.message}`, name === THIS_COPY ? err.hint : REFUSED_HINT);
}

/** Parses a copy into units (an entry with the payload lines before it); bytes after the last entry are left out. */
export async function parseCopy(bytes: Buffer, name: string): Promise<Copy> {
  if (!isLogText(bytes))
    throw new SecretsError(
      'INTEGRITY',
      `${name} is not a format-2 vault, and the other copy is: one cannot be merged into the other; nothing was merged`,
      REWRITTEN_HINT,
    );
  try {
    const read = await readLogBytes(bytes);
    const units: LogUnit[] = [];
    const times = new Map<string, string>();
    const entries = new Map<string, Entry>();
    let start = HEADER.length;
    for (const e of read.entries) {
      times.set(e.hash, e.entry.at);
      entries.set(e.hash, e.entry);
      const end = e.place.offset + e.place.length + 1;
      units.push({ hash: e.hash, parents: e.entry.parents, text: bytes.subarray(start, end).toString('utf8'), checkpoint: e.entry.kind === 'checkpoint' });
      start = end;
    }
    return { bytes: bytes.subarray(0, start), units, vault: read.entries[0]?.hash ?? '', times, entries };
  } catch (err) {
    throw about(name, err);
  }
}

/**
 * Replays a file's bytes, refusing an entry dated after `notAfter` (this machine's clock and the
 * skew a read allows), as every read does; a refusal names the entry and the copy it is in.
 */
export async function verify(bytes: Buffer, name: string, notAfter: string): Promise<ReplayResult> {
  try {
    return replay(replayInput(await readLogBytes(bytes)), { ...REPLAY_OPTIONS, notAfter });
  } catch (err) {
    throw about(name, err);
  }
}

/** The bytes of a file holding `units`. */
export function fileOf(units: readonly LogUnit[]): Buffer {
  return Buffer.concat([HEADER, ...units.map((u) => Buffer.from(u.text))]);
}

/**
 * Merges `theirs` into `ours` as `opts.identity`. Refuses (INTEGRITY, nothing written) a copy
 * that does not verify, another vault, a remote's copy that lost a head the remote had, and a
 * result that lost a head or a seq this machine verified; refuses (DENIED) a merger who is not
 * a current member when a merge entry is needed.
 */
export async function mergeLogCopies(ours: Buffer, theirs: Buffer, opts: LogMergeOptions): Promise<LogMergeResult> {
  const notAfter = notAfterOf(opts.clock);
  const mine = await parseCopy(ours, THIS_COPY);
  const other = await parseCopy(theirs, opts.theirsName);
  if (mine.vault !== other.vault)
    throw new SecretsError('INTEGRITY', `${opts.theirsName} is another vault (genesis ${other.vault}, not ${mine.vault}); nothing was merged`, REWRITTEN_HINT);
  const verifiedTheirs = await verify(other.bytes, opts.theirsName, notAfter);
  const theirsEntries = new Set(other.units.map((u) => u.hash));
  const lostRemote = ((await opts.remoteHeads?.(other.vault)) ?? []).find((h) => !theirsEntries.has(h));
  if (lostRemote !== undefined) {
    throw new SecretsError(
      'INTEGRITY',
      `${opts.theirsName} does not hold entry ${lostRemote}, which the remote had when this machine last saw it: a fork pushed over the history, a truncation or a rewritten past; nothing was merged`,
      REWRITTEN_HINT,
    );
  }

  const union = unionOf(mine.units, other.units);
  let text = union.onlyTheirs.length === 0 ? mine.bytes : union.onlyOurs.length === 0 ? other.bytes : fileOf(union.units);
  let result = await verify(text, 'the merged history', notAfter);
  const known = opts.trust.get(result.state.id);
  if (known !== undefined) {
    if (known.genesis !== mine.vault)
      throw new SecretsError(
        'INTEGRITY',
        `vault ${result.state.id} has a different genesis than the one this machine pinned; nothing was merged`,
        REWRITTEN_HINT,
      );
    const entries = new Set(union.units.map((u) => u.hash));
    const why = belowFloor({ vault: mine.vault, path: '', heads: known.heads ?? [], seqs: known.ctrs }, entries, result.seqs);
    if (why !== undefined)
      throw new SecretsError('INTEGRITY', `the merged history does not extend what this machine verified: ${why}; nothing was merged`, REWRITTEN_HINT);
  }

  let outcome: LogMergeResult['outcome'] = union.onlyTheirs.length === 0 ? 'unchanged' : 'fast-forward';
  if (union.heads.length > 1) {
    const me = result.state.members.get(opts.identity.id);
    if (me === undefined || me.removed !== undefined) {
      throw new SecretsError(
        'DENIED',
        `this identity (${opts.identity.id}) is not a member of the merged vault, so it cannot sign the merge`,
        me === undefined ? 'ask an admin to add it: `secrets identity show`' : 'it was removed; ask an admin. Your local changes stay committed here',
      );
    }
    const now = opts.clock.now().toISOString();
    // A writer uses the later of its clock and its parents' times (§1).
    const at = [now, ...union.heads.map((h) => mine.times.get(h) ?? other.times.get(h) ?? now)].sort().at(-1) as string;
    const merge = signedEntry<MergeEntry>(opts.identity, mine.vault, {
      kind: 'merge',
      by: opts.identity.id,
      seq: (result.seqs.get(opts.identity.id) ?? 0) + 1,
      parents: [...union.heads],
      at,
    });
    text = Buffer.concat([text, Buffer.from(`- ${encodeLine(merge)}\n`)]);
    result = await verify(text, 'the merged history', notAfter);
    outcome = 'merged';
  }
  return {
    text,
    outcome,
    // Reported once, when the other copy brings something: not again on every sync of unpushed entries.
    reports: union.onlyTheirs.length === 0 ? [] : reportsOf(result, new Set([...union.onlyOurs, ...union.onlyTheirs]), union),
    vault: mine.vault,
    theirsHeads: verifiedTheirs.heads,
    heads: result.heads,
  };
}

/**
 * One line per note of the result's replay about an entry new to either copy: what was dropped
 * and why, disputes, concurrent writes to one field, exposures, two devices; then the fork's
 * depth. Notes name entries, signers, actions and secrets, never a value.
 */
function reportsOf(result: ReplayResult, fresh: ReadonlySet<string>, sides: { onlyOurs: readonly string[]; onlyTheirs: readonly string[] }): string[] {
  const nameOf = (id: string): string => result.state.members.get(id)?.name ?? id;
  const out = result.notes
    .filter((n) => fresh.has(n.entry))
    .map(
      (n) =>
        `${n.kind === 'dropped' ? '' : `${n.kind}: `}${n.message} (${n.action} ${n.entry} by ${nameOf(n.by)}${n.secret !== undefined ? ` on ${n.secret}` : ''})`,
    );
  if (sides.onlyOurs.length > 0 && sides.onlyTheirs.length > 0)
    out.push(
      `joined two branches: ${sides.onlyOurs.length} entr${sides.onlyOurs.length === 1 ? 'y' : 'ies'} here, ${sides.onlyTheirs.length} from the other copy`,
    );
  return out;
}

/** A copy's h(genesis) and heads (its entries no entry names as a parent). */
export async function tipOfCopy(bytes: Buffer): Promise<{ vault: string; heads: readonly string[] }> {
  const copy = await parseCopy(bytes, THIS_COPY);
  return { vault: copy.vault, heads: headsOf(copy.units) };
}

/**
 * A first copy of a vault (a clone): verified by replay and checked against anything this
 * machine verified of the same vault before, then pinned (its genesis, seqs and heads), as the
 * first read of a path pins it.
 */
export async function verifyFirstCopy(bytes: Buffer, trust: TrustStore, clock: Clock): Promise<{ result: ReplayResult; entries: number }> {
  const copy = await parseCopy(bytes, 'the cloned vault');
  const result = await verify(copy.bytes, 'the cloned vault', notAfterOf(clock));
  const known = trust.get(result.state.id);
  if (known !== undefined) {
    if (known.genesis !== copy.vault)
      throw new SecretsError('INTEGRITY', `vault ${result.state.id} has a different genesis than the one this machine pinned`, REWRITTEN_HINT);
    const why = belowFloor({ vault: copy.vault, path: '', heads: known.heads ?? [], seqs: known.ctrs }, new Set(copy.units.map((u) => u.hash)), result.seqs);
    if (why !== undefined) throw new SecretsError('INTEGRITY', `the cloned vault does not extend what this machine verified: ${why}`, REWRITTEN_HINT);
  }
  // As a read of the vault records it: removals are final on this machine from now on.
  const removed = [...result.state.members.values()].filter((m) => m.removed !== undefined).map((m) => m.id);
  trust.put(result.state.id, { genesis: copy.vault, ctrs: result.seqs, heads: result.heads, removed });
  return { result, entries: copy.units.length };
}

/** The admins of a replayed vault, for a person to compare out of band. */
export function logAdmins(result: ReplayResult): { id: string; name: string }[] {
  return [...result.state.members.values()].filter((m) => m.removed === undefined && m.roles.includes('admin')).map((m) => ({ id: m.id, name: m.name }));
}

/** What this machine keeps about format-2 vaults it syncs: the trust state, and the heads seen per remote (MAC'd). */
export interface LogTrust {
  readonly trust: TrustStore;
  readonly remotes: TrustFloorStore;
}

/** The stores of `trustDir` for `identity` (the per-remote heads are MAC'd with its floor key). */
export function logTrust(trustDir: string, identity: Identity): LogTrust {
  return { trust: new TrustStore(trustDir), remotes: new TrustFloorStore(trustDir, trustFloorKey(identity)) };
}

/** How messages name the other copy: the remote's, or another branch's. */
export function copyName(remote: string | undefined): string {
  return remote === undefined ? 'the other copy' : `the remote's copy (${remote})`;
}

/**
 * Merges `theirs` into `ours`; when `remote` is given, `theirs` is that remote's copy and must
 * hold the heads the remote had when this machine last saw it.
 */
export function mergeLogs(
  t: LogTrust,
  who: { identity: Identity; clock: Clock },
  texts: { ours: Buffer; theirs: Buffer },
  remote: string | undefined,
): Promise<LogMergeResult> {
  return mergeLogCopies(texts.ours, texts.theirs, {
    ...who,
    trust: t.trust,
    theirsName: copyName(remote),
    ...(remote !== undefined ? { remoteHeads: async (vault: string) => (await t.remotes.remoteHeads(vault)).get(remote) } : {}),
  });
}
