/** `secrets policy put|get|list|delete|attach|detach|validate|simulate` (docs/policies.md). */
import type { Command } from 'commander';
import { ExitCode, SecretsError } from '../../core/errors.js';
import type { PolicyKind } from '../../core/policy.js';
import { conditionKeyInfo } from '../../core/policy-vocabulary.js';
import { attachPolicy, deletePolicy, getPolicy, listPolicies, putPolicy, simulatePolicy } from '../../core/use-cases/team.js';
import type { App } from '../app.js';
import { policyDocument, readPolicyFile } from '../policy-file.js';
import { checkPolicy } from '../policy-issues.js';
import { formatFields, formatJson, formatTable, formatWarning, progressOnTty, resealSummary } from '../ui.js';
import { askConfirm } from '../prompt.js';

/** Changes that reduce access confirm on a terminal and need --yes elsewhere. */
async function confirmAccessChange(app: App, yes: boolean | undefined, what: string): Promise<void> {
  if (yes) return;
  if (!app.io.stdinIsTTY || !app.io.stderrIsTTY) {
    throw new SecretsError('USAGE', `refusing to ${what} without confirmation: it reduces access`, 'pass --yes to confirm when not on a terminal');
  }
  if (!(await askConfirm(`${what[0]?.toUpperCase() ?? ''}${what.slice(1)}? Members may lose access.`)))
    throw new SecretsError('INTERRUPTED', 'nothing changed');
}

/** Exactly one of a policy NAME or --secret SECRET. */
function target(name: string | undefined, secret: string | undefined): { name?: string; secret?: string } {
  if ((name === undefined) === (secret === undefined)) {
    throw new SecretsError('USAGE', 'name a policy, or a secret with --secret (for its resource policy), but not both');
  }
  return name !== undefined ? { name } : { secret: secret as string };
}

function hasPrincipal(doc: unknown): boolean {
  const statements = (doc as { Statement?: unknown } | null)?.Statement;
  const list: unknown[] = Array.isArray(statements) ? statements : [statements];
  return list.some((s) => typeof s === 'object' && s !== null && ('Principal' in s || 'NotPrincipal' in s));
}

