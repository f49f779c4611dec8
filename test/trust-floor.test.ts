// The trust floor of format-2 vaults (store/trust.ts): MAC'd, atomic, one per vault; a forged
// or foreign floor is refused rather than read as "never seen"; seqs never go down; a history
// that lacks a verified head or lowers a seq is below the floor.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SecretsError } from '../src/core/errors.js';
import { trustFloorKey } from '../src/crypto/identity.js';
import { lineHash } from '../src/store/op-codec.js';
import { belowFloor, type TrustFloor, TrustFloorStore } from '../src/store/trust.js';
import { testMember } from './support/oplog.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'floor-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const G = lineHash('genesis');
const floor: TrustFloor = { vault: G, path: '/v/vault.yaml', heads: [lineHash('h1'), lineHash('h2')], seqs: new Map([['a'.repeat(16), 4]]) };
const refused = (err: unknown): boolean => err instanceof SecretsError && err.code === 'INTEGRITY';

describe('trust floor', () => {
  it('round-trips under this identity, in a private file named by G', async () => {
    const alice = await testMember('alice');
    const store = new TrustFloorStore(join(dir, 'a'), trustFloorKey(alice.identity));
    assert.equal(await store.load(G), undefined);
    await store.put({ ...floor, checkpoint: lineHash('c') });
    assert.deepEqual(await store.load(G), { ...floor, checkpoint: lineHash('c') });
    assert.match(basename(store.path(G)), /^[A-Za-z0-9_-]{43}\.json$/);
    assert.equal(statSync(store.path(G)).mode & 0o777, 0o600);
  });

  it("a floor with a byte changed, another identity's, or another vault's is refused, not taken for none", async () => {
    const alice = await testMember('alice');
    const bob = await testMember('bob');
    const store = new TrustFloorStore(join(dir, 'b'), trustFloorKey(alice.identity));
    await store.put(floor);
    await assert.rejects(new TrustFloorStore(join(dir, 'b'), trustFloorKey(bob.identity)).load(G), refused);
    const other = lineHash('other genesis');
    copyFileSync(store.path(G), store.path(other));
    await assert.rejects(store.load(other), refused);
    const bytes = readFileSync(store.path(G));
    for (const at of [0, 25, Math.floor(bytes.length / 2), bytes.length - 3]) {
      const changed = Buffer.from(bytes);
      changed[at] = (changed[at] as number) ^ 2;
      writeFileSync(store.path(G), changed);
      await assert.rejects(store.load(G), refused, `byte ${at}`);
    }
  });

  it('seqs never go down; heads are replaced', async () => {
    const alice = await testMember('alice');
    const store = new TrustFloorStore(join(dir, 'c'), trustFloorKey(alice.identity));
    await store.put(floor);
    await store.put({
      ...floor,
      heads: [lineHash('h3')],
      seqs: new Map([
        ['a'.repeat(16), 2],
        ['b'.repeat(16), 1],
      ]),
    });
    const got = await store.load(G);
    assert.deepEqual(got?.heads, [lineHash('h3')]);
    assert.deepEqual(
      [...(got?.seqs ?? [])],
      [
        ['a'.repeat(16), 4],
        ['b'.repeat(16), 1],
      ],
    );
  });

  it("remembers the heads of each remote, MAC'd like the floor", async () => {
    const alice = await testMember('alice');
    const store = new TrustFloorStore(join(dir, 'd'), trustFloorKey(alice.identity));
    assert.deepEqual(await store.remoteHeads(G), new Map());
    await store.putRemoteHeads(G, 'origin', [lineHash('h1')]);
    await store.putRemoteHeads(G, 'backup', [lineHash('h0')]);
    await store.putRemoteHeads(G, 'origin', [lineHash('h2')]);
    assert.deepEqual(
      [...(await store.remoteHeads(G))],
      [
        ['backup', [lineHash('h0')]],
        ['origin', [lineHash('h2')]],
      ],
    );
    const bob = await testMember('bob');
    await assert.rejects(new TrustFloorStore(join(dir, 'd'), trustFloorKey(bob.identity)).remoteHeads(G), refused);
  });

  it('a history below the floor is named', () => {
    const entries = new Set([...floor.heads, lineHash('h3')]);
    assert.equal(belowFloor(floor, entries, new Map([['a'.repeat(16), 5]])), undefined);
    assert.match(belowFloor(floor, new Set([lineHash('h1')]), new Map([['a'.repeat(16), 5]])) ?? '', /not in the history/);
    assert.match(belowFloor(floor, entries, new Map([['a'.repeat(16), 3]])) ?? '', /went back from 4 to 3/);
  });
});
