/**
 * The policy language (docs/policies.md): IAM evaluation with its subtle corners, the three-valued
 * mode the vault uses to decide who receives data keys and whose records it accepts, the grammar
 * checker's errors and warnings with their paths, algebraic properties of evaluation over random
 * policies, and the authorization point in access.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decide, mayRead, readersOf, writeProblem } from '../src/core/access.js';
import type { MemberRecord, PolicyRecord, SecretEntry, SecretRecord, VaultState, VersionRecord } from '../src/core/model.js';
import { checkPolicy } from '../src/cli/policy-issues.js';
import type { Policy, PolicyIssue, PolicyKind } from '../src/core/policy.js';
import { ACTIONS, CONDITION_KEYS, parseOperator, wildcardMatch } from '../src/core/policy-vocabulary.js';
import { type AccessRequest, type ApplicablePolicy, type Decision, evaluate, type EvaluationResult, statementMatches } from '../src/core/policy-eval.js';

const VERSION = '2012-10-17';
const RUNS = 300;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

/** A document with these statements. */
function docOf(...statements: Json[]): Json {
  return { Version: VERSION, Statement: statements };
}

/** A checked policy; fails the test when the document has errors. */
function compile(doc: unknown, kind: PolicyKind = 'identity'): Policy {
  const { policy, issues } = checkPolicy(doc, kind);
  const errors = issues.filter((i) => i.level === 'error');
  assert.deepEqual(errors, [], `document should be valid: ${JSON.stringify(doc)}`);
  assert.ok(policy);
  return policy;
}

/** Applicable policies labelled p1, p2, … (a doc with `Principal`/`NotPrincipal` is a resource policy). */
function applicable(docs: readonly Json[]): ApplicablePolicy[] {
  return docs.map((doc, i) => {
    const statements = Array.isArray(doc.Statement) ? (doc.Statement as Json[]) : [doc.Statement as Json];
    const kind: PolicyKind = statements.some((s) => 'Principal' in s || 'NotPrincipal' in s) ? 'resource' : 'identity';
    return { label: `p${i + 1}`, policy: compile(doc, kind) };
  });
}

interface RequestSpec {
  action?: string;
  resource?: string;
  /** Condition keys (any case; lower-cased here as the request context requires). */
  ctx?: Record<string, string | string[]>;
  principal?: { id: string; name: string };
  unknown?: (key: string) => boolean;
}

function request(spec: RequestSpec = {}): AccessRequest {
  const context = new Map<string, string[]>();
  for (const [k, v] of Object.entries(spec.ctx ?? {})) context.set(k.toLowerCase(), Array.isArray(v) ? v : [v]);
  const base = {
    action: spec.action ?? 'secrets:GetSecretValue',
    resource: spec.resource ?? 'prod/db',
    principal: spec.principal ?? { id: 'id-bob', name: 'bob' },
    context,
  };
  return spec.unknown ? { ...base, unknown: spec.unknown } : base;
}

function allow(action: unknown = 'secrets:GetSecretValue', resource: unknown = '*', extra: Json = {}): Json {
  return { Effect: 'Allow', Action: action, Resource: resource, ...extra };
}

function deny(action: unknown = 'secrets:GetSecretValue', resource: unknown = '*', extra: Json = {}): Json {
  return { Effect: 'Deny', Action: action, Resource: resource, ...extra };
}

const ENV = 'secrets:resourcetag/environment';

// ---------------------------------------------------------------------------------------------
// 1. Evaluation
// ---------------------------------------------------------------------------------------------

interface EvalCase {
  name: string;
  docs: Json[];
  req?: RequestSpec;
  expect: Decision;
  decidedBy?: EvaluationResult['decidedBy'];
}

const EVAL_CASES: EvalCase[] = [
  // Deny > Allow > implicit deny.
  { name: 'no policies: implicit deny', docs: [], expect: 'implicitDeny' },
  { name: 'no matching statement: implicit deny', docs: [docOf(allow('secrets:PutSecretValue'))], expect: 'implicitDeny' },
  { name: 'an Allow that matches', docs: [docOf(allow())], expect: 'allowed' },
  { name: 'explicit Deny beats Allow in the same policy (Deny first)', docs: [docOf(deny(), allow())], expect: 'explicitDeny' },
  { name: 'explicit Deny beats Allow in the same policy (Deny last)', docs: [docOf(allow(), deny())], expect: 'explicitDeny' },
  { name: 'explicit Deny beats Allow across policies', docs: [docOf(allow()), docOf(deny())], expect: 'explicitDeny' },
  { name: 'explicit Deny beats Allow across policies (other order)', docs: [docOf(deny()), docOf(allow())], expect: 'explicitDeny' },
  { name: 'a Deny on another action does not deny', docs: [docOf(allow(), deny('secrets:PutSecretValue'))], expect: 'allowed' },
  { name: 'a Deny alone is still a deny', docs: [docOf(deny())], expect: 'explicitDeny' },

  // NotAction / NotResource.
  { name: 'Allow NotAction: other actions allowed', docs: [docOf({ Effect: 'Allow', NotAction: 'secrets:Delete*', Resource: '*' })], expect: 'allowed' },
  {
    name: 'Allow NotAction: the excluded action is not allowed',
    docs: [docOf({ Effect: 'Allow', NotAction: 'secrets:Delete*', Resource: '*' })],
    req: { action: 'secrets:DeleteSecret' },
    expect: 'implicitDeny',
  },
  {
    name: 'Deny NotAction denies every other action',
    docs: [docOf(allow('*'), { Effect: 'Deny', NotAction: 'secrets:GetSecretValue', Resource: '*' })],
    req: { action: 'secrets:PutSecretValue' },
    expect: 'explicitDeny',
  },
  {
    name: 'Deny NotAction leaves the named action alone',
    docs: [docOf(allow('*'), { Effect: 'Deny', NotAction: 'secrets:GetSecretValue', Resource: '*' })],
    expect: 'allowed',
  },
  {
    name: 'Allow NotResource: other secrets allowed',
    docs: [docOf({ Effect: 'Allow', Action: 'secrets:GetSecretValue', NotResource: 'prod/*' })],
    req: { resource: 'dev/db' },
    expect: 'allowed',
  },
  {
    name: 'Allow NotResource: the excluded secrets are not',
    docs: [docOf({ Effect: 'Allow', Action: 'secrets:GetSecretValue', NotResource: 'prod/*' })],
    req: { resource: 'prod/db' },
    expect: 'implicitDeny',
  },
  {
    name: 'Deny NotResource denies every other secret',
    docs: [docOf(allow(), { Effect: 'Deny', Action: 'secrets:GetSecretValue', NotResource: 'dev/*' })],
    req: { resource: 'prod/db' },
    expect: 'explicitDeny',
  },
  {
    name: 'Deny NotResource leaves the named secrets alone',
    docs: [docOf(allow(), { Effect: 'Deny', Action: 'secrets:GetSecretValue', NotResource: 'dev/*' })],
    req: { resource: 'dev/db' },
    expect: 'allowed',
  },
];

interface MatchCase {
  pattern: string;
  value: string;
  match: boolean;
}

/** Resource patterns: IAM wildcards, `*` crosses `/`, case-sensitive. */
const RESOURCE_CASES: MatchCase[] = [
  { pattern: 'prod/*', value: 'prod/api/key', match: true },
  { pattern: 'prod/*', value: 'prod/db', match: true },
  { pattern: 'prod/*', value: 'prod/', match: true },
  { pattern: 'prod/*', value: 'production', match: false },
  { pattern: 'prod/*', value: 'Prod/db', match: false },
  { pattern: 'prod/*', value: 'dev/prod/db', match: false },
  { pattern: '*/key', value: 'prod/api/key', match: true },
  { pattern: '*/key', value: 'prod/api/keys', match: false },
  { pattern: '*', value: 'any/thing/at/all', match: true },
  { pattern: 'prod/?b', value: 'prod/db', match: true },
  { pattern: 'prod/?b', value: 'prod/b', match: false },
  { pattern: 'prod/?b', value: 'prod/dbb', match: false },
  { pattern: 'prod?db', value: 'prod/db', match: true },
  { pattern: 'prod/db', value: 'prod/db', match: true },
  { pattern: 'prod/db', value: 'prod/db2', match: false },
  { pattern: 'prod/db', value: 'PROD/DB', match: false },
  { pattern: 'a*b*c', value: 'a/x/b/y/c', match: true },
  { pattern: 'a*b*c', value: 'a/x/c/y/b', match: false },
];

/** Action patterns: IAM wildcards, case-insensitive (both sides). */
const ACTION_CASES: MatchCase[] = [
  { pattern: 'secrets:Get*', value: 'secrets:GetSecretValue', match: true },
  { pattern: 'secrets:Get*', value: 'secrets:GetResourcePolicy', match: true },
  { pattern: 'secrets:Get*', value: 'secrets:PutSecretValue', match: false },
  { pattern: '*', value: 'secrets:ListSecrets', match: true },
  { pattern: 'secrets:*', value: 'secrets:DeleteSecret', match: true },
  { pattern: 'secrets:?etSecretValue', value: 'secrets:GetSecretValue', match: true },
  { pattern: 'secrets:GetSecretValue', value: 'SECRETS:getsecretvalue', match: true },
  { pattern: 'SECRETS:GETSECRETVALUE', value: 'secrets:GetSecretValue', match: true },
  { pattern: 'secrets:get*', value: 'secrets:GetSecretValue', match: true },
  { pattern: 'secrets:GetSecretValue', value: 'secrets:GetSecretValues', match: false },
];

interface ConditionCase {
  name: string;
  condition: Json;
  ctx?: Record<string, string | string[]>;
  expect: boolean;
}

const T0 = '2026-01-01T00:00:00.000Z';
const T0_EPOCH = '1767225600';

