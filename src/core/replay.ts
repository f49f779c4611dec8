/**
 * Replay of a format-2 log (docs/decisions/0018-operation-log.md §1–§3): the state is the fold
 * of the accepted entries in one deterministic order, and every op is authorised against the
 * state before it — twice. Against what its author saw (`pre₁`, the replay of its ancestors):
 * a denial there is a forgery, and the whole history is refused. Against the accepted history
 * with every concurrent revocation (`pre₂`): a denial there is a race, and the op is dropped
 * and reported. Pure: entries arrive parsed and hashed; signatures are checked through a
 * function the caller's crypto provides; no I/O.
 */
import { decideRecorded, explain, type RequestFacts } from './access.js';
import { bySummaryOrder, type CheckpointDigests, restored, type SecretSummary, settled, summarise } from './checkpoint.js';
import { SecretsError } from './errors.js';
import {
  ADMIN_DATA_ACTIONS,
  type CheckpointEntry,
  classOf,
  type Entry,
  GOVERNANCE_ACTIONS,
  isGovernance,
  type LogEntry,
  type OpBodies,
  type OpEntry,
  type Payload,
  payloadsOf,
  type SecretRef,
  secretOf,
  type SignatureCheck,
  versionOf,
} from './ops.js';
import { checkPolicy } from './policy.js';
import { PMap } from './pmap.js';
import { BUILTIN_HANDLERS, HANDLER_NAME } from './rotation.js';
import {
  applyEntry,
  byText,
  EMPTY_STATE,
  isHeld,
  isLive,
  mayReadSecret,
  type MemberState,
  policyView,
  readersOfSecret,
  type ReplayState,
  type SecretState,
  secretNamed,
  undoDelete,
} from './state.js';
import { CURRENT, PENDING } from './versions.js';

/** What replay needs from the caller's crypto. */
export interface ReplayOptions {
  /** Checks an entry's signature with a member's Ed25519 key. */
  readonly signatureValid: SignatureCheck;
  /**
   * The id a new secret of this name must have: a version 8 UUID of
   * SHA-256(frame("secrets secret id v2", G, name)).
   */
  readonly secretIdOf: (vaultHash: string, name: string) => string;
  /**
   * Judge the whole history as one region of possibly concurrent entries (quadratic). Only
   * tests set it, to check that replaying chains and regions apart gives the same result.
   */
  readonly wholeHistory?: boolean;
  /** The digests of a checkpoint (the codec's): without them, a history holding a checkpoint is refused. */
  readonly checkpoint?: CheckpointDigests;
  /**
   * The latest time an entry may carry (the reader's clock plus a tolerance for skew). A signer
   * chooses `at`, and a deletion's purge time follows from it: an entry from the future could
   * purge a secret early, or make every honest write after it carry that time.
   */
  readonly notAfter?: string;
  /** Called as entries are verified (done, total), for a progress counter. */
  readonly progress?: (done: number, total: number) => void;
}

/** A log as replay reads it: its entries in file order, and its payloads by hash. */
export interface ReplayInput {
  readonly entries: readonly LogEntry[];
  readonly payloads: ReadonlyMap<string, Payload>;
  /** The `state` lines of a compacted file, in file order (they precede its checkpoint). */
  readonly states?: readonly SecretSummary[];
  /** The digest of the `state` lines as the reader hashed them from the file (else computed from `states`). */
  readonly statesDigest?: string;
  /** Payload lines found in the file, hashed but not parsed (a compacted file's, which no entry names): their kinds. */
  readonly indexed?: ReadonlyMap<string, Payload['kind']>;
}

/** What became of an entry that was not refused. */
export type Verdict = { readonly accepted: true } | { readonly accepted: false; readonly reason: string };

/** Kinds of things a person should know after a replay (they never hold a value). */
export type NoteKind = 'dropped' | 'dispute' | 'conflict' | 'exposure' | 'two-devices';

/** One line of the report: which entry, whose, what action on which secret, and what happened. */
export interface ReplayNote {
  readonly kind: NoteKind;
  readonly entry: string;
  readonly by: string;
  readonly action: string;
  readonly secret?: string;
  readonly message: string;
}

/** The outcome of a replay. */
export interface ReplayResult {
  readonly state: ReplayState;
  /** The linear order `L` (entry hashes). */
  readonly order: readonly string[];
  /** Entries no entry names as a parent, sorted. */
  readonly heads: readonly string[];
  readonly verdicts: ReadonlyMap<string, Verdict>;
  readonly notes: readonly ReplayNote[];
  /** Each signer's highest `seq`. */
  readonly seqs: ReadonlyMap<string, number>;
  /** Where a later replay can continue: the last entry concurrent with no other, and the state after it. */
  readonly base?: ReplayBase;
}

const REFUSED_HINT = 'the history was not changed; `secrets verify` names the entry, and `git log -p` shows where it came from';

function refuse(hash: string, why: string): never {
  throw new SecretsError('INTEGRITY', `entry ${hash} is refused: ${why}`, REFUSED_HINT);
}

function actionOf(entry: Entry): string {
  return entry.kind === 'op' ? entry.op : entry.kind;
}

/**
 * A run of the history in file order: one entry concurrent with no other (every entry before it
 * is its ancestor and every entry after it its descendant), or a region between two such
 * entries, whose entries may be concurrent with each other but with nothing outside.
 */
type Segment = { readonly single: string } | { readonly region: readonly string[] };

/** The checked structure of a history: entries by hash, and its segments. */
interface History {
  readonly items: readonly LogEntry[];
  readonly byHash: ReadonlyMap<string, LogEntry>;
  readonly segments: readonly Segment[];
  /** Each signer's highest seq among an entry's ancestors and the entry itself. */
  readonly seqs: ReadonlyMap<string, PMap<number>>;
}

