/**
 * An entry dated in the future, pushed by a member (or by a removed member with her old key, on
 * a fork from before her removal): every read refuses it, and so must sync's own check, before
 * anything is merged or recorded. Once the remote is cleaned the clone syncs again: what the
 * remote had is recorded only after a merge reads, and a refused crossing of a compaction puts
 * the trust state back, so nothing is left stuck.
 */
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Entry } from '../src/core/ops.js';
import { secretIdInLog } from '../src/crypto/digest.js';
import type { Identity } from '../src/core/ports.js';
import { encodeLine, lineHash, signedEntry } from '../src/store/op-codec.js';
import { explain, git, GIT_PERSON, identityOf, scratchClone, syncOk, syncRefused, withTeam } from './support/git-team.js';
import { logOf } from './support/log-insider.js';

/** Carol (a plain member) tags app/db in an entry dated 2090, on top of the remote, pushed from a plain clone. */
async function pushFutureTag(scratch: string, carol: Identity, parent?: string): Promise<string> {
  git(scratch, ['pull', '-q', 'origin', 'main']);
  const file = join(scratch, 'vault.yaml');
  const log = await logOf(file);
  const entry = signedEntry<Entry>(carol, log.G, {
    kind: 'op',
    op: 'TagResource',
    body: { secret: secretIdInLog(log.G, 'app/db'), name: 'app/db', tags: new Map([['when', 'later']]) },
    by: carol.id,
    seq: (log.seqs.get(carol.id) ?? 0) + 1,
    parents: [parent ?? (log.hashes.at(-1) as string)],
    at: '2090-01-01T00:00:00.000Z',
  } as never);
  appendFileSync(file, `- ${encodeLine(entry)}\n`);
  git(scratch, ['commit', '-q', '-am', 'future tag'], GIT_PERSON);
  git(scratch, ['push', '-q', 'origin', 'HEAD:main']);
  return lineHash(encodeLine(entry));
}

/** Refused by sync's own check of the remote's copy, before any merge. */
const FUTURE = /the remote's copy \(\S+\): entry \S+ is refused: its time 2090-01-01T00:00:00.000Z is later than this machine's clock allows/;

describe('an entry dated in the future, through sync', () => {
  it('is refused before anything is merged, and once the remote is cleaned the clone syncs again', async () => {
    await withTeam('red2-future-', async (t, root) => {
      await t.a.ok(['create', 'app/db', '--value-stdin'], 'v0');
      for (const x of [t.a, t.b, t.c]) await syncOk(x);
      const scratch = scratchClone(root, t.remote);
      const good = git(scratch, ['rev-parse', 'HEAD']).trim();
      const f = await pushFutureTag(scratch, await identityOf(t.c));
      await syncRefused(t.b, FUTURE);
      assert.equal(await t.b.ok(['get', 'app/db']), 'v0');
      // The admins clean the remote.
      git(scratch, ['reset', '-q', '--hard', good]);
      git(scratch, ['push', '-q', '--force', 'origin', 'HEAD:main']);
      const r2 = await t.b.run(['sync']);
      assert.equal(r2.code, 0, `the heads the remote had may not hold ${f}\n${explain('bob', r2)}`);
    });
  });

  it('by a removed member with her old key, on a fork from before her removal: refused too, nothing recorded', async () => {
    await withTeam('red2-future-x-', async (t, root) => {
      await t.a.ok(['create', 'app/db', '--value-stdin'], 'v0');
      for (const x of [t.a, t.b, t.c]) await syncOk(x);
      const before = (await logOf(t.a.vault)).hashes.at(-1) as string;
      await t.a.ok(['member', 'remove', 'carol', '--yes']);
      await syncOk(t.a);
      await syncOk(t.b);
      const scratch = scratchClone(root, t.remote);
      const good = git(scratch, ['rev-parse', 'HEAD']).trim();
      const f = await pushFutureTag(scratch, await identityOf(t.c), before);
      await syncRefused(t.b, FUTURE);
      git(scratch, ['reset', '-q', '--hard', good]);
      git(scratch, ['push', '-q', '--force', 'origin', 'HEAD:main']);
      const r2 = await t.b.run(['sync']);
      assert.equal(r2.code, 0, `the heads the remote had may not hold ${f}\n${explain('bob', r2)}`);
    });
  });

  it('after a compaction: the crossing is refused, the clone keeps reading, and takes the compaction once the remote is cleaned', async () => {
    await withTeam('red2-future-c-', async (t, root) => {
      await t.a.ok(['create', 'app/db', '--value-stdin'], 'v0');
      await t.a.ok(['put', 'app/db', '--value-stdin'], 'v1');
      for (const x of [t.a, t.b, t.c]) await syncOk(x);
      await t.a.ok(['compact']);
      await syncOk(t.a);
      const scratch = scratchClone(root, t.remote);
      const good = git(scratch, ['rev-parse', 'HEAD']).trim();
      await pushFutureTag(scratch, await identityOf(t.c));
      await syncRefused(t.b, FUTURE);
      assert.equal(await t.b.ok(['get', 'app/db']), 'v1');
      git(scratch, ['reset', '-q', '--hard', good]);
      git(scratch, ['push', '-q', '--force', 'origin', 'HEAD:main']);
      const r = await syncOk(t.b);
      assert.match(r.stderr, /took the compaction of the history by alice/, explain('bob', r));
      assert.equal(await t.b.ok(['get', 'app/db']), 'v1');
    });
  });
});
