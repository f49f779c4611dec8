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
import { SecretsError } from './errors.js';
import {
  classOf,
  type Entry,
  GOVERNANCE_ACTIONS,
  isGovernance,
  type LogEntry,
  type OpEntry,
  type Payload,
  type SecretRef,
  secretOf,
  type SignatureCheck,
  versionOf,
} from './ops.js';
import { checkPolicy } from './policy.js';
import { applyEntry, byText, EMPTY_STATE, isLive, policyView, type ReplayState, secretNamed, undoDelete } from './state.js';
import { CURRENT } from './versions.js';

/** What replay needs from the caller's crypto. */
export interface ReplayOptions {
  /** Checks an entry's signature with a member's Ed25519 key. */
  readonly signatureValid: SignatureCheck;
  /**
   * The id a new secret of this name must have: a version 8 UUID of
   * SHA-256(frame("secrets secret id v2", G, name)).
   */
  readonly secretIdOf: (vaultHash: string, name: string) => string;
}

/** A log as replay reads it: its entries in file order, and its payloads by hash. */
export interface ReplayInput {
  readonly entries: readonly LogEntry[];
  readonly payloads: ReadonlyMap<string, Payload>;
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
}

const REFUSED_HINT = 'the history was not changed; `secrets verify` names the entry, and `git log -p` shows where it came from';

function refuse(hash: string, why: string): never {
  throw new SecretsError('INTEGRITY', `entry ${hash} is refused: ${why}`, REFUSED_HINT);
}

function actionOf(entry: Entry): string {
  return entry.kind === 'op' ? entry.op : entry.kind;
}

