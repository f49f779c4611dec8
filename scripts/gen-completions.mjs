#!/usr/bin/env node
// Rewrites the generated block of each shell completion script in completions/ from the command
// tree, so that commands, options and fixed values are never listed by hand:
//   npm run build && node scripts/gen-completions.mjs          # rewrite what changed
//   npm run build && node scripts/gen-completions.mjs --check  # exit 1 if a script is stale
// test/completions.test.ts fails the same way, so a stale script cannot be committed unnoticed.
import { writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { completionScripts } from '../dist/src/cli/completion/generate.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const s of await completionScripts(ROOT)) {
  if (s.committed === s.expected) continue;
  stale++;
  if (check) {
    console.error(`${relative(ROOT, s.path)} is out of date: run node scripts/gen-completions.mjs`);
  } else {
    writeFileSync(s.path, s.expected);
    console.error(`updated ${relative(ROOT, s.path)}`);
  }
}
process.exit(check && stale > 0 ? 1 : 0);
