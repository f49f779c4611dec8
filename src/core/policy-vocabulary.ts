/**
 * The words of the policy language (docs/policies.md): the `secrets:` actions, the condition keys
 * and the kind of value each holds, the condition operators, and how names, patterns and dates
 * are written. Facts only; policy.ts checks documents against them and policy-eval.ts decides
 * requests with them.
 */

/** Actions on one secret (Resource is a secret-name pattern). */
export const SECRET_ACTIONS = [
  'CreateSecret',
  'GetSecretValue',
  'DescribeSecret',
  'ListSecretVersionIds',
  'PutSecretValue',
  'UpdateSecret',
  'UpdateSecretVersionStage',
  'DeleteSecret',
  'RestoreSecret',
  'TagResource',
  'UntagResource',
  'RotateSecret',
  'CancelRotateSecret',
  'GetResourcePolicy',
] as const;

/** Actions that are not about one secret (Resource `*`). */
export const GLOBAL_ACTIONS = ['ListSecrets', 'GetRandomPassword'] as const;

/** Every action, with its `secrets:` prefix. */
export const ACTIONS: readonly string[] = [...SECRET_ACTIONS, ...GLOBAL_ACTIONS].map((a) => `secrets:${a}`);

/** An action's name as code spells it, with its prefix. */
export type ActionName = `secrets:${(typeof SECRET_ACTIONS)[number] | (typeof GLOBAL_ACTIONS)[number]}`;

/** True for actions that are about no one secret (their Resource is `*`). */
export function isGlobalAction(action: string): boolean {
  return (GLOBAL_ACTIONS as readonly string[]).includes(action.replace(/^secrets:/i, ''));
}

/** How a condition key's values compare. */
export type KeyType = 'string' | 'numeric' | 'date' | 'bool';

/**
 * Condition keys. `resource` keys describe the stored secret (known when the vault decides who
 * may hold a data key or who may have signed a record); `request` keys describe one request
 * (time, terminal, the tags or stage a command asks for) and are checked by the client only.
 */
export const CONDITION_KEYS: ReadonlyMap<string, { type: KeyType; known: 'resource' | 'request'; multi?: boolean }> = new Map([
  ['secrets:name', { type: 'string', known: 'resource' }],
  ['secrets:secretid', { type: 'string', known: 'resource' }],
  ['secrets:description', { type: 'string', known: 'resource' }],
  ['secrets:principalname', { type: 'string', known: 'resource' }],
  ['secrets:principalid', { type: 'string', known: 'resource' }],
  ['secrets:resourcetag/', { type: 'string', known: 'resource' }],
  ['secrets:requesttag/', { type: 'string', known: 'request' }],
  ['secrets:tagkeys', { type: 'string', known: 'request', multi: true }],
  ['secrets:versionstage', { type: 'string', known: 'request' }],
  ['secrets:versionid', { type: 'string', known: 'request' }],
  ['secrets:recoverywindowindays', { type: 'numeric', known: 'request' }],
  ['secrets:forcedeletewithoutrecovery', { type: 'bool', known: 'request' }],
  ['secrets:currenttime', { type: 'date', known: 'request' }],
  ['secrets:epochtime', { type: 'numeric', known: 'request' }],
  ['secrets:tty', { type: 'bool', known: 'request' }],
]);

/** Spellings of the condition keys for docs and messages. */
export const CONDITION_KEY_NAMES = [
  'secrets:Name',
  'secrets:SecretId',
  'secrets:Description',
  'secrets:PrincipalName',
  'secrets:PrincipalId',
  'secrets:ResourceTag/<key>',
  'secrets:RequestTag/<key>',
  'secrets:TagKeys',
  'secrets:VersionStage',
  'secrets:VersionId',
  'secrets:RecoveryWindowInDays',
  'secrets:ForceDeleteWithoutRecovery',
  'secrets:CurrentTime',
  'secrets:EpochTime',
  'secrets:Tty',
] as const;