/**
 * Where an earlier replay can be continued: its last entry concurrent with no other (a cut),
 * the state after it, and what the parse rules need of the history up to it. A machine keeps
 * this so that a read replays only what was appended after the cut.
 */
export interface ReplayBase {
  readonly cut: string;
  readonly at: string;
  readonly state: ReplayState;
  /** Each signer's highest seq among the cut and its ancestors. */
  readonly seen: PMap<number>;
  /**
   * The accepted governance entries up to the cut, in replay order: what a later checkpoint's
   * `gov` covers. Without it, a continued replay that meets a checkpoint is undefined.
   */
  readonly governance?: readonly string[];
}

/** Thrown inside a continued replay when an entry names a parent before the base's cut. */
class BeforeTheCut extends Error {}

/** Applies the parse rules of §1 that concern links, order and payloads; refuses the first break. */
function checkStructure(
  input: ReplayInput,
  wholeHistory: boolean,
  base: ReplayBase | undefined,
  notAfterText?: string,
  summarised: ReadonlySet<string> = new Set(),
): History {
  const notAfter = notAfterText === undefined ? undefined : Date.parse(notAfterText);
  const byHash = new Map<string, LogEntry>();
  const position = new Map<string, number>();
  const seqs = new Map<string, PMap<number>>();
  const referenced = new Set<string>(summarised);
  const heads = new Set<string>(base ? [base.cut] : []);
  const known = (p: string): { at: string; seen: PMap<number>; position: number } | undefined => {
    const parent = byHash.get(p);
    if (parent !== undefined) return { at: parent.entry.at, seen: seqs.get(p) as PMap<number>, position: position.get(p) as number };
    if (base === undefined) return undefined;
    if (p === base.cut) return { at: base.at, seen: base.seen, position: -1 };
    throw new BeforeTheCut();
  };
  /** Whether every entry before this one is its ancestor; and its latest parent's position. */
  const closes: boolean[] = [];
  const latestParent: number[] = [];
  input.entries.forEach((item, i) => {
    const { hash, entry } = item;
    if (byHash.has(hash)) refuse(hash, 'the same entry occurs twice (a replayed or spliced line)');
    if (entry.kind === 'checkpoint' && entry.parents.length !== 1) refuse(hash, 'a checkpoint names more or fewer than one parent');
    const genesis = entry.kind === 'op' && entry.op === 'CreateVault';
    const first = i === 0 && base === undefined;
    if (genesis !== first) refuse(hash, first ? 'the first entry is not the genesis' : 'a second genesis');
    if (genesis !== (entry.parents.length === 0)) refuse(hash, genesis ? 'the genesis names parents' : 'an entry names no parent');
    if (entry.kind === 'merge' && entry.parents.length < 2) refuse(hash, 'a merge joins fewer than two heads');
    if (notAfter !== undefined && Date.parse(entry.at) > notAfter) refuse(hash, `its time ${entry.at} is later than this machine's clock allows`);
    let seen = PMap.empty<number>();
    let previous = '';
    let latest = -1;
    for (const p of entry.parents) {
      if (p <= previous) refuse(hash, 'its parents are not sorted without repeats');
      previous = p;
      const parent = known(p);
      if (parent === undefined) refuse(hash, `its parent ${p} is missing or comes later`);
      if (Date.parse(entry.at) < Date.parse(parent.at)) refuse(hash, `its time is earlier than its parent ${p}'s`);
      if (seen.size === 0) seen = parent.seen;
      else for (const [by, n] of parent.seen) if ((seen.get(by) ?? 0) < n) seen = seen.set(by, n);
      latest = Math.max(latest, parent.position);
    }
    const mine = seen.get(entry.by);
    if (mine !== undefined && mine >= entry.seq) refuse(hash, `its seq ${entry.seq} is not above ${entry.by}'s seq ${mine} among its ancestors`);
    if (entry.kind === 'checkpoint' && !sameMap(entry.seqs, seen)) refuse(hash, "its seqs are not the signers' highest seqs among its ancestors");
    for (const ref of payloadsOf(entry)) {
      if (input.payloads.get(ref.hash)?.kind !== ref.kind) refuse(hash, `its ${ref.kind} payload ${ref.hash} is missing`);
      referenced.add(ref.hash);
    }
    closes.push([...heads].every((h) => entry.parents.includes(h)));
    latestParent.push(latest);
    for (const p of entry.parents) heads.delete(p);
    heads.add(hash);
    byHash.set(hash, item);
    position.set(hash, i);
    seqs.set(hash, seen.set(entry.by, entry.seq));
  });
  for (const h of input.payloads.keys()) if (!referenced.has(h)) refuse(h, 'a payload no entry references');
  return { items: input.entries, byHash, seqs, segments: segmentsOf(input.entries, closes, latestParent, wholeHistory) };
}

/**
 * Cuts the history at the entries concurrent with no other. Entry i is one when every entry
 * before it is its ancestor (it names every head) and every entry after it descends from it
 * (each later entry names a parent at i or after, which by induction descends from i). Whether
 * an entry is concurrent with another is a property of the graph, so the cuts, and the sets in
 * each region, do not depend on the file order.
 */
