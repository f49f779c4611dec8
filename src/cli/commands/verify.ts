/** `secrets verify` (every signature and permission) and `secrets reseal` (keys in line with policy). */
import type { Command } from 'commander';
import { ExitCode, SecretsError } from '../../core/errors.js';
import { resealVault, verifyVault } from '../../core/use-cases/team.js';
import { acceptCheckpoint } from '../../store/compact.js';
import { notAfterOf, REPLAY_OPTIONS } from '../../store/log-vault.js';
import { TrustFloorStore } from '../../store/trust.js';
import { trustFloorKey } from '../../crypto/identity.js';
import { isFormat2 } from '../../store/vault-format.js';
import type { App } from '../app.js';
import { formatError, formatJson, formatWarning, progressOnTty, resealSummary } from '../ui.js';

export function register(program: Command, app: App): void {
  program
    .command('verify')
    .description("check every record's signature and that its writer was allowed to write it; report keys out of step with policy")
    .option('--accept-checkpoint <hash>', "format 2: accept an admin's compaction of a history this machine verified (outside git), by its checkpoint's hash")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean; acceptCheckpoint?: string }, cmd: Command) => {
      if (opts.acceptCheckpoint !== undefined) {
        const deps = app.deps(cmd);
        if (!isFormat2(deps.paths.vault)) throw new SecretsError('USAGE', '--accept-checkpoint is for a format-2 vault', 'format 1 has no checkpoints');
        const { path, trust, lockTimeoutMs } = deps.migration();
        const { identity } = await deps.identities.load();
        const options = { ...REPLAY_OPTIONS, notAfter: notAfterOf(deps.clock) };
        const a = await acceptCheckpoint({ path, trust, lockTimeoutMs, options, self: identity.id }, opts.acceptCheckpoint);
        // The heads each remote had are compacted away too: what this machine now holds of them is the file's.
        const remotes = new TrustFloorStore(deps.paths.trustDir, trustFloorKey(identity));
        for (const remote of (await remotes.remoteHeads(a.genesis)).keys()) await remotes.putRemoteHeads(a.genesis, remote, a.heads);
        if (opts.json) return app.emit({ stdout: formatJson({ VaultId: a.vaultId, Checkpoint: a.checkpoint, SignedBy: a.by }) });
        return app.emit({
          stderr: `Accepted checkpoint ${a.checkpoint} of vault ${a.vaultId}, signed by ${a.by}: this machine trusts its state from now on.\n`,
        });
      }
      const r = await verifyVault(app.deps(cmd));
      const exitCode = r.Problems.length > 0 ? ExitCode.integrity : ExitCode.ok;
      if (opts.json) return app.emit({ stdout: formatJson(r), exitCode });
      const lines = r.Problems.map((p) => formatError(p)).join('');
      const drift = r.Drift.map((d) =>
        formatWarning(
          `${d.Secret}: ${d.Versions} version(s) are sealed to a different set of members than the policy allows; an admin's \`secrets reseal\` fixes it`,
        ),
      ).join('');
      const summary =
        r.Problems.length > 0
          ? `${r.Problems.length} record(s) rejected out of ${r.Records}\n`
          : `${r.Records} records verified in vault ${r.VaultId}: every signature valid, every writer allowed\n`;
      app.emit({ stderr: `${lines}${drift}${summary}`, exitCode });
    });
  program
    .command('reseal')
    .description('share or withdraw data keys so every version is readable by exactly the members policy allows (admin)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await resealVault(app.deps(cmd), progressOnTty(app.io, 're-sealing data keys'));
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      app.emit({ stderr: resealSummary(r.Resealed) || 'Every version is already sealed to exactly the members allowed to read it.\n' });
    });
}
