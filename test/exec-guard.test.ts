/**
 * Attacks on `secrets exec` and `secrets env` through the built binary, each seen refused:
 *
 * 1. A secret's name choosing a variable: a member allowed to create secrets under dev/ creates
 *    dev/node_options, and `exec --prefix dev/ -- node …` would run their code. A name derived
 *    from a secret (prefix, JSON key, --secret without =VAR) may not set a loader, shell or
 *    runtime variable, nor replace one already set; naming the variable yourself still works.
 * 2. Our identity reaching the child: no SECRETS_IDENTITY_* variable is passed on.
 * 3. Values in a core file: the secrets process clears its coredump_filter (the child keeps
 *    its own), and a real core of a crashed `exec` holds no value.
 * 4. Encoded values escaping the mask: hex, base64 (also inside a longer base64 text) and
 *    percent-encodings printed by a real child are masked.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { protectedFamily, protectedVariables } from '../src/core/protected-variables.js';
import { BIN, type CliResult, ROOT, type RunOptions, type Sandbox, initialisedSandbox, sandbox } from './support/cli.js';

type Env = Record<string, string>;

const NODE = process.execPath;

/** Child: writes its environment as JSON to argv[1]. */
const DUMP = "require('fs').writeFileSync(process.argv[1], JSON.stringify(process.env))";

function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

let seq = 0;

/** `secrets exec FLAGS -- node -e DUMP OUT`: the result, and the child's environment if it ran. */
async function dump(sb: Sandbox, flags: readonly string[], opts: RunOptions = {}): Promise<{ r: CliResult; env: Env | undefined }> {
  const out = join(sb.home, `env-${++seq}.json`);
  const r = await sb.run(['exec', ...flags, '--', NODE, '-e', DUMP, out], opts);
  return { r, env: existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Env) : undefined };
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The first child of `pid`, once it has one. */
async function childOf(pid: number): Promise<number> {
  let child = 0;
  await until(`a child of ${pid}`, () => {
    try {
      child = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0] ?? 0);
    } catch {
      child = 0;
    }
    return child > 0;
  });
  return child;
}

