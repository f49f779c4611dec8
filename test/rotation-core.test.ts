/**
 * Rotation in the core over in-memory fakes: the schedule at any instant (an injected clock),
 * `rotateDue` picking exactly the due secrets, and the step protocol with a handler that fails
 * where told — CURRENT never moves before finishSecret, and a re-run resumes the same version.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { SecretsError } from '../src/core/errors.js';
import type { RotationHandler, RotationHandlers } from '../src/core/ports.js';
import type { PendingRequest, RotationConfig, RotationRequest, RotationStep } from '../src/core/rotation.js';
import { scheduleAt } from '../src/core/schedule.js';
import { SecretBytes } from '../src/core/secret-bytes.js';
import { configureRotation, rotateDue, rotateSecret, type RotationPorts } from '../src/core/use-cases/rotate.js';
import { getSecretValue } from '../src/core/use-cases/read.js';
import { createSecret, putSecretValue } from '../src/core/use-cases/write.js';
import { fakeDeps, text } from './support/fakes.js';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (iso: string): Date => new Date(iso);
const cfg = (c: Partial<RotationConfig>): RotationConfig => ({ handler: 'password', enabled: true, since: T0, ...c });

describe('rotation schedules', () => {
  const table: [string, Partial<RotationConfig>, string, boolean, string | undefined][] = [
    ['every 7, before the first slot', { every: 7 }, '2026-01-07T23:59:59.000Z', false, '2026-01-08T00:00:00.000Z'],
    ['every 7, exactly at the slot', { every: 7 }, '2026-01-08T00:00:00.000Z', true, '2026-01-08T00:00:00.000Z'],
    ['every 7, overdue without a window', { every: 7 }, '2026-02-20T00:00:00.000Z', true, '2026-02-19T00:00:00.000Z'],
    ['every 7 counts from the last rotation', { every: 7, last: '2026-01-10T12:00:00.000Z' }, '2026-01-17T11:00:00.000Z', false, '2026-01-17T12:00:00.000Z'],
    ['every 7 with a 1h window, inside', { every: 7, window: '1h' }, '2026-01-08T00:59:00.000Z', true, '2026-01-08T00:00:00.000Z'],
    ['every 7 with a 1h window, missed: waits for the next slot', { every: 7, window: '1h' }, '2026-01-08T01:00:00.000Z', false, '2026-01-15T00:00:00.000Z'],
    ['cron daily 03:00, before', { cron: '0 3 * * *' }, '2026-01-01T02:00:00.000Z', false, '2026-01-01T03:00:00.000Z'],
    ['cron daily 03:00, after', { cron: '0 3 * * *' }, '2026-01-01T05:00:00.000Z', true, '2026-01-01T03:00:00.000Z'],
    [
      'cron daily 03:00, already rotated today',
      { cron: '0 3 * * *', last: '2026-01-01T03:00:05.000Z' },
      '2026-01-01T05:00:00.000Z',
      false,
      '2026-01-02T03:00:00.000Z',
    ],
    ['cron with 30m window, missed', { cron: '0 3 * * *', window: '30m' }, '2026-01-01T03:30:00.000Z', false, '2026-01-02T03:00:00.000Z'],
    ['cron Mondays (2026-01-05 is one)', { cron: '0 0 * * 1' }, '2026-01-03T00:00:00.000Z', false, '2026-01-05T00:00:00.000Z'],
    ['disabled', { every: 1, enabled: false }, '2026-06-01T00:00:00.000Z', false, undefined],
    ['on demand only (no schedule)', {}, '2026-06-01T00:00:00.000Z', false, undefined],
  ];
  for (const [what, c, now, due, next] of table) {
    it(what, async () => {
      const s = await scheduleAt(cfg(c), at(now));
      assert.equal(s.due, due);
      assert.equal(s.next?.toISOString(), next);
    });
  }
});

/** A handler that records the steps it ran and throws at `failAt`. */
class ScriptedHandler implements RotationHandler {
  calls: RotationStep[] = [];
  failAt: RotationStep | undefined;
  #n = 0;
  #step(req: RotationRequest): void {
    this.calls.push(req.step);
    if (req.step === this.failAt) throw new SecretsError('ROTATION_FAILED', `scripted failure at ${req.step}`);
  }
  async createSecret(req: RotationRequest): Promise<SecretBytes> {
    this.#step(req);
    return SecretBytes.fromString(`value-${++this.#n}`);
  }
  async setSecret(req: PendingRequest): Promise<void> {
    this.#step(req);
  }
  async testSecret(req: PendingRequest): Promise<void> {
    this.#step(req);
  }
  async finishSecret(req: PendingRequest): Promise<void> {
    this.#step(req);
  }
}

