#!/usr/bin/env node
// The size budget of ADR 0018 §10 (run `npm run build` first): a vault of S secrets with V
// versions each, as format 1 stores it today and as format 2 stores it once compacted (the
// output of `secrets migrate`, and as `secrets compact` writes it, without migration's "aad":1).
// Both files hold the same ciphertexts and sealed keys, made of random bytes of real sizes:
// a 32-byte value (48 bytes of ciphertext), a data key sealed to each of R readers (80 bytes).
//   node scripts/bench-compact-size.mjs [S] [V] [R]
import { randomBytes, randomUUID } from 'node:crypto';
import { serializeFile, serializeRecord } from '../dist/src/store/codec.js';
import { convert } from '../dist/src/store/migrate.js';
import { signedEntry } from '../dist/src/store/op-codec.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replay } from '../dist/src/core/replay.js';
import { REPLAY_OPTIONS } from '../dist/src/store/log-vault.js';
import { OpLog, replayInput, serializeLog } from '../dist/src/store/op-log.js';
import { testMember } from '../dist/test/support/oplog.js';

const S = Number(process.argv[2] ?? 10_000);
const V = Number(process.argv[3] ?? 10);
const R = Number(process.argv[4] ?? 3);
const b64 = (n) => randomBytes(n).toString('base64');
const sig = () => b64(64);
const at = (i) => new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();

const people = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].slice(0, R).map((n) => testMember(n)));
const admin = people[0];
const vaultId = randomUUID();
const vault = { kind: 'vault', id: vaultId, format: 1, name: 'bench', created: at(0), by: admin.keys.id, ctr: 1, sig: sig() };
const members = people.map((p, i) => ({
  kind: 'member',
  ...p.keys,
  roles: [i === 0 ? 'admin' : 'member'],
  added: at(i),
  by: admin.keys.id,
  ctr: 1 + i,
  sig: sig(),
}));
const secrets = [];
let t = 10;
for (let s = 0; s < S; s++) {
  const id = randomUUID();
  const versions = [];
  for (let v = 0; v < V; v++) {
    versions.push({
      kind: 'version',
      secret: id,
      id: randomUUID(),
      created: at(t++),
      type: 'string',
      n: b64(24),
      ct: b64(48),
      keys: new Map(people.map((p) => [p.keys.id, b64(80)])),
      act: v === 0 ? 'CreateSecret' : 'PutSecretValue',
      by: admin.keys.id,
      ctr: t,
      sig: sig(),
    });
  }
  const last = versions[V - 1];
  const previous = versions[V - 2];
  const stages = new Map([['CURRENT', last.id], ...(previous ? [['PREVIOUS', previous.id]] : [])]);
  const secret = {
    kind: 'secret',
    id,
    name: `app/service-${s}/password`,
    tags: new Map([['team', 'platform']]),
    stages,
    created: versions[0].created,
    changed: last.created,
    act: 'PutSecretValue',
    by: admin.keys.id,
    ctr: t,
    sig: sig(),
  };
  secrets.push({ secret, versions });
}
const head = { kind: 'head', ctrs: new Map([[admin.keys.id, t]]), digest: randomBytes(32).toString('hex'), at: at(t), by: admin.keys.id, ctr: t, sig: sig() };
const state = { vault, members, policies: [], head, secrets };

const records = [vault, ...members, head, ...secrets.flatMap((e) => [e.secret, ...e.versions])];
const one = Buffer.from(serializeFile(records.map(serializeRecord)));
const t0 = performance.now();
const conversion = convert(state, one, admin.keys.id, (unsigned, _i, G) => signedEntry(admin.identity, G, unsigned));
const two = serializeLog(conversion.lines);
const converted = performance.now() - t0;
// A vault compacted by `secrets compact` has no "aad":1.
const native = serializeLog(conversion.lines.map((l) => (l.kind === 'state' ? { ...l, versions: l.versions.map(({ aad: _aad, ...v }) => v) } : l)));

const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
console.log(`${S} secrets x ${V} versions, ${R} readers each`);
console.log(`format 1 (today):               ${mb(one.length)}  (${(one.length / (S * V)).toFixed(0)} B a version)`);
console.log(
  `format 2 migrated (compacted):  ${mb(two.length)}  (${(two.length / (S * V)).toFixed(0)} B a version)  ${((two.length / one.length) * 100).toFixed(1)}% of format 1`,
);
console.log(
  `format 2 by \`secrets compact\`: ${mb(native.length)}  (${(native.length / (S * V)).toFixed(0)} B a version)  ${((native.length / one.length) * 100).toFixed(1)}% of format 1`,
);
console.log(`conversion took ${converted.toFixed(0)} ms`);
// A fresh clone's first full verification of the compacted file: read, hash and parse every line, replay.
const dir = mkdtempSync(join(tmpdir(), 'bench-compact-'));
try {
  const path = join(dir, 'vault.yaml');
  writeFileSync(path, two);
  const t1 = performance.now();
  const read = await new OpLog({ path, lockTimeoutMs: 1000 }).read();
  const t2 = performance.now();
  const result = replay(replayInput(read), REPLAY_OPTIONS);
  const t3 = performance.now();
  console.log(
    `a fresh clone's first read of the migrated file: ${(t3 - t1).toFixed(0)} ms (reading, hashing and parsing every line ${(t2 - t1).toFixed(0)} ms, replay ${(t3 - t2).toFixed(0)} ms; ${result.state.secrets.size} secrets)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (two.length > one.length || native.length > one.length) {
  console.error('the compacted file is larger than format 1: the budget of ADR 0018 §10 is missed');
  process.exitCode = 1;
}
