/** `secrets inject [-i TEMPLATE] [-o FILE]`: renders `{{ secret://… [| FILTER] }}` placeholders. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SecretsError } from '../../core/errors.js';
import { parseReference } from '../../core/references.js';
import { applyFilter, fillPlaceholders, findPlaceholders, TEMPLATE_FILTERS } from '../../core/template.js';
import { releaseSecrets, type Source } from '../../core/use-cases/release.js';
import { writeFileAtomic } from '../../store/atomic.js';
import type { App } from '../app.js';
import { textValues } from './env.js';

export function register(program: Command, app: App): void {
  program
    .command('inject')
    .description(
      `render a template: each {{ secret://NAME[#FIELD][?stage=…] }} becomes the value, as it is or through a filter (| ${TEMPLATE_FILTERS.join(', ')}); the output file is 0600`,
    )
    .option('-i, --in <template>', 'the template file (- or absent: stdin)')
    .option('-o, --out <file>', 'write here (mode 0600, replaced atomically) instead of stdout')
    .action(async (opts: { in?: string; out?: string }, cmd: Command) => {
      const fromStdin = opts.in === undefined || opts.in === '-';
      const source = fromStdin ? '(stdin)' : (opts.in as string);
      if (fromStdin && app.io.stdinIsTTY) {
        throw new SecretsError('USAGE', 'reading the template from stdin, but stdin is a terminal', 'pass -i TEMPLATE, or pipe the template in');
      }
      let template: string;
      try {
        template = fromStdin ? new TextDecoder().decode(await app.io.readStdin()) : readFileSync(source, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw new SecretsError(code === 'ENOENT' ? 'NOT_FOUND' : 'STORAGE', `cannot read template ${source}: ${code}`);
      }
      const placeholders = findPlaceholders(template, source);
      const sources: Source[] = placeholders.map((p, i) => {
        try {
          return { kind: 'reference', variable: `T${i}`, ref: parseReference(p.reference), origin: `${source}:${p.line}` };
        } catch (err) {
          if (err instanceof SecretsError) throw new SecretsError(err.code, `${source}:${p.line}: ${err.message}`, err.hint);
          throw err;
        }
      });
      // Every reference must resolve: a half-rendered config is worse than none.
      const release = await releaseSecrets(app.deps(cmd), { sources, strict: true });
      try {
        const values = textValues(release.variables).map((v, i) => applyFilter(placeholders[i]?.filter ?? 'raw', v.value));
        const rendered = fillPlaceholders(template, values);
        if (opts.out === undefined) return app.emit({ stdout: rendered });
        writeFileAtomic(opts.out, rendered);
        app.emit({ stderr: `Wrote ${opts.out} (mode 0600) with ${placeholders.length} secret reference(s) filled in.\n` });
      } finally {
        for (const v of release.variables) v.value.wipe();
      }
    });
}
