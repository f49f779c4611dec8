/**
 * Merging across a compaction (docs/decisions/0018-operation-log.md §6, §7). An admin's
 * `secrets compact` replaces the history by the governance, the state and a checkpoint over one
 * head `u`, so the compacted copy does not hold the entries this machine verified, and a union
 * with it would be refused. Through git the longer history is still there, so a machine can
 * check the compaction instead of trusting it:
 *
 * - **Taking a compaction** (the other copy is compacted by a checkpoint this copy lacks): a
 *   history holding `u` (this copy, or a vault.yaml of git history) is joined with this copy; the
 *   checkpoint must be the exact summary of `u` and its ancestors, which replay checks by
 *   recomputing it; everything this machine verified and everything the remote had must be
 *   among those ancestors or in the compacted copy, except this identity's own entries that
 *   were never shared: those are re-applied on top (same action, body and payloads, new parents
 *   and seqs), each authorised again, and one that no longer is is left out and reported.
 * - **Keeping one's own compaction** (this copy is compacted, the other copy is not): every entry
 *   of the other copy must be among the ancestors of `u`. When entries were pushed after the
 *   history this machine compacted, its compaction (never shared) is set aside: the history it
 *   summarised (committed by `secrets compact`) is merged with the other copy, and the admin
 *   compacts again.
 *
 * Both are deterministic (a re-applied entry's time is the later of its own and its parents'),
 * so `sync`'s check and the merge driver git runs after it produce the same bytes; the trust
 * state moves only once the result is written.
 */
import { SecretsError } from '../core/errors.js';
import { headsOf, type LogUnit, unionOf } from '../core/log-union.js';
import type { CheckpointEntry, Entry, MergeEntry, OpEntry } from '../core/ops.js';
import type { Identity } from '../core/ports.js';
import type { ReplayResult } from '../core/replay.js';
import { encodeLine, lineHash, signedEntry, type UnsignedEntry } from '../store/op-codec.js';
import type { TrustState } from '../store/trust.js';
import { type Copy, fileOf, type LogMergeResult, type LogTrust, parseCopy, REWRITTEN_HINT, THIS_COPY, verify } from './log-merge.js';

const CHECKPOINT_MARK = Buffer.from('\n- {"kind":"checkpoint",');

/** The last complete checkpoint line of a copy (`- {…}\n`), if it has one. */
export function lastCheckpointLine(bytes: Buffer): string | undefined {
  const at = bytes.lastIndexOf(CHECKPOINT_MARK);
  if (at < 0) return undefined;
  const end = bytes.indexOf(0x0a, at + 1);
  return end < 0 ? undefined : bytes.subarray(at + 1, end + 1).toString('utf8');
}

/**
 * Whether checkpoint line `later` summarises a history that holds checkpoint line `earlier`, as
 * far as its `seqs` tell (each signer's highest seq among its ancestors); the copies are verified
 * whichever way this goes.
 */
function summarises(later: string, earlier: string): boolean {
  try {
    const a = JSON.parse(later.slice(2)) as { seqs?: Record<string, number> };
    const b = JSON.parse(earlier.slice(2)) as { by?: string; seq?: number };
    return typeof b.by === 'string' && typeof b.seq === 'number' && (a.seqs?.[b.by] ?? 0) >= b.seq;
  } catch {
    return false;
  }
}

/** What crossing a compaction needs besides the two copies. */
export interface CrossingOptions {
  readonly identity: Identity;
  readonly trust: LogTrust;
  /** When `theirs` is a remote's copy: its URL (the heads last seen there must be kept). */
  readonly remote: string | undefined;
  readonly theirsName: string;
  /** The latest time an entry may have (this machine's clock and the skew a read allows). */
  readonly notAfter: string;
  /** Format-2 copies of the vault from git history that hold entry `hash` and not `skip` (a line), newest first. */
  readonly historyHolding: (hash: string, skip: string) => AsyncIterable<Buffer>;
}

/**
 * Merges `theirs` into `ours` when one of them is compacted by a checkpoint the other lacks;
 * undefined when neither is (an ordinary merge).
 */
