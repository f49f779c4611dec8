/**
 * `secrets import` and `secrets export`: dotenv, JSON and the AWS get-secret-value shape carry
 * current values; `--format backup` carries everything, encrypted (ADR 0020).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { dotenvQuote, parseDotenv } from '../../core/dotenv.js';
import { SecretsError } from '../../core/errors.js';
import { envName } from '../../core/references.js';
import { SecretBytes } from '../../core/secret-bytes.js';
import { matchesFilters, parseFilters } from '../../core/use-cases/read.js';
import { exportSecrets, type ImportItem, importSecrets } from '../../core/use-cases/transfer.js';
import { backupSecrets, restoreBackup, wipeBackup } from '../../core/use-cases/backup.js';
import { backupLockKind, type BackupLock, openBackup, readBackupEnvelope, sealBackup } from '../../crypto/backup.js';
import { decodePublicIdentity } from '../../crypto/identity.js';
import { decodeBackup, encodeBackup } from '../../store/backup-codec.js';
import type { App } from '../app.js';
import { askConfirm, askHidden, askHiddenConfirmed } from '../prompt.js';
import { collect } from '../selection.js';
import { formatJson, progressOnTty } from '../ui.js';

function text(value: string): ImportItem['value'] {
  return { bytes: SecretBytes.fromString(value), type: 'string' };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The items of an input in one of the formats. */
export function importItems(input: string, format: string, prefix: string, source: string): ImportItem[] {
  if (format === 'dotenv') return parseDotenv(input, source).map((e) => ({ name: `${prefix}${e.key}`, value: text(e.value) }));
  let doc: unknown;
  try {
    doc = JSON.parse(input);
  } catch {
    throw new SecretsError('USAGE', `${source} is not valid JSON`);
  }
  if (format === 'json') {
    if (!isRecord(doc)) throw new SecretsError('USAGE', `${source}: --format json takes an object of NAME: value`);
    return Object.entries(doc).map(([k, v]) => ({ name: `${prefix}${k}`, value: text(typeof v === 'string' ? v : JSON.stringify(v)) }));
  }
  // aws: get-secret-value output, a list of them, or batch-get-secret-value output.
  const list: unknown[] = Array.isArray(doc) ? doc : isRecord(doc) && Array.isArray(doc['SecretValues']) ? doc['SecretValues'] : [doc];
  return list.map((v, i) => {
    if (!isRecord(v) || typeof v['Name'] !== 'string') throw new SecretsError('USAGE', `${source}: entry ${i + 1} has no Name`);
    const name = `${prefix}${v['Name']}`;
    if (typeof v['SecretString'] === 'string') return { name, value: text(v['SecretString']) };
    if (typeof v['SecretBinary'] === 'string') {
      const bytes = Buffer.from(v['SecretBinary'], 'base64');
      if (bytes.toString('base64') !== v['SecretBinary']) throw new SecretsError('USAGE', `${source}: SecretBinary of ${name} is not base64`);
      return { name, value: { bytes: new SecretBytes(new Uint8Array(bytes)), type: 'binary' as const } };
    }
    throw new SecretsError('USAGE', `${source}: ${name} has neither SecretString nor SecretBinary`);
  });
}

/** Passphrases are typed by people: anything longer is a mistake (a key file passed by error). */
const MAX_PASSPHRASE_BYTES = 1024;

/** The passphrase of --passphrase-file (its first line), or asked on a terminal. Never from argv. */
async function passphrase(app: App, file: string | undefined, confirm: boolean): Promise<SecretBytes> {
  if (file !== undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new SecretsError(code === 'ENOENT' ? 'NOT_FOUND' : 'STORAGE', `cannot read passphrase file ${file}: ${code}`);
    }
    const end = bytes.indexOf(0x0a);
    const line = bytes.subarray(0, end < 0 ? bytes.length : end);
    const value = new SecretBytes(new Uint8Array(line.at(-1) === 0x0d ? line.subarray(0, -1) : line));
    bytes.fill(0);
    if (value.length === 0 || value.length > MAX_PASSPHRASE_BYTES) {
      value.wipe();
      throw new SecretsError('USAGE', `the first line of ${file} must be a passphrase of 1 to ${MAX_PASSPHRASE_BYTES} bytes`);
    }
    return value;
  }
  if (!app.io.stdinIsTTY || !app.io.stderrIsTTY) {
    throw new SecretsError('USAGE', 'a passphrase is asked on a terminal only', 'pass --passphrase-file FILE (its first line is the passphrase)');
  }
  if (confirm) return askHiddenConfirmed('Backup passphrase');
  return askHidden('Backup passphrase');
}