function segmentsOf(items: readonly LogEntry[], closes: readonly boolean[], latestParent: readonly number[], wholeHistory: boolean): Segment[] {
  if (wholeHistory) return [{ region: items.map((i) => i.hash) }];
  const segments: Segment[] = [];
  let region: string[] = [];
  let earliestAfter = Infinity;
  const cut: boolean[] = [];
  for (let i = items.length - 1; i >= 0; i--) {
    cut[i] = (closes[i] as boolean) && earliestAfter >= i;
    earliestAfter = Math.min(earliestAfter, latestParent[i] as number);
  }
  items.forEach((item, i) => {
    if (!cut[i]) {
      region.push(item.hash);
      return;
    }
    if (region.length > 0) segments.push({ region });
    region = [];
    segments.push({ single: item.hash });
  });
  if (region.length > 0) segments.push({ region });
  return segments;
}

/** The request facts an op's body carries (RequestTag, TagKeys, VersionStage, …). */
function factsOf(e: OpEntry): RequestFacts {
  switch (e.op) {
    case 'CreateSecret':
      return e.body.tags ? { requestTags: e.body.tags, tagKeys: [...e.body.tags.keys()] } : {};
    case 'TagResource':
      return { requestTags: e.body.tags, tagKeys: [...e.body.tags.keys()] };
    case 'UntagResource':
      return { tagKeys: e.body.keys };
    case 'PutSecretValue':
      return { versionStages: e.body.stages ?? [CURRENT], versionId: e.body.value.version };
    case 'UpdateSecretVersionStage':
      return { versionStages: [e.body.stage], ...(e.body.version !== undefined ? { versionId: e.body.version } : {}) };
    case 'DeleteSecret':
      return { recoveryWindowInDays: e.body.days, forceDelete: e.body.days === 0 };
    case 'RotateSecret':
      if (e.body.value !== undefined) return { versionStages: [PENDING], versionId: e.body.value.version };
      return e.body.finish !== undefined ? { versionStages: [CURRENT], versionId: e.body.finish } : {};
    default:
      return {};
  }
}

/**
 * Whether the signer of `item` may do what it does in `pre`, or why not. One function for both
 * pre-states: the signer must be a current member; governance needs an admin; a data op needs
 * its secret as `pre` has it (a new name for CreateSecret, an existing one otherwise), and the
 * policies of `pre` evaluated with the secret's tags in `pre` and the request facts of the body.
 */
export function authorizeEntry(pre: ReplayState, item: LogEntry, options: ReplayOptions): string | undefined {
  const e = item.entry;
  if (e.kind === 'op' && e.op === 'CreateVault') {
    if (pre.vault !== '') return 'the vault exists already';
    return e.by === e.body.creator.id ? undefined : 'the genesis is not signed by its creator';
  }
  const signer = pre.members.get(e.by);
  if (signer === undefined) return `${e.by} is not a member of the vault`;
  if (signer.removed !== undefined) return `${signer.name} (${e.by}) was removed from the vault`;
  const admin = signer.roles.includes('admin');
  if (e.kind === 'checkpoint') return admin ? undefined : `only an admin can sign a checkpoint; ${signer.name} is not one`;
  if (e.kind !== 'op') return undefined;
  if (GOVERNANCE_ACTIONS.has(e.op)) {
    if (!admin) return `only an admin can ${e.op}; ${signer.name} is not one`;
    if (e.op === 'PutPolicy' && checkPolicy(e.body.doc, 'identity').policy === undefined) return 'the policy is not a valid identity policy';
    if (e.op === 'PutResourcePolicy' && checkPolicy(e.body.doc, 'resource').policy === undefined) return 'the policy is not a valid resource policy';
    return undefined;
  }
  const ref = e.body as SecretRef;
  let secret = pre.secrets.get(ref.secret);
  if (e.op === 'CreateSecret') {
    if (ref.secret !== options.secretIdOf(pre.vault, ref.name)) return `secret id ${ref.secret} is not the id of the name ${ref.name}`;
    if (secretNamed(pre, ref.name, e.at) !== undefined) return `secret ${ref.name} exists already`;
    secret = undefined;
  } else {
    if (secret === undefined || !isLive(secret, e.at)) return `secret ${ref.name} (${ref.secret}) does not exist`;
    if (secret.name !== ref.name) return `secret ${ref.secret} is named ${secret.name}, not ${ref.name}`;
    if (e.op === 'RestoreSecret' && secret.deleted === undefined) return `secret ${ref.name} is not scheduled for deletion`;
    if (e.op !== 'RestoreSecret' && secret.deleted !== undefined) return `secret ${ref.name} is scheduled for deletion`;
  }
  if (e.op === 'DeleteSecret' && e.body.days !== 0 && !(e.body.days >= 7 && e.body.days <= 30)) return 'the recovery window is not 0 or 7 to 30 days';
  const version = versionOf(e);
  if (version && secret?.versions.some((v) => v.id === version.version)) return `version ${version.version} of ${ref.name} exists already`;
  if (e.op === 'UpdateSecretVersionStage' && e.body.version !== undefined && !secret?.versions.some((v) => v.id === e.body.version)) {
    return `secret ${ref.name} has no version ${e.body.version}`;
  }
  if (ADMIN_DATA_ACTIONS.has(e.op) && !admin) return `only an admin can ${e.op}; ${signer.name} is not one`;
  if (e.op === 'RotateSecret') {
    const problem = rotationProblem(pre, signer, e.body, e.at, secret);
    if (problem !== undefined) return problem;
  }
  const subject = secret ?? { id: ref.secret, name: ref.name, tags: new Map<string, string>() };
  const held = secret !== undefined && isHeld(pre, secret);
  const decision = decideRecorded(policyView(pre), signer, e.op, subject, factsOf(e), held);
  return decision.decision === 'allowed' ? undefined : `${signer.name} is not allowed secrets:${e.op} on ${ref.name}: ${explain(decision)}`;
}

/**
 * What a rotation's settings may not do: name a program by path (a machine runs only handler
 * names it allowed), or borrow a master secret its writer cannot read.
 */
