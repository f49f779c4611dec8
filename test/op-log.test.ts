// The format-2 log store (store/op-log.ts) on real files: reads from the start and from an
// offset, appends under the lock, torn and abandoned writes (made by writing partial bytes, and
// by killing writer processes), concurrent writers, symlinks, payloads read by position, and
// compaction's atomic replace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { SecretsError } from '../src/core/errors.js';
import type { Entry, Payload } from '../src/core/ops.js';
import { replay } from '../src/core/replay.js';
import { ASYNC_FILES } from '../src/store/file-access.js';
import { encodeLine, lineHash, signedEntry, type StateLine } from '../src/store/op-codec.js';
import { type AppendBatch, type LogRead, OpLog, replayInput, serializeLog } from '../src/store/op-log.js';
import { belowFloor, type TrustFloor } from '../src/store/trust.js';
import { ROOT } from './support/cli.js';
import { APP_RW, fixtureLog, LinearLog, REAL_REPLAY, type TestMember, testMember } from './support/oplog.js';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'vault-format-v2', 'vault.yaml');
const WRITER = join(ROOT, 'dist', 'test', 'support', 'oplog-writer.js');

let dir: string;
let fixture: { log: LinearLog; alice: TestMember; bob: TestMember };
let counter = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oplog-'));
  fixture = await fixtureLog();
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh copy of the fixture vault. */
function copy(): OpLog {
  const path = join(dir, `vault-${++counter}.yaml`);
  copyFileSync(FIXTURE, path);
  return new OpLog({ path, lockTimeoutMs: 10_000 });
}

function code(c: string, message?: RegExp) {
  return (err: unknown): boolean => err instanceof SecretsError && err.code === c && (message === undefined || message.test(err.message));
}

/** bob puts a new value on app/db, after the read's last entry (or `after`: the entry he appended last). */
function bobPuts(read: LogRead, label: string, after?: { hash: string; seq: number; at: string }): AppendBatch {
  const { bob, log } = fixture;
  const last = read.entries[read.entries.length - 1];
  const parent = last?.hash ?? after?.hash ?? log.head;
  assert.ok(parent !== undefined);
  const seq = (after?.seq ?? Math.max(...read.entries.filter((e) => e.entry.by === bob.keys.id).map((e) => e.entry.seq))) + 1;
  const at = after !== undefined ? new Date(Date.parse(after.at) + 60_000).toISOString() : '2026-01-05T10:00:00.000Z';
  const value: Payload = { kind: 'value', n: Buffer.alloc(24, 1).toString('base64'), ct: Buffer.from(label).toString('base64') };
  const keys: Payload = { kind: 'keys', keys: new Map([fixture.alice.keys.id, bob.keys.id].map((id) => [id, Buffer.alloc(80, 2).toString('base64')])) };
  const entry = signedEntry<Entry>(bob.identity, log.G, {
    kind: 'op',
    op: 'PutSecretValue',
    body: {
      secret: log.secretId('app/db'),
      name: 'app/db',
      value: { version: label, type: 'string', v: lineHash(encodeLine(value)), k: lineHash(encodeLine(keys)) },
    },
    by: bob.keys.id,
    seq,
    parents: [parent],
    at,
  });
  return { payloads: [value, keys], entry };
}

function batchBytes(batch: AppendBatch): Buffer {
  return serializeLog([...batch.payloads, batch.entry]).subarray(serializeLog([]).length);
}

function hashes(read: LogRead): string[] {
  return read.entries.map((e) => e.hash);
}

