/** `secrets import` and `secrets export` (dotenv, JSON, and the AWS get-secret-value shape). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { dotenvQuote, parseDotenv } from '../../core/dotenv.js';
import { SecretsError } from '../../core/errors.js';
import { envName } from '../../core/references.js';
import { SecretBytes } from '../../core/secret-bytes.js';
import { matchesFilters, parseFilters } from '../../core/use-cases/read.js';
import { exportSecrets, type ImportItem, importSecrets } from '../../core/use-cases/transfer.js';
import type { App } from '../app.js';
import { askConfirm } from '../prompt.js';
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

export function register(program: Command, app: App): void {
  program
    .command('import')
    .description('create or update many secrets from a dotenv file, a JSON object, or AWS get-secret-value JSON, in one write')
    .argument('<file>', 'the input (- for stdin)')
    .option('--format <format>', 'dotenv, json (an object of NAME: value) or aws', 'dotenv')
    .option('--prefix <prefix>', 'prepended to every name (a dotenv key K becomes PREFIX + K)', '')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { format: string; prefix: string; json?: boolean }, cmd: Command) => {
      if (!['dotenv', 'json', 'aws'].includes(opts.format)) throw new SecretsError('USAGE', `--format must be dotenv, json or aws, not ${JSON.stringify(opts.format)}`);
      let input: string;
      try {
        input = file === '-' ? new TextDecoder().decode(await app.io.readStdin()) : readFileSync(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw new SecretsError(code === 'ENOENT' ? 'NOT_FOUND' : 'STORAGE', `cannot read ${file}: ${code}`);
      }
      const items = importItems(input, opts.format, opts.prefix, file === '-' ? '(stdin)' : file);
      const r = await importSecrets(app.deps(cmd), { items, progress: progressOnTty(app.io, 'importing') });
      for (const i of items) i.value.bytes.wipe();
      if (opts.json) return app.emit({ stdout: formatJson(r) });
      app.emit({ stderr: `Imported ${items.length} secret(s): ${r.Created} created, ${r.Updated} updated, ${r.Unchanged} unchanged.\n` });
    });
  program
    .command('export')
    .description('print the CURRENT value of every secret (or those matching --filter) as dotenv, or as AWS get-secret-value JSON')
    .option('--format <format>', 'dotenv or json', 'json')
    .option('--filter <key=value>', 'as `list --filter` (repeatable)', collect)
    .option('--yes', 'do not ask for confirmation')
    .action(async (opts: { format: string; filter?: string[]; yes?: boolean }, cmd: Command) => {
      if (opts.format !== 'dotenv' && opts.format !== 'json') throw new SecretsError('USAGE', `--format must be dotenv or json, not ${JSON.stringify(opts.format)}`);
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
