/**
 * The policy language (docs/policies.md): IAM documents with `secrets:` actions and condition
 * keys. This module owns the grammar: it turns a parsed JSON/YAML value into a checked Policy,
 * collecting every problem with the path where it sits (the CLI maps paths to line numbers).
 * Evaluation lives in policy-eval.ts.
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

export type ActionName = `secrets:${(typeof SECRET_ACTIONS)[number] | (typeof GLOBAL_ACTIONS)[number]}`;

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

/** One condition: operator, key and the policy's values. */
export interface Condition {
  /** As written, e.g. `ForAnyValue:StringLikeIfExists`. */
  readonly operator: string;
  /** The base operator, e.g. `StringLike`. */
  readonly base: string;
  readonly negated: boolean;
  readonly ifExists: boolean;
  readonly set: 'ForAnyValue' | 'ForAllValues' | undefined;
  /** As written. */
  readonly key: string;
  readonly values: readonly string[];
}

/** A principal pattern list: `*` (everyone) or member names/ids (wildcards allowed). */
export type PrincipalSpec = '*' | readonly string[];

/** One checked statement. */
export interface Statement {
  readonly sid: string | undefined;
  /** Position in the document's Statement list (0-based). */
  readonly index: number;
  readonly effect: 'Allow' | 'Deny';
  readonly principal: PrincipalSpec | undefined;
  readonly notPrincipal: PrincipalSpec | undefined;
  readonly action: readonly string[] | undefined;
  readonly notAction: readonly string[] | undefined;
  readonly resource: readonly string[] | undefined;
  readonly notResource: readonly string[] | undefined;
  readonly conditions: readonly Condition[];
}

/** A checked policy document. */
export interface Policy {
  readonly statements: readonly Statement[];
}

/** Identity policies attach to members; resource policies to one secret and name principals. */
export type PolicyKind = 'identity' | 'resource';

