/**
 * `secrets exec` end to end through the built binary (docs/programs.md): what reaches the
 * child's environment (byte for byte, from every kind of selection), what does not (--pristine,
 * our identity key), collisions refused before anything runs, exit codes and signals passed
 * through, --strict, output masking (piped, split across writes, and in a real terminal through
 * tmux), no value on any process's argv, and the audit events a release writes.
 *
 * Every child is a real program: usually `node -e` writing its environment and argv to a file as
 * JSON, so the test compares exact strings; none of them carries a secret on its command line.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, type CliResult, type RunOptions, type Sandbox, initialisedSandbox, marker, vaultIdIn } from './support/cli.js';

type Marker = ReturnType<typeof marker>;
type Env = Record<string, string>;

const NODE = process.execPath;

/** What a pristine child keeps from our environment (docs/programs.md, `exec --help`). */
const PRISTINE_KEEP = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TERM', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/** Child: writes `{ env, argv }` as JSON to argv[1]; the rest of argv is recorded as given. */
const DUMP = "require('fs').writeFileSync(process.argv[1], JSON.stringify({ env: process.env, argv: process.argv.slice(2) }))";

/** Every byte a shell or a dotenv parser could get wrong, and a trailing newline. */
const WEIRD = ' \t lead  a=b==c "dq" \'sq\' `bt` $HOME ${X} $(id) \\ \\n \\\\ back\nline2\r\nline3 ünïcødé 日本 🔑 # not a comment trail  \n';

function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

let outSeq = 0;
/** A fresh path in the sandbox for a child to write to. */
function outPath(sb: Sandbox, stem = 'out'): string {
  return join(sb.home, `${stem}-${++outSeq}.json`);
}

interface Dumped {
  readonly r: CliResult;
  /** The child ran (it wrote its dump). */
  readonly ran: boolean;
  readonly env: Env;
  readonly argv: string[];
}

/** `secrets exec FLAGS -- node -e DUMP OUT ARGS...`: the child's environment and argv. */
async function dump(sb: Sandbox, flags: readonly string[], opts: RunOptions & { args?: readonly string[]; identity?: string } = {}): Promise<Dumped> {
  const out = outPath(sb);
  const global = opts.identity !== undefined ? ['--identity-file', opts.identity] : [];
  const r = await sb.run([...global, 'exec', ...flags, '--', NODE, '-e', DUMP, out, ...(opts.args ?? [])], opts);
  if (!existsSync(out)) return { r, ran: false, env: {}, argv: [] };
  const parsed = JSON.parse(readFileSync(out, 'utf8')) as { env: Env; argv: string[] };
  return { r, ran: true, env: parsed.env, argv: parsed.argv };
}

/** Like `dump`, asserting exit 0 and that the child ran. */
async function dumpOk(sb: Sandbox, flags: readonly string[], opts: RunOptions & { args?: readonly string[]; identity?: string } = {}): Promise<Dumped> {
  const d = await dump(sb, flags, opts);
  assert.equal(d.r.code, 0, explain(`exec ${flags.join(' ')}`, d.r));
  assert.ok(d.ran, `exec ${flags.join(' ')}: the child ran`);
  return d;
}

/** The variables the child has that the parent's environment (`parent`) does not, or has otherwise. */
function added(child: Env, parent: Record<string, string | undefined>): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(child)) if (parent[k] !== v) out[k] = v;
  return out;
}

/** The environment `sb.run(…, { env })` gives the `secrets` process. */
function parentEnv(sb: Sandbox, extra: Record<string, string | undefined> = {}): Env {
  const env: Env = {};
  for (const [k, v] of Object.entries({ ...sb.env, ...extra })) if (v !== undefined) env[k] = v;
  return env;
}

/** A run of the binary we can signal and watch while it runs. */
interface Running {
  readonly child: ChildProcess;
  stdout(): string;
  readonly done: Promise<CliResult>;
}

function start(sb: Sandbox, args: readonly string[], opts: { env?: Env; cwd?: string } = {}): Running {
  const child = spawn(NODE, [BIN, ...args], { env: { ...sb.env, ...opts.env }, cwd: opts.cwd ?? sb.home, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => err.push(d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8') });
    });
  });
  return { child, stdout: () => Buffer.concat(out).toString('utf8'), done };
}

/** Polls until `cond()` is true (or throws after `timeoutMs`, describing `what`). */
async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Every process whose command line contains an encoding of a marker. */
function argvHits(markers: readonly Marker[]): string[] {
  const hits: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(`/proc/${pid}/cmdline`);
    } catch {
      continue;
    }
    const s = bytes.toString('latin1');
    for (const m of markers)
      for (const e of m.encodings) if (s.includes(e)) hits.push(`/proc/${pid}/cmdline contains ${e}: ${s.replace(/\0/g, ' ').slice(0, 200)}`);
  }
  return hits;
}

/** The nearest ancestor of `pid` (itself excluded) whose command line contains `needle`, or 0. */
function ancestorRunning(pid: number, needle: string): number {
  let at = pid;
  for (let i = 0; i < 8 && at > 1; i++) {
    try {
      const stat = readFileSync(`/proc/${at}/stat`, 'utf8');
      at = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (readFileSync(`/proc/${at}/cmdline`, 'latin1').includes(needle)) return at;
    } catch {
      return 0;
    }
  }
  return 0;
}

function procFile(pid: number, file: string): string {
  return readFileSync(`/proc/${pid}/${file}`).toString('latin1');
}

// ---------------------------------------------------------------------------------------------
// The audit log, read directly.

interface Event {
  seq: number;
  eventName: string;
  secretName?: string;
  versionId?: string;
  outcome: string;
  command?: string;
}

function vaultIdOf(sb: Sandbox): string {
  return vaultIdIn(sb.vault);
}

/** The raw lines of this vault's audit log. */
function auditLines(sb: Sandbox): string[] {
  const path = join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit', `${vaultIdOf(sb)}.jsonl`);
  const text = readFileSync(path, 'utf8');
  return text === '' ? [] : text.trimEnd().split('\n');
}

// ---------------------------------------------------------------------------------------------
// A real terminal (as in prompt.test.ts): a tmux session on a private socket.

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const hasScript = spawnSync('script', ['--version']).status === 0;
const noTerminal = hasTmux && hasScript ? undefined : process.env['CI'] === 'true' ? undefined : 'tmux or util-linux script is not installed';

