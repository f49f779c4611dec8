/**
 * Members and policies (docs/policies.md): admin-signed records that decide who may do what.
 * Every change re-seals data keys to the members now allowed to read, and re-signs records
 * whose writers lost the permission they wrote them with.
 */
import {
  applicablePolicies,
  currentMembers,
  decide,
  explain,
  handlerActs,
  isAdmin,
  readableBy,
  readersOf,
  requireAdmin,
  requireMember,
  resourcePolicyOf,
} from '../access.js';
import { audited } from '../audit.js';
import { SecretsError } from '../errors.js';
import { MAX_KEPT, type MemberRecord, type PolicyRecord, type VaultState } from '../model.js';
import { assertMemberName } from '../names.js';
import { checkPolicy, isPolicyName, type PolicyIssue, type PolicyKind } from '../policy.js';
import { ACTIONS } from '../policy-vocabulary.js';
import type { Identity, PublicIdentity } from '../ports.js';
import { type CoreDeps, findEntry, findLiveEntry, unsign } from './deps.js';
import { assertAllAuthorized, drift, endorse, type Progress, reseal, type ResealReport } from './reseal.js';

/** A member as listed. */
export interface MemberInfo {
  readonly Name: string;
  readonly Id: string;
  readonly Role: 'admin' | 'member';
  readonly Status: 'active' | 'removed';
  readonly Policies: string[];
  readonly Added: string;
  readonly Removed?: string;
  /** For a removed member: the secrets they could read when removed. */
  readonly Exposed?: string[];
  /** For a removed member: secrets whose settings they left, on hold until an admin confirms them. */
  readonly Held?: HeldSecret[];
}

function roleOf(m: MemberRecord): 'admin' | 'member' {
  return m.roles.includes('admin') ? 'admin' : 'member';
}

function info(state: VaultState, m: MemberRecord): MemberInfo {
  const names = new Map(state.secrets.map((e) => [e.secret.id, e.secret.name]));
  return {
    Name: m.name,
    Id: m.id,
    Role: roleOf(m),
    Status: m.removed === undefined ? 'active' : 'removed',
    Policies: state.policies.filter((p) => p.name !== undefined && p.attached.includes(m.id)).map((p) => p.name as string),
    Added: m.added,
    ...(m.removed !== undefined ? { Removed: m.removed } : {}),
    // What a removed member could read (a current member's reading is their policies').
    ...(m.removed !== undefined && m.exposed !== undefined ? { Exposed: m.exposed.map((id) => names.get(id) ?? `(deleted secret ${id})`).sort() } : {}),
    ...(m.held !== undefined ? { Held: heldReport(state, m.held) } : {}),
  };
}

/** The current member called `name` (or with that id). */
export function memberNamed(state: VaultState, name: string): MemberRecord {
  const m = currentMembers(state).find((x) => x.name === name || x.id === name);
  if (!m) throw new SecretsError('NOT_FOUND', `no member ${JSON.stringify(name)} in this vault`, '`secrets member list` shows the members');
  return m;
}

/** The audit event of an admin change: its name and what it acted on. */
interface AdminEvent {
  readonly name: string;
  readonly target?: string | undefined;
  readonly secret?: string | undefined;
}

/** Adds withdrawn read access to each member's exposure list (what they could once read). */
function recordExposure(state: VaultState, withdrawn: ReadonlyMap<string, ReadonlySet<string>>): VaultState {
  if (withdrawn.size === 0) return state;
  const members = state.members.map((m) => {
    const lost = withdrawn.get(m.id);
    if (!lost) return m;
    const exposed = [...new Set([...(m.exposed ?? []), ...lost])].sort();
    return exposed.length === (m.exposed ?? []).length ? m : unsign({ ...m, exposed });
  });
  return { ...state, members };
}

