/**
 * docs/policies.md says what `policy validate` and `policy simulate` print for its examples;
 * this test runs its setup block and every console transcript in a fresh sandbox and compares
 * the output line for line, so the documentation cannot drift from the program.
 */
import { test } from 'node:test';
import { equal, ok } from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN, ROOT, sandbox } from './support/cli.js';

interface Step {
  readonly command: string;
  readonly expected: string;
}

/** The `sh` block after "## Examples", and each `console` block as commands with their output. */
function transcripts(markdown: string): { setup: string[]; steps: Step[] } {
  const examples = markdown.slice(markdown.indexOf('## Examples'));
  const setupBlock = /```sh\n([\s\S]*?)```/.exec(examples)?.[1] ?? '';
  const setup = setupBlock.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const steps: Step[] = [];
  for (const m of examples.matchAll(/```console\n([\s\S]*?)```/g)) {
    let current: { command: string; out: string[] } | undefined;
    for (const line of (m[1] ?? '').split('\n')) {
      if (line.startsWith('$ ')) {
        if (current) steps.push({ command: current.command, expected: current.out.join('\n') });
        current = { command: line.slice(2), out: [] };
      } else if (current && line !== '') {
        current.out.push(line);
      }
    }
    if (current) steps.push({ command: current.command, expected: current.out.join('\n') });
  }
  return { setup, steps };
}

test('every transcript in docs/policies.md prints exactly what the docs show', () => {
  const { setup, steps } = transcripts(readFileSync(join(ROOT, 'docs', 'policies.md'), 'utf8'));
  ok(setup.length >= 5, 'the setup block was found');
  ok(steps.some((s) => s.command.includes('policy validate')) && steps.some((s) => s.command.includes('policy simulate')));
  const sb = sandbox();
  try {
    symlinkSync(join(ROOT, 'docs'), join(sb.home, 'docs'));
    const env = { ...sb.env, PATH: `${dirname(BIN)}:${sb.env['PATH'] ?? ''}`, NO_COLOR: '1' };
    const sh = (command: string): { out: string; code: number | null } => {
      const r = spawnSync('bash', ['-c', `{ ${command}\n} 2>&1`], { cwd: sb.home, env, encoding: 'utf8', timeout: 30_000 });
      return { out: r.stdout, code: r.status };
    };
    for (const line of setup) {
      const r = sh(line);
      equal(r.code, 0, `setup: ${line}\n${r.out}`);
    }
    for (const step of steps) {
      const r = sh(`${step.command} </dev/null`);
      equal(r.out.trimEnd(), step.expected, `output of: ${step.command}`);
    }
  } finally {
    sb.cleanup();
  }
});
