/**
 * The one authorization point (docs/policies.md). Every command asks `authorize` before it
 * touches a secret; the vault asks `mayRead` before it seals a data key to a member and
 * `writeProblem` before it accepts a record. Admins are allowed every action (like an AWS
 * account's root user); members get exactly what their attached identity policies and the
 * secret's resource policy allow.
 */
import { SecretsError } from './errors.js';
import type { MemberRecord, PolicyRecord, SecretEntry, SecretRecord, VaultState, VersionRecord } from './model.js';
import { checkPolicy, type Policy, type PolicyKind } from './policy.js';
import { conditionKeyInfo } from './policy-vocabulary.js';
import { type AccessRequest, type ApplicablePolicy, evaluate, type EvaluationResult } from './policy-eval.js';

/** Facts of one request that policies may test (beyond the secret and the principal). */
export interface RequestFacts {
  readonly requestTags?: ReadonlyMap<string, string>;
  readonly tagKeys?: readonly string[];
  readonly versionStages?: readonly string[];
  readonly versionId?: string;
  readonly recoveryWindowInDays?: number;
  readonly forceDelete?: boolean;
}

/** Where and when the request happens. */
export interface RequestEnvironment {
  readonly now: Date;
  readonly tty: boolean;
}

/** Actions that write a value; a version record's signer must be allowed the one it names. */
export const VALUE_ACTIONS = new Set(['CreateSecret', 'PutSecretValue', 'UpdateSecret', 'RotateSecret']);

/** Actions that change a secret's metadata record. */
export const METADATA_ACTIONS = new Set([
  'CreateSecret',
  'PutSecretValue',
  'UpdateSecret',
  'UpdateSecretVersionStage',
  'DeleteSecret',
  'RestoreSecret',
  'TagResource',
  'UntagResource',
  'RotateSecret',
  'CancelRotateSecret',
]);

/** What a policy decision reads of a member: a format-1 member record, or a replayed member. */
export type MemberLike = Pick<MemberRecord, 'id' | 'name' | 'roles' | 'removed'>;

/** What a policy decision reads of a policy record. */
export type PolicyLike = Pick<PolicyRecord, 'name' | 'secret' | 'doc' | 'attached'>;

/** What a policy decision reads of a secret: its name, id, description and tags. */
export type SecretLike = Pick<SecretRecord, 'id' | 'name' | 'description' | 'tags'>;

/** What a policy decision reads of a vault: its members (for holds) and its policies. */
export interface PolicyView {
  readonly members: readonly (MemberLike & Pick<MemberRecord, 'held'>)[];
  readonly policies: readonly PolicyLike[];
}

export function isAdmin(member: MemberLike): boolean {
  return member.roles.includes('admin') && member.removed === undefined;
}

/** Current (not removed) members. */
export function currentMembers(state: VaultState): MemberRecord[] {
  return state.members.filter((m) => m.removed === undefined);
}

/** The current member with this id, or undefined. */
export function findMember(state: VaultState, id: string): MemberRecord | undefined {
  return state.members.find((m) => m.id === id && m.removed === undefined);
}

/** The current member for `identityId`, or DENIED. */
export function requireMember(state: VaultState, identityId: string, location: string): MemberRecord {
  const member = findMember(state, identityId);
  if (!member) {
    const removed = state.members.some((m) => m.id === identityId);
    throw new SecretsError(
      'DENIED',
      `this identity (${identityId}) ${removed ? 'was removed from' : 'is not a member of'} the vault at ${location}`,
      removed && state.vault.format === 2
        ? 'a removal is final: an admin can add a new identity of yours (`secrets identity new` makes one)'
        : 'ask an admin of the vault to add it: `secrets identity show` prints what they need',
    );
  }
  return member;
}

/** Throws DENIED unless the member is an admin. */
export function requireAdmin(member: MemberRecord, what: string): void {
  if (!isAdmin(member)) {
    throw new SecretsError('DENIED', `only an admin can ${what}; member ${JSON.stringify(member.name)} is not one`, '`secrets member list` shows the admins');
  }
}