export async function mergeAcrossCompaction(ours: Buffer, theirs: Buffer, x: CrossingOptions): Promise<LogMergeResult | undefined> {
  const theirsCheckpoint = lastCheckpointLine(theirs);
  const oursCheckpoint = lastCheckpointLine(ours);
  const theirsNew = theirsCheckpoint !== undefined && !ours.includes(theirsCheckpoint);
  const oursNew = oursCheckpoint !== undefined && !theirs.includes(oursCheckpoint);
  // Both compacted, each by a checkpoint the other lacks: the later one (whose history holds the other) is the one to cross.
  if (theirsNew && (!oursNew || summarises(theirsCheckpoint, oursCheckpoint))) return takeCompaction(ours, theirs, theirsCheckpoint, x);
  if (oursNew) return keepCompaction(ours, theirs, oursCheckpoint, x);
  return undefined;
}

/** The checkpoint of a line found by `lastCheckpointLine`, as the copy parsed it. */
function checkpointOf(copy: Copy, line: string): { hash: string; entry: CheckpointEntry } {
  const hash = lineHash(line.slice(2, -1));
  const entry = copy.entries.get(hash);
  if (entry?.kind !== 'checkpoint') throw new SecretsError('INTERNAL', `checkpoint ${hash} was not parsed as one`);
  return { hash, entry };
}

/**
 * `u` and its ancestors among `units`; when the walk reaches a checkpoint whose parent is not
 * among them (a compacted prefix), every unit before it too: the genesis and governance kept
 * there, whose own parents are gone.
 */
function coveredBy(units: readonly LogUnit[], u: string): Set<string> {
  const parents = new Map(units.map((unit) => [unit.hash, unit.parents]));
  const covered = new Set<string>();
  const todo = [u];
  for (let h = todo.pop(); h !== undefined; h = todo.pop()) {
    const p = parents.get(h);
    if (p === undefined || covered.has(h)) continue;
    covered.add(h);
    todo.push(...p);
  }
  const prefix = units.findLastIndex((unit) => covered.has(unit.hash) && isPrefixCheckpoint(unit, parents));
  for (const unit of units.slice(0, prefix + 1)) covered.add(unit.hash);
  return covered;
}

/** Whether `unit` is a checkpoint that closes a compacted prefix: its parent is not among the units. */
function isPrefixCheckpoint(unit: LogUnit, parents: ReadonlyMap<string, readonly string[]>): boolean {
  return unit.checkpoint === true && !parents.has(unit.parents[0] ?? '');
}

/** Where a unit's last line, its entry, begins (lines hold no raw newline: JSON escapes it). */
function entryStart(unit: LogUnit): number {
  return unit.text.lastIndexOf('\n', unit.text.length - 2) + 1;
}

/** A unit's entry line, without the payload or `state` lines before it. */
function entryLine(unit: LogUnit): LogUnit {
  return { ...unit, text: unit.text.slice(entryStart(unit)) };
}

/** The ancestors of `heads` (and the heads) among `units`. */
function ancestorsOf(units: readonly LogUnit[], heads: readonly string[]): Set<string> {
  const parents = new Map(units.map((unit) => [unit.hash, unit.parents]));
  const out = new Set<string>();
  const todo = [...heads];
  for (let h = todo.pop(); h !== undefined; h = todo.pop()) {
    if (out.has(h)) continue;
    out.add(h);
    todo.push(...(parents.get(h) ?? []));
  }
  return out;
}

/**
 * The history `u` summarises, as replay must check it: the covered units in file order, each
 * checkpoint whose history is there reduced to its entry line (replay recomputes it from that
 * history), and a compacted prefix only if this machine holds its checkpoint in its own copy
 * (replay takes a compacted prefix on its signer's word, and a copy from git is anyone's).
 */
function summarisedHistory(units: readonly LogUnit[], covered: ReadonlySet<string>, held: ReadonlySet<string> | 'any'): LogUnit[] | string {
  const parents = new Map(units.map((unit) => [unit.hash, unit.parents]));
  const out: LogUnit[] = [];
  for (const unit of units) {
    if (!covered.has(unit.hash)) continue;
    if (unit.checkpoint !== true) out.push(unit);
    else if (!isPrefixCheckpoint(unit, parents)) out.push(entryLine(unit));
    else if (held === 'any' || held.has(unit.hash)) out.push(unit);
    else return unit.hash;
  }
  return out;
}

/** A history that holds entry `u`: `copy` itself, or the newest copy of git history that parses as this vault's and holds it. */
async function historyWith(copy: Copy, u: string, checkpoint: { hash: string; line: string }, x: CrossingOptions): Promise<Copy | undefined> {
  if (copy.entries.has(u)) return copy;
  for await (const found of x.historyHolding(u, checkpoint.line)) {
    // Anyone can push a branch: a copy that does not parse, or is another vault's, is skipped.
    const full = await parseCopy(found, `the history before checkpoint ${checkpoint.hash} (from git)`).catch(() => undefined);
    if (full !== undefined && full.vault === copy.vault && full.entries.has(u)) return full;
  }
  return undefined;
}

