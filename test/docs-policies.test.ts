/**
 * docs/policies.md says what `policy validate` and `policy simulate` print for its examples;
 * this test runs its setup block and every console transcript in a fresh sandbox and compares
 * the output line for line, so the documentation cannot drift from the program.
 */
import { test } from 'node:test';
import { ok } from 'node:assert/strict';
import { checkTranscripts } from './support/doc-transcripts.js';

test('every transcript in docs/policies.md prints exactly what the docs show', () => {
  const { setup, steps } = checkTranscripts('docs/policies.md', '## Examples');
  ok(setup.length >= 5, 'the setup block was found');
  ok(steps.some((s) => s.command.includes('policy validate')) && steps.some((s) => s.command.includes('policy simulate')));
});
