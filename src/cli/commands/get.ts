/** `secrets get NAME`: the exact value on stdout. */
import type { Command } from 'commander';
import { SecretsError } from '../../core/errors.js';
import { SecretBytes } from '../../core/secret-bytes.js';
import { getSecretValue, readField } from '../../core/use-cases/read.js';
import type { App } from '../app.js';

export function register(program: Command, app: App): void {
  program
    .command('get')
    .description('print the value of a secret (a newline is added only on a terminal)')
    .argument('<name>', 'secret name')
    .option('--field <key>', 'print one key of a JSON secret')
    .option('--version-stage <label>', 'the version with this staging label (default CURRENT)')
    .option('--version-id <id>', 'this exact version')
    .option('--json', 'print {Name, VersionId, SecretString|SecretBinary, VersionStages, CreatedDate}')
    .action(async (name: string, opts: { field?: string; versionStage?: string; versionId?: string; json?: boolean }, cmd: Command) => {
      if (opts.json && opts.field !== undefined) {
        throw new SecretsError('USAGE', '--json and --field cannot be combined', 'use --field alone, or --json and read the field yourself');
      }
      const deps = app.deps(cmd);
      const v = await getSecretValue(deps, { name, versionId: opts.versionId, versionStage: opts.versionStage });
      if (opts.json) {
        const text = v.type === 'string' ? v.value.revealText() : undefined;
        const payload =
          text !== undefined ? { SecretString: text } : { SecretBinary: Buffer.from(v.value.reveal()).toString('base64') };
        const out = { Name: v.Name, VersionId: v.VersionId, ...payload, VersionStages: v.VersionStages, CreatedDate: v.CreatedDate };
        return app.emit({ stdout: `${JSON.stringify(out, null, 2)}\n` });
      }
      const value = opts.field !== undefined ? SecretBytes.fromString(readField(v.value, v.Name, opts.field)) : v.value;
      const bytes = value.reveal();
      if (!app.io.stdoutIsTTY) return app.emit({ stdout: bytes });
      const withNewline = new Uint8Array(bytes.length + 1);
      withNewline.set(bytes);
      withNewline[bytes.length] = 0x0a;
      app.emit({ stdout: withNewline });
    });
}
