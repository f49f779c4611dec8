/**
 * `secrets handler allow|remove|list`: which program each local rotation handler name means on
 * this machine. A vault's `--handler command:NAME` runs nothing until this machine's user allows
 * NAME here.
 */
import type { Command } from 'commander';
import { SecretsError } from '../../core/errors.js';
import type { App } from '../app.js';
import { formatJson, formatTable } from '../ui.js';

export function register(program: Command, app: App): void {
  const handler = program
    .command('handler')
    .description('allow rotation handlers on this machine: the vault names a handler, only this machine says what program it runs');
  handler
    .command('allow')
    .description('let the handler NAME (`--handler command:NAME` in a vault) run the program at PATH on this machine')
    .argument('<name>', 'handler name, as in command:NAME')
    .argument('<path>', 'absolute path of the program')
    .option('--json', 'print JSON')
    .action((name: string, path: string, opts: { json?: boolean }, cmd: Command) => {
      const deps = app.deps(cmd);
      const r = deps.handlerAllowlist().allow(name, path, deps.clock.now().toISOString());
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      app.emit({ stderr: `Rotation handler command:${r.Name} runs ${r.Path} on this machine.\n` });
    });
  handler
    .command('remove')
    .description('stop allowing the handler NAME on this machine')
    .argument('<name>', 'handler name')
    .action((name: string, _opts: unknown, cmd: Command) => {
      if (!app.deps(cmd).handlerAllowlist().remove(name)) {
        throw new SecretsError('NOT_FOUND', `handler ${JSON.stringify(name)} is not allowed on this machine`, '`secrets handler list` shows the allowed ones');
      }
      app.emit({ stderr: `Rotation handler command:${name} no longer runs on this machine.\n` });
    });
  handler
    .command('list')
    .description('the handlers this machine allows, and the program each runs')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const list = app.deps(cmd).handlerAllowlist().list();
      if (opts.json) return app.emit({ stdout: formatJson({ Handlers: list }) });
      if (list.length === 0) return app.emit({ stderr: 'No handlers are allowed on this machine (password, postgres and mysql need no allowing).\n' });
      app.emit({
        stdout: formatTable(
          ['NAME', 'PROGRAM', 'ALLOWED'],
          list.map((h) => [`command:${h.Name}`, h.Path, h.Allowed]),
        ),
      });
    });
}
