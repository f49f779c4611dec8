// Fail-closed release, one table for every way a value leaves: `get` (one name, several names,
// --filter), `exec`, `env`, `inject` (stdout and -o), `export`, and the library's
// getSecretValue and batchGetSecretValue. With the audit log unwritable, each of them exits 8
// (AUDIT_UNAVAILABLE) and releases nothing: no byte on stdout, no child started, no file
// written, no value in a library result. Each row is first run with a healthy log and must
// release its value there, so a row that releases nothing for another reason cannot pass.
//
// Two faults: the log replaced by a directory (works anywhere), and the audit directory and log
// made immutable with `chattr +i`, which stops root too (CI runs as root); the second needs root
// and chattr, and is skipped with a reason only outside CI.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliResult, marker, ROOT, type Sandbox, sandbox } from './support/cli.js';

/** The library child: one operation, one JSON line: the values it got, or the error's code. */
const LIBRARY_CHILD = `
import { SecretsClient } from 'local-secrets-manager';
const [op, vault, ...names] = process.argv.slice(1);
const client = new SecretsClient({ vault, cache: false });
try {
  if (op === 'get') {
    const v = await client.getSecretValue({ SecretId: names[0] });
    process.stdout.write(JSON.stringify({ values: [v.SecretString] }));
  } else {
    const r = await client.batchGetSecretValue({ SecretIdList: names });
    process.stdout.write(JSON.stringify({ values: r.SecretValues.map((v) => v.SecretString), errors: r.Errors.map((e) => e.ErrorCode) }));
  }
} catch (e) {
  process.stdout.write(JSON.stringify({ code: e.code, message: String(e.message) }));
}
`;

