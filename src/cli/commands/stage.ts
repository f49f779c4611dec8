/** `secrets stage NAME LABEL --to VERSION_ID [--from VERSION_ID]`: move a staging label. */
import type { Command } from 'commander';
import { updateVersionStage } from '../../core/use-cases/write.js';
import type { App } from '../app.js';
import { formatJson } from '../ui.js';

export function register(program: Command, app: App): void {
  program
    .command('stage')
    .description('move a staging label (CURRENT, PREVIOUS, PENDING or your own) to another version')
    .argument('<name>', 'secret name')
    .argument('<label>', 'staging label')
    .option('--to <versionId>', 'the version that gets the label')
    .option('--from <versionId>', 'the version that has it now (required when it is on one)')
    .option('--json', 'print JSON')
    .action(async (name: string, label: string, opts: { to?: string; from?: string; json?: boolean }, cmd: Command) => {
      const r = await updateVersionStage(app.deps(cmd), { name, label, to: opts.to, from: opts.from });
      app.emit(
        opts.json
          ? { stdout: formatJson(r) }
          : { stderr: opts.to ? `${label} is now on ${name} version ${opts.to}\n` : `${label} removed from ${name} version ${opts.from ?? ''}\n` },
      );
    });
}
