/**
 * The insider attacks of the format-1 suites (authorization, insider-attacks, member-attacks),
 * performed on a format-2 vault (the operation log), end to end through the built binary. The
 * attacker holds a real member key and a modified client: he signs the ops he likes with it
 * and appends them (or edits lines in place) by hand. The honest members' commands must refuse
 * every forged history with exit 6, name the entry, print no value, and leave the vault file
 * and their trust state byte for byte as they were; what the CLI denies is exit 5 and changes
 * nothing.
 *
 * Format 2 differs from format 1 where its design says so (ADR 0018): an entry its writer was
 * not allowed to make refuses the whole history, not just the records it touches; removal is
 * final and re-signs nothing, so what a removed member wrote keeps its author and what he set
 * (tags, description, rotation) is held until an admin confirms it; a rotation handler is a
 * name, never a program path; a policy condition on tags reads the tags before the op.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Payload } from '../src/core/ops.js';
import { secretIdInLog } from '../src/crypto/digest.js';
import { identityFromSeed, generateSeed } from '../src/crypto/identity.js';
import { encodeLine, lineHash } from '../src/store/op-codec.js';
import { marker } from './support/cli.js';
import { explain, fakePostgres, grant, type Person, person, team } from './support/insider.js';
import { escaped, forgeOp, keeper, logOf, refused, snapshot, value } from './support/log-insider.js';

const DB = 'app/db';
const API = 'app/api';
/** `init` of the vaults here: format 2, explicitly, made by alice. */
const FORMAT_2 = ['--format', '2', '--member-name', 'alice'];

/** The statements of a policy on app/*. */
const READ_ONLY = [{ Sid: 'Read', Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'app/*' }];
const WRITER = [{ Sid: 'ReadWrite', Effect: 'Allow', Action: ['secrets:GetSecretValue', 'secrets:PutSecretValue'], Resource: 'app/*' }];
const GUARDED = [
  { Sid: 'Read', Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'app/*' },
  { Sid: 'NoNewValues', Effect: 'Deny', Action: 'secrets:PutSecretValue', Resource: 'app/*' },
];

/** The line of the file holding the entry with this hash, and its index. */
function lineOfEntry(vault: string, hash: string): { lines: string[]; at: number } {
  const lines = readFileSync(vault, 'utf8').split('\n');
  const at = lines.findIndex((l) => l.startsWith('- {"kind":"op"') && lineHash(l.slice(2)) === hash);
  assert.ok(at > 0, `entry ${hash} is in the file`);
  return { lines, at };
}

/** `secrets doctor --json` fails its integrity row, naming `entry`, and changes nothing. */
async function doctorRefuses(vault: string, who: Person, entry: string): Promise<void> {
  const before = snapshot(vault, who);
  const r = await who.run(['doctor', '--json']);
  assert.equal(r.code, 6, explain('doctor', r));
  const checks = (JSON.parse(r.stdout) as { Checks: { Name: string; Status: string; Detail: string }[] }).Checks;
  const integrity = checks.find((c) => c.Name === 'integrity');
  assert.equal(integrity?.Status, 'fail', r.stdout);
  assert.ok(integrity?.Detail.includes(entry), `doctor names ${entry}: ${integrity?.Detail}`);
  assert.equal(snapshot(vault, who), before);
}