/** A problem found in a document, with the path to the value it is about. */
export interface PolicyIssue {
  readonly level: 'error' | 'warning';
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** The only policy language version (as in IAM). */
export const POLICY_VERSION = '2012-10-17';

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

/** True for actions that are about no one secret (their Resource is `*`). */
export function isGlobalAction(action: string): boolean {
  return (GLOBAL_ACTIONS as readonly string[]).includes(action.replace(/^secrets:/i, ''));
}

/** Parses an operator name into its parts, or undefined when unknown. */
export function parseOperator(name: string): Omit<Condition, 'key' | 'values'> | undefined {
  let rest = name;
  let set: Condition['set'];
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

const STATEMENT_FIELDS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/** The nearest name in `names` to `word` (for "did you mean"), if close enough. */
export function nearest(word: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  const w = word.toLowerCase();
  // A name cut short (secrets:GetSecret) means the longer name, whatever the edit distance says.
  const extended = names.filter((n) => n.toLowerCase().startsWith(w));
  if (w.length >= 4 && extended.length > 0) return extended.sort((a, b) => a.length - b.length)[0];
  for (const n of names) {
    const score = editDistance(w, n.toLowerCase());
    if (score < bestScore) {
      best = n;
      bestScore = score;
    }
  }
  return bestScore <= Math.max(2, Math.floor(w.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

/** Checks a document; returns the policy when there are no errors, and every issue found. */
export function checkPolicy(doc: unknown, kind: PolicyKind): { policy: Policy | undefined; issues: PolicyIssue[] } {
  const issues: PolicyIssue[] = [];
  const error = (path: (string | number)[], message: string): void => void issues.push({ level: 'error', path, message });
  const warn = (path: (string | number)[], message: string): void => void issues.push({ level: 'warning', path, message });

  if (!isRecord(doc)) {
    error([], 'a policy is a mapping with Version and Statement');
    return { policy: undefined, issues };
  }
  for (const k of Object.keys(doc)) {
    if (k !== 'Version' && k !== 'Statement' && k !== 'Id') error([k], `unknown top-level field ${JSON.stringify(k)} (expected Version, Statement, Id)`);
  }
  const version = own(doc, 'Version');
  if (version === undefined) error([], `missing Version (use "${POLICY_VERSION}")`);
  else if (version !== POLICY_VERSION) error(['Version'], `Version must be "${POLICY_VERSION}"`);
  const rawStatements = own(doc, 'Statement');
  const list = Array.isArray(rawStatements) ? rawStatements : rawStatements === undefined ? undefined : [rawStatements];
  const single = !Array.isArray(rawStatements);
  if (!list || list.length === 0) {
    error(rawStatements === undefined ? [] : ['Statement'], 'a policy needs at least one Statement');
    return { policy: undefined, issues };
  }
  const statements: Statement[] = [];
  const sids = new Set<string>();
  list.forEach((raw, index) => {
    const at = (...rest: (string | number)[]): (string | number)[] => (single ? ['Statement', ...rest] : ['Statement', index, ...rest]);
    const s = checkStatement(raw, index, kind, at, error, warn);
    if (s?.sid !== undefined) {
      if (sids.has(s.sid)) error(at('Sid'), `duplicate Sid ${JSON.stringify(s.sid)}`);
      sids.add(s.sid);
    }
    if (s) statements.push(s);
  });
  const ok = !issues.some((i) => i.level === 'error');
  return { policy: ok ? { statements } : undefined, issues };
}

type Report = (path: (string | number)[], message: string) => void;

function stringList(v: unknown): string[] | undefined {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v;
  return undefined;
}

function checkStatement(
  raw: unknown,
  index: number,
  kind: PolicyKind,
  at: (...rest: (string | number)[]) => (string | number)[],
  error: Report,
  warn: Report,
): Statement | undefined {
  if (!isRecord(raw)) {
    error(at(), 'a statement is a mapping with Effect, Action and Resource');
    return undefined;
  }
  const before = { errors: 0 };
  const err: Report = (p, m) => {
    before.errors++;
    error(p, m);
  };
  for (const k of Object.keys(raw)) {
    if (!STATEMENT_FIELDS.has(k)) {
      const guess = nearest(k, [...STATEMENT_FIELDS]);
      err(at(k), `unknown statement field ${JSON.stringify(k)}${guess ? ` (did you mean ${guess}?)` : ''}`);
    }
  }
  const sidRaw = own(raw, 'Sid');
  let sid: string | undefined;
  if (sidRaw !== undefined) {
    if (typeof sidRaw !== 'string' || !/^[A-Za-z0-9]*$/.test(sidRaw)) err(at('Sid'), 'Sid must be letters and digits');
    else sid = sidRaw;
  }
  const effect = own(raw, 'Effect');
  if (effect !== 'Allow' && effect !== 'Deny') err(effect === undefined ? at() : at('Effect'), 'Effect must be "Allow" or "Deny"');

  // Principal: forbidden in identity policies, required in resource policies.
  const principal = checkPrincipal(raw, 'Principal', at, err);
  const notPrincipal = checkPrincipal(raw, 'NotPrincipal', at, err);
  if (kind === 'identity' && (principal !== undefined || notPrincipal !== undefined)) {
    err(at(principal !== undefined ? 'Principal' : 'NotPrincipal'), 'an identity policy names no Principal: attach it to members instead');
  }
  if (kind === 'resource' && principal === undefined && notPrincipal === undefined) {
    err(at(), 'a resource policy statement needs a Principal ("*" or {"Member": [names]})');
  }

  const action = own(raw, 'Action');
  const notAction = own(raw, 'NotAction');
  if ((action === undefined) === (notAction === undefined)) err(at(), 'a statement needs exactly one of Action or NotAction');
  const actions = checkActions(action, at('Action'), err, warn, effect === 'Allow');
  const notActions = checkActions(notAction, at('NotAction'), err, warn, false);
  if (notAction !== undefined && effect === 'Allow') warn(at('NotAction'), 'Allow with NotAction grants every other action, including ones added later');

  const resource = own(raw, 'Resource');
  const notResource = own(raw, 'NotResource');
  if ((resource === undefined) === (notResource === undefined)) err(at(), 'a statement needs exactly one of Resource or NotResource');
  // `*` is the idiom in a resource policy (it means "this secret"), and for actions on no one
  // secret; narrowed by a condition it is ABAC. Otherwise an Allow on every secret is worth a look.
  const secretLevel = (actions ?? []).some((a) => ACTIONS.some((known) => !isGlobalAction(known) && wildcardMatch(a, known, true)));
  const broad = effect === 'Allow' && kind === 'identity' && secretLevel && own(raw, 'Condition') === undefined;
  const resources = checkResources(resource, at('Resource'), err, warn, broad);
  const notResources = checkResources(notResource, at('NotResource'), err, () => undefined, false);
  if (notResource !== undefined && effect === 'Allow') warn(at('NotResource'), 'Allow with NotResource grants every other secret, including ones created later');

  const conditions = checkConditions(own(raw, 'Condition'), at, err, warn);
  if (before.errors > 0) return undefined;
  return {
    sid,
    index,
    effect: effect as 'Allow' | 'Deny',
    principal,
    notPrincipal,
    action: actions,
    notAction: notActions,
    resource: resources,
    notResource: notResources,
    conditions,
  };
}

function checkPrincipal(
  raw: Record<string, unknown>,
  field: 'Principal' | 'NotPrincipal',
  at: (...rest: (string | number)[]) => (string | number)[],
  err: Report,
): PrincipalSpec | undefined {
  const v = own(raw, field);
  if (v === undefined) return undefined;
  if (v === '*') return '*';
  if (isRecord(v)) {
    const keys = Object.keys(v);
    const members = stringList(own(v, 'Member'));
    if (keys.length === 1 && keys[0] === 'Member' && members) return members;
  }
  err(at(field), `${field} must be "*" or {"Member": NAME or [NAMES]} (member names or ids; * and ? allowed)`);
  return undefined;
}

/** IAM's action grammar: `vendor:name`, the name with wildcards. Anything else IAM refuses too. */
const ACTION_SYNTAX = /^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$/;

/**
 * Action lists. IAM accepts any well-formed `vendor:action`, known or not, and so do we: one
 * that matches no action here is a warning (it grants or denies nothing), an error only with
 * `--strict`. `allow` adds the warnings about broad grants.
 */
function checkActions(
  v: unknown,
  path: (string | number)[],
  err: Report,
  warn: Report,
  allow: boolean,
): string[] | undefined {
  if (v === undefined) return undefined;
  const list = stringList(v);
  if (!list) {
    err(path, 'must be an action name or a list of them, e.g. "secrets:GetSecretValue"');
    return undefined;
  }
  list.forEach((a, i) => {
    const p = Array.isArray(v) ? [...path, i] : path;
    if (a === '*') {
      if (allow) warn(p, 'grants every action ("*")');
      return;
    }
    if (!ACTION_SYNTAX.test(a)) {
      err(p, `invalid action ${JSON.stringify(a)}: an action is "secrets:NAME" (wildcards * and ? allowed)`);
      return;
    }
    if (!a.toLowerCase().startsWith('secrets:')) {
      warn(p, `action ${JSON.stringify(a)} matches no action of this vault, whose actions start with "secrets:": it has no effect`);
      return;
    }
    if (!ACTIONS.some((known) => wildcardMatch(a, known, true))) {
      const guess = nearest(a, ACTIONS);
      warn(p, `action ${JSON.stringify(a)} matches no action${guess ? ` (did you mean ${guess}?)` : ''}: it has no effect`);
      return;
    }
    if (allow && a.toLowerCase() === 'secrets:*') warn(p, 'grants every action ("secrets:*")');
  });
  return list;
}

function checkResources(
  v: unknown,
  path: (string | number)[],
  err: Report,
  warn: Report,
  allow: boolean,
): string[] | undefined {
  if (v === undefined) return undefined;
  const list = stringList(v);
  if (!list) {
    err(path, 'must be a secret-name pattern or a list of them, e.g. "prod/*"');
    return undefined;
  }
  list.forEach((r, i) => {
    const p = Array.isArray(v) ? [...path, i] : path;
    if (r === '*') {
      if (allow) warn(p, 'allows this on every secret ("*") with no condition; narrow it to a prefix such as "dev/*"');
    } else if (!/^[A-Za-z0-9/_+=.@*?-]{1,512}$/.test(r)) {
      err(p, `invalid resource ${JSON.stringify(r)}: a secret-name pattern (A-Z a-z 0-9 / _ + = . @ - with * and ?)`);
    }
  });
  return list;
}

function checkConditions(v: unknown, at: (...rest: (string | number)[]) => (string | number)[], err: Report, warn: Report): Condition[] {
  if (v === undefined) return [];
  if (!isRecord(v)) {
    err(at('Condition'), 'Condition must be a mapping of operator → {key: value(s)}');
    return [];
  }
  const out: Condition[] = [];
  for (const [operator, block] of Object.entries(v)) {
    const parsed = parseOperator(operator);
    if (!parsed) {
      const guess = nearest(operator.replace(/^For(Any|All)Values?:/, '').replace(/IfExists$/, ''), OPERATOR_NAMES);
      err(at('Condition', operator), `unknown condition operator ${JSON.stringify(operator)}${guess ? ` (did you mean ${guess}?)` : ''}`);
      continue;
    }
    if (!isRecord(block) || Object.keys(block).length === 0) {
      err(at('Condition', operator), `${operator} must map condition keys to values`);
      continue;
    }
    const opType = operatorType(parsed.base);
    for (const [key, rawValues] of Object.entries(block)) {
      const path = at('Condition', operator, key);
      const info = conditionKeyInfo(key);
      if (!info) {
        const slash = key.indexOf('/');
        const tagGuess = slash > 0 ? nearest(key.slice(0, slash), ['secrets:ResourceTag', 'secrets:RequestTag']) : undefined;
        const guess = tagGuess !== undefined ? `${tagGuess}${key.slice(slash)}` : nearest(key, CONDITION_KEY_NAMES.filter((n) => !n.includes('<')));
        err(path, `unknown condition key ${JSON.stringify(key)}${guess ? ` (did you mean ${guess}?)` : ''}`);
        continue;
      }
      const values = conditionValues(rawValues);
      if (!values) {
        err(path, 'condition values must be a string, number, boolean or a non-empty list of them');
        continue;
      }
      if (opType === 'null' || opType === 'bool') {
        if (values.some((x) => x !== 'true' && x !== 'false')) err(path, `${parsed.base} takes "true" or "false"`);
      } else if (opType === 'numeric' && values.some((x) => x.trim() === '' || !Number.isFinite(Number(x)))) {
        err(path, `${parsed.base} takes numbers`);
      } else if (opType === 'date' && values.some((x) => parseDate(x) === undefined)) {
        err(path, `${parsed.base} takes ISO 8601 dates or epoch seconds`);
      }
      // IAM accepts any operator on any key and compares the key's value as the operator says.
      if (opType !== 'null' && opType !== info.type) {
        warn(path, `${key} is a ${info.type} key and ${parsed.base} compares ${opType ?? '?'} values: its value is read as one, and a value that is not never matches`);
      }
      out.push({ ...parsed, key, values });
    }
  }
  return out;
}

function conditionValues(v: unknown): string[] | undefined {
  const scalar = (x: unknown): string | undefined =>
    typeof x === 'string' ? x : typeof x === 'number' && Number.isFinite(x) ? String(x) : typeof x === 'boolean' ? String(x) : undefined;
  if (Array.isArray(v)) {
    if (v.length === 0) return undefined;
    const out = v.map(scalar);
    return out.every((x) => x !== undefined) ? (out) : undefined;
  }
  const one = scalar(v);
  return one === undefined ? undefined : [one];
}

/** Milliseconds since the epoch of an ISO 8601 date or epoch seconds, or undefined. */
export function parseDate(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

const POLICY_NAME = /^[A-Za-z0-9_+=,.@-]{1,128}$/;

/** True for a valid policy name (IAM's: 1–128 of A-Za-z0-9 _+=,.@-). */
export function isPolicyName(name: string): boolean {
  return POLICY_NAME.test(name);
}