const parsed = new WeakMap<PolicyLike, Policy>();

/** The checked policy of a record (checked once per process). */
export function policyOf(record: PolicyLike): Policy {
  const cached = parsed.get(record);
  if (cached) return cached;
  const kind: PolicyKind = record.secret !== undefined ? 'resource' : 'identity';
  const { policy } = checkPolicy(record.doc, kind);
  if (!policy) {
    throw new SecretsError('INTEGRITY', `policy ${JSON.stringify(record.name ?? record.secret)} in the vault is not a valid policy`, 'run `secrets verify`');
  }
  parsed.set(record, policy);
  return policy;
}

/** The resource policy record of a secret, if any. */
export function resourcePolicyOf<P extends PolicyLike>(state: { readonly policies: readonly P[] }, secretId: string): P | undefined {
  return state.policies.find((p) => p.secret === secretId);
}

/** The identity policies attached to a member, and the secret's resource policy. */
export function applicablePolicies(state: PolicyView, member: MemberLike, entry: { readonly secret: SecretLike } | undefined): ApplicablePolicy[] {
  const out: ApplicablePolicy[] = [];
  for (const p of state.policies) {
    if (p.name !== undefined && p.attached.includes(member.id)) out.push({ label: `policy ${JSON.stringify(p.name)}`, policy: policyOf(p) });
  }
  const resource = entry && resourcePolicyOf(state, entry.secret.id);
  if (resource && entry) out.push({ label: `resource policy of ${entry.secret.name}`, policy: policyOf(resource) });
  return out;
}

/** The condition keys of a request, lower-cased. */
export function requestContext(
  member: MemberLike,
  secret: SecretLike | undefined,
  facts: RequestFacts,
  env: RequestEnvironment | undefined,
): Map<string, string[]> {
  const ctx = new Map<string, string[]>();
  ctx.set('secrets:principalname', [member.name]);
  ctx.set('secrets:principalid', [member.id]);
  if (secret) {
    ctx.set('secrets:name', [secret.name]);
    ctx.set('secrets:secretid', [secret.id]);
    if (secret.description !== undefined) ctx.set('secrets:description', [secret.description]);
    for (const [k, v] of secret.tags) ctx.set(`secrets:resourcetag/${k.toLowerCase()}`, [v]);
  }
  for (const [k, v] of facts.requestTags ?? []) ctx.set(`secrets:requesttag/${k.toLowerCase()}`, [v]);
  if (facts.tagKeys) ctx.set('secrets:tagkeys', [...facts.tagKeys]);
  if (facts.versionStages) ctx.set('secrets:versionstage', [...facts.versionStages]);
  if (facts.versionId !== undefined) ctx.set('secrets:versionid', [facts.versionId]);
  if (facts.recoveryWindowInDays !== undefined) ctx.set('secrets:recoverywindowindays', [String(facts.recoveryWindowInDays)]);
  if (facts.forceDelete !== undefined) ctx.set('secrets:forcedeletewithoutrecovery', [String(facts.forceDelete)]);
  if (env) {
    ctx.set('secrets:currenttime', [env.now.toISOString()]);
    ctx.set('secrets:epochtime', [String(Math.floor(env.now.getTime() / 1000))]);
    ctx.set('secrets:tty', [String(env.tty)]);
  }
  return ctx;
}

/** For a secret on hold: its tags and description count against a request, never for it. */
function heldKeys(state: VaultState, entry: SecretEntry | undefined): { doubtful?: (key: string) => boolean } {
  return entry !== undefined && heldBy(state, entry.secret.id) !== undefined ? { doubtful: heldKey } : {};
}

/** A decision, with `admin` set when the role decided it. */
export type AccessDecision = EvaluationResult & { readonly admin?: boolean };

