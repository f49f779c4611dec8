// The per-machine verified state of a format-2 vault (store/verified-state.ts): what a `get`
// reads (the header, the log after the tail, one bucket, two payload lines), and that anything
// forged, stale or rewritten is not taken for verified.
import assert from 'node:assert/strict';
import {
  appendFileSync,
  copyFileSync,
  cpSync,
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
import { after, before, describe, it } from 'node:test';
import type { Entry } from '../src/core/ops.js';
import { replay } from '../src/core/replay.js';
import { SYNC_FILES, type FileAccess } from '../src/store/file-access.js';
import { encodeLine, lineHash, signedEntry } from '../src/store/op-codec.js';
import { type LogRead, OpLog, replayInput } from '../src/store/op-log.js';
import { BUCKETS, bucketOf, bucketsOf, governanceOf, type VerifiedHeader, verifiedStateDir, VerifiedStateStore } from '../src/store/verified-state.js';
import { ROOT, sandbox } from './support/cli.js';
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
