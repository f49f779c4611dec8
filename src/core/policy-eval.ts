/**
 * Policy evaluation as IAM does it (docs/policies.md): an explicit Deny beats any Allow, an
 * Allow beats the implicit deny. Conditions are three-valued here so that the vault can ask
 * "could this member ever be allowed?" when it decides who receives a data key or whose
 * signature it accepts: keys that only a request knows (time, terminal, requested tags) are
 * then unknown, an Allow that depends on them counts, a Deny that depends on them does not.
 */
import type { Condition, Policy, PrincipalSpec, Statement } from './policy.js';
import { parseDate, wildcardMatch } from './policy-vocabulary.js';

/** A request: who asks to do what to which secret, with its condition keys (lower-cased). */
export interface AccessRequest {
  readonly action: string;
  /** The secret's name, or `*` for actions on no one secret. */
  readonly resource: string;
  readonly principal: { readonly id: string; readonly name: string };
  readonly context: ReadonlyMap<string, readonly string[]>;
  /** Keys whose values this evaluation cannot know (vault-side decisions); absent = none. */
  readonly unknown?: (key: string) => boolean;
  /**
   * Keys whose values are present but not trusted (the tags of a secret on hold): a condition on
   * one never lets an Allow apply, and always lets a Deny apply.
   */
  readonly doubtful?: (key: string) => boolean;
}

/** A policy that applies to a request, with a label for messages. */
export interface ApplicablePolicy {
  /** e.g. `policy "ci-read"` or `resource policy of prod/db`. */
  readonly label: string;
  readonly policy: Policy;
}

/** IAM's three outcomes. */
export type Decision = 'allowed' | 'explicitDeny' | 'implicitDeny';

/** The outcome and, unless implicit, the statement that decided it. */
export interface EvaluationResult {
  readonly decision: Decision;
  readonly decidedBy?: { readonly policy: string; readonly sid: string | undefined; readonly index: number };
  /** True when an Allow matched only because some request keys were unknown. */
  readonly conditional?: boolean;
}

type Tri = boolean | undefined;

const POSITIVE: Readonly<Record<string, string>> = {
  StringNotEquals: 'StringEquals',
  StringNotEqualsIgnoreCase: 'StringEqualsIgnoreCase',
  StringNotLike: 'StringLike',
  NumericNotEquals: 'NumericEquals',
  DateNotEquals: 'DateEquals',
};

function compare(base: string, actual: string, expected: string): boolean {
  switch (base) {
    case 'StringEquals':
      return actual === expected;
    case 'StringEqualsIgnoreCase':
      return actual.toLowerCase() === expected.toLowerCase();
    case 'StringLike':
      return wildcardMatch(expected, actual);
    case 'Bool':
      return actual.toLowerCase() === expected.toLowerCase();
  }
  if (base.startsWith('Numeric')) {
    const a = actual.trim() === '' ? NaN : Number(actual);
    const e = Number(expected);
    if (Number.isNaN(a) || Number.isNaN(e)) return false;
    return order(base.slice('Numeric'.length), a, e);
  }
  if (base.startsWith('Date')) {
    const a = parseDate(actual);
    const e = parseDate(expected);
    if (a === undefined || e === undefined) return false;
    return order(base.slice('Date'.length), a, e);
  }
  return false;
}

/** Date and number bounds are strict unless the operator says Equals. */
function order(op: string, a: number, e: number): boolean {
  switch (op) {
    case 'Equals':
      return a === e;
    case 'LessThan':
      return a < e;
    case 'LessThanEquals':
      return a <= e;
    case 'GreaterThan':
      return a > e;
    case 'GreaterThanEquals':
      return a >= e;
    default:
      return false;
  }
}

/** One condition against the request. */
export function evaluateCondition(c: Condition, req: AccessRequest): Tri {
  const key = c.key.toLowerCase();
  if (req.unknown?.(key)) return undefined;
  const actual = req.context.get(key);
  const present = actual !== undefined && actual.length > 0;
  if (c.base === 'Null') return c.values.some((v) => (v.toLowerCase() === 'true') === !present);
  if (!present) {
    if (c.ifExists) return true;
    if (c.set === 'ForAllValues') return true;
    if (c.set === 'ForAnyValue') return false;
    // A negated operator is true when there is nothing to differ from.
    return c.negated;
  }
  const base = POSITIVE[c.base] ?? c.base;
  const hit = (a: string): boolean => c.values.some((e) => compare(base, a, e));
  if (c.set === 'ForAllValues') return c.negated ? actual.every((a) => !hit(a)) : actual.every(hit);
  if (c.set === 'ForAnyValue') return c.negated ? actual.some((a) => !hit(a)) : actual.some(hit);
  // A negated operator with a list means "differs from every value".
  return c.negated ? actual.every((a) => !hit(a)) : actual.some(hit);
}

function principalMatches(spec: PrincipalSpec, who: AccessRequest['principal']): boolean {
  if (spec === '*') return true;
  return spec.some((p) => p === who.id || wildcardMatch(p, who.name));
}

/** Whether a statement applies to the request (undefined: only if unknown keys allow). */
export function statementMatches(s: Statement, req: AccessRequest): Tri {
  if (s.principal !== undefined && !principalMatches(s.principal, req.principal)) return false;
  if (s.notPrincipal !== undefined && principalMatches(s.notPrincipal, req.principal)) return false;
  const actionIn = (list: readonly string[]): boolean => list.some((a) => wildcardMatch(a, req.action, true));
  if (s.action && !actionIn(s.action)) return false;
  if (s.notAction && actionIn(s.notAction)) return false;
  const resourceIn = (list: readonly string[]): boolean => list.some((r) => wildcardMatch(r, req.resource));
  if (s.resource && !resourceIn(s.resource)) return false;
  if (s.notResource && resourceIn(s.notResource)) return false;
  let result: Tri = true;
  for (const c of s.conditions) {
    if (req.doubtful?.(c.key.toLowerCase())) {
      if (s.effect === 'Allow') return false;
      continue;
    }
    const v = evaluateCondition(c, req);
    if (v === false) return false;
    if (v === undefined) result = undefined;
  }
  return result;
}

/** Evaluates every applicable policy: explicit deny > allow > implicit deny. */
export function evaluate(policies: readonly ApplicablePolicy[], req: AccessRequest): EvaluationResult {
  let allow: EvaluationResult | undefined;
  let conditionalAllow: EvaluationResult | undefined;
  for (const p of policies) {
    for (const s of p.policy.statements) {
      const m = statementMatches(s, req);
      const decidedBy = { policy: p.label, sid: s.sid, index: s.index };
      if (s.effect === 'Deny' && m === true) return { decision: 'explicitDeny', decidedBy };
      if (s.effect === 'Allow' && m === true) allow ??= { decision: 'allowed', decidedBy };
      if (s.effect === 'Allow' && m === undefined) conditionalAllow ??= { decision: 'allowed', decidedBy, conditional: true };
    }
  }
  return allow ?? conditionalAllow ?? { decision: 'implicitDeny' };
}
