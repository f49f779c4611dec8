// The format-2 line codec (store/op-codec.ts): the committed vectors pin the bytes, the hashes
// and the signatures; every line kind and every action's body round-trips; what is not
// canonical or not known is refused; fuzzing finds no other error and no change that survives.
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SecretsError } from '../src/core/errors.js';
import { type Action, ACTIONS, type Entry, type LogEntry, type OpBodies } from '../src/core/ops.js';
import { replay } from '../src/core/replay.js';
import { fromBase64, isBase64Of } from '../src/crypto/encoding.js';
import { verifyEntry, verifyRecord } from '../src/crypto/sign.js';
import { encodeLine, entrySignatureValid, HEADER_LINE_V2, isEntry, type Line, lineHash, parseLine, signedText } from '../src/store/op-codec.js';
import { serializeLog } from '../src/store/op-log.js';
import { ROOT } from './support/cli.js';
import { signRecord } from './support/format1-writer.js';
import { APP_RW, bytesOf, fixtureLog, REAL_REPLAY, testMember } from './support/oplog.js';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'vault-format-v2');
const vectors = JSON.parse(readFileSync(join(FIXTURE, 'vectors.json'), 'utf8')) as { hashes: string[]; G: string; genesisSig: string };
const fixtureText = readFileSync(join(FIXTURE, 'vault.yaml'), 'utf8');
/** The fixture's lines after the header, without `- `. */
const fixtureLines = fixtureText
  .slice(0, -1)
  .split('\n')
  .slice(1)
  .map((l) => l.slice(2));

function damagedError(err: unknown): boolean {
  return err instanceof SecretsError && err.code === 'DAMAGED_VAULT';
}

/** u32be(length) ‖ bytes per part: the framing, written out here rather than imported. */
function framed(parts: string[]): Buffer {
  return Buffer.concat(
    parts.flatMap((p) => {
      const bytes = Buffer.from(p);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return [length, bytes];
    }),
  );
}

const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

describe('format-2 vectors (test/fixtures/vault-format-v2)', () => {
  it('the committed file is what the code writes, byte for byte', async () => {
    const { log } = await fixtureLog();
    assert.equal(serializeLog(log.lines).toString('utf8'), fixtureText);
    assert.equal(fixtureText.split('\n')[0], HEADER_LINE_V2);
  });

  it('every line parses, re-encodes to its own bytes, and hashes to the committed h(line)', () => {
    assert.equal(fixtureLines.length, vectors.hashes.length);
    fixtureLines.forEach((json, i) => {
      const line = parseLine(json, i + 2);
      assert.equal(encodeLine(line), json);
      assert.equal(lineHash(json), vectors.hashes[i]);
    });
    assert.equal(lineHash(fixtureLines[0] as string), vectors.G);
  });

  it('the genesis signature is the committed one, and every signature checks with frame("secrets-entry-v2", G, entry without sig), verified independently', async () => {
    const { log, alice } = await fixtureLog();
    assert.equal(log.entries[0]?.entry.sig, vectors.genesisSig);
    assert.equal(log.G, vectors.G);
    const keyOf = new Map([[alice.keys.id, alice.keys.sign], ...[await testMember('bob')].map((m) => [m.keys.id, m.keys.sign] as const)]);
    for (const json of fixtureLines) {
      const line = parseLine(json, 0);
      if (!isEntry(line)) continue;
      const genesis = line.kind === 'op' && line.op === 'CreateVault';
      // The signed text is the line without its last field, `sig` (last in sorted order).
      const unsigned = json.replace(/,"sig":"[^"]+"\}$/, '}');
      assert.equal(signedText(line), unsigned);
      const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI, Buffer.from(keyOf.get(line.by) as string, 'base64')]), format: 'der', type: 'spki' });
      assert.ok(verify(null, framed(['secrets-entry-v2', genesis ? '' : vectors.G, unsigned]), key, Buffer.from(line.sig, 'base64')));
      assert.ok(entrySignatureValid({ hash: lineHash(json), entry: line }, keyOf.get(line.by) as string, genesis ? '' : vectors.G));
    }
  });

  it('replays to the expected state with real signatures and ids', () => {
    const entries: LogEntry[] = [];
    const payloads = new Map();
    for (const json of fixtureLines) {
      const line = parseLine(json, 0);
      if (isEntry(line)) entries.push({ hash: lineHash(json), entry: line });
      else payloads.set(lineHash(json), line);
    }
    const result = replay({ entries, payloads }, REAL_REPLAY);
    assert.deepEqual(result.notes, []);
    const [secret] = [...result.state.secrets.values()];
    assert.equal(secret?.name, 'app/db');
    assert.deepEqual(
      [...(secret?.tags ?? [])],
      [
        ['team', 'dev'],
        ['owner', 'bob'],
      ],
    );
    assert.equal(secret?.versions.length, 2);
  });
});

