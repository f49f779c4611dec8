/**
 * Documentation that shows what a command prints is run, not trusted: a doc section holds a
 * `sh` block of setup commands and `console` blocks of `$ command` lines, each followed by
 * its exact output. `checkTranscripts` runs them in order in one fresh sandbox (with the
 * repository's docs/ linked into its HOME, for example files) and compares the output line for
 * line, so the docs cannot drift from the program.
 */
import { equal, ok } from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN, ROOT, sandbox } from './cli.js';

/** One `$ command` of a console block and the output the docs show for it. */
export interface Step {
  readonly command: string;
  readonly expected: string;
}

/** The section from `heading` to the next heading of the same level or above. */
function sectionOf(markdown: string, heading: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  ok(at >= 0, `the docs have the heading "${heading}"`);
  const level = /^#+/.exec(heading)?.[0].length ?? 2;
  const rest = markdown.slice(at + heading.length + 2);
  const next = rest.search(new RegExp(`\\n#{1,${level}} `));
  return next >= 0 ? rest.slice(0, next) : rest;
}

/** The first `sh` block of the section as setup commands, and each `console` block as steps. */
export function transcripts(markdown: string, heading: string): { setup: string[]; steps: Step[] } {
  const section = sectionOf(markdown, heading);
  const setupBlock = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const setup = setupBlock.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const steps: Step[] = [];
  for (const m of section.matchAll(/```console\n([\s\S]*?)```/g)) {
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

/** Runs the setup and every step of `docFile`'s section under `heading`; returns the steps run. */
export function checkTranscripts(docFile: string, heading: string): { setup: string[]; steps: Step[] } {
  const parsed = transcripts(readFileSync(join(ROOT, docFile), 'utf8'), heading);
  const sb = sandbox();
  try {
    symlinkSync(join(ROOT, 'docs'), join(sb.home, 'docs'));
    const env = { ...sb.env, PATH: `${dirname(BIN)}:${sb.env['PATH'] ?? ''}`, NO_COLOR: '1' };
    const sh = (command: string): { out: string; code: number | null } => {
      const r = spawnSync('bash', ['-c', `{ ${command}\n} 2>&1`], { cwd: sb.home, env, encoding: 'utf8', timeout: 30_000 });
      return { out: r.stdout, code: r.status };
    };
    for (const line of parsed.setup) {
      const r = sh(line);
      equal(r.code, 0, `setup: ${line}\n${r.out}`);
    }
    for (const step of parsed.steps) {
      const r = sh(`${step.command} </dev/null`);
      equal(r.out.trimEnd(), step.expected, `output of: ${step.command}`);
    }
  } finally {
    sb.cleanup();
  }
  return parsed;
}
