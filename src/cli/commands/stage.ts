/**
 * `secrets stage NAME LABEL --to VERSION [--from VERSION]`: move a staging label; and
 * `secrets rollback NAME`: CURRENT back to PREVIOUS in one step. A VERSION is a version id or
 * the staging label it carries (`--to PREVIOUS`).
 */
import type { Command } from 'commander';
import { rollbackSecret, updateVersionStage } from '../../core/use-cases/write.js';
import type { App } from '../app.js';
import { formatJson } from '../ui.js';

export function register(program: Command, app: App): void {
  program
    .command('stage')
    .description('move a staging label (CURRENT, PREVIOUS, PENDING or your own) to another version')
    .argument('<name>', 'secret name')
    .argument('<label>', 'staging label')
    .option('--to <version>', 'the version that gets the label: its id, or a label it has (PREVIOUS)')
    .option('--from <version>', 'the version that has it now, by id or label (required when it is on one)')
    .option('--json', 'print JSON')
    .action(async (name: string, label: string, opts: { to?: string; from?: string; json?: boolean }, cmd: Command) => {
      const r = await updateVersionStage(app.deps(cmd), { name, label, to: opts.to, from: opts.from });
      const on = Object.entries(r.VersionStages).find(([, labels]) => labels.includes(label))?.[0];
      app.emit(
        opts.json
          ? { stdout: formatJson(r) }
          : {
              stderr:
                opts.to !== undefined ? `${label} is now on ${name} version ${on ?? opts.to}\n` : `${label} removed from ${name} version ${opts.from ?? ''}\n`,
            },
      );
    });
  program
    .command('rollback')
    .description('move CURRENT back to the PREVIOUS version, and PREVIOUS to the version that was CURRENT')
    .argument('<name>', 'secret name')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const r = await rollbackSecret(app.deps(cmd), { name });
      app.emit(opts.json ? { stdout: formatJson(r) } : { stderr: `CURRENT of ${name} is now version ${r.VersionId}; PREVIOUS is ${r.PreviousVersionId}\n` });
    });
}
