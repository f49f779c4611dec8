/** `secrets audit` (query), `secrets audit verify` and `secrets audit export` (docs/audit.md). */
import type { Command } from 'commander';
import { type AuditEvent, parseAnchor } from '../../audit/format.js';
import { allEvents, type Anchor, type AuditQuery, matches, queryLog, toCloudTrail, verifyLog } from '../../audit/reader.js';
import { assertTeamTrailIntact, publishTrail, readTeamTrail } from '../../audit/team-trail.js';
import type { VaultState } from '../../core/model.js';
import { ExitCode, SecretsError } from '../../core/errors.js';
import type { App } from '../app.js';
import type { AppDeps } from '../../app/compose.js';
import { VERSION } from '../version.js';
import { formatError, formatJson, formatTable, formatWarning, progressOnTty } from '../ui.js';
import { intArg } from '../value-source.js';

const UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `15m`, `24h`, `7d`, `2w` before now, or an ISO 8601 date/time. */
export function parseWhen(flag: string, text: string, now: Date): string {
  const rel = /^(\d{1,9})([smhdw])$/.exec(text);
  if (rel) return new Date(now.getTime() - Number(rel[1]) * (UNITS[rel[2] as string] ?? 0)).toISOString();
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && !Number.isNaN(Date.parse(text))) return new Date(Date.parse(text)).toISOString();
  throw new SecretsError('USAGE', `invalid ${flag} ${JSON.stringify(text)}`, `use a duration such as 30m, 24h, 7d, 2w, or a date such as 2026-11-01`);
}

/** The vault, this machine's log of it, the audit anchors the vault holds (signed by their writers) and this identity's own. */
async function source(deps: AppDeps): Promise<{ vaultId: string; path: string; anchors: Anchor[]; mine: Anchor | undefined; state: VaultState }> {
  const { identity } = await deps.identities.load();
  const state = await deps.vault.read(identity);
  const anchors: Anchor[] = [];
  for (const [writer, text] of state.head.audit ?? []) {
    const a = parseAnchor(text);
    if (a) anchors.push({ writer, ...a });
  }
  return {
    vaultId: state.vault.id,
    path: deps.auditLog().path(state.vault.id),
    anchors,
    mine: anchors.find((a) => a.writer === identity.id),
    state,
  };
}

