// The per-machine verified state of a format-2 vault (store/verified-state.ts): what a `get`
// reads (the header, the log after the tail, one bucket, two payload lines), and that anything
// forged, stale or rewritten is not taken for verified; then, through the built binary, what a
// `get` served from it may and may not return.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Entry } from '../src/core/ops.js';
import { replay } from '../src/core/replay.js';
import { SYNC_FILES, type FileAccess } from '../src/store/file-access.js';
import { encodeLine, lineHash, signedEntry } from '../src/store/op-codec.js';
import { type LogRead, OpLog, replayInput } from '../src/store/op-log.js';
import { decodeKey, identityFromSeed, verifiedStateKey } from '../src/crypto/identity.js';
import {
  BUCKETS,
  type BucketSecret,
  bucketOf,
  bucketsOf,
  governanceOf,
  type PayloadPlaces,
  type VerifiedHeader,
  verifiedStateDir,
  VerifiedStateStore,
} from '../src/store/verified-state.js';
import { initialisedSandbox, ROOT, type Sandbox, sandbox } from './support/cli.js';
import { fixtureLog, REAL_REPLAY } from './support/oplog.js';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'vault-format-v2', 'vault.yaml');
const KEY = new Uint8Array(32).fill(7);

let dir: string;
let n = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'verified-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** File access that counts what it is asked to do. */
function counting(): { files: FileAccess; calls: string[] } {
  const calls: string[] = [];
  const files: FileAccess = {
    ...SYNC_FILES,
    async open(path, flags, mode) {
      calls.push(`open ${path.split('/').pop()}`);
      return SYNC_FILES.open(path, flags, mode);
    },
    async readFile(path) {
      calls.push(`readFile ${(path.split('/').pop() as string).slice(0, 8)}`);
      return SYNC_FILES.readFile(path);
    },
  };
  return { files, calls };
}

/** A copy of the fixture vault, verified in full and saved. */
async function verified(): Promise<{ log: OpLog; store: VerifiedStateStore; header: VerifiedHeader; read: LogRead; stateDir: string }> {
  const path = join(dir, `vault-${++n}.yaml`);
  copyFileSync(FIXTURE, path);
  const log = new OpLog({ path, lockTimeoutMs: 10_000 });
  const read = await log.read();
  const result = replay(replayInput(read), REAL_REPLAY);
  const last = read.entries[read.entries.length - 1];
  assert.ok(last);
  const stateDir = join(dir, `state-${n}`);
  const store = new VerifiedStateStore(stateDir, KEY);
  const header = store.save(
    {
      vault: result.state.vault,
      path,
      file: read.file,
      tail: { hash: last.hash, place: last.place },
      tailAt: last.entry.at,
      heads: result.heads,
      seqs: result.seqs,
      governance: governanceOf(result.state),
    },
    bucketsOf(result.state, read),
  );
  return { log, store, header, read, stateDir };
}