/** Runs an admin change: checks the caller, the vault, then endorses and re-seals the result. */
async function adminChange<T>(
  deps: CoreDeps,
  event: AdminEvent,
  what: string,
  change: (state: VaultState, me: MemberRecord, identity: Identity) => { state: VaultState; result: T } | Promise<{ state: VaultState; result: T }>,
  progress?: Progress,
): Promise<T & { Resealed: ResealReport }> {
  const { identity } = await deps.identities.load();
  return audited(deps.audit, event.name, identity.id, (scope) =>
    deps.vault.transact(identity, async (state) => {
      scope.vault(state, identity.id);
      if (event.target !== undefined) scope.target(event.target);
      if (event.secret !== undefined) scope.secretName(event.secret);
      const me = requireMember(state, identity.id, deps.vault.location);
      requireAdmin(me, what);
      await assertAllAuthorized(deps, state);
      const changed = await change(state, me, identity);
      // Unchanged input still re-seals any drift; with none, nothing is written.
      const sealed = await reseal(deps, identity, changed.state === state ? state : endorse(changed.state), progress);
      return { state: pruneKept(recordExposure(sealed.state, sealed.withdrawn)), result: { ...changed.result, Resealed: sealed.report } };
    }),
  );
}

/** `secrets member add NAME IDENTITY [--role]`. */
export async function addMember(
  deps: CoreDeps,
  input: { name: string; identity: PublicIdentity; role: 'admin' | 'member'; encode: (p: PublicIdentity) => { enc: string; sign: string } },
  progress?: Progress,
): Promise<{ Name: string; Id: string; Role: string; Readable: number } & { Resealed: ResealReport }> {
  assertMemberName(input.name);
  return adminChange(
    deps,
    { name: 'AddMember', target: input.name },
    'add members',
    (state) => {
      const clash = currentMembers(state).find((m) => m.name === input.name || m.id === input.identity.id);
      if (clash) {
        throw new SecretsError(
          'ALREADY_EXISTS',
          clash.id === input.identity.id
            ? `identity ${input.identity.id} is already the member ${JSON.stringify(clash.name)}`
            : `a member called ${JSON.stringify(input.name)} already exists`,
          '`secrets member list` shows the members',
        );
      }
      // Format 2: a removal is final (replay would not apply the add, on any machine).
      const removed = state.vault.format === 2 ? state.members.find((m) => m.id === input.identity.id) : undefined;
      if (removed !== undefined) {
        throw new SecretsError(
          'CONFLICT',
          `identity ${input.identity.id} was the member ${JSON.stringify(removed.name)}, removed from this vault; a removal is final`,
          'add a new identity for them: they make one with `secrets identity new --out FILE`',
        );
      }
      const keys = input.encode(input.identity);
      const member: MemberRecord = {
        kind: 'member',
        id: input.identity.id,
        name: input.name,
        enc: keys.enc,
        sign: keys.sign,
        roles: [input.role],
        added: deps.clock.now().toISOString(),
        by: '',
        ctr: 0,
      };
      // Format 1: a re-added member replaces their removed record.
      const members = [...state.members.filter((m) => m.id !== member.id), member];
      const next = { ...state, members };
      const readable = next.secrets.filter((e) => readersOf(next, e).some((r) => r.id === member.id)).length;
      return { state: next, result: { Name: member.name, Id: member.id, Role: input.role, Readable: readable } };
    },
    progress,
  );
}

/** A secret whose settings a removed member wrote, as reported for review. */
export interface HeldSecret {
  readonly Secret: string;
  /** The rotation handler they configured, if any: it does not run until confirmed. */
  readonly Handler?: string;
  /** The tags they left: policy conditions do not trust them until confirmed. */
  readonly Tags: Record<string, string>;
}

function heldReport(state: VaultState, ids: readonly string[]): HeldSecret[] {
  const byId = new Map(state.secrets.map((e) => [e.secret.id, e.secret]));
  return ids
    .flatMap((id) => {
      const s = byId.get(id);
      return s
        ? [{ Secret: s.name, ...(s.rotation && handlerActs(s.rotation.handler) ? { Handler: s.rotation.handler } : {}), Tags: Object.fromEntries(s.tags) }]
        : [];
    })
    .sort((a, b) => (a.Secret < b.Secret ? -1 : 1));
}

/** Rough size of a member record's lists, so a removal never writes a line readers refuse. */
const MAX_LIST_BYTES = 900_000;

/**
 * Member and policy records a member signed as an admin that grant something, by what they are.
 * A removal they signed grants nothing unless it keeps records valid under the removed
 * member's name; the other removals are re-signed by whoever removes them, unasked.
 */
