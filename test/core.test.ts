// Unit tests of the core use cases over in-memory fakes: version and label rules, pruning,
// filters, idempotency. No files, no crypto.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SecretsError } from '../src/core/errors.js';
import { MAX_VERSIONS } from '../src/core/names.js';
import { getSecretValue, listSecrets, listSecretVersions, matchesFilters, parseFilters } from '../src/core/use-cases/read.js';
import { createSecret, deleteSecret, putSecretValue, updateVersionStage } from '../src/core/use-cases/write.js';
import { moveLabel, stagesForNewVersion } from '../src/core/versions.js';
import { fakeDeps, text } from './support/fakes.js';

const code = (c: string) => (e: unknown) => e instanceof SecretsError && e.code === c;

describe('staging labels', () => {
  test('a new version takes CURRENT and the old CURRENT becomes PREVIOUS', () => {
    let stages = stagesForNewVersion(new Map(), 'v1', []);
    assert.deepEqual([...stages], [['CURRENT', 'v1']]);
    stages = stagesForNewVersion(stages, 'v2', []);
    assert.deepEqual(Object.fromEntries(stages), { CURRENT: 'v2', PREVIOUS: 'v1' });
    stages = stagesForNewVersion(stages, 'v3', ['PENDING']);
    assert.deepEqual(Object.fromEntries(stages), { CURRENT: 'v2', PREVIOUS: 'v1', PENDING: 'v3' });
    stages = moveLabel(stages, 'CURRENT', 'v3');
    assert.deepEqual(Object.fromEntries(stages), { CURRENT: 'v3', PREVIOUS: 'v2', PENDING: 'v3' });
  });

  test('a label is on one version at a time', () => {
    const stages = moveLabel(new Map([['blue', 'v1']]), 'blue', 'v2');
    assert.deepEqual([...stages], [['blue', 'v2']]);
  });
});

describe('use cases', () => {
  test('versions beyond 100 are pruned, oldest unlabeled first; labelled ones stay', async () => {
    const deps = fakeDeps();
    await createSecret(deps, { name: 'a', tags: new Map(), value: text('v0') });
    const first = (await listSecretVersions(deps, { name: 'a' })).Versions[0]?.VersionId as string;
    await updateVersionStage(deps, { name: 'a', label: 'keep', to: first });
    for (let i = 1; i <= MAX_VERSIONS + 5; i++) {
      deps.clock.advanceDays(0.001);
      await putSecretValue(deps, { name: 'a', value: text(`v${i}`), labels: [] });
    }
    const { Versions } = await listSecretVersions(deps, { name: 'a' });
    assert.equal(Versions.length, MAX_VERSIONS);
    assert.ok(
      Versions.some((v) => v.VersionId === first),
      'the labelled first version is kept',
    );
    assert.equal((await getSecretValue(deps, { name: 'a', versionStage: 'keep' })).value.revealText(), 'v0');
    assert.equal((await getSecretValue(deps, { name: 'a' })).value.revealText(), `v${MAX_VERSIONS + 5}`);
  });

  test('a repeated client request token with the same value writes nothing', async () => {
    const deps = fakeDeps();
    const token = '11111111-2222-3333-4444-555555555555';
    await createSecret(deps, { name: 'a', tags: new Map(), value: text('x'), token });
    const writes = deps.vault.writes;
    const again = await createSecret(deps, { name: 'a', tags: new Map(), value: text('x'), token });
    assert.equal(again.Unchanged, true);
    assert.equal(deps.vault.writes, writes);
    await assert.rejects(createSecret(deps, { name: 'a', tags: new Map(), value: text('y'), token }), code('CONFLICT'));
  });

  test('a deleted secret is unreadable, listed only with includeDeleted', async () => {
    const deps = fakeDeps();
    await createSecret(deps, { name: 'a', tags: new Map(), value: text('x') });
    await deleteSecret(deps, { name: 'a', force: false, recoveryWindowDays: 7 });
    await assert.rejects(getSecretValue(deps, { name: 'a' }), code('SECRET_DELETED'));
    assert.equal((await listSecrets(deps, { filters: [], includeDeleted: false })).SecretList.length, 0);
    assert.equal((await listSecrets(deps, { filters: [], includeDeleted: true })).SecretList.length, 1);
  });

  test('CURRENT cannot be removed, only moved', async () => {
    const deps = fakeDeps();
    await createSecret(deps, { name: 'a', tags: new Map(), value: text('x') });
    const v = (await getSecretValue(deps, { name: 'a' })).VersionId;
    await assert.rejects(updateVersionStage(deps, { name: 'a', label: 'CURRENT', from: v }), code('USAGE'));
  });
});