/** Evaluates one request (no side effects). `context` overrides any derived key. */
export function decide(
  state: VaultState,
  member: MemberRecord,
  action: string,
  entry: SecretEntry | undefined,
  facts: RequestFacts,
  env: RequestEnvironment,
  overrides?: ReadonlyMap<string, readonly string[]>,
): AccessDecision {
  if (isAdmin(member)) return { decision: 'allowed', admin: true };
  const context = requestContext(member, entry?.secret, facts, env);
  for (const [k, v] of overrides ?? []) context.set(k.toLowerCase(), [...v]);
  const full = action.includes(':') ? action : `secrets:${action}`;
  const req: AccessRequest = { action: full, resource: entry?.secret.name ?? '*', principal: member, context, ...heldKeys(state, entry) };
  return evaluate(applicablePolicies(state, member, entry), req);
}

/** Keys only a live request knows (its time and terminal): unknown when a recorded op is judged. */
const LIVE_KEYS: ReadonlySet<string> = new Set(['secrets:currenttime', 'secrets:epochtime', 'secrets:tty']);

/**
 * Evaluates a recorded request (an op of a format-2 log) against a state before it: the facts
 * its body carries are known, the secret's tags and description are the state's, and the keys
 * only a live request knows are unknown, as in the vault-side decisions of format 1 (an Allow
 * that depends on them counts, a Deny that depends on them does not).
 */
export function decideRecorded(
  view: PolicyView,
  member: MemberLike,
  action: string,
  secret: SecretLike | undefined,
  facts: RequestFacts,
  held = false,
): AccessDecision {
  if (isAdmin(member)) return { decision: 'allowed', admin: true };
  const req: AccessRequest = {
    action: `secrets:${action}`,
    resource: secret?.name ?? '*',
    principal: member,
    context: requestContext(member, secret, facts, undefined),
    unknown: (key) => LIVE_KEYS.has(key),
    ...(held ? { doubtful: heldKey } : {}),
  };
  return evaluate(applicablePolicies(view, member, secret && { secret }), req);
}

/** One line saying why a request was decided so. */
export function explain(result: AccessDecision): string {
  if (result.admin) return 'allowed by the admin role (admins may do everything)';
  const by = result.decidedBy;
  const where = by ? `${by.policy}, statement ${by.sid !== undefined ? JSON.stringify(by.sid) : `#${by.index + 1}`}` : '';
  switch (result.decision) {
    case 'allowed':
      return `allowed by ${where}`;
    case 'explicitDeny':
      return `explicit deny in ${where}`;
    case 'implicitDeny':
      return 'implicit deny: no statement allows it';
  }
}

/**
 * The authorization point. Throws DENIED (exit 5) naming the action, the secret and the reason.
 * `onDenied` lets the caller record the denial (the audit trail) before the error propagates.
 */
export function authorize(
  state: VaultState,
  member: MemberRecord,
  action: string,
  entry: SecretEntry | undefined,
  facts: RequestFacts,
  env: RequestEnvironment,
): void {
  const result = decide(state, member, action, entry, facts, env);
  if (result.decision === 'allowed') return;
  const target = entry ? ` on ${entry.secret.name}` : '';
  throw new SecretsError(
    'DENIED',
    `${member.name} is not allowed secrets:${action}${target}: ${explain(result)}`,
    `\`secrets policy simulate --member ${member.name} --action secrets:${action}${entry ? ` --secret ${entry.secret.name}` : ''}\` explains it; an admin can change the policies`,
  );
}

const keptSets = new WeakMap<MemberRecord, ReadonlySet<string>>();

/**
 * Whether `record` is history an admin kept when its writer lost the permission it was written
 * with (removal, or a narrower policy): its writer's (admin-signed) member record lists its
 * signature. Such a record keeps its author and stays valid; nothing the writer's key signs
 * later is on that list.
 */
export function isKept(state: VaultState, record: { readonly by: string; readonly sig?: string }): boolean {
  if (record.sig === undefined) return false;
  const author = state.members.find((m) => m.id === record.by);
  if (author?.kept === undefined) return false;
  let set = keptSets.get(author);
  if (!set) {
    set = new Set(author.kept);
    keptSets.set(author, set);
  }
  return set.has(record.sig);
}

