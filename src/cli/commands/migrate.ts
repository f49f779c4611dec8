/** `secrets migrate`: convert a format-1 vault into format 2 (admin), or accept another admin's migration. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { recordVaultChange } from '../../core/audit.js';
import { SecretsError } from '../../core/errors.js';
import { acceptMigration, type MigrationSummary, planMigration } from '../../store/migrate.js';
import { isFormat2 } from '../../store/vault-format.js';
import type { App } from '../app.js';
import { askConfirm } from '../prompt.js';
import { formatJson, formatTable } from '../ui.js';

/** Members, roles and policies, for a person to check before the conversion is signed. */
function shown(s: MigrationSummary): string {
  const members = formatTable(
    ['MEMBER', 'ID', 'ROLE', 'REMOVED'],
    s.members.map((m) => [m.name, m.id, m.roles.join(','), m.removed ?? '']),
  );
  const policies =
    s.policies.length === 0
      ? 'No identity policies.\n'
      : formatTable(
          ['POLICY', 'ATTACHED TO'],
          s.policies.map((p) => [p.name, p.attached.join(', ')]),
        );
  const resource = s.resourcePolicies.length === 0 ? '' : `Resource policies on: ${s.resourcePolicies.join(', ')}\n`;
  return `Vault ${s.name} (${s.vaultId}): ${s.secrets} secret(s), ${s.versions} version(s).\n${members}${policies}${resource}`;
}

function json(s: MigrationSummary): unknown {
  return {
    VaultId: s.vaultId,
    Name: s.name,
    From: s.from,
    Members: s.members.map((m) => ({ Name: m.name, Id: m.id, Roles: m.roles, ...(m.removed !== undefined ? { Removed: m.removed } : {}) })),
    Policies: s.policies.map((p) => ({ Name: p.name, AttachedTo: p.attached })),
    ResourcePolicies: s.resourcePolicies,
    Secrets: s.secrets,
    Versions: s.versions,
    BytesBefore: s.bytesBefore,
    BytesAfter: s.bytesAfter,
  };
}

export function register(program: Command, app: App): void {
  program
    .command('migrate')
    .description('convert a format-1 vault into format 2, the signed operation log, in one write (admin); or accept a migration another admin made')
    .option('--yes', 'do not ask for confirmation (required when not on a terminal)')
    .option('--accept <format-1-file>', "accept the migration of this vault, given this machine's copy of the format-1 file it converted")
    .option('--json', 'print JSON')
    .action(async (opts: { yes?: boolean; accept?: string; json?: boolean }, cmd: Command) => {
      const deps = app.deps(cmd);
      const path = deps.paths.vault;
      if (!(await deps.vault.exists())) throw new SecretsError('VAULT_NOT_FOUND', `no vault at ${path}`, 'create one with `secrets init`');
      if (opts.accept !== undefined) {
        if (opts.yes) throw new SecretsError('USAGE', '--accept and --yes do not go together', 'accepting checks the migration; it asks nothing');
        if (!isFormat2(path)) throw new SecretsError('CONFLICT', `${path} is still a format-1 vault: there is no migration to accept`);
        let former: Buffer;
        try {
          former = readFileSync(opts.accept);
        } catch (err) {
          throw new SecretsError(
            'NOT_FOUND',
            `cannot read ${opts.accept}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
            'e.g. `git show HEAD~1:vault.yaml > /tmp/v1.yaml`',
          );
        }
        const { identity } = await deps.identities.load();
        const s = await acceptMigration(deps.migration(), former);
        await recordVaultChange(deps.audit, { vaultId: s.vaultId, eventName: 'AcceptMigration', principal: identity.id, target: s.from });
        if (opts.json) return app.emit({ stdout: formatJson(json(s)) });
        return app.emit({ stderr: `Accepted the migration of vault ${s.name} (${s.vaultId}): this machine now trusts its format-2 history.\n` });
      }
      if (isFormat2(path)) throw new SecretsError('CONFLICT', `${path} is a format-2 vault already`, 'nothing to migrate');
      const { identity } = await deps.identities.load();
      const plan = await planMigration(deps.migration(), identity);
      if (!opts.yes) {
        if (!app.io.stdinIsTTY || !app.io.stderrIsTTY) {
          throw new SecretsError(
            'USAGE',
            'refusing to migrate without confirmation',
            'check the members and policies (`secrets member list`, `secrets policy list`), then pass --yes',
          );
        }
        app.warn(shown(plan.summary));
        if (!(await askConfirm('Are these the members and policies you expect? Convert the vault, signing as you?')))
          throw new SecretsError('INTERRUPTED', 'not migrated');
      }
      const s = await plan.commit();
      await recordVaultChange(deps.audit, { vaultId: s.vaultId, eventName: 'MigrateVault', principal: identity.id, target: s.from });
      if (opts.json) return app.emit({ stdout: formatJson(json(s)) });
      app.emit({
        stderr:
          `${opts.yes ? shown(s) : ''}Migrated ${path} to format 2 (${s.bytesBefore} bytes became ${s.bytesAfter}).\n` +
          'Other machines accept it with `secrets migrate --accept <their copy of the format-1 file>`.\n',
      });
    });
}