function setup(): { deps: ReturnType<typeof fakeDeps>; ports: RotationPorts; handler: ScriptedHandler } {
  const deps = { ...fakeDeps(), ids: { newId: () => randomUUID(), secretId: () => randomUUID() } };
  const handler = new ScriptedHandler();
  const handlers: RotationHandlers = {
    check: () => undefined,
    load: async () => handler,
  };
  return { deps, ports: { handlers, note: () => undefined }, handler };
}

async function current(deps: ReturnType<typeof fakeDeps>, name: string): Promise<string> {
  return (await getSecretValue(deps, { name })).value.revealText() ?? '';
}

describe('rotation steps over fakes', () => {
  for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
    it(`a failure at ${step} leaves CURRENT, records RotationFailed with the step, and a re-run resumes`, async () => {
      const { deps, ports, handler } = setup();
      await createSecret(deps, { name: 's', tags: new Map(), value: text('v0') });
      await configureRotation(deps, ports, { name: 's', settings: { handler: 'x' }, rotateNow: false });
      handler.failAt = step;
      await assert.rejects(
        rotateSecret(deps, ports, { name: 's' }),
        (e: SecretsError) => e.code === 'ROTATION_FAILED' && e.message.includes(`failed at ${step}`),
      );
      assert.equal(await current(deps, 's'), 'v0');
      const failed = deps.audit.events.filter((e) => e.eventName === 'RotationFailed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.target, step);
      const pendingId = deps.vault.state.secrets[0]?.secret.stages.get('PENDING');
      assert.equal(pendingId !== undefined, step !== 'createSecret', 'PENDING exists once createSecret stored it');

      handler.failAt = undefined;
      handler.calls = [];
      const r = await rotateSecret(deps, ports, { name: 's' });
      assert.equal(r.Resumed, pendingId !== undefined);
      if (pendingId !== undefined) {
        assert.equal(r.VersionId, pendingId);
        assert.deepEqual(handler.calls, ['setSecret', 'testSecret', 'finishSecret'], 'createSecret is not run again');
      }
      assert.match(await current(deps, 's'), /^value-\d$/);
      assert.equal(deps.vault.state.secrets[0]?.secret.stages.has('PENDING'), false);
    });
  }

  it("a handler's own error keeps its code, and a failed createSecret says nothing was changed", async () => {
    const { deps, ports, handler } = setup();
    await createSecret(deps, { name: 's', tags: new Map(), value: text('not json') });
    await configureRotation(deps, ports, { name: 's', settings: { handler: 'x' }, rotateNow: false });
    handler.createSecret = async () => {
      throw new SecretsError('INVALID_VALUE', 'the secret is not a JSON object');
    };
    await assert.rejects(rotateSecret(deps, ports, { name: 's' }), (e: SecretsError) => {
      assert.equal(e.code, 'INVALID_VALUE', 'not turned into ROTATION_FAILED');
      assert.match(e.message, /failed at createSecret: the secret is not a JSON object/);
      assert.match(e.hint ?? '', /^nothing was changed; /);
      return true;
    });
    assert.equal(deps.vault.state.secrets[0]?.secret.stages.has('PENDING'), false);
  });

  it('a put between createSecret and finishSecret abandons the rotation', async () => {
    const { deps, ports, handler } = setup();
    await createSecret(deps, { name: 's', tags: new Map(), value: text('v0') });
    await configureRotation(deps, ports, { name: 's', settings: { handler: 'x' }, rotateNow: false });
    const original = handler.setSecret.bind(handler);
    handler.setSecret = async (req) => {
      await original(req);
      const put = await putSecretValue(deps, { name: 's', value: text('manual'), labels: [] });
      assert.ok(put.AbandonedRotationVersionId !== undefined);
    };
    await assert.rejects(rotateSecret(deps, ports, { name: 's' }), (e: SecretsError) => e.code === 'CONFLICT' && /abandoned/.test(e.message));
    assert.equal(await current(deps, 's'), 'manual');
    assert.ok(deps.audit.events.some((e) => e.eventName === 'RotationAbandoned'));
  });

  it('rotateDue with an injected clock rotates exactly the due secrets', async () => {
    const { deps, ports } = setup();
    for (const [name, every] of [
      ['a', 1],
      ['b', 10],
      ['c', undefined],
    ] as const) {
      await createSecret(deps, { name, tags: new Map(), value: text('v0') });
      await configureRotation(deps, ports, { name, settings: { handler: 'x', ...(every !== undefined ? { every } : {}) }, rotateNow: false });
    }
    deps.clock.advanceDays(2);
    assert.deepEqual(
      (await rotateDue(deps, ports)).Items.map((i) => [i.Name, i.Outcome]),
      [['a', 'rotated']],
    );
    deps.clock.advanceDays(9);
    assert.deepEqual(
      (await rotateDue(deps, ports)).Items.map((i) => [i.Name, i.Outcome]),
      [
        ['a', 'rotated'],
        ['b', 'rotated'],
      ],
    );
    assert.deepEqual((await rotateDue(deps, ports)).Items, []);
    assert.equal(await current(deps, 'c'), 'v0');
  });
});
