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
import { type PlannedOp, plannedOps } from '../core/changes.js';
import { SecretsError } from '../core/errors.js';
import { vaultView } from '../core/log-view.js';
import type { VaultState } from '../core/model.js';
import { type Entry, type OpEntry, type Payload, payloadsOf, secretOf, type SignatureCheck } from '../core/ops.js';
import type { Clock, Identity, VaultRepository } from '../core/ports.js';
import { replay, type ReplayBase, replayFrom, type ReplayOptions, type ReplayResult } from '../core/replay.js';
import { PMap } from '../core/pmap.js';
import type { ReplayState, SecretState } from '../core/state.js';
import { verifiedStateKey } from '../crypto/identity.js';
import { secretIdInLog } from '../crypto/digest.js';
import { toBase64 } from '../crypto/encoding.js';
import { type CompactReport, compactLog } from './compact.js';
import { type FileAccess, SYNC_FILES } from './file-access.js';
import { preverifiedSignatures } from './preverify.js';
import { CHECKPOINT_DIGESTS, encodeLine, entrySignatureValid, lineHash, signedEntry, type UnsignedEntry } from './op-codec.js';
import { type AppendBatch, type LinePosition, type LogRead, OpLog, type PositionedEntry, replayInput } from './op-log.js';
import {
  BUCKETS,
  type BucketSecret,
  bucketOf,
  bucketsOf,
  governanceOf,
  type PayloadPlaces,
  type VerifiedHeader,
  VerifiedStateStore,
} from './verified-state.js';
import type { TrustState, TrustStore } from './trust.js';

/** Replay with this project's crypto: strict Ed25519 over the framed entry, ids from h(genesis). */
export const REPLAY_OPTIONS: ReplayOptions = { signatureValid: entrySignatureValid, secretIdOf: secretIdInLog, checkpoint: CHECKPOINT_DIGESTS };

/** Histories at least this long show their verification's progress on a terminal. */
const PROGRESS_FROM = 5000;

/** How far ahead of this machine's clock an entry's time may be (clocks differ a little). */
export const CLOCK_SKEW_MS = 60 * 60 * 1000;

/** The latest time an entry may have on this machine: its clock and the skew a read allows. */
export function notAfterOf(clock: Clock): string {
  return new Date(clock.now().getTime() + CLOCK_SKEW_MS).toISOString();
}

/** Options of a format-2 repository. */
export interface LogVaultOptions {
  readonly path: string;
  readonly trust: TrustStore;
  readonly clock: Clock;
  readonly lockTimeoutMs: number;
  /** This machine's audit log tail for a vault, anchored in each write's last entry. */
  readonly auditTail?: (vaultId: string) => Promise<{ log: string; seq: number; hash: string } | undefined>;
  readonly files?: FileAccess;
  /**
   * Where this machine keeps the verified state of this vault for an identity (a cache under
   * XDG_CACHE_HOME); without it every read replays the whole log.
   */
  readonly verifiedDir?: (identityId: string) => string;
  /** A progress counter for a long verification (a fresh clone's first read), if one is drawn. */
  readonly progress?: (label: string) => ((done: number, total: number) => void) | undefined;
}

/** Where a write's chain starts: the vault, the heads it names, each signer's seq, the latest time. */
interface ChainStart {
  readonly G: string;
  readonly vaultId: string;
  readonly heads: readonly string[];
  readonly seqs: ReadonlyMap<string, number>;
  readonly latest: string;
}

/** A partial state's view and where a write on it starts. */
interface PartialView {
  readonly view: VaultState;
  readonly start: ChainStart;
  /** The replayed (partial) state the view shows. */
  readonly state: ReplayState;
}

/** The path pin and the trust state of the vault pinned there, as read before the file. */
interface Trusted {
  readonly pinned: string | undefined;
  readonly known: TrustState | undefined;
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

