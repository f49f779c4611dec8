/**
 * No secret value in argv of any process, in the output of any failing command, or in any file
 * but the vault (and there only as ciphertext).
 * Every check looks for a random marker in all the encodings `marker()` lists.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, type CliResult, type Sandbox, initialisedSandbox, marker } from './support/cli.js';

type Marker = ReturnType<typeof marker>;

/** The encodings of any of `markers` found in `text`. */
function found(text: string | Buffer, markers: readonly Marker[]): string[] {
  const s = typeof text === 'string' ? text : text.toString('latin1');
  return markers.flatMap((m) => m.encodings.filter((e) => s.includes(e)));
}

/** One pass over /proc: every process's argv and environment that contain a marker encoding. */
function scanProc(markers: readonly Marker[], seen: Set<number>): string[] {
  const hits: string[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return hits;
  }
  for (const pid of pids) {
    for (const file of ['cmdline', 'environ']) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(`/proc/${pid}/${file}`);
      } catch {
        continue; // exited, or not ours to read
      }
      if (file === 'cmdline' && bytes.includes(BIN)) seen.add(Number(pid));
      for (const enc of found(bytes, markers)) hits.push(`/proc/${pid}/${file} contains ${enc}`);
    }
  }
  return hits;
}

interface Watched {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly hits: string[];
  readonly pidSeen: boolean;
  readonly scans: number;
}

/**
 * Runs the CLI with stdin held open for `holdMs` after `input` is written, scanning /proc
 * continuously until it exits.
 */
function runWatched(sb: Sandbox, args: readonly string[], markers: readonly Marker[], input?: string, holdMs = 400): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: sb.env, cwd: sb.home, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined);
    const seen = new Set<number>();
    const hits: string[] = [];
    let scans = 0;
    let done = false;
    const loop = (): void => {
      if (done) return;
      hits.push(...scanProc(markers, seen));
      scans++;
      setTimeout(loop, 2);
    };
    loop();
    if (input !== undefined) child.stdin.write(input);
    const closer = setTimeout(() => child.stdin.end(), holdMs);
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      done = true;
      clearTimeout(closer);
      clearTimeout(killer);
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        hits,
        pidSeen: child.pid !== undefined && seen.has(child.pid),
        scans,
      });
    });
  });
}

/** Every regular file under `root` (symlinks are not followed). */
function walk(root: string): string[] {
  const files: string[] = [];
  const visit = (path: string): void => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = readdirSync(path);
      } catch {
        return;
      }
      for (const n of names) visit(join(path, n));
    } else if (st.isFile()) {
      files.push(path);
    }
  };
  visit(root);
  return files;
}

