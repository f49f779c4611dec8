// `secrets env` in every format, read back by the programs that consume it (bash `eval`, bash
// `set -a; . FILE`, docker's env-file rules, the project's dotenv parser, JSON, YAML);
// `secrets inject` (exact rendering, a private file written atomically, nothing written on any
// failure); and batch `get --json`. All through the built binary in a temp HOME.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { parseDotenv } from '../src/core/dotenv.js';
import { BIN, type CliResult, initialisedSandbox, marker, type Sandbox } from './support/cli.js';

/** Variable → value: every value a careless quoting gets wrong. */
const VALUES: Record<string, string> = {
  PLAIN: 'simple-value_1.2:3@x%+,/',
  SPACES: 'with  two spaces',
  SQUOTE: "it's",
  SQUOTES: "''",
  DQUOTE: 'say "hi"',
  DOLLAR: '$HOME and ${PATH} and $(touch pwned)',
  BACKTICK: '`id` done',
  BACKSLASH: 'back\\slash \\n \\\\ end\\',
  NEWLINE: 'line one\nline two',
  TRAILING_NL: 'ends with newline\n',
  ONLY_NL: '\n',
  CR: 'carriage\rreturn',
  CRLF: 'windows\r\nline',
  TAB: 'tab\there\t',
  HASH: '#not a comment',
  SPACE_HASH: 'value #not a comment',
  LEADING_TRAILING: '  padded  ',
  UNICODE: 'ünïcödé ☃ 中文 😀 \u2028 sep',
  EQUALS: 'a=b==c=',
  EMPTY: '',
  BANG: '!! !$ history',
  GLOB: '* ? [a] ~ ~/x {a,b}',
  SEMICOLON: 'a; echo pwned & | > < ( )',
  FORMFEED: 'ff\fvt\v',
  // A single quote with shell syntax: a double-quoted dotenv value would expand in bash.
  SQUOTE_DOLLAR: "it's $HOME `id` $(touch pwned)",
  SQUOTE_BACKSLASH: 'it\'s a \\ and \\" too',
  ALL: ' \'"$`\\\n\r\t#=; ☃ ',
};
const NAMES = Object.keys(VALUES);
const hasLineBreak = (v: string): boolean => /[\n\r]/.test(v);

/** Runs a bash script with the sandbox's environment; NODE and BIN are set. */
function bash(sb: Sandbox, script: string, extra: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['--noprofile', '--norc', '-c', script], {
    env: { ...sb.env, NODE: process.execPath, BIN, ...extra },
    cwd: sb.home,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `set -a; . FILE`, then the environment as node sees it, bash's stderr, and whether a `$(touch pwned)` in a value ran. */
function sourceWithBash(sb: Sandbox, file: string): { env: Record<string, string>; stderr: string; executed: boolean } {
  const canary = join(sb.home, 'pwned');
  rmSync(canary, { force: true });
  const r = bash(sb, 'set -a; . "$F"; set +a; exec "$NODE" -e "process.stdout.write(JSON.stringify(process.env))"', { F: file });
  assert.equal(r.status, 0, `bash failed to source ${file}: ${r.stderr}`);
  const executed = existsSync(canary);
  rmSync(canary, { force: true });
  return { env: JSON.parse(r.stdout) as Record<string, string>, stderr: r.stderr, executed };
}

/** docker --env-file rules (docker/cli opts/envfile.go): a line (CR before LF dropped), leading
 * whitespace trimmed, empty and #-lines ignored, then VAR=VAL with VAL taken literally. */
function parseDockerEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `docker would read ${JSON.stringify(line)} as a variable taken from the environment`);
    const variable = line.slice(0, eq);
    assert.doesNotMatch(variable, /\s/, 'docker refuses a variable with whitespace');
    out.set(variable, line.slice(eq + 1));
  }
  return out;
}

function assertExit(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: expected exit ${code}, got ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /^secrets: error: /m, `${what}: an error message`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
}