  /** Replay's options at this machine's time: entries may not be from further ahead than the skew. */
  #options(progress?: (done: number, total: number) => void, signatureValid?: SignatureCheck): ReplayOptions {
    return {
      ...REPLAY_OPTIONS,
      notAfter: notAfterOf(this.#opts.clock),
      ...(progress ? { progress } : {}),
      ...(signatureValid ? { signatureValid } : {}),
    };
  }

  async exists(): Promise<boolean> {
    return existsSync(this.#opts.path);
  }

  /**
   * Replays `read` and checks it against this machine's trust state; raises the trust state to
   * it. `signatures` answers replay's signature checks from checks made ahead (preverify.ts).
   */
  #replay(read: LogRead, signatures?: SignatureCheck, only?: ReadonlySet<string>, before?: Trusted, fetched?: ReadonlyMap<string, Payload>): Replayed {
    // A long history (a fresh clone's first read) shows how far the verification is on a terminal.
    const progress = read.entries.length >= PROGRESS_FROM ? this.#opts.progress?.('verifying the vault history: entries') : undefined;
    const input = replayInput(read);
    const result = replay(input, this.#options(progress, signatures));
    const genesis = read.entries[0]?.hash ?? '';
    this.#checkTrust(result, read, genesis, before);
    const payloads = fetched === undefined ? input.payloads : new Map([...input.payloads, ...fetched]);
    const view = vaultView(result.state, (h) => payloads.get(h), this.#opts.clock.now().toISOString(), result.seqs, {
      sealedTo: sealedTo(read, payloads),
      ...(only !== undefined ? { only } : {}),
    });
    return { read, result, view };
  }

  /**
   * What this machine pinned at the path and verified of the vault there, read before the file
   * is: a reader does not hold the lock, and a writer may append and raise the trust state in
   * between (it only grows, so what was read before the file is a floor the file must meet).
   */
  #trusted(): Trusted {
    const pinned = this.#opts.trust.pinnedVault(this.#opts.path);
    return { pinned, known: pinned === undefined ? undefined : this.#opts.trust.get(pinned) };
  }

