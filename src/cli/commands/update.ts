/** `secrets update NAME`: change the description and/or store a new value. */
import type { Command } from 'commander';
import { updateSecret } from '../../core/use-cases/write.js';
import type { App } from '../app.js';
import { formatJson } from '../ui.js';
import { addValueSourceOptions, hasValueSource, readValue } from '../value-source.js';

export function register(program: Command, app: App): void {
  const cmd = program
    .command('update')
    .description("change a secret's description and/or value")
    .argument('<name>', 'secret name')
    .option('--description <text>', 'the new description')
    .option('--client-request-token <token>', 'idempotency token for the new version')
    .option('--json', 'print JSON');
  addValueSourceOptions(cmd).action(async (name: string, opts: Record<string, unknown>, c: Command) => {
    const deps = app.deps(c);
    const value = hasValueSource(opts) ? await readValue(app.io, opts, name) : undefined;
    const result = await updateSecret(deps, {
      name,
      description: opts['description'] as string | undefined,
      value,
      token: opts['clientRequestToken'] as string | undefined,
    });
    const text = result.VersionId ? `Updated ${result.Name} (new version ${result.VersionId})\n` : `Updated ${result.Name}\n`;
    app.emit(opts['json'] ? { stdout: formatJson(result) } : { stderr: text });
  });
}
