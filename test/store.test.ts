// The format-1 reader with a controlled clock, on a vault the test-support writer makes: purge
// after the recovery window, trust state, and the file layout (sorted records, untouched lines
// byte-identical across writes, as earlier versions wrote them).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { CoreDeps } from '../src/core/use-cases/deps.js';
import { getSecretValue, listSecrets } from '../src/core/use-cases/read.js';
import { createSecret, deleteSecret, putSecretValue } from '../src/core/use-cases/write.js';
import { generateSeed, identityFromSeed } from '../src/crypto/identity.js';
import { SodiumValueCipher } from '../src/crypto/value-cipher.js';
import { Format1Writer } from './support/format1-writer.js';
import { TrustStore } from '../src/store/trust.js';
import { FakeClock, MemoryAudit, text } from './support/fakes.js';

let dir: string;
let deps: CoreDeps & { clock: FakeClock; vault: Format1Writer };
let path: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'secrets-store-'));
  path = join(dir, 'vault.yaml');
  const identity = await identityFromSeed(generateSeed());
  const clock = new FakeClock(new Date().toISOString());
  const vault = new Format1Writer({ path, trust: new TrustStore(join(dir, 'trust')), clock, lockTimeoutMs: 5000 });
  let n = 0;
  deps = {
    vault,
    clock,
    cipher: new SodiumValueCipher(),
    ids: {
      newId: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
      secretId: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
    },
    tty: false,
    audit: new MemoryAudit(),
    identities: {
      load: async () => ({ identity, source: 'env', where: 'test' }),
      loadOrCreate: async () => ({ identity, source: 'env', where: 'test', created: false }),
    },
  };
  await vault.create(identity, 'test', 'me');
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('records are sorted by name and untouched lines stay byte-identical across writes', async () => {
  await createSecret(deps, { name: 'zeta', tags: new Map(), value: text('z') });
  await createSecret(deps, { name: 'alpha', tags: new Map([['env', 'dev']]), value: text('a') });
  const before = readFileSync(path, 'utf8').split('\n');
  const names = before.filter((l) => l.startsWith('- {"kind":"secret"')).map((l) => (JSON.parse(l.slice(2)) as { name: string }).name);
  assert.deepEqual(names, ['alpha', 'zeta']);
  await putSecretValue(deps, { name: 'zeta', value: text('z2'), labels: [] });
  const afterLines = readFileSync(path, 'utf8').split('\n');
  const alphaBefore = before.filter((l) => l.includes('"name":"alpha"') || l.includes('"kind":"vault"') || l.includes('"kind":"member"'));
  for (const line of alphaBefore) assert.ok(afterLines.includes(line), 'unchanged record rewritten');
});

test('a deleted secret is purged once its recovery window has passed', async () => {
  await createSecret(deps, { name: 'temp', tags: new Map(), value: text('t') });
  await deleteSecret(deps, { name: 'temp', force: false, recoveryWindowDays: 7 });
  deps.clock.advanceDays(6.9);
  assert.equal(
    (await listSecrets(deps, { filters: [], includeDeleted: true })).SecretList.some((s) => s.Name === 'temp'),
    true,
  );
  deps.clock.advanceDays(0.2);
  assert.equal(
    (await listSecrets(deps, { filters: [], includeDeleted: true })).SecretList.some((s) => s.Name === 'temp'),
    false,
  );
  await assert.rejects(getSecretValue(deps, { name: 'temp' }), /not found/);
  // The next write drops its records from the file.
  await putSecretValue(deps, { name: 'alpha', value: text('a2'), labels: [] });
  assert.doesNotMatch(readFileSync(path, 'utf8'), /"name":"temp"/);
  // The name is free again.
  await createSecret(deps, { name: 'temp', tags: new Map(), value: text('again') });
  assert.equal((await getSecretValue(deps, { name: 'temp' })).value.revealText(), 'again');
});

test('trust state remembers the highest counter of each writer', () => {
  const vaultId = (JSON.parse(readFileSync(path, 'utf8').split('\n')[1]?.slice(2) ?? '{}') as { id: string }).id;
  const trust = new TrustStore(join(dir, 'trust')).get(vaultId);
  const head = JSON.parse(
    readFileSync(path, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('- {"kind":"head"'))
      ?.slice(2) ?? '{}',
  ) as {
    ctrs: Record<string, number>;
  };
  assert.ok(trust);
  assert.deepEqual(Object.fromEntries(trust.ctrs), head.ctrs);
});