describe('env formats read back by their consumers', () => {
  let sb: Sandbox;
  const secretArgs = (names: readonly string[]): string[] => names.flatMap((n) => ['--secret', `t/${n.toLowerCase()}=${n}`]);

  before(async () => {
    sb = await initialisedSandbox();
    const file = join(sb.home, 'values.json');
    writeFileSync(file, JSON.stringify(Object.fromEntries(NAMES.map((n) => [n.toLowerCase(), VALUES[n]]))));
    await sb.ok(['import', '--format', 'json', '--prefix', 't/', file]);
    // The values are stored exactly (what follows tests the formats, not the import).
    const batch = JSON.parse(await sb.ok(['get', '--filter', 'name=t/', '--json'])) as { SecretValues: { Name: string; SecretString: string }[] };
    assert.equal(batch.SecretValues.length, NAMES.length);
    for (const v of batch.SecretValues) assert.equal(v.SecretString, VALUES[v.Name.slice(2).toUpperCase()], v.Name);
  });
  after(() => sb.cleanup());

  test('--format shell: eval "$(secrets env …)" in bash reproduces every value byte-exactly', () => {
    const dir = join(sb.home, 'eval-out');
    mkdirSync(dir);
    const r = bash(sb, 'set -eu; out="$("$NODE" "$BIN" env --prefix t/ --format shell)"; eval "$out"; for v in $VARS; do printf %s "${!v}" > "$DIR/$v"; done', {
      VARS: NAMES.join(' '),
      DIR: dir,
    });
    assert.equal(r.status, 0, r.stderr);
    for (const n of NAMES) assert.deepEqual(readFileSync(join(dir, n)), Buffer.from(VALUES[n] as string, 'utf8'), `${n} after eval`);
    assert.equal(r.stderr, '');
    assert.ok(!existsSync(join(sb.home, 'pwned')), 'no command in a value ran');
  });

  test('--format shell: set -a; . FILE in bash exports every value byte-exactly; every line is an export', async () => {
    const out = await sb.ok(['env', '--prefix', 't/', '--format', 'shell']);
    // One `export K=…` per variable (values with newlines continue inside their quotes).
    assert.equal(out.match(/^export [A-Z_]+=/gm)?.length, NAMES.length);
    assert.match(out, /^export PLAIN=simple-value_1\.2:3@x%\+,\/$/m, 'a safe value is not quoted');
    assert.match(out, /^export SQUOTE='it'\\''s'$/m);
    const file = join(sb.home, 'env.sh');
    writeFileSync(file, out);
    const { env, stderr, executed } = sourceWithBash(sb, file);
    for (const n of NAMES) assert.equal(env[n], VALUES[n], `${n} after set -a; . FILE`);
    assert.equal(stderr, '');
    assert.equal(executed, false, 'no command in a value ran');
  });

  test('--format dotenv: parseDotenv reads back every value; bash `set -a; . FILE` reproduces every value without a line break', async () => {
    const out = await sb.ok(['env', '--prefix', 't/', '--format', 'dotenv']);
    assert.match(out, /^PLAIN=simple-value_1\.2:3@x%\+,\/$/m, 'quoted only when needed');
    assert.match(out, /^SPACES='with {2}two spaces'$/m, 'single quotes when they suffice');
    assert.match(out, /^NEWLINE="line one\\nline two"$/m, 'a newline as \\n in double quotes');
    assert.match(out, /^EMPTY=$/m);
    assert.equal(out.split('\n').length, NAMES.length + 1, 'one line per variable: newlines are escaped');
    const parsed = new Map(parseDotenv(out, 'env.out').map((e) => [e.key, e.value]));
    assert.deepEqual([...parsed.keys()].sort(), [...NAMES].sort());
    for (const n of NAMES) assert.equal(parsed.get(n), VALUES[n], `${n} through parseDotenv`);

    // bash reads "\n" and "\r" in double quotes as two characters, so values with a line break
    // cannot be sourced from a dotenv file (--format shell is for that). Every other value must
    // come out exact, and sourcing must never run anything.
    const sourceable = NAMES.filter((n) => !hasLineBreak(VALUES[n] as string));
    assert.deepEqual(NAMES.filter((n) => hasLineBreak(VALUES[n] as string)).sort(), ['ALL', 'CR', 'CRLF', 'NEWLINE', 'ONLY_NL', 'TRAILING_NL']);
    const subsetText = await sb.ok(['env', ...secretArgs(sourceable), '--format', 'dotenv']);
    const subset = join(sb.home, 'subset.dotenv');
    writeFileSync(subset, subsetText);
    const sourced = sourceWithBash(sb, subset);
    const wrong = sourceable
      .filter((n) => sourced.env[n] !== VALUES[n])
      .map((n) => ({ variable: n, expected: VALUES[n], bash: sourced.env[n], line: subsetText.split('\n').find((l) => l.startsWith(`${n}=`)) }));
    assert.deepEqual(wrong, [], `bash \`set -a; . FILE\` changed these dotenv values:\n${JSON.stringify(wrong, null, 2)}\nbash stderr: ${sourced.stderr}`);
    assert.equal(sourced.executed, false, 'sourcing the dotenv output ran a command substitution from a secret value');

    // The whole file (line breaks included) still sources without an error or a command run.
    const file = join(sb.home, 'env.dotenv');
    writeFileSync(file, out);
    const whole = sourceWithBash(sb, file);
    assert.equal(whole.executed, false, 'sourcing the whole dotenv output ran a command substitution from a secret value');
    assert.equal(whole.stderr, '', 'bash sources the whole dotenv output without an error');
    for (const n of sourceable) assert.equal(whole.env[n], VALUES[n], `${n} from the whole file`);
  });

  test('--format docker: each line is VAR=VAL read literally by docker; a value with a line break is refused (exit 2)', async () => {
    const single = NAMES.filter((n) => !hasLineBreak(VALUES[n] as string));
    const out = await sb.ok(['env', ...secretArgs(single), '--format', 'docker']);
    const parsed = parseDockerEnvFile(out);
    assert.deepEqual([...parsed.keys()].sort(), [...single].sort());
    for (const n of single) assert.equal(parsed.get(n), VALUES[n], `${n} as docker reads it`);

    for (const n of ['NEWLINE', 'TRAILING_NL', 'ONLY_NL', 'CR', 'CRLF']) {
      const r = await sb.run(['env', '--secret', `t/${n.toLowerCase()}=${n}`, '--format', 'docker']);
      assertExit(r, 2, `docker with ${n}`);
      assert.equal(r.stdout, '', 'nothing on stdout');
      assert.ok(r.stderr.includes(n), 'the message names the variable');
    }
    const all = await sb.run(['env', '--prefix', 't/', '--format', 'docker']);
    assertExit(all, 2, 'docker with a mix');
    assert.equal(all.stdout, '', 'not a partial file either');
  });

  test('--format json and --format yaml parse back to the exact values', async () => {
    const json = JSON.parse(await sb.ok(['env', '--prefix', 't/', '--format', 'json'])) as Record<string, string>;
    assert.deepEqual(json, VALUES);
    const yamlText = await sb.ok(['env', '--prefix', 't/', '--format', 'yaml']);
    assert.deepEqual(YAML.parse(yamlText), VALUES);
    assert.match(yamlText, /^SQUOTE: "it's"$/m, 'K: "json-string"');
  });

  test('an unknown --format is a usage error; a missing secret is left out with a warning, or exit 3 with --strict', async () => {
    assertExit(await sb.run(['env', '--prefix', 't/', '--format', 'toml']), 2, 'unknown format');
    const loose = await sb.run(['env', '--secret', 't/plain=PLAIN', '--secret', 'nope/missing=MISSING', '--format', 'json']);
    assert.equal(loose.code, 0, loose.stderr);
    assert.deepEqual(JSON.parse(loose.stdout), { PLAIN: VALUES['PLAIN'] });
    assert.match(loose.stderr, /MISSING.*left out/);
    const strict = await sb.run(['env', '--secret', 't/plain=PLAIN', '--secret', 'nope/missing=MISSING', '--strict']);
    assertExit(strict, 3, '--strict');
    assert.equal(strict.stdout, '');
  });
});

describe('inject', () => {
  let sb: Sandbox;
  let v1: string;
  const pw = marker().value;
  const oldPw = marker().value;
  // `$&` and `$'` would be replacement patterns to String.replace with a string.
  const DB = { user: 'app', password: `${pw} "q" \\ ☃ $& $' $1 $$`, port: 5432 };
  const TEMPLATE = [
    '# config rendered by secrets inject',
    'user = {{ secret://inj/db#user }}',
    'password = "{{secret://inj/db#password}}"',
    'port={{   secret://inj/db#port   }}',
    'old: {{ secret://inj/token?stage=PREVIOUS }}',
    'v1: {{ secret://inj/token?version=VERSION_ID }}',
    'current: {{ secret://inj/token }} twice {{ secret://inj/token }}',
    'not references: { secret://inj/token } {{ other }} {{secret:/x}}',
    '',
  ].join('\n');
  const expected = (tpl: string): string =>
    tpl
      .replace('{{ secret://inj/db#user }}', () => DB.user)
      .replace('{{secret://inj/db#password}}', () => DB.password)
      .replace('{{   secret://inj/db#port   }}', '5432')
      .replace('{{ secret://inj/token?stage=PREVIOUS }}', () => oldPw)
      .replace(/\{\{ secret:\/\/inj\/token\?version=\S+ \}\}/, () => oldPw)
      .replaceAll('{{ secret://inj/token }}', () => pw);
  let template: string;
  let bobKey: string;

  before(async () => {
    sb = await initialisedSandbox();
    await sb.ok(['create', 'inj/db', '--value-stdin'], { input: JSON.stringify(DB) });
    const created = JSON.parse(await sb.ok(['create', 'inj/token', '--value-stdin', '--json'], { input: oldPw })) as { VersionId: string };
    v1 = created.VersionId;
    await sb.ok(['put', 'inj/token', '--value-stdin'], { input: pw });
    await sb.ok(['create', 'inj/secret-of-alice', '--value-stdin'], { input: marker().value });
    const binFile = join(sb.home, 'bin');
    writeFileSync(binFile, Buffer.from([0xff, 0xfe, 0x00, 0x01]));
    await sb.ok(['create', 'inj/bin', '--from-file', binFile]);
    template = TEMPLATE.replace('VERSION_ID', v1);
    // bob may read inj/token only.
    bobKey = join(sb.home, 'bob.key');
    const pub = (await sb.ok(['identity', 'new', '--name', 'bob', '--out', bobKey])).trim();
    await sb.ok(['member', 'add', 'bob', pub]);
    const policy = join(sb.home, 'bob-read.json');
    writeFileSync(policy, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'inj/token' }] }));
    await sb.ok(['policy', 'put', 'bob-read', '-f', policy]);
    await sb.ok(['policy', 'attach', 'bob-read', 'bob']);
  });
  after(() => sb.cleanup());

  test('renders every reference form exactly to stdout, from a file and from stdin (-i -)', async () => {
    const tpl = join(sb.home, 'app.tpl');
    writeFileSync(tpl, template);
    const fromFile = await sb.run(['inject', '-i', tpl]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(fromFile.stdout, expected(template));
    assert.ok(!fromFile.stderr.includes(pw), 'no value on stderr');
    const fromStdin = await sb.run(['inject', '-i', '-'], { input: template });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout, expected(template));
    // A template without references is copied as it is.
    assert.equal(await sb.ok(['inject', '-i', '-'], { input: 'no refs {{ here }}\n' }), 'no refs {{ here }}\n');
  });

  test('-o writes a 0600 file atomically (even with umask 000), replacing an existing file; no temp file is ever more permissive or left behind', async () => {
    const dir = join(sb.home, 'out-dir');
    mkdirSync(dir);
    const tpl = join(sb.home, 'app.tpl');
    writeFileSync(tpl, template);
    const out = join(dir, 'app.conf');
    writeFileSync(out, 'old content\n', { mode: 0o644 });
    chmodSync(out, 0o644);

    // Watch the directory while the command runs: every entry that appears must be private.
    const seen: { name: string; mode: number }[] = [];
    const watcher = watch(dir, (_event, name) => {
      if (name === null) return;
      try {
        seen.push({ name: String(name), mode: lstatSync(join(dir, String(name))).mode & 0o777 });
      } catch {
        // renamed away before we looked
      }
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('sh', ['-c', 'umask 000; exec "$@"', 'sh', process.execPath, BIN, 'inject', '-i', tpl, '-o', out], {
        env: sb.env,
        cwd: sb.home,
        stdio: 'ignore',
      });
      child.on('error', reject);
      child.on('close', resolve);
    });
    await new Promise((r) => setTimeout(r, 100));
    watcher.close();
    assert.equal(code, 0);
    assert.equal(readFileSync(out, 'utf8'), expected(template));
    assert.equal(statSync(out).mode & 0o777, 0o600, 'the output is 0600 whatever the umask (the temp file was created 0600)');
    assert.deepEqual(readdirSync(dir), ['app.conf'], 'no temp file left behind');
    assert.ok(seen.length > 0, 'the watcher saw the directory change (so the check below is live)');
    for (const s of seen) assert.equal(s.mode & 0o077, 0, `${s.name} appeared with mode ${s.mode.toString(8)}`);

    // Written the ordinary way too, with a message on stderr and nothing on stdout.
    const again = await sb.run(['inject', '-i', tpl, '-o', join(dir, 'second.conf')]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, '');
    assert.match(again.stderr, /0600/);
    assert.equal(statSync(join(dir, 'second.conf')).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir).sort(), ['app.conf', 'second.conf']);
  });

  test('an unresolvable reference fails (exit 3) and writes nothing: no new file, an existing file untouched', async () => {
    const dir = join(sb.home, 'fail-dir');
    mkdirSync(dir);
    for (const [what, tpl] of [
      ['missing secret', `${template}x={{ secret://inj/missing }}\n`],
      ['missing field', `{{ secret://inj/token }}\n{{ secret://inj/db#nope }}\n`],
      ['missing version', `{{ secret://inj/token?version=00000000-0000-0000-0000-000000000000 }}\n`],
      ['missing stage', `{{ secret://inj/token?stage=NOPE }}\n`],
    ] as const) {
      const fresh = join(dir, 'new.conf');
      const r = await sb.run(['inject', '-i', '-', '-o', fresh], { input: tpl });
      assertExit(r, 3, what);
      assert.ok(!existsSync(fresh), `${what}: no output file`);
      assert.ok(!r.stderr.includes(pw) && !r.stdout.includes(pw), `${what}: no value anywhere`);

      const existing = join(dir, 'existing.conf');
      const before = randomBytes(64);
      writeFileSync(existing, before);
      chmodSync(existing, 0o640);
      const r2 = await sb.run(['inject', '-i', '-', '-o', existing], { input: tpl });
      assertExit(r2, 3, `${what} over an existing file`);
      assert.deepEqual(readFileSync(existing), before, `${what}: the existing file is byte-identical`);
      assert.equal(statSync(existing).mode & 0o777, 0o640, `${what}: and keeps its mode`);
      assert.deepEqual(readdirSync(dir), ['existing.conf'], `${what}: no temp file`);

      const toStdout = await sb.run(['inject', '-i', '-'], { input: tpl });
      assertExit(toStdout, 3, `${what} to stdout`);
      assert.equal(toStdout.stdout, '', `${what}: nothing half-rendered on stdout`);
    }
    const binary = await sb.run(['inject', '-i', '-', '-o', join(dir, 'x')], { input: '{{ secret://inj/token }} {{ secret://inj/bin }}' });
    assertExit(binary, 2, 'a binary secret in a text template');
    const noTemplate = await sb.run(['inject', '-i', join(sb.home, 'no-such.tpl'), '-o', join(dir, 'x')]);
    assertExit(noTemplate, 3, 'missing template');
    const badRef = await sb.run(['inject', '-i', '-', '-o', join(dir, 'x')], { input: '{{ secret://inj/token?foo=1 }}' });
    assertExit(badRef, 2, 'invalid reference');
    assert.deepEqual(readdirSync(dir), ['existing.conf']);
  });

  test('a reference to a secret the identity may not read: exit 5, nothing written', async () => {
    const asBob = { env: { SECRETS_IDENTITY_FILE: bobKey } };
    const dir = join(sb.home, 'bob-dir');
    mkdirSync(dir);
    const out = join(dir, 'bob.conf');
    // bob can render what he may read...
    const allowed = await sb.run(['inject', '-i', '-', '-o', out], { input: 't={{ secret://inj/token }}\n', ...asBob });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(readFileSync(out, 'utf8'), `t=${pw}\n`);
    const before = readFileSync(out);
    // ...but not a template that also names a secret he may not read.
    const denied = await sb.run(['inject', '-i', '-', '-o', out], { input: 't={{ secret://inj/token }}\np={{ secret://inj/db#password }}\n', ...asBob });
    assertExit(denied, 5, 'denied reference');
    assert.deepEqual(readFileSync(out), before, 'the existing output is untouched');
    const fresh = join(dir, 'fresh.conf');
    const denied2 = await sb.run(['inject', '-i', '-', '-o', fresh], { input: '{{ secret://inj/secret-of-alice }}', ...asBob });
    assertExit(denied2, 5, 'denied reference, new file');
    assert.ok(!existsSync(fresh));
    const toStdout = await sb.run(['inject', '-i', '-'], { input: 't={{ secret://inj/token }}\np={{ secret://inj/db#password }}\n', ...asBob });
    assertExit(toStdout, 5, 'denied to stdout');
    assert.equal(toStdout.stdout, '');
    assert.ok(!toStdout.stderr.includes(pw));
    assert.deepEqual(readdirSync(dir).sort(), ['bob.conf']);
  });
});