describe('reading', () => {
  it('a whole read gives every entry and payload with its hash, and replays', async () => {
    const store = copy();
    const read = await store.read();
    assert.deepEqual(
      hashes(read),
      fixture.log.entries.map((e) => e.hash),
    );
    assert.equal(read.payloads.size, 4);
    assert.equal(read.end, statSync(store.path).size);
    assert.equal(read.ignored, 0);
    const result = replay(replayInput(read), REAL_REPLAY);
    assert.equal(result.heads.length, 1);
  });

  it('a payload is read by its position and checked against its hash', async () => {
    const store = copy();
    const read = await store.read();
    for (const [hash, p] of read.payloads) assert.deepEqual(await store.payload(hash, p.place), p.payload);
    const [first, second] = [...read.payloads];
    assert.ok(first && second);
    await assert.rejects(store.payload(first[0], second[1].place), code('INTEGRITY', /does not hash/));
    await assert.rejects(store.payload(first[0], { ...first[1].place, offset: first[1].place.offset + 1 }), code('INTEGRITY', /not where/));
  });

  it('an index-only read hashes payloads without parsing them, at the same positions', async () => {
    const store = copy();
    const full = await store.read();
    const index = await store.read(undefined, 'index');
    assert.deepEqual(hashes(index), hashes(full));
    for (const [hash, p] of full.payloads) assert.deepEqual(index.payloads.get(hash)?.place, p.place);
  });

  it('a read from the end of any entry equals the whole read from there on', async () => {
    const store = copy();
    const full = await store.read();
    for (const [i, e] of full.entries.entries()) {
      const from = { offset: e.place.offset + e.place.length + 1, line: e.place.line + 1 };
      const part = await store.read(from);
      assert.deepEqual(part.entries, full.entries.slice(i + 1));
      assert.deepEqual(
        [...part.payloads.keys()],
        [...full.payloads].filter(([, p]) => p.place.offset >= from.offset).map(([h]) => h),
      );
      assert.equal(part.end, full.end);
      assert.equal(part.endLine, full.endLine);
    }
  });

  it('a read from an offset that is not a line boundary, or past the end, is refused', async () => {
    const store = copy();
    const full = await store.read();
    const e = full.entries[2];
    assert.ok(e);
    await assert.rejects(store.read({ offset: e.place.offset + 5, line: 4 }), code('INTEGRITY', /no line boundary/));
    await assert.rejects(store.read({ offset: full.end + 10, line: 99 }), code('INTEGRITY', /shorter/));
  });

  it('synchronous and asynchronous file access read the same', async () => {
    const store = copy();
    const async = new OpLog({ path: store.path, lockTimeoutMs: 10_000, files: ASYNC_FILES });
    assert.deepEqual(await async.read(), await store.read());
  });

  it('a damaged line is refused with its number; a complete garbage line after the last entry too', async () => {
    const store = copy();
    const text = readFileSync(store.path, 'utf8').split('\n');
    text[3] = (text[3] as string).replace('"seq":3', '"seq":03');
    writeFileSync(store.path, text.join('\n'));
    await assert.rejects(store.read(), code('DAMAGED_VAULT', /line 4/));
    const other = copy();
    appendFileSync(other.path, '- {"kind":"value"}\n');
    await assert.rejects(other.read(), code('DAMAGED_VAULT'));
    await assert.rejects(
      other.append((r) => bobPuts(r, 'x')),
      code('DAMAGED_VAULT'),
    );
  });

  it('a file without the format-2 header is refused', async () => {
    const store = copy();
    writeFileSync(store.path, readFileSync(store.path, 'utf8').replace('format 2', 'format 1'));
    await assert.rejects(store.read(), code('DAMAGED_VAULT', /header/));
  });

  it('state lines are read only in the run a checkpoint closes', async () => {
    const store = copy();
    const state: StateLine = {
      kind: 'state',
      id: 'x',
      name: 'app/x',
      tags: new Map(),
      stages: new Map(),
      versions: [],
      created: '2026-01-05T09:00:00.000Z',
      setBy: '0123456789abcdef',
    };
    appendFileSync(store.path, `- ${encodeLine(state)}\n`);
    await assert.rejects(store.read(), code('DAMAGED_VAULT', /state/));
  });
});