function adminRecordsBy(state: VaultState, id: string): string[] {
  return [
    ...state.members
      .filter((m) => m.by === id && m.id !== id && (m.removed === undefined || (m.kept?.length ?? 0) > 0))
      .map((m) => (m.removed === undefined ? `member ${m.name}` : `the removal of ${m.name} (which keeps ${m.kept?.length ?? 0} of their records valid)`)),
    ...state.policies
      .filter((p) => p.by === id)
      .map((p) =>
        p.name !== undefined
          ? `policy ${p.name}`
          : `the resource policy of ${state.secrets.find((e) => e.secret.id === p.secret)?.secret.name ?? p.secret ?? '?'}`,
      ),
  ].sort();
}

/**
 * `secrets member remove NAME`: re-seals without them and records what they could read. What
 * they signed keeps their name: their secret and version records stay valid as kept history,
 * and the settings they left on secrets (rotation handler, tags) are held until an admin
 * confirms them. Members and policies they signed as an admin are re-signed only when the
 * remover says so (`confirmRecords`), after checking them; otherwise the removal is refused.
 */
export async function removeMember(
  deps: CoreDeps,
  input: { name: string; confirmRecords?: boolean },
  progress?: Progress,
): Promise<{ Name: string; Id: string; Exposed: string[]; Held: HeldSecret[]; Confirmed: string[] } & { Resealed: ResealReport }> {
  return adminChange(
    deps,
    { name: 'RemoveMember', target: input.name },
    'remove members',
    (state, me) => {
      const target = memberNamed(state, input.name);
      if (target.id === me.id) throw new SecretsError('USAGE', 'you cannot remove yourself', 'ask another admin to remove this identity');
      if (target.id === state.vault.by) {
        throw new SecretsError(
          'USAGE',
          `${target.name} created this vault and is its root of trust; the creator cannot be removed`,
          'see docs/decisions/0006-admins-and-the-root-of-trust.md',
        );
      }
      if (isAdmin(target) && currentMembers(state).filter(isAdmin).length < 2) {
        throw new SecretsError('USAGE', 'the vault would have no admin left');
      }
      const adminRecords = adminRecordsBy(state, target.id);
      if (adminRecords.length > 0 && input.confirmRecords !== true) {
        throw new SecretsError(
          'CONFLICT',
          `${target.name} signed, as an admin, records still in force: ${adminRecords.join(', ')}; removing them would leave those on no admin's word`,
          `check each one; remove or change those you do not trust, then \`secrets member remove ${target.name} --confirm-records\` re-signs the rest as you`,
        );
      }
      const exposedIds = [...new Set([...readableBy(state, target), ...(target.exposed ?? [])])].sort();
      const theirs = state.secrets.flatMap((e) => [e.secret, ...e.versions]).filter((r) => r.by === target.id && r.sig !== undefined);
      const kept = [...new Set([...(target.kept ?? []), ...theirs.map((r) => r.sig as string)])].sort();
      // Every secret whose record they wrote last: what they set there, or took away (a tag a
      // Deny read), is not trusted until confirmed.
      const held = [...new Set([...(target.held ?? []), ...state.secrets.filter((e) => e.secret.by === target.id).map((e) => e.secret.id)])].sort();
      if (kept.length > MAX_KEPT || kept.length * 91 + exposedIds.length * 39 > MAX_LIST_BYTES) {
        throw new SecretsError(
          'LIMIT_EXCEEDED',
          `${target.name} signed ${kept.length} records, more than a removal can keep under their name`,
          'delete or overwrite some of them (`secrets put`), then remove the member again',
        );
      }
      const now = deps.clock.now().toISOString();
      const removed: MemberRecord = unsign({
        ...target,
        removed: now,
        exposed: exposedIds,
        ...(kept.length > 0 ? { kept } : {}),
        ...(held.length > 0 ? { held } : {}),
      });
      // Only an admin's own word may keep a member or policy in force: re-signed when confirmed.
      const confirm = <R extends { by: string; sig?: string }>(r: R): R => (r.by === target.id ? unsign(r) : r);
      const next: VaultState = {
        ...state,
        members: state.members.map((m) => (m.id === target.id ? removed : confirm(m))),
        policies: state.policies.map((p) => {
          const attached = p.attached.filter((id) => id !== target.id);
          return attached.length !== p.attached.length ? unsign({ ...p, attached }) : confirm(p);
        }),
      };
      const names = new Map(state.secrets.map((e) => [e.secret.id, e.secret.name]));
      return {
        state: next,
        result: {
          Name: target.name,
          Id: target.id,
          Exposed: exposedIds.map((id) => names.get(id) ?? id).sort(),
          Held: heldReport(state, held),
          Confirmed: adminRecords,
        },
      };
    },
    progress,
  );
}