/** The entry of CONDITION_KEYS for a key (lower-cased), or undefined. */
export function conditionKeyInfo(key: string): { type: KeyType; known: 'resource' | 'request'; multi?: boolean } | undefined {
  const k = key.toLowerCase();
  const exact = k.endsWith('/') ? undefined : CONDITION_KEYS.get(k);
  if (exact) return exact;
  for (const prefix of ['secrets:resourcetag/', 'secrets:requesttag/']) {
    if (k.startsWith(prefix) && k.length > prefix.length) return CONDITION_KEYS.get(prefix);
  }
  return undefined;
}

/** The operators without IfExists / set qualifiers, the kind of value each compares, and whether it negates. */
const BASE_OPERATORS: ReadonlyMap<string, { type: KeyType | 'null'; negated: boolean }> = new Map([
  ['StringEquals', { type: 'string', negated: false }],
  ['StringNotEquals', { type: 'string', negated: true }],
  ['StringEqualsIgnoreCase', { type: 'string', negated: false }],
  ['StringNotEqualsIgnoreCase', { type: 'string', negated: true }],
  ['StringLike', { type: 'string', negated: false }],
  ['StringNotLike', { type: 'string', negated: true }],
  ['NumericEquals', { type: 'numeric', negated: false }],
  ['NumericNotEquals', { type: 'numeric', negated: true }],
  ['NumericLessThan', { type: 'numeric', negated: false }],
  ['NumericLessThanEquals', { type: 'numeric', negated: false }],
  ['NumericGreaterThan', { type: 'numeric', negated: false }],
  ['NumericGreaterThanEquals', { type: 'numeric', negated: false }],
  ['DateEquals', { type: 'date', negated: false }],
  ['DateNotEquals', { type: 'date', negated: true }],
  ['DateLessThan', { type: 'date', negated: false }],
  ['DateLessThanEquals', { type: 'date', negated: false }],
  ['DateGreaterThan', { type: 'date', negated: false }],
  ['DateGreaterThanEquals', { type: 'date', negated: false }],
  ['Bool', { type: 'bool', negated: false }],
  ['Null', { type: 'null', negated: false }],
]);

/** Operator names a policy may use (without IfExists / set qualifiers). */
export const OPERATOR_NAMES: readonly string[] = [...BASE_OPERATORS.keys()];

/** The parts of an operator as written, e.g. `ForAnyValue:StringLikeIfExists`. */
export interface OperatorParts {
  /** As written, e.g. `ForAnyValue:StringLikeIfExists`. */
  readonly operator: string;
  /** The base operator, e.g. `StringLike`. */
  readonly base: string;
  readonly negated: boolean;
  readonly ifExists: boolean;
  readonly set: 'ForAnyValue' | 'ForAllValues' | undefined;
}

/** Parses an operator name into its parts, or undefined when unknown. */
export function parseOperator(name: string): OperatorParts | undefined {
  let rest = name;
  let set: OperatorParts['set'];
  const q = (['ForAnyValue', 'ForAllValues'] as const).find((x) => rest.startsWith(`${x}:`));
  if (q) {
    set = q;
    rest = rest.slice(q.length + 1);
  }
  let ifExists = false;
  if (rest.endsWith('IfExists')) {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  const base = BASE_OPERATORS.get(rest);
  if (!base || (ifExists && rest === 'Null')) return undefined;
  return { operator: name, base: rest, negated: base.negated, ifExists, set };
}

/** The type an operator compares as. */
export function operatorType(base: string): KeyType | 'null' | undefined {
  return BASE_OPERATORS.get(base)?.type;
}

/** IAM wildcard match: `*` is any run of characters (including `/`), `?` exactly one. */
export function wildcardMatch(pattern: string, text: string, ignoreCase = false): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const t = ignoreCase ? text.toLowerCase() : text;
  // Iterative matcher with backtracking to the last `*`: linear in practice, no regex injection.
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    // `*` first: a `*` in the pattern is always a wildcard, even where the text has a `*`.
    if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ti;
    } else if (pi < p.length && (p[pi] === '?' || p[pi] === t[ti])) {
      pi++;
      ti++;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** Milliseconds since the epoch of an ISO 8601 date or epoch seconds, or undefined. */
export function parseDate(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