export function register(program: Command, app: App): void {
  const audit = program
    .command('audit')
    .description("query this machine's audit trail of the vault, newest first (a table on a terminal, JSON lines in a pipe)")
    .option('--secret <name>', 'events about this secret (name or id)')
    .option('--event <name>', 'events with this name, e.g. GetSecretValue')
    .option('--principal <name>', 'events by this member (name or id)')
    .option('--since <when>', 'events at or after: a duration (30m, 24h, 7d, 2w) or a date')
    .option('--until <when>', 'events at or before: a duration or a date')
    .option('--outcome <outcome>', 'success, denied or error')
    .option('--limit <n>', 'at most N events (the newest)', intArg('--limit'))
    .option('--all-members', "every member's published trail (audit/<id>.jsonl beside the vault), each chain and signature verified")
    .option('--json', 'print a JSON array')
    .action(
      async (
        opts: {
          secret?: string;
          event?: string;
          principal?: string;
          since?: string;
          until?: string;
          outcome?: string;
          limit?: number;
          allMembers?: boolean;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        if (opts.outcome !== undefined && !['success', 'denied', 'error'].includes(opts.outcome)) {
          throw new SecretsError('USAGE', `--outcome must be success, denied or error, not ${JSON.stringify(opts.outcome)}`);
        }
        if (opts.limit !== undefined && opts.limit < 1) throw new SecretsError('USAGE', '--limit must be at least 1');
        const deps = app.deps(cmd);
        const now = deps.clock.now();
        const q: AuditQuery = {
          secret: opts.secret,
          event: opts.event,
          principal: opts.principal,
          since: opts.since !== undefined ? parseWhen('--since', opts.since, now) : undefined,
          until: opts.until !== undefined ? parseWhen('--until', opts.until, now) : undefined,
          outcome: opts.outcome,
          limit: opts.limit,
        };
        const src = await source(deps);
        let events: (AuditEvent & { src?: string })[];
        if (opts.allMembers) {
          const team = await readTeamTrail({ vaultPath: deps.vault.location, vaultId: src.vaultId, members: src.state.members });
          assertTeamTrailIntact(team.files);
          events = team.events
            .filter((e) => matches(e, q))
            .sort((a, b) => (a.eventTime < b.eventTime ? 1 : a.eventTime > b.eventTime ? -1 : 0))
            .slice(0, q.limit ?? Infinity);
        } else {
          events = queryLog(src.path, q);
        }
        if (opts.json) return app.emit({ stdout: formatJson(events) });
        if (!app.io.stdoutIsTTY) return app.emit({ stdout: events.map((e) => `${JSON.stringify(e)}\n`).join('') });
        const rows = events.map((e) => [
          e.eventTime.replace(/\.\d{3}Z$/, 'Z'),
          e.eventName,
          e.principal.name ?? e.principal.id,
          e.secretName ?? e.target ?? '-',
          e.outcome === 'success' ? 'success' : `${e.outcome} (${e.errorCode ?? '?'})`,
        ]);
        app.emit({
          stdout: rows.length > 0 ? formatTable(['TIME', 'EVENT', 'PRINCIPAL', 'SECRET', 'OUTCOME'], rows, [0]) : '',
          stderr: rows.length === 0 ? 'No events match.\n' : '',
        });
      },
    );
  audit
    .command('publish')
    .description("append this identity's new events to its published trail beside the vault (audit/<identity-id>.jsonl); `secrets sync` does this too")
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, cmd: Command) => {
      // `audit`'s own --json is parsed before the subcommand's: read both.
      const opts = cmd.optsWithGlobals<{ json?: boolean }>();
      const deps = app.deps(cmd);
      const { identity } = await deps.identities.load();
      const src = await source(deps);
      const r = await publishTrail({ vaultPath: deps.vault.location, vaultId: src.vaultId, localLog: src.path, identity });
      if (opts.json) return app.emit({ stdout: formatJson({ Path: r.path, Published: r.published, Total: r.total }) });
      app.emit({ stderr: `Published ${r.published} new event(s) to ${r.path} (${r.total} in all).\n` });
    });
  audit
    .command('verify')
    .description("check the audit log's hash chain and the vault's signed anchors of it; exit 6 at the first break")
    .option('--all-members', "also verify every member's published trail beside the vault")
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ allMembers?: boolean; json?: boolean }>();
      const deps = app.deps(cmd);
      const { vaultId, path, anchors, mine, state } = await source(deps);
      if (opts.allMembers) {
        const team = await readTeamTrail({ vaultPath: deps.vault.location, vaultId, members: state.members });
        const broken = team.files.filter((f) => f.broken);
        const exitCode = broken.length > 0 ? ExitCode.integrity : ExitCode.ok;
        if (opts.json) return app.emit({ stdout: formatJson({ Files: team.files }), exitCode });
        const lines = team.files.map((f) =>
          f.broken
            ? formatError(`the published trail of ${f.member} is broken at event ${f.broken.seq}: ${f.broken.problem}`)
            : `${f.member}: ${f.events} events, chain and signatures intact\n`,
        );
        return app.emit({ stderr: lines.join('') || 'No published trails yet (`secrets audit publish`).\n', exitCode });
      }
      const r = verifyLog(path, vaultId, anchors, mine, progressOnTty(app.io, 'verifying the audit log (MiB)'));
      const exitCode = r.broken ? ExitCode.integrity : ExitCode.ok;
      if (opts.json) {
        return app.emit({
          stdout: formatJson({
            Path: path,
            Events: r.events,
            Intact: !r.broken,
            ...(r.broken ? { Broken: { Seq: r.broken.seq, Problem: r.broken.problem } } : {}),
            ...(r.anchor ? { Anchor: r.anchor } : {}),
            TornTail: r.tornTail,
          }),
          exitCode,
        });
      }
      if (r.broken) {
        return app.emit({
          stderr: formatError(
            `audit log ${path} is broken at event ${r.broken.seq}: ${r.broken.problem}`,
            'keep a copy of the file for investigation; events after the break cannot be trusted',
          ),
          exitCode,
        });
      }
      const anchored = r.anchor
        ? `; event ${r.anchor.seq} matches the vault's signed anchor`
        : '; no anchor in the vault yet (anchors are written with the next change to the vault)';
      const torn = r.tornTail ? formatWarning('the last line is incomplete (an append died before it finished); it is not counted') : '';
      app.emit({ stderr: `audit log ${path}: ${r.events} events, chain intact${anchored}\n${torn}` });
    });
  audit
    .command('export')
    .description('print every event for a SIEM: the log as JSON lines, or CloudTrail-shaped records')
    .option('--format <format>', 'jsonl or cloudtrail', 'jsonl')
    .action(async (opts: { format: string }, cmd: Command) => {
      if (opts.format !== 'jsonl' && opts.format !== 'cloudtrail') {
        throw new SecretsError('USAGE', `--format must be jsonl or cloudtrail, not ${JSON.stringify(opts.format)}`);
      }
      const { path } = await source(app.deps(cmd));
      // Streamed: a log of a million events is not held in memory.
      if (opts.format === 'cloudtrail') {
        app.io.writeOut('{"Records":[');
        let first = true;
        for (const e of allEvents(path)) {
          app.io.writeOut(`${first ? '\n' : ',\n'}${JSON.stringify(toCloudTrail(e, VERSION))}`);
          first = false;
        }
        app.io.writeOut(']}\n');
      } else {
        for (const e of allEvents(path)) app.io.writeOut(`${JSON.stringify(e)}\n`);
      }
      app.emit({});
    });
}
