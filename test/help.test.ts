/**
 * Help, as a person reads it: every command has a description, its flags and two or more
 * examples whose flags really exist; `--help` of every command matches its snapshot in
 * test/snapshots/help/ (UPDATE_SNAPSHOTS=1 rewrites them after a deliberate change); unknown
 * commands suggest the nearest; `help exit-codes` and the man page come from the same tables.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { EXAMPLES, EXIT_CODES } from '../src/cli/help.js';
import { commandModules, createProgram } from '../src/cli/program.js';
import { ROOT, runCli, sandbox } from './support/cli.js';

const SNAPSHOTS = join(ROOT, 'test', 'snapshots', 'help');
const UPDATE = process.env['UPDATE_SNAPSHOTS'] === '1';

async function tree(): Promise<Command> {
  const app = { io: { writeOut() {}, writeErr() {}, env: {} }, deps() {}, emit() {}, warn() {} } as unknown as Parameters<typeof createProgram>[0];
  return createProgram(app, await commandModules(['--help']));
}

function visible(program: Command): { path: string; cmd: Command }[] {
  const out: { path: string; cmd: Command }[] = [];
  const walk = (c: Command, prefix: string[]): void => {
    for (const sub of c.commands) {
      if ((sub as unknown as { _hidden: boolean })._hidden) continue;
      const path = [...prefix, sub.name()];
      out.push({ path: path.join(' '), cmd: sub });
      walk(sub, path);
    }
  };
  walk(program, []);
  return out;
}

/** The `--flags` of an example line (quoted words and comments left out). */
function flagsOf(example: string): string[] {
  const code = example.replace(/#.*$/, '').replace(/"[^"]*"|'[^']*'/g, '');
  return [...code.matchAll(/(?:^|\s)(--[a-z][a-z-]*)/g)].map((m) => m[1] as string);
}

describe('help', () => {
  it('every command has a description and two or more examples whose flags exist', async () => {
    const program = await tree();
    const global = new Set(program.options.map((o) => o.long));
    for (const { path, cmd } of visible(program)) {
      assert.ok(cmd.description().length > 10, `${path}: a description`);
      const examples = EXAMPLES[path] ?? [];
      assert.ok(examples.length >= 2, `${path}: at least two examples (has ${examples.length})`);
      for (const line of examples) {
        // The command an example runs: the words after `secrets` (and any global option) that name commands.
        const at = line.indexOf('secrets ');
        assert.ok(at >= 0, `${path}: example runs secrets: ${line}`);
        const words = line
          .slice(at + 'secrets '.length)
          .replace(/#.*$/, '')
          .replace(/"[^"]*"|'[^']*'/g, 'X')
          .split(/\s+/)
          .filter(Boolean);
        let target: Command = program;
        let i = 0;
        while (i < words.length && (words[i] ?? '').startsWith('--') && global.has(words[i])) i += 2;
        for (; i < words.length; i++) {
          const next = target.commands.find((c) => c.name() === words[i]);
          if (!next) break;
          target = next;
        }
        assert.ok(
          target === cmd || cmd.commands.includes(target) || path === 'exit-codes' || target.name() === path.split(' ')[0],
          `${path}: example runs ${path} (${line})`,
        );
        const own = new Set(target.options.map((o) => o.long));
        for (const flag of flagsOf(line.slice(at))) {
          assert.ok(own.has(flag) || global.has(flag) || flag === '--help', `${path}: example flag ${flag} exists on ${target.name()} (${line})`);
        }
      }
    }
  });

  it('--help of every command matches its snapshot', async () => {
    const program = await tree();
    const paths = ['', ...visible(program).map((v) => v.path)];
    if (UPDATE) mkdirSync(SNAPSHOTS, { recursive: true });
    const sb = sandbox();
    try {
      const mismatches: string[] = [];
      for (const path of paths) {
        const args = [...(path === '' ? [] : path.split(' ')), '--help'];
        const r = await runCli(args, { ...sb.env, COLUMNS: '100' });
        assert.equal(r.code, 0, `${path} --help exits 0`);
        assert.equal(r.stderr, '', `${path} --help writes nothing on stderr`);
        const file = join(SNAPSHOTS, `${path === '' ? 'secrets' : path.replace(/ /g, '_')}.txt`);
        if (UPDATE) writeFileSync(file, r.stdout);
        else if (!existsSync(file) || readFileSync(file, 'utf8') !== r.stdout) mismatches.push(path || '(top level)');
      }
      assert.deepEqual(mismatches, [], 'help changed: review it, then run UPDATE_SNAPSHOTS=1 npm test to accept');
    } finally {
      sb.cleanup();
    }
  });

  it('an unknown command suggests the nearest (exit 2)', async () => {
    const sb = sandbox();
    try {
      for (const [typo, near] of [
        ['gett', 'get'],
        ['rotat', 'rotate'],
        ['snyc', 'sync'],
      ] as const) {
        const r = await sb.run([typo]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /^secrets: error: unknown command/m);
        assert.match(r.stderr, new RegExp(`^secrets: hint: did you mean \`secrets ${near}\`\\?`, 'm'));
      }
    } finally {
      sb.cleanup();
    }
  });

  it('help exit-codes lists every exit code', async () => {
    const sb = sandbox();
    try {
      const r = await sb.run(['help', 'exit-codes']);
      assert.equal(r.code, 0);
      for (const code of ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '126', '127', '130'])
        assert.match(r.stdout, new RegExp(`^  ${code} +\\S`, 'm'), `code ${code}`);
      assert.equal(EXIT_CODES.length, 14);
    } finally {
      sb.cleanup();
    }
  });

  it('the man page is generated from the same tree and is up to date', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'man.mjs'), '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const page = readFileSync(join(ROOT, 'man', 'secrets.1'), 'utf8');
    assert.match(page, /^\.TH SECRETS 1/);
    assert.ok(page.includes('secrets rotate \\-\\-due'), 'examples are in it');
  });
});
