#!/usr/bin/env node
// `npm run man`: writes man/secrets.1 from the same command tree and examples as `--help`
// (src/cli/program.ts, src/cli/help.ts), so the man page cannot drift from the CLI.
// `node scripts/man.mjs --check` exits 1 when the committed page differs (test/help.test.ts).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'man', 'secrets.1');
const { commandModules, createProgram } = await import(join(ROOT, 'dist/src/cli/program.js'));
const { EXAMPLES, EXIT_CODES } = await import(join(ROOT, 'dist/src/cli/help.js'));
const { VERSION } = await import(join(ROOT, 'dist/src/cli/version.js'));

const app = { io: { writeOut() {}, writeErr() {}, env: {} }, deps() {}, emit() {}, warn() {} };
const program = createProgram(app, await commandModules(['--help']));

/** roff-escapes text: backslashes, leading dots and quotes, hyphens in flags. */
const esc = (t) =>
  String(t)
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');

const lines = [
  `.TH SECRETS 1 "" "secrets ${VERSION}" "User Commands"`,
  '.SH NAME',
  'secrets \\- a local\\-first secrets manager for the terminal',
  '.SH SYNOPSIS',
  '.B secrets',
  '[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
  '.SH DESCRIPTION',
  esc(program.description()),
  '.SH GLOBAL OPTIONS',
];
for (const o of program.options.filter((x) => !x.hidden)) lines.push('.TP', `.B ${esc(o.flags)}`, esc(o.description));
lines.push('.SH COMMANDS');
const walk = (cmd, path) => {
  for (const sub of cmd.commands) {
    if (sub._hidden) continue;
    const p = [...path, sub.name()];
    const args = sub.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(' ');
    lines.push('.SS', `.B secrets ${esc(p.join(' '))}${args ? ` ${esc(args)}` : ''}`, esc(sub.description()));
    for (const o of sub.options.filter((x) => !x.hidden)) lines.push('.TP', `.B ${esc(o.flags)}`, esc(o.description));
    const ex = EXAMPLES[p.join(' ')];
    if (ex) {
      lines.push('.PP', 'Examples:', '.RS', '.nf');
      for (const e of ex) lines.push(esc(e));
      lines.push('.fi', '.RE');
    }
    walk(sub, p);
  }
};
walk(program, []);
lines.push('.SH EXIT STATUS');
for (const [code, meaning] of EXIT_CODES) lines.push('.TP', `.B ${esc(code)}`, esc(meaning));
lines.push(
  '.SH ENVIRONMENT',
  '.TP',
  '.B SECRETS_VAULT',
  'the vault file (default $XDG_DATA_HOME/secrets/vault.yaml)',
  '.TP',
  '.B SECRETS_IDENTITY_KEY',
  'the identity key itself, for CI; never put it on a command line',
  '.TP',
  '.B SECRETS_IDENTITY_FILE',
  'a file holding the identity key (mode 0600)',
  '.TP',
  '.B SECRETS_AUDIT',
  'required (default) or best\\-effort',
  '.TP',
  '.B NO_COLOR',
  'no colour in output',
  '.SH SEE ALSO',
  'README.md and docs/ in the package: commands.md, programs.md, policies.md, audit.md, rotation.md, sync.md.',
);
const text = `${lines.join('\n')}\n`;

if (process.argv.includes('--check')) {
  let old = '';
  try {
    old = readFileSync(OUT, 'utf8');
  } catch {
    // missing counts as different
  }
  if (old !== text) {
    console.error(`man/secrets.1 is out of date: run npm run man`);
    process.exit(1);
  }
} else {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, text);
  console.error(`wrote ${OUT}`);
}
