/** `secrets init [--name NAME]`: create the vault and this machine's identity. */
import { userInfo } from 'node:os';
import { type Command, Option } from 'commander';
import { toMemberName } from '../../core/names.js';
import { initVault } from '../../core/use-cases/init.js';
import type { App } from '../app.js';
import { formatFields, formatJson } from '../ui.js';

function defaultMemberName(env: Readonly<Record<string, string | undefined>>): string {
  try {
    return toMemberName(env['USER'] || userInfo().username || 'me');
  } catch {
    return 'me';
  }
}

export function register(program: Command, app: App): void {
  program
    .command('init')
    .description("create a vault file and this machine's identity (kept in the OS keychain)")
    .option('--name <name>', 'a name for the vault', 'default')
    .option('--member-name <name>', 'your name as a member of the vault (default: your user name)')
    .option('--git [remote]', "make the vault's directory a git work tree to share it (with REMOTE as origin)")
    .option('--json', 'print JSON')
    // Format 1 (the signed snapshot) is only read and migrated; the test build still makes it.
    .addOption(new Option('--format <n>', 'vault format').choices(['1', '2']).default('2').hideHelp())
    .action(async (opts: { name: string; memberName?: string; git?: string | boolean; json?: boolean; format: '1' | '2' }, cmd: Command) => {
      const deps = app.deps(cmd);
      const result = await initVault(deps, {
        name: opts.name,
        memberName: opts.memberName ?? defaultMemberName(app.io.env),
        warn: (m) => app.warn(m),
        format: opts.format === '1' ? 1 : 2,
      });
      let shared = '';
      if (opts.git !== undefined && opts.git !== false) {
        const { setupSync, syncVault } = await import('../../sync/sync.js');
        const { syncContext } = await import('./sync.js');
        const ctx = syncContext(app, deps);
        const remote = typeof opts.git === 'string' ? opts.git : undefined;
        const setup = await setupSync(ctx, { remote });
        shared = `Shared through git in ${setup.Directory}`;
        if (remote !== undefined) {
          const pushed = await syncVault(ctx);
          shared += pushed.Pushed ? `, pushed to ${remote}` : ', not pushed yet (the remote could not be reached)';
        }
        shared += '.\n';
      }
      if (opts.json) return app.emit({ stdout: formatJson(result) });
      const identityLine = `${result.IdentityId} (${result.IdentityCreated ? 'new' : 'existing'}, in ${result.IdentityLocation})`;
      app.emit({
        stderr: `Created vault ${result.Name} at ${result.Path}\n${formatFields([
          ['Vault id', result.VaultId],
          ['Identity', identityLine],
        ])}${shared}Next: secrets create NAME --value-stdin\n`,
      });
    });
}