async function readInput(app: App, file: string): Promise<string> {
  try {
    return file === '-' ? new TextDecoder().decode(await app.io.readStdin()) : readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new SecretsError(code === 'ENOENT' ? 'NOT_FOUND' : 'STORAGE', `cannot read ${file}: ${code}`);
  }
}

/** `import --format backup`: open (signature, then key, then body), decode, restore. */
async function importBackup(app: App, cmd: Command, file: string, opts: { prefix: string; passphraseFile?: string; json?: boolean }): Promise<void> {
  if (file === '-' && opts.passphraseFile === '-') throw new SecretsError('USAGE', 'the backup and the passphrase cannot both come from stdin');
  const envelope = await readBackupEnvelope(await readInput(app, file));
  const lock = backupLockKind(envelope);
  let payload: Uint8Array;
  if (lock.kind === 'identity') {
    if (opts.passphraseFile !== undefined)
      throw new SecretsError('USAGE', 'this backup is encrypted to an identity, not a passphrase', 'leave out --passphrase-file');
    const { identity } = await app.deps(cmd).identities.load();
    payload = openBackup(envelope, { identity });
  } else {
    const secret = await passphrase(app, opts.passphraseFile, false);
    try {
      payload = openBackup(envelope, { passphrase: secret });
    } finally {
      secret.wipe();
    }
  }
  let backup;
  try {
    backup = decodeBackup(payload);
  } finally {
    payload.fill(0);
  }
  try {
    const r = await restoreBackup(app.deps(cmd), {
      backup,
      prefix: opts.prefix,
      signer: lock.kind === 'identity' ? envelope.signer.id : undefined,
      progress: progressOnTty(app.io, 'restoring'),
    });
    if (opts.json) return app.emit({ stdout: formatJson(r) });
    app.emit({
      stderr: `Restored ${r.Created} secret(s) with ${r.Versions} version(s) from a backup of vault ${backup.vault.name} made ${backup.exported}.\n`,
    });
  } finally {
    wipeBackup(backup);
  }
}

/** `export --format backup`: read everything, seal it, print the sealed file. */
async function exportBackup(app: App, cmd: Command, opts: { filter?: string[]; to?: string; passphraseFile?: string; passphrase?: boolean }): Promise<void> {
  const ways = [opts.to !== undefined, opts.passphraseFile !== undefined, opts.passphrase === true].filter(Boolean).length;
  if (ways !== 1) {
    throw new SecretsError(
      'USAGE',
      '--format backup needs exactly one of --to, --passphrase-file and --passphrase',
      'e.g. --to "$(secrets identity show)", or --passphrase-file FILE',
    );
  }
  // Everything that can fail on input is checked before any value is decrypted.
  const recipient = opts.to !== undefined ? await decodePublicIdentity(opts.to) : undefined;
  const filters = parseFilters(opts.filter ?? []);
  const secret = recipient === undefined ? await passphrase(app, opts.passphraseFile, true) : undefined;
  try {
    const lock: BackupLock = recipient !== undefined ? { recipient } : { passphrase: secret as SecretBytes };
    const deps = app.deps(cmd);
    const { identity } = await deps.identities.load();
    const backup = await backupSecrets(deps, { filter: (e) => matchesFilters(e.secret, filters), progress: progressOnTty(app.io, 'reading') });
    let payload: Uint8Array | undefined;
    try {
      payload = encodeBackup(backup);
      const sealed = sealBackup(payload, lock, identity);
      const versions = backup.secrets.reduce((n, s) => n + s.versions.length, 0);
      app.emit({
        stdout: sealed,
        stderr: `Backed up ${backup.secrets.length} secret(s) with ${versions} version(s), encrypted to ${recipient !== undefined ? `identity ${recipient.id}` : 'a passphrase'}.\n`,
      });
    } finally {
      payload?.fill(0);
      wipeBackup(backup);
    }
  } finally {
    secret?.wipe();
  }
}