/** Any member, current or removed, by name or id. */
function anyMemberNamed(state: VaultState, name: string): MemberRecord {
  const m = state.members.find((x) => x.name === name || x.id === name);
  if (!m) throw new SecretsError('NOT_FOUND', `no member ${JSON.stringify(name)} in this vault`, '`secrets member list --removed` shows them');
  return m;
}

/**
 * `secrets member confirm NAME [SECRET...]`: an admin vouches for the settings a removed member
 * left on those secrets (all of them when none is named), so their rotation runs and their tags
 * count again.
 */
export async function confirmHeld(
  deps: CoreDeps,
  input: { name: string; secrets: readonly string[] },
  progress?: Progress,
): Promise<{ Name: string; Confirmed: HeldSecret[]; StillHeld: HeldSecret[] } & { Resealed: ResealReport }> {
  return adminChange(
    deps,
    { name: 'ConfirmMemberRecords', target: input.name },
    'confirm what a removed member set',
    (state) => {
      const target = anyMemberNamed(state, input.name);
      const held = target.held ?? [];
      const wanted = input.secrets.map((n) => findEntry(state, n).secret.id);
      for (const [i, id] of wanted.entries()) {
        if (!held.includes(id))
          throw new SecretsError(
            'NOT_FOUND',
            `nothing ${target.name} set on ${input.secrets[i] ?? id} is on hold`,
            `\`secrets member list --removed\` shows what is held`,
          );
      }
      const confirmed = wanted.length > 0 ? wanted : held;
      const rest = held.filter((id) => !confirmed.includes(id));
      if (confirmed.length === 0) return { state, result: { Name: target.name, Confirmed: [], StillHeld: [] } };
      const { held: _old, ...base } = target;
      const next: MemberRecord = unsign({ ...base, ...(rest.length > 0 ? { held: rest } : {}) });
      return {
        state: { ...state, members: state.members.map((m) => (m === target ? next : m)) },
        result: { Name: target.name, Confirmed: heldReport(state, confirmed), StillHeld: heldReport(state, rest) },
      };
    },
    progress,
  );
}

/**
 * Drops kept signatures that no record carries any more (a version re-sealed or pruned, a
 * secret rewritten by someone else) and holds on secrets that are gone, so the lists only
 * shrink.
 */
function pruneKept(state: VaultState): VaultState {
  if (!state.members.some((m) => m.kept !== undefined || m.held !== undefined)) return state;
  const sigs = new Set(state.secrets.flatMap((e) => [e.secret.sig, ...e.versions.map((v) => v.sig)]));
  const ids = new Set(state.secrets.map((e) => e.secret.id));
  let touched = false;
  const members = state.members.map((m) => {
    const kept = m.kept?.filter((sig) => sigs.has(sig));
    const held = m.held?.filter((id) => ids.has(id));
    if (kept?.length === m.kept?.length && held?.length === m.held?.length) return m;
    touched = true;
    const { kept: _k, held: _h, ...rest } = m;
    return unsign({ ...rest, ...(kept !== undefined && kept.length > 0 ? { kept } : {}), ...(held !== undefined && held.length > 0 ? { held } : {}) });
  });
  return touched ? { ...state, members } : state;
}

/** `secrets member list`. */
export async function listMembers(deps: CoreDeps, input: { includeRemoved: boolean }): Promise<{ Members: MemberInfo[] }> {
  const { identity } = await deps.identities.load();
  const state = await deps.vault.read(identity);
  requireMember(state, identity.id, deps.vault.location);
  const Members = state.members
    .filter((m) => input.includeRemoved || m.removed === undefined)
    .map((m) => info(state, m))
    .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  return { Members };
}

