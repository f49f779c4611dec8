/** `secrets list`: names and metadata, filtered as ListSecrets filters. */
import type { Command } from 'commander';
import { listSecrets, parseFilters } from '../../core/use-cases/read.js';
import type { App } from '../app.js';
import { formatJson, formatTable } from '../ui.js';
import { collect } from './create.js';

export function register(program: Command, app: App): void {
  program
    .command('list')
    .description('list secrets (metadata only; nothing is decrypted)')
    .option(
      '--filter <key=value>',
      'tag:KEY=VALUE (that tag pair, exactly), or name, description, tag-key, tag-value or all (prefix match); !value negates (repeatable)',
      collect,
      [],
    )
    .option('--include-deleted', 'also list secrets scheduled for deletion')
    .option('--json', 'print JSON')
    .action(async (opts: { filter: string[]; includeDeleted?: boolean; json?: boolean }, cmd: Command) => {
      const filters = parseFilters(opts.filter);
      const r = await listSecrets(app.deps(cmd), { filters, includeDeleted: opts.includeDeleted === true });
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      if (!app.io.stdoutIsTTY) return app.emit({ stdout: r.SecretList.map((s) => `${s.Name}\n`).join('') });
      app.emit({
        stdout: formatTable(
          ['NAME', 'CHANGED', 'TAGS', 'DESCRIPTION'],
          r.SecretList.map((s) => [
            s.DeletedDate ? `${s.Name} (deleted)` : s.Name,
            s.LastChangedDate.slice(0, 19).replace('T', ' '),
            s.Tags.map((t) => `${t.Key}=${t.Value}`).join(','),
            s.Description ?? '',
          ]),
          [1],
        ),
      });
    });
}