describe('appending', () => {
  it('an append is read back whole and replays; the next one reads on from the last end', async () => {
    const store = copy();
    const before = readFileSync(store.path);
    const first = await store.append((r) => bobPuts(r, 'v-a'));
    assert.ok(first);
    assert.equal(first.truncated, 0);
    assert.equal(first.offset, before.length);
    assert.deepEqual(readFileSync(store.path).subarray(0, before.length), before);
    const second = await store.append((r) => {
      assert.deepEqual(r.entries, []);
      return bobPuts(r, 'v-b', { hash: first.hash, seq: 3, at: '2026-01-05T10:00:00.000Z' });
    }, first);
    assert.ok(second);
    const read = await store.read();
    assert.deepEqual(hashes(read).slice(-2), [first.hash, second.hash]);
    assert.deepEqual(
      read.entries.slice(-2).map((e) => e.place),
      [first.place, second.place],
    );
    assert.equal(read.endLine, second.endLine);
    for (const h of [...first.payloads, ...second.payloads]) assert.ok(read.payloads.has(h));
    const result = replay(replayInput(read), REAL_REPLAY);
    assert.deepEqual(result.notes, []);
    assert.equal([...result.state.secrets.values()][0]?.versions.length, 4);
  });

  it('an append after an entry whose line no longer hashes to it is refused, and writes nothing', async () => {
    const store = copy();
    const first = await store.append((r) => bobPuts(r, 'v-a'));
    assert.ok(first);
    const text = readFileSync(store.path, 'utf8');
    writeFileSync(store.path, text.replace('"owner":"bob"', '"owner":"bub"'));
    const changed = readFileSync(store.path);
    await assert.rejects(
      store.append((r) => bobPuts(r, 'v-b'), { ...first, place: { ...first.place, offset: first.place.offset - 200 } }),
      code('INTEGRITY', /changed before what this writer verified/),
    );
    await assert.rejects(
      store.append((r) => bobPuts(r, 'v-b'), { ...first, hash: lineHash('another') }),
      code('INTEGRITY'),
    );
    assert.deepEqual(readFileSync(store.path), changed);
  });

  it('appends through asynchronous file access', async () => {
    const store = copy();
    const async = new OpLog({ path: store.path, lockTimeoutMs: 10_000, files: ASYNC_FILES });
    const first = await async.append((r) => bobPuts(r, 'v-a'));
    assert.ok(first);
    assert.deepEqual(hashes(await store.read()).slice(-1), [first.hash]);
  });

  it('a build that returns nothing writes nothing', async () => {
    const store = copy();
    const before = readFileSync(store.path);
    assert.equal(await store.append(() => undefined), undefined);
    assert.deepEqual(readFileSync(store.path), before);
  });

  it('a torn write, cut at every point, is ignored by readers and truncated by the next writer, and only it', async () => {
    const store = copy();
    const original = readFileSync(store.path);
    const before = await store.read();
    const torn = batchBytes(bobPuts(before, 'torn'));
    const step = Math.max(1, Math.floor(torn.length / 97));
    for (let cut = 1; cut < torn.length; cut += step) {
      writeFileSync(store.path, Buffer.concat([original, torn.subarray(0, cut)]));
      const read = await store.read();
      assert.deepEqual(hashes(read), hashes(before), `cut at ${cut}`);
      assert.equal(read.ignored, cut);
      assert.equal(read.payloads.size, before.payloads.size);
    }
    const next = await store.append((r) => bobPuts(r, 'next'));
    assert.ok(next);
    assert.ok(next.truncated > 0);
    const expected = Buffer.concat([original, batchBytes(bobPuts(before, 'next'))]);
    assert.deepEqual(readFileSync(store.path), expected);
  });

  it('a trailing run of whole payload lines is ignored, then truncated', async () => {
    const store = copy();
    const original = readFileSync(store.path);
    const before = await store.read();
    const batch = bobPuts(before, 'abandoned');
    appendFileSync(store.path, serializeLog(batch.payloads).subarray(serializeLog([]).length));
    const read = await store.read();
    assert.deepEqual(hashes(read), hashes(before));
    assert.equal(read.payloads.size, before.payloads.size);
    assert.ok(read.ignored > 0);
    const next = await store.append((r) => bobPuts(r, 'next'));
    assert.equal(next?.truncated, read.ignored);
    assert.deepEqual(readFileSync(store.path), Buffer.concat([original, batchBytes(bobPuts(before, 'next'))]));
  });

  it('a whole entry without its final newline is torn too', async () => {
    const store = copy();
    const before = await store.read();
    const bytes = batchBytes(bobPuts(before, 'no-newline'));
    appendFileSync(store.path, bytes.subarray(0, bytes.length - 1));
    assert.deepEqual(hashes(await store.read()), hashes(before));
  });

  it('a symlinked vault is refused for reads and appends, and its target is untouched', async () => {
    const store = copy();
    const link = join(dir, `link-${++counter}.yaml`);
    symlinkSync(store.path, link);
    const before = readFileSync(store.path);
    const linked = new OpLog({ path: link, lockTimeoutMs: 10_000 });
    await assert.rejects(linked.read(), code('STORAGE', /symbolic link/));
    await assert.rejects(
      linked.append((r) => bobPuts(r, 'x')),
      code('STORAGE', /symbolic link/),
    );
    assert.deepEqual(readFileSync(store.path), before);
  });

  it('create makes a new file and never replaces one', async () => {
    const path = join(dir, `new-${++counter}.yaml`);
    const store = new OpLog({ path, lockTimeoutMs: 10_000 });
    store.create(fixture.log.lines);
    assert.deepEqual(readFileSync(path), readFileSync(FIXTURE));
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.throws(() => store.create(fixture.log.lines), code('STORAGE', /EEXIST/));
  });

  it('replace (compaction) swaps the whole file atomically under the lock', async () => {
    const store = copy();
    await store.append((r) => bobPuts(r, 'gone'));
    let seen = 0;
    const out = await store.replace((log) => {
      seen = log.entries.length;
      return { lines: fixture.log.lines, result: 'done' };
    });
    assert.equal(out, 'done');
    assert.equal(seen, fixture.log.entries.length + 1, 'the builder sees the log as it stands, under the lock');
    assert.deepEqual(readFileSync(store.path), readFileSync(FIXTURE));
  });
});