  #checkTrust(result: ReplayResult, read: LogRead, genesis: string, before?: Trusted): void {
    const id = result.state.id;
    // The path: a different vault put where this machine used another one is refused, as in format 1.
    const pinned = before !== undefined ? before.pinned : this.#opts.trust.pinnedVault(this.#opts.path);
    if (pinned !== undefined && pinned !== id)
      throw new SecretsError(
        'INTEGRITY',
        `the vault at ${this.#opts.path} is vault ${id}, but this machine used vault ${pinned} there`,
        `if you replaced it on purpose, remove ${this.#opts.trust.pinPath(this.#opts.path)} and run the command again`,
      );
    const known = before !== undefined && before.pinned === id ? before.known : this.#opts.trust.get(id);
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
    this.#checkRemovals(known, result.state);
    this.#opts.trust.put(id, { genesis, ctrs: result.seqs, heads: result.heads, removed: removedOf(result.state) });
    if (pinned === undefined) this.#opts.trust.pin(this.#opts.path, id);
  }

  /**
   * A removal this machine verified is final: a history in which that member is back is refused.
   * `known` is the trust state as it was before the file was read (it only grows, so a writer's
   * later update cannot make a read of the file before it look like a rollback).
   */
  #checkRemovals(known: TrustState | undefined, state: ReplayState): void {
    for (const id of known?.removed ?? []) {
      const m = state.members.get(id);
      if (m !== undefined && m.removed === undefined) {
        throw new SecretsError('INTEGRITY', `vault ${state.id}: ${m.name} (${id}) is a member again, but this machine verified their removal`, ROLLBACK_HINT);
      }
    }
  }

  async read(identity: Identity): Promise<VaultState> {
    const fast = identity === undefined ? undefined : await this.#readVerified(identity, undefined).catch(fallBackUnlessRefused);
    return fast ?? this.#readWhole(identity);
  }

  /** A full verification (and the verified state saved); the view holds the secrets named in `only`, or all. */
  async #readWhole(identity: Identity, only?: ReadonlySet<string>): Promise<VaultState> {
    const before = this.#trusted();
    // For named secrets, a compacted file's payload lines are hashed and indexed, not parsed:
    // only the named secrets' are read (and all keys lines when a member was removed, whose
    // exposure the view shows).
    const read = await this.#log.read(undefined, only === undefined ? 'parse' : 'named');
    const fetched = only === undefined ? undefined : await this.#statePayloads(read, only);
    const replayed = this.#replay(read, await preverifiedSignatures(read.entries), only, before, fetched);
    await this.#remember(identity, read, replayed.result, replayed.view);
    return replayed.view;
  }

  /** The payloads a view of `only` needs that a `named` read left unparsed: of its `state` lines, and every keys line when a member was removed. */
  async #statePayloads(read: LogRead, only: ReadonlySet<string>): Promise<Map<string, Payload> | undefined> {
    const removal = read.entries.some(({ entry }) => entry.kind === 'op' && entry.op === 'RemoveMember');
    const wanted: { hash: string; place: LinePosition }[] = [];
    for (const s of read.states) {
      const named = only.has(s.name);
      for (const v of s.versions) {
        for (const hash of named ? [v.v, v.k] : removal ? [v.k] : []) {
          const at = read.payloads.get(hash);
          if (at !== undefined && at.payload === undefined) wanted.push({ hash, place: at.place });
        }
      }
    }
    return wanted.length === 0 ? undefined : this.#log.payloadsAt(wanted);
  }

  /**
   * The named secrets, from this machine's verified state when it is there: the header, what
   * was appended since (replayed on top), one bucket per name and the payload lines of their
   * versions. Anything unexpected falls back to a full read, which reports what is wrong.
   */
  async readSome(identity: Identity, names: readonly string[]): Promise<VaultState> {
    const fast = await this.#readVerified(identity, names).catch(fallBackUnlessRefused);
    // As the verified state serves it: the view holds just the named secrets.
    return fast ?? this.#readWhole(identity, new Set(names));
  }

  #verified(identity: Identity): VerifiedStateStore | undefined {
    const dir = this.#opts.verifiedDir?.(identity.id);
    return dir === undefined ? undefined : new VerifiedStateStore(dir, verifiedStateKey(identity), this.#opts.files ?? SYNC_FILES);
  }

  /** Saves the verified state of a full replay. */
  async #remember(identity: Identity | undefined, read: LogRead, result: ReplayResult, view: VaultState): Promise<void> {
    const store = identity && this.#verified(identity);
    const last = read.entries.at(-1);
    if (store === undefined || last === undefined) return;
    try {
      const previous = await store.header();
      // Saved already up to here, yet this read had to verify in full: a bucket may be lost or
      // damaged (the cache is written without fsync). Rebuild it whole rather than keep it.
      const rebuild = previous?.tail.hash === last.hash && previous.file === read.file;
      // A removed member's exposure includes every secret once sealed to them, which only the
      // whole history shows: the header keeps it, so a read from the verified state shows it too.
      const exposed = new Map(view.members.filter((m) => m.removed !== undefined).map((m) => [m.id, m.exposed ?? []]));
      let members = result.state.members;
      for (const [id, list] of exposed) {
        const m = members.get(id);
        if (m !== undefined) members = members.set(id, { ...m, exposed: list });
      }
      const state = { ...result.state, members };
      store.save(headerOf(this.#opts.path, read, { ...result, state }, last), bucketsOf(state, read), rebuild ? undefined : previous);
    } catch {
      // A cache: not saving it costs the next read time, never safety.
    }
  }

  /** The named secrets (all of them without `names`) from the verified state; undefined when it cannot serve them. */
  async #readVerified(identity: Identity, names: readonly string[] | undefined): Promise<VaultState | undefined> {
    const store = this.#verified(identity);
    const header = await store?.header();
    if (store === undefined || header === undefined || header.heads.length !== 1 || header.heads[0] !== header.tail.hash) return undefined;
    // The trust state before the file: a writer may append and raise it while this reads.
    const trusted = this.#opts.trust.get(header.governance.id);
    const after = await this.#log.readAfter(header.tail, 'parse');
    if ('rewritten' in after || after.read.file !== header.file) return undefined;
    return (await this.#partial(store, header, after.read, names, trusted))?.view;
  }

  /**
   * The governance and the named secrets (and those `read`'s entries touch) from the verified
   * state, with `read` — what was appended after its tail — replayed on top and saved; the view
   * holds the named secrets with their payloads. Undefined when the state cannot serve it.
   */
  async #partial(
    store: VerifiedStateStore,
    header: VerifiedHeader,
    read: LogRead,
    names: readonly string[] | undefined,
    trusted = this.#opts.trust.get(header.governance.id),
  ): Promise<PartialView | undefined> {
    const appended = read.entries;
    // What a partial state cannot replay: a removal (it records exposure over every secret) and a checkpoint.
    if (appended.some(({ entry }) => entry.kind === 'checkpoint' || (entry.kind === 'op' && entry.op === 'RemoveMember'))) return undefined;
    const wanted = new Set(names ?? []);
    for (const { entry } of appended) {
      const ref = secretOf(entry);
      if (ref) wanted.add(ref.name);
      if (entry.kind === 'op' && entry.op === 'RotateSecret' && entry.body.rotation?.master !== undefined) wanted.add(entry.body.rotation.master);
    }
    const buckets = new Map<number, BucketSecret[]>();
    const indexes = names === undefined ? Array.from({ length: BUCKETS }, (_, i) => i) : [...wanted].map(bucketOf);
    for (const b of indexes) {
      if (buckets.has(b)) continue;
      const rows = await store.bucket(header, b);
      if (rows === undefined) return undefined;
      buckets.set(b, rows);
    }
    const places = new Map<string, PayloadPlaces>();
    const loaded: SecretState[] = [];
    for (const rows of buckets.values()) {
      for (const { secret, payloads } of rows) {
        loaded.push(secret);
        for (const [version, at] of payloads) places.set(`${secret.id}/${version}`, at);
      }
    }
    let state: ReplayState = {
      ...header.governance,
      secrets: PMap.from(loaded.map((s) => [s.id, s] as const)),
      names: PMap.from(loaded.map((s) => [s.name, s.id] as const)),
    };
    // Payload rules see only what was appended: an entry that names a payload from before the
    // tail, or a payload line no appended entry names, is for the full verification to judge.
    const named = new Set(appended.flatMap(({ entry }) => payloadsOf(entry).map((r) => r.hash)));
    if ([...named].some((h) => read.payloads.get(h)?.payload === undefined) || [...read.payloads.keys()].some((h) => !named.has(h))) return undefined;
    if (trusted !== undefined && trusted.genesis !== header.vault) return undefined;
    if (appended.length === 0) {
      // The verified state is what this machine verified once; the trust state, what it verified
      // last. A verified state from before (put back, with the file cut in place to where it
      // ends) must not serve what the trust state has moved past. (With entries appended, the
      // seqs after them are checked below.)
      this.#checkSeqs(trusted, state.id, header.seqs);
      this.#checkRemovals(trusted, state);
    }
    let start: ChainStart = { G: header.vault, vaultId: state.id, heads: header.heads, seqs: header.seqs, latest: header.tailAt };
    if (appended.length > 0) {
      const base: ReplayBase = { cut: header.tail.hash, at: header.tailAt, state, seen: PMap.from(header.seqs) };
      const result = replayFrom(base, replayInput(read), this.#options());
      if (result === undefined) return undefined;
      state = result.state;
      this.#checkSeqs(trusted, state.id, result.seqs);
      this.#checkRemovals(trusted, state);
      this.#opts.trust.put(state.id, { genesis: header.vault, ctrs: result.seqs, heads: result.heads, removed: removedOf(state) });
      const latest = appended
        .map((e) => e.entry.at)
        .sort()
        .at(-1) as string;
      start = { ...start, heads: result.heads, seqs: result.seqs, latest };
      this.#saveGrown(store, header, read, result, places);
    }
    // The payload lines of the named secrets' versions: appended ones from this read, older ones by place.
    const payloads = new Map<string, Payload>();
    for (const [hash, at] of read.payloads) if (at.payload !== undefined) payloads.set(hash, at.payload);
    const only = names === undefined ? undefined : new Set(names);
    const wantedLines: { hash: string; place: LinePosition }[] = [];
    for (const s of state.secrets.values()) {
      if (only !== undefined && !only.has(s.name)) continue;
      for (const v of s.versions) {
        for (const hash of [v.v, v.k]) {
          if (payloads.has(hash)) continue;
          const at = places.get(`${s.id}/${v.id}`);
          if (at === undefined) return undefined;
          wantedLines.push({ hash, place: hash === v.v ? at.v : at.k });
        }
      }
    }
    // A line not where the verified state says is no refusal yet: the full verification decides.
    const fetched = await this.#log.payloadsAt(wantedLines).catch(() => undefined);
    if (fetched === undefined) return undefined;
    for (const [h, p] of fetched) payloads.set(h, p);
    const view = vaultView(state, (h) => payloads.get(h), this.#opts.clock.now().toISOString(), start.seqs, { ...(only !== undefined ? { only } : {}) });
    return { view, start, state };
  }

  /** Saves the verified state after `read` was replayed on it: the buckets its entries touched, and the header. */
  #saveGrown(store: VerifiedStateStore, header: VerifiedHeader, read: LogRead, result: ReplayResult, places: ReadonlyMap<string, PayloadPlaces>): void {
    const last = read.entries.at(-1) as PositionedEntry;
    // The buckets the appended entries touched, each rebuilt whole in one pass over the secrets.
    const changed = new Map<number, BucketSecret[]>();
    for (const { entry } of read.entries) {
      const ref = secretOf(entry);
      if (ref !== undefined) changed.set(bucketOf(ref.name), []);
    }
    for (const s of result.state.secrets.values()) changed.get(bucketOf(s.name))?.push({ secret: s, payloads: placesOf(s, places, read) });
    for (const rows of changed.values()) rows.sort((x, y) => (x.secret.id < y.secret.id ? -1 : 1));
    try {
      store.save(headerOf(this.#opts.path, read, result, last, header.vault), changed, header);
    } catch {
      // the next read replays the same entries again
    }
  }

  /** No signer's seq below what this machine verified (`known`, read before the file; see #checkRemovals). */
  #checkSeqs(known: TrustState | undefined, id: string, seqs: ReadonlyMap<string, number>): void {
    for (const [who, seq] of known?.ctrs ?? []) {
      if ((seqs.get(who) ?? 0) < seq)
        throw new SecretsError('INTEGRITY', `vault ${id} was rolled back: the last entry of ${who} this machine verified (seq ${seq}) is gone`, ROLLBACK_HINT);
    }
  }

  async verifyRecords(): Promise<void> {
    // Every entry was verified by the replay that made the state.
  }

  async verifyAll(_state: VaultState): Promise<{ checked: number; problems: string[] }> {
    const before = this.#trusted();
    const read = await this.#log.read();
    try {
      this.#replay(read, await preverifiedSignatures(read.entries), undefined, before);
      return { checked: read.entries.length, problems: [] };
    } catch (err) {
      if (err instanceof SecretsError && err.code === 'INTEGRITY') return { checked: read.entries.length, problems: [err.message] };
      throw err;
    }
  }

  async transact<T>(
    identity: Identity,
    change: (state: VaultState) => Promise<{ state: VaultState; result: T }>,
    scope?: { readonly names: readonly string[] },
  ): Promise<T> {
    if (scope !== undefined) {
      const fast = await this.#transactVerified(identity, change, scope.names);
      if (fast !== undefined) return fast.result;
    }
    let out: { result: T } | undefined;
    const appended = await this.#log.append(async (read) => {
      const { result, view } = this.#replay(read);
      const next = await change(view);
      out = { result: next.result };
      if (next.state === view) return undefined;
      const now = this.#opts.clock.now().toISOString();
      const ops = plannedOps(view, next.state, (p) => lineHash(encodeLine(p)), now);
      if (ops.length === 0) return undefined;
      const byHash = new Map(read.entries.map((e) => [e.hash, e.entry.at]));
      const latest =
        result.heads
          .map((h) => byHash.get(h) ?? '')
          .sort()
          .at(-1) ?? '';
      const batches = await this.#chain(
        identity,
        { G: read.entries[0]?.hash as string, vaultId: result.state.id, heads: result.heads, seqs: result.seqs, latest },
        ops,
        now,
      );
      const cut = result.base;
      if (cut === undefined) throw new SecretsError('INTERNAL', 'a replayed vault has no cut');
      const after = read.entries.slice(read.entries.findIndex((e) => e.hash === cut.cut) + 1);
      dryRun(cut, after, replayInput(read).payloads, batches, this.#options());
      return batches;
    });
    if (out === undefined) throw new SecretsError('INTERNAL', 'the write did not run');
    if (appended !== undefined) await this.read(identity);
    return out.result;
  }

  /**
   * A write about a few named secrets, from this machine's verified state: under the lock it
   * reads only what was appended after the verified tail, replays that on the governance and
   * the named secrets' buckets, runs the change on that view, and appends. Undefined (nothing
   * written) when the verified state cannot serve it: the caller writes the full way.
   */
  async #transactVerified<T>(
    identity: Identity,
    change: (state: VaultState) => Promise<{ state: VaultState; result: T }>,
    names: readonly string[],
  ): Promise<{ result: T } | undefined> {
    const store = this.#verified(identity);
    const header = await store?.header().catch(() => undefined);
    if (store === undefined || header === undefined || !(await this.#usable(store, header))) return undefined;
    let out: { result: T } | undefined;
    let fallBack = false;
    await this.#log.append(
      async (read) => {
        const partial = await this.#partial(store, header, read, names);
        if (partial === undefined) {
          fallBack = true;
          return undefined;
        }
        const next = await change(partial.view);
        out = { result: next.result };
        if (next.state === partial.view) return undefined;
        const now = this.#opts.clock.now().toISOString();
        const ops = plannedOps(partial.view, next.state, (p) => lineHash(encodeLine(p)), now);
        if (ops.length === 0) return undefined;
        const batches = await this.#chain(identity, partial.start, ops, now);
        if (partial.start.heads.length !== 1) {
          fallBack = true;
          return undefined;
        }
        const base: ReplayBase = { cut: partial.start.heads[0] as string, at: partial.start.latest, state: partial.state, seen: PMap.from(partial.start.seqs) };
        dryRun(base, [], new Map(), batches, this.#options());
        return batches;
      },
      header.tail,
      'parse',
    );
    return fallBack ? undefined : out;
  }

  /** Whether a verified state's tail is a single head that the file still ends in or extends. */
  async #usable(store: VerifiedStateStore, header: VerifiedHeader): Promise<boolean> {
    if (header.heads.length !== 1 || header.heads[0] !== header.tail.hash) return false;
    const fresh = await store.freshness(header, this.#log).catch(() => undefined);
    return fresh !== undefined && (fresh.status === 'current' || fresh.status === 'grown');
  }

  /** Signs `ops` as a chain on the current heads: each names the one before it. */
  async #chain(identity: Identity, at: ChainStart, ops: readonly PlannedOp[], now: string): Promise<AppendBatch[]> {
    const latest = [now, at.latest].sort().at(-1) as string;
    let parents = [...at.heads];
    let seq = at.seqs.get(identity.id) ?? 0;
    const tail = await this.#opts.auditTail?.(at.vaultId);
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
      const entry = signedEntry<Entry>(identity, at.G, unsigned);
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
    const vaultId = randomUUID();
    const unsigned = {
      kind: 'op',
      op: 'CreateVault',
      body: {
        vault: vaultId,
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
    // A new vault at this path replaces whichever one this machine used there before.
    this.#opts.trust.pin(this.#opts.path, vaultId);
    return this.read(identity);
  }
}

/**
 * Replays a write's entries on the state it was planned on before anything is written: the log
 * only grows, so an entry that every reader would refuse or drop must never reach it. The use
 * case checked the change; this checks that replay, the judge of every reader, agrees.
 */
function dryRun(
  base: ReplayBase,
  before: readonly PositionedEntry[],
  known: ReadonlyMap<string, Payload>,
  batches: readonly AppendBatch[],
  options: ReplayOptions,
): void {
  const entries = [...before.map(({ hash, entry }) => ({ hash, entry })), ...batches.map((b) => ({ hash: lineHash(encodeLine(b.entry)), entry: b.entry }))];
  const payloads = new Map<string, Payload>();
  for (const b of batches) for (const p of b.payloads) payloads.set(lineHash(encodeLine(p)), p);
  for (const { entry } of entries) {
    for (const ref of payloadsOf(entry)) {
      const p = payloads.get(ref.hash) ?? known.get(ref.hash);
      if (p !== undefined) payloads.set(ref.hash, p);
    }
  }
  let result: ReplayResult | undefined;
  try {
    result = replayFrom(base, { entries, payloads }, options);
  } catch (err) {
    if (!(err instanceof SecretsError)) throw err;
    throw new SecretsError(
      'CONFLICT',
      `the vault's history would refuse this change, so nothing was written: ${err.message}`,
      'run `secrets verify`; if it is clean, this is a bug in secrets, please report it',
    );
  }
  if (result === undefined) throw new SecretsError('INTERNAL', 'a write did not extend the history it was planned on');
  for (const b of batches) {
    const verdict = result.verdicts.get(lineHash(encodeLine(b.entry)));
    if (verdict?.accepted !== true) {
      throw new SecretsError(
        'CONFLICT',
        `the vault's history would not apply this change, so nothing was written: ${verdict === undefined ? 'no verdict' : verdict.reason}`,
        'run `secrets verify`; if it is clean, this is a bug in secrets, please report it',
      );
    }
  }
}

/** The members a state has removed. */
function removedOf(state: ReplayState): string[] {
  return [...state.members.values()].filter((m) => m.removed !== undefined).map((m) => m.id);
}

/** A fast path's failure means "verify in full", unless it is a refusal of what was appended. */
function fallBackUnlessRefused(err: unknown): undefined {
  if (err instanceof SecretsError && err.code === 'INTEGRITY') throw err;
  return undefined;
}

/** The header of a verified state that ends at `last`. */
function headerOf(
  path: string,
  read: LogRead,
  result: ReplayResult,
  last: PositionedEntry,
  vault = read.entries[0]?.hash as string,
): Omit<VerifiedHeader, 'buckets'> {
  return {
    vault,
    path,
    file: read.file,
    tail: { hash: last.hash, place: last.place },
    tailAt: last.entry.at,
    heads: result.heads,
    seqs: result.seqs,
    governance: governanceOf(result.state),
  };
}

/** Where a secret's versions' payloads are: known places, or in `read`. */
function placesOf(s: SecretState, known: ReadonlyMap<string, PayloadPlaces>, read: LogRead): Map<string, PayloadPlaces> {
  const out = new Map<string, PayloadPlaces>();
  for (const v of s.versions) {
    const old = known.get(`${s.id}/${v.id}`);
    const value = read.payloads.get(v.v);
    const keys = read.payloads.get(v.k);
    const place = value !== undefined && keys !== undefined ? { v: value.place, k: keys.place } : old;
    if (place !== undefined) out.set(v.id, place);
  }
  return out;
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