describe('verified state', () => {
  it('a get reads the header, the log after the tail, one bucket and two payload lines, and gets the CURRENT value', async () => {
    const { log, stateDir, read, header: written } = await verified();
    const saved = written.governance;
    const { files, calls } = counting();
    const store = new VerifiedStateStore(stateDir, KEY, files);
    const counted = new OpLog({ path: log.path, lockTimeoutMs: 10_000, files });
    const header = await store.header();
    assert.ok(header);
    assert.equal((await store.freshness(header, counted)).status, 'current');
    for (const key of ['members', 'policies', 'resourcePolicies', 'anchors'] as const) assert.deepEqual([...header.governance[key]], [...saved[key]]);
    assert.equal(header.governance.creator, saved.creator);
    const [row] = (await store.secretsNamed(header, 'app/db')) ?? [];
    assert.ok(row);
    const current = row.secret.stages.get('CURRENT') as string;
    const version = row.secret.versions.find((v) => v.id === current);
    const places = row.payloads.get(current);
    assert.ok(version && places);
    const value = await counted.payload(version.v, places.v);
    const keys = await counted.payload(version.k, places.k);
    assert.deepEqual(value, read.payloads.get(version.v)?.payload);
    assert.deepEqual(keys, read.payloads.get(version.k)?.payload);
    assert.deepEqual(calls, [
      'readFile header',
      'open ' + log.path.split('/').pop(),
      `readFile b-${header.buckets[bucketOf('app/db')]?.slice(0, 6)}`,
      `open ${log.path.split('/').pop()}`,
      `open ${log.path.split('/').pop()}`,
    ]);
  });

  it('a header with any byte changed, or checked with another key, is not taken', async () => {
    const { stateDir } = await verified();
    assert.ok(await new VerifiedStateStore(stateDir, KEY).header());
    assert.equal(await new VerifiedStateStore(stateDir, new Uint8Array(32).fill(8)).header(), undefined);
    const path = join(stateDir, 'header');
    const bytes = readFileSync(path);
    for (const at of [0, 30, Math.floor(bytes.length / 2), bytes.length - 10]) {
      const changed = Buffer.from(bytes);
      changed[at] = (changed[at] as number) ^ 1;
      writeFileSync(path, changed);
      assert.equal(await new VerifiedStateStore(stateDir, KEY).header(), undefined, `byte ${at}`);
    }
  });

  it('a bucket that does not hash as the header says is not taken', async () => {
    const { stateDir, header } = await verified();
    const store = new VerifiedStateStore(stateDir, KEY);
    const name = `b-${header.buckets[bucketOf('app/db')]}`;
    writeFileSync(join(stateDir, name), readFileSync(join(stateDir, name), 'utf8').replace('"dev"', '"ops"'));
    assert.equal(await store.secretsNamed(header, 'app/db'), undefined);
    assert.deepEqual(await store.secretsNamed(header, 'app/other'), bucketOf('app/other') === bucketOf('app/db') ? undefined : []);
  });

  it('an append is seen as grown, with only the new entries; a torn write is not', async () => {
    const { log, store, header, read } = await verified();
    const { bob, log: built } = await fixtureLog();
    appendFileSync(log.path, '- {"kind":"value","ct":"AAAA","n":');
    assert.equal((await store.freshness(header, log)).status, 'current');
    const appended = await log.append((r) => {
      assert.equal(r.entries.length, read.entries.length);
      const entry = signedEntry<Entry>(bob.identity, built.G, {
        kind: 'op',
        op: 'TagResource',
        body: { secret: built.secretId('app/db'), name: 'app/db', tags: new Map([['x', 'y']]) },
        by: bob.keys.id,
        seq: 3,
        parents: [header.tail.hash],
        at: '2026-01-05T10:00:00.000Z',
      });
      return { payloads: [], entry };
    });
    assert.ok(appended);
    assert.equal(appended.truncated > 0, true);
    const fresh = await store.freshness(header, log);
    assert.equal(fresh.status, 'grown');
    assert.ok(fresh.status === 'grown');
    assert.deepEqual(
      fresh.read.entries.map((e) => e.hash),
      [appended.hash],
    );
    assert.equal(lineHash(encodeLine(fresh.read.entries[0]?.entry as Entry)), appended.hash);
  });

  it('a cut or changed file is rewritten; another file at the path is replaced', async () => {
    const cut = await verified();
    truncateSync(cut.log.path, cut.header.tail.place.offset + 10);
    assert.equal((await cut.store.freshness(cut.header, cut.log)).status, 'rewritten');

    const changed = await verified();
    const text = readFileSync(changed.log.path, 'utf8');
    writeFileSync(changed.log.path, text.replace('"owner":"bob"', '"owner":"bub"'));
    assert.equal((await changed.store.freshness(changed.header, changed.log)).status, 'rewritten');

    const other = await verified();
    copyFileSync(other.log.path, `${other.log.path}.new`);
    renameSync(`${other.log.path}.new`, other.log.path);
    assert.equal((await other.store.freshness(other.header, other.log)).status, 'replaced');
  });

  it('lives under the cache directory, one directory per real path and identity', () => {
    const a = verifiedStateDir('/c/secrets', '/home/a/vault.yaml', '7ffb40637ba68ebb');
    assert.match(a, /^\/c\/secrets\/state\/[0-9a-f]{32}-7ffb40637ba68ebb$/);
    assert.notEqual(a, verifiedStateDir('/c/secrets', '/home/a/other.yaml', '7ffb40637ba68ebb'));
    assert.notEqual(a, verifiedStateDir('/c/secrets', '/home/a/vault.yaml', '322bc97887d933a2'));
  });

  it('a save rewrites only the buckets that changed, and removes the files it no longer names', async () => {
    const { store, header, stateDir } = await verified();
    const before = readdirSync(stateDir).sort();
    assert.equal(before.filter((f) => f.startsWith('b-')).length, 1);
    const index = bucketOf('app/db');
    const [row] = (await store.bucket(header, index)) ?? [];
    assert.ok(row);
    const next = store.save(header, new Map([[index, [{ ...row, secret: { ...row.secret, description: 'changed' } }]]]), header);
    assert.equal(next.buckets.length, BUCKETS);
    assert.notEqual(next.buckets[index], header.buckets[index]);
    const files = readdirSync(stateDir).filter((f) => f.startsWith('b-'));
    assert.deepEqual(files, [`b-${next.buckets[index]}`]);
    assert.equal((await store.secretsNamed(next, 'app/db'))?.[0]?.secret.description, 'changed');
    // Saved again without the previous header (it was lost): files it named are found and removed.
    writeFileSync(join(stateDir, `b-${'0'.repeat(64)}`), '[]');
    const again = store.save(header, new Map([[index, [row]]]));
    assert.deepEqual(
      readdirSync(stateDir).filter((f) => f.startsWith('b-')),
      [`b-${again.buckets[index]}`],
    );
  });
});

