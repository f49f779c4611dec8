/**
 * Concurrent writers on one machine: no lost update under concurrent writers (ADR 0004). Real
 * `secrets` processes, all started at once against one vault file, must serialise on
 * `<vault>.lock`: every acknowledged write (exit 0) is in the final file, with its own version id
 * and its own value, and the file still verifies.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeKey, identityFromSeed } from '../src/crypto/identity.js';
import { LogVaultRepository } from '../src/store/log-vault.js';
import { TrustStore } from '../src/store/trust.js';
import { verifiedStateDir } from '../src/store/verified-state.js';
import { BIN, type CliResult, type Sandbox, initialisedSandbox, marker } from './support/cli.js';

/** Generous: 32 node processes compete for 2 cores and one lock. */
const PER_PROCESS_TIMEOUT_MS = 120_000;

interface PutOutput {
  readonly Name: string;
  readonly VersionId: string;
  readonly VersionStages?: string[];
}

interface VersionsOutput {
  readonly Name: string;
  readonly Versions: { VersionId: string; VersionStages: string[]; CreatedDate: string }[];
}

function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code} (signal ${r.signal})\nstderr: ${r.stderr}\nstdout: ${r.stdout}`;
}

/** Files next to the vault that a finished writer must not leave behind. */
function leftovers(vault: string): string[] {
  const dir = dirname(vault);
  const base = basename(vault);
  return readdirSync(dir).filter((n) => n.startsWith(`.${base}.tmp-`) || n === `${base}.lock` || n === `${base}.lock.break`);
}

describe('concurrent writers on one vault', () => {
  let sb: Sandbox;

  before(async () => {
    sb = await initialisedSandbox();
  });

  after(() => {
    sb.cleanup();
  });

  it('32 concurrent puts to one secret: all acknowledged, none lost, each value readable', async (t) => {
    const name = 'race/one';
    const original = marker();
    const created = JSON.parse(await sb.ok(['create', name, '--value-stdin', '--json'], { input: original.value })) as PutOutput;
    assert.equal(created.Name, name);

    const values = Array.from({ length: 32 }, () => marker().value);
    const started = Date.now();
    const results = await Promise.all(
      values.map((value) => sb.run(['put', name, '--value-stdin', '--json'], { input: value, timeoutMs: PER_PROCESS_TIMEOUT_MS })),
    );
    t.diagnostic(`32 concurrent puts took ${Date.now() - started} ms`);

    const failures = results.map((r, i) => (r.code === 0 ? '' : explain(`put #${i}`, r))).filter(Boolean);
    assert.deepEqual(failures, [], 'every concurrent put must exit 0');

    const acked = results.map((r) => JSON.parse(r.stdout) as PutOutput);
    for (const a of acked) assert.equal(a.Name, name);
    const ackedIds = acked.map((a) => a.VersionId);
    assert.equal(new Set(ackedIds).size, 32, `the 32 puts must print 32 distinct version ids: ${ackedIds.join(' ')}`);
    assert.ok(!ackedIds.includes(created.VersionId), 'no put may reuse the version id of the original');

    const listed = JSON.parse(await sb.ok(['versions', name, '--json'])) as VersionsOutput;
    assert.equal(listed.Name, name);
    const listedIds = listed.Versions.map((v) => v.VersionId);
    assert.equal(listedIds.length, 33, `expected 1 + 32 versions, got ${listedIds.length}`);
    assert.deepEqual([...listedIds].sort(), [...ackedIds, created.VersionId].sort(), 'versions must be exactly the acknowledged ones plus the original');

    // Exactly one version is CURRENT and it is one of the puts; exactly one is PREVIOUS.
    const current = listed.Versions.filter((v) => v.VersionStages.includes('CURRENT'));
    const previous = listed.Versions.filter((v) => v.VersionStages.includes('PREVIOUS'));
    assert.equal(current.length, 1, 'exactly one CURRENT version');
    assert.equal(previous.length, 1, 'exactly one PREVIOUS version');
    assert.ok(ackedIds.includes(current[0]?.VersionId ?? ''), 'CURRENT is one of the concurrent puts');

    const doctor = await sb.run(['doctor']);
    assert.equal(doctor.code, 0, explain('doctor', doctor));

    // Every value reads back exactly under its own version id (a few readers at a time).
    const pairs = acked.map((a, i) => ({ id: a.VersionId, value: values[i] as string }));
    pairs.push({ id: created.VersionId, value: original.value });
    for (let i = 0; i < pairs.length; i += 4) {
      await Promise.all(
        pairs.slice(i, i + 4).map(async ({ id, value }) => {
          const r = await sb.run(['get', name, '--version-id', id], { timeoutMs: PER_PROCESS_TIMEOUT_MS });
          assert.equal(r.code, 0, explain(`get --version-id ${id}`, r));
          assert.equal(r.stdout, value, `version ${id} must hold the value its put wrote`);
        }),
      );
    }

    assert.deepEqual(leftovers(sb.vault), [], 'no temp file or lock may remain once every writer has exited');
  });

  it('8 concurrent creates of different secrets all land', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `race/create-${i}`);
    const values = names.map(() => marker().value);
    const results = await Promise.all(
      names.map((n, i) => sb.run(['create', n, '--value-stdin', '--json'], { input: values[i] as string, timeoutMs: PER_PROCESS_TIMEOUT_MS })),
    );
    const failures = results.map((r, i) => (r.code === 0 ? '' : explain(`create ${names[i]}`, r))).filter(Boolean);
    assert.deepEqual(failures, [], 'every concurrent create must exit 0');
    const acked = results.map((r) => JSON.parse(r.stdout) as PutOutput);
    assert.deepEqual(
      acked.map((a) => a.Name),
      names,
    );

    const doctor = await sb.run(['doctor']);
    assert.equal(doctor.code, 0, explain('doctor', doctor));

    for (const [i, n] of names.entries()) {
      const listed = JSON.parse(await sb.ok(['versions', n, '--json'])) as VersionsOutput;
      assert.deepEqual(
        listed.Versions.map((v) => v.VersionId),
        [acked[i]?.VersionId],
        `${n} must have exactly the version its create printed`,
      );
      const r = await sb.run(['get', n]);
      assert.equal(r.code, 0, explain(`get ${n}`, r));
      assert.equal(r.stdout, values[i], `${n} must hold the value its create wrote`);
    }
    assert.ok(existsSync(sb.vault));
    assert.deepEqual(leftovers(sb.vault), [], 'no temp file or lock may remain once every writer has exited');
  });
  it('readers running alongside writers always succeed and see a written value', async (t) => {
    // Readers never see a torn file (ADR 0004). A get that overlaps a put must
    // return the old or the new value, never fail.
    const name = 'race/readers';
    const first = marker().value;
    await sb.ok(['create', name, '--value-stdin'], { input: first });
    const written = new Set([first]);
    let writing = true;
    const writer = async (): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        const value = marker().value;
        written.add(value);
        const r = await sb.run(['put', name, '--value-stdin'], { input: value, timeoutMs: PER_PROCESS_TIMEOUT_MS });
        assert.equal(r.code, 0, explain('put', r));
      }
    };
    const failures: string[] = [];
    let reads = 0;
    const reader = async (): Promise<void> => {
      while (writing) {
        const r = await sb.run(['get', name], { timeoutMs: PER_PROCESS_TIMEOUT_MS });
        reads++;
        if (r.code !== 0) failures.push(explain('get during puts', r));
        else if (!written.has(r.stdout)) failures.push(`get during puts returned a value no put wrote: ${r.stdout.slice(0, 80)}`);
      }
    };
    const readers = [reader(), reader(), reader()];
    try {
      await Promise.all([writer(), writer()]);
    } finally {
      writing = false;
      await Promise.all(readers);
    }
    t.diagnostic(`${reads} gets overlapped 40 puts; ${failures.length} failed`);
    assert.deepEqual(failures, [], 'every get that overlaps a put must succeed');
    const doctor = await sb.run(['doctor']);
    assert.equal(doctor.code, 0, explain('doctor', doctor));
  });
});

