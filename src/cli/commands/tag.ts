/** `secrets tag NAME KEY=VALUE...` and `secrets untag NAME KEY...`. */
import type { Command } from 'commander';
import { tagSecret, untagSecret } from '../../core/use-cases/write.js';
import type { App } from '../app.js';
import { formatJson } from '../ui.js';
import { tagMap } from './create.js';

export function register(program: Command, app: App): void {
  program
    .command('tag')
    .description('add or change tags of a secret')
    .argument('<name>', 'secret name')
    .argument('<key=value...>', 'tags to set')
    .option('--json', 'print JSON')
    .action(async (name: string, pairs: string[], opts: { json?: boolean }, cmd: Command) => {
      const tags = tagMap(pairs);
      const r = await tagSecret(app.deps(cmd), { name, tags });
      app.emit(opts.json ? { stdout: formatJson(r) } : { stderr: `Tagged ${name}\n` });
    });
  program
    .command('untag')
    .description('remove tags from a secret')
    .argument('<name>', 'secret name')
    .argument('<key...>', 'tag keys to remove')
    .option('--json', 'print JSON')
    .action(async (name: string, keys: string[], opts: { json?: boolean }, cmd: Command) => {
      const r = await untagSecret(app.deps(cmd), { name, keys });
      app.emit(opts.json ? { stdout: formatJson(r) } : { stderr: `Untagged ${name}\n` });
    });
}