/** Repeated --context KEY=VALUE; a key given twice is multi-valued (e.g. secrets:TagKeys). */
function contextMap(pairs: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const key = at < 0 ? pair : pair.slice(0, at);
    if (at < 0 || !conditionKeyInfo(key)) {
      throw new SecretsError(
        'USAGE',
        `invalid --context ${JSON.stringify(pair)}`,
        'use --context KEY=VALUE with a condition key from docs/policies.md, e.g. secrets:CurrentTime=2026-01-01T00:00:00Z',
      );
    }
    const k = key.toLowerCase();
    out.set(k, [...(out.get(k) ?? []), pair.slice(at + 1)]);
  }
  return out;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function register(program: Command, app: App): void {
  const policy = program.command('policy').description('IAM-style policies: who may do what to which secrets (admins change them)');
  policy
    .command('put')
    .description('create or replace an identity policy NAME, or the resource policy of --secret SECRET, from a YAML or JSON file')
    .argument('[name]', 'policy name (identity policy)')
    .requiredOption('-f, --file <file>', 'the policy document (YAML or JSON; - for stdin)')
    .option('--secret <secret>', 'set the resource policy of this secret instead')
    .option('--strict', 'refuse a policy with warnings too (for CI)')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, opts: { file: string; secret?: string; strict?: boolean; json?: boolean }, cmd: Command) => {
      const which = target(name, opts.secret);
      const file = await readPolicyFile(opts.file, app.io);
      const doc = policyDocument(file);
      if (opts.strict) {
        const warnings = checkPolicy(doc, which.secret !== undefined ? 'resource' : 'identity').issues.filter((i) => i.level === 'warning');
        if (warnings.length > 0) {
          throw new SecretsError(
            'USAGE',
            `--strict: ${file.name} has ${warnings.length} warning(s); nothing was changed: ${warnings.map(file.describe).join('; ')}`,
            'fix them, or leave out --strict to accept what IAM accepts',
          );
        }
      }
      const r = await putPolicy(app.deps(cmd), { ...which, doc, describe: file.describe }, progressOnTty(app.io, 're-sealing data keys'));
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      const what = r.Kind === 'resource' ? `the resource policy of ${r.Name}` : `policy ${r.Name}`;
      const warnings = checkPolicy(doc, r.Kind)
        .issues.filter((i) => i.level === 'warning')
        .map((i) => formatWarning(file.describe(i)));
      app.emit({ stderr: `${warnings.join('')}${r.Created ? 'Created' : 'Replaced'} ${what}.\n${resealSummary(r.Resealed)}` });
    });
  policy
    .command('get')
    .description('print a policy document (JSON), or with --secret the resource policy of a secret')
    .argument('[name]', 'policy name')
    .option('--secret <secret>', 'the resource policy of this secret')
    .option('--json', 'print the document with its metadata')
    .action(async (name: string | undefined, opts: { secret?: string; json?: boolean }, cmd: Command) => {
      const r = await getPolicy(app.deps(cmd), target(name, opts.secret));
      app.emit({ stdout: formatJson(opts.json ? r : r.Document) });
    });
  policy
    .command('list')
    .description('list identity policies (and whom they are attached to) and resource policies')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await listPolicies(app.deps(cmd));
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      const rows = r.Policies.map((p) => [p.Name, p.Kind, String(p.Statements), p.Kind === 'identity' ? p.AttachedTo.join(', ') || '-' : '(the secret)']);
      app.emit({ stdout: formatTable(['NAME', 'KIND', 'STATEMENTS', 'ATTACHED TO'], rows) });
    });
  policy
    .command('delete')
    .description('delete an identity policy (detach it first), or with --secret a resource policy')
    .argument('[name]', 'policy name')
    .option('--secret <secret>', 'delete the resource policy of this secret')
    .option('--yes', 'do not ask for confirmation (required when not on a terminal)')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, opts: { secret?: string; yes?: boolean; json?: boolean }, cmd: Command) => {
      await confirmAccessChange(app, opts.yes, opts.secret !== undefined ? `delete the resource policy of ${opts.secret}` : `delete policy ${name ?? '?'}`);
      const r = await deletePolicy(app.deps(cmd), target(name, opts.secret), progressOnTty(app.io, 're-sealing data keys'));
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      app.emit({ stderr: `Deleted ${opts.secret !== undefined ? `the resource policy of ${r.Name}` : `policy ${r.Name}`}.\n${resealSummary(r.Resealed)}` });
    });
  for (const attach of [true, false]) {
    policy
      .command(attach ? 'attach' : 'detach')
      .description(attach ? 'attach an identity policy to a member' : 'detach an identity policy from a member')
      .argument('<policy>', 'policy name')
      .argument('<member>', 'member name or id')
      .option('--yes', attach ? 'accepted, and ignored: attaching asks nothing' : 'do not ask for confirmation (required when not on a terminal)')
      .option('--json', 'print JSON')
      .action(async (name: string, member: string, opts: { yes?: boolean; json?: boolean }, cmd: Command) => {
        // Detaching narrows access: confirm it, as other destructive commands do.
        if (!attach) await confirmAccessChange(app, opts.yes, `detach policy ${name} from ${member}`);
        const r = await attachPolicy(app.deps(cmd), { name, member, attach }, progressOnTty(app.io, 're-sealing data keys'));
        if (opts.json) return app.emit({ stdout: formatJson(r) });
        const verb = attach ? 'attached to' : 'detached from';
        const text = r.Changed ? `Policy ${name} ${verb} ${r.Member}.\n` : `Policy ${name} was already ${verb} ${r.Member}.\n`;
        app.emit({ stderr: `${text}${resealSummary(r.Resealed)}` });
      });
  }
  policy
    .command('validate')
    .description(
      'check a policy file: grammar errors with line and column; warnings for broad grants and for what IAM accepts but matches nothing (errors with --strict)',
    )
    .requiredOption('-f, --file <file>', 'the policy document (YAML or JSON; - for stdin)')
    .option('--type <type>', 'identity or resource (default: resource when a statement names a Principal)')
    .option('--strict', 'count warnings as errors (exit 2), for CI')
    .option('--json', 'print JSON')
    .action(async (opts: { file: string; type?: string; strict?: boolean; json?: boolean }) => {
      if (opts.type !== undefined && opts.type !== 'identity' && opts.type !== 'resource') {
        throw new SecretsError('USAGE', `--type must be identity or resource, not ${JSON.stringify(opts.type)}`);
      }
      const file = await readPolicyFile(opts.file, app.io);
      const kind: PolicyKind = opts.type ?? (hasPrincipal(file.doc) ? 'resource' : 'identity');
      const checked = file.syntax.length > 0 ? [] : checkPolicy(file.doc, kind).issues;
      // With --strict a warning is reported, and counted, as an error.
      const issues = opts.strict ? checked.map((i) => ({ ...i, level: 'error' as const })) : checked;
      const errors = file.syntax.length + issues.filter((i) => i.level === 'error').length;
      const warnings = issues.filter((i) => i.level === 'warning').length;
      const exitCode = errors > 0 ? ExitCode.usage : ExitCode.ok;
      if (opts.json) {
        const list = [
          ...file.syntax.map((m) => ({ Level: 'error', Message: m })),
          ...issues.map((i) => ({
            Level: i.level,
            ...(file.locate(i.path) ? { Line: file.locate(i.path)?.line, Column: file.locate(i.path)?.col } : {}),
            Path: i.path,
            Message: i.message,
          })),
        ];
        return app.emit({ stdout: formatJson({ Valid: errors === 0, Kind: kind, Errors: errors, Warnings: warnings, Issues: list }), exitCode });
      }
      const lines = [...file.syntax, ...issues.map(file.describe)].map((l) => `${l}\n`).join('');
      const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`;
      const summary =
        errors === 0
          ? `${file.name}: valid ${kind} policy${warnings ? ` (${plural(warnings, 'warning')})` : ''}\n`
          : `${file.name}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`;
      app.emit({ stdout: `${lines}${summary}`, exitCode });
    });
  policy
    .command('simulate')
    .description('evaluate a request as the vault would: allow or deny, and the statement that decided')
    .requiredOption('--member <member>', 'member name or id')
    .requiredOption('--action <action>', 'e.g. secrets:GetSecretValue')
    .option('--secret <secret>', 'the secret (omit for ListSecrets / GetRandomPassword)')
    .option('--context <key=value>', 'set a condition key (repeat; a key given twice has several values)', collect, [])
    .option('--json', 'print JSON')
    .action(async (opts: { member: string; action: string; secret?: string; context: string[]; json?: boolean }, cmd: Command) => {
      const r = await simulatePolicy(app.deps(cmd), { member: opts.member, action: opts.action, secret: opts.secret, context: contextMap(opts.context) });
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      const decision = r.Decision === 'allowed' ? 'allow' : r.Decision === 'explicitDeny' ? 'deny (explicit)' : 'deny (implicit)';
      app.emit({
        stdout: formatFields([
          ['Decision', decision],
          ['Reason', r.Reason],
          ['Member', r.Member],
          ['Action', r.Action],
          ['Secret', r.Secret],
          ['Evaluated', r.Evaluated.join(', ') || '(no policies)'],
          [
            'Holds key',
            r.HoldsKey === undefined ? undefined : r.HoldsKey ? 'yes (can decrypt the current version)' : 'no (cannot decrypt the current version)',
          ],
        ]),
      });
    });
}