// ---------------------------------------------------------------------------------------------
// Round trips of every kind and every action

const H = (label: string): string => lineHash(label);
const ID = '01b404d0-7201-8b36-b74f-02137fa00635';
const REF = { secret: ID, name: 'app/db' };
const VERSION = { version: 'v-1', type: 'string' as const, v: H('v'), k: H('k') };

async function examples(): Promise<Line[]> {
  const alice = await testMember('alice');
  const common = { by: alice.keys.id, seq: 3, parents: [H('p1'), H('p2')].sort(), at: '2026-01-05T09:00:00.000Z', sig: bytesOf('sig', 64) };
  const bodies: { [A in Action]: OpBodies[A] } = {
    CreateVault: { vault: '0b6f4c1e-7d2a-4f3b-9c55-2e8a1d9f6b70', name: 'v', format: 2, creator: alice.keys },
    AddMember: { member: alice.keys, roles: ['admin'] },
    RemoveMember: { member: alice.keys.id },
    SetRole: { member: alice.keys.id, roles: ['member'] },
    PutPolicy: { policy: 'app-rw', doc: APP_RW },
    DeletePolicy: { policy: 'app-rw' },
    AttachPolicy: { policy: 'app-rw', member: alice.keys.id },
    DetachPolicy: { policy: 'app-rw', member: alice.keys.id },
    PutResourcePolicy: { ...REF, doc: APP_RW },
    DeleteResourcePolicy: REF,
    CreateSecret: {
      ...REF,
      description: 'd',
      tags: new Map([
        ['__proto__', 'x'],
        ['kind', 'y'],
      ]),
      value: VERSION,
    },
    PutSecretValue: { ...REF, value: VERSION, stages: ['AWSCURRENT', 'CURRENT'] },
    UpdateSecret: { ...REF, description: '' },
    TagResource: { ...REF, tags: new Map([['team', 'dev']]) },
    UntagResource: { ...REF, keys: ['a', 'b'] },
    UpdateSecretVersionStage: { ...REF, stage: 'CURRENT', version: 'v-1' },
    DeleteSecret: { ...REF, days: 7 },
    RestoreSecret: REF,
    ConfirmSecret: REF,
    RotateSecret: {
      ...REF,
      rotation: {
        handler: 'postgres',
        enabled: true,
        cron: '0 4 * * 1',
        window: '4h',
        strategy: 'alternating-users',
        master: 'app/admin',
        random: { length: 40, excludePunctuation: true },
      },
      value: VERSION,
      finish: 'v-1',
    },
    CancelRotateSecret: REF,
    Reseal: { ...REF, keys: new Map([['v-1', H('k2')]]) },
  };
  const ops = Object.entries(bodies).map(([op, body]) => ({ kind: 'op', op, body, ...common }) as Entry);
  return [
    ...ops,
    { kind: 'op', op: 'UpdateSecretVersionStage', body: { ...REF, stage: 'GOLDEN' }, ...common, audit: `${'a'.repeat(16)}:12:${'b'.repeat(64)}` },
    { kind: 'merge', ...common },
    {
      kind: 'checkpoint',
      ...common,
      parents: [H('u')],
      state: H('state'),
      secrets: 1,
      seqs: new Map([[alice.keys.id, 3]]),
      gov: H('gov'),
      anchors: new Map([[alice.keys.id, `${'a'.repeat(16)}:1:${'c'.repeat(64)}`]]),
      from: H('f1'),
    },
    { kind: 'value', n: bytesOf('n', 24), ct: bytesOf('ct', 100) },
    { kind: 'keys', keys: new Map([[alice.keys.id, bytesOf('sealed', 80)]]) },
    {
      kind: 'state',
      id: ID,
      name: 'app/db',
      tags: new Map(),
      stages: new Map([['CURRENT', 'v-1']]),
      versions: [{ id: 'v-1', at: common.at, by: alice.keys.id, type: 'binary', v: H('v'), k: H('k'), entry: H('e'), act: 'PutSecretValue' }],
      created: common.at,
      deleted: { at: common.at, purge: '2026-01-12T09:00:00.000Z', entry: H('d') },
      rotation: { handler: 'command:renew', enabled: false, every: 30, since: common.at, last: common.at, by: alice.keys.id },
      setBy: alice.keys.id,
    },
  ];
}

