/** `secrets inject -i TEMPLATE [-o FILE]`: renders `{{ secret://… }}` references. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SecretsError } from '../../core/errors.js';
import { parseReference } from '../../core/references.js';
import { releaseSecrets, type Source } from '../../core/use-cases/release.js';
import { writeFileAtomic } from '../../store/atomic.js';
import type { App } from '../app.js';
import { textValues } from './env.js';

const REFERENCE = /\{\{\s*(secret:\/\/[^\s}]+)\s*\}\}/g;

export function register(program: Command, app: App): void {
  program
    .command('inject')
    .description('render a template: each {{ secret://NAME[#FIELD][?stage=…] }} becomes the value; the output file is 0600')
    .requiredOption('-i, --in <template>', 'the template file (- for stdin)')
    .option('-o, --out <file>', 'write here (mode 0600, replaced atomically) instead of stdout')
    .action(async (opts: { in: string; out?: string }, cmd: Command) => {
      let template: string;
      try {
        template = opts.in === '-' ? new TextDecoder().decode(await app.io.readStdin()) : readFileSync(opts.in, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw new SecretsError(code === 'ENOENT' ? 'NOT_FOUND' : 'STORAGE', `cannot read template ${opts.in}: ${code}`);
      }
      const refs = [...template.matchAll(REFERENCE)];
      const sources: Source[] = refs.map((m, i) => {
        const line = template.slice(0, m.index).split('\n').length;
        try {
          return { kind: 'reference', variable: `T${i}`, ref: parseReference(m[1] as string), origin: `${opts.in}:${line}` };
        } catch (err) {
          if (err instanceof SecretsError) throw new SecretsError(err.code, `${opts.in}:${line}: ${err.message}`, err.hint);
          throw err;
        }
      });
      // Every reference must resolve: a half-rendered config is worse than none.
      const release = await releaseSecrets(app.deps(cmd), { sources, strict: true });
      try {
        const values = textValues(release.variables);
        let i = 0;
        const rendered = template.replace(REFERENCE, () => values[i++]?.value ?? '');
        if (opts.out === undefined) return app.emit({ stdout: rendered });
        writeFileAtomic(opts.out, rendered);
        app.emit({ stderr: `Wrote ${opts.out} (mode 0600) with ${refs.length} secret reference(s) filled in.\n` });
      } finally {
        for (const v of release.variables) v.value.wipe();
      }
    });
}