describe('verified state: a save of many buckets at once (a fresh clone’s) packs them in one file', () => {
  it('reads each bucket back from its range of the pack; a changed byte is not taken; a later save keeps the pack while it is named', async () => {
    const { store, header, stateDir } = await verified();
    const index = bucketOf('app/db');
    const [row] = (await store.bucket(header, index)) ?? [];
    assert.ok(row);
    // 200 buckets of one copy each of app/db's row, under other names.
    const many = new Map<number, BucketSecret[]>();
    for (let i = 0; many.size < 200; i++) {
      const name = `pack/s${i}`;
      many.set(bucketOf(name), [{ ...row, secret: { ...row.secret, id: `id-${i}`, name } }]);
    }
    const packed = store.save(header, many);
    const packs = readdirSync(stateDir).filter((f) => f.startsWith('p-'));
    assert.equal(packs.length, 1, 'one pack file');
    assert.equal(readdirSync(stateDir).filter((f) => f.startsWith('b-')).length, 0, 'no bucket files');
    for (const [i, rows] of many) assert.deepEqual((await store.bucket(packed, i))?.[0]?.secret.name, rows[0]?.secret.name);
    // A byte of the pack changed: the bucket it falls in is not taken; the others still are.
    const packPath = join(stateDir, packs[0] as string);
    const bytes = readFileSync(packPath);
    const [first, second] = [...many.keys()].sort((x, y) => (packed.buckets[x] as string).localeCompare(packed.buckets[y] as string));
    const [, , offset] = (packed.buckets[first as number] as string).split(/[@:]/);
    bytes.writeUInt8((bytes.readUInt8(Number(offset) + 5) ^ 1) & 0xff, Number(offset) + 5);
    writeFileSync(packPath, bytes);
    assert.equal(await store.bucket(packed, first as number), undefined, 'a changed byte is not taken');
    assert.ok(await store.bucket(packed, second as number), 'another bucket of the pack still is');
    // A small save afterwards writes a bucket file, keeps the pack (still named), and reads both.
    const changedRows = (many.get(first as number) ?? []).map((r) => ({ ...r, secret: { ...r.secret, description: 'changed' } }));
    const next = store.save(packed, new Map([[first as number, changedRows]]), packed);
    assert.match(next.buckets[first as number] as string, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      readdirSync(stateDir).filter((f) => f.startsWith('p-')),
      packs,
    );
    assert.ok(await store.bucket(next, first as number));
    // Emptied, the pack is named no more and goes.
    const emptied = store.save(next, new Map([...many.keys()].map((i) => [i, []])), next);
    assert.ok(emptied.buckets.every((b, i) => b === '' || i === index));
    assert.deepEqual(
      readdirSync(stateDir).filter((f) => f.startsWith('p-')),
      [],
    );
  });
});