describe('round trips', () => {
  it('every line kind and every action: encode then parse gives the same value and the same bytes', async () => {
    for (const line of await examples()) {
      const json = encodeLine(line);
      assert.ok(json.startsWith(`{"kind":"${line.kind}",`), json);
      const back = parseLine(json, 2);
      assert.deepEqual(back, line);
      assert.equal(encodeLine(back), json);
    }
  });

  it('the codec reads exactly the actions replay knows', async () => {
    const ops = new Set((await examples()).flatMap((l) => (l.kind === 'op' ? [l.op] : [])));
    assert.deepEqual([...ops].sort(), [...ACTIONS].sort());
  });

  it('a key such as __proto__ stays a map key', async () => {
    const line = (await examples()).find((l) => l.kind === 'op' && l.op === 'CreateSecret') as Entry;
    const back = parseLine(encodeLine(line), 2);
    assert.ok(back.kind === 'op' && back.op === 'CreateSecret' && back.body.tags?.get('__proto__') === 'x');
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals

describe('refusals', () => {
  const genesis = fixtureLines[0] as string;
  const put = fixtureLines[9] as string;
  assert.match(put, /"op":"PutSecretValue"/);
  const cases: [string, string][] = [
    ['an unknown field', genesis.replace('{"kind":"op",', '{"kind":"op","extra":1,')],
    ['an unknown body field', put.replace('"body":{', '"body":{"description":"x",')],
    ["another action's body field", put.replace('"body":{', '"body":{"days":7,')],
    ['an unknown op', put.replace('"op":"PutSecretValue"', '"op":"PutSecretValues"')],
    ['an unknown kind', '{"kind":"opp"}'],
    ['keys out of order', put.replace('{"kind":"op","at":', '{"at":').replace('"body":', '"kind":"op","body":')],
    ['whitespace', put.replace('"op":"PutSecretValue"', '"op": "PutSecretValue"')],
    ['an escaped character that needs none', put.replace('"op":"PutSecretValue"', '"op":"PutSecretValu\\u0065"')],
    ['a hash with padding bits set', put.replace(/"v":"([^"]{42})[AEIMQUYcgkosw048]=/, '"v":"$1B=')],
    ['a negative zero', put.replace(/"seq":\d+/, '"seq":-0')],
    ['a seq of 0', put.replace(/"seq":\d+/, '"seq":0')],
    ['a float', put.replace(/"seq":(\d+)/, '"seq":$1.5')],
    ['a missing body field', put.replace(/"name":"app\/db",/, '')],
    ['a short signature', put.replace(/"sig":"[^"]+"/, `"sig":"${bytesOf('s', 63)}"`)],
    ['a time without milliseconds', put.replace(/"at":"([^"]+)\.000Z"/, '"at":"$1Z"')],
    ['a second format', genesis.replace('"format":2', '"format":3')],
    ['an array', '[]'],
    ['not JSON', '{"kind":"op"'],
    ['a line over 1 MiB', `{"kind":"value","ct":"${'A'.repeat(1024 * 1024)}","n":"${bytesOf('n', 24)}"}`],
    ['nesting deeper than 8', `{"kind":"op","body":${'{"a":'.repeat(10)}1${'}'.repeat(10)}}`],
    ['a version dated after its entry', put.replace('"value":{', '"value":{"created":"2099-01-01T00:00:00.000Z",')],
    [
      'a secret dated after its entry',
      put.replace('"op":"PutSecretValue"', '"op":"CreateSecret"').replace('"body":{', '"body":{"created":"2099-01-01T00:00:00.000Z",'),
    ],
  ];
  for (const [what, json] of cases) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => parseLine(json, 7),
        (err: unknown) => damagedError(err) && /line 7/.test((err as Error).message),
      );
    });
  }

  it('a date before the entry (a restored version) is read and written back as it is', () => {
    const dated = put.replace('"value":{', '"value":{"created":"2020-01-01T00:00:00.000Z",');
    const line = parseLine(dated, 2) as Entry & { body: { value: { created?: string } } };
    assert.equal(line.body.value.created, '2020-01-01T00:00:00.000Z');
    assert.equal(encodeLine(line), dated);
  });

  it('labels and tag keys in lists are read up to their own limits (256 and 128 characters)', () => {
    const { secret } = (parseLine(put, 2) as Entry & { body: { secret: string } }).body;
    const key = 'k'.repeat(128);
    const untag = put
      .replace('"op":"PutSecretValue"', '"op":"UntagResource"')
      .replace(/"body":\{.*?\}\},"by"/, `"body":{"keys":["${key}"],"name":"app/db","secret":"${secret}"},"by"`);
    assert.deepEqual((parseLine(untag, 2) as Entry & { body: { keys: string[] } }).body.keys, [key]);
    const label = 'L'.repeat(256);
    const staged = put.replace('"value":{', `"stages":["${label}"],"value":{`);
    assert.deepEqual((parseLine(staged, 2) as Entry & { body: { stages: string[] } }).body.stages, [label]);
  });

  it('encodeLine refuses a value it would not read back', () => {
    const line = parseLine(put, 2) as Entry;
    assert.throws(() => encodeLine({ ...line, seq: 0 }), damagedError);
    assert.throws(() => encodeLine({ ...line, op: 'Nope' } as unknown as Entry), damagedError);
  });
});

