/**
 * A format-2 vault behind the same repository port as format 1: reads replay the log (every
 * signature and every op's authorisation against the state before it) and show the state as
 * records; a write runs the use case's change on that view, turns the difference into ops
 * (core/changes.ts), signs them as one chain on the current heads, and appends them in one
 * write under the lock. Nothing is ever rewritten. This machine's trust state pins h(genesis),
 * each signer's highest seq and the heads it verified: a file that lost any of them (a
 * truncation, a rollback, a fork pushed over the history) is refused.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { plannedOps } from '../core/changes.js';
import { SecretsError } from '../core/errors.js';
import { vaultView } from '../core/log-view.js';
import type { VaultState } from '../core/model.js';
import { type Entry, type OpEntry, type Payload, payloadsOf, secretOf } from '../core/ops.js';
import type { Clock, Identity, VaultRepository } from '../core/ports.js';
import { replay, type ReplayOptions, type ReplayResult } from '../core/replay.js';
import { secretIdInLog } from '../crypto/digest.js';
import { toBase64 } from '../crypto/encoding.js';
import { type CompactReport, compactLog } from './compact.js';
import { type FileAccess, SYNC_FILES } from './file-access.js';
import { CHECKPOINT_DIGESTS, encodeLine, entrySignatureValid, lineHash, signedEntry, type UnsignedEntry } from './op-codec.js';
import { type AppendBatch, type LogRead, OpLog, replayInput } from './op-log.js';
import type { TrustStore } from './trust.js';

/** Replay with this project's crypto: strict Ed25519 over the framed entry, ids from h(genesis). */
export const REPLAY_OPTIONS: ReplayOptions = { signatureValid: entrySignatureValid, secretIdOf: secretIdInLog, checkpoint: CHECKPOINT_DIGESTS };

/** Options of a format-2 repository. */
export interface LogVaultOptions {
  readonly path: string;
  readonly trust: TrustStore;
  readonly clock: Clock;
  readonly lockTimeoutMs: number;
  /** This machine's audit log tail for a vault, anchored in each write's last entry. */
  readonly auditTail?: (vaultId: string) => Promise<{ log: string; seq: number; hash: string } | undefined>;
  readonly files?: FileAccess;
}

interface Replayed {
  readonly read: LogRead;
  readonly result: ReplayResult;
  readonly view: VaultState;
}

const ROLLBACK_HINT =
  'this machine verified a later history of this vault; restore the newer file (git reflog, a backup), or if the change is intended, move the trust file aside and run `secrets verify`';

const MIGRATED_HINT =
  'an admin converted this vault from format 1: accept it with `secrets migrate --accept FILE`, FILE being your copy of the format-1 file (e.g. `git show HEAD~1:vault.yaml`)';

/** The format-2 vault repository. */
export class LogVaultRepository implements VaultRepository {
  readonly location: string;
  readonly #opts: LogVaultOptions;
  readonly #log: OpLog;

  constructor(opts: LogVaultOptions) {
    this.#opts = opts;
    this.location = opts.path;
    this.#log = new OpLog({ path: opts.path, lockTimeoutMs: opts.lockTimeoutMs, files: opts.files ?? SYNC_FILES });
  }

  async exists(): Promise<boolean> {
    return existsSync(this.#opts.path);
  }

  /** Replays `read` and checks it against this machine's trust state; raises the trust state to it. */
  #replay(read: LogRead): Replayed {
    const result = replay(replayInput(read), REPLAY_OPTIONS);
    const genesis = read.entries[0]?.hash ?? '';
    this.#checkTrust(result, read, genesis);
    const payloads = replayInput(read).payloads;
    const view = vaultView(result.state, (h) => payloads.get(h), this.#opts.clock.now().toISOString(), result.seqs, { sealedTo: sealedTo(read, payloads) });
    return { read, result, view };
  }

  #checkTrust(result: ReplayResult, read: LogRead, genesis: string): void {
    const id = result.state.id;
    const known = this.#opts.trust.get(id);
    if (known !== undefined) {
      if (known.genesis !== genesis) {
        const first = read.entries[0]?.entry;
        const migrated = first?.kind === 'op' && first.op === 'CreateVault' && first.body.from !== undefined;
        throw new SecretsError(
          'INTEGRITY',
          `vault ${id} has a different genesis than the one this machine pinned: it is not the vault it was`,
          migrated ? MIGRATED_HINT : ROLLBACK_HINT,
        );
      }
      for (const [who, seq] of known.ctrs) {
        const now = result.seqs.get(who) ?? 0;
        if (now < seq)
          throw new SecretsError(
            'INTEGRITY',
            `vault ${id} was rolled back: the last entry of ${who} this machine verified (seq ${seq}) is gone`,
            ROLLBACK_HINT,
          );
      }
      const hashes = new Set(read.entries.map((e) => e.hash));
      const lost = (known.heads ?? []).find((h) => !hashes.has(h));
      if (lost !== undefined)
        throw new SecretsError(
          'INTEGRITY',
          `vault ${id} lost entry ${lost}, which this machine verified: the history was truncated or rewritten`,
          ROLLBACK_HINT,
        );
    }
    this.#opts.trust.put(id, { genesis, ctrs: result.seqs, heads: result.heads });
  }

  async read(_identity: Identity): Promise<VaultState> {
    return this.#replay(await this.#log.read()).view;
  }