// ---- Through the built binary: what a `get` from the verified state may serve ----
//
// The cases that test/read-index.test.ts and test/read-some.test.ts checked for format 1's read
// index (ADR 0013, removed by ADR 0018 step 7), as they apply to format 2's verified state.

/** The one verified-state directory of a sandbox (one vault, one identity). */
function stateDirOf(sb: Sandbox): string {
  const root = join(sb.home, '.cache', 'secrets', 'state');
  const dirs = existsSync(root) ? readdirSync(root) : [];
  assert.equal(dirs.length, 1, `one verified state under ${root}: ${dirs.join(', ')}`);
  return join(root, dirs[0] as string);
}

/** The key only the sandbox identity's seed gives (the one its verified state is MAC'd with). */
async function sandboxStateKey(sb: Sandbox): Promise<Uint8Array> {
  const file = join(sb.home, '.config', 'secrets', 'identity.key');
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('SECRETS-KEY-1'));
  assert.ok(line, `the sandbox identity in ${file}`);
  return verifiedStateKey(await identityFromSeed(decodeKey(line, 'identity file')));
}

/** The (0-based) index of the first of `lines` that has every one of `parts`. */
function lineIndex(lines: readonly string[], ...parts: string[]): number {
  const i = lines.findIndex((l) => parts.every((p) => l.includes(p)));
  assert.ok(i >= 0, `a line with ${parts.join(' ')}`);
  return i;
}

/** The value and keys lines of each version of a secret, oldest first (payloads come before their op). */
function payloadBlocks(text: string): string[] {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    if (lines[i]?.startsWith('- {"kind":"value"') && lines[i + 1]?.startsWith('- {"kind":"keys"')) out.push(`${lines[i]}\n${lines[i + 1]}\n`);
  }
  return out;
}

/**
 * Edits `replacement.length` bytes at `start` of `path` through a shared memory mapping, in two
 * steps. `dirty()` writes the bytes already there: the kernel stamps mtime and ctime at that
 * first write to each page. `edit()` then writes new bytes through the same, still dirty pages,
 * and no timestamp changes: the file keeps its device, inode, size, mtime and ctime.
 */