// ---------------------------------------------------------------------------------------------
// Signatures

describe('signatures', () => {
  it('a format-1 signature over the same bytes never verifies as an entry, nor the other way round', async () => {
    const { log, alice } = await fixtureLog();
    for (const { entry } of log.entries.slice(1)) {
      const text = signedText(entry);
      const v1 = await signRecord(alice.identity, vectors.G, text);
      assert.equal(verifyEntry(alice.identity.sign, vectors.G, text, v1), false);
      const v2 = Buffer.from(entry.sig, 'base64');
      if (entry.by === alice.keys.id) {
        assert.equal(verifyEntry(alice.identity.sign, vectors.G, text, v2), true);
        assert.equal(await verifyRecord(alice.identity.sign, vectors.G, text, v2), false);
      }
    }
  });

  it('an entry does not verify in another vault', async () => {
    const { log, alice } = await fixtureLog();
    const item = log.entries[1] as LogEntry;
    assert.equal(entrySignatureValid(item, alice.keys.sign, vectors.G), true);
    assert.equal(entrySignatureValid(item, alice.keys.sign, H('another vault')), false);
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzzing

describe('fuzzing', () => {
  it('the exact-length base64 check agrees with decoding and re-encoding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(), fc.constantFrom(...'AQgwBa+/=_-.'), fc.nat({ max: 100 }), (bytes, at, c, n) => {
        const text = Buffer.from(bytes).toString('base64');
        const mutated = text.length === 0 ? c : text.slice(0, at % text.length) + c + text.slice((at % text.length) + 1);
        for (const t of [text, mutated]) for (const len of [bytes.length, n]) assert.equal(isBase64Of(t, len), fromBase64(t)?.length === len, `${t} ${len}`);
      }),
      { numRuns: 5000 },
    );
  });

  const valid = fixtureLines.map((l) => Buffer.from(l));

  it('random text never throws anything but DAMAGED_VAULT', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.json(),
          fc.constantFrom(...fixtureLines).map((l) => l.slice(0, l.length >> 1)),
        ),
        (text) => {
          try {
            parseLine(text, 1);
          } catch (err) {
            assert.ok(damagedError(err), String(err));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('mutated valid lines (replace, insert, delete a byte) never throw anything but DAMAGED_VAULT', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: valid.length - 1 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('replace', 'insert', 'delete'),
        (which, at, byte, how) => {
          const bytes = valid[which] as Buffer;
          const i = at % bytes.length;
          const mutated =
            how === 'replace'
              ? Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i + 1)])
              : how === 'insert'
                ? Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)])
                : Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
          try {
            parseLine(mutated.toString('utf8'), 1);
          } catch (err) {
            assert.ok(damagedError(err), String(err));
          }
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('any single-byte change of a valid line is refused, or changes h, and an entry so changed no longer verifies', async () => {
    const { alice, bob } = await fixtureLog();
    const keyOf = new Map([
      [alice.keys.id, alice.keys.sign],
      [bob.keys.id, bob.keys.sign],
    ]);
    fc.assert(
      fc.property(fc.nat({ max: valid.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (which, at, byte) => {
        const bytes = valid[which] as Buffer;
        const i = at % bytes.length;
        if (bytes[i] === byte) return;
        const mutated = Buffer.from(bytes);
        mutated[i] = byte;
        let line: Line;
        try {
          line = parseLine(mutated.toString('utf8'), 1);
        } catch (err) {
          assert.ok(damagedError(err));
          return;
        }
        assert.notEqual(lineHash(mutated), lineHash(bytes));
        if (isEntry(line)) {
          const genesis = which === 0;
          const key = genesis && line.kind === 'op' && line.op === 'CreateVault' ? line.body.creator.sign : keyOf.get(line.by);
          if (key !== undefined) assert.equal(entrySignatureValid({ hash: lineHash(mutated), entry: line }, key, genesis ? '' : vectors.G), false);
        }
      }),
      { numRuns: 5000 },
    );
  });
});