/** Checks a document; throws USAGE with every error when it is not valid. */
export function assertValidPolicy(doc: unknown, kind: PolicyKind, describe: (issue: PolicyIssue) => string): void {
  const { issues } = checkPolicy(doc, kind);
  const errors = issues.filter((i) => i.level === 'error');
  if (errors.length > 0) {
    throw new SecretsError(
      'USAGE',
      `the policy is not valid: ${errors.map(describe).join('; ')}`,
      '`secrets policy validate -f FILE` lists every problem; docs/policies.md has the grammar',
    );
  }
}

function assertPolicyName(name: string): void {
  if (!isPolicyName(name)) {
    throw new SecretsError(
      'INVALID_NAME',
      `invalid policy name ${JSON.stringify(name.slice(0, 130))}`,
      'policy names are 1-128 characters of A-Z a-z 0-9 _ + = , . @ -',
    );
  }
}

function findPolicy(state: VaultState, name: string): PolicyRecord {
  const p = state.policies.find((x) => x.name === name);
  if (!p) throw new SecretsError('NOT_FOUND', `no policy ${JSON.stringify(name)}`, '`secrets policy list` shows the policies');
  return p;
}

function replacePolicy(state: VaultState, old: PolicyRecord | undefined, next: PolicyRecord | undefined): VaultState {
  const policies = state.policies.filter((p) => p !== old);
  return { ...state, policies: next ? [...policies, next] : policies };
}

/** `secrets policy put NAME -f FILE` (identity policy) or `--secret SECRET` (resource policy). */
export async function putPolicy(
  deps: CoreDeps,
  input: { name?: string | undefined; secret?: string | undefined; doc: unknown; describe: (issue: PolicyIssue) => string },
  progress?: Progress,
): Promise<{ Name: string; Kind: PolicyKind; Created: boolean } & { Resealed: ResealReport }> {
  const kind: PolicyKind = input.secret !== undefined ? 'resource' : 'identity';
  if (input.name !== undefined) assertPolicyName(input.name);
  assertValidPolicy(input.doc, kind, input.describe);
  return adminChange(
    deps,
    { name: kind === 'resource' ? 'PutResourcePolicy' : 'PutPolicy', target: input.name, secret: input.secret },
    'change policies',
    (state) => {
      const now = deps.clock.now().toISOString();
      if (input.secret !== undefined) {
        const entry = findLiveEntry(state, input.secret);
        const old = resourcePolicyOf(state, entry.secret.id);
        const record: PolicyRecord = { kind: 'policy', secret: entry.secret.id, doc: input.doc, attached: [], changed: now, by: '', ctr: 0 };
        return { state: replacePolicy(state, old, record), result: { Name: entry.secret.name, Kind: kind, Created: !old } };
      }
      const name = input.name as string;
      const old = state.policies.find((p) => p.name === name);
      const record: PolicyRecord = { kind: 'policy', name, doc: input.doc, attached: old?.attached ?? [], changed: now, by: '', ctr: 0 };
      return { state: replacePolicy(state, old, record), result: { Name: name, Kind: kind, Created: !old } };
    },
    progress,
  );
}

/** `secrets policy delete NAME` / `--secret SECRET`. An attached policy must be detached first. */
export async function deletePolicy(
  deps: CoreDeps,
  input: { name?: string | undefined; secret?: string | undefined },
  progress?: Progress,
): Promise<{ Name: string } & { Resealed: ResealReport }> {
  return adminChange(
    deps,
    { name: input.secret !== undefined ? 'DeleteResourcePolicy' : 'DeletePolicy', target: input.name, secret: input.secret },
    'change policies',
    (state) => {
      if (input.secret !== undefined) {
        const entry = findEntry(state, input.secret);
        const old = resourcePolicyOf(state, entry.secret.id);
        if (!old) throw new SecretsError('NOT_FOUND', `secret ${entry.secret.name} has no resource policy`);
        return { state: replacePolicy(state, old, undefined), result: { Name: entry.secret.name } };
      }
      const old = findPolicy(state, input.name as string);
      if (old.attached.length > 0) {
        const names = old.attached.map((id) => state.members.find((m) => m.id === id)?.name ?? id);
        throw new SecretsError(
          'CONFLICT',
          `policy ${JSON.stringify(old.name)} is attached to ${names.join(', ')}`,
          `detach it first: secrets policy detach ${old.name ?? ''} MEMBER`,
        );
      }
      return { state: replacePolicy(state, old, undefined), result: { Name: old.name as string } };
    },
    progress,
  );
}