describe('a reader raced by a writer', () => {
  /**
   * A reader holds no lock: a writer may append and raise this machine's trust state between the
   * reader's read of the file and its check against the trust state. The trust state only grows,
   * so a reader checks the file against the trust state as it was before it read the file; a
   * check against a later one would call the older file a rollback. A writer and another reader
   * (other processes, the real binary) run at the moment this reader first asks for the trust
   * state.
   */
  for (const verified of [true, false]) {
    it(`sees no rollback when a writer appends as it reads (${verified ? 'from the verified state' : 'a full verification'})`, async () => {
      const sb = await initialisedSandbox();
      try {
        await sb.ok(['create', 'race/a', '--value-stdin'], { input: 'v0' });
        await sb.ok(['get', 'race/a']);
        const env = sb.env;
        const state = join(env['XDG_STATE_HOME'] as string, 'secrets');
        const identity = await identityFromSeed(
          decodeKey(
            readFileSync(join(env['XDG_CONFIG_HOME'] as string, 'secrets', 'identity.key'), 'utf8')
              .split('\n')
              .map((l) => l.trim())
              .find((l) => l !== '' && !l.startsWith('#')) as string,
            'key',
          ),
        );
        let raced = false;
        class RacedTrust extends TrustStore {
          override get(vaultId: string): ReturnType<TrustStore['get']> {
            if (!raced) {
              raced = true;
              // Another process writes, and a third reads what it wrote, raising the trust state.
              const put = spawnSync(process.execPath, [BIN, 'put', 'race/a', '--value-stdin'], { env, input: 'v1' });
              assert.equal(put.status, 0, put.stderr.toString());
              const get = spawnSync(process.execPath, [BIN, 'get', 'race/a'], { env });
              assert.equal(get.stdout.toString(), 'v1', get.stderr.toString());
            }
            return super.get(vaultId);
          }
        }
        // Without XDG_CACHE_HOME, the cache is under ~/.cache.
        const cache = join(sb.home, '.cache', 'secrets');
        const repo = new LogVaultRepository({
          path: sb.vault,
          trust: new RacedTrust(join(state, 'trust')),
          clock: { now: () => new Date() },
          lockTimeoutMs: 5000,
          ...(verified ? { verifiedDir: (id: string) => verifiedStateDir(cache, realpathSync(sb.vault), id) } : {}),
        });
        const view = await repo.readSome(identity, ['race/a']);
        assert.ok(raced, 'the writer ran while the reader read');
        assert.ok(view.secrets.some((e) => e.secret.name === 'race/a'));
        assert.equal(await sb.ok(['get', 'race/a']), 'v1');
      } finally {
        sb.cleanup();
      }
    });
  }
});