describe('format 2: writes by members who may not make them (T9, T10, T11)', () => {
  let dir: string;
  let vault: string;
  let alice: Person;
  /** Read-only on app/*. */
  let bob: Person;
  /** May read and put app/*. */
  let carol: Person;
  /** May read app/*; an explicit Deny of new values. */
  let dave: Person;
  let reset: () => void;
  const db = [marker(), marker()] as const;
  const api = marker();
  let dbId: string;

  before(async () => {
    const t = await team(['bob', 'carol', 'dave'], FORMAT_2);
    ({ dir, vault } = t);
    [alice, bob, carol, dave] = t.people as [Person, Person, Person, Person];
    await grant(alice, dir, 'bob', READ_ONLY);
    await grant(alice, dir, 'carol', WRITER);
    await grant(alice, dir, 'dave', GUARDED);
    await alice.ok(['create', DB, '--value-stdin', '--tag', 'env=prod'], { input: db[0].value });
    await alice.ok(['put', DB, '--value-stdin'], { input: db[1].value });
    await alice.ok(['create', API, '--value-stdin'], { input: api.value });
    await alice.ok(['tag', API, 'team=web']);
    for (const p of [bob, carol, dave]) assert.equal(await p.ok(['get', DB]), db[1].value);
    dbId = secretIdInLog((await logOf(vault)).G, DB);
    reset = keeper(vault, [alice, bob, carol, dave]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A value of app/db written by `who`, sealed to the readers the policies allow (everyone here). */
  const dbValue = async (who: Person, plain: string): ReturnType<typeof value> =>
    value(
      (await logOf(vault)).G,
      dbId,
      who.identity,
      [alice, bob, carol, dave].map((p) => p.identity),
      plain,
    );

  it('T9: a read-only member signs a correctly encrypted new CURRENT of app/db; every command refuses the history, honest writes launder nothing', async () => {
    reset();
    const forged = marker();
    const v = await dbValue(bob, forged.value);
    const put = await forgeOp(vault, bob.identity, 'PutSecretValue', { secret: dbId, name: DB, value: v.ref }, { payloads: v.payloads });
    const notAllowed = /bob is not allowed secrets:PutSecretValue on app\/db/;
    for (const args of [
      ['get', DB],
      ['get', DB, '--json'],
      ['get', DB, '--version-id', v.ref.version],
      ['describe', DB],
      ['versions', DB],
      ['get', API],
      ['list'],
      ['verify'],
    ]) {
      assert.match(await refused(vault, alice, put, args), notAllowed);
    }
    await doctorRefuses(vault, alice, put);
    // No honest write signs on top of it (tag, untag, stage, delete, update, put).
    const fresh = marker();
    for (const args of [
      ['tag', DB, 'owner=alice'],
      ['untag', DB, 'env'],
      ['stage', DB, 'AWSPENDING', '--to', v.ref.version],
      ['delete', DB, '--yes'],
      ['update', DB, '--description', 'reviewed'],
    ]) {
      await refused(vault, alice, put, args);
    }
    await refused(vault, alice, put, ['put', DB, '--value-stdin'], { input: fresh.value });
    // Nor does the forger's own client, or another member's.
    await refused(vault, bob, put, ['get', DB]);
    await refused(vault, carol, put, ['put', DB, '--value-stdin'], { input: fresh.value });
  });

  it('T9: a read-only member adds a version beside CURRENT: refused as a whole, CURRENT included', async () => {
    reset();
    const v = await dbValue(bob, marker().value);
    const put = await forgeOp(vault, bob.identity, 'PutSecretValue', { secret: dbId, name: DB, value: v.ref, stages: ['BESIDE'] }, { payloads: v.payloads });
    for (const who of [alice, bob]) {
      for (const args of [
        ['get', DB],
        ['get', DB, '--version-id', v.ref.version],
        ['get', DB, '--version-stage', 'BESIDE'],
      ]) {
        assert.match(await refused(vault, who, put, args), /bob is not allowed secrets:PutSecretValue on app\/db/);
      }
    }
    await doctorRefuses(vault, alice, put);
  });

  it('T9: a read-only member moves CURRENT back to the older value; no honest write makes it valid', async () => {
    reset();
    const versions = JSON.parse(await alice.ok(['versions', DB, '--json'])) as { Versions: { VersionId: string; VersionStages: string[] }[] };
    const previous = versions.Versions.find((x) => x.VersionStages.includes('PREVIOUS'))?.VersionId as string;
    const move = await forgeOp(vault, bob.identity, 'UpdateSecretVersionStage', { secret: dbId, name: DB, stage: 'CURRENT', version: previous });
    const notAllowed = /bob is not allowed secrets:UpdateSecretVersionStage on app\/db/;
    assert.match(await refused(vault, alice, move, ['get', DB]), notAllowed);
    const fresh = marker();
    for (const [args, input] of [
      [['tag', DB, 'owner=alice'], undefined],
      [['untag', DB, 'env'], undefined],
      [['stage', DB, 'AWSPENDING', '--to', previous], undefined],
      [['delete', DB, '--yes'], undefined],
      [['update', DB, '--description', 'reviewed'], undefined],
      [['put', DB, '--value-stdin'], fresh.value],
      [['rollback', DB], undefined],
    ] as const) {
      assert.match(await refused(vault, alice, move, args, input === undefined ? {} : { input }), notAllowed);
    }
  });

  it('T9: the same write by a member allowed PutSecretValue on app/* is accepted, and stays hers', async () => {
    reset();
    const written = marker();
    const v = await dbValue(carol, written.value);
    const put = await forgeOp(vault, carol.identity, 'PutSecretValue', { secret: dbId, name: DB, value: v.ref }, { payloads: v.payloads });
    assert.equal(await alice.ok(['get', DB]), written.value);
    assert.equal(await carol.ok(['get', DB]), written.value);
    assert.equal(await bob.ok(['get', DB]), written.value);
    assert.equal(await alice.ok(['get', DB, '--version-stage', 'PREVIOUS']), db[1].value);
    const verify = await alice.run(['verify']);
    assert.equal(verify.code, 0, explain('verify', verify));
    assert.equal((await alice.run(['doctor', '--json'])).code, 0);
    const { at, lines } = lineOfEntry(vault, put);
    assert.equal((JSON.parse((lines[at] as string).slice(2)) as { by: string }).by, carol.identity.id, 'the entry is carol’s');
  });

  const t10: { name: string; forge: (G: string, mallory: Awaited<ReturnType<typeof identityFromSeed>>) => Promise<string>; refusal: RegExp }[] = [
    {
      name: 'a policy granting himself secrets:* on *',
      forge: async () => {
        const doc = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secrets:*', Resource: '*' }] };
        const put = await forgeOp(vault, bob.identity, 'PutPolicy', { policy: 'bob-everything', doc });
        await forgeOp(vault, bob.identity, 'AttachPolicy', { policy: 'bob-everything', member: bob.identity.id });
        return put;
      },
      refusal: /only an admin can PutPolicy; bob is not one/,
    },
    {
      name: 'his own role changed to admin',
      forge: () => forgeOp(vault, bob.identity, 'SetRole', { member: bob.identity.id, roles: ['admin'] }),
      refusal: /only an admin can SetRole; bob is not one/,
    },
    {
      name: 'a new identity mallory enrolled as an admin',
      forge: (_G, mallory) =>
        forgeOp(vault, bob.identity, 'AddMember', {
          member: { id: mallory.id, name: 'mallory', enc: Buffer.from(mallory.enc).toString('base64'), sign: Buffer.from(mallory.sign).toString('base64') },
          roles: ['admin'],
        }),
      refusal: /only an admin can AddMember; bob is not one/,
    },
  ];
  for (const c of t10) {
    it(`T10: a non-admin member signs ${c.name}; every command refuses the history`, async () => {
      reset();
      const mallory = await identityFromSeed(generateSeed());
      const entry = await c.forge((await logOf(vault)).G, mallory);
      const fresh = marker();
      const eve = (await (await person('eve', vault)).ok(['identity', 'show'])).trim();
      const commands: [readonly string[], string | undefined][] = [
        [['get', DB], undefined],
        [['get', API, '--json'], undefined],
        [['describe', DB], undefined],
        [['versions', DB], undefined],
        [['list'], undefined],
        [['put', DB, '--value-stdin'], fresh.value],
        [['create', 'app/new', '--value-stdin'], fresh.value],
        [['tag', DB, 'owner=alice'], undefined],
        [['member', 'list'], undefined],
        [['member', 'add', 'eve', eve], undefined],
        [['member', 'remove', 'bob', '--yes'], undefined],
        [['policy', 'list'], undefined],
        [['policy', 'detach', 'bob-policy', 'bob', '--yes'], undefined],
        [['reseal'], undefined],
        [['verify'], undefined],
      ];
      for (const [args, input] of commands) assert.match(await refused(vault, alice, entry, args, input === undefined ? {} : { input }), c.refusal);
      // Bob's own client refuses it too: his grant is worthless.
      await refused(vault, bob, entry, ['put', DB, '--value-stdin'], { input: fresh.value });
      await refused(vault, bob, entry, ['get', API]);
      await doctorRefuses(vault, alice, entry);
      const keys = readFileSync(vault, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('- {"kind":"keys"'));
      assert.ok(keys.length > 0 && keys.every((l) => !l.includes(mallory.id)), 'no data key is sealed to mallory');
    });
  }

  it('T11: a policy statement flipped from Deny to Allow in place is refused by every command', async () => {
    reset();
    const fresh = marker();
    const denied = await dave.run(['put', DB, '--value-stdin'], { input: fresh.value });
    assert.equal(denied.code, 5, explain('dave put', denied));
    assert.match(denied.stderr, /dave is not allowed secrets:PutSecretValue on app\/db: explicit deny/);
    const log = await logOf(vault);
    const putPolicy = log.hashes[log.entries.findIndex((e) => e.kind === 'op' && e.op === 'PutPolicy' && e.body.policy === 'dave-policy')] as string;
    const { lines, at } = lineOfEntry(vault, putPolicy);
    const line = lines[at] as string;
    assert.ok(line.includes('"Effect":"Deny"'));
    lines[at] = line.replace('"Effect":"Deny"', '"Effect":"Allow"');
    writeFileSync(vault, lines.join('\n'));
    // The entry after it named the original as its parent, which is gone.
    const refusal = new RegExp(`is refused: its parent ${escaped(putPolicy)} is missing or comes later`);
    await refused(vault, dave, refusal, ['put', DB, '--value-stdin'], { input: fresh.value });
    for (const args of [['get', DB], ['list'], ['describe', API], ['policy', 'get', 'dave-policy'], ['verify']]) await refused(vault, alice, refusal, args);
    await refused(vault, alice, refusal, ['put', DB, '--value-stdin'], { input: fresh.value });
  });

  it('T11: a tag edited in place is refused, mid-log (a parent is missing) and at the head (the signature fails)', async () => {
    reset();
    const log = await logOf(vault);
    const create = log.hashes[log.entries.findIndex((e) => e.kind === 'op' && e.op === 'CreateSecret' && e.body.name === DB)] as string;
    const head = log.heads[0] as string;
    const last = log.entries.at(-1);
    assert.equal(last?.kind === 'op' && last.op, 'TagResource', 'the last entry is alice’s tag of app/api');
    for (const [hash, from, to] of [
      [create, '"tags":{"env":"prod"}', '"tags":{"env":"dev"}'],
      [head, '"tags":{"team":"web"}', '"tags":{"team":"ops"}'],
    ] as const) {
      reset();
      const { lines, at } = lineOfEntry(vault, hash);
      assert.ok((lines[at] as string).includes(from), `${from} in ${lines[at]}`);
      lines[at] = (lines[at] as string).replace(from, to);
      writeFileSync(vault, lines.join('\n'));
      const edited = lineHash(lines[at].slice(2));
      const named = new RegExp(
        hash === head
          ? `entry ${escaped(edited)} is refused: its signature does not verify`
          : `is refused: its parent ${escaped(hash)} is missing or comes later`,
      );
      for (const args of [['get', DB], ['get', API], ['describe', DB], ['list'], ['tag', DB, 'env=staging'], ['verify']])
        await refused(vault, alice, named, args);
      await refused(vault, bob, named, ['get', DB]);
    }
  });
});

/** Lines of the file signed by `who` (entries whose `by` is their id). */
function linesBy(vault: string, who: Person): string[] {
  return readFileSync(vault, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('- {"kind":"op"') && (JSON.parse(l.slice(2)) as { by: string }).by === who.identity.id);
}

describe('format 2: losing a permission, removal, and the root of trust', () => {
  it('detaching the writer’s policy, or removing the writer, keeps what they wrote under their name and withdraws their keys', async () => {
    const t = await team(['bob'], FORMAT_2);
    const [alice, bob] = t.people as [Person, Person];
    try {
      await grant(alice, t.dir, 'bob', WRITER);
      await alice.ok(['create', DB, '--value-stdin'], { input: marker().value });
      await alice.ok(['create', API, '--value-stdin'], { input: marker().value });
      const [v1, v2] = [marker(), marker()];
      await bob.ok(['put', DB, '--value-stdin'], { input: v1.value });
      const written = linesBy(t.vault, bob);
      assert.deepEqual(
        written.map((l) => (JSON.parse(l.slice(2)) as { op: string }).op),
        ['PutSecretValue'],
      );
      // Detach: bob may no longer read or put; what he wrote stays his and stays CURRENT.
      await alice.ok(['policy', 'detach', 'bob-policy', 'bob', '--yes']);
      assert.deepEqual(linesBy(t.vault, bob), written, 'nothing bob signed was re-signed or dropped');
      assert.equal((await alice.run(['verify'])).code, 0);
      assert.equal(await alice.ok(['get', DB]), v1.value);
      const denied = await bob.run(['get', DB]);
      assert.equal(denied.code, 5, explain('bob get after detach', denied));
      assert.match(denied.stderr, /bob is not allowed secrets:GetSecretValue on app\/db/);
      // Attached again, bob writes app/api; his removal lists what he could read and re-signs nothing.
      await alice.ok(['policy', 'attach', 'bob-policy', 'bob']);
      await bob.ok(['put', API, '--value-stdin'], { input: v2.value });
      const before = linesBy(t.vault, bob);
      assert.equal(before.length, 2);
      const removed = await alice.run(['member', 'remove', 'bob', '--yes']);
      assert.equal(removed.code, 0, explain('member remove bob', removed));
      assert.deepEqual(removed.stdout.split('\n').filter(Boolean).sort(), [API, DB], 'the secrets bob could read are listed for rotation');
      assert.deepEqual(linesBy(t.vault, bob), before, 'what bob signed keeps his name');
      assert.equal((await alice.run(['verify'])).code, 0);
      assert.equal(await alice.ok(['get', API]), v2.value);
      assert.equal(await alice.ok(['get', DB]), v1.value);
      // The re-seals after his removal seal every version to alice alone.
      const log = await logOf(t.vault);
      const removal = log.entries.findIndex((e) => e.kind === 'op' && e.op === 'RemoveMember');
      const reseals = log.entries.slice(removal + 1).filter((e) => e.kind === 'op' && e.op === 'Reseal');
      assert.ok(reseals.length > 0, 'the removal withdraws his keys');
      const keyLines = readFileSync(t.vault, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('- {"kind":"keys"'))
        .map((l) => ({ hash: lineHash(l.slice(2)), ids: Object.keys((JSON.parse(l.slice(2)) as { keys: Record<string, string> }).keys) }));
      for (const r of reseals) {
        for (const k of r.kind === 'op' && r.op === 'Reseal' ? [...r.body.keys.values()] : []) {
          assert.deepEqual(keyLines.find((l) => l.hash === k)?.ids, [alice.identity.id], 'no data key is left sealed to bob');
        }
      }
      const members = JSON.parse(await alice.ok(['member', 'list', '--removed', '--json'])) as { Members: { Id: string; Status: string }[] };
      assert.deepEqual(
        members.Members.map((m) => [m.Id, m.Status]).sort(),
        [
          [alice.identity.id, 'active'],
          [bob.identity.id, 'removed'],
        ].sort(),
      );
      const gone = await bob.run(['get', DB]);
      assert.equal(gone.code, 5, explain('bob get after removal', gone));
      assert.match(gone.stderr, /this identity \(\w+\) was removed from the vault/);
    } finally {
      t.cleanup();
    }
  });

  it('the creator cannot be removed or demoted, an admin cannot remove themselves, the last admin stays; a removed admin’s word stays', async () => {
    const t = await team(['bob'], FORMAT_2);
    const [alice, bob] = t.people as [Person, Person];
    const carol = await person('carol', t.vault);
    const dave = await person('dave', t.vault);
    try {
      const refusedByCli = async (who: Person, args: readonly string[], code: number, message: RegExp): Promise<void> => {
        const before = readFileSync(t.vault, 'utf8');
        const r = await who.run(args);
        assert.equal(r.code, code, explain(`${who.name}: secrets ${args.join(' ')}`, r));
        assert.match(r.stderr, message);
        assert.equal(readFileSync(t.vault, 'utf8'), before, 'the vault is unchanged');
      };
      const roles = async (): Promise<string[][]> =>
        (JSON.parse(await alice.ok(['member', 'list', '--json', '--removed'])) as { Members: { Name: string; Role: string; Status: string }[] }).Members.map(
          (m) => [m.Name, m.Role, m.Status],
        );
      await refusedByCli(alice, ['member', 'remove', 'alice', '--yes'], 2, /cannot remove yourself/);
      await alice.ok(['member', 'add', 'carol', (await carol.ok(['identity', 'show'])).trim(), '--role', 'admin']);
      await refusedByCli(carol, ['member', 'remove', 'alice', '--yes'], 2, /alice created this vault and is its root of trust; the creator cannot be removed/);
      await refusedByCli(carol, ['member', 'remove', 'carol', '--yes'], 2, /cannot remove yourself/);
      await refusedByCli(bob, ['member', 'remove', 'carol', '--yes'], 5, /only an admin can remove members/);
      const withCarol = await roles();
      // Carol's modified client signs what the CLI refuses: the creator's removal, the creator's
      // demotion, her own removal. None of them applies: the members and roles stay as they were.
      const reset = keeper(t.vault, [alice, carol]);
      for (const [op, body] of [
        ['RemoveMember', { member: alice.identity.id }],
        ['SetRole', { member: alice.identity.id, roles: ['member'] }],
        ['RemoveMember', { member: carol.identity.id }],
      ] as const) {
        reset();
        await forgeOp(t.vault, carol.identity, op, body as never);
        assert.deepEqual(await roles(), withCarol, `carol's ${op} ${JSON.stringify(body)} has no effect`);
        await alice.ok(['member', 'add', 'erin', (await (await person('erin', t.vault)).ok(['identity', 'show'])).trim()]);
        await refusedByCli(carol, ['member', 'remove', 'alice', '--yes'], 2, /the creator cannot be removed/);
      }
      reset();
      // Carol adds dave and removes bob; alice then removes carol. Removal re-signs nothing: dave
      // stays a member on carol's word, under her signature.
      await carol.ok(['member', 'add', 'dave', (await dave.ok(['identity', 'show'])).trim()]);
      await carol.ok(['member', 'remove', 'bob', '--yes']);
      const daveAdded = linesBy(t.vault, carol).filter((l) => l.includes('"op":"AddMember"'));
      assert.equal(daveAdded.length, 1);
      await alice.ok(['member', 'remove', 'carol', '--yes']);
      assert.deepEqual(
        linesBy(t.vault, carol).filter((l) => l.includes('"op":"AddMember"')),
        daveAdded,
        'dave’s membership keeps carol’s signature',
      );
      assert.deepEqual(await roles(), [
        ['alice', 'admin', 'active'],
        ['bob', 'member', 'removed'],
        ['carol', 'admin', 'removed'],
        ['dave', 'member', 'active'],
      ]);
      await refusedByCli(alice, ['member', 'remove', 'alice', '--yes'], 2, /cannot remove yourself/);
      await refusedByCli(carol, ['member', 'remove', 'alice', '--yes'], 5, /was removed from the vault/);
      assert.equal((await alice.run(['verify'])).code, 0);
    } finally {
      for (const p of [carol, dave]) p.sb.cleanup();
      t.cleanup();
    }
  });
});

describe('format 2: scope, master secrets, holds and handlers (insider-attacks, member-attacks)', () => {
  it("a copy of prod/db's ciphertext and alice's sealed key put into bob's own secret never gets its data key shared", async () => {
    const t = await team(['bob'], FORMAT_2);
    const [alice, bob] = t.people as [Person, Person];
    const carol = await person('carol', t.vault);
    try {
      await grant(alice, t.dir, 'bob', [
        { Effect: 'Allow', Action: ['secrets:GetSecretValue', 'secrets:CreateSecret', 'secrets:PutSecretValue'], Resource: 'dev/*' },
      ]);
      await alice.ok(['create', 'prod/db', '--value-stdin'], { input: 'PROD-PASSWORD' });
      await bob.ok(['create', 'dev/copy', '--value-stdin'], { input: 'bob-own' });
      // Bob copies prod/db's value line and alice's sealed data key into a version of dev/copy;
      // his own key slot holds a box he sealed himself (the readers must be exactly alice and bob).
      const lines = readFileSync(t.vault, 'utf8').split('\n');
      const create = lines.findIndex((l) => l.includes('"op":"CreateSecret"') && l.includes('"name":"prod/db"'));
      const stolen = JSON.parse((lines[create - 2] as string).slice(2)) as { n: string; ct: string };
      const prodKeys = JSON.parse((lines[create - 1] as string).slice(2)) as { keys: Record<string, string> };
      const log = await logOf(t.vault);
      const id = secretIdInLog(log.G, 'dev/copy');
      const own = await value(log.G, id, bob.identity, [bob.identity], 'filler');
      const ownKeys = own.payloads[1] as Payload & { kind: 'keys' };
      const v: Payload = { kind: 'value', n: stolen.n, ct: stolen.ct };
      const k: Payload = {
        kind: 'keys',
        keys: new Map([
          [alice.identity.id, prodKeys.keys[alice.identity.id] as string],
          [bob.identity.id, ownKeys.keys.get(bob.identity.id) as string],
        ]),
      };
      const ref = { ...own.ref, v: lineHash(encodeLine(v)), k: lineHash(encodeLine(k)) };
      await forgeOp(t.vault, bob.identity, 'PutSecretValue', { secret: id, name: 'dev/copy', value: ref }, { payloads: [v, k] });
      assert.equal((await alice.run(['verify'])).code, 0, 'the op is one bob may make, sealed to the right readers');
      // Alice's client, re-sealing dev/copy to a new admin, finds the value does not open where it stands.
      const before = snapshot(t.vault, alice);
      const add = await alice.run(['member', 'add', 'carol', (await carol.ok(['identity', 'show'])).trim(), '--role', 'admin']);
      assert.equal(add.code, 6, explain('member add', add));
      assert.match(add.stderr, /dev\/copy does not decrypt where it stands/);
      assert.equal(snapshot(t.vault, alice), before, 'nothing was re-sealed');
      const got = await bob.run(['get', 'dev/copy']);
      assert.notEqual(got.code, 0);
      assert.doesNotMatch(got.stdout, /PROD-PASSWORD/);
    } finally {
      carol.sb.cleanup();
      t.cleanup();
    }
  });

  describe('a master secret is used only with the authority of someone who may read it', () => {
    let t: Awaited<ReturnType<typeof team>>;
    let alice: Person;
    let bob: Person;
    let server: Server;
    let port: number;
    const seen: string[] = [];
    const devDb = (host: string): string =>
      JSON.stringify({ engine: 'postgres', host, port, username: 'app', password: 'dev-pw', dbname: 'app', sslmode: 'disable' });
    before(async () => {
      t = await team(['bob'], FORMAT_2);
      [alice, bob] = t.people as [Person, Person];
      await grant(alice, t.dir, 'bob', [
        {
          Effect: 'Allow',
          Action: ['secrets:CreateSecret', 'secrets:PutSecretValue', 'secrets:RotateSecret', 'secrets:GetSecretValue', 'secrets:DescribeSecret'],
          Resource: 'dev/*',
        },
      ]);
      await alice.ok(['create', 'prod/db-admin', '--value-stdin'], { input: JSON.stringify({ username: 'postgres', password: 'PROD-MASTER-PW' }) });
      ({ server, port } = await fakePostgres(seen));
      await bob.ok(['create', 'dev/db', '--value-stdin'], { input: devDb('127.0.0.1') });
    });
    after(() => {
      server.close();
      t.cleanup();
    });

    it('bob may not name a master secret he cannot read (exit 5, nothing stored)', async () => {
      const before = readFileSync(t.vault);
      const r = await bob.run([
        'rotate',
        'dev/db',
        '--handler',
        'postgres',
        '--strategy',
        'alternating-users',
        '--master-secret',
        'prod/db-admin',
        '--no-rotate-now',
      ]);
      assert.equal(r.code, 5, explain('configure', r));
      assert.match(r.stderr, /secrets:GetSecretValue on prod\/db-admin/);
      assert.deepEqual(readFileSync(t.vault), before);
    });

    it('with a modified client he signs it anyway: the history is refused (exit 6) and his server sees no password', async () => {
      const reset = keeper(t.vault, [alice]);
      const id = secretIdInLog((await logOf(t.vault)).G, 'dev/db');
      const rotation = { handler: 'postgres', enabled: true, strategy: 'alternating-users', master: 'prod/db-admin' } as const;
      const entry = await forgeOp(t.vault, bob.identity, 'RotateSecret', { secret: id, name: 'dev/db', rotation });
      assert.match(await refused(t.vault, alice, entry, ['rotate', 'dev/db']), /bob cannot read the master secret prod\/db-admin/);
      await refused(t.vault, alice, entry, ['rotate', '--due']);
      assert.deepEqual(seen, []);
      reset();
    });

    it("alice configures the master herself; bob's new value of dev/db cannot send it to his server", async () => {
      await alice.ok(['rotate', 'dev/db', '--handler', 'postgres', '--strategy', 'alternating-users', '--master-secret', 'prod/db-admin', '--no-rotate-now']);
      // Bob may put dev/db: he points it at a host of his (here the same fake server, on another name).
      await bob.ok(['put', 'dev/db', '--value-stdin'], { input: devDb('localhost') });
      const r = await alice.run(['rotate', 'dev/db']);
      assert.equal(r.code, 5, explain('alice rotates', r));
      assert.match(r.stderr, /uses the master secret prod\/db-admin, which bob .* may not read/);
      assert.deepEqual(seen, [], 'no password reached the server');
    });
  });

  it('what bob took away or wrote is held at his removal: an untag, and a description, still count against carol', async () => {
    const t = await team(['bob', 'carol'], FORMAT_2);
    const [alice, bob, carol] = t.people as [Person, Person, Person];
    try {
      await grant(alice, t.dir, 'bob', [
        { Effect: 'Allow', Action: ['secrets:UntagResource', 'secrets:UpdateSecret', 'secrets:DescribeSecret'], Resource: 'dev/*' },
      ]);
      await grant(alice, t.dir, 'carol', [
        { Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'dev/*', Condition: { StringLike: { 'secrets:Description': '*[ops-shared]*' } } },
        {
          Effect: 'Deny',
          Action: 'secrets:GetSecretValue',
          Resource: '*',
          Condition: { StringEquals: { 'secrets:ResourceTag/classification': 'restricted' } },
        },
      ]);
      await alice.ok(['create', 'dev/payroll', '--value-stdin', '--tag', 'classification=restricted', '--description', 'payroll [ops-shared]'], {
        input: 'PAYROLL-KEY',
      });
      await alice.ok(['create', 'dev/ops', '--value-stdin'], { input: 'OPS-KEY' });
      assert.equal((await carol.run(['get', 'dev/payroll'])).code, 5, 'the Deny on the tag holds');
      await bob.ok(['untag', 'dev/payroll', 'classification']);
      await bob.ok(['update', 'dev/ops', '--description', 'creds [ops-shared]']);
      await alice.ok(['reseal']);
      assert.equal(await carol.ok(['get', 'dev/payroll']), 'PAYROLL-KEY', 'while bob is a member, his untag counts');
      assert.equal(await carol.ok(['get', 'dev/ops']), 'OPS-KEY', 'and so does his description');
      const r = await alice.run(['member', 'remove', 'bob', '--yes']);
      assert.equal(r.code, 0, explain('remove', r));
      assert.match(r.stderr, /dev\/payroll: no handler, no tags/);
      for (const name of ['dev/payroll', 'dev/ops']) {
        const got = await carol.run(['get', name]);
        assert.equal(got.code, 5, explain(`carol get ${name}`, got));
        assert.equal(got.stdout, '');
      }
    } finally {
      t.cleanup();
    }
  });

  it('a description signed under a permission to tag only is refused (exit 6): each op carries only its own fields', async () => {
    const t = await team(['bob'], FORMAT_2);
    const [alice, bob] = t.people as [Person, Person];
    try {
      await grant(alice, t.dir, 'bob', [{ Effect: 'Allow', Action: ['secrets:TagResource'], Resource: 'prod/ops' }]);
      await alice.ok(['create', 'prod/ops', '--value-stdin'], { input: 'PROD-OPS-KEY' });
      const id = secretIdInLog((await logOf(t.vault)).G, 'prod/ops');
      const entry = await forgeOp(t.vault, bob.identity, 'UpdateSecret', { secret: id, name: 'prod/ops', description: 'creds [ops-shared]' });
      assert.match(await refused(t.vault, alice, entry, ['get', 'prod/ops']), /bob is not allowed secrets:UpdateSecret on prod\/ops/);
    } finally {
      t.cleanup();
    }
  });

  describe('a member cannot make another run a program, and removing him launders nothing he set', () => {
    let t: Awaited<ReturnType<typeof team>>;
    let alice: Person;
    let bob: Person;
    let carol: Person;
    let marker: string;
    before(async () => {
      t = await team(['bob', 'carol'], FORMAT_2);
      [alice, bob, carol] = t.people as [Person, Person, Person];
      await grant(alice, t.dir, 'bob', [
        {
          Effect: 'Allow',
          Action: [
            'secrets:CreateSecret',
            'secrets:PutSecretValue',
            'secrets:TagResource',
            'secrets:RotateSecret',
            'secrets:DescribeSecret',
            'secrets:GetSecretValue',
          ],
          Resource: 'dev/*',
        },
      ]);
      await grant(alice, t.dir, 'carol', [
        { Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: '*', Condition: { StringEquals: { 'secrets:ResourceTag/team': 'ops' } } },
      ]);
      marker = join(t.dir, 'deployed');
      const deploy = join(t.dir, 'deploy.sh');
      writeFileSync(deploy, `#!/bin/sh\ncat >/dev/null\ntouch '${marker}'\nexit 0\n`);
      chmodSync(deploy, 0o755);
      await alice.ok(['handler', 'allow', 'deploy', deploy]);
      await bob.ok(['create', 'dev/app', '--value-stdin', '--tag', 'team=ops'], { input: 'app-secret-1' });
      await bob.ok(['create', 'dev/plain', '--value-stdin'], { input: 'plain-1' });
    });
    after(() => t.cleanup());

    it('a handler given as a path is refused when configured (exit 2); signed by hand it refuses the history (exit 6); an unallowed name does not run (exit 5)', async () => {
      const before = readFileSync(t.vault);
      const path = await bob.run(['rotate', 'dev/plain', '--handler', 'command:/bin/sh', '--no-rotate-now']);
      assert.equal(path.code, 2, explain('bob rotate', path));
      assert.match(path.stderr, /a rotation handler is a name now, not a path/);
      assert.deepEqual(readFileSync(t.vault), before);
      const reset = keeper(t.vault, [alice]);
      const id = secretIdInLog((await logOf(t.vault)).G, 'dev/plain');
      const entry = await forgeOp(t.vault, bob.identity, 'RotateSecret', {
        secret: id,
        name: 'dev/plain',
        rotation: { handler: 'command:/bin/sh', enabled: true, every: 1 },
      });
      assert.match(await refused(t.vault, alice, entry, ['rotate', 'dev/plain']), /the handler "command:\/bin\/sh" is not a handler name/);
      await refused(t.vault, alice, entry, ['rotate', '--due']);
      reset();
      await bob.ok(['rotate', 'dev/plain', '--handler', 'command:sh', '--no-rotate-now']);
      const unallowed = await alice.run(['rotate', 'dev/plain']);
      assert.equal(unallowed.code, 5, explain('alice rotate', unallowed));
      assert.match(unallowed.stderr, /rotation handler command:sh is not allowed on this machine/);
      assert.equal(existsSync(marker), false, 'no program ran');
    });

    it('removing bob keeps his entries, holds his handler and tag (rotate exit 5, carol exit 5) until an admin confirms them', async () => {
      await bob.ok(['rotate', 'dev/app', '--handler', 'command:deploy', '--no-rotate-now']);
      assert.equal(await carol.ok(['get', 'dev/app']), 'app-secret-1', "bob's tag gave carol access while he was a member");
      const written = linesBy(t.vault, bob);
      const r = await alice.run(['member', 'remove', 'bob', '--yes']);
      assert.equal(r.code, 0, explain('remove bob', r));
      assert.match(r.stderr, /on hold .*`secrets member confirm bob/s);
      assert.match(r.stderr, /dev\/app: rotation handler command:deploy; tags team=ops/);
      assert.deepEqual(linesBy(t.vault, bob), written, 'nothing bob signed was re-signed');
      assert.equal((await alice.run(['verify'])).code, 0);
      assert.match(await alice.ok(['member', 'list', '--removed']), /on hold: dev\/app/);
      const before = readFileSync(t.vault);
      const rotate = await alice.run(['rotate', 'dev/app']);
      assert.equal(rotate.code, 5, explain('rotate', rotate));
      assert.match(rotate.stderr, /left by bob, since removed from the vault, and are on hold/);
      const exposed = await alice.run(['rotate', '--exposed-to', 'bob', '--json']);
      assert.equal(exposed.code, 0, explain('rotate --exposed-to', exposed));
      const app = (JSON.parse(exposed.stdout) as { Items: { Name: string; Outcome: string; Error?: string }[] }).Items.find((i) => i.Name === 'dev/app');
      assert.equal(app?.Outcome, 'skipped');
      assert.match(app?.Error ?? '', /on hold/);
      assert.equal(existsSync(marker), false, 'the handler did not run');
      assert.deepEqual(readFileSync(t.vault), before);
      const got = await carol.run(['get', 'dev/app']);
      assert.equal(got.code, 5, explain('carol get', got));
      const confirmed = await alice.run(['member', 'confirm', 'bob', 'dev/app']);
      assert.equal(confirmed.code, 0, explain('confirm', confirmed));
      assert.equal(await carol.ok(['get', 'dev/app']), 'app-secret-1');
      await alice.ok(['rotate', 'dev/app']);
      assert.equal(existsSync(marker), true, 'the confirmed handler ran');
    });
  });
});

describe('format 2: a removal is final for the removed identity', () => {
  it('an admin cannot add a removed identity back: exit 4, the file unchanged; its own commands point to a new identity', async () => {
    const t = await team(['bob'], FORMAT_2);
    try {
      const [alice, bob] = t.people as [Person, Person];
      await alice.ok(['create', 'app/db', '--value-stdin'], { input: 'prod-password' });
      const pub = (await bob.ok(['identity', 'show'])).trim();
      await alice.ok(['member', 'remove', 'bob', '--yes']);
      const before = readFileSync(t.vault);
      const r = await alice.run(['member', 'add', 'bob', pub]);
      assert.equal(r.code, 4, explain('member add of a removed identity', r));
      assert.match(r.stderr, /was the member "bob", removed from this vault; a removal is final/);
      assert.ok(readFileSync(t.vault).equals(before), 'nothing was written');
      const g = await bob.run(['get', 'app/db']);
      assert.equal(g.code, 5, explain('bob after his removal', g));
      assert.match(g.stderr, /a removal is final/);
      // A new identity of bob's is a new member.
      const fresh = await person('bob2', t.vault, undefined);
      await alice.ok(['member', 'add', 'bob-new', (await fresh.ok(['identity', 'show'])).trim()]);
      fresh.sb.cleanup();
    } finally {
      t.cleanup();
    }
  });
});
