/**
 * docs/programs.md shows what `secrets env` prints in each format; this test runs its setup
 * block and every console transcript in a fresh sandbox and compares the output line for line.
 */
import { test } from 'node:test';
import { ok } from 'node:assert/strict';
import { checkTranscripts } from './support/doc-transcripts.js';

test('every transcript of `secrets env` in docs/programs.md prints exactly what the docs show', () => {
  const { setup, steps } = checkTranscripts('docs/programs.md', '### What each format prints');
  ok(setup.length >= 3, 'the setup block was found');
  for (const format of ['shell', 'docker', 'json', 'yaml'])
    ok(
      steps.some((s) => s.command.includes(`--format ${format}`)),
      `a transcript of --format ${format}`,
    );
  ok(
    steps.some((s) => s.command.startsWith('secrets env') && !s.command.includes('--format')),
    'a transcript of the default format (dotenv)',
  );
});