function mappedEditor(path: string, start: number, replacement: Buffer): { dirty(): Promise<void>; edit(): Promise<void>; close(): Promise<void> } {
  const program = [
    'import mmap, os, sys',
    'fd = os.open(sys.argv[1], os.O_RDWR)',
    'm = mmap.mmap(fd, 0, mmap.MAP_SHARED)',
    'start, new = int(sys.argv[2]), bytes.fromhex(sys.argv[3])',
    'for line in sys.stdin:',
    '    if line.strip() == "dirty": m[start:start + len(new)] = m[start:start + len(new)]',
    '    if line.strip() == "edit": m[start:start + len(new)] = new',
    '    print(line.strip(), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', program, path, String(start), replacement.toString('hex')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const replies: string[] = [];
  let waiting: (() => void) | undefined;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    replies.push(...d.split('\n').filter(Boolean));
    waiting?.();
  });
  const step = (word: string): Promise<void> =>
    new Promise((resolve, reject) => {
      child.once('exit', () => reject(new Error(`the mmap helper exited before "${word}"`)));
      waiting = () => {
        if (replies.includes(word)) resolve();
      };
      child.stdin.write(`${word}\n`);
    });
  return {
    dirty: () => step('dirty'),
    edit: () => step('edit'),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

const hasPython = spawnSync('python3', ['-c', 'import mmap'], { stdio: 'ignore' }).status === 0;

/** What the kernel says identifies the file's bytes (what format 1's read index trusted). */
function statIdentity(path: string): string {
  const st = statSync(path, { bigint: true });
  return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
}

describe('verified state, through the binary', () => {
  let sb: Sandbox;
  let pristine: string;
  before(async () => {
    sb = await initialisedSandbox();
    const lines = Array.from({ length: 200 }, (_, i) => `K${i}=value-${i}`).join('\n');
    await sb.ok(['import', '--format', 'dotenv', '--prefix', 'bulk/', '-'], { input: `${lines}\n` });
    await sb.ok(['create', 'prod/db', '--value-stdin'], { input: 'the-right-one' });
    // Tags named "name" whose value is another secret's name.
    await sb.ok(['create', 'a/decoy', '--value-stdin', '--tag', 'a=1', '--tag', 'name=prod/db', '--tag', 'z=2'], { input: 'decoy-a' });
    await sb.ok(['create', 'z/decoy', '--value-stdin', '--tag', 'a=1', '--tag', 'name=prod/db', '--tag', 'z=2'], { input: 'decoy-z' });
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
    pristine = readFileSync(sb.vault, 'utf8');
  });
  after(() => sb.cleanup());

  it('is private (0700, 0600), holds no value, and serves what a full verification serves', async () => {
    const state = stateDirOf(sb);
    assert.equal(statSync(state).mode & 0o777, 0o700);
    for (const f of readdirSync(state)) {
      assert.equal(statSync(join(state, f)).mode & 0o777, 0o600, f);
      const text = readFileSync(join(state, f), 'utf8');
      assert.ok(!text.includes('the-right-one') && !text.includes('value-7') && !text.includes('decoy-a'), `${f} holds no value`);
    }
    for (const name of ['prod/db', 'bulk/K0', 'bulk/K3', 'bulk/K199', 'a/decoy', 'z/decoy']) {
      assert.equal(await sb.ok(['get', name]), await sb.ok(['get', name], { env: { SECRETS_READ_INDEX: '0' } }), name);
    }
  });

  it('finds the secret by name, not a tag that spells its name', async () => {
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
    assert.equal(await sb.ok(['get', 'a/decoy']), 'decoy-a');
    assert.equal(await sb.ok(['get', 'z/decoy']), 'decoy-z');
    assert.equal(await sb.ok(['get', 'bulk/K0']), 'value-0');
    assert.equal(await sb.ok(['get', 'bulk/K199']), 'value-199');
  });

  it('a damaged pack costs one full verification, which rebuilds it', async () => {
    const state = stateDirOf(sb);
    const pack = readdirSync(state).find((f) => f.startsWith('p-'));
    assert.ok(pack, 'the first full save packed its buckets in one file');
    const path = join(state, pack);
    writeFileSync(path, Buffer.alloc(readFileSync(path).length, 0x20));
    assert.equal(await sb.ok(['get', 'bulk/K3']), 'value-3');
    // Rebuilt whole: the packs now named hash to their names, and the damaged one is gone.
    const packs = readdirSync(state).filter((f) => f.startsWith('p-'));
    assert.ok(packs.length > 0);
    for (const f of packs)
      assert.equal(
        `p-${createHash('sha256')
          .update(readFileSync(join(state, f)))
          .digest('hex')}`,
        f,
      );
    assert.equal(await sb.ok(['get', 'bulk/K4']), 'value-4');
  });

  it('a name it does not hold is not found (exit 3), as with a full read', async () => {
    const r = await sb.run(['get', 'bulk/K200']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /secret bulk\/K200 not found/);
  });

  it('an edit before the verified tail never reaches get; `verify` refuses the file (ADR 0018 §5)', async () => {
    const inode = statSync(sb.vault).ino;
    try {
      // Same size, same inode: another secret's name in its CreateSecret entry.
      writeFileSync(sb.vault, pristine.replace('"name":"bulk/K150"', '"name":"bulk/K15X"'));
      assert.notEqual(readFileSync(sb.vault, 'utf8'), pristine);
      assert.equal(statSync(sb.vault).ino, inode);
      // get uses no byte of that line: it serves what it verified, never the edited bytes.
      assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
      assert.equal(await sb.ok(['get', 'bulk/K150']), 'value-150');
      assert.equal((await sb.run(['get', 'bulk/K15X'])).code, 3);
      const verify = await sb.run(['verify']);
      assert.equal(verify.code, 6, verify.stderr);
      const full = await sb.run(['get', 'prod/db'], { env: { SECRETS_READ_INDEX: '0' } });
      assert.equal(full.code, 6, full.stderr);
      assert.equal(full.stdout, '');
    } finally {
      writeFileSync(sb.vault, pristine);
    }
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
  });

  it('a removed payload line of another secret is caught: the verified tail is not where it was (exit 6)', async () => {
    try {
      const lines = pristine.split('\n');
      const i = lineIndex(lines, '"kind":"keys"');
      lines.splice(i, 1);
      writeFileSync(sb.vault, lines.join('\n'));
      const r = await sb.run(['get', 'prod/db']);
      assert.equal(r.code, 6, r.stderr);
      assert.equal(r.stdout, '');
    } finally {
      writeFileSync(sb.vault, pristine);
    }
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one', 'and the restored file reads again');
  });
});

describe('verified state forged without the identity key, through the binary', () => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await initialisedSandbox();
    await sb.ok(['create', 'app/key', '--value-stdin'], { input: 'value-1' });
    await sb.ok(['put', 'app/key', '--value-stdin'], { input: 'value-2' });
    await sb.ok(['put', 'app/key', '--value-stdin'], { input: 'value-3' });
    await sb.ok(['create', 'bulk/a', '--value-stdin'], { input: 'aaa' });
    await sb.ok(['create', 'prod/db', '--value-stdin'], { input: 'the-right-one' });
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
  });
  afterEach(() => sb.cleanup());

  it('a header forged for a spliced file is refused without the key, and would be taken with it', async () => {
    const key = await sandboxStateKey(sb);
    const stateDir = stateDirOf(sb);
    const real = await new VerifiedStateStore(stateDir, key).header();
    assert.ok(real);
    // Splice: drop bulk/a's entry and payloads. Its signatures are untouched; the chain is not.
    const lines = readFileSync(sb.vault, 'utf8').split('\n');
    const op = lineIndex(lines, '"op":"CreateSecret"', '"name":"bulk/a"');
    lines.splice(op - 2, 3);
    writeFileSync(sb.vault, lines.join('\n'));
    const full = await sb.run(['get', 'prod/db'], { env: { SECRETS_READ_INDEX: '0' } });
    assert.equal(full.code, 6, `the full verification refuses the spliced file: ${full.stderr}`);
    // The forger's state: the real one, moved to where the spliced file has its lines.
    const read = await new OpLog({ path: sb.vault, lockTimeoutMs: 10_000 }).read();
    const last = read.entries.at(-1);
    assert.ok(last);
    const changed = new Map<number, BucketSecret[]>();
    for (let b = 0; b < BUCKETS; b++) {
      const rows = await new VerifiedStateStore(stateDir, key).bucket(real, b);
      assert.ok(rows);
      if (rows.length === 0) continue;
      const moved = rows
        .filter((row) => row.secret.name !== 'bulk/a')
        .map((row) => {
          const payloads = new Map<string, PayloadPlaces>();
          for (const v of row.secret.versions) {
            const value = read.payloads.get(v.v);
            const keys = read.payloads.get(v.k);
            assert.ok(value && keys);
            payloads.set(v.id, { v: value.place, k: keys.place });
          }
          return { ...row, payloads };
        });
      changed.set(b, moved);
    }
    const { buckets: _buckets, ...fields } = real;
    const forge = (with_: Uint8Array): VerifiedHeader =>
      new VerifiedStateStore(stateDir, with_).save({ ...fields, file: read.file, tail: { hash: last.hash, place: last.place } }, changed);
    forge(new Uint8Array(randomBytes(32)));
    const refused = await sb.run(['get', 'prod/db']);
    assert.equal(refused.code, 6, `a header with a wrong MAC is ignored and the full verification finds the splice: ${refused.stderr}`);
    assert.equal(refused.stdout, '');
    // The same forgery with the key that only the seed gives is taken: the MAC is the guard.
    forge(key);
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
  });

  it('a bucket rewritten to move CURRENT back is refused without the key, and would be taken with it', async () => {
    const key = await sandboxStateKey(sb);
    const stateDir = stateDirOf(sb);
    const real = await new VerifiedStateStore(stateDir, key).header();
    assert.ok(real);
    const index = bucketOf('app/key');
    const rows = await new VerifiedStateStore(stateDir, key).bucket(real, index);
    const row = rows?.find((r) => r.secret.name === 'app/key');
    assert.ok(rows && row);
    const [, second] = row.secret.versions;
    assert.ok(second);
    const rolledBack = rows.map((r) => (r === row ? { ...r, secret: { ...r.secret, stages: new Map([['CURRENT', second.id]]) } } : r));
    const forge = (with_: Uint8Array): VerifiedHeader => new VerifiedStateStore(stateDir, with_).save(real, new Map([[index, rolledBack]]), real);
    forge(new Uint8Array(randomBytes(32)));
    assert.equal(await sb.ok(['get', 'app/key']), 'value-3', 'a header with a wrong MAC is ignored: the full verification serves CURRENT');
    forge(key);
    assert.equal(await sb.ok(['get', 'app/key']), 'value-2', 'with the key the forgery is taken: the MAC is the guard');
  });
});