function rotationProblem(
  pre: ReplayState,
  signer: MemberState,
  body: OpBodies['RotateSecret'],
  at: string,
  secret: SecretState | undefined,
): string | undefined {
  if (body.rotation === undefined && body.value === undefined && body.finish === undefined) return 'a RotateSecret that changes nothing';
  // A rotation finishes only on the version its own run labelled PENDING: no older version.
  if (body.finish !== undefined && body.value !== undefined && body.finish !== body.value.version)
    return 'a rotation finishes on the value it adds, or on the pending one';
  if (body.finish !== undefined && body.value === undefined && secret?.stages.get(PENDING) !== body.finish) {
    return `version ${body.finish} of ${secret?.name ?? 'the secret'} is not the pending version of a rotation`;
  }
  const r = body.rotation;
  if (r === undefined) return undefined;
  const named = r.handler.startsWith('command:')
    ? HANDLER_NAME.test(r.handler.slice('command:'.length))
    : (BUILTIN_HANDLERS as readonly string[]).includes(r.handler);
  if (!named) return `the handler ${JSON.stringify(r.handler)} is not a handler name`;
  if (r.master === undefined) return undefined;
  const master = secretNamed(pre, r.master, at);
  if (master === undefined) return `the master secret ${r.master} does not exist`;
  return mayReadSecret(pre, signer, master) ? undefined : `${signer.name} cannot read the master secret ${r.master}`;
}

/** One region of possibly concurrent entries, and what its replay shares with its sub-replays. */
interface Region {
  readonly history: History;
  readonly options: ReplayOptions;
  /** The state after the entry before the region: every entry of the region descends from it. */
  readonly start: ReplayState;
  /** The region's entries in file order. */
  readonly hashes: readonly string[];
  /** Each entry's ancestors inside the region (its ancestors outside are all before it). */
  readonly ancestors: ReadonlyMap<string, ReadonlySet<string>>;
  /** pre₁ of every entry of the region. */
  readonly causal: Map<string, ReplayState>;
}

function entryOf(history: History, h: string): Entry {
  return (history.byHash.get(h) as LogEntry).entry;
}

function regionOf(history: History, options: ReplayOptions, start: ReplayState, hashes: readonly string[]): Region {
  const inside = new Set(hashes);
  const ancestors = new Map<string, ReadonlySet<string>>();
  for (const h of hashes) {
    const anc = new Set<string>();
    for (const p of entryOf(history, h).parents) {
      if (!inside.has(p)) continue;
      anc.add(p);
      for (const a of ancestors.get(p) ?? []) anc.add(a);
    }
    ancestors.set(h, anc);
  }
  return { history, options, start, hashes, ancestors, causal: new Map() };
}

function concurrent(region: Region, a: string, b: string): boolean {
  return a !== b && !(region.ancestors.get(a)?.has(b) ?? false) && !(region.ancestors.get(b)?.has(a) ?? false);
}

/**
 * Kahn's algorithm over `nodes`, each waiting for the nodes `before` names (its parents, or all
 * its ancestors: either gives the same order); among the ready ones, lowest (class, hash) first.
 */
function ordered(region: Region, nodes: readonly string[], before: (h: string) => readonly string[]): string[] {
  const waiting = new Map<string, number>();
  const children = new Map<string, string[]>();
  for (const h of nodes) {
    const first = before(h);
    waiting.set(h, first.length);
    for (const p of first) children.set(p, [...(children.get(p) ?? []), h]);
  }
  const key = (h: string): [number, string] => [classOf(entryOf(region.history, h)), h];
  const ready = nodes.filter((h) => waiting.get(h) === 0);
  const out: string[] = [];
  while (ready.length > 0) {
    ready.sort((x, y) => {
      const [cx, hx] = key(x);
      const [cy, hy] = key(y);
      return cx - cy || byText(hx, hy);
    });
    const next = ready.shift() as string;
    out.push(next);
    for (const c of children.get(next) ?? []) {
      const left = (waiting.get(c) ?? 0) - 1;
      waiting.set(c, left);
      if (left === 0) ready.push(c);
    }
  }
  return out;
}

/** `L` over a set of a region's entries closed under ancestors. */
function linearOrder(region: Region, set: ReadonlySet<string>): string[] {
  return ordered(region, [...set], (h) => entryOf(region.history, h).parents.filter((p) => set.has(p)));
}

/**
 * The governance entries of `set` in their own order: over the graph they make by ancestry (a
 * governance entry waits only for the governance entries before it). Data entries between them
 * do not delay a revocation.
 */
function governanceOrder(region: Region, set: ReadonlySet<string>): string[] {
  const gov = [...set].filter((h) => isGovernance(entryOf(region.history, h)));
  const inGov = new Set(gov);
  return ordered(region, gov, (h) => [...(region.ancestors.get(h) ?? [])].filter((a) => inGov.has(a)));
}

/** The fold of `hashes` (already in `L` order) from the region's start; an entry that does not apply is skipped. */
function fold(region: Region, hashes: readonly string[]): ReplayState {
  let state = region.start;
  for (const h of hashes) {
    const r = applyEntry(state, h, entryOf(region.history, h));
    if ('state' in r) state = r.state;
  }
  return state;
}

/** A data change to a secret that beats a concurrent delete of it. */
function isChange(entry: Entry): boolean {
  return (
    entry.kind === 'op' && secretOf(entry) !== undefined && !GOVERNANCE_ACTIONS.has(entry.op) && entry.op !== 'DeleteSecret' && entry.op !== 'RestoreSecret'
  );
}

interface Run {
  readonly state: ReplayState;
  readonly order: readonly string[];
  readonly verdicts: ReadonlyMap<string, Verdict>;
}