export function register(program: Command, app: App): void {
  program
    .command('import')
    .description('create or update many secrets from a dotenv file, a JSON object, or AWS get-secret-value JSON, in one write; or restore a backup')
    .argument('<file>', 'the input (- for stdin)')
    .option('--format <format>', 'dotenv, json (an object of NAME: value), aws, or backup (from export --format backup)', 'dotenv')
    .option('--prefix <prefix>', 'prepended to every name (a dotenv key K becomes PREFIX + K)', '')
    .option('--passphrase-file <file>', 'backup: the passphrase is the first line of this file (default: asked on a terminal)')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { format: string; prefix: string; passphraseFile?: string; json?: boolean }, cmd: Command) => {
      if (!['dotenv', 'json', 'aws', 'backup'].includes(opts.format))
        throw new SecretsError('USAGE', `--format must be dotenv, json, aws or backup, not ${JSON.stringify(opts.format)}`);
      if (opts.format === 'backup') return importBackup(app, cmd, file, opts);
      if (opts.passphraseFile !== undefined) throw new SecretsError('USAGE', '--passphrase-file is for --format backup');
      const input = await readInput(app, file);
      const items = importItems(input, opts.format, opts.prefix, file === '-' ? '(stdin)' : file);
      const r = await importSecrets(app.deps(cmd), { items, progress: progressOnTty(app.io, 'importing') });
      for (const i of items) i.value.bytes.wipe();
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      app.emit({ stderr: `Imported ${items.length} secret(s): ${r.Created} created, ${r.Updated} updated, ${r.Unchanged} unchanged.\n` });
    });
  program
    .command('export')
    .description(
      'print the CURRENT value of every secret (or those matching --filter) as dotenv or AWS get-secret-value JSON; or everything, encrypted, as a backup',
    )
    .option(
      '--format <format>',
      'dotenv, json (current values only), or backup (every version, label, tag, description and rotation setting, encrypted)',
      'json',
    )
    .option('--filter <key=value>', 'as `list --filter` (repeatable)', collect)
    .option('--to <identity>', 'backup: encrypt to this public identity (secrets-identity-1…, as `secrets identity show` prints)')
    .option('--passphrase-file <file>', 'backup: encrypt to the passphrase on the first line of this file')
    .option('--passphrase', 'backup: encrypt to a passphrase asked on the terminal')
    .option('--yes', 'do not ask for confirmation')
    .action(async (opts: { format: string; filter?: string[]; to?: string; passphraseFile?: string; passphrase?: boolean; yes?: boolean }, cmd: Command) => {
      if (opts.format === 'backup') return exportBackup(app, cmd, opts);
      if (opts.to !== undefined || opts.passphraseFile !== undefined || opts.passphrase === true) {
        throw new SecretsError('USAGE', '--to, --passphrase-file and --passphrase are for --format backup');
      }
      if (opts.format !== 'dotenv' && opts.format !== 'json')
        throw new SecretsError('USAGE', `--format must be dotenv, json or backup, not ${JSON.stringify(opts.format)}`);
      const filters = parseFilters(opts.filter ?? []);
      if (!opts.yes) {
        if (!app.io.stdinIsTTY || !app.io.stderrIsTTY) {
          throw new SecretsError('USAGE', 'refusing to export secret values without confirmation', 'pass --yes to confirm when not on a terminal');
        }
        if (!(await askConfirm('Print the values of the selected secrets in clear text?'))) throw new SecretsError('INTERRUPTED', 'not exported');
      }
      const r = await exportSecrets(app.deps(cmd), { filter: (e) => matchesFilters(e.secret, filters), progress: progressOnTty(app.io, 'exporting') });
      try {
        for (const e of r.errors) app.warn(`${e.SecretId}: ${e.Message}; left out`);
        if (opts.format === 'json') {
          const out = r.values.map((v) => {
            const t = v.type === 'string' ? v.value.revealText() : undefined;
            const payload = t !== undefined ? { SecretString: t } : { SecretBinary: Buffer.from(v.value.reveal()).toString('base64') };
            return { Name: v.Name, VersionId: v.VersionId, ...payload, VersionStages: v.VersionStages, CreatedDate: v.CreatedDate };
          });
          return app.emit({ stdout: formatJson(out) });
        }
        const lines = r.values.map((v) => {
          const t = v.value.revealText();
          if (t === undefined) throw new SecretsError('INVALID_VALUE', `${v.Name} is binary and cannot be exported as dotenv`, 'use --format json');
          return `${envName(v.Name)}=${dotenvQuote(t)}\n`;
        });
        app.emit({ stdout: lines.join('') });
      } finally {
        for (const v of r.values) v.value.wipe();
      }
    });
}
