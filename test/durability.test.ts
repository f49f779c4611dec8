// Durability of writes, shown by the system calls they make (a SIGKILL cannot show what survives
// a power cut; the order of fsync and rename can): each run of the real binary is traced with
// `strace -f -y` and the test reads the trace.
//
// - A vault write appends: the vault is opened O_APPEND and fsynced before the lock is released
//   and before the write's audit event.
// - A write that replaces the vault (`secrets compact`): the temp file is opened O_CREAT|O_EXCL
//   next to the vault, fsynced, renamed over the vault, and then the directory is fsynced, so
//   the rename survives a crash.
// - The trust state is written the same way.
// - A `get`: the audit log is fsynced before the first byte of the value is written to stdout.
//
// strace is needed (CI installs it); without it the suite is skipped with a reason, except
// under CI=true, where it fails.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, marker, type Sandbox, sandbox } from './support/cli.js';

/** Why strace cannot trace here, or undefined when it can. */
function straceUnavailable(): string | undefined {
  const probe = spawnSync('strace', ['-f', '-o', '/dev/null', '-e', 'trace=fsync', 'true'], { encoding: 'utf8' });
  if (probe.error) return `strace is not installed (apt-get install strace): ${probe.error.message}`;
  if (probe.status !== 0) return `strace cannot trace here: ${probe.stderr.trim().split('\n')[0] ?? ''}`;
  return undefined;
}

/** The skip reason for node:test; never skips under CI=true (the suite fails there instead). */
function skipReason(reason: string | undefined): string | undefined {
  return process.env['CI'] === 'true' ? undefined : reason;
}

/** One traced system call: the call, its raw argument text and, with -y, the paths of fd arguments. */
interface Call {
  readonly index: number;
  readonly name: string;
  readonly args: string;
}