/** Both copies parsed, of one vault, and the other copy verified. */
async function bothCopies(ours: Buffer, theirs: Buffer, x: CrossingOptions): Promise<{ mine: Copy; other: Copy; verifiedTheirs: ReplayResult }> {
  const mine = await parseCopy(ours, THIS_COPY);
  const other = await parseCopy(theirs, x.theirsName);
  if (mine.vault !== other.vault)
    throw new SecretsError('INTEGRITY', `${x.theirsName} is another vault (genesis ${other.vault}, not ${mine.vault}); nothing was merged`, REWRITTEN_HINT);
  return { mine, other, verifiedTheirs: await verify(other.bytes, x.theirsName, x.notAfter) };
}

/** The heads the remote had when this machine last saw it (none when `theirs` is not a remote's copy). */
async function remoteSeen(x: CrossingOptions, vault: string): Promise<readonly string[]> {
  return x.remote === undefined ? [] : ((await x.trust.remotes.remoteHeads(vault)).get(x.remote) ?? []);
}

/** The action of an entry, as reports name it. */
function actionOf(e: Entry): string {
  return e.kind === 'op' ? `${e.op}${'name' in e.body && typeof e.body.name === 'string' ? ` on ${e.body.name}` : ''}` : e.kind;
}

/**
 * Re-signs `ops` (this identity's, in file order) on top of `base`'s heads: the same action,
 * body, payloads and audit anchor; parents the previous head; seqs after `seq`; the later of its
 * own time and its parent's. Returns the file and the new hash of each op.
 */
function reapplied(
  base: Copy & { readonly heads: readonly string[] },
  ops: readonly { unit: LogUnit; entry: OpEntry }[],
  identity: Identity,
  seq: number,
): { text: Buffer; hashes: Map<string, string> } {
  let heads = [...base.heads];
  let at =
    heads
      .map((h) => base.times.get(h) ?? '')
      .sort()
      .at(-1) ?? '';
  const units: LogUnit[] = [...base.units];
  const hashes = new Map<string, string>();
  for (const { unit, entry } of ops) {
    const { sig: _sig, ...rest } = entry;
    at = [at, entry.at].sort().at(-1) as string;
    const unsigned = { ...rest, parents: heads, seq: ++seq, at } as UnsignedEntry<OpEntry>;
    const line = encodeLine(signedEntry<OpEntry>(identity, base.vault, unsigned));
    const hash = lineHash(line);
    // The payload lines before the entry are its own (each names the entry after it).
    const payloads = unit.text.slice(0, entryStart(unit));
    units.push({ hash, parents: heads, text: `${payloads}- ${line}\n` });
    hashes.set(unit.hash, hash);
    heads = [hash];
  }
  return { text: fileOf(units), hashes };
}

/**
 * Refuses `result` when it is not the vault this machine pinned, lowers another signer's seq this
 * machine verified, or brings back a member it saw removed; returns what this machine verified
 * and what moves its trust state to `result` once that is written (this identity's own seq may
 * go down: its entries left out were never shared).
 */
function trustAfter(x: CrossingOptions, vault: string, result: ReplayResult, refuse: (why: string) => never): { known?: TrustState; afterWrite: () => void } {
  const id = result.state.id;
  const known = x.trust.trust.get(id);
  if (known !== undefined && known.genesis !== vault) refuse('it is not the vault this machine pinned');
  for (const [who, s] of known?.ctrs ?? []) {
    if (who !== x.identity.id && (result.seqs.get(who) ?? 0) < s) refuse(`it does not cover entry ${s} of ${who}, which this machine verified`);
  }
  for (const m of known?.removed ?? []) {
    if (result.state.members.get(m)?.removed === undefined) refuse(`${m}, whom this machine saw removed, is not removed in it`);
  }
  const removed = [...result.state.members.values()].filter((m) => m.removed !== undefined).map((m) => m.id);
  const afterWrite = (): void => x.trust.trust.put(id, { genesis: vault, ctrs: result.seqs, heads: result.heads, removed }, x.identity.id);
  return { ...(known !== undefined ? { known } : {}), afterWrite };
}

/** The highest seq `me` signed in any of `copies`. */
function highestSeq(me: string, ...copies: readonly Copy[]): number {
  return Math.max(0, ...copies.flatMap((c) => [...c.entries.values()].filter((e) => e.by === me).map((e) => e.seq)));
}

