// Group commit of the audit trail for `secrets serve`: concurrent appends share writes and
// fsyncs, every caller settles only once its own event is written (or failed), and a log held
// across batches keeps its hash chain whole while another writer (another process's CLI)
// appends between holds.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FileAuditLog } from '../src/audit/file-audit-log.js';
import { GroupCommitTrail } from '../src/audit/group-commit.js';
import { allEvents, verifyLog } from '../src/audit/reader.js';
import type { AuditEntry, AuditTrail } from '../src/core/ports.js';
import { ASYNC_FILES } from '../src/store/file-access.js';

const VAULT = '00000000-0000-4000-8000-000000000001';
const entry = (i: number): AuditEntry => ({ vaultId: VAULT, eventName: 'GetSecretValue', principal: { id: 'me' }, secretName: `s/${i}`, outcome: 'success' });

/** A trail that records each appendAll and can be told to fail. */
function fakeTrail(fail = false): AuditTrail & { calls: AuditEntry[][] } {
  const calls: AuditEntry[][] = [];
  return {
    calls,
    async append(e) {
      await this.appendAll([e]);
    },
    async appendAll(es) {
      await new Promise((r) => setTimeout(r, 2));
      if (fail) throw new Error('disk full');
      calls.push([...es]);
    },
    async lastAccess() {
      return undefined;
    },
  };
}

describe('group commit', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('concurrent appends are written in few batches, in order, and each settles after its batch', async () => {
    const trail = fakeTrail();
    const group = new GroupCommitTrail(trail);
    const settled: number[] = [];
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        group.append(entry(i)).then(() => {
          assert.ok(
            trail.calls.some((c) => c.some((e) => e.secretName === `s/${i}`)),
            'settled only after its event was written',
          );
          settled.push(i);
        }),
      ),
    );
    assert.equal(settled.length, 100);
    assert.ok(trail.calls.length <= 3, `${trail.calls.length} writes for 100 concurrent appends`);
    assert.deepEqual(
      trail.calls.flat().map((e) => e.secretName),
      Array.from({ length: 100 }, (_, i) => `s/${i}`),
    );
  });

  test('a failed write fails every append that waited for it, and later ones try again', async () => {
    const group = new GroupCommitTrail(fakeTrail(true));
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => group.append(entry(i))));
    assert.ok(results.every((r) => r.status === 'rejected'));
    await group.flush();
  });

  const logIn =
    (dir: string) =>
    (pid: number, lockTimeoutMs = 5000): FileAuditLog =>
      new FileAuditLog({
        dir,
        clock: { now: () => new Date() },
        lockTimeoutMs,
        mode: 'required',
        warn: () => undefined,
        context: { host: 'h', pid, user: 'u', tty: false, requestId: `r${pid}` },
        files: ASYNC_FILES,
      });

  test('a held log: a whole chain across batches and across another writer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-group-'));
    dirs.push(dir);
    const log = logIn(dir);
    const server = new GroupCommitTrail(log(1));
    const other = log(2);
    const waves: Promise<void>[] = [];
    for (let w = 0; w < 5; w++) {
      waves.push(...Array.from({ length: 50 }, (_, i) => server.append(entry(w * 50 + i))));
      waves.push(other.append({ ...entry(-1), eventName: 'PutSecretValue' }));
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(waves);
    await server.flush();
    const path = log(1).path(VAULT);
    const events = [...allEvents(path)];
    assert.equal(events.length, 255);
    assert.deepEqual(
      events.map((e) => e.seq),
      Array.from({ length: 255 }, (_, i) => i + 1),
    );
    assert.equal(events.filter((e) => e.pid === 2).length, 5, "the other writer's events are all there");
    const result = verifyLog(path, VAULT, [], undefined);
    assert.equal(result.events, 255);
    assert.equal(result.broken, undefined, JSON.stringify(result.broken));
    assert.equal(result.tornTail, false);
  });

  test('while the server appends without pause, another process still gets the lock within its timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-group-'));
    dirs.push(dir);
    const log = logIn(dir);
    const server = new GroupCommitTrail(log(1));
    let running = true;
    const load = (async () => {
      for (let i = 0; running; i++) await Promise.all(Array.from({ length: 8 }, (_, j) => server.append(entry(i * 8 + j))));
    })();
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await log(2, 3000).append({ ...entry(-1), eventName: 'PutSecretValue' });
    const waited = Date.now() - started;
    running = false;
    await load;
    await server.flush();
    assert.ok(waited < 3000, `the other writer waited ${waited} ms`);
    assert.equal(verifyLog(log(1).path(VAULT), VAULT, [], undefined).broken, undefined);
  });
});