/** `secrets policy attach|detach NAME MEMBER`. */
export async function attachPolicy(
  deps: CoreDeps,
  input: { name: string; member: string; attach: boolean },
  progress?: Progress,
): Promise<{ Name: string; Member: string; Changed: boolean } & { Resealed: ResealReport }> {
  return adminChange<{ Name: string; Member: string; Changed: boolean }>(
    deps,
    { name: input.attach ? 'AttachPolicy' : 'DetachPolicy', target: `${input.name} ${input.member}` },
    'change policies',
    (state) => {
      const policy = findPolicy(state, input.name);
      const member = memberNamed(state, input.member);
      const has = policy.attached.includes(member.id);
      if (has === input.attach) return { state, result: { Name: input.name, Member: member.name, Changed: false } };
      const attached = input.attach ? [...policy.attached, member.id].sort() : policy.attached.filter((id) => id !== member.id);
      const next = unsign({ ...policy, attached, changed: deps.clock.now().toISOString() });
      return { state: replacePolicy(state, policy, next), result: { Name: input.name, Member: member.name, Changed: true } };
    },
    progress,
  );
}

/** A stored policy as shown. */
export interface PolicyInfo {
  readonly Name: string;
  readonly Kind: PolicyKind;
  readonly AttachedTo: string[];
  readonly Statements: number;
  readonly LastChangedDate: string;
  readonly Document: unknown;
}

function policyInfo(state: VaultState, p: PolicyRecord): PolicyInfo {
  const secretName = p.secret !== undefined ? state.secrets.find((e) => e.secret.id === p.secret)?.secret.name : undefined;
  const doc = p.doc as { Statement?: unknown };
  return {
    Name: p.name ?? secretName ?? `(deleted secret ${p.secret ?? ''})`,
    Kind: p.secret !== undefined ? 'resource' : 'identity',
    AttachedTo: p.attached.map((id) => state.members.find((m) => m.id === id)?.name ?? id),
    Statements: Array.isArray(doc.Statement) ? doc.Statement.length : 1,
    LastChangedDate: p.changed,
    Document: p.doc,
  };
}

async function readAsMember(deps: CoreDeps): Promise<{ state: VaultState; me: MemberRecord }> {
  const { identity } = await deps.identities.load();
  const state = await deps.vault.read(identity);
  return { state, me: requireMember(state, identity.id, deps.vault.location) };
}

/** `secrets policy get NAME` / `--secret SECRET`. */
export async function getPolicy(deps: CoreDeps, input: { name?: string | undefined; secret?: string | undefined }): Promise<PolicyInfo> {
  const { state, me } = await readAsMember(deps);
  if (input.secret !== undefined) {
    const entry = findEntry(state, input.secret);
    const env = { now: deps.clock.now(), tty: deps.tty };
    const d = decide(state, me, 'secrets:GetResourcePolicy', entry, {}, env);
    if (d.decision !== 'allowed') {
      throw new SecretsError('DENIED', `${me.name} is not allowed secrets:GetResourcePolicy on ${entry.secret.name}: ${explain(d)}`);
    }
    const p = resourcePolicyOf(state, entry.secret.id);
    if (!p)
      throw new SecretsError(
        'NOT_FOUND',
        `secret ${entry.secret.name} has no resource policy`,
        `add one with \`secrets policy put --secret ${entry.secret.name} -f FILE\``,
      );
    return policyInfo(state, p);
  }
  return policyInfo(state, findPolicy(state, input.name as string));
}

