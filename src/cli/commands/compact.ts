/** `secrets compact`: an admin's checkpoint replaces a format-2 vault's history (governance is kept). */
import type { Command } from 'commander';
import { recordVaultChange } from '../../core/audit.js';
import { SecretsError } from '../../core/errors.js';
import { isFormat2 } from '../../store/vault-format.js';
import type { App } from '../app.js';
import { formatJson } from '../ui.js';

export function register(program: Command, app: App): void {
  program
    .command('compact')
    .description('shrink a format-2 vault: keep every governance entry, summarise the secrets in a checkpoint you sign, drop pruned payloads (admin)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const deps = app.deps(cmd);
      const path = deps.paths.vault;
      if (!(await deps.vault.exists())) throw new SecretsError('VAULT_NOT_FOUND', `no vault at ${path}`, 'create one with `secrets init`');
      if (!isFormat2(path))
        throw new SecretsError('CONFLICT', `${path} is a format-1 vault: it has no history to compact`, 'convert it with `secrets migrate`');
      const { identity } = await deps.identities.load();
      // Shared through git: the history the checkpoint summarises is committed first, so other clones can check it.
      const { syncContext } = await import('./sync.js');
      await (await import('../../sync/sync.js')).commitBeforeCompaction(syncContext(app, deps));
      const r = await deps.logVault().compact(identity);
      await recordVaultChange(deps.audit, { vaultId: r.vaultId, eventName: 'CompactVault', principal: identity.id, target: r.checkpoint });
      const json = {
        VaultId: r.vaultId,
        Checkpoint: r.checkpoint,
        EntriesBefore: r.entriesBefore,
        GovernanceKept: r.governance,
        Secrets: r.secrets,
        Payloads: r.payloads,
        BytesBefore: r.bytesBefore,
        BytesAfter: r.bytesAfter,
      };
      if (opts.json) return app.emit({ stdout: formatJson(json) });
      app.emit({
        stderr:
          `Compacted ${path}: ${r.entriesBefore} entries became ${r.governance} governance entries and checkpoint ${r.checkpoint} ` +
          `over ${r.secrets} secret(s); ${r.bytesBefore} bytes became ${r.bytesAfter}.\n` +
          `Shared through git, \`secrets sync\` pushes it, and every other clone's sync checks it against the history it summarises and takes it.\n` +
          `Outside git, other machines that verified the longer history refuse it until they accept it: \`secrets verify --accept-checkpoint ${r.checkpoint}\`.\n`,
      });
    });
}
