/** `secrets get NAME`: the exact value on stdout. */
import type { Command } from 'commander';
import { ExitCode, SecretsError } from '../../core/errors.js';
import { SecretBytes } from '../../core/secret-bytes.js';
import { getSecretValue, matchesFilters, parseFilters, readField } from '../../core/use-cases/read.js';
import { batchGetSecretValue } from '../../core/use-cases/release.js';
import { collect } from '../selection.js';
import type { App } from '../app.js';
import { CLIP_CLEAR_MS, clipboardTool, copyToClipboard, scheduleClear } from '../clipboard.js';
import { inheritedEnvironment } from './exec.js';

/** "45 s", or "1.5 s" for the short delays of tests. */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

export function register(program: Command, app: App): void {
  program
    .command('get')
    .description('print the value of a secret (a newline is added only on a terminal); several names or --filter with --json read a batch')
    .argument('[names...]', 'secret name (several with --json)')
    .option('--field <key>', 'print one key of a JSON secret')
    .option('--version-stage <label>', 'the version with this staging label (default CURRENT)')
    .option('--version-id <id>', 'this exact version')
    .option('--filter <key=value>', 'with --json: every secret matching, as `list --filter` (repeatable)', collect)
    .option('--json', 'print {Name, VersionId, SecretString|SecretBinary, VersionStages, CreatedDate}')
    .option('--clip', 'copy the value to the clipboard instead (wl-copy, xclip or xsel), cleared after 45 s unless it changed')
    .action(
      async (
        names: string[],
        opts: { field?: string; versionStage?: string; versionId?: string; filter?: string[]; json?: boolean; clip?: boolean },
        cmd: Command,
      ) => {
        if (opts.json && opts.field !== undefined) {
          throw new SecretsError('USAGE', '--json and --field cannot be combined', 'use --field alone, or --json and read the field yourself');
        }
        if (opts.clip && (opts.json || names.length > 1 || opts.filter !== undefined)) {
          throw new SecretsError(
            'USAGE',
            '--clip copies one value, and cannot be combined with --json, --filter or several names',
            'secrets get NAME --clip (with --field KEY for one key of a JSON secret)',
          );
        }
        // Before reading anything: no clipboard, no read (and no audit event for a value never used).
        const clip = opts.clip ? clipboardTool(app.io.env) : undefined;
        const deps = app.deps(cmd);
        if (names.length > 1 || opts.filter !== undefined) {
          // BatchGetSecretValue: CURRENT versions, each secret audited on its own, errors per name.
          if (!opts.json) throw new SecretsError('USAGE', 'reading several secrets needs --json', 'add --json (or read one name at a time)');
          if (opts.field !== undefined || opts.versionId !== undefined || opts.versionStage !== undefined) {
            throw new SecretsError('USAGE', '--field, --version-id and --version-stage read one secret', 'drop them for a batch');
          }
          const filters = opts.filter ? parseFilters(opts.filter) : undefined;
          const r = await batchGetSecretValue(deps, { names, ...(filters ? { filter: (e) => matchesFilters(e.secret, filters) } : {}) });
          try {
            const SecretValues = r.values.map((v) => {
              const text = v.type === 'string' ? v.value.revealText() : undefined;
              const payload = text !== undefined ? { SecretString: text } : { SecretBinary: Buffer.from(v.value.reveal()).toString('base64') };
              return { Name: v.Name, VersionId: v.VersionId, ...payload, VersionStages: v.VersionStages, CreatedDate: v.CreatedDate };
            });
            return app.emit({
              stdout: `${JSON.stringify({ SecretValues, Errors: r.errors }, null, 2)}\n`,
              exitCode: r.values.length === 0 && r.errors.length > 0 ? ExitCode.notFound : ExitCode.ok,
            });
          } finally {
            for (const v of r.values) v.value.wipe();
          }
        }
        const name = names[0];
        if (name === undefined) throw new SecretsError('USAGE', "missing required argument 'name'", 'secrets get NAME');
        const v = await getSecretValue(deps, { name, versionId: opts.versionId, versionStage: opts.versionStage });
        if (opts.json) {
          const text = v.type === 'string' ? v.value.revealText() : undefined;
          const payload = text !== undefined ? { SecretString: text } : { SecretBinary: Buffer.from(v.value.reveal()).toString('base64') };
          const out = { Name: v.Name, VersionId: v.VersionId, ...payload, VersionStages: v.VersionStages, CreatedDate: v.CreatedDate };
          return app.emit({ stdout: `${JSON.stringify(out, null, 2)}\n` });
        }
        const value = opts.field !== undefined ? SecretBytes.fromString(readField(v.value, v.Name, opts.field)) : v.value;
        if (clip) {
          try {
            const text = value.revealText();
            if (text === undefined || text.includes('\0')) {
              throw new SecretsError(
                'INVALID_VALUE',
                `${v.Name} is binary, and the clipboard holds text`,
                `write it to a file instead: secrets get ${v.Name} > FILE`,
              );
            }
            const delayMs = deps.clipClearMs ?? CLIP_CLEAR_MS;
            // The tools and the helper did not ask for our identity.
            const env = inheritedEnvironment(app.io.env, false);
            // The helper first: once the value is on the clipboard, its clearing is already on its way.
            await scheduleClear(clip, value.reveal(), delayMs, env);
            await copyToClipboard(clip, value.reveal(), env);
            return app.emit({
              stderr: `Copied ${v.Name}${opts.field !== undefined ? ` (${opts.field})` : ''} to the clipboard (${clip.name}); it will be cleared in ${seconds(delayMs)} unless it changes\n`,
            });
          } finally {
            value.wipe();
            v.value.wipe();
          }
        }
        const bytes = value.reveal();
        if (!app.io.stdoutIsTTY) return app.emit({ stdout: bytes });
        const withNewline = new Uint8Array(bytes.length + 1);
        withNewline.set(bytes);
        withNewline[bytes.length] = 0x0a;
        app.emit({ stdout: withNewline });
      },
    );
}
