/** `secrets delete NAME` (with a recovery window, or --force) and `secrets restore NAME`. */
import type { Command } from 'commander';
import { SecretsError } from '../../core/errors.js';
import { deleteSecret, restoreSecret } from '../../core/use-cases/write.js';
import type { App } from '../app.js';
import { askConfirm } from '../prompt.js';
import { formatJson } from '../ui.js';
import { intArg } from '../value-source.js';

export function register(program: Command, app: App): void {
  program
    .command('delete')
    .description('delete a secret, recoverable for 7-30 days (default 30), or at once with --force')
    .argument('<name>', 'secret name')
    .option('--recovery-window-days <days>', 'days before it is purged (7-30)', intArg('--recovery-window-days'))
    .option('--force', 'delete now, without recovery')
    .option('--yes', 'do not ask for confirmation')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { recoveryWindowDays?: number; force?: boolean; yes?: boolean; json?: boolean }, cmd: Command) => {
      const deps = app.deps(cmd);
      if (!opts.yes) {
        if (!app.io.stdinIsTTY || !app.io.stderrIsTTY) {
          throw new SecretsError('USAGE', `refusing to delete ${name} without confirmation`, 'pass --yes to confirm when not on a terminal');
        }
        const what = opts.force
          ? `Delete ${name} now, with no way to recover it?`
          : `Delete ${name}? It can be restored for ${opts.recoveryWindowDays ?? 30} days.`;
        if (!(await askConfirm(what))) throw new SecretsError('INTERRUPTED', 'not deleted');
      }
      const r = await deleteSecret(deps, { name, recoveryWindowDays: opts.recoveryWindowDays, force: opts.force === true });
      const text = opts.force ? `Deleted ${name}\n` : `Deleted ${name}; restorable with \`secrets restore ${name}\` until ${r.DeletionDate}\n`;
      app.emit(opts.json ? { stdout: formatJson(r) } : { stderr: text });
    });
  program
    .command('restore')
    .description('cancel the deletion of a secret within its recovery window')
    .argument('<name>', 'secret name')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const r = await restoreSecret(app.deps(cmd), { name });
      app.emit(opts.json ? { stdout: formatJson(r) } : { stderr: `Restored ${name}\n` });
    });
}
