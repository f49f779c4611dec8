/**
 * The README's quick start as a newcomer runs it: a fresh HOME, the README's own command with
 * `<repo-url>` replaced by this repository (so it clones the committed HEAD), npm offline from
 * the npm cache that installed this checkout (no network needed). Then: the installed command
 * works after the clone is deleted, the git drivers that `init --git` registers point at the
 * installed copy, a Node project installs the tarball and imports the package by its name, and
 * the README explains every install-script warning npm printed. ADR 0017 has the reasons.
 * Skipped with a reason (never under CI=true) when the npm cache lacks a dependency.
 */
import { equal, notEqual, ok } from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, sandbox, type Sandbox } from './support/cli.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };

/** The text of a README section, from its heading to the next heading of the same level or above. */
function section(heading: string): string {
  const at = README.indexOf(`${heading}\n`);
  ok(at >= 0, `README has "${heading}"`);
  const level = /^#+/.exec(heading)?.[0].length ?? 2;
  const rest = README.slice(at + heading.length);
  const next = rest.search(new RegExp(`\\n#{1,${level}} `));
  return next >= 0 ? rest.slice(0, next) : rest;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function npmCache(): string {
  return spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).stdout.trim();
}

function skipUnlessGit(): string | undefined {
  if (process.env['CI'] === 'true') return undefined;
  if (spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD']).status !== 0) return 'the repository is not a git checkout, so there is nothing to clone';
  if (spawnSync('npm', ['--version']).status !== 0) return 'npm is not on PATH';
  return undefined;
}

test("the package name is the one the docs import, and not the registry's `secrets`", () => {
  // `secrets` on the npm registry is another publisher's package (ADR 0017).
  notEqual(PKG.name, 'secrets');
  equal(Object.keys(PKG.bin).join(), 'secrets', 'the command is still `secrets`');
  for (const file of ['README.md', 'docs/library.md']) {
    const imports = [...readFileSync(join(ROOT, file), 'utf8').matchAll(/import \{[^}]*\} from '([^']+)'/g)].map((m) => m[1]);
    ok(imports.length > 0, `${file} shows an import`);
    for (const name of imports) equal(name, PKG.name, `${file} imports the package by its name`);
  }
});

describe('the README quick start in a fresh HOME', { skip: skipUnlessGit() }, () => {
  let sb: Sandbox;
  let env: Record<string, string>;
  let quickStart: { code: number | null; stdout: string; stderr: string };
  let offlineMiss: string | undefined;

  const sh = (command: string, cwd?: string): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync('bash', ['-c', command], { cwd: cwd ?? sb.home, env, encoding: 'utf8', timeout: 300_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const skipIfOffline = (t: { skip: (m: string) => void }): boolean => {
    if (offlineMiss === undefined) return false;
    t.skip(offlineMiss);
    return true;
  };

  before(() => {
    sb = sandbox();
    mkdirSync(join(sb.home, 'tmp'), { recursive: true });
    env = {
      ...sb.env,
      npm_config_cache: npmCache(),
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    };
    const block = /```sh\n([\s\S]*?)```/.exec(section('## Quick start'))?.[1] ?? '';
    const command = block.split('\n').find((l) => l.startsWith('git clone '));
    ok(command?.includes('<repo-url>') === true, 'the quick start is one command that starts with git clone <repo-url>');
    quickStart = sh(command.replace('<repo-url>', quote(ROOT)));
    if (quickStart.code !== 0 && /ENOTCACHED/.test(quickStart.stderr) && process.env['CI'] !== 'true') {
      offlineMiss = `the npm cache (${env['npm_config_cache'] ?? '?'}) lacks a dependency, and this test does not use the network`;
    }
  });
  after(() => sb.cleanup());

  test('installs, creates a vault, stores a secret and reads it back', (t) => {
    if (skipIfOffline(t)) return;
    equal(quickStart.code, 0, `the quick start failed:\n${quickStart.stderr.slice(-3000)}`);
    ok(quickStart.stdout.endsWith('hunter2'), `it ends with the secret:\n${quickStart.stdout.slice(-500)}`);
  });

  test('the README explains every install-script warning npm printed', (t) => {
    if (skipIfOffline(t)) return;
    const named = new Set([...quickStart.stderr.matchAll(/^npm warn install-scripts {2,}(@?[^@\s]+)@\S+ \(/gm)].map((m) => m[1] as string));
    ok(named.has('@github/keytar'), `keytar's script was reported:\n${quickStart.stderr.slice(-2000)}`);
    ok(!named.has(PKG.name), 'no script of our own package is listed (the build is prepack, not prepare)');
    const explained = section('### The install-script warnings');
    for (const name of named) ok(explained.includes(`**\`${name}\``), `the README explains the install script of ${name}`);
  });

  test('the installed command and its git drivers work after the clone is deleted', (t) => {
    if (skipIfOffline(t)) return;
    const clone = join(sb.home, 'secrets');
    const tarball = readdirSync(clone).find((f) => f === `${PKG.name}-${PKG.version}.tgz`);
    ok(tarball, 'npm pack wrote NAME-VERSION.tgz');
    mkdirSync(join(sb.home, 'pkg'));
    renameSync(join(clone, tarball), join(sb.home, 'pkg', tarball));
    rmSync(clone, { recursive: true, force: true });
    env = { ...env, PATH: `${join(sb.home, '.local', 'bin')}:${env['PATH'] ?? ''}` };

    const get = sh('secrets get demo/password');
    equal(get.stdout, 'hunter2', get.stderr);
    ok(sh('man -w secrets').stdout.includes(join(sb.home, '.local')) || spawnSync('man', ['--version']).status !== 0, 'man finds the installed manual');

    equal(sh('git init -q --bare remote.git').code, 0);
    const init = sh(`secrets --vault ${quote(join(sb.home, 'team', 'vault.yaml'))} init --git ${quote(join(sb.home, 'remote.git'))}`);
    equal(init.code, 0, init.stderr);
    const driver = sh('git -C team config merge.secrets.driver').stdout;
    ok(driver.includes(join(sb.home, '.local', 'bin', 'secrets')) && !driver.includes(ROOT), `the merge driver runs the installed copy: ${driver}`);
    const put = sh(`printf v | secrets --vault ${quote(join(sb.home, 'team', 'vault.yaml'))} create team/a --value-stdin`);
    equal(put.code, 0, put.stderr);
    const diff = sh('git -C team diff');
    ok(/^\+op CreateSecret secret team\/a /m.test(diff.stdout), `git diff ran the installed diff driver:\n${diff.stdout}${diff.stderr}`);
  });

  test('a Node project installs the tarball and imports the package by its name', (t) => {
    if (skipIfOffline(t)) return;
    const app = join(sb.home, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true, "type": "module" }\n');
    const install = sh(`npm install ${quote(join(sb.home, 'pkg', `${PKG.name}-${PKG.version}.tgz`))}`, app);
    equal(install.code, 0, install.stderr);
    writeFileSync(
      join(app, 'app.mjs'),
      `import { SecretsClient } from '${PKG.name}';\nprocess.stdout.write((await new SecretsClient().getSecretValue({ SecretId: 'demo/password' })).SecretString);\n`,
    );
    const run = sh('node app.mjs', app);
    equal(run.stdout, 'hunter2', run.stderr);
  });
});