describe('batch get --json', () => {
  let sb: Sandbox;
  const a = marker().value;
  const b = 'line1\nline2 ☃';
  const bin = Buffer.concat([Buffer.from([0xff, 0x00, 0xfe]), randomBytes(40)]);

  before(async () => {
    sb = await initialisedSandbox();
    await sb.ok(['create', 'prod/a', '--value-stdin'], { input: a });
    await sb.ok(['create', 'prod/b', '--value-stdin'], { input: 'old' });
    await sb.ok(['put', 'prod/b', '--value-stdin'], { input: b });
    const f = join(sb.home, 'bin');
    writeFileSync(f, bin);
    await sb.ok(['create', 'prod/bin', '--from-file', f]);
    await sb.ok(['create', 'dev/a', '--value-stdin'], { input: 'dev' });
  });
  after(() => sb.cleanup());

  interface Batch {
    SecretValues: Record<string, unknown>[];
    Errors: { SecretId: string; ErrorCode: string; Message: string }[];
  }

  test('several names: values in AWS shape, in the order asked, and an Error per missing name', async () => {
    const r = await sb.run(['get', 'prod/b', 'prod/a', 'nope/x', 'prod/bin', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Batch;
    assert.deepEqual(Object.keys(out), ['SecretValues', 'Errors']);
    assert.deepEqual(
      out.SecretValues.map((v) => v['Name']),
      ['prod/b', 'prod/a', 'prod/bin'],
    );
    const [vb, va, vbin] = out.SecretValues as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    assert.deepEqual(Object.keys(va), ['Name', 'VersionId', 'SecretString', 'VersionStages', 'CreatedDate']);
    assert.equal(va['SecretString'], a);
    assert.equal(vb['SecretString'], b);
    assert.deepEqual(vb['VersionStages'], ['CURRENT']);
    assert.deepEqual(Object.keys(vbin), ['Name', 'VersionId', 'SecretBinary', 'VersionStages', 'CreatedDate']);
    assert.equal(vbin['SecretBinary'], bin.toString('base64'));
    for (const v of out.SecretValues) {
      const single = JSON.parse(await sb.ok(['get', v['Name'] as string, '--json'])) as Record<string, unknown>;
      assert.deepEqual(v, single, 'each entry is what get NAME --json prints');
      assert.ok(!Number.isNaN(Date.parse(v['CreatedDate'] as string)));
    }
    assert.equal(out.Errors.length, 1);
    assert.deepEqual(Object.keys(out.Errors[0] ?? {}), ['SecretId', 'ErrorCode', 'Message']);
    assert.equal(out.Errors[0]?.SecretId, 'nope/x');
    assert.equal(out.Errors[0]?.ErrorCode, 'NOT_FOUND');
    assert.match(out.Errors[0]?.Message ?? '', /nope\/x/);
  });

  test('--filter name=prod/ selects by prefix; only missing names: exit 3 with the Errors', async () => {
    const out = JSON.parse(await sb.ok(['get', '--filter', 'name=prod/', '--json'])) as Batch;
    assert.deepEqual(out.SecretValues.map((v) => v['Name']).sort(), ['prod/a', 'prod/b', 'prod/bin']);
    assert.deepEqual(out.Errors, []);
    const both = JSON.parse(await sb.ok(['get', 'dev/a', '--filter', 'name=prod/a', '--json'])) as Batch;
    assert.deepEqual(both.SecretValues.map((v) => v['Name']).sort(), ['dev/a', 'prod/a']);
    const overlap = JSON.parse(await sb.ok(['get', 'prod/a', '--filter', 'name=prod/', '--json'])) as Batch;
    assert.deepEqual(overlap.SecretValues.map((v) => v['Name']).sort(), ['prod/a', 'prod/b', 'prod/bin'], 'a name also matched by the filter comes once');
    const none = await sb.run(['get', 'nope/1', 'nope/2', '--json']);
    assert.equal(none.code, 3, none.stderr);
    const parsed = JSON.parse(none.stdout) as Batch;
    assert.deepEqual(parsed.SecretValues, []);
    assert.deepEqual(
      parsed.Errors.map((e) => [e.SecretId, e.ErrorCode]),
      [
        ['nope/1', 'NOT_FOUND'],
        ['nope/2', 'NOT_FOUND'],
      ],
    );
  });

  test('several names or --filter without --json is a usage error (exit 2), with no value printed', async () => {
    for (const args of [
      ['get', 'prod/a', 'prod/b'],
      ['get', '--filter', 'name=prod/'],
      ['get', 'prod/a', 'prod/b', '--json', '--field', 'x'],
      ['get', 'prod/a', 'prod/b', '--json', '--version-stage', 'PREVIOUS'],
    ]) {
      const r = await sb.run(args);
      assertExit(r, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.ok(!r.stderr.includes(a));
    }
  });
});

describe('inject filters: | yaml, | json, | shell read back exactly by their parsers', () => {
  let sb: Sandbox;
  // What a rotation may produce: a YAML alias/flow start, a mapping colon, quotes, a comment,
  // shell syntax, and the characters YAML parsers read as line breaks or refuse raw.
  const mark = marker().value;
  const HOSTILE = `*x}: "'\n#not a comment ${mark} $HOME \`id\` $(touch pwned) \\ & ! % @ - [a, {b}] \u2028\u2029\u0085\u007f\ufeff ☃ \t\r\n `;
  const ALL: Record<string, string> = { ...VALUES, HOSTILE };

  before(async () => {
    sb = await initialisedSandbox();
    await sb.ok(['create', 'inj/hostile', '--value-stdin'], { input: HOSTILE });
    // Every value of the env tests too, each a field of one JSON secret.
    await sb.ok(['create', 'inj/all', '--value-stdin'], { input: JSON.stringify(ALL) });
  });
  after(() => sb.cleanup());

  test('| yaml: the rendered file parses with the yaml package to the exact value, in block, flow and nested positions', async () => {
    const tpl = [
      'password: {{ secret://inj/hostile | yaml }}',
      'list:',
      '  - {{ secret://inj/hostile|yaml }}',
      'flow: { a: {{secret://inj/hostile | yaml}} }',
      ...NAMES.map((n) => `${n}: {{ secret://inj/all#${n} | yaml }}`),
      '',
    ].join('\n');
    const out = await sb.ok(['inject', '-i', '-'], { input: tpl });
    const doc = YAML.parse(out) as Record<string, unknown>;
    assert.equal(doc['password'], HOSTILE);
    assert.deepEqual(doc['list'], [HOSTILE]);
    assert.deepEqual(doc['flow'], { a: HOSTILE });
    for (const n of NAMES) assert.equal(doc[n], VALUES[n], n);
    // YAML 1.1 reads the same text the same way (U+2028, NEL are escaped, not raw).
    assert.equal((YAML.parse(out, { version: '1.1' }) as Record<string, unknown>)['password'], HOSTILE);
    // Without the filter the same value breaks the file: the reason the filter exists.
    const raw = await sb.ok(['inject', '-i', '-'], { input: 'password: {{ secret://inj/hostile }}\n' });
    assert.throws(() => assert.equal((YAML.parse(raw) as Record<string, unknown>)['password'], HOSTILE));
  });

  test('| json: JSON.parse reads the exact value; | raw is what no filter writes', async () => {
    const tpl = `{"password": {{ secret://inj/hostile | json }}, "all": { ${NAMES.map((n) => `"${n}": {{ secret://inj/all#${n} | json }}`).join(', ')} }}\n`;
    const out = await sb.ok(['inject', '-i', '-'], { input: tpl });
    const doc = JSON.parse(out) as { password: string; all: Record<string, string> };
    assert.equal(doc.password, HOSTILE);
    assert.deepEqual(doc.all, VALUES);
    assert.ok(!out.includes('\u2028'), 'U+2028 is escaped (the output is valid JavaScript too)');
    const raw = await sb.ok(['inject', '-i', '-'], { input: '<{{ secret://inj/hostile | raw }}>' });
    assert.equal(raw, `<${HOSTILE}>`);
    assert.equal(raw, await sb.ok(['inject', '-i', '-'], { input: '<{{ secret://inj/hostile }}>' }));
  });

  test('| shell: sh -c reads the exact value and runs nothing in it', async () => {
    const dir = join(sb.home, 'shell');
    mkdirSync(dir);
    const out = join(dir, 'vars.sh');
    const tpl = ['password={{ secret://inj/hostile | shell }}', ...NAMES.map((n) => `${n}={{ secret://inj/all#${n} | shell }}`), ''].join('\n');
    await sb.ok(['inject', '-i', '-', '-o', out], { input: tpl });
    const canary = join(dir, 'pwned');
    for (const [variable, expected] of [['password', HOSTILE], ...NAMES.map((n) => [n, VALUES[n] as string])] as const) {
      const r = spawnSync('sh', ['-c', `. "$1"; printf %s "$${variable}"`, 'sh', out], {
        cwd: dir,
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: sb.home },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, expected, variable);
    }
    assert.ok(!existsSync(canary), 'no command substitution ran');
    // And as a word in a command line.
    const r = spawnSync('sh', ['-c', await sb.ok(['inject'], { input: 'printf %s {{ secret://inj/hostile | shell }}' })], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.stdout, HOSTILE);
    assert.ok(!existsSync(canary));
  });

  test('the template comes from stdin when -i is absent; an unknown filter is a usage error naming the line, and nothing is written', async () => {
    assert.equal(
      await sb.ok(['inject'], { input: 'v={{ secret://inj/hostile | json }}\n' }),
      `v=${JSON.stringify(HOSTILE)
        .replace(/\u2028/g, '\\u2028')
        .replace(/\u2029/g, '\\u2029')}\n`,
    );
    const out = join(sb.home, 'never.conf');
    for (const tpl of [
      'a\nb={{ secret://inj/hostile | toml }}\n',
      'b={{ secret://inj/hostile | }}\n',
      'b={{ secret://inj/hostile | yaml | json }}\n',
      'b={{ secret://inj/hostile yaml }}\n',
    ]) {
      const r = await sb.run(['inject', '-o', out], { input: tpl });
      assert.equal(r.code, 2, `${JSON.stringify(tpl)}: ${r.stderr}`);
      assert.match(r.stderr, /^secrets: error: /m);
      assert.ok(!existsSync(out));
      assert.ok(!r.stderr.includes(mark), 'no value in the error');
    }
    const unknown = await sb.run(['inject'], { input: 'a\nb={{ secret://inj/hostile | toml }}\n' });
    assert.match(unknown.stderr, /\(stdin\):2: unknown template filter "toml"/);
    assert.match(unknown.stderr, /hint: .*raw, yaml, json, shell/);
    const malformed = await sb.run(['inject'], { input: 'a\n\nb={{ secret://inj/hostile | yaml | json }}\n' });
    assert.match(malformed.stderr, /\(stdin\):3: /);
  });
});