function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code} (signal ${r.signal})\nstderr: ${r.stderr}`;
}

describe('secret values do not leak', () => {
  let sb: Sandbox;

  before(async () => {
    sb = await initialisedSandbox();
  });

  after(() => {
    sb.cleanup();
  });

  it('(a) no process argv or environment holds the value while create, put and get run', async (t) => {
    const m1 = marker();
    const m2 = marker();
    const runs: [string, Watched][] = [
      ['create --value-stdin', await runWatched(sb, ['create', 'leak/argv', '--value-stdin'], [m1, m2], m1.value)],
      ['get', await runWatched(sb, ['get', 'leak/argv'], [m1, m2])],
      ['put --value-stdin', await runWatched(sb, ['put', 'leak/argv', '--value-stdin'], [m1, m2], m2.value)],
      ['get --version-stage PREVIOUS', await runWatched(sb, ['get', 'leak/argv', '--version-stage', 'PREVIOUS'], [m1, m2])],
      ['get --json', await runWatched(sb, ['get', 'leak/argv', '--json'], [m1, m2])],
    ];
    for (const [what, w] of runs) {
      t.diagnostic(`${what}: ${w.scans} scans of /proc while it ran`);
      assert.equal(w.code, 0, `${what} exited ${w.code}: ${w.stderr}`);
      assert.ok(w.pidSeen, `${what}: the scan never saw the CLI process, so it proved nothing`);
      assert.deepEqual(w.hits, [], `${what}: the value is visible in /proc`);
    }
    // The commands did see the values (the scan looked for the right thing).
    assert.equal(runs[1]?.[1].stdout, m1.value);
    assert.equal(runs[3]?.[1].stdout, m1.value);
    assert.ok(runs[4]?.[1].stdout.includes(m2.value));
  });

  it('(b) failing commands print no encoding of the value', async (t) => {
    const m = marker();
    const m2 = marker();
    const m3 = marker();
    const big = marker();
    const all = [m, m2, m3, big];
    const token = '0123456789abcdef0123456789abcdef';
    await sb.ok(['create', 'leak/json', '--value-stdin'], { input: JSON.stringify({ user: 'app', password: m.value, nested: { pw: m.value } }) });
    await sb.ok(['create', 'leak/plain', '--value-stdin'], { input: m.value });
    await sb.ok(['put', 'leak/plain', '--value-stdin', '--client-request-token', token], { input: m2.value });

    const cases: { what: string; args: string[]; input?: string }[] = [
      { what: 'wrong --field on a JSON secret', args: ['get', 'leak/json', '--field', 'nope'] },
      { what: '--field on a non-JSON secret', args: ['get', 'leak/plain', '--field', 'password'] },
      { what: '--field and --json together', args: ['get', 'leak/plain', '--field', 'password', '--json'] },
      { what: 'unknown --version-id', args: ['get', 'leak/plain', '--version-id', 'no-such-version'] },
      { what: 'unknown --version-stage', args: ['get', 'leak/plain', '--version-stage', 'NOPE'] },
      { what: 'create of an existing name', args: ['create', 'leak/plain', '--value-stdin'], input: m.value },
      { what: 'put with a reused token and another value', args: ['put', 'leak/plain', '--value-stdin', '--client-request-token', token], input: m3.value },
      { what: 'put with an invalid token', args: ['put', 'leak/plain', '--value-stdin', '--client-request-token', 'short'], input: m.value },
      { what: 'value over 64 KiB', args: ['put', 'leak/plain', '--value-stdin'], input: `${big.value}${'x'.repeat(64 * 1024)}` },
      { what: 'put to a missing secret', args: ['put', 'leak/missing', '--value-stdin'], input: m.value },
      { what: 'update of a missing secret', args: ['update', 'leak/missing', '--value-stdin'], input: m.value },
      { what: 'create with an invalid name', args: ['create', 'bad name!', '--value-stdin'], input: m.value },
      { what: 'two value sources', args: ['put', 'leak/plain', '--value-stdin', '--generate'], input: m.value },
    ];

    const check = async (label: string, env: Record<string, string>): Promise<void> => {
      for (const c of cases) {
        const r = await sb.run(c.args, { ...(c.input !== undefined ? { input: c.input } : {}), env });
        assert.notEqual(r.code, 0, explain(`${label}${c.what} must fail`, r));
        assert.equal(r.signal, null, explain(`${label}${c.what}`, r));
        assert.deepEqual(found(r.stderr, all), [], explain(`${label}${c.what}: stderr leaks the value`, r));
        assert.deepEqual(found(r.stdout, all), [], `${label}${c.what}: stdout of a failing command leaks the value`);
      }
    };
    await check('', {});
    await check('SECRETS_DEBUG=1: ', { SECRETS_DEBUG: '1' });

    // The failures above changed nothing.
    assert.equal(await sb.ok(['get', 'leak/plain']), m2.value);

    // A tampered vault: one character of the ciphertext of leak/plain's versions changed (format
    // 2: of every value line, which names no secret).
    const original = readFileSync(sb.vault, 'utf8');
    const format2 = original.startsWith('# secrets vault, format 2.');
    const secretId = original
      .split('\n')
      .find((l) => l.includes('"kind":"secret"') && l.includes('"name":"leak/plain"'))
      ?.match(/"id":"([^"]+)"/)?.[1];
    assert.ok(format2 || secretId, 'the record of leak/plain is in the vault');
    const tampered = original
      .split('\n')
      .map((l) => {
        const ours = format2 ? l.startsWith('- {"kind":"value"') : l.includes('"kind":"version"') && l.includes(`"secret":"${secretId}"`);
        const ct = ours ? l.match(/"ct":"([^"]+)"/) : null;
        if (!ct?.[1] || ct.index === undefined) return l;
        const at = ct.index + 6 + Math.floor(ct[1].length / 2);
        return `${l.slice(0, at)}${l[at] === 'A' ? 'B' : 'A'}${l.slice(at + 1)}`;
      })
      .join('\n');
    assert.notEqual(tampered, original);
    const variants: [string, string][] = [
      ['tampered ciphertext', tampered],
      ['truncated vault', original.slice(0, Math.floor(original.length * 0.7))],
    ];
    try {
      for (const [what, text] of variants) {
        writeFileSync(sb.vault, text, { mode: 0o600 });
        for (const args of [
          ['get', 'leak/plain'],
          ['get', 'leak/plain', '--version-stage', 'PREVIOUS'],
          ['get', 'leak/json', '--field', 'password'],
          ['doctor'],
        ]) {
          for (const env of [{}, { SECRETS_DEBUG: '1' }]) {
            const r = await sb.run(args, { env });
            assert.notEqual(r.code, 0, explain(`${what}: secrets ${args.join(' ')} must fail`, r));
            assert.deepEqual(found(r.stderr, all), [], explain(`${what}: secrets ${args.join(' ')} leaks the value on stderr`, r));
            assert.deepEqual(found(r.stdout, all), [], `${what}: secrets ${args.join(' ')} leaks the value on stdout`);
          }
        }
      }
    } finally {
      writeFileSync(sb.vault, original, { mode: 0o600 });
    }
    t.diagnostic(`${cases.length * 2} failing commands and ${variants.length * 8} runs against a damaged vault checked`);
    assert.equal(await sb.ok(['get', 'leak/plain']), m2.value);
  });

  it('(c) after a full lifecycle no file under HOME, TMPDIR, state, config or /dev/shm holds the value', async (t) => {
    const values = [marker(), marker(), marker(), marker()];
    const [a, b, c, d] = values as [Marker, Marker, Marker, Marker];
    const name = 'leak/lifecycle';
    await sb.ok(['create', name, '--value-stdin', '--description', 'lifecycle', '--tag', 'env=test'], { input: a.value });
    await sb.ok(['put', name, '--value-stdin'], { input: b.value });
    assert.equal(await sb.ok(['get', name]), b.value);
    assert.equal(await sb.ok(['get', name, '--version-stage', 'PREVIOUS']), a.value);
    await sb.ok(['update', name, '--value-stdin', '--description', 'changed'], { input: c.value });
    await sb.ok(['create', 'leak/json-lifecycle', '--value-stdin'], { input: JSON.stringify({ password: d.value }) });
    assert.equal(await sb.ok(['get', 'leak/json-lifecycle', '--field', 'password']), d.value);
    assert.ok((await sb.ok(['get', name, '--json'])).includes(c.value));
    await sb.ok(['tag', name, 'owner=ops']);
    await sb.ok(['describe', name]);
    await sb.ok(['versions', name, '--json']);
    await sb.ok(['list']);
    await sb.ok(['delete', name, '--yes']);
    await sb.ok(['restore', name]);
    assert.equal(await sb.ok(['get', name]), c.value);
    await sb.ok(['doctor']);

    const roots = [
      sb.home,
      sb.env['TMPDIR'] as string,
      sb.env['XDG_STATE_HOME'] as string,
      sb.env['XDG_CONFIG_HOME'] as string,
      sb.env['XDG_DATA_HOME'] as string,
      '/dev/shm',
    ];
    const files = [...new Set(roots.filter((r) => existsSync(r)).flatMap(walk))];
    assert.ok(files.includes(sb.vault), 'the walk covers the vault file');
    const hits: string[] = [];
    for (const f of files) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(f);
      } catch {
        continue;
      }
      for (const enc of found(bytes, values)) hits.push(`${f} contains ${enc}`);
    }
    t.diagnostic(`${files.length} files scanned under ${roots.filter((r) => existsSync(r)).join(', ')}`);
    assert.deepEqual(hits, [], 'a secret value (in some encoding) was found on disk');
  });
});
