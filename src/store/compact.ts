/**
 * `secrets compact` on a format-2 vault (docs/decisions/0018-operation-log.md §6): under the
 * lock, the file is replaced through the atomic rename by the header, the genesis and every
 * accepted governance entry (never compacted), the `state` lines of the live secrets, their
 * payloads byte for byte, and an admin's checkpoint on the single head that summarises it all.
 * Several heads are first joined by a `merge` entry (an ordinary append).
 */
import { planCompaction } from '../core/checkpoint.js';
import { SecretsError } from '../core/errors.js';
import type { CheckpointEntry, Entry, MergeEntry } from '../core/ops.js';
import type { Identity } from '../core/ports.js';
import { replay, type ReplayOptions, type ReplayResult } from '../core/replay.js';
import { CHECKPOINT_DIGESTS, encodeLine, type Line, lineHash, signedEntry, type UnsignedEntry } from './op-codec.js';
import { type LogRead, OpLog, replayInput, serializeLog } from './op-log.js';
import type { TrustStore } from './trust.js';

/** What a compaction did. */
export interface CompactReport {
  readonly vaultId: string;
  /** h(genesis): unchanged by compaction. */
  readonly genesis: string;
  /** The checkpoint's hash: the single head of the compacted file. */
  readonly checkpoint: string;
  /** Each signer's highest seq, the checkpoint included. */
  readonly seqs: ReadonlyMap<string, number>;
  readonly entriesBefore: number;
  /** Governance entries kept (the genesis included). */
  readonly governance: number;
  readonly secrets: number;
  readonly payloads: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

/** Replays a read as the repository does (every check, and this machine's trust state). */
export type Replayer = (read: LogRead) => ReplayResult;

function refuseUnlessAdmin(result: ReplayResult, identity: Identity): void {
  const me = result.state.members.get(identity.id);
  if (me === undefined || me.removed !== undefined || !me.roles.includes('admin')) {
    throw new SecretsError(
      'DENIED',
      'only an admin can compact the vault: readers refuse a checkpoint signed by anyone else',
      'ask an admin to run `secrets compact`',
    );
  }
}

/** The later of `now` and the times of `heads`: an entry's time is never before its parents'. */
function timeAfter(read: LogRead, heads: readonly string[], now: string): string {
  const times = read.entries.filter((e) => heads.includes(e.hash)).map((e) => e.entry.at);
  return [now, ...times].sort().at(-1) as string;
}

/** Compacts the log at `log` as `identity` (an admin) at `now`. */
export async function compactLog(log: OpLog, identity: Identity, now: string, replayed: Replayer): Promise<CompactReport> {
  // 1. One head: join several with a merge entry, appended like any write.
  await log.append((read) => {
    const result = replayed(read);
    refuseUnlessAdmin(result, identity);
    if (result.heads.length < 2) return undefined;
    const unsigned: UnsignedEntry<MergeEntry> = {
      kind: 'merge',
      by: identity.id,
      seq: (result.seqs.get(identity.id) ?? 0) + 1,
      parents: [...result.heads],
      at: timeAfter(read, result.heads, now),
    };
    return { payloads: [], entry: signedEntry<Entry>(identity, read.entries[0]?.hash ?? '', unsigned) };
  });
  // 2 and 3. The checkpoint and the compacted file, in one replace under the lock.
  return log.replace((read) => {
    const result = replayed(read);
    refuseUnlessAdmin(result, identity);
    const G = read.entries[0]?.hash ?? '';
    const input = { entries: read.entries, payloads: new Map([...read.payloads].flatMap(([h, p]) => (p.payload ? [[h, p.payload] as const] : []))) };
    const plan = planCompaction(input, result, CHECKPOINT_DIGESTS, identity.id, now);
    const checkpoint = signedEntry<CheckpointEntry>(identity, G, plan.checkpoint);
    const hash = lineHash(encodeLine(checkpoint));
    const lines: Line[] = [
      ...plan.governance.map((g) => g.entry),
      ...plan.secrets.map((s) => ({ kind: 'state' as const, ...s })),
      ...plan.payloads.map((h) => {
        const p = input.payloads.get(h);
        if (p === undefined) throw new SecretsError('INTERNAL', `payload ${h} of the state is not in the file`);
        return p;
      }),
      checkpoint,
    ];
    return {
      lines,
      result: {
        vaultId: result.state.id,
        genesis: G,
        checkpoint: hash,
        seqs: new Map(result.seqs).set(identity.id, checkpoint.seq),
        entriesBefore: read.entries.length,
        governance: plan.governance.length,
        secrets: plan.secrets.length,
        payloads: plan.payloads.length,
        bytesBefore: read.end,
        bytesAfter: serializeLog(lines).length,
      },
    };
  });
}

/** What `acceptCheckpoint` needs. */
export interface AcceptCheckpointOptions {
  readonly path: string;
  readonly trust: TrustStore;
  readonly lockTimeoutMs: number;
  /** Replay's options at this machine's time. */
  readonly options: ReplayOptions;
  /**
   * This machine's identity: its own seqs need not be covered (its entries that were never
   * shared, such as its own compaction set against another admin's, are given up on purpose).
   */
  readonly self?: string;
}

/**
 * Accepts an admin's compaction on a machine that verified the longer history it replaced and
 * cannot see it (outside git): `secrets verify --accept-checkpoint H` (§6). The file must
 * replay, hold checkpoint `hash` (which replay has checked: an admin's, its state lines and
 * governance as it says), be the vault this machine pinned, cover every seq this machine
 * verified, and keep removed every member this machine saw removed. This is the trust a fresh
 * clone gives the checkpoint. Then the trust state moves to the file's heads.
 */
export async function acceptCheckpoint(
  opts: AcceptCheckpointOptions,
  hash: string,
): Promise<{ vaultId: string; checkpoint: string; by: string; genesis: string; heads: readonly string[] }> {
  const read = await new OpLog({ path: opts.path, lockTimeoutMs: opts.lockTimeoutMs }).read();
  const result = replay(replayInput(read), opts.options);
  const refuse = (why: string): never => {
    throw new SecretsError(
      'INTEGRITY',
      `checkpoint ${hash} is not accepted: ${why}`,
      'the trust state was not changed; ask the admin who compacted the vault which checkpoint they signed',
    );
  };
  const found = read.entries.find((e) => e.hash === hash);
  if (found?.entry.kind !== 'checkpoint') return refuse(`${opts.path} holds no such checkpoint`);
  const cp = found.entry;
  const G = read.entries[0]?.hash ?? '';
  const id = result.state.id;
  const known = opts.trust.get(id);
  if (known !== undefined) {
    if (known.genesis !== G) refuse('the file is not the vault this machine pinned');
    const covered = new Map(cp.seqs).set(cp.by, cp.seq);
    for (const [who, seq] of known.ctrs) {
      if (who !== opts.self && (covered.get(who) ?? 0) < seq) refuse(`it does not cover entry ${seq} of ${who}, which this machine verified (an older state)`);
    }
    for (const m of known.removed ?? []) {
      if (result.state.members.get(m)?.removed === undefined) refuse(`${m}, whom this machine saw removed, is not removed in it`);
    }
  }
  const removed = [...result.state.members.values()].filter((m) => m.removed !== undefined).map((m) => m.id);
  opts.trust.put(id, { genesis: G, ctrs: result.seqs, heads: result.heads, removed }, opts.self);
  return { vaultId: id, checkpoint: hash, by: result.state.members.get(cp.by)?.name ?? cp.by, genesis: G, heads: result.heads };
}