describe('tampering', () => {
  it('any single-byte change to the file is refused by the read or by replay, or leaves a history below the floor', async (t) => {
    const original = readFileSync(FIXTURE);
    const store = copy();
    const before = replay(replayInput(await store.read()), REAL_REPLAY);
    const floor: TrustFloor = { vault: before.state.vault, path: store.path, heads: before.heads, seqs: before.seqs };
    const outcomes = new Map<string, number>();
    const count = (what: string): void => void outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: original.length - 1 }), fc.integer({ min: 0, max: 255 }), async (at, byte) => {
        if (original[at] === byte) return;
        const changed = Buffer.from(original);
        changed[at] = byte;
        writeFileSync(store.path, changed);
        let read: LogRead;
        try {
          read = await store.read();
        } catch (err) {
          assert.ok(err instanceof SecretsError && (err.code === 'DAMAGED_VAULT' || err.code === 'INTEGRITY'), String(err));
          return count('read refused');
        }
        let result;
        try {
          result = replay(replayInput(read), REAL_REPLAY);
        } catch (err) {
          assert.ok(err instanceof SecretsError && err.code === 'INTEGRITY', String(err));
          return count('replay refused');
        }
        assert.ok(belowFloor(floor, new Set(hashes(read)), result.seqs) !== undefined, `byte ${at} set to ${byte} went unnoticed`);
        count('below the floor');
      }),
      { numRuns: 1500 },
    );
    writeFileSync(store.path, original);
    t.diagnostic([...outcomes].map(([k, v]) => `${k}: ${v}`).join(', '));
    assert.ok((outcomes.get('read refused') ?? 0) > 0 && (outcomes.get('replay refused') ?? 0) > 0);
  });
});

// ---------------------------------------------------------------------------------------------
// Processes

interface Run {
  readonly acked: { hash: string; truncated: number }[];
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
  readonly stderr: string;
}

/** Runs the writer process; kills it with SIGKILL after `killAfterMs` if given. */
function writer(path: string, member: string, count: number, valueBytes: number, killAfterMs?: number, tear?: number): Promise<Run> {
  return new Promise((resolve) => {
    const args = [WRITER, path, member, String(count), String(valueBytes), ...(tear !== undefined ? [String(tear)] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const acked = out
        .split('\n')
        .filter((l) => /^\S{44} \d+$/.test(l))
        .map((l) => {
          const [hash, truncated] = l.split(' ') as [string, string];
          return { hash, truncated: Number(truncated) };
        });
      resolve({ acked, signal, code, stderr: err });
    });
  });
}

/** A vault whose members w0…w(n-1) may write app/*. */
async function teamVault(n: number): Promise<OpLog> {
  const alice = await testMember('alice');
  const log = new LinearLog();
  log.op(alice, 'CreateVault', { vault: '0b6f4c1e-7d2a-4f3b-9c55-2e8a1d9f6b70', name: 'team', format: 2, creator: alice.keys });
  log.op(alice, 'PutPolicy', { policy: 'app-rw', doc: APP_RW });
  for (let i = 0; i < n; i++) {
    const w = await testMember(`w${i}`);
    log.op(alice, 'AddMember', { member: w.keys, roles: ['member'] });
    log.op(alice, 'AttachPolicy', { policy: 'app-rw', member: w.keys.id });
  }
  const store = new OpLog({ path: join(dir, `team-${++counter}.yaml`), lockTimeoutMs: 60_000 });
  store.create(log.lines);
  return store;
}

