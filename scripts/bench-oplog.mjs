#!/usr/bin/env node
// Times the format-2 log store (run `npm run build` first): hashing and parsing a log of N
// entries (each a PutSecretValue with its value and keys lines, so 3 lines per entry), and
// appending one entry to it, both from a verified offset and after reading the whole file.
//   node scripts/bench-oplog.mjs [N]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeLine, lineHash, signedEntry } from '../dist/src/store/op-codec.js';
import { OpLog } from '../dist/src/store/op-log.js';
import { LinearLog, testMember } from '../dist/test/support/oplog.js';

const N = Number(process.argv[2] ?? 100_000);
const alice = await testMember('alice');
const log = new LinearLog();
log.op(alice, 'CreateVault', { vault: '0b6f4c1e-7d2a-4f3b-9c55-2e8a1d9f6b70', name: 'bench', format: 2, creator: alice.keys });
const t0 = performance.now();
for (let i = 1; i < N; i++) {
  const name = `app/s${i % 10_000}`;
  const v = log.version(`v${i}`, [alice.keys]);
  log.op(alice, 'PutSecretValue', { secret: log.secretId(name), name, value: v.ref }, v.payloads, new Date(Date.UTC(2026, 0, 5) + i).toISOString());
}
const built = performance.now() - t0;
const dir = mkdtempSync(join(tmpdir(), 'bench-oplog-'));
const store = new OpLog({ path: join(dir, 'vault.yaml'), lockTimeoutMs: 10_000 });
store.create(log.lines);
const size = statSync(store.path).size;

async function time(label, f, runs = 3) {
  const ms = [];
  let out;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    out = await f();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  console.log(`${label}: median ${ms[Math.floor(runs / 2)].toFixed(1)} ms (of ${runs})`);
  return out;
}

console.log(`${N} entries, ${log.lines.length} lines, ${(size / 1e6).toFixed(1)} MB (built and signed in ${(built / 1000).toFixed(1)} s)`);
const full = await time('read, every line hashed and parsed', () => store.read());
await time('read, entries parsed, payloads hashed and indexed', () => store.read(undefined, 'index'));
let last = full.entries[full.entries.length - 1];
let after = full.entries[full.entries.length - 1];
let seq = last.entry.seq;
const next = () => (read) => {
  if (read.entries.length > 0) last = read.entries[read.entries.length - 1];
  const v = log.version(`new${seq}`, [alice.keys]);
  const entry = signedEntry(alice.identity, log.G, {
    kind: 'op',
    op: 'PutSecretValue',
    body: { secret: log.secretId('app/s1'), name: 'app/s1', value: v.ref },
    by: alice.keys.id,
    seq: ++seq,
    parents: [last.hash],
    at: '2026-02-01T00:00:00.000Z',
  });
  last = { hash: lineHash(encodeLine(entry)), entry };
  return { payloads: v.payloads, entry };
};
await time(
  'append one entry from the verified end (lock, read the tail, sign, write, fsync)',
  async () => {
    after = await store.append(next(), after, 'index');
  },
  9,
);
await time('append one entry after reading the whole file (index mode)', () => store.append(next(), undefined, 'index'), 3);
rmSync(dir, { recursive: true, force: true });
