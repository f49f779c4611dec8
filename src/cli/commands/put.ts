/** `secrets put NAME`: a new version; CURRENT and PREVIOUS move unless labels are given. */
import type { Command } from 'commander';
import { putSecretValue } from '../../core/use-cases/write.js';
import type { App } from '../app.js';
import { formatJson, formatWarning } from '../ui.js';
import { addValueSourceOptions, readValue } from '../value-source.js';
import { collect } from './create.js';

export function register(program: Command, app: App): void {
  const cmd = program
    .command('put')
    .description('store a new version of a secret')
    .argument('<name>', 'secret name')
    .option('--version-stage <label>', 'label(s) for the new version instead of CURRENT (repeatable)', collect, [])
    .option('--client-request-token <token>', 'idempotency token, used as the version id')
    .option('--json', 'print JSON');
  addValueSourceOptions(cmd).action(async (name: string, opts: Record<string, unknown>, c: Command) => {
    const deps = app.deps(c);
    const value = await readValue(app.io, opts, name);
    const result = await putSecretValue(deps, {
      name,
      value,
      labels: opts['versionStage'] as string[],
      token: opts['clientRequestToken'] as string | undefined,
    });
    const text = result.Unchanged
      ? `${result.Name}: version ${result.VersionId} already has this value; nothing changed\n`
      : `Stored ${result.Name} version ${result.VersionId} [${(result.VersionStages ?? []).join(', ')}]\n`;
    const abandoned =
      result.AbandonedRotationVersionId !== undefined
        ? formatWarning(`this abandons the rotation in progress: its value stays as version ${result.AbandonedRotationVersionId}, no longer PENDING`)
        : '';
    app.emit(opts['json'] ? { stdout: formatJson(result), stderr: abandoned } : { stderr: text + abandoned });
  });
}