/**
 * The attack: `older` (validly signed, once in the file) is written over `newer` (same size)
 * through a shared mapping that was dirtied before `get NAME` saved the verified state, so the
 * file keeps its device, inode, size and timestamps. Runs `then` after the edit, mapping open.
 */
async function putBackUnderState(sb: Sandbox, name: string, older: string, newer: string, settledValue: string, then: () => Promise<void>): Promise<void> {
  const current = readFileSync(sb.vault);
  assert.equal(older.length, newer.length, 'the two have the same size');
  assert.notEqual(older, newer);
  const editor = mappedEditor(sb.vault, current.indexOf(newer), Buffer.from(older));
  try {
    await editor.dirty();
    assert.equal(await sb.ok(['get', name]), settledValue);
    const noted = statIdentity(sb.vault);
    await editor.edit();
    assert.equal(statIdentity(sb.vault), noted, 'the edit changed no timestamp');
    assert.ok(readFileSync(sb.vault).includes(older) && !readFileSync(sb.vault).includes(newer), 'the older lines are in the file, the newer gone');
    const full = await sb.run(['get', name], { env: { SECRETS_READ_INDEX: '0' } });
    assert.equal(full.code, 6, `the full verification refuses the file: ${full.stderr}`);
    await then();
  } finally {
    await editor.close();
  }
}