/**
 * Replays a set of a region's entries closed under ancestors (§3): first the governance
 * entries, whose verdicts depend only on governance; then, in `L` order, everything, each data
 * op judged against `pre₂` and then against the fold so far.
 */
function run(region: Region, set: ReadonlySet<string>): Run {
  const { history } = region;
  const order = linearOrder(region, set);
  const position = new Map(order.map((h, i) => [h, i]));
  const verdicts = new Map<string, Verdict>();
  const at = (h: string): Entry => entryOf(history, h);
  const accepted = (h: string): boolean => verdicts.get(h)?.accepted === true;
  const judge = (h: string, pre: ReplayState, applyTo: ReplayState): ReplayState => {
    const problem = authorizeEntry(pre, history.byHash.get(h) as LogEntry, region.options);
    if (problem !== undefined) {
      verdicts.set(h, { accepted: false, reason: problem });
      return applyTo;
    }
    const r = applyEntry(applyTo, h, at(h));
    verdicts.set(h, 'state' in r ? { accepted: true } : { accepted: false, reason: r.problem });
    return 'state' in r ? r.state : applyTo;
  };

  // Governance, in the order of the governance entries alone (revocations first wherever data
  // ops stand between them): pre₂ is the accepted governance among the ancestors and the
  // concurrent governance earlier in that order. A removal therefore precedes every concurrent
  // governance entry of the member it removes, however many entries its branch has before it.
  let governance = region.start;
  const governanceSoFar: string[] = [];
  for (const h of governanceOrder(region, set)) {
    const anc = region.ancestors.get(h) as ReadonlySet<string>;
    const pre = fold(
      region,
      governanceSoFar.filter((g) => accepted(g) && (anc.has(g) || concurrent(region, g, h))),
    );
    governance = judge(h, pre, governance);
    governanceSoFar.push(h);
  }

  // Everything, in L order. pre₂ of a data op: its accepted ancestors, every accepted concurrent
  // governance entry wherever it is in L (revocations apply whatever the hashes), and the
  // accepted concurrent class-2 entries earlier in L.
  let state = region.start;
  for (const h of order) {
    const entry = at(h);
    if (isGovernance(entry)) {
      if (accepted(h)) {
        const r = applyEntry(state, h, entry);
        if ('state' in r) state = r.state;
      }
      continue;
    }
    if (entry.kind !== 'op') {
      verdicts.set(h, { accepted: true });
      continue;
    }
    const anc = region.ancestors.get(h) as ReadonlySet<string>;
    const index = position.get(h) as number;
    const basis = order.filter(
      (f) =>
        accepted(f) && (anc.has(f) || (concurrent(region, f, h) && (isGovernance(at(f)) || (classOf(at(f)) === 2 && (position.get(f) as number) < index)))),
    );
    const target = secretOf(entry)?.secret;
    const rivals = order.filter((f) => accepted(f) && concurrent(region, f, h) && secretOf(at(f))?.secret === target);
    if (entry.op === 'DeleteSecret' && rivals.some((f) => isChange(at(f)))) {
      verdicts.set(h, { accepted: false, reason: `a concurrent change to ${entry.body.name} beats its deletion` });
      continue;
    }
    if (isChange(entry) && target !== undefined) {
      // A change beats a concurrent delete, whichever comes first in L.
      for (const d of rivals.filter((f) => actionOf(at(f)) === 'DeleteSecret')) {
        verdicts.set(d, { accepted: false, reason: `a concurrent change (${h}) to ${(secretOf(entry) as SecretRef).name} beats its deletion` });
        state = undoDelete(state, target, d);
      }
    }
    state = judge(h, fold(region, basis), state);
  }
  return { state, order, verdicts };
}

/**
 * Checks one entry against what its author saw (`pre₁`): the signature with the signer's key
 * there, the authorisation, and that a new version's keys seal to exactly the readers the op
 * leaves. Any failure refuses the whole history: it is a forgery, not a race.
 */
function checkCausal(item: LogEntry, pre: ReplayState, options: ReplayOptions, payloads: ReadonlyMap<string, Payload>): void {
  const { hash, entry } = item;
  const genesis = entry.kind === 'op' && entry.op === 'CreateVault';
  const key = genesis ? entry.body.creator.sign : pre.members.get(entry.by)?.sign;
  if (key === undefined) refuse(hash, `${entry.by} is not a member of the vault its author saw`);
  if (!options.signatureValid(item, key, genesis ? '' : pre.vault)) refuse(hash, 'its signature does not verify');
  const problem = authorizeEntry(pre, item, options);
  if (problem !== undefined) refuse(hash, `${problem} (in the history its author saw)`);
  const sealing = sealingProblem(pre, item, payloads);
  if (sealing !== undefined) refuse(hash, `${sealing} (in the history its author saw)`);
}

/**
 * Whether the `keys` lines an op adds seal to exactly the members who may read the secret in
 * the state the op leaves: no one the policies exclude, no one left out.
 */
function sealingProblem(pre: ReplayState, item: LogEntry, payloads: ReadonlyMap<string, Payload>): string | undefined {
  const e = item.entry;
  if (e.kind !== 'op') return undefined;
  const keys = payloadsOf(e).filter((r) => r.kind === 'keys');
  if (keys.length === 0) return undefined;
  const after = applyEntry(pre, item.hash, e);
  const ref = secretOf(e);
  const secret = 'state' in after && ref ? after.state.secrets.get(ref.secret) : undefined;
  if (secret === undefined || !('state' in after)) return undefined;
  const want = readersOfSecret(after.state, secret).join(',');
  for (const r of keys) {
    const sealed = payloads.get(r.hash);
    const got = sealed?.kind === 'keys' ? [...sealed.keys.keys()].sort(byText).join(',') : '';
    if (got !== want) return `its keys ${r.hash} seal to [${got}], not to the readers [${want}]`;
  }
  return undefined;
}

