/**
 * `secrets sync`, `secrets clone`, `secrets status`, and the two drivers git calls
 * (`merge-driver`, `diff-text`, hidden from help). The work is in sync/sync.ts.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SecretsError } from '../../core/errors.js';
import type * as SyncModule from '../../sync/sync.js';
import type { SyncContext } from '../../sync/sync.js';
import type { App } from '../app.js';
import type { AppDeps } from '../../app/compose.js';
import { formatFields, formatJson, formatNote, formatTable } from '../ui.js';

/** How git should run this very program: the same node and the same entry script. */
function self(): string[] {
  return [process.execPath, process.argv[1] ?? 'secrets'];
}

export function syncContext(app: App, deps: AppDeps): SyncContext {
  return {
    deps,
    repo: deps.fileVault,
    vaultPath: deps.paths.vault,
    env: app.io.env,
    self: self(),
    stateDir: deps.paths.stateDir,
    trustDir: deps.paths.trustDir,
    auditLogPath: (vaultId) => deps.auditLog().path(vaultId),
    note: (m) => app.io.writeErr(formatNote(m)),
  };
}

const syncModule = (): Promise<typeof SyncModule> => import('../../sync/sync.js');

export function register(program: Command, app: App): void {
  program
    .command('sync')
    .description('share the vault through git: commit local changes, fetch, verify, join the histories, push')
    .option('--setup', 'make the vault directory a git work tree and register the merge and diff drivers')
    .option('--remote <url>', 'with --setup: the remote to share through (becomes origin)')
    .option('--json', 'print JSON')
    .action(async (opts: { setup?: boolean; remote?: string; json?: boolean }, cmd: Command) => {
      const deps = app.deps(cmd);
      const ctx = syncContext(app, deps);
      const sync = await syncModule();
      if (opts.remote !== undefined && !opts.setup) throw new SecretsError('USAGE', '--remote goes with --setup', 'secrets sync --setup --remote URL');
      if (opts.setup) {
        const r = await sync.setupSync(ctx, { remote: opts.remote });
        if (opts.json) return app.emit({ stdout: formatJson(r) });
        const next = r.Remote !== undefined ? 'Next: secrets sync (pushes the vault)' : 'Next: secrets sync --setup --remote URL, or keep it local';
        return app.emit({ stderr: `${r.Created ? 'Created' : 'Using'} a git work tree at ${r.Directory}; merge and diff drivers registered.\n${next}\n` });
      }
      const r = await sync.syncVault(ctx);
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      const lines: string[] = [];
      for (const c of r.Conflicts) lines.push(formatNote(`merged: ${c}`));
      if (r.Remote === undefined)
        lines.push(`${r.Committed ? 'Committed' : 'Nothing to commit'} locally; this vault has no remote (secrets sync --setup --remote URL).\n`);
      else if (r.Offline) lines.push(`${r.Committed ? 'Committed locally' : 'Nothing new'}; not pushed: the remote could not be reached.\n`);
      else lines.push(`Synced with ${r.Remote}${r.Merged ? ' (merged)' : ''}${r.Committed ? ', local changes pushed' : ''}.\n`);
      app.emit({ stderr: lines.join('') });
    });

  program
    .command('clone')
    .description('clone a shared vault, verify every record, and pin its identity on this machine')
    .argument('<remote>', 'the git remote')
    .argument('[dir]', 'where to put it (default: the remote name)')
    .option('--json', 'print JSON')
    .action(async (remote: string, dir: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const deps = app.deps(cmd);
      const { vaultPath: _v, repo: _r, ...ctx } = syncContext(app, deps);
      const r = await (await syncModule()).cloneVault({ ...ctx, repoFor: deps.repoFor }, { remote, dir, cwd: process.cwd() });
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      app.emit({
        stderr:
          `Cloned vault ${r.Name} into ${r.Directory}; all ${r.Records} records verified.\n` +
          formatFields([
            ['Vault id', r.VaultId],
            ['Vault file', r.VaultPath],
          ]) +
          `Admins (compare these fingerprints with them out of band):\n${formatTable(
            ['NAME', 'FINGERPRINT'],
            r.Admins.map((a) => [a.Name, a.Fingerprint]),
          )}` +
          `Use it with: export SECRETS_VAULT=${r.VaultPath}\n` +
          'To join, send an admin the output of `secrets identity show`.\n',
      });
    });

  program
    .command('status')
    .description('the shared vault: last sync, uncommitted changes, commits ahead of and behind the remote, members')
    .option('--fetch', 'fetch first, so ahead/behind are current')
    .option('--json', 'print JSON')
    .action(async (opts: { fetch?: boolean; json?: boolean }, cmd: Command) => {
      const deps = app.deps(cmd);
      const r = await (await syncModule()).syncStatus(syncContext(app, deps), { fetch: opts.fetch === true });
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      app.emit({
        stdout:
          formatFields([
            ['Vault', r.Vault],
            ['Vault id', r.VaultId],
            ['Git', r.Git ? 'yes' : 'no (secrets sync --setup)'],
            ['Remote', r.Remote],
            ['Last sync', r.LastSync ?? (r.Git ? 'never' : undefined)],
            ['Uncommitted', r.Git ? (r.UncommittedChanges ? 'yes' : 'no') : undefined],
            ['Ahead', r.Ahead?.toString()],
            ['Behind', r.Behind?.toString()],
            ['Heads', r.Heads?.join(' ')],
          ]) +
          `Members:\n${formatTable(
            ['NAME', 'ROLE', 'FINGERPRINT'],
            r.Members.map((m) => [m.Name, m.Role, m.Fingerprint]),
          )}`,
      });
    });

  program
    .command('merge-driver', { hidden: true })
    .description('git merge driver for vault.yaml (registered by `secrets sync --setup`)')
    .argument('<base>')
    .argument('<ours>')
    .argument('<theirs>')
    .action(async (base: string, ours: string, theirs: string, _opts: unknown, cmd: Command) => {
      const deps = app.deps(cmd);
      const r = await (await syncModule()).runMergeDriver(syncContext(app, deps), { base, ours, theirs });
      // Written by hand, not by ui.ts: git runs this driver and sync/sync.ts reads these lines back
      // from git's output, so they stay plain whatever colour a person's terminal gets.
      app.emit({ stderr: r.conflicts.map((c) => `secrets: merged: ${c}\n`).join('') });
    });

  program
    .command('diff-text', { hidden: true })
    .description('git textconv for vault.yaml: names, versions, tags and stages, never values')
    .argument('<file>')
    .action(async (file: string) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new SecretsError('NOT_FOUND', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      app.emit({ stdout: (await syncModule()).diffText(text) });
    });
}