describe('verified state against an edit that changes no timestamp', { skip: hasPython ? false : 'needs python3 for mmap' }, () => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await initialisedSandbox();
  });
  afterEach(() => sb.cleanup());

  it("never serves payload bytes it did not check: an older version's signed payload lines put back are refused", async () => {
    await sb.ok(['create', 'app/key', '--value-stdin'], { input: 'value-1' });
    await sb.ok(['put', 'app/key', '--value-stdin'], { input: 'value-2' });
    await sb.ok(['put', 'app/key', '--value-stdin'], { input: 'value-3' });
    const [, older, newer] = payloadBlocks(readFileSync(sb.vault, 'utf8'));
    assert.ok(older && newer);
    await putBackUnderState(sb, 'app/key', older, newer, 'value-3', async () => {
      const get = await sb.run(['get', 'app/key']);
      assert.notEqual(get.stdout, 'value-2', 'the verified state served the replaced payload');
      assert.equal(get.code, 6, get.stderr);
      assert.equal(get.stdout, '');
      // Refused because the lines do not hash as the verified state says (the full verification
      // then names what is missing), not only later by the AEAD, whose AAD binds the version.
      assert.match(get.stderr, /value payload \S+ is missing|a payload that the entry after it does not name/);
      assert.doesNotMatch(get.stderr, /failed to decrypt/);
    });
  });

  it('never serves governance it did not check: an older signed policy entry put back does not change what get sees, and `verify` refuses it', async () => {
    await sb.ok(['create', 'app/key', '--value-stdin'], { input: 'value-1' });
    const policy = (sid: string): string =>
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: sid, Effect: 'Allow', Action: 'secrets:ListSecrets', Resource: '*' }] });
    await sb.ok(['policy', 'put', 'lister', '-f', '-'], { input: policy('One') });
    await sb.ok(['policy', 'put', 'lister', '-f', '-'], { input: policy('Two') });
    // An entry after it, so that the policy entry is before the verified tail (the tail's own line is checked).
    await sb.ok(['tag', 'app/key', 'env=dev']);
    const puts = readFileSync(sb.vault, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"op":"PutPolicy"'));
    const [older, newer] = puts;
    assert.ok(older && newer && puts.length === 2);
    await putBackUnderState(sb, 'app/key', older, newer, 'value-1', async () => {
      // What get and policy get use comes from the verified state (MAC'd), never from those bytes.
      assert.equal(await sb.ok(['get', 'app/key']), 'value-1');
      assert.match(await sb.ok(['policy', 'get', 'lister']), /"Sid": "Two"/);
      const verify = await sb.run(['verify']);
      assert.equal(verify.code, 6, verify.stderr);
      assert.match(verify.stderr, /occurs twice/);
    });
  });
});

