/** `secrets versions NAME`: every kept version, newest first. */
import type { Command } from 'commander';
import { listSecretVersions } from '../../core/use-cases/read.js';
import type { App } from '../app.js';
import { formatJson, formatTable } from '../ui.js';

export function register(program: Command, app: App): void {
  program
    .command('versions')
    .description('list the versions of a secret with their staging labels')
    .argument('<name>', 'secret name')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const r = await listSecretVersions(app.deps(cmd), { name });
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      app.emit({
        stdout: formatTable(
          ['VERSION', 'CREATED', 'STAGES'],
          r.Versions.map((v) => [v.VersionId, v.CreatedDate, v.VersionStages.join(',')]),
          [0, 1],
        ),
      });
    });
}