/**
 * `ops` re-applied on top of `base` (see `reapplied`) and verified; an op the history now refuses
 * or drops is left out, reported, and the rest signed again without it.
 */
async function reapplyAll(
  base: Copy & { readonly heads: readonly string[] },
  ops: readonly { unit: LogUnit; entry: OpEntry }[],
  identity: Identity,
  seq: number,
  names: ReadonlyMap<string, Entry>,
  notAfter: string,
): Promise<{ text: Buffer; result: ReplayResult; reports: string[] }> {
  const reports: string[] = [];
  let todo = ops;
  for (;;) {
    const r = reapplied(base, todo, identity, seq);
    const back = new Map([...r.hashes].map(([from, to]) => [to, from]));
    const leaveOut = (original: string, why: string): void => {
      reports.push(`not re-applied after the compaction: ${actionOf(names.get(original) as Entry)} (${original}): ${why}; do it again`);
      todo = todo.filter((o) => o.unit.hash !== original);
    };
    let result: ReplayResult;
    try {
      result = await verify(r.text, 'the compacted history with the entries of this copy on top', notAfter);
    } catch (err) {
      const named = err instanceof SecretsError ? /entry (\S+) is refused: (.*)$/.exec(err.message) : null;
      const original = named?.[1] !== undefined ? back.get(named[1]) : undefined;
      if (original === undefined) throw err;
      leaveOut(original, named?.[2] ?? 'refused');
      continue;
    }
    const dropped = [...back].find(([h]) => result.verdicts.get(h)?.accepted !== true);
    if (dropped === undefined) return { text: r.text, result, reports };
    const v = result.verdicts.get(dropped[0]);
    leaveOut(dropped[1], v?.accepted === false ? v.reason : 'refused');
  }
}

/** Takes another copy compacted by `line`, checked against the history it summarises. */
async function takeCompaction(ours: Buffer, theirs: Buffer, line: string, x: CrossingOptions): Promise<LogMergeResult> {
  const { mine, other, verifiedTheirs } = await bothCopies(ours, theirs, x);
  const cp = checkpointOf(other, line);
  const u = cp.entry.parents[0] as string;
  const refuse = (why: string, hint = REWRITTEN_HINT): never => {
    throw new SecretsError('INTEGRITY', `${x.theirsName} is compacted by checkpoint ${cp.hash}, and ${why}; nothing was merged`, hint);
  };
  const full = await historyWith(mine, u, { hash: cp.hash, line }, x);
  if (full === undefined)
    return refuse(
      `neither this copy nor the git history holds entry ${u}, the history it summarises`,
      'a compaction whose history cannot be found may hide a rollback. Ask the admin who signed it, out of band, to push the history it summarises. ' +
        "Only if you trust that admin's word over what this machine verified: `git checkout origin/main -- vault.yaml` and `secrets verify --accept-checkpoint " +
        `${cp.hash}\` (entries of yours not pushed are lost)`,
    );
  const units = full === mine ? mine.units : unionOf(mine.units, full.units).units;
  const entryOf = (h: string): Entry | undefined => mine.entries.get(h) ?? full.entries.get(h);
  const covered = coveredBy(units, u);
  // The checkpoint must be the exact summary of that history: replay recomputes it there.
  const summarised = summarisedHistory(units, covered, new Set(mine.entries.keys()));
  if (typeof summarised === 'string')
    return refuse(
      `the history it summarises begins with a compaction this machine does not hold (checkpoint ${summarised}), which it cannot check`,
      'sync once between two compactions; or, if you trust the admin, take the file as a fresh clone would with `secrets verify --accept-checkpoint`',
    );
  await verify(
    fileOf([...summarised, { hash: cp.hash, parents: cp.entry.parents, text: line }]),
    `checkpoint ${cp.hash} on the history it summarises`,
    x.notAfter,
  );

  const inTheirs = new Set(other.units.map((unit) => unit.hash));
  const left = units.filter((unit) => !covered.has(unit.hash) && !inTheirs.has(unit.hash));
  const seen = await remoteSeen(x, mine.vault);
  const lost = seen.find((h) => !covered.has(h) && !inTheirs.has(h));
  if (lost !== undefined) refuse(`it leaves out entry ${lost}, which the remote had when this machine last saw it`);
  // Only this identity's entries of this copy that never reached the remote are re-applied:
  // anything shared (the remote had it, or an entry after it) must be in the history summarised.
  const shared = ancestorsOf(mine.units, seen);
  const me = x.identity.id;
  for (const unit of left) {
    const e = entryOf(unit.hash) as Entry;
    if (!mine.entries.has(unit.hash) || e.by !== me || shared.has(unit.hash))
      refuse(
        `it leaves out entry ${unit.hash} (${actionOf(e)} by ${e.by}), which this machine holds and cannot re-apply: it is not this identity's, or it was pushed`,
      );
    if (e.kind === 'checkpoint') refuse(`this copy has its own checkpoint ${unit.hash} after the history it summarises`);
    if (x.remote === undefined)
      refuse(`it leaves out entry ${unit.hash} of this copy, which is re-applied only when merging the remote's copy (\`secrets sync\`)`);
  }

  // This identity's entries that were never shared go on top, each authorised again.
  const ops = left.flatMap((unit) => {
    const entry = mine.entries.get(unit.hash) as Entry;
    return entry.kind === 'op' ? [{ unit, entry }] : [];
  });
  const seq = highestSeq(me, mine, full, other);
  const { text, result, reports } = await reapplyAll({ ...other, heads: verifiedTheirs.heads }, ops, x.identity, seq, mine.entries, x.notAfter);

  // What this machine verified must be in it, or be its own entries re-applied or left out.
  const { known, afterWrite } = trustAfter(x, mine.vault, result, refuse);
  const mineLeft = new Set(left.map((unit) => unit.hash));
  const resultEntries = new Set(result.order);
  const lostHead = (known?.heads ?? []).find((h) => !covered.has(h) && !resultEntries.has(h) && !mineLeft.has(h));
  if (lostHead !== undefined) refuse(`it leaves out entry ${lostHead}, which this machine verified`);
  const signer = result.state.members.get(cp.entry.by)?.name ?? cp.entry.by;
  const kept = ops.length - reports.length;
  const notes = [
    `took the compaction of the history by ${signer} (checkpoint ${cp.hash}), checked against the history it summarises` +
      (ops.length > 0 ? `; ${kept} entr${kept === 1 ? 'y' : 'ies'} of this copy re-applied on top` : ''),
    ...reports,
  ];
  return {
    text,
    outcome: ops.length > 0 ? 'merged' : 'fast-forward',
    reports: notes,
    vault: mine.vault,
    theirsHeads: verifiedTheirs.heads,
    heads: result.heads,
    afterWrite,
  };
}