function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Runs the library child with the sandbox's environment. */
function runLibrary(sb: Sandbox, args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', LIBRARY_CHILD, ...args], { cwd: ROOT, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** What the library child printed. */
interface LibraryReply {
  values?: (string | undefined)[];
  errors?: string[];
  code?: string;
  message?: string;
}

/** One way a value leaves. `run` performs it; `released` says what a healthy run left behind; `refused` checks a faulted run. */
interface Row {
  readonly name: string;
  run(): Promise<CliResult>;
  /** Called after a healthy run: asserts the value did leave (stdout, the child's file, the output file). */
  released(r: CliResult): void;
  /** Called after a faulted run: asserts nothing left. */
  refused(r: CliResult): void;
}

/** A fault that makes the audit log unwritable, and its undoing. */
interface Fault {
  readonly name: string;
  /** Why it cannot be injected here; undefined when it can. */
  readonly unavailable: () => string | undefined;
  inject(dir: string, log: string): void;
  remove(dir: string, log: string): void;
}

const FAULTS: readonly Fault[] = [
  {
    name: 'the log replaced by a directory',
    unavailable: () => undefined,
    inject(_dir, log) {
      renameSync(log, `${log}.saved`);
      mkdirSync(log);
    },
    remove(_dir, log) {
      rmSync(log, { recursive: true, force: true });
      renameSync(`${log}.saved`, log);
    },
  },
  {
    name: 'the audit directory and log immutable (chattr +i, which stops root too)',
    unavailable() {
      if (process.getuid?.() !== 0) return 'not root: chattr +i needs CAP_LINUX_IMMUTABLE';
      if (spawnSync('sh', ['-c', 'command -v chattr']).status !== 0) return 'chattr is not installed (apt-get install e2fsprogs)';
      return undefined;
    },
    inject(dir, log) {
      const r = spawnSync('chattr', ['+i', log, dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, `chattr +i: ${r.stderr}`);
    },
    remove(dir, log) {
      spawnSync('chattr', ['-i', log, dir]);
    },
  },
];

describe('no value leaves while its audit event cannot be written', () => {
  let sb: Sandbox;
  const a = marker().value;
  const b = marker().value;
  const values = [a, b];
  let ranFile: string;
  let outFile: string;
  let template: string;

  const auditDir = (): string => join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit');
  const auditLog = (): string => {
    const logs = readdirSync(auditDir()).filter((f) => f.endsWith('.jsonl'));
    assert.equal(logs.length, 1, `one audit log: ${logs.join(', ')}`);
    return join(auditDir(), logs[0] as string);
  };

  /** A faulted CLI run: exit 8, not a byte on stdout, no value on stderr, the reason named. */
  const refusedByCli = (what: string, r: CliResult): void => {
    assert.equal(r.code, 8, explain(`${what}: exit 8 (AUDIT_UNAVAILABLE)`, r));
    assert.equal(r.stdoutBytes.length, 0, explain(`${what}: not a byte on stdout`, r));
    for (const v of values) assert.ok(!r.stderr.includes(v), `${what}: no value on stderr`);
    assert.match(r.stderr, /^secrets: error: cannot append to the audit log .*; nothing was released$/m, explain(what, r));
  };
  const refusedByLibrary = (what: string, r: CliResult): void => {
    assert.equal(r.code, 0, explain(`${what}: the child itself ran`, r));
    const reply = JSON.parse(r.stdout) as LibraryReply;
    assert.equal(reply.code, 'AUDIT_UNAVAILABLE', `${what}: rejects with AUDIT_UNAVAILABLE, got ${r.stdout}`);
    assert.equal(reply.values, undefined, `${what}: no values`);
    for (const v of values) assert.ok(!r.stdout.includes(v) && !r.stderr.includes(v), `${what}: no value anywhere in the child's output`);
  };
  const printed =
    (...expected: string[]) =>
    (r: CliResult): void => {
      for (const v of expected) assert.ok(r.stdout.includes(v), explain(`the value is on stdout`, r));
    };

  const cli = (name: string, args: readonly string[], released: (r: CliResult) => void, refused: (r: CliResult) => void = () => undefined): Row => ({
    name,
    run: () => sb.run(args),
    released: (r) => {
      assert.equal(r.code, 0, explain(`${name} with a healthy log`, r));
      released(r);
    },
    refused: (r) => {
      refusedByCli(name, r);
      refused(r);
    },
  });
  const library = (name: string, args: readonly string[], expected: readonly string[]): Row => ({
    name,
    run: () => runLibrary(sb, [args[0] as string, sb.vault, ...args.slice(1)]),
    released: (r) => {
      assert.equal(r.code, 0, explain(name, r));
      assert.deepEqual((JSON.parse(r.stdout) as LibraryReply).values, expected, explain(`${name} with a healthy log`, r));
    },
    refused: (r) => refusedByLibrary(name, r),
  });

  const rows = (): Row[] => [
    cli('get NAME', ['get', 'fc/a'], printed(a)),
    cli('get NAME --json', ['get', 'fc/a', '--json'], printed(a)),
    cli('get A B --json (batch)', ['get', 'fc/a', 'fc/b', '--json'], printed(a, b)),
    cli('get --filter --json (batch)', ['get', '--filter', 'tag-key=fc', '--json'], printed(a, b)),
    cli(
      'exec (the child must not start)',
      ['exec', '--secret', 'fc/a=VAL', '--', 'sh', '-c', `echo started > "${ranFile}"; printf %s "$VAL"`],
      (r) => {
        printed(a)(r);
        assert.ok(existsSync(ranFile), 'the child ran');
        rmSync(ranFile);
      },
      () => assert.ok(!existsSync(ranFile), 'exec started its child without an audit event'),
    ),
    cli(
      'exec --prefix (the child must not start)',
      ['exec', '--prefix', 'fc/', '--', 'sh', '-c', `echo started > "${ranFile}"; printf '%s %s' "$A" "$B"`],
      (r) => {
        printed(a, b)(r);
        rmSync(ranFile);
      },
      () => assert.ok(!existsSync(ranFile), 'exec started its child without an audit event'),
    ),
    cli('env --secret', ['env', '--secret', 'fc/a', '--secret', 'fc/b'], printed(a, b)),
    cli('env --prefix', ['env', '--prefix', 'fc/'], printed(a, b)),
    cli('inject (stdout)', ['inject', '-i', template], printed(a, b)),
    cli(
      'inject -o FILE (no file written)',
      ['inject', '-i', template, '-o', outFile],
      () => {
        assert.ok(existsSync(outFile), 'inject wrote its file');
        rmSync(outFile);
      },
      () => assert.ok(!existsSync(outFile), 'inject wrote its output without an audit event'),
    ),
    cli('export --yes (json)', ['export', '--yes'], printed(a, b)),
    cli('export --yes --format dotenv', ['export', '--yes', '--format', 'dotenv'], printed(a, b)),
    library('library getSecretValue', ['get', 'fc/a'], [a]),
    library('library batchGetSecretValue', ['batch', 'fc/a', 'fc/b'], [a, b]),
  ];

  before(async () => {
    sb = sandbox();
    await sb.ok(['init', '--member-name', 'alice']);
    await sb.ok(['create', 'fc/a', '--value-stdin', '--tag', 'fc=1'], { input: a });
    await sb.ok(['create', 'fc/b', '--value-stdin', '--tag', 'fc=1'], { input: b });
    // Not selected by --filter or --prefix: shows the batch reads only what it was asked for.
    await sb.ok(['create', 'other/c', '--value-stdin'], { input: 'other' });
    ranFile = join(sb.home, 'child-ran');
    outFile = join(sb.home, 'rendered.conf');
    template = join(sb.home, 'app.conf.tpl');
    writeFileSync(template, 'a={{ secret://fc/a }}\nb={{ secret://fc/b }}\n');
  });
  after(() => sb?.cleanup());

  it('with a healthy log, every row releases its value (so the refusals below mean something)', async () => {
    for (const row of rows()) row.released(await row.run());
  });

  for (const fault of FAULTS) {
    it(`with ${fault.name}, every row releases nothing and exits 8 (AUDIT_UNAVAILABLE)`, async (t) => {
      const reason = fault.unavailable();
      if (reason !== undefined) {
        assert.notEqual(process.env['CI'], 'true', `CI must run this fault: ${reason}`);
        t.skip(reason);
        return;
      }
      const dir = auditDir();
      const log = auditLog();
      fault.inject(dir, log);
      // Every row runs, so a failure lists all the ways a value got out, not just the first.
      const leaks: string[] = [];
      try {
        for (const row of rows()) {
          const r = await row.run();
          try {
            row.refused(r);
          } catch (err) {
            leaks.push((err as Error).message.split('\n')[0] ?? '');
          }
        }
      } finally {
        fault.remove(dir, log);
      }
      assert.deepEqual(leaks, [], `released with the audit log unwritable:\n${leaks.join('\n')}`);
      // Undone, the same reads work again: the refusals came from the fault alone.
      assert.equal(await sb.ok(['get', 'fc/b']), b);
    });
  }
});