  async verifyRecords(): Promise<void> {
    // Every entry was verified by the replay that made the state.
  }

  async verifyAll(_state: VaultState): Promise<{ checked: number; problems: string[] }> {
    const read = await this.#log.read();
    try {
      this.#replay(read);
      return { checked: read.entries.length, problems: [] };
    } catch (err) {
      if (err instanceof SecretsError && err.code === 'INTEGRITY') return { checked: read.entries.length, problems: [err.message] };
      throw err;
    }
  }

  async transact<T>(identity: Identity, change: (state: VaultState) => Promise<{ state: VaultState; result: T }>): Promise<T> {
    let out: { result: T } | undefined;
    const appended = await this.#log.append(async (read) => {
      const { result, view } = this.#replay(read);
      const next = await change(view);
      out = { result: next.result };
      if (next.state === view) return undefined;
      const now = this.#opts.clock.now().toISOString();
      const ops = plannedOps(view, next.state, (p) => lineHash(encodeLine(p)), now);
      if (ops.length === 0) return undefined;
      return this.#chain(identity, read, result, ops, now);
    });
    if (out === undefined) throw new SecretsError('INTERNAL', 'the write did not run');
    if (appended !== undefined) await this.read(identity);
    return out.result;
  }

  /** Signs `ops` as a chain on the current heads: each names the one before it. */
  async #chain(identity: Identity, read: LogRead, result: ReplayResult, ops: ReturnType<typeof plannedOps>, now: string): Promise<AppendBatch[]> {
    const G = read.entries[0]?.hash as string;
    const byHash = new Map(read.entries.map((e) => [e.hash, e.entry]));
    const latest = [now, ...result.heads.map((h) => byHash.get(h)?.at ?? now)].sort().at(-1) as string;
    let parents = [...result.heads];
    let seq = result.seqs.get(identity.id) ?? 0;
    const tail = await this.#opts.auditTail?.(result.state.id);
    const batches: AppendBatch[] = [];
    ops.forEach((planned, i) => {
      const last = i === ops.length - 1;
      const unsigned = {
        kind: 'op',
        op: planned.op,
        body: planned.body,
        by: identity.id,
        seq: ++seq,
        parents,
        at: latest,
        ...(last && tail ? { audit: `${tail.log}:${tail.seq}:${tail.hash}` } : {}),
      } as UnsignedEntry<OpEntry>;
      const entry = signedEntry<Entry>(identity, G, unsigned);
      batches.push({ payloads: dedupe(planned.payloads), entry });
      parents = [lineHash(encodeLine(entry))];
    });
    return batches;
  }

  /**
   * Compacts the log (store/compact.ts) and moves this machine's trust state to the compacted
   * file: the checkpoint is its only head.
   */
  async compact(identity: Identity): Promise<CompactReport> {
    const report = await compactLog(this.#log, identity, this.#opts.clock.now().toISOString(), (read) => this.#replay(read).result);
    this.#opts.trust.put(report.vaultId, { genesis: report.genesis, ctrs: report.seqs, heads: [report.checkpoint] });
    await this.read(identity);
    return report;
  }

  async create(identity: Identity, name: string, memberName: string): Promise<VaultState> {
    if (existsSync(this.#opts.path)) throw new SecretsError('CONFLICT', `a vault already exists at ${this.#opts.path}`);
    const unsigned = {
      kind: 'op',
      op: 'CreateVault',
      body: {
        vault: randomUUID(),
        name,
        format: 2,
        creator: { id: identity.id, name: memberName, enc: toBase64(identity.enc), sign: toBase64(identity.sign) },
      },
      by: identity.id,
      seq: 1,
      parents: [],
      at: this.#opts.clock.now().toISOString(),
    } as UnsignedEntry<OpEntry>;
    mkdirSync(dirname(this.#opts.path), { recursive: true, mode: 0o700 });
    this.#log.create([signedEntry<Entry>(identity, '', unsigned)]);
    return this.read(identity);
  }
}

/** Secret id → every member any of its versions was ever sealed to, from every `keys` line an op or a `state` line binds. */
function sealedTo(read: LogRead, payloads: ReadonlyMap<string, Payload>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const { entry } of read.entries) {
    const secret = secretOf(entry)?.secret;
    if (secret === undefined) continue;
    for (const ref of payloadsOf(entry)) {
      const keys = payloads.get(ref.hash);
      if (keys?.kind !== 'keys') continue;
      const members = out.get(secret) ?? new Set<string>();
      for (const id of keys.keys.keys()) members.add(id);
      out.set(secret, members);
    }
  }
  // A compacted file's state lines name the keys lines of the versions it kept.
  for (const s of read.states) {
    for (const v of s.versions) {
      const keys = payloads.get(v.k);
      if (keys?.kind !== 'keys') continue;
      const members = out.get(s.id) ?? new Set<string>();
      for (const id of keys.keys.keys()) members.add(id);
      out.set(s.id, members);
    }
  }
  return out;
}

/** The same payload twice in one batch (two versions with one ciphertext cannot happen; keys can) is written once. */
function dedupe(payloads: readonly Payload[]): Payload[] {
  const seen = new Set<string>();
  return payloads.filter((p) => {
    const h = lineHash(encodeLine(p));
    if (seen.has(h)) return false;
    seen.add(h);
    return true;
  });
}