/** A screen, cut down for a message. */
function clip(text: string, max = 600): string {
  return text.length <= max ? text : `${text.slice(0, max / 2)} …[${text.length - max} characters]… ${text.slice(-max / 2)}`;
}

class Terminal {
  readonly #socket: string;
  /** Runs `command` with the sandbox's environment; `stdinFrom`: a file piped into it (stdin not a terminal). */
  constructor(sb: Sandbox, command: string, stdinFrom?: string) {
    this.#socket = join(sb.home, `tmux-${++outSeq}.sock`);
    const env = Object.entries(sb.env)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    const pipe = stdinFrom !== undefined ? `cat ${stdinFrom} | ` : '';
    this.#tmux(
      'new-session',
      '-d',
      '-s',
      't',
      '-x',
      '200',
      '-y',
      '40',
      `cd ${JSON.stringify(sb.home)}; ${pipe}env -i TERM=xterm ${env} ${command}; echo EXIT=$?; sleep 60`,
    );
  }
  #tmux(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.#socket, ...args], { encoding: 'utf8' });
  }
  screen(): string {
    return this.#tmux('capture-pane', '-p', '-J', '-t', 't');
  }
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.screen();
      if (pattern.test(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; screen:\n${s}`);
      await sleep(50);
    }
  }
  close(): void {
    spawnSync('tmux', ['-S', this.#socket, 'kill-server']);
  }
}

// ---------------------------------------------------------------------------------------------

describe('secrets exec', () => {
  let sb: Sandbox;
  /** prod/db: a marker; prod/json: a JSON object; prod/rot: two versions. */
  const db = marker();
  const jsonPw = marker();
  const rotOld = marker();
  const rotNew = marker();
  /** ml/key: two lines (a PEM key is multi-line). */
  const ml = [marker(), marker()];
  let rotOldId = '';
  let cfgOldId = '';
  const JSON_VALUE = { user: 'u-ser', password: `${jsonPw.value}${WEIRD}`, 'db-host': 'db.example:5432', port: 5432, nested: { a: [1, 'x'] }, flag: true };
  let bobKey = '';

  before(async () => {
    sb = await initialisedSandbox();
    const weirdFile = join(sb.home, 'weird.bin');
    writeFileSync(weirdFile, WEIRD);
    await sb.ok(['create', 'e2e/weird', '--from-file', weirdFile]);
    await sb.ok(['create', 'prod/db', '--value-stdin'], { input: db.value });
    await sb.ok(['create', 'prod/json', '--value-stdin'], { input: JSON.stringify(JSON_VALUE) });
    rotOldId = (JSON.parse(await sb.ok(['create', 'prod/rot', '--value-stdin', '--json'], { input: rotOld.value })) as { VersionId: string }).VersionId;
    await sb.ok(['put', 'prod/rot', '--value-stdin'], { input: rotNew.value });
    cfgOldId = (
      JSON.parse(await sb.ok(['create', 'prod/cfg', '--value-stdin', '--json'], { input: '{"k":"cfg-old-value","j":"cfg-j-old"}' })) as { VersionId: string }
    ).VersionId;
    await sb.ok(['put', 'prod/cfg', '--value-stdin'], { input: '{"k":"cfg-new-value","j":"cfg-j-new"}' });
    await sb.ok(['create', 'prod/app/db-url', '--value-stdin'], { input: 'postgres://app@db/app' });
    await sb.ok(['create', 'prod/app/sub/api.key', '--value-stdin'], { input: 'api-key-value' });
    await sb.ok(['create', 'prod/app/conf', '--value-stdin'], { input: '{"x":"conf-x","y-z":"conf-yz"}' });
    await sb.ok(['create', 'prod/app/old', '--value-stdin'], { input: 'old-deleted-value' });
    await sb.ok(['delete', 'prod/app/old', '--yes']);
    await sb.ok(['create', 'prod/app2/other', '--value-stdin'], { input: 'not-under-the-prefix' });
    await sb.ok(['create', 'short/ab', '--value-stdin'], { input: 'ab' });
    await sb.ok(['create', 'ml/key', '--value-stdin'], { input: `${ml[0]?.value}\n${ml[1]?.value}` });
    await sb.ok(['create', 'prod/clash', '--value-stdin'], { input: '{"a-b":"one","a_b":"two"}' });
    // bob: a member whose policy allows reading prod/db only.
    bobKey = join(sb.home, 'bob.key');
    const pub = (await sb.ok(['identity', 'new', '--name', 'bob', '--out', bobKey])).trim();
    await sb.ok(['member', 'add', 'bob', pub]);
    const policy = join(sb.home, 'bob-policy.json');
    writeFileSync(policy, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'prod/db' }] }));
    await sb.ok(['policy', 'put', 'bob-read', '-f', policy]);
    await sb.ok(['policy', 'attach', 'bob-read', 'bob']);
  });

  after(() => sb?.cleanup());

  // -------------------------------------------------------------------------------------------
  describe('1. the environment the child gets', () => {
    it('--secret NAME and --secret NAME=VAR: the value byte for byte (newlines, =, quotes, $, \\, unicode, edge spaces)', async () => {
      const a = await dumpOk(sb, ['--secret', 'e2e/weird', '--secret', 'prod/db']);
      assert.deepEqual(added(a.env, parentEnv(sb)), { E2E_WEIRD: WEIRD, PROD_DB: db.value });
      const b = await dumpOk(sb, ['--secret', 'e2e/weird=MY_VAR']);
      assert.deepEqual(added(b.env, parentEnv(sb)), { MY_VAR: WEIRD });
    });

    it('a JSON-object secret: NAME_KEY per key (keys upper-cased, other characters _), non-strings as JSON; =VAR renames the base', async () => {
      const expected = (base: string): Env => ({
        [`${base}_USER`]: 'u-ser',
        [`${base}_PASSWORD`]: JSON_VALUE.password,
        [`${base}_DB_HOST`]: 'db.example:5432',
        [`${base}_PORT`]: '5432',
        [`${base}_NESTED`]: '{"a":[1,"x"]}',
        [`${base}_FLAG`]: 'true',
      });
      const a = await dumpOk(sb, ['--secret', 'prod/json']);
      assert.deepEqual(added(a.env, parentEnv(sb)), expected('PROD_JSON'));
      const b = await dumpOk(sb, ['--secret', 'prod/json=DB']);
      assert.deepEqual(added(b.env, parentEnv(sb)), expected('DB'));
    });

    it('secret:// references on --secret: #field, ?stage=PREVIOUS, ?version=ID, both orders, with and without =VAR', async () => {
      const d = await dumpOk(sb, [
        '--secret',
        'secret://prod/json#password',
        '--secret',
        'secret://prod/json#user=U',
        '--secret',
        'secret://prod/rot?stage=PREVIOUS=OLD',
        '--secret',
        `secret://prod/rot?version=${rotOldId}=BY_ID`,
        '--secret',
        'secret://prod/rot=NOW',
        '--secret',
        'secret://prod/cfg#k?stage=PREVIOUS=CFG_PREV',
        '--secret',
        `secret://prod/cfg?version=${cfgOldId}#j=CFG_J`,
      ]);
      assert.deepEqual(added(d.env, parentEnv(sb)), {
        PROD_JSON_PASSWORD: JSON_VALUE.password,
        U: 'u-ser',
        OLD: rotOld.value,
        BY_ID: rotOld.value,
        NOW: rotNew.value,
        CFG_PREV: 'cfg-old-value',
        CFG_J: 'cfg-j-old',
      });
    });

    it('--prefix: every live secret under it, the prefix stripped (deleted and sibling prefixes left out)', async () => {
      const d = await dumpOk(sb, ['--prefix', 'prod/app/']);
      assert.deepEqual(added(d.env, parentEnv(sb)), {
        DB_URL: 'postgres://app@db/app',
        SUB_API_KEY: 'api-key-value',
        CONF_X: 'conf-x',
        CONF_Y_Z: 'conf-yz',
      });
    });

    it('./secrets.env is read when nothing is selected: references, plain values, quoting, comments, export', async () => {
      const proj = join(sb.home, 'proj');
      mkdirSync(proj, { recursive: true });
      writeFileSync(
        join(proj, 'secrets.env'),
        [
          '# references file, committed without values',
          'DATABASE_PASSWORD=secret://prod/json#password',
          'export DB=secret://prod/db',
          'WEIRD=secret://e2e/weird',
          'OLD_ROT=secret://prod/rot?stage=PREVIOUS',
          `BY_VERSION=secret://prod/rot?version=${rotOldId}`,
          'CFG_OLD=secret://prod/cfg#k?stage=PREVIOUS',
          `CFG_J=secret://prod/cfg?version=${cfgOldId}#j`,
          'PLAIN=just text  # a comment',
          'SINGLE=\'lit $HOME \\n "q"\'',
          'DOUBLE="two\\nlines \\"q\\" $HOME"',
          '',
        ].join('\n'),
      );
      const d = await dumpOk(sb, [], { cwd: proj });
      assert.deepEqual(added(d.env, parentEnv(sb)), {
        DATABASE_PASSWORD: JSON_VALUE.password,
        DB: db.value,
        WEIRD,
        OLD_ROT: rotOld.value,
        BY_VERSION: rotOld.value,
        CFG_OLD: 'cfg-old-value',
        CFG_J: 'cfg-j-old',
        PLAIN: 'just text',
        SINGLE: 'lit $HOME \\n "q"',
        DOUBLE: 'two\nlines "q" $HOME',
      });
    });

    it('--env-file (repeatable) with plain values, combined with --secret and --prefix; ./secrets.env is then not read', async () => {
      const dir = join(sb.home, 'envfiles');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'secrets.env'), 'NOT_READ=secret://prod/db\n');
      writeFileSync(join(dir, 'a.env'), 'A_PLAIN=alpha = beta\nA_REF=secret://prod/rot\n');
      writeFileSync(join(dir, 'b.env'), 'B_PLAIN="  spaced  "\nB_EMPTY=\n');
      const d = await dumpOk(sb, ['--env-file', join(dir, 'a.env'), '--env-file', 'b.env', '--secret', 'prod/db=X_DB', '--prefix', 'prod/app/sub/'], {
        cwd: dir,
      });
      assert.deepEqual(added(d.env, parentEnv(sb)), {
        A_PLAIN: 'alpha = beta',
        A_REF: rotNew.value,
        B_PLAIN: '  spaced  ',
        B_EMPTY: '',
        X_DB: db.value,
        API_KEY: 'api-key-value',
      });
    });

    it('a secret replaces a parent variable of the same name only when the caller named it (--secret NAME=VAR)', async () => {
      const d = await dumpOk(sb, ['--secret', 'prod/db=PROD_DB'], { env: { PROD_DB: 'from-the-parent' } });
      assert.equal(d.env['PROD_DB'], db.value);
      // A name derived from the secret's never replaces one: exit 5, and nothing runs.
      const refused = await dump(sb, ['--secret', 'prod/db'], { env: { PROD_DB: 'from-the-parent' } });
      assert.equal(refused.r.code, 5, explain('derived name over a parent variable', refused.r));
      assert.ok(!refused.ran);
    });

    it('the command and its arguments reach the child exactly, flags after -- included (no shell)', async () => {
      const args = ['--secret', 'x', '--mask', '--pristine', '', 'two words', '$HOME', '*', "'q'", '"dq"', '\\', 'ünï', '-e', '--'];
      const d = await dumpOk(sb, ['--secret', 'prod/db'], { args });
      assert.deepEqual(d.argv, args);
    });

    it("stdin is the child's", async () => {
      const r = await sb.run(['exec', '--secret', 'prod/db', '--', 'cat'], { input: 'to the child\nsecond line' });
      assert.equal(r.code, 0, explain('exec cat', r));
      assert.equal(r.stdout, 'to the child\nsecond line');
    });

    const collisions: [string, string[], string?][] = [
      ['--secret and --secret NAME=VAR', ['--secret', 'prod/db', '--secret', 'e2e/weird=PROD_DB']],
      ['a JSON key and a #field', ['--secret', 'prod/json', '--secret', 'secret://prod/json#user=PROD_JSON_USER']],
      ['two JSON keys of one secret naming the same variable', ['--secret', 'prod/clash']],
      ['--prefix and --secret', ['--prefix', 'prod/app/', '--secret', 'prod/db=DB_URL']],
      ['an --env-file plain value and --secret', ['--env-file', 'c1.env', '--secret', 'prod/db=C_ONE'], 'C_ONE=plain\n'],
      ['one variable twice in a file', ['--env-file', 'c2.env'], 'C_TWO=secret://prod/db\nC_TWO=plain\n'],
    ];
    for (const [what, flags, file] of collisions) {
      it(`a variable set twice is a usage error and nothing runs: ${what}`, async () => {
        const dir = join(sb.home, 'collisions');
        mkdirSync(dir, { recursive: true });
        const envFile = flags[flags.indexOf('--env-file') + 1];
        if (file !== undefined && envFile !== undefined) writeFileSync(join(dir, envFile), file);
        const d = await dump(sb, flags, { cwd: dir });
        assert.equal(d.r.code, 2, explain(what, d.r));
        assert.ok(!d.ran, `${what}: the child did not run`);
        assert.match(d.r.stderr, /set twice/, explain(what, d.r));
        assert.equal(d.r.stdout, '');
      });
    }

    it('no selection and no ./secrets.env: exit 2, nothing runs', async () => {
      const empty = join(sb.home, 'empty');
      mkdirSync(empty, { recursive: true });
      const d = await dump(sb, [], { cwd: empty });
      assert.equal(d.r.code, 2, explain('exec without selection', d.r));
      assert.ok(!d.ran, 'the child did not run');
      assert.match(d.r.stderr, /secrets\.env/);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('2. what else the child gets', () => {
    const extra = {
      LOGNAME: 'tester',
      SHELL: '/bin/sh',
      TERM: 'xterm-test',
      PARENT_ONLY: 'parent-value',
      AWS_SECRET_ACCESS_KEY: 'x',
      SECRETS_VAULT: undefined,
    };

    it('without --pristine the parent environment passes through whole, plus the secrets', async () => {
      const d = await dumpOk(sb, ['--secret', 'prod/db', '--secret', 'prod/json'], { env: extra });
      const parent = parentEnv(sb, extra);
      const secrets = added(d.env, parent);
      assert.deepEqual(Object.keys(secrets).sort(), [
        'PROD_DB',
        'PROD_JSON_DB_HOST',
        'PROD_JSON_FLAG',
        'PROD_JSON_NESTED',
        'PROD_JSON_PASSWORD',
        'PROD_JSON_PORT',
        'PROD_JSON_USER',
      ]);
      assert.deepEqual(d.env, { ...parent, ...secrets });
    });

    it('--pristine: only PATH HOME USER LOGNAME SHELL TERM LANG LC_ALL TZ TMPDIR, plus the secrets and plain values', async () => {
      const file = join(sb.home, 'pristine.env');
      writeFileSync(file, 'PLAIN_ONE=kept\n');
      const d = await dumpOk(sb, ['--pristine', '--secret', 'prod/db', '--env-file', file], { env: { ...extra, LANG: 'C.UTF-8', TZ: 'UTC', LC_ALL: 'C' } });
      const parent = parentEnv(sb, { ...extra, LANG: 'C.UTF-8', TZ: 'UTC', LC_ALL: 'C' });
      const expected: Env = {};
      for (const k of PRISTINE_KEEP) if (parent[k] !== undefined) expected[k] = parent[k];
      assert.deepEqual(d.env, { ...expected, PROD_DB: db.value, PLAIN_ONE: 'kept' });
      for (const k of PRISTINE_KEEP) assert.ok(k in d.env, `${k} is kept`);
    });

    it('SECRETS_IDENTITY_KEY never reaches the child, with or without --pristine', async () => {
      const key = `SECRETS-KEY-1${randomBytes(32).toString('base64url')}`;
      const keyed = await initialisedSandbox({ SECRETS_IDENTITY_KEY: key });
      try {
        await keyed.ok(['create', 'k/v', '--value-stdin'], { input: 'released-with-env-key' });
        for (const flags of [
          ['--secret', 'k/v'],
          ['--pristine', '--secret', 'k/v'],
        ]) {
          const d = await dumpOk(keyed, flags);
          assert.equal(d.env['K_V'], 'released-with-env-key', 'the key in env did unlock the vault');
          assert.ok(!('SECRETS_IDENTITY_KEY' in d.env), `${flags.join(' ')}: SECRETS_IDENTITY_KEY reached the child`);
          assert.ok(!JSON.stringify(d.env).includes(key.slice(13)), `${flags.join(' ')}: the key's text is nowhere in the child's env`);
        }
        // The file-based identity of the main sandbox never shows up either.
        const d = await dumpOk(sb, ['--secret', 'prod/db']);
        assert.ok(!Object.keys(d.env).some((k) => k.startsWith('SECRETS_IDENTITY_KEY')));
      } finally {
        keyed.cleanup();
      }
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('3. exit codes and signals', () => {
    for (const code of [0, 1, 42, 255]) {
      it(`the child's exit code ${code} is ours`, async () => {
        const r = await sb.run(['exec', '--secret', 'prod/db', '--', NODE, '-e', `process.exit(${code})`]);
        assert.equal(r.code, code, explain(`exit ${code}`, r));
      });
    }

    for (const [sig, code] of [
      ['KILL', 137],
      ['TERM', 143],
    ] as const) {
      it(`a child killed by SIG${sig} gives ${code}`, async () => {
        const r = await sb.run(['exec', '--secret', 'prod/db', '--', 'sh', '-c', `kill -${sig} $$`]);
        assert.equal(r.code, code, explain(`SIG${sig}`, r));
      });
    }

    /** Child: traps the three signals, writes which one it got to argv[2] and exits 20/21/22. */
    const TRAP = [
      "const fs = require('fs');",
      'const [ready, got] = process.argv.slice(1);',
      "for (const [s, c] of [['SIGTERM', 20], ['SIGINT', 21], ['SIGHUP', 22]]) process.on(s, () => { fs.writeFileSync(got, s); process.exit(c); });",
      'fs.writeFileSync(ready, String(process.pid));',
      'setTimeout(() => process.exit(99), 20000);',
    ].join('\n');

    for (const [sig, code] of [
      ['SIGTERM', 20],
      ['SIGINT', 21],
      ['SIGHUP', 22],
    ] as const) {
      it(`${sig} sent to secrets reaches the child, whose exit code is ours`, async () => {
        const ready = outPath(sb, 'ready');
        const got = outPath(sb, 'got');
        const run = start(sb, ['exec', '--secret', 'prod/db', '--', NODE, '-e', TRAP, ready, got]);
        await until(`${ready} (the child started)`, () => existsSync(ready) && readFileSync(ready, 'utf8') !== '');
        run.child.kill(sig);
        const r = await run.done;
        assert.equal(r.code, code, explain(`${sig} forwarded`, r));
        assert.equal(readFileSync(got, 'utf8'), sig);
      });
    }

    it('SIGTERM to secrets with a child that does not trap it: 143', async () => {
      const ready = outPath(sb, 'ready');
      const run = start(sb, [
        'exec',
        '--secret',
        'prod/db',
        '--',
        NODE,
        '-e',
        "require('fs').writeFileSync(process.argv[1], 'x'); setTimeout(() => process.exit(99), 20000)",
        ready,
      ]);
      await until('the child started', () => existsSync(ready));
      run.child.kill('SIGTERM');
      const r = await run.done;
      assert.equal(r.code, 143, explain('untrapped SIGTERM', r));
    });

    it('command not found: 127; found but not executable: 126', async () => {
      const r = await sb.run(['exec', '--secret', 'prod/db', '--', 'no-such-command-xyz']);
      assert.equal(r.code, 127, explain('not found', r));
      assert.match(r.stderr, /no-such-command-xyz/);
      const notExec = join(sb.home, 'not-exec.sh');
      writeFileSync(notExec, '#!/bin/sh\necho ran\n');
      chmodSync(notExec, 0o644);
      const n = await sb.run(['exec', '--secret', 'prod/db', '--', notExec]);
      assert.equal(n.code, 126, explain('not executable', n));
      assert.equal(n.stdout, '');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('4. --strict and unresolvable references', () => {
    const strictCases: [string, string[], number][] = [
      ['a missing secret', ['--secret', 'prod/db', '--secret', 'prod/missing'], 3],
      ['a missing field', ['--secret', 'secret://prod/json#nope'], 3],
      ['a missing version', ['--secret', 'secret://prod/rot?version=00000000-0000-4000-8000-000000000000'], 3],
      ['a prefix with nothing under it', ['--prefix', 'nothing/here/'], 3],
    ];
    for (const [what, flags, code] of strictCases) {
      it(`--strict with ${what}: exit ${code} before the child starts`, async () => {
        const d = await dump(sb, ['--strict', ...flags]);
        assert.equal(d.r.code, code, explain(what, d.r));
        assert.ok(!d.ran, `${what}: the child did not run`);
        assert.equal(d.r.stdout, '');
      });
    }

    it('without --strict the child runs without the variable and stderr names it', async () => {
      const file = join(sb.home, 'missing.env');
      writeFileSync(file, 'GOOD=secret://prod/db\nMISSING_VAR=secret://prod/missing\nNO_FIELD=secret://prod/json#nope\n');
      const d = await dumpOk(sb, ['--env-file', file, '--secret', 'prod/absent']);
      assert.deepEqual(added(d.env, parentEnv(sb)), { GOOD: db.value });
      for (const name of ['MISSING_VAR', 'NO_FIELD', 'prod/absent'])
        assert.match(d.r.stderr, new RegExp(`warning: .*${name}`), `the warning names ${name}:\n${d.r.stderr}`);
    });

    it('a member denied by policy: exit 5 with --strict before the child starts; without it the allowed secrets only', async () => {
      const strict = await dump(sb, ['--strict', '--secret', 'prod/db', '--secret', 'prod/json'], { identity: bobKey });
      assert.equal(strict.r.code, 5, explain('bob --strict', strict.r));
      assert.ok(!strict.ran, 'the child did not run');
      assert.ok(!strict.r.stderr.includes(jsonPw.value) && !strict.r.stderr.includes(db.value));
      const lax = await dumpOk(sb, ['--secret', 'prod/db', '--secret', 'prod/json'], { identity: bobKey });
      assert.deepEqual(added(lax.env, parentEnv(sb)), { PROD_DB: db.value });
      assert.match(lax.r.stderr, /warning: .*prod\/json/);
    });

    it('a binary value cannot be an environment variable: an error, and nothing runs', async () => {
      const bin = join(sb.home, 'binary.bin');
      writeFileSync(bin, Buffer.from([0x00, 0xff, 0xfe, 0x41, 0x00]));
      await sb.ok(['create', 'bin/blob', '--from-file', bin]);
      const d = await dump(sb, ['--secret', 'bin/blob']);
      assert.notEqual(d.r.code, 0, explain('binary', d.r));
      assert.ok(!d.ran, 'the child did not run');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('5. masking', () => {
    /** Child: for each variable named in argv, `<value>` on stdout and `[value]` on stderr. */
    const PRINT =
      "for (const n of process.argv.slice(1)) { process.stdout.write('<' + process.env[n] + '>\\n'); process.stderr.write('[' + process.env[n] + ']\\n'); }";

    it('--mask (stdout piped): every secret value on stdout and stderr becomes *****; plain and short values stay', async () => {
      const file = join(sb.home, 'mask.env');
      writeFileSync(file, 'PLAIN=plain-visible-value\nPW=secret://prod/json#password\n');
      const names = ['PROD_DB', 'E2E_WEIRD', 'PW', 'SHORT_AB', 'PLAIN', 'ROT'];
      const r = await sb.run([
        'exec',
        '--mask',
        '--secret',
        'prod/db',
        '--secret',
        'e2e/weird',
        '--secret',
        'short/ab',
        '--secret',
        'prod/rot=ROT',
        '--env-file',
        file,
        '--',
        NODE,
        '-e',
        PRINT,
        ...names,
      ]);
      assert.equal(r.code, 0, explain('--mask', r));
      const shown = ['*****', '*****', '*****', 'ab', 'plain-visible-value', '*****'];
      assert.equal(r.stdout, shown.map((v) => `<${v}>\n`).join(''));
      assert.equal(r.stderr, shown.map((v) => `[${v}]\n`).join(''));
    });

    it('--mask: a value split across writes (a pause between, a cut inside a UTF-8 character) is still masked', async () => {
      const SPLIT = [
        'const v = Buffer.from(process.env[process.argv[1]]);',
        'const cut = Number(process.argv[2]);',
        "process.stdout.write(Buffer.concat([Buffer.from('x'), v.subarray(0, cut)]));",
        'setTimeout(() => {',
        "  process.stdout.write(Buffer.concat([v.subarray(cut), Buffer.from('y\\n')]));",
        '  process.stderr.write(v.subarray(0, 1));',
        "  setTimeout(() => process.stderr.write(Buffer.concat([v.subarray(1), Buffer.from('z\\n')])), 250);",
        '}, 250);',
      ].join('\n');
      const key = Buffer.from(WEIRD).indexOf(Buffer.from('🔑'));
      for (const [name, cut] of [
        ['PROD_DB', 10],
        ['E2E_WEIRD', key + 2],
        ['E2E_WEIRD', Buffer.byteLength(WEIRD) - 1],
      ] as const) {
        const r = await sb.run(['exec', '--mask', '--secret', 'prod/db', '--secret', 'e2e/weird', '--', NODE, '-e', SPLIT, name, String(cut)]);
        assert.equal(r.code, 0, explain(`split ${name} at ${cut}`, r));
        assert.equal(r.stdout, 'x*****y\n', `${name} cut at byte ${cut} (stdout)`);
        assert.equal(r.stderr, '*****z\n', `${name} cut after byte 1 (stderr)`);
      }
    });

    it('--mask: ordinary output is unchanged byte for byte and complete, also ending in the start of a value', async () => {
      const BIG = [
        'let s = "";',
        'for (let i = 0; i < 30000; i++) s += "ordinary line " + i + " MARKER-not-a-secret " + "é".repeat(i % 7) + "\\n";',
        'process.stdout.write(s + process.env.PROD_DB.slice(0, -1));',
        'process.stderr.write("err " + process.env.PROD_DB.slice(0, 20));',
      ].join('\n');
      const r = await sb.run(['exec', '--mask', '--secret', 'prod/db', '--', NODE, '-e', BIG]);
      assert.equal(r.code, 0, explain('big output', r));
      let s = '';
      for (let i = 0; i < 30000; i++) s += `ordinary line ${i} MARKER-not-a-secret ${'é'.repeat(i % 7)}\n`;
      assert.equal(r.stdout.length, s.length + db.value.length - 1);
      assert.ok(r.stdout === s + db.value.slice(0, -1), 'stdout is exactly what the child wrote');
      assert.equal(r.stderr, `err ${db.value.slice(0, 20)}`);
    });

    it('--mask: ordinary output is passed on while the child runs, not at its end', async () => {
      const go = outPath(sb, 'go');
      const WAIT = [
        "const fs = require('fs');",
        "process.stdout.write('first line\\n');",
        "const t = setInterval(() => { if (fs.existsSync(process.argv[1])) { clearInterval(t); process.stdout.write('second line\\n', () => process.exit(0)); } }, 20);",
        'setTimeout(() => process.exit(9), 15000);',
      ].join('\n');
      const run = start(sb, ['exec', '--mask', '--secret', 'prod/db', '--', NODE, '-e', WAIT, go]);
      try {
        await until('"first line" on stdout while the child waits', () => run.stdout().includes('first line\n'), 10_000);
      } finally {
        writeFileSync(go, '');
      }
      const r = await run.done;
      assert.equal(r.code, 0, explain('wait', r));
      assert.equal(r.stdout, 'first line\nsecond line\n');
    });

    it('--no-mask, and no flag with stdout piped, print the values', async () => {
      for (const flags of [['--no-mask'], []]) {
        const r = await sb.run(['exec', ...flags, '--secret', 'prod/db', '--', NODE, '-e', PRINT, 'PROD_DB']);
        assert.equal(r.code, 0, explain(`exec ${flags.join(' ')}`, r));
        assert.equal(r.stdout, `<${db.value}>\n`);
        assert.equal(r.stderr, `[${db.value}]\n`);
      }
    });

    it(
      'in a terminal, with no flag: the screen shows *****, the child still has a terminal, exit code and no value on argv',
      { skip: noTerminal },
      async () => {
        const ready = join(sb.home, 'tty-ready');
        const go = join(sb.home, 'tty-go');
        const script = join(sb.home, 'tty.sh');
        writeFileSync(
          script,
          [
            '[ -t 1 ] && echo "stdout-is-a-tty"',
            '[ -t 0 ] && echo "stdin-is-a-tty"',
            'printf "out=%s.\\n" "$PROD_DB"',
            'printf "err=%s.\\n" "$PROD_DB" >&2',
            `: > ${ready}`,
            `while [ ! -e ${go} ]; do sleep 0.05; done`,
            'exit 42',
          ].join('\n'),
        );
        const term = new Terminal(sb, `${NODE} ${BIN} exec --secret prod/db -- sh ${script}`);
        let hits: string[] = [];
        try {
          await until('the child in the terminal', () => existsSync(ready));
          hits = argvHits([db]);
          writeFileSync(go, '');
          const screen = await term.waitFor(/EXIT=\d+/);
          assert.match(screen, /EXIT=42/);
          assert.match(screen, /stdout-is-a-tty/);
          assert.match(screen, /stdin-is-a-tty/);
          assert.match(screen, /out=\*\*\*\*\*\./);
          assert.match(screen, /err=\*\*\*\*\*\./);
          assert.ok(!screen.includes(db.value) && !screen.includes(db.value.slice(0, 20)), `the value is on screen:\n${screen}`);
        } finally {
          writeFileSync(go, '');
          term.close();
        }
        assert.deepEqual(hits, [], 'no process has the value on its command line');
      },
    );

    it('in a terminal with --no-mask the value is shown, and the child still has a terminal', { skip: noTerminal }, async () => {
      const script = join(sb.home, 'tty2.sh');
      writeFileSync(script, '[ -t 1 ] && echo "stdout-is-a-tty"\nprintf "out=%s.\\n" "$PROD_DB"\n');
      const term = new Terminal(sb, `${NODE} ${BIN} exec --no-mask --secret prod/db -- sh ${script}`);
      try {
        const screen = await term.waitFor(/EXIT=\d+/);
        assert.match(screen, /EXIT=0/);
        assert.match(screen, /stdout-is-a-tty/);
        assert.ok(screen.includes(`out=${db.value}.`), `the value is shown:\n${screen}`);
      } finally {
        term.close();
      }
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('5b. on a terminal, the pseudo-terminal path keeps what a direct child would have', () => {
    it('in a terminal: a multi-line value is masked too (the terminal turns \\n into \\r\\n)', { skip: noTerminal }, async () => {
      const script = join(sb.home, 'tty-ml.sh');
      writeFileSync(script, 'printf "begin\\n%s\\nend\\n" "$ML_KEY"\n');
      const term = new Terminal(sb, `${NODE} ${BIN} exec --secret ml/key -- sh ${script}`);
      try {
        const screen = await term.waitFor(/EXIT=\d+/);
        assert.match(screen, /EXIT=0/);
        assert.match(screen, /begin/);
        for (const m of ml) assert.ok(!screen.includes(m.value), `a line of the multi-line secret ml/key is on screen:\n${screen}`);
        assert.match(screen, /\*\*\*\*\*/);
      } finally {
        term.close();
      }
    });

    it("in a terminal with 2>FILE: the child's stderr goes to FILE (masked), not to the screen", { skip: noTerminal }, async () => {
      const script = join(sb.home, 'tty-err.sh');
      const errFile = join(sb.home, 'tty-err.txt');
      writeFileSync(script, 'echo "to-stderr $PROD_DB" >&2\n[ -t 2 ] && echo "child-stderr-is-a-tty"\necho "to-stdout"\n');
      const term = new Terminal(sb, `${NODE} ${BIN} exec --secret prod/db -- sh ${script} 2>${errFile}`);
      try {
        const screen = await term.waitFor(/EXIT=\d+/);
        assert.match(screen, /EXIT=0/);
        assert.match(screen, /to-stdout/);
        const problems: string[] = [];
        if (screen.includes('to-stderr')) problems.push("the child's stderr is on the screen");
        if (screen.includes('child-stderr-is-a-tty')) problems.push("the child's stderr is a terminal although ours is a file");
        const err = readFileSync(errFile, 'utf8');
        if (err !== 'to-stderr *****\n') problems.push(`2>FILE holds ${JSON.stringify(err)}, not "to-stderr *****\\n"`);
        assert.deepEqual(problems, [], `screen:\n${clip(screen)}`);
      } finally {
        term.close();
      }
    });

    it('in a terminal with stdin from a pipe: the child reads the bytes exactly, gets end of file, and nothing is echoed', { skip: noTerminal }, async () => {
      const input = join(sb.home, 'stdin-input.bin');
      const data = `piped-input-data \x03\x04\x1a ${'long-line-'.repeat(600)}no newline at the end`;
      writeFileSync(input, data);
      const out = join(sb.home, 'stdin-got.txt');
      const reader = join(sb.home, 'stdin-reader.cjs');
      writeFileSync(
        reader,
        "const c = []; process.stdin.on('data', (d) => c.push(d)); process.stdin.on('end', () => require('fs').writeFileSync(process.argv[2], Buffer.concat(c)));\n",
      );
      const term = new Terminal(sb, `timeout 6 ${NODE} ${BIN} exec --secret prod/db -- ${NODE} ${reader} ${out}`, input);
      try {
        const screen = await term.waitFor(/EXIT=\d+/, 15_000);
        const problems: string[] = [];
        const exit = /EXIT=(\d+)/.exec(screen)?.[1];
        if (exit !== '0') problems.push(`exit ${exit}${exit === '124' ? ' (still waiting for end of file after 6 s: killed by timeout)' : ''}`);
        if (screen.includes('piped-input-data')) problems.push('the piped input is echoed on the screen');
        const got = existsSync(out) ? readFileSync(out, 'latin1') : undefined;
        if (got !== data)
          problems.push(got === undefined ? 'the child never saw end of file' : `the child read ${got.length} bytes that differ from the ${data.length} piped`);
        assert.deepEqual(problems, [], `screen:\n${clip(screen)}`);
      } finally {
        term.close();
      }
    });

    it('in a terminal, SIGTERM, SIGINT and SIGHUP sent to secrets reach the child as themselves, and its exit code is ours', { skip: noTerminal }, async () => {
      const trap = join(sb.home, 'tty-trap.cjs');
      writeFileSync(
        trap,
        [
          "const fs = require('fs');",
          'const [ready, got] = process.argv.slice(2);',
          "for (const [s, c] of [['SIGTERM', 20], ['SIGINT', 21], ['SIGHUP', 22]]) process.on(s, () => { fs.writeFileSync(got, s); process.exit(c); });",
          'fs.writeFileSync(ready, String(process.pid));',
          'setTimeout(() => process.exit(99), 20000);',
        ].join('\n'),
      );
      const problems: string[] = [];
      for (const [sig, code] of [
        ['SIGTERM', 20],
        ['SIGINT', 21],
        ['SIGHUP', 22],
      ] as const) {
        const ready = outPath(sb, 'tty-ready');
        const got = outPath(sb, 'tty-got');
        const term = new Terminal(sb, `${NODE} ${BIN} exec --secret prod/db -- ${NODE} ${trap} ${ready} ${got}`);
        let childPid = 0;
        try {
          await until('the child in the terminal', () => existsSync(ready) && readFileSync(ready, 'utf8') !== '');
          childPid = Number(readFileSync(ready, 'utf8'));
          const secretsPid = ancestorRunning(childPid, BIN);
          assert.ok(secretsPid > 0, 'found the secrets process above the child');
          process.kill(secretsPid, sig);
          let screen: string;
          try {
            screen = await term.waitFor(/EXIT=\d+/, 3000);
          } catch {
            screen = term.screen();
          }
          const exit = /EXIT=(\d+)/.exec(screen)?.[1] ?? 'none (still running after 3 s)';
          const gotSig = existsSync(got) ? readFileSync(got, 'utf8') : 'nothing';
          if (gotSig !== sig || exit !== String(code)) {
            problems.push(
              `${sig} to secrets: the child got ${gotSig}, secrets exited ${exit} (expected ${sig} and ${code}); screen: ${JSON.stringify(clip(screen.trim()))}`,
            );
          }
        } finally {
          term.close();
          // An orphan left by a lost signal: end the child we started (by its pid); secrets follows.
          if (childPid > 0) {
            try {
              process.kill(childPid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        }
      }
      assert.deepEqual(problems, []);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('6. no secret on any command line', () => {
    for (const flags of [[], ['--mask'], ['--shell']]) {
      it(`while the child runs${flags.length ? ` (${flags.join(' ')})` : ''}: no argv holds a value; the child's environ does, the secrets process's does not`, async () => {
        const ready = outPath(sb, 'ready');
        const go = outPath(sb, 'go');
        const WAIT = [
          "const fs = require('fs');",
          'fs.writeFileSync(process.argv[1], String(process.pid));',
          'const t = setInterval(() => { if (fs.existsSync(process.argv[2])) { clearInterval(t); process.exit(0); } }, 20);',
          'setTimeout(() => process.exit(9), 15000);',
        ].join('\n');
        const cmd = flags.includes('--shell') ? [NODE, '-e', `"${WAIT.replace(/\n/g, ' ')}"`, ready, go] : [NODE, '-e', WAIT, ready, go];
        const run = start(sb, ['exec', ...flags, '--secret', 'prod/db', '--secret', 'prod/json', '--', ...cmd]);
        const markers = [db, jsonPw];
        const hits: string[] = [];
        let childPid = 0;
        try {
          await until('the child started', () => existsSync(ready) && readFileSync(ready, 'utf8') !== '');
          childPid = Number(readFileSync(ready, 'utf8'));
          for (let i = 0; i < 5; i++) {
            hits.push(...argvHits(markers));
            await sleep(20);
          }
          const environ = procFile(childPid, 'environ');
          assert.ok(environ.includes(`PROD_DB=${db.value}\0`), "sanity: the child's environ has PROD_DB");
          assert.ok(environ.includes(jsonPw.value), "sanity: the child's environ has the JSON field");
          const parentPid = run.child.pid as number;
          for (const file of ['cmdline', 'environ']) {
            const text = procFile(parentPid, file);
            for (const m of markers) for (const e of m.encodings) assert.ok(!text.includes(e), `the secrets process's ${file} contains ${e}`);
          }
        } finally {
          writeFileSync(go, '');
        }
        const r = await run.done;
        assert.equal(r.code, 0, explain('exec', r));
        assert.deepEqual(hits, [], 'no command line holds a value');
      });
    }
  });

  // -------------------------------------------------------------------------------------------
  describe('7. audit', () => {
    /** The events `fn` appended to the log. */
    async function eventsOf(fn: () => Promise<void>): Promise<{ lines: string[]; events: Event[] }> {
      const before = auditLines(sb).length;
      await fn();
      const lines = auditLines(sb).slice(before);
      return { lines, events: lines.map((l) => JSON.parse(l) as Event) };
    }

    it('one GetSecretValue per secret released, command = the basename of the program, no arguments, no values', async () => {
      const sentinel = `ARG-SENTINEL-${randomBytes(6).toString('hex')}`;
      let r: CliResult | undefined;
      const { lines, events } = await eventsOf(async () => {
        r = await sb.run([
          'exec',
          '--secret',
          'prod/db',
          '--secret',
          'secret://prod/json#user',
          '--secret',
          'secret://prod/json#password=PW',
          '--',
          NODE,
          '-e',
          `/* ${sentinel} */ process.exit(0)`,
          sentinel,
        ]);
      });
      assert.ok(r);
      assert.equal(r.code, 0, explain('exec', r));
      const gets = events.filter((e) => e.eventName === 'GetSecretValue');
      assert.deepEqual(
        gets.map((e) => e.secretName).sort(),
        ['prod/db', 'prod/json'],
        `one event per secret (prod/json gave two variables):\n${lines.join('\n')}`,
      );
      for (const e of gets) {
        assert.equal(e.outcome, 'success');
        assert.equal(e.command, basename(NODE), 'command is the basename of the program');
      }
      for (const line of lines) {
        assert.ok(!line.includes(sentinel), `an argument is in the event: ${line}`);
        assert.ok(!line.includes(dirname(NODE)), `the program's directory is in the event: ${line}`);
        for (const m of [db, jsonPw]) for (const enc of m.encodings) assert.ok(!line.includes(enc), `a value is in the event: ${line}`);
        assert.ok(!line.includes('u-ser'));
      }
    });

    it('a whole JSON secret (many variables) is one event; --prefix is one event per secret; ?stage=PREVIOUS names its version', async () => {
      const { events } = await eventsOf(async () => {
        await sb.ok(['exec', '--secret', 'prod/json', '--prefix', 'prod/app/', '--secret', 'secret://prod/rot?stage=PREVIOUS=OLD', '--', 'true']);
      });
      const gets = events.filter((e) => e.eventName === 'GetSecretValue');
      assert.deepEqual(gets.map((e) => e.secretName).sort(), ['prod/app/conf', 'prod/app/db-url', 'prod/app/sub/api.key', 'prod/json', 'prod/rot']);
      assert.equal(gets.find((e) => e.secretName === 'prod/rot')?.versionId, rotOldId);
      for (const e of gets) assert.equal(e.command, 'true');
    });

    it('--shell: the command is sh (the script is not recorded)', async () => {
      const { lines, events } = await eventsOf(async () => {
        await sb.ok(['exec', '--shell', '--secret', 'prod/db', '--', 'test -n "$PROD_DB" && echo SHELL-SENTINEL >/dev/null']);
      });
      const gets = events.filter((e) => e.eventName === 'GetSecretValue');
      assert.equal(gets.length, 1);
      assert.equal(gets[0]?.command, 'sh');
      assert.ok(!lines.some((l) => l.includes('SHELL-SENTINEL')));
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('8. --shell', () => {
    it('runs the joined arguments through /bin/sh -c: $VARS and pipes', async () => {
      const r = await sb.run([
        'exec',
        '--shell',
        '--secret',
        'short/ab',
        '--secret',
        'prod/app/db-url=URL',
        '--',
        'echo $SHORT_AB | tr a-z A-Z;',
        'echo',
        '"$URL"',
        '|',
        'wc -c',
      ]);
      assert.equal(r.code, 0, explain('--shell', r));
      assert.equal(r.stdout, `AB\n${'postgres://app@db/app'.length + 1}\n`);
    });

    it("the shell's exit code is ours", async () => {
      const r = await sb.run(['exec', '--shell', '--secret', 'prod/db', '--', 'exit 7']);
      assert.equal(r.code, 7, explain('--shell exit 7', r));
    });
  });
});