/** `secrets policy list`: identity policies, then resource policies of live secrets. */
export async function listPolicies(deps: CoreDeps): Promise<{ Policies: PolicyInfo[] }> {
  const { state } = await readAsMember(deps);
  const live = new Set(state.secrets.map((e) => e.secret.id));
  const Policies = state.policies
    .filter((p) => p.secret === undefined || live.has(p.secret))
    .map((p) => policyInfo(state, p))
    .sort((a, b) => (a.Kind !== b.Kind ? (a.Kind === 'identity' ? -1 : 1) : a.Name < b.Name ? -1 : 1));
  return { Policies };
}

/** What `policy simulate` reports. */
export interface SimulationResult {
  readonly Member: string;
  readonly Action: string;
  readonly Secret: string;
  readonly Decision: 'allowed' | 'explicitDeny' | 'implicitDeny';
  readonly DecidedBy?: { Policy: string; Sid?: string; Statement: number };
  readonly Reason: string;
  /** Policies that were evaluated. */
  readonly Evaluated: string[];
  /** Whether the member holds the data key of the secret's current version (read enforcement). */
  readonly HoldsKey?: boolean;
}

/** `secrets policy simulate --member M --action A --secret S [--context K=V]...`. */
export async function simulatePolicy(
  deps: CoreDeps,
  input: { member: string; action: string; secret?: string | undefined; context: ReadonlyMap<string, readonly string[]> },
): Promise<SimulationResult> {
  const action = ACTIONS.find((a) => a.toLowerCase() === input.action.toLowerCase() || a.toLowerCase() === `secrets:${input.action.toLowerCase()}`);
  if (!action) {
    throw new SecretsError('USAGE', `unknown action ${JSON.stringify(input.action)}`, `actions: ${ACTIONS.join(', ')}`);
  }
  const { state } = await readAsMember(deps);
  const member = memberNamed(state, input.member);
  const entry = input.secret !== undefined ? findEntry(state, input.secret) : undefined;
  const now = input.context.get('secrets:currenttime')?.[0];
  const env = { now: now !== undefined && !Number.isNaN(Date.parse(now)) ? new Date(now) : deps.clock.now(), tty: deps.tty };
  const d = decide(state, member, action, entry, {}, env, input.context);
  const current = entry?.versions.find((v) => v.id === entry.secret.stages.get('CURRENT'));
  return {
    Member: member.name,
    Action: action,
    Secret: entry?.secret.name ?? input.secret ?? '*',
    Decision: d.decision,
    ...(d.decidedBy
      ? { DecidedBy: { Policy: d.decidedBy.policy, ...(d.decidedBy.sid !== undefined ? { Sid: d.decidedBy.sid } : {}), Statement: d.decidedBy.index + 1 } }
      : {}),
    Reason: explain(d),
    Evaluated: d.admin ? ['admin role'] : applicablePolicies(state, member, entry).map((p) => p.label),
    ...(current ? { HoldsKey: current.keys.has(member.id) } : {}),
  };
}

/** What `secrets verify` reports. */
export interface VerifyReport {
  readonly VaultId: string;
  readonly Records: number;
  /** Records rejected (bad signature, unauthorized writer), each naming its line. */
  readonly Problems: string[];
  /** Secrets whose data keys are held by a different set of members than the policy allows. */
  readonly Drift: { Secret: string; Versions: number }[];
}

/** `secrets verify`: every signature, every writer's permission, and key/policy drift. */
export async function verifyVault(deps: CoreDeps): Promise<VerifyReport> {
  const { state } = await readAsMember(deps);
  const { checked, problems } = await deps.vault.verifyAll(state);
  const bySecret = new Map<string, number>();
  for (const d of drift(state)) bySecret.set(d.entry.secret.name, (bySecret.get(d.entry.secret.name) ?? 0) + 1);
  return {
    VaultId: state.vault.id,
    Records: checked,
    Problems: problems,
    Drift: [...bySecret].map(([Secret, Versions]) => ({ Secret, Versions })).sort((a, b) => (a.Secret < b.Secret ? -1 : 1)),
  };
}

/** `secrets reseal`: brings every version's readers in line with the policy (admin). */
export async function resealVault(deps: CoreDeps, progress?: Progress): Promise<{ Resealed: ResealReport }> {
  return adminChange(deps, { name: 'Reseal' }, 'reseal the vault', (state) => ({ state, result: {} }), progress);
}