describe('list filters', () => {
  const secret = (name: string, tags: Record<string, string>, description?: string) =>
    ({
      kind: 'secret',
      id: name,
      name,
      ...(description ? { description } : {}),
      tags: new Map(Object.entries(tags)),
      stages: new Map(),
      created: '',
      changed: '',
      by: '',
      ctr: 1,
    }) as const;

  test('values of one key are ORed, keys are ANDed, ! negates, matching is by prefix', () => {
    const s = secret('prod/api/key', { env: 'prod', team: 'core' }, 'API key');
    const match = (...f: string[]) => matchesFilters(s, parseFilters(f));
    assert.equal(match('name=prod/'), true);
    assert.equal(match('name=api'), false);
    assert.equal(match('name=dev', 'name=prod'), true);
    assert.equal(match('name=prod', 'tag-key=owner'), false);
    assert.equal(match('tag-value=pro'), true);
    assert.equal(match('tag-value=!prod'), false);
    assert.equal(match('name=!dev'), true);
    assert.equal(match('description=API'), true);
    assert.equal(match('all=cor'), true);
    assert.throws(() => parseFilters(['bogus=1']), code('USAGE'));
    assert.throws(() => parseFilters(['name']), code('USAGE'));
  });
});

describe('audit through the use cases (fakes)', () => {
  test('a read releases nothing when its event cannot be appended, and records one event when it can', async () => {
    const deps = fakeDeps();
    await createSecret(deps, { name: 'a', tags: new Map(), value: text('v') });
    deps.audit.failWith = new SecretsError('AUDIT_UNAVAILABLE', 'disk full');
    await assert.rejects(getSecretValue(deps, { name: 'a' }), code('AUDIT_UNAVAILABLE'));
    deps.audit.failWith = undefined;
    const before = deps.audit.events.length;
    const v = await getSecretValue(deps, { name: 'a' });
    assert.equal(v.value.revealText(), 'v');
    assert.deepEqual(
      deps.audit.events.slice(before).map((e) => [e.eventName, e.outcome, e.secretName]),
      [['GetSecretValue', 'success', 'a']],
    );
  });

  test('a failed write records an error event, a write that saved but cannot record says so', async () => {
    const deps = fakeDeps();
    await assert.rejects(putSecretValue(deps, { name: 'missing', value: text('v'), labels: [] }), code('NOT_FOUND'));
    assert.deepEqual(deps.audit.events.at(-1), {
      vaultId: 'vault-1',
      eventName: 'PutSecretValue',
      principal: { id: deps.vault.state.members[0]?.id, name: 'me' },
      secretName: 'missing',
      outcome: 'error',
      errorCode: 'NOT_FOUND',
    });
    await createSecret(deps, { name: 'b', tags: new Map(), value: text('v') });
    deps.audit.failWith = new SecretsError('AUDIT_UNAVAILABLE', 'disk full');
    await assert.rejects(
      putSecretValue(deps, { name: 'b', value: text('w'), labels: [] }),
      (e: unknown) => e instanceof SecretsError && /the change was saved/.test(e.message),
    );
    assert.equal(deps.vault.state.secrets.find((e) => e.secret.name === 'b')?.versions.length, 2);
  });
});