describe('an old verified state put back, with the vault cut back in place to where it ends', () => {
  it('is not served: the read checks the trust state, and refuses the rollback (exit 6)', async () => {
    const sb = sandbox();
    try {
      const vault = join(sb.home, 'vault.yaml');
      const env = { SECRETS_VAULT: vault };
      await sb.ok(['init'], { env });
      await sb.ok(['create', 'app/db', '--value-stdin'], { env, input: 'old' });
      assert.equal(await sb.ok(['get', 'app/db'], { env }), 'old');
      // What the cache holds now, and where the vault ends.
      const cache = join(sb.home, '.cache', 'secrets', 'state');
      const saved = mkdtempSync(join(dir, 'saved-'));
      cpSync(cache, saved, { recursive: true });
      const length = statSync(vault).size;
      await sb.ok(['put', 'app/db', '--value-stdin'], { env, input: 'new' });
      assert.equal(await sb.ok(['get', 'app/db'], { env }), 'new');
      // The attacker cuts the file back where it was (same inode) and puts the old cache back.
      const inode = statSync(vault).ino;
      truncateSync(vault, length);
      assert.equal(statSync(vault).ino, inode);
      rmSync(cache, { recursive: true, force: true });
      cpSync(saved, cache, { recursive: true });
      const r = await sb.run(['get', 'app/db'], { env });
      assert.notEqual(r.stdout, 'old', 'the rolled-back value is not served');
      assert.equal(r.code, 6, `get: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /rolled back/);
    } finally {
      sb.cleanup();
    }
  });
});