/** How many entries may join branches within one fork (between two entries concurrent with no other). */
export const MAX_JOINS = 64;

/** pre₁ of every entry of a region, in file order; refuses the first one its own author's state denies. */
function causalStates(region: Region, payloads: ReadonlyMap<string, Payload>): void {
  const { history } = region;
  let joins = 0;
  for (const hash of region.hashes) {
    const item = history.byHash.get(hash) as LogEntry;
    const inside = item.entry.parents.filter((p) => region.ancestors.has(p));
    let pre: ReplayState;
    if (inside.length === 0) pre = region.start;
    else if (inside.length === 1 && item.entry.parents.length === 1) {
      // The replay of a single parent's ancestors plus that parent: the parent comes last in L
      // and is concurrent with nothing there, so its pre₂ is its pre₁ and it applies or not.
      const p = inside[0] as string;
      const before = region.causal.get(p) as ReplayState;
      const r = applyEntry(before, p, entryOf(history, p));
      pre = 'state' in r ? r.state : before;
    } else {
      // Each entry that joins branches replays its ancestors in the fork again. An honest fork
      // is joined once or twice before it closes; a history that keeps two branches apart and
      // joins them over and over would make every reader's replay grow with the cube of its length.
      if (++joins > MAX_JOINS) refuse(hash, `more than ${MAX_JOINS} entries join branches of one fork; merge the branches into one before going on`);
      pre = run(region, region.ancestors.get(hash) as ReadonlySet<string>).state;
    }
    checkCausal(item, pre, region.options, payloads);
    region.causal.set(hash, pre);
  }
}

/** Fields of a secret an op sets, for reporting concurrent writes to the same one. */
function fieldsOf(entry: Entry): string[] {
  if (entry.kind !== 'op') return [];
  switch (entry.op) {
    case 'PutSecretValue':
      return ['value', ...(entry.body.stages ?? [CURRENT]).map((s) => `label ${s}`)];
    case 'UpdateSecret':
      return [...(entry.body.value ? ['value', `label ${CURRENT}`] : []), ...(entry.body.description !== undefined ? ['description'] : [])];
    case 'UpdateSecretVersionStage':
      return [`label ${entry.body.stage}`];
    case 'TagResource':
      return [...entry.body.tags.keys()].map((k) => `tag ${k}`);
    case 'UntagResource':
      return entry.body.keys.map((k) => `tag ${k}`);
    default:
      return [];
  }
}

/** The report of one region: dropped entries, disputes, concurrent writes to one field, exposures, two devices. */
function report(region: Region, result: Run, payloads: ReadonlyMap<string, Payload>): ReplayNote[] {
  const notes: ReplayNote[] = [];
  const at = (h: string): Entry => entryOf(region.history, h);
  const note = (kind: NoteKind, h: string, message: string): void => {
    const e = at(h);
    const secret = secretOf(e)?.name;
    notes.push({ kind, entry: h, by: e.by, action: actionOf(e), ...(secret !== undefined ? { secret } : {}), message });
  };
  const accepted = result.order.filter((h) => result.verdicts.get(h)?.accepted === true);
  const removals = accepted.filter((h) => actionOf(at(h)) === 'RemoveMember');
  const removedBy = (h: string): string | undefined => {
    const e = at(h);
    return e.kind === 'op' && e.op === 'RemoveMember' ? e.body.member : undefined;
  };
  for (const h of result.order) {
    const v = result.verdicts.get(h);
    if (v === undefined || v.accepted) continue;
    const e = at(h);
    const dispute = removedBy(h) !== undefined && removals.some((r) => removedBy(r) === e.by && concurrent(region, r, h));
    note(dispute ? 'dispute' : 'dropped', h, dispute ? `two admins removed each other; this removal lost: ${v.reason}` : `dropped: ${v.reason}`);
  }
  accepted.forEach((h, i) => {
    const e = at(h);
    const target = secretOf(e)?.secret;
    const fields = new Set(fieldsOf(e));
    for (const earlier of accepted.slice(0, i)) {
      if (!concurrent(region, earlier, h)) continue;
      const other = at(earlier);
      if (other.by === e.by) note('two-devices', h, `${e.by} wrote on two branches (${earlier} and this); use one identity per device`);
      if (target === undefined || secretOf(other)?.secret !== target) continue;
      const both = fieldsOf(other).filter((f) => fields.has(f));
      if (both.length > 0) note('conflict', h, `${both.join(', ')} also set by concurrent ${earlier}; this one, later in order, wins`);
    }
    const version = versionOf(e);
    const keys = version && payloads.get(version.k);
    if (version === undefined || keys?.kind !== 'keys') return;
    for (const r of removals) {
      const x = removedBy(r) as string;
      if (keys.keys.has(x) && concurrent(region, r, h))
        note('exposure', h, `version ${version.version} is sealed to ${x}, removed concurrently by ${r}: rotate it`);
    }
  });
  return notes;
}

/**
 * Replays a log. Throws INTEGRITY (exit 6) naming the entry when the history breaks a parse rule
 * or an op is denied by the state its author saw; otherwise returns the state, the order, each
 * entry's verdict and the report.
 *
 * An entry concurrent with no other (most entries: a history is a chain between merges) is
 * judged once against the state so far, which is both its pre-states; only the regions between
 * such entries pay for the two pre-states, so a chain replays in linear time.
 *
 * A compacted file (its first checkpoint comes after governance entries only) is read as §6
 * says: the governance entries replayed as a chain, the checkpoint checked against them and its
 * `state` lines, then the rest continued from the checkpoint.
 */