/** The checked structure of a history: entries by hash, file positions, ancestor sets. */
interface History {
  readonly items: readonly LogEntry[];
  readonly byHash: ReadonlyMap<string, LogEntry>;
  readonly ancestors: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Applies the parse rules of §1 that concern links, order and payloads; refuses the first break. */
function checkStructure(input: ReplayInput): History {
  const byHash = new Map<string, LogEntry>();
  const ancestors = new Map<string, ReadonlySet<string>>();
  const referenced = new Set<string>();
  input.entries.forEach((item, i) => {
    const { hash, entry } = item;
    if (byHash.has(hash)) refuse(hash, 'the same entry occurs twice (a replayed or spliced line)');
    if (entry.kind === 'checkpoint') refuse(hash, 'checkpoints are not replayed by this version');
    const genesis = entry.kind === 'op' && entry.op === 'CreateVault';
    if (genesis !== (i === 0)) refuse(hash, i === 0 ? 'the first entry is not the genesis' : 'a second genesis');
    if (genesis !== (entry.parents.length === 0)) refuse(hash, genesis ? 'the genesis names parents' : 'an entry names no parent');
    if (entry.kind === 'merge' && entry.parents.length < 2) refuse(hash, 'a merge joins fewer than two heads');
    const anc = new Set<string>();
    let previous = '';
    for (const p of entry.parents) {
      if (p <= previous) refuse(hash, 'its parents are not sorted without repeats');
      previous = p;
      const parent = byHash.get(p);
      if (parent === undefined) refuse(hash, `its parent ${p} is missing or comes later`);
      if (Date.parse(entry.at) < Date.parse(parent.entry.at)) refuse(hash, `its time is earlier than its parent ${p}'s`);
      anc.add(p);
      for (const a of ancestors.get(p) ?? []) anc.add(a);
    }
    for (const a of anc) {
      const other = byHash.get(a)?.entry;
      if (other?.by === entry.by && other.seq >= entry.seq) refuse(hash, `its seq ${entry.seq} is not above ${entry.by}'s seq ${other.seq} in ${a}`);
    }
    const version = versionOf(entry);
    if (version) {
      if (input.payloads.get(version.v)?.kind !== 'value') refuse(hash, `its value payload ${version.v} is missing`);
      if (input.payloads.get(version.k)?.kind !== 'keys') refuse(hash, `its keys payload ${version.k} is missing`);
      referenced.add(version.v).add(version.k);
    }
    byHash.set(hash, item);
    ancestors.set(hash, anc);
  });
  for (const h of input.payloads.keys()) if (!referenced.has(h)) refuse(h, 'a payload no entry references');
  return { items: input.entries, byHash, ancestors };
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
  if (e.kind !== 'op') return undefined;
  const admin = signer.roles.includes('admin');
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
  const subject = secret ?? { id: ref.secret, name: ref.name, tags: new Map<string, string>() };
  const decision = decideRecorded(policyView(pre), signer, e.op, subject, factsOf(e));
  return decision.decision === 'allowed' ? undefined : `${signer.name} is not allowed secrets:${e.op} on ${ref.name}: ${explain(decision)}`;
}

/** Everything one replay shares with the replays of its sub-histories. */
interface Context {
  readonly history: History;
  readonly options: ReplayOptions;
  /** pre₁ of every entry: the replay of its ancestors. */
  readonly causal: Map<string, ReplayState>;
}

function concurrent(history: History, a: string, b: string): boolean {
  return a !== b && !(history.ancestors.get(a)?.has(b) ?? false) && !(history.ancestors.get(b)?.has(a) ?? false);
}

/** `L` over a set of entries closed under ancestors: Kahn's algorithm, lowest (class, hash) first. */
function linearOrder(history: History, set: ReadonlySet<string>): string[] {
  const waiting = new Map<string, number>();
  const children = new Map<string, string[]>();
  for (const h of set) {
    const parents = history.byHash.get(h)?.entry.parents ?? [];
    waiting.set(h, parents.length);
    for (const p of parents) children.set(p, [...(children.get(p) ?? []), h]);
  }
  const key = (h: string): [number, string] => [classOf((history.byHash.get(h) as LogEntry).entry), h];
  const ready = [...set].filter((h) => waiting.get(h) === 0);
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

/** The fold of `hashes` (already in `L` order) from the empty state; an entry that does not apply is skipped. */
function fold(history: History, hashes: readonly string[]): ReplayState {
  let state = EMPTY_STATE;
  for (const h of hashes) {
    const r = applyEntry(state, h, (history.byHash.get(h) as LogEntry).entry);
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
 * Replays a set of entries closed under ancestors (§3): first the governance entries, whose
 * verdicts depend only on governance; then, in `L` order, everything, each data op judged
 * against `pre₂` and then against the fold so far.
 */
function run(ctx: Context, set: ReadonlySet<string>): Run {
  const { history } = ctx;
  const order = linearOrder(history, set);
  const position = new Map(order.map((h, i) => [h, i]));
  const verdicts = new Map<string, Verdict>();
  const entryOf = (h: string): Entry => (history.byHash.get(h) as LogEntry).entry;
  const accepted = (h: string): boolean => verdicts.get(h)?.accepted === true;
  const judge = (h: string, pre: ReplayState, applyTo: ReplayState): ReplayState => {
    const problem = authorizeEntry(pre, history.byHash.get(h) as LogEntry, ctx.options);
    if (problem !== undefined) {
      verdicts.set(h, { accepted: false, reason: problem });
      return applyTo;
    }
    const r = applyEntry(applyTo, h, entryOf(h));
    verdicts.set(h, 'state' in r ? { accepted: true } : { accepted: false, reason: r.problem });
    return 'state' in r ? r.state : applyTo;
  };

  // Governance: pre₂ is the accepted governance among the ancestors and the concurrent governance earlier in L.
  let governance = EMPTY_STATE;
  const governanceSoFar: string[] = [];
  for (const h of order) {
    if (!isGovernance(entryOf(h))) continue;
    const anc = history.ancestors.get(h) as ReadonlySet<string>;
    const pre = fold(
      history,
      governanceSoFar.filter((g) => accepted(g) && (anc.has(g) || concurrent(history, g, h))),
    );
    governance = judge(h, pre, governance);
    governanceSoFar.push(h);
  }

  // Everything, in L order. pre₂ of a data op: its accepted ancestors, every accepted concurrent
  // governance entry wherever it is in L (revocations apply whatever the hashes), and the
  // accepted concurrent class-2 entries earlier in L.
  let state = EMPTY_STATE;
  for (const h of order) {
    const entry = entryOf(h);
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
    const anc = history.ancestors.get(h) as ReadonlySet<string>;
    const index = position.get(h) as number;
    const basis = order.filter(
      (f) =>
        accepted(f) &&
        (anc.has(f) || (concurrent(history, f, h) && (isGovernance(entryOf(f)) || (classOf(entryOf(f)) === 2 && (position.get(f) as number) < index)))),
    );
    const target = secretOf(entry)?.secret;
    const rivals = order.filter((f) => accepted(f) && concurrent(history, f, h) && secretOf(entryOf(f))?.secret === target);
    if (entry.op === 'DeleteSecret' && rivals.some((f) => isChange(entryOf(f)))) {
      verdicts.set(h, { accepted: false, reason: `a concurrent change to ${entry.body.name} beats its deletion` });
      continue;
    }
    if (isChange(entry) && target !== undefined) {
      // A change beats a concurrent delete, whichever comes first in L.
      for (const d of rivals.filter((f) => actionOf(entryOf(f)) === 'DeleteSecret')) {
        verdicts.set(d, { accepted: false, reason: `a concurrent change (${h}) to ${(secretOf(entry) as SecretRef).name} beats its deletion` });
        state = undoDelete(state, target, d);
      }
    }
    state = judge(h, fold(history, basis), state);
  }
  return { state, order, verdicts };
}

/** pre₁ of every entry, in file order; refuses the first entry its own author's state denies. */
function causalStates(ctx: Context): void {
  const { history, options } = ctx;
  for (const item of history.items) {
    const { hash, entry } = item;
    const parents = entry.parents;
    let pre: ReplayState;
    if (parents.length === 0) pre = EMPTY_STATE;
    else if (parents.length === 1) {
      // The replay of a single parent's ancestors plus that parent: the parent comes last in L
      // and is concurrent with nothing, so its pre₂ is its pre₁ and it applies or not.
      const p = parents[0] as string;
      const before = ctx.causal.get(p) as ReplayState;
      const r = applyEntry(before, p, (history.byHash.get(p) as LogEntry).entry);
      pre = 'state' in r ? r.state : before;
    } else {
      pre = run(ctx, history.ancestors.get(hash) as ReadonlySet<string>).state;
    }
    const genesis = entry.kind === 'op' && entry.op === 'CreateVault';
    const key = genesis ? entry.body.creator.sign : pre.members.get(entry.by)?.sign;
    if (key === undefined) refuse(hash, `${entry.by} is not a member of the vault its author saw`);
    if (!options.signatureValid(item, key, genesis ? '' : pre.vault)) refuse(hash, 'its signature does not verify');
    const problem = authorizeEntry(pre, item, options);
    if (problem !== undefined) refuse(hash, `${problem} (in the history its author saw)`);
    ctx.causal.set(hash, pre);
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

/** The report: dropped entries, disputes, concurrent writes to one field, exposures, two devices. */
function report(ctx: Context, result: Run, payloads: ReadonlyMap<string, Payload>): ReplayNote[] {
  const { history } = ctx;
  const notes: ReplayNote[] = [];
  const entryOf = (h: string): Entry => (history.byHash.get(h) as LogEntry).entry;
  const note = (kind: NoteKind, h: string, message: string): void => {
    const e = entryOf(h);
    const secret = secretOf(e)?.name;
    notes.push({ kind, entry: h, by: e.by, action: actionOf(e), ...(secret !== undefined ? { secret } : {}), message });
  };
  const accepted = result.order.filter((h) => result.verdicts.get(h)?.accepted === true);
  const removals = accepted.filter((h) => actionOf(entryOf(h)) === 'RemoveMember');
  const removedBy = (h: string): string | undefined => {
    const e = entryOf(h);
    return e.kind === 'op' && e.op === 'RemoveMember' ? e.body.member : undefined;
  };
  for (const h of result.order) {
    const v = result.verdicts.get(h);
    if (v === undefined || v.accepted) continue;
    const e = entryOf(h);
    const dispute = removedBy(h) !== undefined && removals.some((r) => removedBy(r) === e.by && concurrent(history, r, h));
    note(dispute ? 'dispute' : 'dropped', h, dispute ? `two admins removed each other; this removal lost: ${v.reason}` : `dropped: ${v.reason}`);
  }
  accepted.forEach((h, i) => {
    const e = entryOf(h);
    const target = secretOf(e)?.secret;
    const fields = new Set(fieldsOf(e));
    for (const earlier of accepted.slice(0, i)) {
      if (!concurrent(history, earlier, h)) continue;
      const other = entryOf(earlier);
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
      if (keys.keys.has(x) && concurrent(history, r, h))
        note('exposure', h, `version ${version.version} is sealed to ${x}, removed concurrently by ${r}: rotate it`);
    }
  });
  return notes;
}

/**
 * Replays a log. Throws INTEGRITY (exit 6) naming the entry when the history breaks a parse rule
 * or an op is denied by the state its author saw; otherwise returns the state, the order, each
 * entry's verdict and the report.
 */
export function replay(input: ReplayInput, options: ReplayOptions): ReplayResult {
  const history = checkStructure(input);
  const ctx: Context = { history, options, causal: new Map() };
  causalStates(ctx);
  const result = run(ctx, new Set(history.byHash.keys()));
  const named = new Set(input.entries.flatMap((i) => i.entry.parents));
  const seqs = new Map<string, number>();
  for (const { entry } of input.entries) seqs.set(entry.by, Math.max(seqs.get(entry.by) ?? 0, entry.seq));
  return {
    state: result.state,
    order: result.order,
    heads: [...history.byHash.keys()].filter((h) => !named.has(h)).sort(byText),
    verdicts: result.verdicts,
    notes: report(ctx, result, input.payloads),
    seqs,
  };
}
