/** `secrets create NAME`: a new secret with its first version. */
import type { Command } from 'commander';
import { parseTagAssignment } from '../../core/names.js';
import { createSecret } from '../../core/use-cases/write.js';
import type { App } from '../app.js';
import { formatJson } from '../ui.js';
import { addValueSourceOptions, readValue } from '../value-source.js';

/** Collects repeated flags. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `KEY=VALUE` flags to a tag map (later wins). */
export function tagMap(assignments: readonly string[]): Map<string, string> {
  const tags = new Map<string, string>();
  for (const a of assignments) {
    const [k, v] = parseTagAssignment(a);
    tags.set(k, v);
  }
  return tags;
}

export function register(program: Command, app: App): void {
  const cmd = program
    .command('create')
    .description('create a secret (the value comes from stdin, a file, a generator or a hidden prompt; never argv)')
    .argument('<name>', 'secret name, e.g. prod/db/password')
    .option('--description <text>', 'what the secret is for (plaintext; never put secrets here)')
    .option('--tag <key=value>', 'a tag (repeatable)', collect, [])
    .option('--client-request-token <token>', 'idempotency token, used as the version id')
    .option('--json', 'print JSON');
  addValueSourceOptions(cmd).action(async (name: string, opts: Record<string, unknown>, c: Command) => {
    const tags = tagMap(opts['tag'] as string[]);
    const deps = app.deps(c);
    const value = await readValue(app.io, opts, name);
    const result = await createSecret(deps, {
      name,
      description: opts['description'] as string | undefined,
      tags,
      value,
      token: opts['clientRequestToken'] as string | undefined,
    });
    app.emit(opts['json'] ? { stdout: formatJson(result) } : { stderr: `Created ${result.Name} (version ${result.VersionId})\n` });
  });
}
