/**
 * Policy issues as people read them: core/policy.ts reports a name it does not know with the
 * names it may be a typo of, and this adds "(did you mean NAME?)" to the message.
 */
import { checkPolicy as checkPolicyGrammar, type Policy, type PolicyIssue, type PolicyKind } from '../core/policy.js';
import { nearestName } from './suggest.js';

/** The message of an issue, with the suggestion for a misspelled name when one is near. */
export function issueMessage(issue: PolicyIssue): string {
  const m = issue.misspelling;
  if (!m) return issue.message;
  for (const { word, names, suffix } of m.lookups) {
    const name = nearestName(word, names);
    if (name !== undefined) return `${issue.message.slice(0, m.at)} (did you mean ${name}${suffix ?? ''}?)${issue.message.slice(m.at)}`;
  }
  return issue.message;
}

/** core's checkPolicy, with every issue's message phrased by issueMessage. */
export function checkPolicy(doc: unknown, kind: PolicyKind): { policy: Policy | undefined; issues: PolicyIssue[] } {
  const { policy, issues } = checkPolicyGrammar(doc, kind);
  return { policy, issues: issues.map((i) => ({ level: i.level, path: i.path, message: issueMessage(i) })) };
}