export function replay(input: ReplayInput, options: ReplayOptions): ReplayResult {
  const first = input.entries.findIndex((i) => i.entry.kind === 'checkpoint');
  if (first >= 0 && input.entries.slice(0, first).every((i) => isGovernance(i.entry))) return replayCompacted(input, options, first);
  if ((input.states?.length ?? 0) > 0) refuse(input.entries[0]?.hash ?? '', '`state` lines in a file that is not compacted');
  return replayOn(input, options, undefined);
}

/**
 * Continues a replay from `base` with the entries appended after its cut: the same result as
 * replaying the whole history, for the appended entries. Undefined when an appended entry names
 * a parent before the cut (a branch that forked earlier was merged), or when a checkpoint
 * follows a base that does not list its governance: replay the whole history.
 */
export function replayFrom(base: ReplayBase, input: ReplayInput, options: ReplayOptions): ReplayResult | undefined {
  try {
    return replayOn(input, options, base);
  } catch (err) {
    if (err instanceof BeforeTheCut) return undefined;
    throw err;
  }
}

function sameMap(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

function digestsOf(hash: string, options: ReplayOptions): CheckpointDigests {
  if (options.checkpoint === undefined) refuse(hash, 'this reader cannot check checkpoints');
  return options.checkpoint;
}

/**
 * Checks a checkpoint met in the history against the state this reader replayed up to it (its
 * parent, the entry before it): its secrets, governance and anchors. Its signer and `seqs` were
 * checked with every entry's. Returns the state the checkpoint settles (secrets purged by then
 * are gone), which is what a reader of the compacted file rebuilds.
 */
function checkCheckpoint(
  item: LogEntry & { readonly entry: CheckpointEntry },
  state: ReplayState,
  governance: readonly string[],
  options: ReplayOptions,
): ReplayState {
  const { hash, entry } = item;
  const digests = digestsOf(hash, options);
  const after = settled(state, entry.at);
  const secrets = summarise(after, entry.at);
  if (entry.secrets !== secrets.length || digests.state(secrets) !== entry.state) refuse(hash, 'its state is not the state of the history it summarises');
  if (digests.gov(governance) !== entry.gov) refuse(hash, 'its governance digest is not the governance of the history it summarises');
  if (!sameMap(entry.anchors, state.anchors)) refuse(hash, 'its audit anchors are not those of the history it summarises');
  return after;
}

/**
 * Replays a compacted file (§6): the genesis and the accepted governance entries, in replay
 * order, whose parents may be missing; then the checkpoint at `at`, signed by an admin of that
 * governance, whose `gov` covers exactly those entries and whose `state` the `state` lines hash
 * to; then every later entry, continued from the checkpoint (none may name an entry before it:
 * a checkpoint is final).
 */
function replayCompacted(input: ReplayInput, options: ReplayOptions, at: number): ReplayResult {
  const kept = input.entries.slice(0, at);
  const cp = input.entries[at] as LogEntry & { readonly entry: CheckpointEntry };
  const digests = digestsOf(cp.hash, options);
  const later = new Set(input.entries.slice(at).map((i) => i.hash));
  const seen = new Map<string, string>();
  let state = EMPTY_STATE;
  for (const [i, item] of kept.entries()) {
    const { hash, entry } = item;
    if (seen.has(hash)) refuse(hash, 'the same entry occurs twice (a replayed or spliced line)');
    const genesis = entry.kind === 'op' && entry.op === 'CreateVault';
    if (genesis !== (i === 0)) refuse(hash, i === 0 ? 'the first entry is not the genesis' : 'a second genesis');
    if (options.notAfter !== undefined && Date.parse(entry.at) > Date.parse(options.notAfter))
      refuse(hash, `its time ${entry.at} is later than this machine's clock allows`);
    if (genesis !== (entry.parents.length === 0)) refuse(hash, genesis ? 'the genesis names parents' : 'an entry names no parent');
    let previous = '';
    for (const p of entry.parents) {
      if (p <= previous) refuse(hash, 'its parents are not sorted without repeats');
      previous = p;
      if (later.has(p)) refuse(hash, `its parent ${p} comes later`);
      const parentAt = seen.get(p);
      if (parentAt !== undefined && Date.parse(entry.at) < Date.parse(parentAt)) refuse(hash, `its time is earlier than its parent ${p}'s`);
    }
    checkCausal(item, state, options, input.payloads);
    const r = applyEntry(state, hash, entry);
    if (!('state' in r)) refuse(hash, `it does not apply to the governance before it: ${r.problem}`);
    state = r.state;
    seen.set(hash, entry.at);
  }
  // The checkpoint: one parent (the head it summarised, usually compacted away), an admin's signature.
  const { hash, entry } = cp;
  if (entry.parents.length !== 1) refuse(hash, 'a checkpoint names more or fewer than one parent');
  const parent = entry.parents[0] as string;
  if (later.has(parent)) refuse(hash, `its parent ${parent} comes later`);
  const parentAt = seen.get(parent);
  if (parentAt !== undefined && Date.parse(entry.at) < Date.parse(parentAt)) refuse(hash, `its time is earlier than its parent ${parent}'s`);
  if (options.notAfter !== undefined && Date.parse(entry.at) > Date.parse(options.notAfter))
    refuse(hash, `its time ${entry.at} is later than this machine's clock allows`);
  checkCausal(cp, state, options, input.payloads);
  const governance = kept.map((i) => i.hash);
  if (digests.gov(governance) !== entry.gov) refuse(hash, 'its governance digest does not cover exactly the governance entries before it');
  for (const { entry: e, hash: h } of kept) {
    if ((entry.seqs.get(e.by) ?? 0) < e.seq) refuse(h, `its seq ${e.seq} is above the checkpoint's seq for ${e.by}`);
  }
  if ((entry.seqs.get(entry.by) ?? 0) >= entry.seq) refuse(hash, `its seq ${entry.seq} is not above ${entry.by}'s seq among the history it summarises`);
  const secrets = input.states ?? [];
  const summarised = new Set<string>();
  secrets.forEach((s, i) => {
    const before = secrets[i - 1];
    if (before !== undefined && bySummaryOrder(before, s) >= 0) refuse(hash, `its state lines are not sorted by name (at ${s.name})`);
    if (s.deleted !== undefined && s.deleted.purge <= entry.at) refuse(hash, `its state keeps ${s.name}, purged before it`);
    for (const v of s.versions) {
      const kind = (h: string): Payload['kind'] | undefined => input.payloads.get(h)?.kind ?? input.indexed?.get(h);
      if (kind(v.v) !== 'value') refuse(hash, `the value payload ${v.v} of ${s.name} is missing`);
      if (kind(v.k) !== 'keys') refuse(hash, `the keys payload ${v.k} of ${s.name} is missing`);
      summarised.add(v.v).add(v.k);
    }
  });
  if (entry.secrets !== secrets.length || (input.statesDigest ?? digests.state(secrets)) !== entry.state)
    refuse(hash, 'its state lines do not hash to its state');
  const base: ReplayBase = {
    cut: hash,
    at: entry.at,
    state: restored(state, secrets, entry),
    seen: PMap.from(entry.seqs).set(entry.by, entry.seq),
    governance,
  };
  let rest: ReplayResult;
  try {
    rest = replayOn({ entries: input.entries.slice(at + 1), payloads: input.payloads }, options, base, summarised);
  } catch (err) {
    if (err instanceof BeforeTheCut) refuse(hash, 'an entry after the checkpoint names an entry before it (a checkpoint is final)');
    throw err;
  }
  const verdicts = new Map<string, Verdict>([...kept, cp].map((i) => [i.hash, { accepted: true }]));
  for (const [h, v] of rest.verdicts) verdicts.set(h, v);
  return { ...rest, order: [...governance, hash, ...rest.order], verdicts };
}

function replayOn(input: ReplayInput, options: ReplayOptions, start: ReplayBase | undefined, summarised?: ReadonlySet<string>): ReplayResult {
  const history = checkStructure(input, options.wholeHistory === true, start, options.notAfter, summarised);
  let state = start?.state ?? EMPTY_STATE;
  let base = start;
  const order: string[] = [];
  const verdicts = new Map<string, Verdict>();
  const notes: ReplayNote[] = [];
  // The accepted governance so far, in replay order, when known (what a checkpoint's `gov` covers).
  const governance: string[] | undefined = start === undefined ? [] : start.governance === undefined ? undefined : [...start.governance];
  let governanceAtBase = governance?.length ?? 0;
  const total = input.entries.length;
  for (const segment of history.segments) {
    options.progress?.(order.length, total);
    if ('single' in segment) {
      const item = history.byHash.get(segment.single) as LogEntry;
      checkCausal(item, state, options, input.payloads);
      const e = item.entry;
      if (e.kind === 'checkpoint') {
        if (governance === undefined) throw new BeforeTheCut();
        state = checkCheckpoint({ hash: item.hash, entry: e }, state, governance, options);
      }
      const r = applyEntry(state, item.hash, e);
      order.push(item.hash);
      if ('state' in r) {
        state = r.state;
        verdicts.set(item.hash, { accepted: true });
        if (isGovernance(e)) governance?.push(item.hash);
      } else {
        verdicts.set(item.hash, { accepted: false, reason: r.problem });
        const secret = secretOf(e)?.name;
        notes.push({
          kind: 'dropped',
          entry: item.hash,
          by: e.by,
          action: actionOf(e),
          ...(secret !== undefined ? { secret } : {}),
          message: `dropped: ${r.problem}`,
        });
      }
      base = { cut: item.hash, at: e.at, state, seen: history.seqs.get(item.hash) as PMap<number> };
      governanceAtBase = governance?.length ?? 0;
      continue;
    }
    const region = regionOf(history, options, state, segment.region);
    const checkpoint = segment.region.find((h) => entryOf(history, h).kind === 'checkpoint');
    if (checkpoint !== undefined)
      refuse(checkpoint, 'an entry is concurrent with this checkpoint (a checkpoint is final: its author re-applies such an entry on top)');
    causalStates(region, input.payloads);
    const result = run(region, new Set(segment.region));
    state = result.state;
    order.push(...result.order);
    for (const [h, v] of result.verdicts) verdicts.set(h, v);
    for (const h of result.order) if (result.verdicts.get(h)?.accepted === true && isGovernance(entryOf(history, h))) governance?.push(h);
    notes.push(...report(region, result, input.payloads));
  }
  options.progress?.(total, total);
  const named = new Set(input.entries.flatMap((i) => i.entry.parents));
  const seqs = new Map<string, number>(start?.seen ?? []);
  for (const { entry } of input.entries) seqs.set(entry.by, Math.max(seqs.get(entry.by) ?? 0, entry.seq));
  const heads = [...history.byHash.keys(), ...(start ? [start.cut] : [])].filter((h) => !named.has(h)).sort(byText);
  const last = base === undefined ? undefined : governance === undefined ? base : { ...base, governance: governance.slice(0, governanceAtBase) };
  return { state, order, heads, verdicts, notes, seqs, ...(last ? { base: last } : {}) };
}
