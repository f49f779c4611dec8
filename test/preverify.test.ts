/**
 * The signatures of a long history checked ahead of replay on worker threads (store/preverify.ts)
 * must answer every question replay asks exactly as the one-at-a-time check does: valid entries,
 * a signature copied from another entry, a signer whose key the history never gives, another
 * vault's hash, the genesis's empty one, and a key that is not the signer's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Entry, LogEntry } from '../src/core/ops.js';
import { replay } from '../src/core/replay.js';
import { encodeLine, entrySignatureValid, type Line, lineHash, signedEntry } from '../src/store/op-codec.js';
import { PREVERIFY_FROM, preverifiedSignatures } from '../src/store/preverify.js';
import { fixtureLog, REAL_REPLAY, testMember } from './support/oplog.js';

const lineHashOf = (l: Line): string => lineHash(encodeLine(l));

describe('signatures checked ahead of replay', () => {
  it('answer exactly as replay’s own check, for valid and forged entries, every key and vault hash', async () => {
    const { log, alice, bob } = await fixtureLog();
    const mallory = await testMember('mallory');
    const id = log.secretId('app/db');
    for (let i = 0; log.entries.length < PREVERIFY_FROM + 100; i++) {
      log.op(i % 2 === 0 ? alice : bob, 'TagResource', { secret: id, name: 'app/db', tags: new Map([['n', String(i)]]) });
    }
    const entries: LogEntry[] = [...log.entries];
    const last = entries.at(-1) as LogEntry;
    const lastEntry = last.entry;
    // Forged: another entry's signature; a signer the history never gives a key; another vault.
    const copied: LogEntry = { hash: 'forged-copy', entry: { ...lastEntry, sig: (entries[3] as LogEntry).entry.sig } };
    const stranger: LogEntry = {
      hash: 'forged-stranger',
      entry: signedEntry<Entry>(mallory.identity, log.G, { ...lastEntry, by: mallory.keys.id }),
    };
    const elsewhere: LogEntry = {
      hash: 'forged-elsewhere',
      entry: signedEntry<Entry>(bob.identity, 'another vault', { ...lastEntry, by: bob.keys.id }),
    };
    const all = [...entries, copied, stranger, elsewhere];

    const check = await preverifiedSignatures(all);
    assert.ok(check, `a history of ${all.length} entries is checked ahead`);
    const keys = [alice, bob, mallory].map((m) => m.keys.sign);
    const sample = [...all.filter((_, i) => i % 97 === 0), ...all.slice(0, 3), ...all.slice(-4)];
    for (const item of sample)
      for (const key of keys)
        for (const vault of [log.G, '', 'another vault'])
          assert.equal(check(item, key, vault), entrySignatureValid(item, key, vault), `${item.hash} under ${key.slice(0, 8)} in ${vault || '(genesis)'}`);
    for (const item of entries) {
      const signer = item.entry.by === alice.keys.id ? alice : bob;
      assert.equal(check(item, signer.keys.sign, item === entries[0] ? '' : log.G), true);
    }
  });

  it('replay decides the same with it as without it', async () => {
    const { log, alice } = await fixtureLog();
    const id = log.secretId('app/db');
    while (log.entries.length < PREVERIFY_FROM + 10)
      log.op(alice, 'TagResource', { secret: id, name: 'app/db', tags: new Map([['n', String(log.entries.length)]]) });
    const payloads = new Map(log.lines.flatMap((l) => (l.kind === 'value' || l.kind === 'keys' ? [[lineHashOf(l), l] as const] : [])));
    const input = { entries: log.entries, payloads };
    const plain = replay(input, REAL_REPLAY);
    const check = await preverifiedSignatures(log.entries);
    assert.ok(check);
    const ahead = replay(input, { ...REAL_REPLAY, signatureValid: check });
    assert.deepEqual(ahead.heads, plain.heads);
    assert.deepEqual([...ahead.seqs], [...plain.seqs]);
    assert.equal(ahead.state.secrets.get(id)?.tags.get('n'), plain.state.secrets.get(id)?.tags.get('n'));
  });

  it('a short history is left to replay', async () => {
    const { log } = await fixtureLog();
    assert.equal(await preverifiedSignatures(log.entries), undefined);
  });
});