/**
 * Keeps this copy, compacted by `line`, when the other copy holds nothing the compaction does not
 * cover; otherwise sets the compaction aside (see `setAside`).
 */
async function keepCompaction(ours: Buffer, theirs: Buffer, line: string, x: CrossingOptions): Promise<LogMergeResult> {
  const { mine, other, verifiedTheirs } = await bothCopies(ours, theirs, x);
  const cp = checkpointOf(mine, line);
  const u = cp.entry.parents[0] as string;
  const full = await historyWith(other, u, { hash: cp.hash, line }, x);
  if (full === undefined)
    throw new SecretsError(
      'CONFLICT',
      `${x.theirsName} holds entries that may not be in this copy's compaction (checkpoint ${cp.hash}), and the history it summarises (entry ${u}) is not in git history to check or merge them with; nothing was merged`,
      'commit the vault before compacting next time (`secrets sync` does); ask the team which entries they pushed since',
    );
  // Another admin compacted concurrently (the other copy's checkpoint is not in the history this one summarises).
  const otherCheckpoint = lastCheckpointLine(theirs);
  if (otherCheckpoint !== undefined && !full.bytes.includes(otherCheckpoint))
    throw new SecretsError(
      'CONFLICT',
      `${x.theirsName} is compacted by another checkpoint than this copy's (${cp.hash}, never pushed): two admins compacted at once, and only one compaction can be kept; nothing was merged`,
      "the other admin's compaction was pushed first: agree which to keep; to keep theirs, `git -C DIR checkout origin/main -- vault.yaml` and `secrets verify --accept-checkpoint HASH` with their checkpoint's hash (writes of yours after your compaction are lost: make them again)",
    );
  const inTheirs = new Set(other.units.map((unit) => unit.hash));
  const seen = await remoteSeen(x, mine.vault);
  const lost = seen.find((h) => !inTheirs.has(h));
  if (lost !== undefined)
    throw new SecretsError(
      'INTEGRITY',
      `${x.theirsName} does not hold entry ${lost}, which the remote had when this machine last saw it: a fork pushed over the history, a truncation or a rewritten past; nothing was merged`,
      REWRITTEN_HINT,
    );
  const units = full === other ? other.units : unionOf(full.units, other.units).units;
  const covered = coveredBy(units, u);
  const uncovered = other.units.filter((unit) => !covered.has(unit.hash));
  if (uncovered.length === 0)
    return { text: mine.bytes, outcome: 'unchanged', reports: [], vault: mine.vault, theirsHeads: verifiedTheirs.heads, heads: headsOf(mine.units) };
  // Set aside, the history found must be the one this machine compacted: its checkpoint,
  // recomputed there, must hold (whatever compacted prefix that history starts with, its state
  // is then this one's).
  const history = summarisedHistory(full.units, coveredBy(full.units, u), 'any') as LogUnit[];
  await verify(
    fileOf([...history, { hash: cp.hash, parents: cp.entry.parents, text: line }]),
    `this copy's checkpoint ${cp.hash} on the history found in git`,
    x.notAfter,
  );
  return setAside(mine, other, full, { ...cp, line }, verifiedTheirs, x, uncovered.length);
}

