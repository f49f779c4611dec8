// Bundles the CLI into one CommonJS file, dist/secrets.cjs, which bin/secrets starts with a V8
// code cache (ADR 0012). Input is tsc's output (dist/src), so the bundle runs exactly the code
// the unit tests import. Libraries that only some commands use stay outside and load on demand
// (dynamic imports in the source, require() calls in the bundle); keytar is a native addon and must stay outside.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Two builds of the CLI: the shipped one, whose test hooks (a fixed clock, fault injection) are
// compiled out, and one for the test suites with them in. package.json ships only the first.
// A third, dist/index.cjs, is the library for CommonJS callers (`require('secrets')`, package.json
// "exports" "require"): the same entry as the ES module one, src/index.ts, without test hooks.
// A fourth, for the test suites only, is the CLI with test/support's format-1 writer
// (test/support/format1-cli.ts): the shipped code writes no format-1 vault.
for (const [entry, outfile, hooks] of [
  ['dist/src/cli/entry.js', 'dist/secrets.cjs', false],
  ['dist/src/cli/entry.js', 'dist/secrets-test-hooks.cjs', true],
  ['dist/src/index.js', 'dist/index.cjs', false],
  ['dist/test/support/format1-cli.js', 'dist/secrets-format1-test.cjs', true],
])
  await build({
    entryPoints: [join(root, entry)],
    outfile: join(root, outfile),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // Code compiled through vm.Script (bin/secrets) cannot use import() on Node 20 without an
    // experimental flag, so the lazy libraries load with require(), which takes ES modules
    // since Node 20.19 (the engines floor).
    supported: { 'dynamic-import': false },
    external: ['@github/keytar', 'pg', 'mysql2', 'mysql2/*', '@inquirer/prompts', 'yaml', 'chalk', 'croner', 'libsodium-wrappers-sumo'],
    // import.meta does not exist in CommonJS: the modules that use it (keytar's createRequire and
    // the completions/ lookup) get the bundle's own URL, which sits inside the package too.
    banner: { js: "const __secrets_bundle_url = require('node:url').pathToFileURL(__filename).href;" },
    define: { 'import.meta.url': '__secrets_bundle_url', __SECRETS_TEST_HOOKS__: String(hooks) },
    legalComments: 'none',
    logLevel: 'warning',
  });
