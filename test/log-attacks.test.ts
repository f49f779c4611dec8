/**
 * Attacks on a format-2 vault (the operation log) by members, ex-members and anyone holding a
 * member's key, end to end through the built binary. Each forged history is written into the
 * shared file the way an insider would (lines signed with a real member key, appended or
 * spliced by hand); then the honest admin's next command must refuse it with exit 6, name the
 * entry, and leave the vault file and this machine's trust state byte for byte as they were.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Entry, Payload, VersionRef } from '../src/core/ops.js';
import { secretIdInLog } from '../src/crypto/digest.js';
import { encodeLine, lineHash, signedEntry } from '../src/store/op-codec.js';
import { explain, type Person, person, policyFile } from './support/insider.js';
import { forgeOp, keeper, logOf, refused, text, value } from './support/log-insider.js';

describe('format 2: attacks by members on the history', () => {
  let dir: string;
  let vault: string;
  let alice: Person;
  let bob: Person;
  let pristine: string;
  /** Puts the shared file (and alice's trust state) back as set up. */
  let reset: () => void;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secrets-log-attack-'));
    vault = join(dir, 'vault.yaml');
    alice = await person('alice', vault);
    bob = await person('bob', vault);
    await alice.ok(['init', '--format', '2']);
    await alice.ok(['member', 'add', 'bob', (await bob.ok(['identity', 'show'])).trim()]);
    // bob may write dev/* and secrets tagged team=dev; read dev/*.
    const doc = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: ['secrets:GetSecretValue', 'secrets:PutSecretValue', 'secrets:CreateSecret', 'secrets:TagResource'], Resource: 'dev/*' },
        { Effect: 'Allow', Action: 'secrets:PutSecretValue', Resource: '*', Condition: { StringEquals: { 'secrets:ResourceTag/team': 'dev' } } },
      ],
    };
    await alice.ok(['policy', 'put', 'dev', '-f', policyFile(dir, 'dev', doc)]);
    await alice.ok(['policy', 'attach', 'dev', 'bob']);
    await alice.ok(['create', 'app/db', '--value-stdin'], { input: 'prod-password-1' });
    await alice.ok(['put', 'app/db', '--value-stdin'], { input: 'prod-password-2' });
    await alice.ok(['create', 'dev/db', '--value-stdin'], { input: 'dev-password' });
    assert.equal(await bob.ok(['get', 'dev/db']), 'dev-password');
    assert.equal(await alice.ok(['get', 'app/db']), 'prod-password-2');
    pristine = readFileSync(vault, 'utf8');
    reset = keeper(vault, [alice]);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a tag that would authorise its own write is refused: the op is judged on the tags before it', async () => {
    reset();
    const log = await logOf(vault);
    const id = secretIdInLog(log.G, 'app/db');
    const tag = await forgeOp(vault, bob.identity, 'TagResource', { secret: id, name: 'app/db', tags: new Map([['team', 'dev']]) });
    const stderr = await refused(vault, alice, tag);
    assert.match(stderr, /bob is not allowed secrets:TagResource on app\/db/);
  });

  it('a write under a tag bob set in the same history is refused the same way', async () => {
    reset();
    const log = await logOf(vault);
    const id = secretIdInLog(log.G, 'app/db');
    const v = await value(log.G, id, bob.identity, [alice.identity, bob.identity], 'attacker-value');
    const put = await forgeOp(vault, bob.identity, 'PutSecretValue', { secret: id, name: 'app/db', value: v.ref }, { payloads: v.payloads });
    const stderr = await refused(vault, alice, put);
    assert.match(stderr, /bob is not allowed secrets:PutSecretValue on app\/db/);
  });

  it('CreateSecret on an existing name is refused, and so is a name that is not its id', async () => {
    reset();
    const log = await logOf(vault);
    const v = await value(log.G, secretIdInLog(log.G, 'dev/db'), bob.identity, [alice.identity, bob.identity], 'x');
    const create = await forgeOp(
      vault,
      bob.identity,
      'CreateSecret',
      { secret: secretIdInLog(log.G, 'dev/db'), name: 'dev/db', value: v.ref },
      { payloads: v.payloads },
    );
    assert.match(await refused(vault, alice, create), /secret dev\/db exists already/);
    reset();
    const renamed = await forgeOp(vault, bob.identity, 'TagResource', { secret: secretIdInLog(log.G, 'app/db'), name: 'dev/db', tags: new Map([['k', 'v']]) });
    assert.match(await refused(vault, alice, renamed), /is named app\/db, not dev\/db/);
  });

  it('rollback: re-appending an old op (alice put prod-password-1) is refused, its hash occurs already', async () => {
    reset();
    const lines = pristine.split('\n');
    const create = lines.findIndex((l) => l.includes('"op":"CreateSecret"') && l.includes('"name":"app/db"'));
    appendFileSync(vault, `${lines.slice(create - 2, create + 1).join('\n')}\n`);
    const hash = lineHash((lines[create] as string).slice(2));
    await refused(vault, alice, hash);
  });

  it('dropping an entry mid-log, or a payload an entry needs, is refused', async () => {
    reset();
    const lines = pristine.split('\n');
    const put = lines.findIndex((l) => l.includes('"op":"PutSecretValue"'));
    writeFileSync(vault, [...lines.slice(0, put), ...lines.slice(put + 1)].join('\n'));
    // Its payload lines are left before the next entry, which does not name them.
    await refused(vault, alice, /entry \S+ is refused: its parent \S+ is missing or comes later|line \d+: a payload that the entry after it does not name/);
    reset();
    const payload = put - 2;
    assert.match(lines[payload] as string, /"kind":"value"/);
    writeFileSync(vault, [...lines.slice(0, payload), ...lines.slice(payload + 1)].join('\n'));
    await refused(vault, alice, /its value payload \S+ is missing/);
  });

  it('reordering two entries is refused', async () => {
    reset();
    const lines = pristine.split('\n');
    const entries = lines.map((l, i) => [l, i] as const).filter(([l]) => l.startsWith('- {"kind":"op"'));
    const [a, b] = [entries.at(-2)?.[1] as number, entries.at(-1)?.[1] as number];
    const swapped = [...lines];
    swapped[a] = lines[b] as string;
    swapped[b] = lines[a] as string;
    writeFileSync(vault, swapped.join('\n'));
    await refused(vault, alice, /is missing or comes later|payload/);
  });

  it('truncating the log is refused by the machine that verified more of it', async () => {
    reset();
    const lines = pristine.split('\n');
    const last = lines
      .map((l, i) => [l, i] as const)
      .filter(([l]) => l.startsWith('- {"kind":"op"'))
      .at(-1)?.[1] as number;
    // Cut the last write (dev/db's creation) and its payloads: a valid, shorter history.
    writeFileSync(vault, `${lines.slice(0, last - 2).join('\n')}\n`);
    const stderr = await refused(vault, alice, /rolled back|lost entry/, ['get', 'app/db']);
    assert.match(stderr, /this machine verified/);
  });

  it("another vault's entries replayed into this one are refused: G is in every signature", async () => {
    reset();
    const otherDir = mkdtempSync(join(tmpdir(), 'secrets-other-'));
    try {
      const other = join(otherDir, 'vault.yaml');
      const mallory = await person('alice-elsewhere', other, alice.key);
      await mallory.ok(['init', '--format', '2']);
      await mallory.ok(['create', 'app/db', '--value-stdin'], { input: 'from-another-vault' });
      const theirs = readFileSync(other, 'utf8').split('\n');
      const create = theirs.findIndex((l) => l.includes('"op":"CreateSecret"'));
      appendFileSync(vault, `${theirs.slice(create - 2, create + 1).join('\n')}\n`);
      await refused(vault, alice, /missing or comes later|signature does not verify/);
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it("after removal, nothing bob signs on the history that holds his removal is valid; bob's old AddMember spliced back is refused", async () => {
    reset();
    await alice.ok(['member', 'remove', 'bob', '--yes']);
    const removedState = readFileSync(vault, 'utf8');
    const log = await logOf(vault);
    const id = secretIdInLog(log.G, 'dev/db');
    const v = await value(log.G, id, bob.identity, [alice.identity, bob.identity], 'after-removal');
    const put = await forgeOp(vault, bob.identity, 'PutSecretValue', { secret: id, name: 'dev/db', value: v.ref }, { payloads: v.payloads });
    assert.match(await refused(vault, alice, put, ['get', 'dev/db']), /bob \(\S+\) was removed from the vault/);
    writeFileSync(vault, removedState);
    const add = removedState.split('\n').find((l) => l.includes('"op":"AddMember"')) as string;
    appendFileSync(vault, `${add}\n`);
    await refused(vault, alice, lineHash(add.slice(2)), ['member', 'list']);
  });

  it("bob's write on a branch forked from before his removal is dropped and reported, not applied", async () => {
    reset();
    const before = await logOf(vault);
    await alice.ok(['member', 'remove', 'bob', '--yes']);
    const id = secretIdInLog(before.G, 'dev/db');
    const v = await value(before.G, id, bob.identity, [alice.identity, bob.identity], 'forked-value');
    // A valid op against the history bob saw before his removal, on a branch beside it.
    await forgeOp(vault, bob.identity, 'PutSecretValue', { secret: id, name: 'dev/db', value: v.ref }, { payloads: v.payloads, parents: before.heads });
    const r = await alice.run(['get', 'dev/db']);
    assert.equal(r.code, 0, explain('get dev/db', r));
    assert.equal(r.stdout, 'dev-password', 'the removed member’s concurrent write has no effect');
  });

  it('an entry dated in the future (to purge a deleted secret early, or to drag every later write along) is refused', async () => {
    reset();
    const log = await logOf(vault);
    const id = secretIdInLog(log.G, 'dev/db');
    const v = await value(log.G, id, bob.identity, [alice.identity, bob.identity], 'from-the-future');
    const future = new Date(Date.now() + 40 * 86_400_000).toISOString();
    const entry = signedEntry<Entry>(bob.identity, log.G, {
      kind: 'op',
      op: 'PutSecretValue',
      body: { secret: id, name: 'dev/db', value: v.ref },
      by: bob.identity.id,
      seq: (log.seqs.get(bob.identity.id) ?? 0) + 1,
      parents: log.heads,
      at: future,
    });
    appendFileSync(vault, [...v.payloads, entry].map(text).join(''));
    assert.match(await refused(vault, alice, lineHash(encodeLine(entry)), ['get', 'dev/db']), /later than this machine's clock allows/);
  });

  it("a removed admin's old key, forking from before the removal, cannot demote the admin who removed them", async () => {
    reset();
    const mallory = await person('mallory', vault);
    await alice.ok(['member', 'add', 'mallory', (await mallory.ok(['identity', 'show'])).trim(), '--role', 'admin']);
    const before = await logOf(vault);
    await alice.ok(['put', 'app/db', '--value-stdin'], { input: 'prod-password-3' });
    await alice.ok(['member', 'remove', 'mallory', '--yes']);
    assert.equal((await alice.run(['verify'])).code, 0);
    const aliceId = alice.identity.id;
    await forgeOp(vault, mallory.identity, 'SetRole', { member: aliceId, roles: ['member'] }, { parents: before.heads });
    // The fork is judged with the removal first: the demotion is dropped, alice stays an admin.
    await alice.ok(['put', 'app/db', '--value-stdin'], { input: 'prod-password-4' });
    assert.equal(await alice.ok(['get', 'app/db']), 'prod-password-4');
    const members = JSON.parse(await alice.ok(['member', 'list', '--json', '--removed'])) as { Members: { Id: string; Role: string; Removed?: string }[] };
    assert.equal(members.Members.find((m) => m.Id === aliceId)?.Role, 'admin');
    assert.ok(members.Members.find((m) => m.Id === mallory.identity.id)?.Removed !== undefined);
  });

  it("removing an admin works: the removal comes before the re-seals that withdraw the admin's keys", async () => {
    reset();
    const dave = await person('dave', vault);
    await alice.ok(['member', 'add', 'dave', (await dave.ok(['identity', 'show'])).trim(), '--role', 'admin']);
    assert.equal(await dave.ok(['get', 'app/db']), 'prod-password-2');
    const r = await alice.run(['member', 'remove', 'dave', '--yes']);
    assert.equal(r.code, 0, explain('member remove dave', r));
    assert.equal(await alice.ok(['get', 'app/db']), 'prod-password-2');
    assert.equal((await alice.run(['verify'])).code, 0);
    await alice.ok(['put', 'app/db', '--value-stdin'], { input: 'prod-password-3' });
    assert.notEqual((await dave.run(['get', 'app/db'])).code, 0, 'dave reads nothing new');
  });

  it('a value re-attached by someone else than its writer does not decrypt: the AAD binds the writer', async () => {
    reset();
    const lines = pristine.split('\n');
    // alice's first value of app/db, as a new version of dev/db by bob (allowed to put dev/*).
    const create = lines.findIndex((l) => l.includes('"op":"CreateSecret"') && l.includes('"name":"app/db"'));
    const oldValue = JSON.parse((lines[create - 2] as string).slice(2)) as { n: string; ct: string };
    const log = await logOf(vault);
    const id = secretIdInLog(log.G, 'dev/db');
    const fresh = await value(log.G, id, bob.identity, [alice.identity, bob.identity], 'placeholder');
    const v: Payload = { kind: 'value', n: oldValue.n, ct: oldValue.ct };
    const ref: VersionRef = { ...fresh.ref, v: lineHash(encodeLine(v)) };
    await forgeOp(vault, bob.identity, 'PutSecretValue', { secret: id, name: 'dev/db', value: ref }, { payloads: [v, fresh.payloads[1] as Payload] });
    const r = await alice.run(['get', 'dev/db']);
    assert.notEqual(r.code, 0, explain('get dev/db', r));
    assert.doesNotMatch(r.stdout, /prod-password/);
  });
});
