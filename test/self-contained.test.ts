/**
 * The repository explains itself: no source file, test, script, doc, man page or completion
 * cites the project's design notes, research notes or tracker issues, which a reader of a
 * clone does not have. A fact worth citing goes into the comment, the docs or an ADR instead.
 */
import { test } from 'node:test';
import { ok } from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './support/cli.js';

// Built from parts so that this file does not match itself.
const CITATION = new RegExp(['DESIGN' + '\\.md', 'STYLE' + '\\.md', 'research' + '/', '\\bissue' + ' \\d'].join('|'), 'i');
const PLACES = ['src', 'test', 'scripts', 'bin', 'docs', 'README.md', '.ci', 'eslint.config.js', 'completions', 'man'];

function files(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => files(join(path, name)));
}

test('no file cites design notes, research notes or issue numbers from outside the repository', () => {
  const found: string[] = [];
  for (const file of PLACES.flatMap((p) => files(join(ROOT, p)))) {
    if (/\.(svg|png)$/.test(file)) continue;
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (CITATION.test(line)) found.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
      });
  }
  ok(found.length === 0, `state the fact instead of citing it:\n${found.join('\n')}`);
});