/** Each condition sits on an Allow; `expect` is whether the request is allowed. */
const CONDITION_CASES: ConditionCase[] = [
  // StringEquals / StringLike.
  { name: 'StringEquals equal', condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'prod' } }, ctx: { [ENV]: 'prod' }, expect: true },
  { name: 'StringEquals different', condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'prod' } }, ctx: { [ENV]: 'dev' }, expect: false },
  { name: 'StringEquals is case-sensitive', condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'prod' } }, ctx: { [ENV]: 'Prod' }, expect: false },
  { name: 'StringEquals absent key', condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'prod' } }, expect: false },
  {
    name: 'StringEquals takes * literally (no match)',
    condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'pr*' } },
    ctx: { [ENV]: 'prod' },
    expect: false,
  },
  {
    name: 'StringEquals takes * literally (match)',
    condition: { StringEquals: { 'secrets:ResourceTag/Environment': '*' } },
    ctx: { [ENV]: '*' },
    expect: true,
  },
  { name: 'StringEquals takes ? literally', condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'pro?' } }, ctx: { [ENV]: 'prod' }, expect: false },
  { name: 'StringLike * wildcard', condition: { StringLike: { 'secrets:ResourceTag/Environment': 'pr*' } }, ctx: { [ENV]: 'prod' }, expect: true },
  { name: 'StringLike * alone', condition: { StringLike: { 'secrets:ResourceTag/Environment': '*' } }, ctx: { [ENV]: 'anything' }, expect: true },
  { name: 'StringLike * on an absent key', condition: { StringLike: { 'secrets:ResourceTag/Environment': '*' } }, expect: false },
  { name: 'StringLike ? is one character', condition: { StringLike: { 'secrets:ResourceTag/Environment': 'p?od' } }, ctx: { [ENV]: 'prod' }, expect: true },
  {
    name: 'StringLike ? is not zero characters',
    condition: { StringLike: { 'secrets:ResourceTag/Environment': 'p?rod' } },
    ctx: { [ENV]: 'prod' },
    expect: false,
  },
  {
    name: 'StringLike: a literal * in the value is matched by a pattern *',
    condition: { StringLike: { 'secrets:Description': 'draft*' } },
    ctx: { 'secrets:description': 'draft*v2' },
    expect: true,
  },
  {
    name: 'StringLike * matches a value starting with *',
    condition: { StringLike: { 'secrets:Description': '*' } },
    ctx: { 'secrets:description': '*deprecated*' },
    expect: true,
  },
  {
    name: 'StringNotLike * on a value with a literal *',
    condition: { StringNotLike: { 'secrets:Description': '*old*' } },
    ctx: { 'secrets:description': '**old** key' },
    expect: false,
  },
  {
    name: 'StringEqualsIgnoreCase',
    condition: { StringEqualsIgnoreCase: { 'secrets:ResourceTag/Environment': 'PROD' } },
    ctx: { [ENV]: 'prod' },
    expect: true,
  },
  { name: 'multiple values are OR', condition: { StringEquals: { 'secrets:ResourceTag/Environment': ['prod', 'dev'] } }, ctx: { [ENV]: 'dev' }, expect: true },
  {
    name: 'multiple values, none equal',
    condition: { StringEquals: { 'secrets:ResourceTag/Environment': ['prod', 'dev'] } },
    ctx: { [ENV]: 'test' },
    expect: false,
  },

  // …IfExists.
  { name: 'StringEqualsIfExists absent key is true', condition: { StringEqualsIfExists: { 'secrets:ResourceTag/Environment': 'prod' } }, expect: true },
  {
    name: 'StringEqualsIfExists present and equal',
    condition: { StringEqualsIfExists: { 'secrets:ResourceTag/Environment': 'prod' } },
    ctx: { [ENV]: 'prod' },
    expect: true,
  },
  {
    name: 'StringEqualsIfExists present and different',
    condition: { StringEqualsIfExists: { 'secrets:ResourceTag/Environment': 'prod' } },
    ctx: { [ENV]: 'dev' },
    expect: false,
  },
  { name: 'DateLessThanIfExists absent key is true', condition: { DateLessThanIfExists: { 'secrets:CurrentTime': T0 } }, expect: true },
  { name: 'NumericLessThanIfExists absent key is true', condition: { NumericLessThanIfExists: { 'secrets:RecoveryWindowInDays': 7 } }, expect: true },
  { name: 'BoolIfExists absent key is true', condition: { BoolIfExists: { 'secrets:Tty': 'true' } }, expect: true },

  // Negated operators.
  { name: 'StringNotEquals absent key is true', condition: { StringNotEquals: { 'secrets:ResourceTag/Environment': 'prod' } }, expect: true },
  {
    name: 'StringNotEquals equal value is false',
    condition: { StringNotEquals: { 'secrets:ResourceTag/Environment': 'prod' } },
    ctx: { [ENV]: 'prod' },
    expect: false,
  },
  {
    name: 'StringNotEquals list: differs from every value',
    condition: { StringNotEquals: { 'secrets:ResourceTag/Environment': ['prod', 'dev'] } },
    ctx: { [ENV]: 'test' },
    expect: true,
  },
  {
    name: 'StringNotEquals list: equal to the second value',
    condition: { StringNotEquals: { 'secrets:ResourceTag/Environment': ['prod', 'dev'] } },
    ctx: { [ENV]: 'dev' },
    expect: false,
  },
  {
    name: 'StringNotEquals list: equal to the first value',
    condition: { StringNotEquals: { 'secrets:ResourceTag/Environment': ['prod', 'dev'] } },
    ctx: { [ENV]: 'prod' },
    expect: false,
  },
  { name: 'StringNotLike absent key is true', condition: { StringNotLike: { 'secrets:ResourceTag/Environment': 'prod*' } }, expect: true },
  {
    name: 'StringNotLike matching value is false',
    condition: { StringNotLike: { 'secrets:ResourceTag/Environment': 'prod*' } },
    ctx: { [ENV]: 'production' },
    expect: false,
  },
  {
    name: 'StringNotLike other value is true',
    condition: { StringNotLike: { 'secrets:ResourceTag/Environment': 'prod*' } },
    ctx: { [ENV]: 'dev' },
    expect: true,
  },
  {
    name: 'StringNotLike list: matching any is false',
    condition: { StringNotLike: { 'secrets:ResourceTag/Environment': ['prod*', 'dev*'] } },
    ctx: { [ENV]: 'dev1' },
    expect: false,
  },
  {
    name: 'StringNotEqualsIgnoreCase',
    condition: { StringNotEqualsIgnoreCase: { 'secrets:ResourceTag/Environment': 'PROD' } },
    ctx: { [ENV]: 'prod' },
    expect: false,
  },
  { name: 'NumericNotEquals absent key is true', condition: { NumericNotEquals: { 'secrets:RecoveryWindowInDays': 7 } }, expect: true },
  { name: 'DateNotEquals absent key is true', condition: { DateNotEquals: { 'secrets:CurrentTime': T0 } }, expect: true },

  // Set qualifiers.
  { name: 'ForAnyValue absent key is false', condition: { 'ForAnyValue:StringEquals': { 'secrets:TagKeys': 'env' } }, expect: false },
  { name: 'ForAllValues absent key is true', condition: { 'ForAllValues:StringEquals': { 'secrets:TagKeys': 'env' } }, expect: true },
  {
    name: 'ForAllValues empty list is true',
    condition: { 'ForAllValues:StringEquals': { 'secrets:TagKeys': 'env' } },
    ctx: { 'secrets:tagkeys': [] },
    expect: true,
  },
  {
    name: 'ForAnyValue empty list is false',
    condition: { 'ForAnyValue:StringEquals': { 'secrets:TagKeys': 'env' } },
    ctx: { 'secrets:tagkeys': [] },
    expect: false,
  },
  {
    name: 'ForAnyValue one of several matches',
    condition: { 'ForAnyValue:StringEquals': { 'secrets:TagKeys': ['env', 'team'] } },
    ctx: { 'secrets:tagkeys': ['owner', 'env'] },
    expect: true,
  },
  {
    name: 'ForAnyValue none matches',
    condition: { 'ForAnyValue:StringEquals': { 'secrets:TagKeys': ['env', 'team'] } },
    ctx: { 'secrets:tagkeys': ['owner'] },
    expect: false,
  },
  {
    name: 'ForAnyValue:StringLike',
    condition: { 'ForAnyValue:StringLike': { 'secrets:TagKeys': 'own*' } },
    ctx: { 'secrets:tagkeys': ['env', 'owner'] },
    expect: true,
  },
  {
    name: 'ForAllValues all in the set',
    condition: { 'ForAllValues:StringEquals': { 'secrets:TagKeys': ['env', 'team'] } },
    ctx: { 'secrets:tagkeys': ['team', 'env'] },
    expect: true,
  },
  {
    name: 'ForAllValues one outside the set',
    condition: { 'ForAllValues:StringEquals': { 'secrets:TagKeys': ['env', 'team'] } },
    ctx: { 'secrets:tagkeys': ['env', 'owner'] },
    expect: false,
  },
  {
    name: 'ForAllValues:StringNotEquals none forbidden',
    condition: { 'ForAllValues:StringNotEquals': { 'secrets:TagKeys': ['admin', 'root'] } },
    ctx: { 'secrets:tagkeys': ['env', 'team'] },
    expect: true,
  },
  {
    name: 'ForAllValues:StringNotEquals one forbidden',
    condition: { 'ForAllValues:StringNotEquals': { 'secrets:TagKeys': ['admin', 'root'] } },
    ctx: { 'secrets:tagkeys': ['env', 'root'] },
    expect: false,
  },
  { name: 'ForAllValues:StringNotEquals absent key is true', condition: { 'ForAllValues:StringNotEquals': { 'secrets:TagKeys': ['admin'] } }, expect: true },
  {
    name: 'ForAnyValue:StringNotEquals all forbidden',
    condition: { 'ForAnyValue:StringNotEquals': { 'secrets:TagKeys': 'env' } },
    ctx: { 'secrets:tagkeys': ['env'] },
    expect: false,
  },
  {
    name: 'ForAnyValue:StringNotEquals one other',
    condition: { 'ForAnyValue:StringNotEquals': { 'secrets:TagKeys': 'env' } },
    ctx: { 'secrets:tagkeys': ['env', 'x'] },
    expect: true,
  },
  {
    name: 'unqualified on a multi-valued key: any value',
    condition: { StringEquals: { 'secrets:TagKeys': 'env' } },
    ctx: { 'secrets:tagkeys': ['x', 'env'] },
    expect: true,
  },
  {
    name: 'unqualified negated on a multi-valued key: differs from all',
    condition: { StringNotEquals: { 'secrets:TagKeys': 'env' } },
    ctx: { 'secrets:tagkeys': ['x', 'env'] },
    expect: false,
  },

  // Null.
  { name: 'Null true: key absent', condition: { Null: { 'secrets:RequestTag/Owner': 'true' } }, expect: true },
  { name: 'Null true: key present', condition: { Null: { 'secrets:RequestTag/Owner': 'true' } }, ctx: { 'secrets:requesttag/owner': 'a' }, expect: false },
  { name: 'Null false: key absent', condition: { Null: { 'secrets:RequestTag/Owner': 'false' } }, expect: false },
  { name: 'Null false: key present', condition: { Null: { 'secrets:RequestTag/Owner': false } }, ctx: { 'secrets:requesttag/owner': 'a' }, expect: true },

  // Dates: strict bounds, ISO and epoch seconds.
  {
    name: 'DateLessThan at the bound is false',
    condition: { DateLessThan: { 'secrets:CurrentTime': '2026-01-01T00:00:00Z' } },
    ctx: { 'secrets:currenttime': T0 },
    expect: false,
  },
  {
    name: 'DateLessThan before the bound',
    condition: { DateLessThan: { 'secrets:CurrentTime': '2026-01-01T00:00:00Z' } },
    ctx: { 'secrets:currenttime': '2025-12-31T23:59:59.999Z' },
    expect: true,
  },
  {
    name: 'DateLessThanEquals at the bound is true',
    condition: { DateLessThanEquals: { 'secrets:CurrentTime': '2026-01-01T00:00:00Z' } },
    ctx: { 'secrets:currenttime': T0 },
    expect: true,
  },
  {
    name: 'DateGreaterThan at the bound is false',
    condition: { DateGreaterThan: { 'secrets:CurrentTime': '2026-01-01T00:00:00Z' } },
    ctx: { 'secrets:currenttime': T0 },
    expect: false,
  },
  {
    name: 'DateGreaterThanEquals at the bound is true',
    condition: { DateGreaterThanEquals: { 'secrets:CurrentTime': '2026-01-01T00:00:00Z' } },
    ctx: { 'secrets:currenttime': T0 },
    expect: true,
  },
  {
    name: 'DateGreaterThan after the bound',
    condition: { DateGreaterThan: { 'secrets:CurrentTime': '2026-01-01T00:00:00Z' } },
    ctx: { 'secrets:currenttime': '2026-01-01T00:00:00.001Z' },
    expect: true,
  },
  { name: 'DateEquals with epoch seconds', condition: { DateEquals: { 'secrets:CurrentTime': T0_EPOCH } }, ctx: { 'secrets:currenttime': T0 }, expect: true },
  {
    name: 'DateLessThan epoch seconds at the bound',
    condition: { DateLessThan: { 'secrets:CurrentTime': Number(T0_EPOCH) } },
    ctx: { 'secrets:currenttime': T0 },
    expect: false,
  },
  {
    name: 'DateLessThan with a date only',
    condition: { DateLessThan: { 'secrets:CurrentTime': '2026-06-01' } },
    ctx: { 'secrets:currenttime': T0 },
    expect: true,
  },
  {
    name: 'DateGreaterThan with a time zone offset',
    condition: { DateGreaterThan: { 'secrets:CurrentTime': '2026-01-01T01:00:00+02:00' } },
    ctx: { 'secrets:currenttime': T0 },
    expect: true,
  },
  { name: 'DateLessThan absent key is false', condition: { DateLessThan: { 'secrets:CurrentTime': '2030-01-01T00:00:00Z' } }, expect: false },

  // Numbers.
  {
    name: 'NumericGreaterThanEquals at the bound',
    condition: { NumericGreaterThanEquals: { 'secrets:RecoveryWindowInDays': 7 } },
    ctx: { 'secrets:recoverywindowindays': '7' },
    expect: true,
  },
  {
    name: 'NumericGreaterThanEquals below',
    condition: { NumericGreaterThanEquals: { 'secrets:RecoveryWindowInDays': 7 } },
    ctx: { 'secrets:recoverywindowindays': '6' },
    expect: false,
  },
  {
    name: 'NumericLessThan at the bound is false',
    condition: { NumericLessThan: { 'secrets:RecoveryWindowInDays': '30' } },
    ctx: { 'secrets:recoverywindowindays': '30' },
    expect: false,
  },
  {
    name: 'NumericLessThanEquals at the bound',
    condition: { NumericLessThanEquals: { 'secrets:RecoveryWindowInDays': '30' } },
    ctx: { 'secrets:recoverywindowindays': '30' },
    expect: true,
  },
  {
    name: 'NumericGreaterThan compares numbers, not strings',
    condition: { NumericGreaterThan: { 'secrets:RecoveryWindowInDays': 9 } },
    ctx: { 'secrets:recoverywindowindays': '10' },
    expect: true,
  },
  {
    name: 'NumericEquals 7 = 7.0',
    condition: { NumericEquals: { 'secrets:RecoveryWindowInDays': '7.0' } },
    ctx: { 'secrets:recoverywindowindays': '7' },
    expect: true,
  },
  {
    name: 'NumericNotEquals different',
    condition: { NumericNotEquals: { 'secrets:RecoveryWindowInDays': [7, 30] } },
    ctx: { 'secrets:recoverywindowindays': '10' },
    expect: true,
  },
  { name: 'NumericLessThan absent key is false', condition: { NumericLessThan: { 'secrets:RecoveryWindowInDays': 30 } }, expect: false },

  // Bool.
  { name: 'Bool true on a tty', condition: { Bool: { 'secrets:Tty': 'true' } }, ctx: { 'secrets:tty': 'true' }, expect: true },
  { name: 'Bool true without a tty', condition: { Bool: { 'secrets:Tty': 'true' } }, ctx: { 'secrets:tty': 'false' }, expect: false },
  { name: 'Bool with a JSON boolean', condition: { Bool: { 'secrets:Tty': false } }, ctx: { 'secrets:tty': 'false' }, expect: true },
  { name: 'Bool absent key is false', condition: { Bool: { 'secrets:Tty': 'true' } }, expect: false },

  // Tags and key case.
  {
    name: 'RequestTag equal',
    condition: { StringEquals: { 'secrets:RequestTag/Owner': 'team-a' } },
    ctx: { 'secrets:requesttag/owner': 'team-a' },
    expect: true,
  },
  { name: 'RequestTag is not ResourceTag', condition: { StringEquals: { 'secrets:RequestTag/Environment': 'prod' } }, ctx: { [ENV]: 'prod' }, expect: false },
  {
    name: 'condition keys are case-insensitive (upper)',
    condition: { StringEquals: { 'SECRETS:RESOURCETAG/ENVIRONMENT': 'prod' } },
    ctx: { [ENV]: 'prod' },
    expect: true,
  },
  {
    name: 'condition keys are case-insensitive (lower)',
    condition: { StringEquals: { 'secrets:resourcetag/environment': 'prod' } },
    ctx: { [ENV]: 'prod' },
    expect: true,
  },
  {
    name: 'condition keys are case-insensitive (Name)',
    condition: { StringEquals: { 'Secrets:NAME': 'prod/db' } },
    ctx: { 'secrets:name': 'prod/db' },
    expect: true,
  },

  // AND across keys and operators.
  {
    name: 'two keys under one operator: both hold',
    condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'prod', 'secrets:ResourceTag/Team': 'a' } },
    ctx: { [ENV]: 'prod', 'secrets:resourcetag/team': 'a' },
    expect: true,
  },
  {
    name: 'two keys under one operator: one fails',
    condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'prod', 'secrets:ResourceTag/Team': 'a' } },
    ctx: { [ENV]: 'prod', 'secrets:resourcetag/team': 'b' },
    expect: false,
  },
  {
    name: 'two operators: both hold',
    condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'prod' }, Bool: { 'secrets:Tty': 'true' } },
    ctx: { [ENV]: 'prod', 'secrets:tty': 'true' },
    expect: true,
  },
  {
    name: 'two operators: one fails',
    condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'prod' }, Bool: { 'secrets:Tty': 'true' } },
    ctx: { [ENV]: 'prod', 'secrets:tty': 'false' },
    expect: false,
  },
];

