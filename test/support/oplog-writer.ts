// A writer process for the log store's lock and crash tests:
//   node oplog-writer.js VAULT MEMBER COUNT VALUE_BYTES [TEAR]
// appends COUNT CreateSecret ops (app/MEMBER-<pid>-<n>, each with a value of VALUE_BYTES
// placeholder bytes) as MEMBER, each under the lock after catching up from where it last read,
// and prints `<hash> <truncated bytes>` once an append has returned (the entry is durable).
// With TEAR (0 to 1), it then takes the lock, writes that fraction of one more batch, and kills
// itself with SIGKILL: a writer dying mid-write, its lock left behind.
import { constants, openSync, writeSync } from 'node:fs';
import { acquireLock } from '../../src/store/lock.js';
import { type AppendBatch, type LogRead, OpLog, serializeLog, type Tail } from '../../src/store/op-log.js';
import { encodeLine, lineHash } from '../../src/store/op-codec.js';
import type { Entry, Payload } from '../../src/core/ops.js';
import { secretIdInLog } from '../../src/crypto/digest.js';
import { signedEntry } from '../../src/store/op-codec.js';
import { bytesOf, testMember } from './oplog.js';

const [path, name, countText, bytesText, tear] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const me = await testMember(name);
const log = new OpLog({ path, lockTimeoutMs: 120_000 });
let after: Tail | undefined;
let G = '';
let seq = 0;
let head: { hash: string; at: string } | undefined;
/** Every member (the tests give all of them app/*), whom a new version is sealed to. */
const members = new Set<string>();

/** The next batch, after the entries `read` brings. */
function next(read: LogRead, label: string): AppendBatch {
  for (const { hash, entry } of read.entries) {
    if (G === '') G = hash;
    if (entry.by === me.keys.id) seq = Math.max(seq, entry.seq);
    if (entry.kind === 'op' && entry.op === 'CreateVault') members.add(entry.body.creator.id);
    if (entry.kind === 'op' && entry.op === 'AddMember') members.add(entry.body.member.id);
    head = { hash, at: entry.at };
  }
  if (head === undefined) throw new Error('no genesis');
  const value: Payload = { kind: 'value', n: bytesOf(`${label}/n`, 24), ct: bytesOf(`${label}/ct`, Number(bytesText)) };
  const keys: Payload = { kind: 'keys', keys: new Map([...members].map((id) => [id, bytesOf(`${label}/k/${id}`, 80)])) };
  const secretName = `app/${label}`;
  const at = new Date(Math.max(Date.now(), Date.parse(head.at))).toISOString();
  const entry = signedEntry<Entry>(me.identity, G, {
    kind: 'op',
    op: 'CreateSecret',
    body: {
      secret: secretIdInLog(G, secretName),
      name: secretName,
      value: { version: label, type: 'string', v: lineHash(encodeLine(value)), k: lineHash(encodeLine(keys)) },
    },
    by: me.keys.id,
    seq: seq + 1,
    parents: [head.hash],
    at,
  });
  head = { hash: lineHash(encodeLine(entry)), at };
  seq++;
  return { payloads: [value, keys], entry };
}

for (let n = 0; n < Number(countText); n++) {
  const appended = await log.append((read) => next(read, `${name}-${process.pid}-${n}`), after, 'index');
  if (appended === undefined) throw new Error('nothing appended');
  after = appended;
  process.stdout.write(`${appended.hash} ${appended.truncated}\n`);
}

if (tear !== undefined) {
  const read = after === undefined ? await log.read(undefined, 'index') : await log.readAfter(after, 'index');
  if ('rewritten' in read) throw new Error(read.rewritten);
  const batch = next('read' in read ? read.read : read, `${name}-${process.pid}-torn`);
  const bytes = serializeLog([...batch.payloads, batch.entry]).subarray(serializeLog([]).length);
  await acquireLock(`${path}.lock`, 120_000);
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND);
  writeSync(fd, bytes, 0, Math.floor(bytes.length * Number(tear)));
  process.kill(process.pid, 'SIGKILL');
}