/** The program a process runs (after exec). */
function commOf(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------------------------

describe('a name chosen by a secret cannot take over the program', () => {
  let sb: Sandbox;
  let malloryKey = '';
  /** What mallory's payload writes when it runs. */
  let pwned = '';

  /** mallory creates NAME with VALUE: CreateSecret under the prefixes below is all she may do. */
  const asMallory = (name: string, value: string): Promise<string> => sb.ok(['--identity-file', malloryKey, 'create', name, '--value-stdin'], { input: value });

  before(async () => {
    sb = await initialisedSandbox();
    pwned = join(sb.home, 'pwned');
    const evil = join(sb.home, 'evil.js');
    writeFileSync(evil, `require('fs').writeFileSync(${JSON.stringify(pwned)}, 'ran')\n`);
    malloryKey = join(sb.home, 'mallory.key');
    const pub = (await sb.ok(['identity', 'new', '--name', 'mallory', '--out', malloryKey])).trim();
    await sb.ok(['member', 'add', 'mallory', pub]);
    const policy = join(sb.home, 'mallory-policy.json');
    writeFileSync(
      policy,
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secrets:CreateSecret', Resource: ['dev/*', 'a*'] }] }),
    );
    await sb.ok(['policy', 'put', 'dev-create', '-f', policy]);
    await sb.ok(['policy', 'attach', 'dev-create', 'mallory']);
    // The owner's own secrets under dev/, which the team reads with --prefix dev/.
    await sb.ok(['create', 'dev/api_token', '--value-stdin'], { input: 'dev-token-value' });
    await asMallory('dev/node_options', `--require ${evil}`);
    // One protected name per family worth a test, each under its own prefix.
    await asMallory('a1/ld_preload', join(sb.home, 'evil.so'));
    await asMallory('a2/path', `${sb.home}:/usr/bin:/bin`);
    await asMallory('a3/bash_env', evil);
    await asMallory('a4/pythonpath', sb.home);
    await asMallory('a5/git_ssh_command', `node ${evil}`);
    await asMallory('a6/secrets_vault', join(sb.home, 'mallory-vault.yaml'));
    await asMallory('a7/bash_func_ls@@', '() { node evil.js; }');
    // A JSON key is a derived name too, whoever named the base.
    await asMallory('a8/cfg', JSON.stringify({ options: `--require ${evil}`, level: 'debug' }));
    await asMallory('a9/node', JSON.stringify({ options: `--require ${evil}` }));
    // The owner's: an ordinary name that may collide with the caller's environment.
    await sb.ok(['create', 'ovr/app_mode', '--value-stdin'], { input: 'from-the-vault' });
    await sb.ok(['create', 'opts/node', '--value-stdin'], { input: '--max-old-space-size=123' });
  });

  after(() => sb?.cleanup());

  it("exec --prefix dev/ with mallory's dev/node_options: exit 5 naming the secret and NODE_OPTIONS, nothing runs", async () => {
    for (const flags of [
      ['--prefix', 'dev/'],
      ['--prefix', 'dev/', '--pristine'],
      ['--prefix', 'dev/', '--strict'],
    ]) {
      const { r, env } = await dump(sb, flags);
      assert.equal(r.code, 5, explain(flags.join(' '), r));
      assert.equal(env, undefined, `${flags.join(' ')}: the command did not run`);
      assert.ok(!existsSync(pwned), `${flags.join(' ')}: mallory's code did not run`);
      assert.match(r.stderr, /secret dev\/node_options would set NODE_OPTIONS/);
      assert.match(r.stderr, /hint: .*--secret dev\/node_options=NODE_OPTIONS/);
      assert.equal(r.stdout, '');
    }
  });

  const families: [string, string, string][] = [
    ['a1/', 'a1/ld_preload', 'LD_PRELOAD'],
    ['a2/', 'a2/path', 'PATH'],
    ['a3/', 'a3/bash_env', 'BASH_ENV'],
    ['a4/', 'a4/pythonpath', 'PYTHONPATH'],
    ['a5/', 'a5/git_ssh_command', 'GIT_SSH_COMMAND'],
    ['a6/', 'a6/secrets_vault', 'SECRETS_VAULT'],
    ['a7/', 'a7/bash_func_ls@@', 'BASH_FUNC_LS__'],
  ];
  for (const [prefix, name, variable] of families) {
    it(`exec and env --prefix ${prefix}: ${name} may not set ${variable} (exit 5, nothing runs or prints)`, async () => {
      const { r, env } = await dump(sb, ['--prefix', prefix]);
      assert.equal(r.code, 5, explain(`exec --prefix ${prefix}`, r));
      assert.equal(env, undefined, 'the command did not run');
      assert.ok(r.stderr.includes(`secret ${name} would set ${variable}`), explain('the message names both', r));
      for (const format of ['shell', 'dotenv', 'json']) {
        const e = await sb.run(['env', '--prefix', prefix, '--format', format]);
        assert.equal(e.code, 5, explain(`env --prefix ${prefix} --format ${format}`, e));
        assert.equal(e.stdout, '', 'nothing printed for a shell to eval');
      }
    });
  }

  it('a JSON key is a derived name, also under an explicit base: --secret a8/cfg=NODE and --prefix a9/ (a9/node) cannot set NODE_OPTIONS', async () => {
    for (const flags of [
      ['--secret', 'a8/cfg=NODE'],
      ['--prefix', 'a9/'],
    ]) {
      const { r, env } = await dump(sb, flags);
      assert.equal(r.code, 5, explain(flags.join(' '), r));
      assert.equal(env, undefined);
    }
    const { r } = await dump(sb, ['--secret', 'a8/cfg=NODE']);
    assert.match(r.stderr, /secret a8\/cfg \(JSON key "options"\) would set NODE_OPTIONS/);
    assert.ok(r.stderr.includes("--secret 'secret://a8/cfg#options=NODE_OPTIONS'"), explain('the hint maps the key', r));
    assert.ok(!existsSync(pwned));
  });

  it('a derived name never replaces a variable already set: exec (with and without --pristine) and env refuse with exit 5', async () => {
    const { r, env } = await dump(sb, ['--prefix', 'ovr/'], { env: { APP_MODE: 'from-the-caller' } });
    assert.equal(r.code, 5, explain('exec --prefix ovr/ with APP_MODE set', r));
    assert.equal(env, undefined);
    assert.match(r.stderr, /secret ovr\/app_mode would replace APP_MODE, which is already set/);
    assert.match(r.stderr, /hint: .*--secret ovr\/app_mode=APP_MODE/);
    // --secret NAME derives its variable too.
    const s = await dump(sb, ['--secret', 'ovr/app_mode'], { env: { OVR_APP_MODE: 'from-the-caller' } });
    assert.equal(s.r.code, 5, explain('exec --secret ovr/app_mode with OVR_APP_MODE set', s.r));
    const e = await sb.run(['env', '--prefix', 'ovr/', '--format', 'shell'], { env: { APP_MODE: 'from-the-caller' } });
    assert.equal(e.code, 5, explain('env', e));
    assert.equal(e.stdout, '');
    // What the child would not inherit is not replaced: --pristine keeps only a few variables.
    const p = await dump(sb, ['--prefix', 'ovr/', '--pristine'], { env: { APP_MODE: 'from-the-caller' } });
    assert.equal(p.r.code, 0, explain('--pristine', p.r));
    assert.equal(p.env?.['APP_MODE'], 'from-the-vault');
    // Unset, the variable is set.
    const u = await dump(sb, ['--prefix', 'ovr/']);
    assert.equal(u.r.code, 0, explain('unset', u.r));
    assert.equal(u.env?.['APP_MODE'], 'from-the-vault');
  });

  it('a variable named by the caller is set as asked: --secret NAME=VAR, #key=VAR and VAR=secret://… in a references file', async () => {
    const a = await dump(sb, ['--secret', 'opts/node=NODE_OPTIONS', '--secret', 'ovr/app_mode=APP_MODE'], { env: { APP_MODE: 'from-the-caller' } });
    assert.equal(a.r.code, 0, explain('explicit mappings', a.r));
    assert.equal(a.env?.['NODE_OPTIONS'], '--max-old-space-size=123');
    assert.equal(a.env?.['APP_MODE'], 'from-the-vault', "an explicit mapping replaces the caller's variable");
    const file = join(sb.home, 'refs.env');
    writeFileSync(file, 'NODE_OPTIONS=secret://opts/node\nPYTHONPATH=/opt/lib\nLEVEL=secret://a8/cfg#level\n');
    const b = await dump(sb, ['--env-file', file]);
    assert.equal(b.r.code, 0, explain('references file', b.r));
    assert.equal(b.env?.['NODE_OPTIONS'], '--max-old-space-size=123');
    assert.equal(b.env?.['PYTHONPATH'], '/opt/lib');
    assert.equal(b.env?.['LEVEL'], 'debug');
    const c = await dump(sb, ['--secret', 'secret://a8/cfg#level=JAVA_TOOL_OPTIONS']);
    assert.equal(c.r.code, 0, explain('#key=VAR', c.r));
    assert.equal(c.env?.['JAVA_TOOL_OPTIONS'], 'debug');
    const e = await sb.ok(['env', '--secret', 'opts/node=NODE_OPTIONS', '--format', 'shell']);
    assert.equal(e, 'export NODE_OPTIONS=--max-old-space-size=123\n');
    assert.ok(!existsSync(pwned));
  });

  it("ordinary derived names still work: --prefix dev/ without mallory's secret", async () => {
    const { r, env } = await dump(sb, ['--secret', 'dev/api_token']);
    assert.equal(r.code, 0, explain('--secret dev/api_token', r));
    assert.equal(env?.['DEV_API_TOKEN'], 'dev-token-value');
  });
});

// ---------------------------------------------------------------------------------------------

describe('the protected list', () => {
  it('covers each family by name or prefix, and leaves ordinary names alone', () => {
    for (const v of [
      'LD_PRELOAD',
      'LD_LIBRARY_PATH',
      'LD_AUDIT',
      'DYLD_INSERT_LIBRARIES',
      'PATH',
      'HOME',
      'TMPDIR',
      'BASH_ENV',
      'ENV',
      'SHELLOPTS',
      'BASHOPTS',
      'PS4',
      'PROMPT_COMMAND',
      'IFS',
      'CDPATH',
      'ZDOTDIR',
      'BASH_FUNC_X__',
      'NODE_OPTIONS',
      'NODE_PATH',
      'NODE_EXTRA_CA_CERTS',
      'NPM_CONFIG_SCRIPT_SHELL',
      'PYTHONPATH',
      'PYTHONSTARTUP',
      'PYTHONHOME',
      'PERL5LIB',
      'PERL5OPT',
      'PERLLIB',
      'RUBYOPT',
      'RUBYLIB',
      'JAVA_TOOL_OPTIONS',
      '_JAVA_OPTIONS',
      'JDK_JAVA_OPTIONS',
      'CLASSPATH',
      'GCONV_PATH',
      'LOCPATH',
      'MALLOC_CHECK_',
      'GLIBC_TUNABLES',
      'GIT_SSH_COMMAND',
      'GIT_EXEC_PATH',
      'GIT_CONFIG_COUNT',
      'SSH_ASKPASS',
      'EDITOR',
      'VISUAL',
      'PAGER',
      'GIT_PAGER',
      'LESSOPEN',
      'XDG_CONFIG_HOME',
      'SECRETS_VAULT',
      'SECRETS_IDENTITY_FILE',
      'DOTNET_STARTUP_HOOKS',
      'HTTPS_PROXY',
      'SSLKEYLOGFILE',
      'KUBECONFIG',
      'AWS_CONFIG_FILE',
      // Found by a review as a member would: prompts that run code, package indexes, editors.
      'PS0',
      'PROMPT',
      'RPROMPT',
      'PIP_INDEX_URL',
      'UV_INDEX_URL',
      'JAVA_HOME',
      'KUBE_EDITOR',
      'SUDO_EDITOR',
      'VIMINIT',
      'EXINIT',
      'FCEDIT',
      'GRADLE_USER_HOME',
      'SBT_OPTS',
      'CMAKE_C_COMPILER_LAUNCHER',
      'CCACHE_PREFIX',
      'GOENV',
      'GOFLAGS',
      'PGHOST',
      'PGPASSFILE',
      'MYSQL_HOST',
    ]) {
      assert.ok(protectedFamily(v) !== undefined, `${v} is protected`);
    }
    for (const v of [
      'DATABASE_URL',
      'API_KEY',
      'DB_PASSWORD',
      'STRIPE_KEY',
      'APP_MODE',
      'AWS_ACCESS_KEY_ID',
      'REDIS_URL',
      'PATH_PREFIX',
      'HOMEPAGE_URL',
      'GOOGLE_API_KEY',
      'PGPASSWORD',
      'MYSQL_PASSWORD',
      'KUBERNETES_TOKEN',
    ]) {
      assert.equal(protectedFamily(v), undefined, `${v} is an ordinary name`);
    }
  });

  it('docs/programs.md lists every protected name and prefix', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'programs.md'), 'utf8');
    const { names, prefixes } = protectedVariables();
    for (const n of names) assert.ok(doc.includes(`\`${n}\``), `docs/programs.md lists ${n}`);
    for (const p of prefixes) assert.ok(doc.includes(`\`${p}*\``), `docs/programs.md lists ${p}*`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('our identity never reaches the child', () => {
  it('SECRETS_IDENTITY_FILE (and any SECRETS_IDENTITY_*) is withheld; SECRETS_VAULT and SECRETS_AUDIT pass', async () => {
    const ci = sandbox();
    try {
      // A CI job: the identity comes from a file named in the environment.
      const key = join(ci.home, 'ci.key');
      await ci.ok(['identity', 'new', '--name', 'ci', '--out', key]);
      const env = { SECRETS_IDENTITY_FILE: key, SECRETS_IDENTITY_LATER: 'x', SECRETS_VAULT: ci.vault, SECRETS_AUDIT: 'required' };
      await ci.ok(['init'], { env });
      await ci.ok(['create', 'ci/token', '--value-stdin'], { input: 'ci-token-value', env });
      for (const flags of [
        ['--secret', 'ci/token'],
        ['--pristine', '--secret', 'ci/token'],
      ]) {
        const { r, env: child } = await dump(ci, flags, { env });
        assert.equal(r.code, 0, explain(flags.join(' '), r));
        assert.equal(child?.['CI_TOKEN'], 'ci-token-value', 'the identity file did unlock the vault');
        const leaked = Object.keys(child ?? {}).filter((k) => k.startsWith('SECRETS_IDENTITY_'));
        assert.deepEqual(leaked, [], `${flags.join(' ')}: no SECRETS_IDENTITY_* reaches the child`);
        assert.ok(!JSON.stringify(child).includes(key), "the key file's path is nowhere in the child's environment");
        if (!flags.includes('--pristine')) {
          assert.equal(child?.['SECRETS_VAULT'], ci.vault, 'a secrets run by the child finds the same vault');
          assert.equal(child?.['SECRETS_AUDIT'], 'required');
        }
      }
    } finally {
      ci.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------

const linux = process.platform === 'linux' && existsSync('/proc/self/coredump_filter');
const corePattern = linux ? readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim() : '';
const hardCoreLimit = linux ? spawnSync('/bin/sh', ['-c', 'ulimit -Hc'], { encoding: 'utf8' }).stdout.trim() : '0';
/** Cores are written as files in the crashing process's directory only with a plain relative pattern. */
const noRealCore = !linux
  ? 'not Linux'
  : corePattern.startsWith('|') || corePattern.includes('/')
    ? `core_pattern is ${JSON.stringify(corePattern)}: cores do not land in the working directory`
    : hardCoreLimit === '0'
      ? 'the hard core-size limit is 0'
      : undefined;

describe('no value in a core file', () => {
  let sb: Sandbox;
  const value = `CORE-MARKER-${randomBytes(16).toString('hex')}`;

  before(async () => {
    sb = await initialisedSandbox();
    await sb.ok(['create', 'core/v', '--value-stdin'], { input: value });
  });
  after(() => sb?.cleanup());

  it(
    "the secrets process of a running `exec --mask -- sleep` has coredump_filter 0; the child keeps the caller's filter",
    { skip: linux ? undefined : 'not Linux' },
    async () => {
      const ours = readFileSync('/proc/self/coredump_filter', 'utf8').trim();
      assert.notEqual(Number.parseInt(ours, 16), 0, 'sanity: the test runs with a non-zero filter');
      for (const flags of [['--mask'], ['--no-mask']]) {
        const proc = spawn(NODE, [BIN, 'exec', ...flags, '--secret', 'core/v', '--', 'sleep', '10'], { env: sb.env, cwd: sb.home, stdio: 'ignore' });
        const pid = proc.pid as number;
        const closed = new Promise((resolve) => proc.on('close', resolve));
        let child = 0;
        try {
          child = await childOf(pid);
          await until('the child to exec sleep', () => commOf(child) === 'sleep');
          assert.equal(readFileSync(`/proc/${pid}/coredump_filter`, 'utf8').trim(), '00000000', `${flags.join(' ')}: the secrets process dumps no memory`);
          // Written into the child's /proc entry right after the spawn: wait for it.
          await until("the child's filter", () => readFileSync(`/proc/${child}/coredump_filter`, 'utf8').trim() === ours);
        } finally {
          if (child > 0) killQuietly(child);
          killQuietly(pid);
          await closed;
        }
      }
    },
  );

  it('a real core of `exec --mask` killed by SIGABRT while its child runs holds no value, in no encoding', { skip: noRealCore }, async () => {
    const dir = join(sb.home, 'crash');
    mkdirSync(dir, { recursive: true });
    const proc = spawn('/bin/sh', ['-c', 'ulimit -c unlimited && exec "$@"', 'sh', NODE, BIN, 'exec', '--mask', '--secret', 'core/v', '--', 'sleep', '10'], {
      env: sb.env,
      cwd: dir,
      stdio: 'ignore',
    });
    const pid = proc.pid as number;
    const closed = new Promise<NodeJS.Signals | null>((resolve) => proc.on('close', (_code, signal) => resolve(signal)));
    let child = 0;
    try {
      child = await childOf(pid);
      await until('the child to exec sleep', () => commOf(child) === 'sleep');
      process.kill(pid, 'SIGABRT');
      assert.equal(await closed, 'SIGABRT');
    } finally {
      if (child > 0) killQuietly(child);
      killQuietly(pid);
    }
    const cores = readdirSync(dir).filter((f) => f.startsWith('core'));
    assert.equal(cores.length, 1, `one core file in ${dir} (pattern ${corePattern})`);
    const core = readFileSync(join(dir, cores[0] as string));
    const bytes = Buffer.from(value);
    for (const form of [value, bytes.toString('hex'), bytes.toString('base64').replace(/=+$/, ''), Buffer.from(value, 'utf16le').toString('latin1')]) {
      assert.equal(core.indexOf(Buffer.from(form, 'latin1')), -1, `the core (${core.length} bytes) holds ${form.slice(0, 20)}…`);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('masking catches the common encodings of a value', () => {
  let sb: Sandbox;
  // Spaces, slashes, +, &, ~ and * make every percent-encoding and both base64 alphabets differ.
  const value = `MASK-${randomBytes(12).toString('hex')} p@ss/w+rd&x=~y*(z)!?\u00e9\u00ff\u00fe\u00fd`;
  before(async () => {
    sb = await initialisedSandbox();
    await sb.ok(['create', 'enc/v', '--value-stdin'], { input: value });
  });
  after(() => sb?.cleanup());

  /** A real child prints the value in each encoding, one per line, half to stdout and half to stderr. */
  const PRINT = [
    "const v = Buffer.from(process.env.ENC_V, 'utf8');",
    "const s = v.toString('utf8');",
    "const b64 = v.toString('base64');",
    "const url = v.toString('base64url');",
    'const rfc3986 = encodeURIComponent(s).replace(/[!\'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());',
    'const lines = [',
    "  ['hex', v.toString('hex')], ['HEX', v.toString('hex').toUpperCase()],",
    "  ['b64', b64], ['b64-nopad', b64.replace(/=+$/, '')], ['b64url', url], ['b64url-pad', url + '='.repeat((4 - url.length % 4) % 4)],",
    "  ['uri', encodeURIComponent(s)], ['uri-lower', encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())],",
    "  ['rfc3986', rfc3986], ['form', new URLSearchParams({ k: s }).toString().slice(2)],",
    '];',
    // The value inside a longer base64 text, at each of the 3 byte alignments, in both alphabets.
    'for (const pre of [0, 1, 2]) {',
    "  const whole = Buffer.concat([Buffer.from('header:'.repeat(3).slice(0, 9 + pre)), v, Buffer.from(' trailer')]);",
    "  lines.push(['inner' + pre, whole.toString('base64')], ['innerurl' + pre, whole.toString('base64url')]);",
    '}',
    "lines.forEach(([k, t], i) => (i % 2 ? process.stderr : process.stdout).write(k + ' ' + t + '\\n'));",
  ].join('\n');

  it('hex, base64 (padded or not, both alphabets, at any offset in a longer base64 text) and percent-encodings are masked on stdout and stderr', async () => {
    const r = await sb.run(['exec', '--mask', '--secret', 'enc/v', '--', NODE, '-e', PRINT]);
    assert.equal(r.code, 0, explain('exec --mask', r));
    const lines = `${r.stdout}${r.stderr}`.trim().split('\n');
    assert.equal(lines.length, 16, explain('all lines printed', r));
    const bytes = Buffer.from(value);
    const forms = [
      value,
      bytes.toString('hex'),
      bytes.toString('hex').toUpperCase(),
      bytes.toString('base64').replace(/=+$/, ''),
      bytes.toString('base64url'),
      encodeURIComponent(value),
    ];
    for (const line of lines) {
      assert.match(line, /^\S+ .*\*{5}/, `masked: ${line}`);
      for (const f of forms) assert.ok(!line.includes(f), `${line} holds ${f}`);
    }
    // Inside a longer base64 text, at most the 2-3 characters at each edge that mix in other bytes stay.
    for (const line of lines.filter((l) => l.startsWith('inner'))) {
      const [, text] = line.split(' ') as [string, string];
      const [head = '', tail = ''] = text.split('*****');
      const pre = 9 + Number(line.replace(/^inner(url)?/, '').split(' ')[0]);
      // Each edge: the whole groups of the text around, and one group that mixes in value bytes.
      assert.ok(head.length <= 4 * Math.ceil((pre + 2) / 3), `${line}: only the start edge stays visible`);
      assert.ok(tail.length <= 4 * Math.ceil((' trailer'.length + 2) / 3), `${line}: only the end edge stays visible`);
      assert.ok(
        Buffer.from(head, line.startsWith('innerurl') ? 'base64url' : 'base64').length <= pre + 2,
        `${line}: at most 2 bytes of the value before the mask`,
      );
    }
  });
});