/**
 * The member whose settings on this secret (rotation handler, tags, description) are on hold
 * until an admin confirms them, if any: they wrote its record last, then lost the permission.
 */
export function heldBy(state: VaultState, secretId: string): MemberRecord | undefined {
  return state.members.find((m) => m.held?.includes(secretId) === true);
}

/**
 * Keys a held secret's own record decides (its tags and description, present or removed):
 * never trusted to allow, always trusted to deny.
 */
function heldKey(key: string): boolean {
  return key.startsWith('secrets:resourcetag/') || key === 'secrets:description';
}

/**
 * Whether a rotation handler can do more than make a new value: run a program this machine
 * allowed, or log in to a service named in a value (with a master secret's credentials).
 */
export function handlerActs(handler: string): boolean {
  return handler !== 'password';
}

/** Request-only keys are unknown to vault-side decisions. */
function unknownToVault(key: string): boolean {
  return conditionKeyInfo(key)?.known !== 'resource';
}

/** Whether the vault should let `member` act on `entry` at all (some request could be allowed). */
function mayEver(state: VaultState, member: MemberRecord, action: string, entry: SecretEntry): boolean {
  return member.removed === undefined && mayEverRecorded(state, member, action, entry.secret, heldBy(state, entry.secret.id) !== undefined);
}

/**
 * Whether some request by `member` for `action` on `secret` could be allowed by the policies
 * of `view`: the vault-side decision of who receives a secret's data keys. Request-only keys
 * are unknown; a held secret's tags and description count against, never for.
 */
export function mayEverRecorded(view: PolicyView, member: MemberLike, action: string, secret: SecretLike, held: boolean): boolean {
  if (isAdmin(member)) return true;
  const req: AccessRequest = {
    action: `secrets:${action}`,
    resource: secret.name,
    principal: member,
    context: requestContext(member, secret, {}, undefined),
    unknown: unknownToVault,
    ...(held ? { doubtful: heldKey } : {}),
  };
  return evaluate(applicablePolicies(view, member, { secret }), req).decision === 'allowed';
}

/** Whether `member` receives the data keys of `entry` (read is enforced by who holds them). */
export function mayRead(state: VaultState, member: MemberRecord, entry: SecretEntry): boolean {
  return mayEver(state, member, 'GetSecretValue', entry);
}

/** The members who receive the data keys of `entry`, sorted by id. */
export function readersOf(state: VaultState, entry: SecretEntry): MemberRecord[] {
  return currentMembers(state)
    .filter((m) => mayRead(state, m, entry))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
}

/**
 * Why a stored secret or version record must be rejected, or undefined when its signer was
 * allowed to write it: a current member allowed the record's action on that secret.
 */
export function writeProblem(state: VaultState, record: SecretRecord | VersionRecord, entry: SecretEntry): string | undefined {
  const signer = findMember(state, record.by);
  if (!signer) return isKept(state, record) ? undefined : `it is signed by ${record.by}, who is not a current member`;
  if (isAdmin(signer)) return undefined;
  const act = record.act;
  const allowed = record.kind === 'version' ? VALUE_ACTIONS : METADATA_ACTIONS;
  if (act === undefined || !allowed.has(act)) return isKept(state, record) ? undefined : `it names no action ${signer.name} could have written it with`;
  if (!mayEver(state, signer, act, entry)) return isKept(state, record) ? undefined : `${signer.name} is not allowed secrets:${act} on ${entry.secret.name}`;
  return undefined;
}

/** Ids of the secrets a member can read now (by policy), for the exposure list. */
export function readableBy(state: VaultState, member: MemberRecord): string[] {
  return state.secrets.filter((e) => e.versions.some((v) => v.keys.has(member.id)) || mayRead(state, member, e)).map((e) => e.secret.id);
}
