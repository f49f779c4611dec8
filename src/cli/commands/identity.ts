/** `secrets identity show` and `secrets identity new --name NAME [--out FILE]`. */
import type { Command } from 'commander';
import { assertMemberName } from '../../core/names.js';
import { encodePublicIdentity, formatFingerprint } from '../../crypto/identity.js';
import { createMachineIdentity, writeNewKeyFile } from '../../keychain/identity-provider.js';
import type { App } from '../app.js';
import { formatJson, formatWarning } from '../ui.js';

export function register(program: Command, app: App): void {
  const identity = program.command('identity').description("this machine's identity, and new identities for CI runners and other machines");
  identity
    .command('show')
    .description("print this machine's public identity (give it to an admin: `secrets member add NAME IDENTITY`); creates the identity on first use")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      // A new team member's first command: create the identity (in the keychain) if there is none.
      const loaded = await app.deps(cmd).identities.loadOrCreate((m) => app.warn(m));
      const note = loaded.created ? `Created this machine's identity ${loaded.identity.id} in ${loaded.where}.\n` : '';
      const pub = encodePublicIdentity(loaded.identity);
      if (opts.json) {
        return app.emit({
          stdout: formatJson({
            Identity: pub,
            Id: loaded.identity.id,
            Fingerprint: formatFingerprint(loaded.identity.id),
            Source: loaded.source,
            Location: loaded.where,
          }),
        });
      }
      app.emit({ stdout: `${pub}\n`, stderr: `${note}fingerprint ${formatFingerprint(loaded.identity.id)} (this machine's identity, from ${loaded.where})\n` });
    });
  identity
    .command('new')
    .description('create an identity for a CI runner or another machine; its private key is shown once and stored nowhere')
    .requiredOption('--name <name>', 'a name for it (the member name you will give it)')
    .option('--out <file>', 'write the private key to FILE (mode 0600) instead of printing it')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; out?: string; json?: boolean }) => {
      assertMemberName(opts.name, '--name');
      const made = await createMachineIdentity(opts.name);
      const pub = encodePublicIdentity(made.identity);
      const next = `add it to a vault with: secrets member add ${opts.name} ${pub}\n`;
      if (opts.out !== undefined) {
        writeNewKeyFile(opts.out, made.keyFile);
        made.keyFile.wipe();
        made.keyLine.wipe();
        const fields = { Name: opts.name, Identity: pub, Id: made.identity.id, Fingerprint: formatFingerprint(made.identity.id), KeyFile: opts.out };
        if (opts.json) return app.emit({ stdout: formatJson(fields) });
        return app.emit({ stdout: `${pub}\n`, stderr: `Wrote the private key of ${opts.name} (${made.identity.id}) to ${opts.out} (mode 0600).\n${next}` });
      }
      // Printed once, for a CI secret store (SECRETS_IDENTITY_KEY); the public identity goes to stderr.
      const warn = app.io.stdoutIsTTY
        ? formatWarning('this private key is shown once; store it in your CI secret store as SECRETS_IDENTITY_KEY, then clear your screen')
        : '';
      if (opts.json) {
        const out = formatJson({
          Name: opts.name,
          Identity: pub,
          Id: made.identity.id,
          Fingerprint: formatFingerprint(made.identity.id),
          PrivateKey: made.keyLine.revealText(),
        });
        made.keyLine.wipe();
        return app.emit({ stdout: out, stderr: warn });
      }
      const out = `${made.keyLine.revealText() ?? ''}\n`;
      made.keyLine.wipe();
      app.emit({ stdout: out, stderr: `${warn}public identity of ${opts.name}: ${pub}\n${next}` });
    });
}