/** This identity's ops after its checkpoint `cp` in `mine`; `refuse` when the checkpoint or an entry after it is anyone else's. */
function opsAfter(mine: Copy, cp: { hash: string; entry: CheckpointEntry }, me: string, refuse: (why: string) => never): { unit: LogUnit; entry: OpEntry }[] {
  if (cp.entry.by !== me) refuse(`it is ${cp.entry.by}'s, not this identity's`);
  const ops: { unit: LogUnit; entry: OpEntry }[] = [];
  for (const unit of mine.units.slice(mine.units.findIndex((u) => u.hash === cp.hash) + 1)) {
    const e = mine.entries.get(unit.hash) as Entry;
    if (e.by !== me) refuse(`entry ${unit.hash} after it is ${e.by}'s`);
    if (e.kind === 'op') ops.push({ unit, entry: e });
  }
  return ops;
}

/**
 * This identity's unshared compaction `cp` of `full` set aside: `full` and `other` joined (with a
 * `merge` entry when they have several heads), and this copy's entries after the checkpoint
 * re-applied on top. Compacting again is the admin's next `secrets compact`; a checkpoint over
 * a merge that only this machine held could not be checked by anyone else.
 */
async function setAside(
  mine: Copy,
  other: Copy,
  full: Copy,
  cp: { hash: string; entry: CheckpointEntry; line: string },
  verifiedTheirs: ReplayResult,
  x: CrossingOptions,
  newer: number,
): Promise<LogMergeResult> {
  const me = x.identity.id;
  const refuse = (why: string): never => {
    throw new SecretsError(
      'CONFLICT',
      `this copy's compaction (checkpoint ${cp.hash}) cannot be set aside for ${x.theirsName}: ${why}; nothing was merged`,
      REWRITTEN_HINT,
    );
  };
  const ops = opsAfter(mine, cp, me, refuse);
  let seq = highestSeq(me, mine, full, other);
  let text = fileOf(unionOf(full.units, other.units).units);
  const name = `the history this copy compacted, with ${x.theirsName}`;
  const joined = await verify(text, name, x.notAfter);
  let heads = joined.heads;
  if (joined.heads.length > 1) {
    const times = new Map([...full.times, ...other.times]);
    const at = joined.heads
      .map((h) => times.get(h) ?? '')
      .sort()
      .at(-1) as string;
    const merge = signedEntry<MergeEntry>(x.identity, mine.vault, { kind: 'merge', by: me, seq: ++seq, parents: [...joined.heads], at });
    const line = encodeLine(merge);
    text = Buffer.concat([text, Buffer.from(`- ${line}\n`)]);
    heads = [lineHash(line)];
  }
  const base = await parseCopy(text, name);
  const { text: result, result: replayed, reports } = await reapplyAll({ ...base, heads }, ops, x.identity, seq, mine.entries, x.notAfter);
  const { afterWrite } = trustAfter(x, mine.vault, replayed, refuse);
  return {
    text: result,
    outcome: 'merged',
    reports: [
      `set aside this machine's compaction (checkpoint ${cp.hash}, never pushed): ${x.theirsName} held ${newer} entr${newer === 1 ? 'y' : 'ies'} written after the history it summarises, and the histories were merged instead; run \`secrets compact\` again`,
      ...reports,
    ],
    vault: mine.vault,
    theirsHeads: verifiedTheirs.heads,
    heads: replayed.heads,
    afterWrite,
  };
}