/** Parses `strace -f -y` output: one Call per call started (resumed halves are dropped). */
function parseTrace(text: string): Call[] {
  const calls: Call[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+\s+([a-z0-9_]+)\((.*)$/.exec(line);
    if (!m) continue; // "<... resumed>", "+++ exited", signals
    calls.push({ index: calls.length, name: m[1] as string, args: (m[2] as string).replace(/ <unfinished \.\.\.>$/, '') });
  }
  return calls;
}

/** Runs the binary under strace; returns its exit code, stdout and the parsed trace. */
function traced(
  sb: Sandbox,
  args: readonly string[],
  syscalls: string,
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string; calls: Call[]; raw: string }> {
  const traceFile = join(sb.home, `trace-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  return new Promise((resolve, reject) => {
    const child = spawn('strace', ['-f', '-y', '-qq', '-s', '48', '-o', traceFile, '-e', `trace=${syscalls}`, process.execPath, BIN, ...args], {
      env: sb.env,
      cwd: sb.home,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const raw = readFileSync(traceFile, 'utf8');
      resolve({ code, stdout, stderr, calls: parseTrace(raw), raw });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The first call matching, after `from`; fails with the trace when there is none. */
function find(calls: readonly Call[], what: string, test: (c: Call) => boolean, from = -1): Call {
  const c = calls.find((x) => x.index > from && test(x));
  assert.ok(c, `no ${what} in the trace (after call #${from}):\n${calls.map((x) => `#${x.index} ${x.name}(${x.args}`).join('\n')}`);
  return c;
}

/** `fsync(N</path>)` or `fdatasync(N</path>)` of exactly `path`. */
const syncs =
  (path: string) =>
  (c: Call): boolean =>
    (c.name === 'fsync' || c.name === 'fdatasync') && c.args.startsWith(`${/^\d+/.exec(c.args)?.[0] ?? ''}<${path}>)`);

/** A rename of `from` (a path prefix) to exactly `to`, whichever rename call libc used. */
const renames =
  (fromPrefix: string, to: string) =>
  (c: Call): boolean =>
    c.name.startsWith('rename') && c.args.includes(`"${fromPrefix}`) && c.args.includes(`"${to}"`);

const VAULT_WRITE_CALLS = 'fsync,fdatasync,rename,renameat,renameat2,openat,unlink,unlinkat';

/** Asserts the atomic-write sequence for `target`, starting after call `from`; returns the directory fsync. */
function assertAtomicWrite(calls: readonly Call[], target: string, from = -1): Call {
  const dir = dirname(target);
  const tmpPrefix = join(dir, `.${basename(target)}.tmp-`);
  const open = find(
    calls,
    `an O_EXCL open of a temp file for ${target}`,
    (c) => c.name === 'openat' && c.args.includes(`"${tmpPrefix}`) && /O_CREAT\|O_EXCL/.test(c.args),
    from,
  );
  const tmp = /"([^"]+)"/.exec(open.args)?.[1] as string;
  const tmpSync = find(calls, `an fsync of ${tmp}`, syncs(tmp), open.index);
  const rename = find(calls, `the rename of ${tmp} over ${target}`, renames(tmp, target), open.index);
  assert.ok(tmpSync.index < rename.index, `the temp file is fsynced (#${tmpSync.index}) before the rename (#${rename.index})`);
  const dirSync = find(calls, `an fsync of the directory ${dir} after the rename`, syncs(dir), rename.index);
  return dirSync;
}

describe('durable writes, by their system calls', { skip: skipReason(straceUnavailable()) }, () => {
  let sb: Sandbox;
  before(async () => {
    sb = sandbox();
    await sb.ok(['init', '--member-name', 'alice']);
    await sb.ok(['create', 'd/one', '--value-stdin'], { input: marker().value });
  });
  after(() => sb?.cleanup());

  it('a put: appended to the vault opened O_APPEND, fsynced before the lock goes; the trust state written atomically; then the audit log fsynced', async () => {
    const r = await traced(sb, ['put', 'd/one', '--value-stdin'], VAULT_WRITE_CALLS, marker().value);
    assert.equal(r.code, 0, `put under strace: ${r.stderr}`);
    const lock = find(r.calls, 'the lock taken', (c) => c.name === 'openat' && c.args.includes(`"${sb.vault}.lock"`) && /O_CREAT\|O_EXCL/.test(c.args));
    const open = find(
      r.calls,
      'the vault opened to append',
      (c) => c.name === 'openat' && c.args.includes(`"${sb.vault}"`) && /O_APPEND/.test(c.args),
      lock.index,
    );
    const vaultSync = find(r.calls, 'an fsync of the vault', syncs(sb.vault), open.index);
    const unlock = find(r.calls, 'the lock released', (c) => c.name.startsWith('unlink') && c.args.includes(`"${sb.vault}.lock"`), open.index);
    assert.ok(vaultSync.index < unlock.index, `the append is fsynced (#${vaultSync.index}) before the lock is released (#${unlock.index})`);
    assert.ok(!r.calls.some((c) => c.name.startsWith('rename') && c.args.includes(`"${sb.vault}"`)), 'a write appends: it never replaces the vault');
    const trustDir = join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'trust');
    const trustFile = find(r.calls, 'the trust file write', (c) => c.name === 'openat' && c.args.includes(`"${trustDir}/.`) && c.args.includes('O_EXCL'));
    const trustTarget = join(trustDir, /"[^"]*\/\.([^"]+\.json)\.tmp-/.exec(trustFile.args)?.[1] ?? '');
    assertAtomicWrite(r.calls, trustTarget);
    const auditDir = join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit');
    const auditSync = find(r.calls, 'an fsync of the audit log', (c) => c.name === 'fsync' && c.args.includes(`<${auditDir}/`) && c.args.includes('.jsonl>'));
    assert.ok(auditSync.index > vaultSync.index, 'the write is recorded after it is durable');
  });

  it('a compaction: temp file fsynced, renamed over the vault, directory fsynced', async () => {
    const r = await traced(sb, ['compact'], VAULT_WRITE_CALLS);
    assert.equal(r.code, 0, `compact under strace: ${r.stderr}`);
    assertAtomicWrite(r.calls, sb.vault);
  });

  it('a get: the audit log is fsynced before the first byte of the value reaches stdout', async () => {
    const v = marker().value;
    await sb.ok(['put', 'd/one', '--value-stdin'], { input: v });
    const r = await traced(sb, ['get', 'd/one'], 'fsync,fdatasync,openat,write,writev,pwrite64,pwritev');
    assert.equal(r.code, 0, `get under strace: ${r.stderr}`);
    assert.equal(r.stdout, v);
    const auditDir = join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit');
    const out = find(
      r.calls,
      'the write of the value to stdout',
      (c) => /^(write|writev|pwrite64|pwritev)$/.test(c.name) && /^1</.test(c.args) && c.args.includes('MARKER-'),
    );
    const auditSync = find(r.calls, 'an fsync of the audit log', (c) => c.name === 'fsync' && c.args.includes(`<${auditDir}/`) && c.args.includes('.jsonl>'));
    assert.ok(auditSync.index < out.index, `the audit log is fsynced (#${auditSync.index}) before the value is written (#${out.index})`);
  });
});
