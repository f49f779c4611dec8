/**
 * Policy documents (docs/policies.md): IAM documents with `secrets:` actions and condition keys.
 * This module owns the grammar: it turns a parsed JSON/YAML value into a checked Policy,
 * collecting every problem with the path where it sits (the CLI maps paths to line numbers, and
 * phrases "did you mean …?" for a misspelled name from the names an issue offers). The words
 * themselves are in policy-vocabulary.ts; evaluation lives in policy-eval.ts.
 */
import {
  ACTIONS,
  CONDITION_KEY_NAMES,
  conditionKeyInfo,
  isGlobalAction,
  type OperatorParts,
  OPERATOR_NAMES,
  operatorType,
  parseDate,
  parseOperator,
  wildcardMatch,
} from './policy-vocabulary.js';

/** One condition: operator, key and the policy's values. */
export interface Condition extends OperatorParts {
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

/** A name that matches none the language knows, and the names it may be a typo of. */
export interface Misspelling {
  /** Where in the issue's message a suggestion goes. */
  readonly at: number;
  /** What to compare, in order: the first lookup with a near name gives the suggestion. */
  readonly lookups: readonly NameLookup[];
}

/** A word as written and the known names to compare it with. */
export interface NameLookup {
  readonly word: string;
  readonly names: readonly string[];
  /** Written after the name found (the tag key of `secrets:ResourceTags/env`). */
  readonly suffix?: string;
}

/** A problem found in a document, with the path to the value it is about. */
export interface PolicyIssue {
  readonly level: 'error' | 'warning';
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** Set when the problem is a name that may be misspelled. */
  readonly misspelling?: Misspelling;
}

/** The only policy language version (as in IAM). */
export const POLICY_VERSION = '2012-10-17';

const STATEMENT_FIELDS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/** Checks a document; returns the policy when there are no errors, and every issue found. */
export function checkPolicy(doc: unknown, kind: PolicyKind): { policy: Policy | undefined; issues: PolicyIssue[] } {
  const issues: PolicyIssue[] = [];
  const report =
    (level: PolicyIssue['level']): Report =>
    (path, message, misspelling) =>
      void issues.push({ level, path, message, ...(misspelling ? { misspelling } : {}) });
  const error = report('error');
  const warn = report('warning');

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

type Report = (path: (string | number)[], message: string, misspelling?: Misspelling) => void;

/** A misspelling whose suggestion goes at the end of the message. */
function atEnd(message: string, ...lookups: NameLookup[]): [string, Misspelling] {
  return [message, { at: message.length, lookups }];
}

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
  const err: Report = (p, m, s) => {
    before.errors++;
    error(p, m, s);
  };
  for (const k of Object.keys(raw)) {
    if (!STATEMENT_FIELDS.has(k)) {
      err(at(k), ...atEnd(`unknown statement field ${JSON.stringify(k)}`, { word: k, names: [...STATEMENT_FIELDS] }));
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
  if (notResource !== undefined && effect === 'Allow')
    warn(at('NotResource'), 'Allow with NotResource grants every other secret, including ones created later');

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
function checkActions(v: unknown, path: (string | number)[], err: Report, warn: Report, allow: boolean): string[] | undefined {
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
      const head = `action ${JSON.stringify(a)} matches no action`;
      warn(p, `${head}: it has no effect`, { at: head.length, lookups: [{ word: a, names: ACTIONS }] });
      return;
    }
    if (allow && a.toLowerCase() === 'secrets:*') warn(p, 'grants every action ("secrets:*")');
  });
  return list;
}

function checkResources(v: unknown, path: (string | number)[], err: Report, warn: Report, allow: boolean): string[] | undefined {
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
      const word = operator.replace(/^For(Any|All)Values?:/, '').replace(/IfExists$/, '');
      err(at('Condition', operator), ...atEnd(`unknown condition operator ${JSON.stringify(operator)}`, { word, names: OPERATOR_NAMES }));
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
        // A misspelled tag key prefix keeps its tag (`secrets:ResourceTags/env`); else any key will do.
        const tag: NameLookup[] =
          slash > 0 ? [{ word: key.slice(0, slash), names: ['secrets:ResourceTag', 'secrets:RequestTag'], suffix: key.slice(slash) }] : [];
        const any: NameLookup = { word: key, names: CONDITION_KEY_NAMES.filter((n) => !n.includes('<')) };
        err(path, ...atEnd(`unknown condition key ${JSON.stringify(key)}`, ...tag, any));
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
        warn(
          path,
          `${key} is a ${info.type} key and ${parsed.base} compares ${opType ?? '?'} values: its value is read as one, and a value that is not never matches`,
        );
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
    return out.every((x) => x !== undefined) ? out : undefined;
  }
  const one = scalar(v);
  return one === undefined ? undefined : [one];
}

const POLICY_NAME = /^[A-Za-z0-9_+=,.@-]{1,128}$/;

/** True for a valid policy name (IAM's: 1–128 of A-Za-z0-9 _+=,.@-). */
export function isPolicyName(name: string): boolean {
  return POLICY_NAME.test(name);
}