describe('processes', () => {
  it(
    '4 processes appending 25 entries each under the lock, read all along without a lock: all 100 present, the file valid, one chain',
    { timeout: 180_000 },
    async (t) => {
      const store = await teamVault(4);
      const writing = Promise.all([0, 1, 2, 3].map((i) => writer(store.path, `w${i}`, 25, 2000)));
      let done = false;
      void writing.then(() => (done = true));
      // Readers take no lock: each read sees a prefix of the history (an append in progress is a
      // trailing run or a torn line), so the entries never shrink and always replay.
      let reads = 0;
      let seen = 0;
      let tails = 0;
      while (!done) {
        const read = await new OpLog({ path: store.path, lockTimeoutMs: 10_000, files: ASYNC_FILES }).read();
        assert.ok(read.entries.length >= seen);
        seen = read.entries.length;
        if (read.ignored > 0) tails++;
        replay(replayInput(read), REAL_REPLAY);
        reads++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.ok(reads > 1);
      const runs = await writing;
      for (const r of runs) assert.equal(r.code, 0, r.stderr);
      const read = await store.read();
      const all = new Set(hashes(read));
      for (const r of runs) for (const a of r.acked) assert.ok(all.has(a.hash));
      const result = replay(replayInput(read), REAL_REPLAY);
      assert.deepEqual(result.notes, []);
      assert.equal(result.state.secrets.size, 100);
      assert.equal(result.heads.length, 1);
      t.diagnostic(`${reads} reads during the appends, ${tails} of them with an append in progress at the end`);
    },
  );

  it(
    'writers killed at random points, and one per round killed mid-write holding the lock, never leave a log that readers refuse, nor lose an acknowledged entry',
    { timeout: 300_000 },
    async (t) => {
      const store = await teamVault(3);
      const ROUNDS = 40;
      const acked = new Set<string>();
      let killed = 0;
      let truncatedBytes = 0;
      let truncations = 0;
      let tornSeen = 0;
      // A typical run of one writer doing 3 appends of 60 KB values, to aim the kills.
      const t0 = Date.now();
      const calibration = await writer(store.path, 'w0', 3, 60_000);
      assert.equal(calibration.code, 0, calibration.stderr);
      const typical = Date.now() - t0;
      for (const a of calibration.acked) acked.add(a.hash);
      for (let round = 0; round < ROUNDS; round++) {
        const runs = await Promise.all([
          writer(store.path, 'w0', 3, 60_000, Math.floor(Math.random() * typical * 1.2)),
          writer(store.path, 'w1', 3, 60_000, round % 2 === 0 ? Math.floor(typical * (0.5 + Math.random() * 0.6)) : undefined),
          writer(store.path, 'w2', 1, 60_000, undefined, 0.01 + Math.random() * 0.98),
        ]);
        for (const r of runs) {
          if (r.signal === 'SIGKILL') killed++;
          else assert.equal(r.code, 0, r.stderr);
          for (const a of r.acked) {
            acked.add(a.hash);
            if (a.truncated > 0) {
              truncations++;
              truncatedBytes += a.truncated;
            }
          }
        }
        // No writer is alive: the file is whatever the kills left, and it must read and replay.
        assert.equal(runs[2]?.signal, 'SIGKILL', runs[2]?.stderr);
        const read = await store.read();
        if (read.ignored > 0) tornSeen++;
        const present = new Set(hashes(read));
        for (const h of acked) assert.ok(present.has(h), `round ${round}: acknowledged ${h} is missing`);
        const result = replay(replayInput(read), REAL_REPLAY);
        assert.deepEqual(result.notes, []);
        assert.equal(result.heads.length, 1);
      }
      t.diagnostic(
        `${ROUNDS} rounds, typical writer ${typical} ms: ${killed} kills, ${tornSeen} torn tails seen by readers, ${truncations} truncations by the next writer (${truncatedBytes} bytes), ${acked.size} entries acknowledged`,
      );
      assert.ok(killed > ROUNDS);
      assert.ok(truncations > 0);
    },
  );
});