describe('policy evaluation', () => {
  for (const c of EVAL_CASES) {
    it(c.name, () => {
      const result = evaluate(applicable(c.docs), request(c.req));
      assert.equal(result.decision, c.expect);
      if (c.decidedBy) assert.deepEqual(result.decidedBy, c.decidedBy);
    });
  }

  it('Resource patterns: IAM wildcards, * crosses /, ? is one character, case-sensitive', () => {
    for (const c of RESOURCE_CASES) {
      const result = evaluate(applicable([docOf(allow('secrets:GetSecretValue', c.pattern))]), request({ resource: c.value }));
      assert.equal(result.decision === 'allowed', c.match, `Resource ${JSON.stringify(c.pattern)} vs ${JSON.stringify(c.value)}`);
      assert.equal(wildcardMatch(c.pattern, c.value), c.match, `wildcardMatch(${JSON.stringify(c.pattern)}, ${JSON.stringify(c.value)})`);
      // The same pattern on a Deny denies exactly the same requests.
      const denied = evaluate(applicable([docOf(allow('*'), deny('*', c.pattern))]), request({ resource: c.value }));
      assert.equal(denied.decision === 'explicitDeny', c.match, `Deny Resource ${JSON.stringify(c.pattern)} vs ${JSON.stringify(c.value)}`);
    }
  });

  it('wildcardMatch: a * in the pattern also matches * characters in the text', () => {
    const cases: MatchCase[] = [
      { pattern: '*', value: '*', match: true },
      { pattern: '*', value: '*a', match: true },
      { pattern: '*', value: '**', match: true },
      { pattern: 'a*', value: 'a*b', match: true },
      { pattern: 'a*c', value: 'a*bc', match: true },
      { pattern: '?*', value: '**x', match: true },
      { pattern: 'a?', value: 'a*', match: true },
      { pattern: '*b', value: '*b', match: true },
      { pattern: 'a*', value: 'b*', match: false },
    ];
    const wrong = cases.filter((c) => wildcardMatch(c.pattern, c.value) !== c.match).map((c) => `${JSON.stringify(c.pattern)} vs ${JSON.stringify(c.value)}`);
    assert.deepEqual(wrong, []);
  });

  it('Action patterns: IAM wildcards, case-insensitive', () => {
    for (const c of ACTION_CASES) {
      const result = evaluate(applicable([docOf(allow(c.pattern))]), request({ action: c.value }));
      assert.equal(result.decision === 'allowed', c.match, `Action ${JSON.stringify(c.pattern)} vs ${JSON.stringify(c.value)}`);
    }
  });

  it('conditions: operators, absent keys, set qualifiers, AND/OR', () => {
    const failures: string[] = [];
    for (const c of CONDITION_CASES) {
      const policies = applicable([docOf(allow('secrets:GetSecretValue', '*', { Condition: c.condition }))]);
      const got = evaluate(policies, request(c.ctx ? { ctx: c.ctx } : {})).decision === 'allowed';
      if (got !== c.expect) failures.push(`${c.name}: ${JSON.stringify(c.condition)} with ${JSON.stringify(c.ctx ?? {})} → ${got}, expected ${c.expect}`);
    }
    assert.deepEqual(failures, []);
  });

  it('conditions on a Deny: a negated operator on an absent key denies, ForAnyValue on an absent key does not', () => {
    const denyIf = (condition: Json): Decision =>
      evaluate(applicable([docOf(allow(), deny('secrets:GetSecretValue', '*', { Condition: condition }))]), request()).decision;
    assert.equal(denyIf({ StringNotEquals: { 'secrets:ResourceTag/Environment': 'prod' } }), 'explicitDeny');
    assert.equal(denyIf({ 'ForAnyValue:StringEquals': { 'secrets:TagKeys': 'admin' } }), 'allowed');
    assert.equal(denyIf({ 'ForAllValues:StringEquals': { 'secrets:TagKeys': 'admin' } }), 'explicitDeny');
    assert.equal(denyIf({ Null: { 'secrets:ResourceTag/Environment': 'true' } }), 'explicitDeny');
  });

  it('Principal and NotPrincipal in resource policies: names with wildcards and ids', () => {
    const bob = { id: 'a1b2c3', name: 'bob' };
    const ci = { id: 'ffee00', name: 'ci-deploy' };
    const cases: { principal: Json; who: { id: string; name: string }; expect: Decision }[] = [
      { principal: { Principal: '*' }, who: bob, expect: 'allowed' },
      { principal: { Principal: { Member: 'bob' } }, who: bob, expect: 'allowed' },
      { principal: { Principal: { Member: 'bob' } }, who: ci, expect: 'implicitDeny' },
      { principal: { Principal: { Member: 'ci-*' } }, who: ci, expect: 'allowed' },
      { principal: { Principal: { Member: 'ci-*' } }, who: { id: 'x', name: 'dev-ci' }, expect: 'implicitDeny' },
      { principal: { Principal: { Member: 'b?b' } }, who: bob, expect: 'allowed' },
      { principal: { Principal: { Member: 'b?b' } }, who: { id: 'x', name: 'bobb' }, expect: 'implicitDeny' },
      { principal: { Principal: { Member: ['alice', 'a1b2c3'] } }, who: bob, expect: 'allowed' },
      { principal: { Principal: { Member: ['alice', 'a1b2c3'] } }, who: ci, expect: 'implicitDeny' },
      { principal: { NotPrincipal: { Member: 'bob' } }, who: bob, expect: 'implicitDeny' },
      { principal: { NotPrincipal: { Member: 'bob' } }, who: ci, expect: 'allowed' },
      { principal: { NotPrincipal: { Member: 'ci-*' } }, who: ci, expect: 'implicitDeny' },
    ];
    for (const c of cases) {
      const doc = docOf(allow('secrets:GetSecretValue', 'prod/db', c.principal));
      const got = evaluate([{ label: 'resource policy of prod/db', policy: compile(doc, 'resource') }], request({ principal: c.who })).decision;
      assert.equal(got, c.expect, `${JSON.stringify(c.principal)} for ${c.who.name} (${c.who.id})`);
    }
    // A resource-policy Deny with NotPrincipal denies everyone else, whatever identity policies allow.
    const identity = { label: 'p1', policy: compile(docOf(allow())) };
    const resource = { label: 'rp', policy: compile(docOf(deny('secrets:GetSecretValue', 'prod/db', { NotPrincipal: { Member: 'ci-*' } })), 'resource') };
    assert.equal(evaluate([identity, resource], request({ principal: bob })).decision, 'explicitDeny');
    assert.equal(evaluate([identity, resource], request({ principal: ci })).decision, 'allowed');
  });

  it('decidedBy names the statement that decided (policy label, Sid, index)', () => {
    const policies = applicable([
      docOf(allow('secrets:PutSecretValue'), { Sid: 'ReadAll', ...allow() }),
      docOf(allow('*'), { Sid: 'NoProd', ...deny('secrets:*', 'prod/*') }, deny('secrets:DeleteSecret')),
    ]);
    assert.deepEqual(evaluate(policies, request({ resource: 'prod/db' })), {
      decision: 'explicitDeny',
      decidedBy: { policy: 'p2', sid: 'NoProd', index: 1 },
    });
    assert.deepEqual(evaluate(policies, request({ resource: 'dev/db' })), {
      decision: 'allowed',
      decidedBy: { policy: 'p1', sid: 'ReadAll', index: 1 },
    });
    assert.deepEqual(evaluate(policies, request({ resource: 'dev/db', action: 'secrets:DescribeSecret' })), {
      decision: 'allowed',
      decidedBy: { policy: 'p2', sid: undefined, index: 0 },
    });
    assert.deepEqual(evaluate(policies, request({ resource: 'dev/db', action: 'secrets:DeleteSecret' })), {
      decision: 'explicitDeny',
      decidedBy: { policy: 'p2', sid: undefined, index: 2 },
    });
    const none = evaluate(applicable([docOf(allow('secrets:PutSecretValue'))]), request());
    assert.equal(none.decision, 'implicitDeny');
    assert.equal(none.decidedBy, undefined);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Three-valued mode
// ---------------------------------------------------------------------------------------------

describe('three-valued evaluation (unknown request keys)', () => {
  const unknownTime = (k: string): boolean => k === 'secrets:currenttime';
  const untilDoc = (effect: 'Allow' | 'Deny'): Json => ({
    Effect: effect,
    Action: 'secrets:GetSecretValue',
    Resource: '*',
    Condition: { DateLessThan: { 'secrets:CurrentTime': '2027-01-01T00:00:00Z' } },
  });

  it('an Allow that depends only on an unknown key is a conditional allow', () => {
    const result = evaluate(applicable([docOf(untilDoc('Allow'))]), request({ unknown: unknownTime }));
    assert.equal(result.decision, 'allowed');
    assert.equal(result.conditional, true);
    assert.deepEqual(result.decidedBy, { policy: 'p1', sid: undefined, index: 0 });
  });

  it('an Allow that also fails on a known key is not allowed', () => {
    const doc = docOf({
      ...untilDoc('Allow'),
      Condition: { DateLessThan: { 'secrets:CurrentTime': '2027-01-01T00:00:00Z' }, StringEquals: { 'secrets:ResourceTag/Environment': 'prod' } },
    });
    assert.equal(evaluate(applicable([doc]), request({ unknown: unknownTime, ctx: { [ENV]: 'dev' } })).decision, 'implicitDeny');
    const ok = evaluate(applicable([doc]), request({ unknown: unknownTime, ctx: { [ENV]: 'prod' } }));
    assert.equal(ok.decision, 'allowed');
    assert.equal(ok.conditional, true);
  });

  it('an unconditional Allow wins over a conditional one and is not marked conditional', () => {
    const result = evaluate(applicable([docOf(untilDoc('Allow')), docOf(allow())]), request({ unknown: unknownTime }));
    assert.equal(result.decision, 'allowed');
    assert.notEqual(result.conditional, true);
    assert.deepEqual(result.decidedBy, { policy: 'p2', sid: undefined, index: 0 });
  });

  it('a Deny that depends on an unknown key does not deny', () => {
    const result = evaluate(applicable([docOf(allow(), untilDoc('Deny'))]), request({ unknown: unknownTime }));
    assert.equal(result.decision, 'allowed');
    assert.notEqual(result.conditional, true);
  });

  it('a Deny on a known key still denies', () => {
    const doc = docOf(allow(), deny('secrets:GetSecretValue', '*', { Condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'prod' } } }));
    assert.equal(evaluate(applicable([doc]), request({ unknown: unknownTime, ctx: { [ENV]: 'prod' } })).decision, 'explicitDeny');
    assert.equal(evaluate(applicable([doc]), request({ unknown: unknownTime, ctx: { [ENV]: 'dev' } })).decision, 'allowed');
  });

  it('a Deny with a known key that holds and an unknown key does not deny; with a known key that fails it never applies', () => {
    const doc = docOf(
      allow(),
      deny('secrets:GetSecretValue', '*', {
        Condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'prod' }, DateGreaterThan: { 'secrets:CurrentTime': '2027-01-01T00:00:00Z' } },
      }),
    );
    assert.equal(evaluate(applicable([doc]), request({ unknown: unknownTime, ctx: { [ENV]: 'prod' } })).decision, 'allowed');
  });

  it('the same policies with the key known decide normally', () => {
    const policies = applicable([docOf(untilDoc('Allow'))]);
    assert.equal(evaluate(policies, request({ ctx: { 'secrets:currenttime': '2026-06-01T00:00:00.000Z' } })).decision, 'allowed');
    assert.equal(evaluate(policies, request({ ctx: { 'secrets:currenttime': '2028-01-01T00:00:00.000Z' } })).conditional, undefined);
    assert.equal(evaluate(policies, request({ ctx: { 'secrets:currenttime': '2028-01-01T00:00:00.000Z' } })).decision, 'implicitDeny');
    const denyPolicies = applicable([docOf(allow(), untilDoc('Deny'))]);
    assert.equal(evaluate(denyPolicies, request({ ctx: { 'secrets:currenttime': '2026-06-01T00:00:00.000Z' } })).decision, 'explicitDeny');
  });

  it('unknown keys make IfExists, negated, Null and set operators unknown too', () => {
    const unknownTags = (k: string): boolean => k === 'secrets:tagkeys' || k === 'secrets:tty';
    for (const condition of [
      { 'ForAllValues:StringEquals': { 'secrets:TagKeys': 'env' } },
      { StringNotEquals: { 'secrets:TagKeys': 'env' } },
      { Null: { 'secrets:TagKeys': 'true' } },
      { BoolIfExists: { 'secrets:Tty': 'true' } },
    ]) {
      const asAllow = evaluate(applicable([docOf(allow('secrets:GetSecretValue', '*', { Condition: condition }))]), request({ unknown: unknownTags }));
      assert.equal(asAllow.conditional, true, `Allow ${JSON.stringify(condition)}`);
      const asDeny = evaluate(applicable([docOf(allow(), deny('secrets:GetSecretValue', '*', { Condition: condition }))]), request({ unknown: unknownTags }));
      assert.equal(asDeny.decision, 'allowed', `Deny ${JSON.stringify(condition)}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Grammar
// ---------------------------------------------------------------------------------------------

interface GrammarCase {
  name: string;
  doc: unknown;
  kind?: PolicyKind;
  /** The path of an expected error. */
  path: (string | number)[];
  message?: RegExp;
}

const ERROR_CASES: GrammarCase[] = [
  { name: 'not a mapping', doc: ['Statement'], path: [] },
  { name: 'missing Version', doc: { Statement: [allow()] }, path: [], message: /Version/ },
  { name: 'wrong Version', doc: { Version: '2008-10-17', Statement: [allow()] }, path: ['Version'], message: /2012-10-17/ },
  { name: 'Version as a date-like number', doc: { Version: 20121017, Statement: [allow()] }, path: ['Version'] },
  { name: 'unknown top-level field', doc: { ...docOf(allow()), Statements: [] }, path: ['Statements'], message: /unknown top-level field/ },
  { name: 'no Statement', doc: { Version: VERSION }, path: [], message: /Statement/ },
  { name: 'empty Statement list', doc: { Version: VERSION, Statement: [] }, path: ['Statement'], message: /Statement/ },
  { name: 'a statement that is not a mapping', doc: docOf(allow(), 'Allow' as unknown as Json), path: ['Statement', 1] },
  { name: 'bad Effect', doc: docOf({ ...allow(), Effect: 'allow' }), path: ['Statement', 0, 'Effect'], message: /Effect/ },
  { name: 'missing Effect', doc: docOf({ Action: 'secrets:GetSecretValue', Resource: '*' }), path: ['Statement', 0], message: /Effect/ },
  {
    name: 'unknown statement field (suggestion)',
    doc: docOf({ ...allow(), Conditions: {} }),
    path: ['Statement', 0, 'Conditions'],
    message: /did you mean Condition/,
  },
  { name: 'both Action and NotAction', doc: docOf({ ...allow(), NotAction: 'secrets:DeleteSecret' }), path: ['Statement', 0], message: /Action or NotAction/ },
  { name: 'neither Action nor NotAction', doc: docOf({ Effect: 'Allow', Resource: '*' }), path: ['Statement', 0], message: /Action or NotAction/ },
  { name: 'both Resource and NotResource', doc: docOf({ ...allow(), NotResource: 'dev/*' }), path: ['Statement', 0], message: /Resource or NotResource/ },
  {
    name: 'neither Resource nor NotResource',
    doc: docOf({ Effect: 'Allow', Action: 'secrets:GetSecretValue' }),
    path: ['Statement', 0],
    message: /Resource or NotResource/,
  },
  { name: 'action without secrets: prefix', doc: docOf(allow('GetSecretValue')), path: ['Statement', 0, 'Action'], message: /secrets:/ },
  { name: 'empty Action list', doc: docOf(allow([])), path: ['Statement', 0, 'Action'] },
  {
    name: 'unknown condition key (suggestion)',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { DateLessThan: { 'secrets:CurentTime': '2027-01-01' } } })),
    path: ['Statement', 0, 'Condition', 'DateLessThan', 'secrets:CurentTime'],
    message: /did you mean secrets:CurrentTime\?/,
  },
  {
    name: 'unknown condition key (other service)',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { Bool: { 'aws:SecureTransport': 'true' } } })),
    path: ['Statement', 0, 'Condition', 'Bool', 'aws:SecureTransport'],
    message: /unknown condition key/,
  },
  {
    name: 'a tag key with no tag name',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { StringEquals: { 'secrets:ResourceTag/': 'x' } } })),
    path: ['Statement', 0, 'Condition', 'StringEquals', 'secrets:ResourceTag/'],
  },
  {
    name: 'unknown operator (suggestion)',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { StringEqual: { 'secrets:Name': 'x' } } })),
    path: ['Statement', 0, 'Condition', 'StringEqual'],
    message: /did you mean StringEquals\?/,
  },
  {
    name: 'NullIfExists is not an operator',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { NullIfExists: { 'secrets:Name': 'true' } } })),
    path: ['Statement', 0, 'Condition', 'NullIfExists'],
  },
  {
    name: 'a doubled set qualifier is not an operator',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { 'ForAnyValue:ForAllValues:StringEquals': { 'secrets:TagKeys': 'env' } } })),
    path: ['Statement', 0, 'Condition', 'ForAnyValue:ForAllValues:StringEquals'],
  },
  {
    name: 'non-boolean Bool value',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { Bool: { 'secrets:Tty': 'yes' } } })),
    path: ['Statement', 0, 'Condition', 'Bool', 'secrets:Tty'],
    message: /true.*false/,
  },
  {
    name: 'non-boolean Null value',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { Null: { 'secrets:Tty': 1 } } })),
    path: ['Statement', 0, 'Condition', 'Null', 'secrets:Tty'],
  },
  {
    name: 'non-numeric Numeric value',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { NumericLessThan: { 'secrets:RecoveryWindowInDays': 'seven' } } })),
    path: ['Statement', 0, 'Condition', 'NumericLessThan', 'secrets:RecoveryWindowInDays'],
  },
  {
    name: 'not a date',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { DateLessThan: { 'secrets:CurrentTime': 'next tuesday' } } })),
    path: ['Statement', 0, 'Condition', 'DateLessThan', 'secrets:CurrentTime'],
  },
  {
    name: 'empty condition value list',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { StringEquals: { 'secrets:Name': [] } } })),
    path: ['Statement', 0, 'Condition', 'StringEquals', 'secrets:Name'],
  },
  {
    name: 'Principal in an identity policy',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Principal: '*' })),
    path: ['Statement', 0, 'Principal'],
    message: /identity policy/,
  },
  {
    name: 'NotPrincipal in an identity policy',
    doc: docOf(deny('secrets:GetSecretValue', '*', { NotPrincipal: { Member: 'bob' } })),
    path: ['Statement', 0, 'NotPrincipal'],
  },
  {
    name: 'missing Principal in a resource policy',
    doc: docOf(allow('secrets:GetSecretValue', 'prod/db')),
    kind: 'resource',
    path: ['Statement', 0],
    message: /Principal/,
  },
  {
    name: 'malformed Principal',
    doc: docOf(allow('secrets:GetSecretValue', 'prod/db', { Principal: { AWS: 'arn:aws:iam::1:root' } })),
    kind: 'resource',
    path: ['Statement', 0, 'Principal'],
  },
  { name: 'duplicate Sid', doc: docOf({ Sid: 'Read', ...allow() }, { Sid: 'Read', ...deny() }), path: ['Statement', 1, 'Sid'], message: /duplicate Sid/ },
  { name: 'Sid with punctuation', doc: docOf({ Sid: 'read-all', ...allow() }), path: ['Statement', 0, 'Sid'] },
  {
    name: 'bad resource characters (space)',
    doc: docOf(allow('secrets:GetSecretValue', 'prod/my db')),
    path: ['Statement', 0, 'Resource'],
    message: /invalid resource/,
  },
  { name: 'bad resource characters (in a list)', doc: docOf(allow('secrets:GetSecretValue', ['prod/*', 'dev/$x'])), path: ['Statement', 0, 'Resource', 1] },
  { name: 'empty resource', doc: docOf(allow('secrets:GetSecretValue', '')), path: ['Statement', 0, 'Resource'] },
  { name: 'bad NotResource', doc: docOf({ Effect: 'Deny', Action: 'secrets:GetSecretValue', NotResource: 'a\nb' }), path: ['Statement', 0, 'NotResource'] },
  {
    name: 'error in a single Statement object has no index',
    doc: { Version: VERSION, Statement: { ...allow(), Effect: 'Maybe' } },
    path: ['Statement', 'Effect'],
  },
];

interface WarningCase {
  name: string;
  doc: Json;
  path: (string | number)[];
  message?: RegExp;
}

const WARNING_CASES: WarningCase[] = [
  { name: '"Action": "*"', doc: docOf(allow('*', 'prod/*')), path: ['Statement', 0, 'Action'] },
  { name: '"Action": "secrets:*"', doc: docOf(allow('secrets:*', 'prod/*')), path: ['Statement', 0, 'Action'] },
  { name: '"Action": ["…", "secrets:*"]', doc: docOf(allow(['secrets:GetSecretValue', 'secrets:*'], 'prod/*')), path: ['Statement', 0, 'Action', 1] },
  { name: '"Resource": "*"', doc: docOf(allow('secrets:GetSecretValue', '*')), path: ['Statement', 0, 'Resource'] },
  { name: 'Allow with NotAction', doc: docOf({ Effect: 'Allow', NotAction: 'secrets:DeleteSecret', Resource: 'prod/*' }), path: ['Statement', 0, 'NotAction'] },
  {
    name: 'Allow with NotResource',
    doc: docOf({ Effect: 'Allow', Action: 'secrets:GetSecretValue', NotResource: 'prod/*' }),
    path: ['Statement', 0, 'NotResource'],
  },

  // IAM accepts these; they match nothing or compare across types, so they are warnings (errors with --strict).
  {
    name: 'unknown action (suggestion)',
    doc: docOf(allow('secrets:GetSecretValu')),
    path: ['Statement', 0, 'Action'],
    message: /did you mean secrets:GetSecretValue\?/,
  },
  {
    name: 'unknown action in a list (suggestion, index in path)',
    doc: docOf(allow(['secrets:DescribeSecret', 'secrets:PutSecretVaule'])),
    path: ['Statement', 0, 'Action', 1],
    message: /did you mean secrets:PutSecretValue\?/,
  },
  { name: 'unknown action in NotAction', doc: docOf({ Effect: 'Deny', NotAction: 'secrets:Frobnicate', Resource: '*' }), path: ['Statement', 0, 'NotAction'] },
  { name: 'a wildcard that matches no action', doc: docOf(allow('secrets:Frob*')), path: ['Statement', 0, 'Action'], message: /matches no action/ },
  { name: 'action with another service prefix', doc: docOf(allow('secretsmanager:GetSecretValue')), path: ['Statement', 0, 'Action'] },
  {
    name: 'type mismatch: Date operator on a string key',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { DateLessThan: { 'secrets:Name': '2027-01-01' } } })),
    path: ['Statement', 0, 'Condition', 'DateLessThan', 'secrets:Name'],
    message: /string key/,
  },
  {
    name: 'type mismatch: String operator on a date key',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { StringEquals: { 'secrets:CurrentTime': '2027-01-01' } } })),
    path: ['Statement', 0, 'Condition', 'StringEquals', 'secrets:CurrentTime'],
  },
  {
    name: 'type mismatch: Numeric operator on a string key',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { NumericEquals: { 'secrets:ResourceTag/Environment': 1 } } })),
    path: ['Statement', 0, 'Condition', 'NumericEquals', 'secrets:ResourceTag/Environment'],
  },
  {
    name: 'type mismatch: Bool operator on a string key',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { Bool: { 'secrets:Name': 'true' } } })),
    path: ['Statement', 0, 'Condition', 'Bool', 'secrets:Name'],
  },
  {
    name: 'Bool on a tag key',
    doc: docOf(allow('secrets:GetSecretValue', '*', { Condition: { Bool: { 'secrets:ResourceTag/rotated': 'true' } } })),
    path: ['Statement', 0, 'Condition', 'Bool', 'secrets:ResourceTag/rotated'],
    message: /string key and Bool compares bool values/,
  },
];

function hasIssue(issues: readonly PolicyIssue[], level: PolicyIssue['level'], path: readonly (string | number)[], message?: RegExp): boolean {
  return issues.some((i) => i.level === level && JSON.stringify(i.path) === JSON.stringify(path) && (!message || message.test(i.message)));
}

describe('policy grammar (checkPolicy)', () => {
  it('valid documents pass with no issues', () => {
    const valid: { doc: Json; kind: PolicyKind }[] = [
      { doc: docOf(allow('secrets:GetSecretValue', 'prod/db')), kind: 'identity' },
      {
        doc: {
          Version: VERSION,
          Id: 'ci-read',
          Statement: [{ Sid: 'Read1', ...allow(['secrets:GetSecretValue', 'secrets:DescribeSecret'], ['prod/*', 'dev/?b']) }],
        },
        kind: 'identity',
      },
      { doc: docOf(allow('secrets:Get*', 'prod/*')), kind: 'identity' },
      { doc: docOf(allow('SECRETS:getsecretvalue', 'prod/*')), kind: 'identity' },
      { doc: docOf(deny('*', '*'), deny('secrets:*', '*')), kind: 'identity' },
      { doc: docOf({ Effect: 'Deny', NotAction: 'secrets:GetSecretValue', NotResource: 'dev/*' }), kind: 'identity' },
      {
        doc: docOf(
          allow('secrets:GetSecretValue', 'prod/*', {
            Condition: {
              StringEquals: { 'secrets:ResourceTag/Environment': ['prod', 'staging'], 'secrets:RequestTag/Owner': 'me' },
              StringLikeIfExists: { 'secrets:Name': 'prod/*' },
              'ForAllValues:StringNotEquals': { 'secrets:TagKeys': ['admin'] },
              'ForAnyValue:StringLike': { 'secrets:VersionStage': 'AWS*' },
              DateLessThan: { 'secrets:CurrentTime': '2027-01-01T00:00:00Z' },
              DateGreaterThanEquals: { 'secrets:CurrentTime': 1767225600 },
              NumericGreaterThanEquals: { 'secrets:RecoveryWindowInDays': 7, 'secrets:EpochTime': '1767225600' },
              Bool: { 'secrets:Tty': true, 'secrets:ForceDeleteWithoutRecovery': 'false' },
              Null: { 'secrets:Description': 'false' },
            },
          }),
        ),
        kind: 'identity',
      },
      { doc: docOf(allow('secrets:GetSecretValue', 'prod/db', { Principal: '*' })), kind: 'resource' },
      { doc: docOf(allow('secrets:GetSecretValue', 'prod/db', { Principal: { Member: ['ci-*', 'a1b2c3'] } })), kind: 'resource' },
      { doc: docOf(deny('secrets:*', 'prod/db', { NotPrincipal: { Member: 'alice' } })), kind: 'resource' },
    ];
    for (const { doc, kind } of valid) {
      const { policy, issues } = checkPolicy(doc, kind);
      assert.deepEqual(issues, [], JSON.stringify(doc));
      assert.ok(policy, JSON.stringify(doc));
    }
  });

  it('the checked policy keeps the statement parts', () => {
    const policy = compile(
      docOf(
        { Sid: 'A', ...allow(['secrets:GetSecretValue'], 'prod/*', { Condition: { 'ForAnyValue:StringLikeIfExists': { 'secrets:TagKeys': ['env*'] } } }) },
        { Effect: 'Deny', NotAction: 'secrets:Get*', NotResource: ['dev/*'] },
      ),
    );
    assert.equal(policy.statements.length, 2);
    const [a, b] = policy.statements;
    assert.ok(a && b);
    assert.equal(a.sid, 'A');
    assert.equal(a.index, 0);
    assert.equal(a.effect, 'Allow');
    assert.deepEqual(a.action, ['secrets:GetSecretValue']);
    assert.deepEqual(a.resource, ['prod/*']);
    assert.equal(a.conditions.length, 1);
    const c = a.conditions[0];
    assert.ok(c);
    assert.equal(c.base, 'StringLike');
    assert.equal(c.set, 'ForAnyValue');
    assert.equal(c.ifExists, true);
    assert.equal(c.negated, false);
    assert.deepEqual(c.values, ['env*']);
    assert.equal(b.sid, undefined);
    assert.equal(b.index, 1);
    assert.equal(b.effect, 'Deny');
    assert.deepEqual(b.notAction, ['secrets:Get*']);
    assert.deepEqual(b.notResource, ['dev/*']);
    assert.equal(b.action, undefined);
    assert.equal(b.resource, undefined);
  });

  it('a single Statement object (not a list) is accepted', () => {
    const { policy, issues } = checkPolicy({ Version: VERSION, Statement: allow('secrets:GetSecretValue', 'prod/db') }, 'identity');
    assert.deepEqual(issues, []);
    assert.ok(policy);
    assert.equal(policy.statements.length, 1);
    assert.equal(evaluate([{ label: 'p', policy }], request()).decision, 'allowed');
  });

  for (const c of ERROR_CASES) {
    it(`error: ${c.name}`, () => {
      const { policy, issues } = checkPolicy(c.doc, c.kind ?? 'identity');
      assert.equal(policy, undefined, 'a document with errors yields no policy');
      assert.ok(
        hasIssue(issues, 'error', c.path, c.message),
        `expected an error at ${JSON.stringify(c.path)}${c.message ? ` matching ${String(c.message)}` : ''}; got ${JSON.stringify(issues)}`,
      );
    });
  }

  it('every error in a document is reported, not just the first', () => {
    const { issues } = checkPolicy(
      { Version: '1', Statement: [allow('GetSecretValue'), { Effect: 'Permit', Action: 'secrets:GetSecretValue', Resource: 'a b' }] },
      'identity',
    );
    for (const path of [['Version'], ['Statement', 0, 'Action'], ['Statement', 1, 'Effect'], ['Statement', 1, 'Resource']]) {
      assert.ok(hasIssue(issues, 'error', path), `no error at ${JSON.stringify(path)}: ${JSON.stringify(issues)}`);
    }
  });

  for (const c of WARNING_CASES) {
    it(`warning, not error: ${c.name}`, () => {
      const { policy, issues } = checkPolicy(c.doc, 'identity');
      assert.ok(policy, `a warning does not reject the policy: ${JSON.stringify(issues)}`);
      assert.equal(issues.filter((i) => i.level === 'error').length, 0);
      assert.ok(hasIssue(issues, 'warning', c.path, c.message), `expected a warning at ${JSON.stringify(c.path)}; got ${JSON.stringify(issues)}`);
    });
  }

  it('the same broad grants on a Deny are not warned about', () => {
    for (const doc of [
      docOf(deny('*', 'prod/*')),
      docOf(deny('secrets:*', 'prod/*')),
      docOf(deny('secrets:GetSecretValue', '*')),
      docOf({ Effect: 'Deny', NotAction: 'secrets:GetSecretValue', Resource: 'prod/*' }),
      docOf({ Effect: 'Deny', Action: 'secrets:GetSecretValue', NotResource: 'prod/*' }),
    ]) {
      const { policy, issues } = checkPolicy(doc, 'identity');
      assert.ok(policy);
      assert.deepEqual(issues, [], JSON.stringify(doc));
    }
  });

  it('parseOperator splits qualifiers and IfExists', () => {
    assert.deepEqual(parseOperator('ForAllValues:StringNotEqualsIfExists'), {
      operator: 'ForAllValues:StringNotEqualsIfExists',
      base: 'StringNotEquals',
      negated: true,
      ifExists: true,
      set: 'ForAllValues',
    });
    assert.equal(parseOperator('StringLike')?.negated, false);
    assert.equal(parseOperator('DateNotEquals')?.negated, true);
    assert.equal(parseOperator('Frobnicate'), undefined);
    assert.equal(parseOperator('NullIfExists'), undefined);
    assert.equal(parseOperator('ForSomeValues:StringEquals'), undefined);
  });

  it('ACTIONS and CONDITION_KEYS cover the names docs/policies.md lists', () => {
    for (const a of ['secrets:GetSecretValue', 'secrets:PutSecretValue', 'secrets:DescribeSecret', 'secrets:DeleteSecret', 'secrets:ListSecrets']) {
      assert.ok(ACTIONS.includes(a), a);
    }
    for (const k of [
      'secrets:name',
      'secrets:resourcetag/',
      'secrets:requesttag/',
      'secrets:tagkeys',
      'secrets:versionstage',
      'secrets:recoverywindowindays',
      'secrets:currenttime',
    ]) {
      assert.ok(CONDITION_KEYS.has(k), k);
    }
    assert.equal(CONDITION_KEYS.get('secrets:tagkeys')?.multi, true);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. Properties
// ---------------------------------------------------------------------------------------------

const ACTION_POOL = [
  'secrets:GetSecretValue',
  'secrets:PutSecretValue',
  'secrets:DescribeSecret',
  'secrets:Get*',
  'secrets:*',
  '*',
  'secrets:Delete*',
  'secrets:?etSecretValue',
];
const RESOURCE_POOL = ['*', 'prod/*', 'prod/db', 'dev/*', 'prod/?b', '*/key', 'other'];
const CONDITION_POOL: readonly (readonly [string, string, readonly (string | number | boolean)[]])[] = [
  ['StringEquals', 'secrets:ResourceTag/env', ['prod']],
  ['StringEquals', 'secrets:ResourceTag/env', ['prod', 'dev']],
  ['StringNotEquals', 'secrets:ResourceTag/env', ['prod']],
  ['StringNotEquals', 'secrets:ResourceTag/env', ['prod', 'dev']],
  ['StringLike', 'secrets:ResourceTag/env', ['d*']],
  ['StringEqualsIfExists', 'secrets:ResourceTag/env', ['dev']],
  ['Bool', 'secrets:Tty', [true]],
  ['BoolIfExists', 'secrets:Tty', ['false']],
  ['DateLessThan', 'secrets:CurrentTime', ['2026-01-01T00:00:00Z']],
  ['DateGreaterThanEquals', 'secrets:CurrentTime', ['2026-01-01T00:00:00Z']],
  ['ForAnyValue:StringEquals', 'secrets:TagKeys', ['env']],
  ['ForAllValues:StringEquals', 'secrets:TagKeys', ['env', 'team']],
  ['ForAllValues:StringNotEquals', 'secrets:TagKeys', ['admin']],
  ['Null', 'secrets:ResourceTag/env', ['true']],
  ['NumericLessThan', 'secrets:RecoveryWindowInDays', [10]],
];
const REQUEST_ACTIONS = [
  'secrets:GetSecretValue',
  'secrets:PutSecretValue',
  'secrets:DescribeSecret',
  'secrets:DeleteSecret',
  'secrets:GetResourcePolicy',
  'secrets:ListSecrets',
  'SECRETS:getsecretvalue',
];
const REQUEST_RESOURCES = ['prod/db', 'prod/api/key', 'dev/db', 'prod/xb', 'other', '*'];

const statementArb: fc.Arbitrary<Json> = fc
  .record({
    effect: fc.constantFrom('Allow', 'Deny'),
    notAction: fc.boolean(),
    actions: fc.subarray(ACTION_POOL, { minLength: 1, maxLength: 3 }),
    notResource: fc.boolean(),
    resources: fc.subarray(RESOURCE_POOL, { minLength: 1, maxLength: 2 }),
    conditions: fc.subarray([...CONDITION_POOL], { maxLength: 3 }),
  })
  .map((s) => {
    const out: Json = { Effect: s.effect };
    out[s.notAction ? 'NotAction' : 'Action'] = s.actions;
    out[s.notResource ? 'NotResource' : 'Resource'] = s.resources;
    if (s.conditions.length > 0) {
      const condition: Record<string, Record<string, unknown>> = {};
      for (const [op, key, values] of s.conditions) (condition[op] ??= {})[key] = values;
      out.Condition = condition;
    }
    return out;
  });

const denyStatementArb: fc.Arbitrary<Json> = statementArb.map((s) => ({ ...s, Effect: 'Deny' }));

/** Policies as documents (each a list of statements). */
const docsArb = fc.array(fc.array(statementArb, { minLength: 1, maxLength: 4 }), { maxLength: 3 });

const requestArb: fc.Arbitrary<AccessRequest> = fc
  .record({
    action: fc.constantFrom(...REQUEST_ACTIONS),
    resource: fc.constantFrom(...REQUEST_RESOURCES),
    env: fc.option(fc.constantFrom('prod', 'dev', 'Prod', 'd'), { nil: undefined }),
    tty: fc.option(fc.constantFrom('true', 'false'), { nil: undefined }),
    time: fc.option(fc.constantFrom('2025-12-31T23:59:59.000Z', T0, '2026-06-01T00:00:00.000Z'), { nil: undefined }),
    tagKeys: fc.option(fc.subarray(['env', 'team', 'admin', 'owner']), { nil: undefined }),
    window: fc.option(fc.constantFrom('0', '7', '10', '30'), { nil: undefined }),
    threeValued: fc.boolean(),
  })
  .map((r) => {
    const ctx: Record<string, string | string[]> = {};
    if (r.env !== undefined) ctx['secrets:resourcetag/env'] = r.env;
    if (r.tty !== undefined) ctx['secrets:tty'] = r.tty;
    if (r.time !== undefined) ctx['secrets:currenttime'] = r.time;
    if (r.tagKeys !== undefined) ctx['secrets:tagkeys'] = r.tagKeys;
    if (r.window !== undefined) ctx['secrets:recoverywindowindays'] = r.window;
    const spec: RequestSpec = { action: r.action, resource: r.resource, ctx };
    if (r.threeValued) spec.unknown = (k) => k === 'secrets:currenttime' || k === 'secrets:tty';
    return request(spec);
  });

function compileAll(docs: readonly (readonly Json[])[]): ApplicablePolicy[] {
  return docs.map((statements, i) => ({ label: `p${i}`, policy: compile({ Version: VERSION, Statement: statements }) }));
}

const isDeny = (d: Decision): boolean => d !== 'allowed';

describe('policy evaluation properties', () => {
  it('adding a Deny statement never grants and never lifts a deny', () => {
    fc.assert(
      fc.property(docsArb, denyStatementArb, fc.nat(), fc.nat(), requestArb, (docs, extra, at, pos, req) => {
        const before = evaluate(compileAll(docs), req);
        // Either into an existing policy at some position, or as a new policy.
        const after = docs.map((s) => [...s]);
        const target = at % (after.length + 1);
        if (target === after.length) after.push([extra]);
        else {
          const list = after[target] as Json[];
          list.splice(pos % (list.length + 1), 0, extra);
        }
        const result = evaluate(compileAll(after), req);
        if (result.decision === 'allowed') assert.equal(before.decision, 'allowed', 'a Deny turned a deny into an allow');
        if (isDeny(before.decision)) assert.ok(isDeny(result.decision), 'a Deny turned a deny into an allow');
        if (before.decision === 'explicitDeny') assert.equal(result.decision, 'explicitDeny', 'a Deny lifted an explicit deny');
        // A conditional allow never becomes unconditional by adding a Deny.
        if (result.decision === 'allowed' && result.conditional !== true) assert.notEqual(before.conditional, true);
      }),
      { numRuns: RUNS },
    );
  });

  it('removing an Allow statement never grants', () => {
    const withAllow = docsArb.filter((docs) => docs.some((s) => s.some((st) => st.Effect === 'Allow')));
    fc.assert(
      fc.property(withAllow, fc.nat(), requestArb, (docs, pick, req) => {
        const allows: [number, number][] = [];
        docs.forEach((s, i) => s.forEach((st, j) => st.Effect === 'Allow' && allows.push([i, j])));
        const [pi, si] = allows[pick % allows.length] as [number, number];
        const after = docs.map((s, i) => (i === pi ? s.filter((_, j) => j !== si) : s)).filter((s) => s.length > 0);
        const before = evaluate(compileAll(docs), req);
        const result = evaluate(compileAll(after), req);
        if (result.decision === 'allowed') assert.equal(before.decision, 'allowed', 'removing an Allow granted access');
        if (before.decision === 'explicitDeny') assert.equal(result.decision, 'explicitDeny', 'removing an Allow lifted an explicit deny');
      }),
      { numRuns: RUNS },
    );
  });

  it('evaluation is deterministic and independent of policy and statement order', () => {
    const arb = docsArb.chain((docs) =>
      fc.tuple(
        fc.constant(docs),
        fc.shuffledSubarray(
          docs.map((_, i) => i),
          { minLength: docs.length, maxLength: docs.length },
        ),
        fc.boolean(),
      ),
    );
    fc.assert(
      fc.property(arb, requestArb, ([docs, order, reverseStatements], req) => {
        const policies = compileAll(docs);
        const first = evaluate(policies, req);
        assert.deepEqual(evaluate(policies, req), first, 'not deterministic');
        const shuffled = order.map((i) => {
          const p = policies[i] as ApplicablePolicy;
          return reverseStatements ? { label: p.label, policy: { statements: [...p.policy.statements].reverse() } } : p;
        });
        const other = evaluate(shuffled, req);
        assert.equal(other.decision, first.decision, 'order changed the decision');
        assert.equal(other.conditional, first.conditional, 'order changed whether the allow is conditional');
        // All statements merged into one policy decide the same.
        const merged = evaluate([{ label: 'all', policy: { statements: policies.flatMap((p) => p.policy.statements) } }], req);
        assert.equal(merged.decision, first.decision);
        // The decidedBy statement exists, has the decision's effect and matches the request.
        if (first.decision !== 'implicitDeny') {
          const by = first.decidedBy;
          assert.ok(by);
          const p = policies.find((x) => x.label === by.policy);
          const s = p?.policy.statements.find((x) => x.index === by.index);
          assert.ok(s, 'decidedBy names no statement');
          assert.equal(s.effect, first.decision === 'allowed' ? 'Allow' : 'Deny');
          assert.equal(statementMatches(s, req), first.conditional === true ? undefined : true);
        } else {
          assert.equal(first.decidedBy, undefined);
        }
      }),
      { numRuns: RUNS },
    );
  });

  const reference = (pattern: string, text: string, ignoreCase = false): boolean => {
    const body = [...pattern].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'))).join('');
    return new RegExp(`^${body}$`, ignoreCase ? 'si' : 's').test(text);
  };

  // UTF-16 code units on both sides: split the pattern by code units, not code points.
  const referenceUnits = (pattern: string, text: string, ignoreCase = false): boolean => {
    let body = '';
    for (let i = 0; i < pattern.length; i++) {
      const ch = pattern[i] as string;
      body +=
        ch === '*'
          ? '.*'
          : ch === '?'
            ? '.'
            : /[\uD800-\uDFFF]/.test(ch)
              ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`
              : ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    }
    return new RegExp(`^${body}$`, ignoreCase ? 'si' : 's').test(text);
  };

  const alphabet = fc.constantFrom('a', 'b', 'B', '/', '*', '?', '.', '\\', '[', ']', '(', '+', '$', '^', '|', '\n', '\r', 'é', '😀', '-', ' ');
  const patternArb = fc.string({ unit: alphabet, maxLength: 10 });
  const textArb = fc.string({ unit: alphabet, maxLength: 16 });
  /** A text made from a pattern by filling its wildcards, so that many pairs match. */
  const matchingPairArb = patternArb.chain((pattern) =>
    fc
      .tuple(
        ...[...pattern].map((ch) =>
          ch === '*' ? fc.string({ unit: alphabet, maxLength: 4 }) : ch === '?' ? fc.constantFrom('a', '/', '\n', '*', '?') : fc.constant(ch),
        ),
      )
      .map((parts) => ({ pattern, text: parts.join('') })),
  );

  it('wildcardMatch agrees with a reference regex (random pairs)', () => {
    fc.assert(
      fc.property(patternArb, textArb, (pattern, text) => {
        assert.equal(wildcardMatch(pattern, text), referenceUnits(pattern, text), `${JSON.stringify(pattern)} vs ${JSON.stringify(text)}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('wildcardMatch agrees with a reference regex (texts made to match, then mutated)', () => {
    fc.assert(
      fc.property(matchingPairArb, fc.nat(), fc.constantFrom('keep', 'drop', 'add', 'swap'), ({ pattern, text }, at, how) => {
        const i = text.length === 0 ? 0 : at % text.length;
        const mutated =
          how === 'keep'
            ? text
            : how === 'drop'
              ? text.slice(0, i) + text.slice(i + 1)
              : how === 'add'
                ? `${text.slice(0, i)}x${text.slice(i)}`
                : `${text.slice(0, i)}B${text.slice(i + 1)}`;
        if (how === 'keep') assert.equal(wildcardMatch(pattern, text), true, `${JSON.stringify(pattern)} vs ${JSON.stringify(text)}`);
        assert.equal(wildcardMatch(pattern, mutated), referenceUnits(pattern, mutated), `${JSON.stringify(pattern)} vs ${JSON.stringify(mutated)}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('wildcardMatch ignoreCase agrees with a case-insensitive reference regex (ASCII)', () => {
    const ascii = fc.constantFrom('a', 'A', 'b', 'B', '/', '*', '?', ':');
    fc.assert(
      fc.property(fc.string({ unit: ascii, maxLength: 8 }), fc.string({ unit: ascii, maxLength: 12 }), (pattern, text) => {
        assert.equal(wildcardMatch(pattern, text, true), reference(pattern, text, true));
        assert.equal(wildcardMatch(pattern, text), reference(pattern, text));
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// 5. access.ts
// ---------------------------------------------------------------------------------------------

const ADMIN_ID = 'aaaa000000000001';

function member(id: string, name: string, roles: string[] = ['member'], removed?: string): MemberRecord {
  const m: MemberRecord = { kind: 'member', id, name, enc: '', sign: '', roles, added: '2026-01-01T00:00:00.000Z', by: ADMIN_ID, ctr: 1, sig: 'x' };
  return removed === undefined ? m : { ...m, removed };
}

function identityPolicy(name: string, attached: string[], ...statements: Json[]): PolicyRecord {
  return { kind: 'policy', name, doc: docOf(...statements), attached, changed: '2026-01-01T00:00:00.000Z', by: ADMIN_ID, ctr: 1, sig: 'x' };
}

function resourcePolicy(secretId: string, ...statements: Json[]): PolicyRecord {
  return { kind: 'policy', secret: secretId, doc: docOf(...statements), attached: [], changed: '2026-01-01T00:00:00.000Z', by: ADMIN_ID, ctr: 1, sig: 'x' };
}

const SECRET: SecretRecord = {
  kind: 'secret',
  id: 'sec-prod-db',
  name: 'prod/db',
  tags: new Map([['Environment', 'prod']]),
  stages: new Map([['AWSCURRENT', 'v1']]),
  created: '2026-01-01T00:00:00.000Z',
  changed: '2026-01-01T00:00:00.000Z',
  by: ADMIN_ID,
  ctr: 2,
  sig: 'x',
};

function versionBy(by: string, act: string | undefined): VersionRecord {
  const v: VersionRecord = {
    kind: 'version',
    secret: SECRET.id,
    id: 'v2',
    created: '2026-01-02T00:00:00.000Z',
    type: 'string',
    n: '',
    ct: '',
    keys: new Map(),
    by,
    ctr: 5,
    sig: 'x',
  };
  return act === undefined ? v : { ...v, act };
}

const ENTRY: SecretEntry = { secret: SECRET, versions: [] };

function vaultState(members: MemberRecord[], policies: PolicyRecord[]): VaultState {
  return {
    vault: { kind: 'vault', id: 'vault-1', format: 1, name: 'test', created: '2026-01-01T00:00:00.000Z', by: ADMIN_ID, ctr: 1, sig: 'x' },
    members,
    policies,
    head: { kind: 'head', ctrs: new Map([[ADMIN_ID, 2]]), digest: '', at: '', by: ADMIN_ID, ctr: 2, sig: 'x' },
    secrets: [ENTRY],
  };
}

describe('access decisions (access.ts)', () => {
  const admin = member(ADMIN_ID, 'alice', ['admin']);
  const reader = member('bbbb000000000002', 'bob');
  const timed = member('cccc000000000003', 'carol');
  const denied = member('dddd000000000004', 'dave');
  const nobody = member('eeee000000000005', 'erin');
  const writer = member('ffff000000000006', 'frank');
  const gone = member('0000000000000007', 'gina', ['member'], '2026-01-02T00:00:00.000Z');
  const notProd = member('1111000000000008', 'hank');
  const timedDeny = member('2222000000000009', 'ivy');

  const state = vaultState(
    [admin, reader, timed, denied, nobody, writer, gone, notProd, timedDeny],
    [
      identityPolicy('read-all', [reader.id, denied.id, gone.id, timedDeny.id, admin.id], allow('secrets:GetSecretValue', '*')),
      identityPolicy('no-prod', [denied.id, admin.id], deny('secrets:*', 'prod/*')),
      identityPolicy(
        'read-until-2027',
        [timed.id],
        allow('secrets:GetSecretValue', 'prod/*', { Condition: { DateLessThan: { 'secrets:CurrentTime': '2027-01-01T00:00:00Z' } } }),
      ),
      identityPolicy('write', [writer.id, gone.id], allow(['secrets:PutSecretValue', 'secrets:GetSecretValue'], 'prod/*')),
      identityPolicy(
        'dev-only',
        [notProd.id],
        allow('secrets:GetSecretValue', '*', { Condition: { StringEquals: { 'secrets:ResourceTag/Environment': 'dev' } } }),
      ),
      identityPolicy(
        'no-night',
        [timedDeny.id],
        deny('secrets:GetSecretValue', '*', { Condition: { DateGreaterThan: { 'secrets:CurrentTime': '2026-01-01T00:00:00Z' } } }),
      ),
    ],
  );
  const env = { now: new Date(T0), tty: false };

  it('an admin is allowed everything, even with a Deny attached', () => {
    for (const action of ['GetSecretValue', 'PutSecretValue', 'DeleteSecret', 'secrets:TagResource']) {
      const result = decide(state, admin, action, ENTRY, {}, env);
      assert.equal(result.decision, 'allowed', action);
      assert.equal(result.admin, true);
    }
    assert.equal(decide(state, admin, 'ListSecrets', undefined, {}, env).decision, 'allowed');
  });

  it('a member with no policies is denied', () => {
    for (const action of ['GetSecretValue', 'DescribeSecret', 'PutSecretValue']) {
      assert.equal(decide(state, nobody, action, ENTRY, {}, env).decision, 'implicitDeny', action);
    }
    assert.equal(decide(state, nobody, 'ListSecrets', undefined, {}, env).decision, 'implicitDeny');
  });

  it('members get what their policies say', () => {
    assert.equal(decide(state, reader, 'GetSecretValue', ENTRY, {}, env).decision, 'allowed');
    assert.equal(decide(state, reader, 'PutSecretValue', ENTRY, {}, env).decision, 'implicitDeny');
    const d = decide(state, denied, 'GetSecretValue', ENTRY, {}, env);
    assert.equal(d.decision, 'explicitDeny');
    assert.equal(d.decidedBy?.policy, 'policy "no-prod"');
    assert.equal(decide(state, writer, 'secrets:PutSecretValue', ENTRY, {}, env).decision, 'allowed');
    // Resource tags come from the secret (tag keys case-insensitive in the condition key).
    assert.equal(decide(state, notProd, 'GetSecretValue', ENTRY, {}, env).decision, 'implicitDeny');
    // Time comes from the environment; context overrides win.
    assert.equal(decide(state, timed, 'GetSecretValue', ENTRY, {}, env).decision, 'allowed');
    assert.equal(decide(state, timed, 'GetSecretValue', ENTRY, {}, { now: new Date('2028-01-01T00:00:00Z'), tty: false }).decision, 'implicitDeny');
    assert.equal(decide(state, timed, 'GetSecretValue', ENTRY, {}, env, new Map([['Secrets:CurrentTime', ['2028-01-01T00:00:00Z']]])).decision, 'implicitDeny');
    assert.equal(decide(state, timedDeny, 'GetSecretValue', ENTRY, {}, { now: new Date('2026-06-01T00:00:00Z'), tty: true }).decision, 'explicitDeny');
    assert.equal(decide(state, timedDeny, 'GetSecretValue', ENTRY, {}, env).decision, 'allowed');
  });

  it('request facts reach the conditions (RequestTag, TagKeys, RecoveryWindowInDays, Tty)', () => {
    const m = member('3333000000000010', 'jo');
    const s = vaultState(
      [admin, m],
      [
        identityPolicy(
          'tagging',
          [m.id],
          allow('secrets:TagResource', 'prod/*', {
            Condition: { StringEquals: { 'secrets:RequestTag/Owner': 'team-a' }, 'ForAllValues:StringEquals': { 'secrets:TagKeys': ['Owner'] } },
          }),
        ),
        identityPolicy(
          'delete',
          [m.id],
          allow('secrets:DeleteSecret', 'prod/*', {
            Condition: { NumericGreaterThanEquals: { 'secrets:RecoveryWindowInDays': 7 }, Bool: { 'secrets:Tty': 'true' } },
          }),
        ),
      ],
    );
    const tag = (owner: string, keys: string[]): Decision =>
      decide(s, m, 'TagResource', ENTRY, { requestTags: new Map([['Owner', owner]]), tagKeys: keys }, env).decision;
    assert.equal(tag('team-a', ['Owner']), 'allowed');
    assert.equal(tag('team-b', ['Owner']), 'implicitDeny');
    assert.equal(tag('team-a', ['Owner', 'Env']), 'implicitDeny');
    const del = (days: number, tty: boolean): Decision =>
      decide(s, m, 'DeleteSecret', ENTRY, { recoveryWindowInDays: days }, { now: new Date(T0), tty }).decision;
    assert.equal(del(7, true), 'allowed');
    assert.equal(del(6, true), 'implicitDeny');
    assert.equal(del(30, false), 'implicitDeny');
  });

  it('mayRead / readersOf: conditional allows count, unconditional and resource-known denies exclude', () => {
    assert.equal(mayRead(state, admin, ENTRY), true);
    assert.equal(mayRead(state, reader, ENTRY), true);
    assert.equal(mayRead(state, timed, ENTRY), true, 'an Allow depending only on secrets:CurrentTime is a conditional allow');
    assert.equal(mayRead(state, timedDeny, ENTRY), true, 'a Deny depending on secrets:CurrentTime does not apply vault-side');
    assert.equal(mayRead(state, denied, ENTRY), false, 'an unconditional Deny excludes');
    assert.equal(mayRead(state, nobody, ENTRY), false);
    assert.equal(mayRead(state, notProd, ENTRY), false, 'a condition on a resource tag is known to the vault');
    assert.equal(mayRead(state, gone, ENTRY), false, 'a removed member reads nothing');
    const readers = readersOf(state, ENTRY).map((m) => m.name);
    assert.deepEqual(
      readers,
      [reader, timed, writer, timedDeny, admin].sort((a, b) => (a.id < b.id ? -1 : 1)).map((m) => m.name),
    );
    assert.ok(readers.includes('carol'));
    assert.ok(!readers.includes('dave'));
  });

  it('mayRead honours the secret’s resource policy', () => {
    const withResource = vaultState(state.members.slice(), [
      ...state.policies,
      resourcePolicy(SECRET.id, deny('secrets:GetSecretValue', 'prod/db', { Principal: { Member: 'bob' } })),
      resourcePolicy('other-secret', deny('secrets:GetSecretValue', '*', { Principal: '*' })),
    ]);
    assert.equal(mayRead(withResource, reader, ENTRY), false);
    assert.equal(mayRead(withResource, timed, ENTRY), true);
    assert.equal(mayRead(withResource, admin, ENTRY), true);
    const grant = vaultState(state.members.slice(), [
      ...state.policies,
      resourcePolicy(SECRET.id, allow('secrets:GetSecretValue', 'prod/db', { Principal: { Member: ['erin'] } })),
    ]);
    assert.equal(mayRead(grant, nobody, ENTRY), true, 'a resource policy alone can grant');
    assert.equal(mayRead(grant, denied, ENTRY), false, 'an identity Deny still wins');
  });

  it('writeProblem: the signer must be a current member allowed the record’s action', () => {
    assert.match(writeProblem(state, versionBy(reader.id, 'PutSecretValue'), ENTRY) ?? '', /not allowed secrets:PutSecretValue/);
    assert.equal(writeProblem(state, versionBy(writer.id, 'PutSecretValue'), ENTRY), undefined);
    assert.match(writeProblem(state, versionBy(gone.id, 'PutSecretValue'), ENTRY) ?? '', /not a current member/);
    assert.match(writeProblem(state, versionBy('9999999999999999', 'PutSecretValue'), ENTRY) ?? '', /not a current member/);
    assert.match(writeProblem(state, versionBy(writer.id, undefined), ENTRY) ?? '', /names no action/);
    assert.ok(writeProblem(state, versionBy(writer.id, 'GetSecretValue'), ENTRY), 'GetSecretValue writes no value');
    assert.ok(writeProblem(state, versionBy(writer.id, 'DeleteSecret'), ENTRY), 'DeleteSecret writes no value');
    assert.ok(writeProblem(state, versionBy(denied.id, 'PutSecretValue'), ENTRY));
    assert.equal(writeProblem(state, versionBy(admin.id, undefined), ENTRY), undefined, 'an admin may write any record');
    assert.equal(writeProblem(state, versionBy(admin.id, 'PutSecretValue'), ENTRY), undefined);
  });

  it('writeProblem on a secret record checks metadata actions', () => {
    const tagged = { ...SECRET, by: writer.id, act: 'TagResource' };
    assert.ok(writeProblem(state, tagged, ENTRY), 'frank may not TagResource');
    assert.equal(writeProblem(state, { ...SECRET, by: writer.id, act: 'PutSecretValue' }, ENTRY), undefined);
    assert.ok(writeProblem(state, { ...SECRET, by: writer.id, act: 'GetSecretValue' }, ENTRY), 'GetSecretValue changes no metadata');
    const { act: _act, ...noAct } = tagged;
    assert.ok(writeProblem(state, { ...noAct, by: writer.id }, ENTRY));
  });
});
