/** `secrets member add|remove|confirm|list`. */
import type { Command } from 'commander';
import { SecretsError } from '../../core/errors.js';
import { addMember, confirmHeld, type HeldSecret, listMembers, removeMember } from '../../core/use-cases/team.js';
import { toBase64 } from '../../crypto/encoding.js';
import { decodePublicIdentity, formatFingerprint } from '../../crypto/identity.js';
import type { App } from '../app.js';
import { askConfirm } from '../prompt.js';
import { formatJson, formatTable, formatWarning, progressOnTty, resealSummary } from '../ui.js';

/** One line per held secret: what the removed member set there. */
function heldLines(held: readonly HeldSecret[]): string {
  return held
    .map((h) => {
      const tags = Object.entries(h.Tags).map(([k, v]) => `${k}=${v}`);
      const what = [...(h.Handler !== undefined ? [`rotation handler ${h.Handler}`] : []), ...(tags.length > 0 ? [`tags ${tags.join(', ')}`] : [])];
      return `  ${h.Secret}: ${what.join('; ') || 'no handler, no tags'}\n`;
    })
    .join('');
}

export function register(program: Command, app: App): void {
  const member = program.command('member').description('the members of this vault: who can read and write what (admins only change it)');
  member
    .command('add')
    .description('add a member by their public identity (`secrets identity show` on their machine)')
    .argument('<name>', 'member name (1-64 of A-Z a-z 0-9 . _ @ + -)')
    .argument('<identity>', 'their public identity, secrets-identity-1…')
    .option('--role <role>', 'admin (may do everything) or member (what policies allow)', 'member')
    .option('--json', 'print JSON')
    .action(async (name: string, identityText: string, opts: { role: string; json?: boolean }, cmd: Command) => {
      if (opts.role !== 'admin' && opts.role !== 'member') throw new SecretsError('USAGE', `--role must be admin or member, not ${JSON.stringify(opts.role)}`);
      const identity = await decodePublicIdentity(identityText);
      const r = await addMember(
        app.deps(cmd),
        { name, identity, role: opts.role, encode: (p) => ({ enc: toBase64(p.enc), sign: toBase64(p.sign) }) },
        progressOnTty(app.io, 're-sealing data keys'),
      );
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      const hint =
        r.Role === 'member' && r.Readable === 0
          ? `${name} can do nothing yet: attach a policy with \`secrets policy attach POLICY ${name}\`\n`
          : `${name} can read ${r.Readable} secret(s).\n`;
      app.emit({ stderr: `Added ${name} (${formatFingerprint(r.Id)}) as ${r.Role}.\n${hint}${resealSummary(r.Resealed)}` });
    });
  member
    .command('remove')
    .description('remove a member: their keys are withdrawn from every version, and the secrets they could read are listed for rotation')
    .argument('<name>', 'member name or id')
    .option('--confirm-records', 'if they were an admin: re-sign, as you, the members and policies they signed (after you checked them)')
    .option('--yes', 'do not ask for confirmation')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { yes?: boolean; json?: boolean; confirmRecords?: boolean }, cmd: Command) => {
      if (!opts.yes) {
        if (!app.io.stdinIsTTY || !app.io.stderrIsTTY) {
          throw new SecretsError('USAGE', `refusing to remove ${name} without confirmation`, 'pass --yes to confirm when not on a terminal');
        }
        if (!(await askConfirm(`Remove ${name} from the vault?`))) throw new SecretsError('INTERRUPTED', 'not removed');
      }
      const r = await removeMember(app.deps(cmd), { name, confirmRecords: opts.confirmRecords === true }, progressOnTty(app.io, 're-sealing data keys'));
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      const exposed =
        r.Exposed.length === 0
          ? `${r.Name} could read no secrets.\n`
          : `${r.Name} could read ${r.Exposed.length} secret(s), listed on stdout. A value already read cannot be un-read: rotate them.\n` +
            `The list is kept in the vault (\`secrets member list --removed\`).\n`;
      const held =
        r.Held.length === 0
          ? ''
          : formatWarning(
              `${r.Name} wrote the last record of ${r.Held.length} secret(s); its rotation handler, tags and description are on hold (not run, not trusted by policy conditions) until an admin confirms them with \`secrets member confirm ${r.Name} [SECRET...]\`:`,
            ) + heldLines(r.Held);
      const confirmed = r.Confirmed.length === 0 ? '' : `Re-signed as you: ${r.Confirmed.join(', ')}.\n`;
      app.emit({
        stdout: r.Exposed.map((s) => `${s}\n`).join(''),
        stderr: `Removed ${r.Name} (${formatFingerprint(r.Id)}); new versions are not encrypted to them.\n${exposed}${held}${confirmed}${resealSummary(r.Resealed)}`,
      });
    });
  member
    .command('confirm')
    .description('confirm the settings a removed member left (rotation handler, tags) so they take effect again; check them first with `secrets describe`')
    .argument('<name>', 'the removed member')
    .argument('[secrets...]', 'only these secrets (default: all they left)')
    .option('--json', 'print JSON')
    .action(async (name: string, secrets: string[], opts: { json?: boolean }, cmd: Command) => {
      const r = await confirmHeld(app.deps(cmd), { name, secrets }, progressOnTty(app.io, 're-sealing data keys'));
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      if (r.Confirmed.length === 0) return app.emit({ stderr: `Nothing ${r.Name} set is on hold.\n` });
      const rest = r.StillHeld.length > 0 ? `Still on hold:\n${heldLines(r.StillHeld)}` : '';
      app.emit({ stderr: `Confirmed what ${r.Name} set on:\n${heldLines(r.Confirmed)}${rest}${resealSummary(r.Resealed)}` });
    });
  member
    .command('list')
    .description('list the members, their roles and policies')
    .option('--removed', 'include removed members and the secrets they could read')
    .option('--json', 'print JSON')
    .action(async (opts: { removed?: boolean; json?: boolean }, cmd: Command) => {
      const r = await listMembers(app.deps(cmd), { includeRemoved: opts.removed === true });
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      const rows = r.Members.map((m) => [
        m.Name,
        m.Id,
        m.Role,
        m.Status === 'removed'
          ? `removed ${m.Removed ?? ''}${m.Exposed ? ` (could read: ${m.Exposed.join(', ') || 'nothing'})` : ''}${m.Held ? ` (on hold: ${m.Held.map((h) => h.Secret).join(', ')})` : ''}`
          : `${m.Policies.join(', ') || '-'}${m.Held ? ` (on hold: ${m.Held.map((h) => h.Secret).join(', ')})` : ''}`,
      ]);
      app.emit({ stdout: formatTable(['NAME', 'ID', 'ROLE', opts.removed ? 'POLICIES / STATUS' : 'POLICIES'], rows, [1]) });
    });
}
