/**
 * Rotation (docs/rotation.md), run locally in the four steps of AWS rotation:
 *
 *   createSecret  the new value is stored as PENDING, durably, before anything external changes
 *   setSecret     the handler applies it to the service
 *   testSecret    the handler logs in with it
 *   finishSecret  CURRENT moves to it, the old CURRENT becomes PREVIOUS, PENDING goes
 *
 * A failure at any step leaves CURRENT where it was and says which step failed; running again
 * resumes with the same version (the PENDING one), as AWS retries with the same token. A `put`
 * while a rotation runs abandons it (put removes PENDING; finishSecret then refuses).
 */
import { decide, handlerActs, heldBy } from '../access.js';
import { audited } from '../audit.js';
import { SecretsError } from '../errors.js';
import type { SecretEntry, SecretRecord, VaultState } from '../model.js';
import { isSecretName } from '../names.js';
import type { Identity, RotationHandler, RotationHandlers, RotationProbe } from '../ports.js';
import type { PendingRequest, RotationConfig, RotationRandom, RotationRequest, RotationStep, RotationStrategy } from '../rotation.js';
import { parseCron, parseWindow, scheduleAt } from '../schedule.js';
import type { SecretBytes } from '../secret-bytes.js';
import { CURRENT, moveLabel, PENDING, PREVIOUS } from '../versions.js';
import { check, type CoreDeps, findEntry, findLiveEntry, unsign, withEntry } from './deps.js';
import { getSecretValue } from './read.js';
import { addVersion } from './write.js';

/** What rotation needs beyond the core's ports. */
export interface RotationPorts {
  readonly handlers: RotationHandlers;
  /** Tells the person what is happening (stderr); never given a value. */
  readonly note: (message: string) => void;
  /** Test hook around each step (fault injection). */
  readonly probe?: RotationProbe;
}

/** `secrets rotate NAME --handler …`: what may be configured. */
export interface RotationSettings {
  readonly handler?: string | undefined;
  readonly every?: number | undefined;
  readonly cron?: string | undefined;
  readonly window?: string | undefined;
  readonly strategy?: RotationStrategy | undefined;
  readonly master?: string | undefined;
  readonly random?: RotationRandom | undefined;
}

/** What one rotation reports. */
export interface RotationResult {
  readonly Name: string;
  /** The new CURRENT version. */
  readonly VersionId: string;
  /** True when an interrupted rotation was finished (same version as before). */
  readonly Resumed: boolean;
}

const DATABASE_HANDLERS = new Set(['postgres', 'mysql']);

/** The configuration with the settings applied; USAGE for combinations that cannot work. */
async function configure(ports: RotationPorts, old: RotationConfig | undefined, s: RotationSettings, now: string): Promise<RotationConfig> {
  const handler = s.handler ?? old?.handler;
  if (handler === undefined) {
    throw new SecretsError('USAGE', 'this secret has no rotation configured', 'pass --handler password|postgres|mysql|command:NAME');
  }
  ports.handlers.check(handler);
  if (s.every !== undefined && s.cron !== undefined) throw new SecretsError('USAGE', '--every and --cron cannot be combined', 'pick one schedule');
  if (s.every !== undefined && (!Number.isInteger(s.every) || s.every < 1 || s.every > 1000)) {
    throw new SecretsError('USAGE', '--every must be a whole number of days from 1 to 1000');
  }
  if (s.cron !== undefined) await parseCron(s.cron);
  if (s.window !== undefined) parseWindow(s.window);
  if (s.master !== undefined && !isSecretName(s.master))
    throw new SecretsError('INVALID_NAME', `--master-secret ${JSON.stringify(s.master)} is not a secret name`);
  // A new schedule replaces the old one; otherwise the old one stays.
  const schedule =
    s.every !== undefined
      ? { every: s.every }
      : s.cron !== undefined
        ? { cron: s.cron.trim().split(/\s+/).join(' ') }
        : { ...(old?.every !== undefined ? { every: old.every } : {}), ...(old?.cron !== undefined ? { cron: old.cron } : {}) };
  const window = s.window ?? old?.window;
  const strategy = s.strategy ?? old?.strategy;
  const master = s.master ?? old?.master;
  const random = s.random ?? old?.random;
  if (strategy !== undefined && !DATABASE_HANDLERS.has(handler)) {
    throw new SecretsError('USAGE', `--strategy applies to the postgres and mysql handlers, not ${handler}`);
  }
  if (strategy === 'alternating-users' && master === undefined) {
    throw new SecretsError(
      'USAGE',
      'alternating-users needs the administrator credentials',
      'pass --master-secret NAME (a secret holding {"username","password"} of a user that can create users)',
    );
  }
  if (window !== undefined && schedule.every === undefined && schedule.cron === undefined) {
    throw new SecretsError('USAGE', '--window needs a schedule', 'add --every DAYS or --cron EXPR');
  }
  return {
    handler,
    enabled: true,
    ...schedule,
    ...(window !== undefined ? { window } : {}),
    ...(DATABASE_HANDLERS.has(handler) ? { strategy: strategy ?? 'single-user' } : {}),
    ...(master !== undefined ? { master } : {}),
    ...(random !== undefined && Object.keys(random).length > 0 ? { random } : {}),
    // The schedule counts from now when it changes; otherwise from when it was set.
    since: old !== undefined && s.every === undefined && s.cron === undefined ? old.since : now,
    ...(old?.last !== undefined ? { last: old.last } : {}),
  };
}

/** `secrets rotate NAME --handler …`: stores the configuration (RotateSecret), then rotates unless told not to. */
export async function configureRotation(
  deps: CoreDeps,
  ports: RotationPorts,
  input: { name: string; settings: RotationSettings; rotateNow: boolean },
): Promise<{ Name: string; Rotation: RotationConfig; Rotated?: RotationResult }> {
  const { identity } = await deps.identities.load();
  const config = await audited(deps.audit, 'RotateSecret', identity.id, (scope) =>
    deps.vault.transact(identity, async (state) => {
      scope.vault(state, identity.id).secretName(input.name);
      const entry = findLiveEntry(state, input.name);
      scope.secret(entry);
      check(deps, state, identity.id, 'RotateSecret', entry);
      await deps.vault.verifyRecords(state, [entry.secret]);
      const now = deps.clock.now().toISOString();
      const rotation = await configure(ports, entry.secret.rotation, input.settings, now);
      if (rotation.master !== undefined && !state.secrets.some((e) => e.secret.name === rotation.master)) {
        throw new SecretsError('NOT_FOUND', `master secret ${rotation.master} not found`, 'create it first: `secrets create NAME --value-stdin`');
      }
      // Whoever names a master secret must be allowed to read it: the rotation will use it.
      if (rotation.master !== undefined) check(deps, state, identity.id, 'GetSecretValue', findLiveEntry(state, rotation.master), { versionStages: [CURRENT] });
      const secret = unsign({ ...entry.secret, rotation, changed: now, act: 'RotateSecret' });
      return { state: withEntry(state, { ...entry, secret }), result: rotation };
    }),
  );
  if (!input.rotateNow) return { Name: input.name, Rotation: config };
  const rotated = await rotateSecret(deps, ports, { name: input.name });
  return { Name: input.name, Rotation: config, Rotated: rotated };
}

function rotationOf(entry: SecretEntry): RotationConfig {
  const config = entry.secret.rotation;
  if (config === undefined) {
    throw new SecretsError(
      'USAGE',
      `secret ${entry.secret.name} has no rotation configured`,
      `configure it: \`secrets rotate ${entry.secret.name} --handler password\` (or postgres, mysql, command:NAME)`,
    );
  }
  return config;
}

async function openStage(deps: CoreDeps, state: VaultState, entry: SecretEntry, stage: string, identity: Identity): Promise<SecretBytes | undefined> {
  const id = entry.secret.stages.get(stage);
  const version = id !== undefined ? entry.versions.find((v) => v.id === id) : undefined;
  if (!version) return undefined;
  await deps.vault.verifyRecords(state, [version]);
  return deps.cipher.open(version, state.vault.id, identity);
}

/**
 * A step's failure as the person should read it: which step, where CURRENT and PENDING stand,
 * how to go on. Our own errors keep their code (a value that cannot be decrypted is still exit
 * 6); anything else a handler throws is ROTATION_FAILED (exit 9).
 */
function stepFailure(name: string, step: RotationStep, err: unknown, pendingId: string, stored: boolean, strategy: RotationStrategy | undefined): SecretsError {
  const reason = err instanceof Error ? err.message : String(err);
  const applied = step === 'testSecret' || step === 'finishSecret';
  const state = !stored
    ? 'nothing was changed; '
    : applied && strategy === 'single-user'
      ? `the service may already accept only the PENDING value (version ${pendingId}); `
      : `CURRENT is unchanged; the new value is kept as PENDING (version ${pendingId}); `;
  const next = stored
    ? `fix the cause and run \`secrets rotate ${name}\` to resume, or \`secrets rotate ${name} --cancel\``
    : `fix the cause and run \`secrets rotate ${name}\` again`;
  return new SecretsError(err instanceof SecretsError ? err.code : 'ROTATION_FAILED', `rotation of ${name} failed at ${step}: ${reason}`, state + next);
}

/** `secrets rotate NAME`: runs (or resumes) one rotation now. */
export async function rotateSecret(deps: CoreDeps, ports: RotationPorts, input: { name: string }): Promise<RotationResult> {
  const { identity } = await deps.identities.load();
  const state = await deps.vault.read(identity);
  const entry = findLiveEntry(state, input.name);
  const config = rotationOf(entry);
  const name = entry.secret.name;
  const probe = ports.probe ?? (() => undefined);

  // RotationStarted is on disk before any value is opened or leaves (fail-closed), with the
  // token the pending version will carry.
  const currentId = entry.secret.stages.get(CURRENT);
  const heldPending = entry.secret.stages.get(PENDING);
  const resumed = heldPending !== undefined && heldPending !== currentId;
  const token = resumed ? heldPending : deps.ids.newId();
  const handler: RotationHandler = await audited(deps.audit, 'RotationStarted', identity.id, async (scope) => {
    scope.vault(state, identity.id).secret(entry).version({ id: token }, [PENDING]);
    check(deps, state, identity.id, 'RotateSecret', entry);
    check(deps, state, identity.id, 'GetSecretValue', entry, { versionStages: [CURRENT] });
    await deps.vault.verifyRecords(state, [entry.secret]);
    if (currentId === undefined) throw new SecretsError('NOT_FOUND', `secret ${name} has no CURRENT version to rotate`);
    const holder = handlerActs(config.handler) ? heldBy(state, entry.secret.id) : undefined;
    if (holder !== undefined) {
      throw new SecretsError(
        'DENIED',
        `the rotation settings of ${name} (handler ${config.handler}) were left by ${holder.name}, ${holder.removed !== undefined ? 'since removed from the vault' : 'who has since lost the permission to write them'}, and are on hold`,
        `an admin checks them (\`secrets describe ${name}\`), then confirms: \`secrets member confirm ${holder.name} ${name}\``,
      );
    }
    // A master secret is used with the authority of whoever decides where it goes: whoever wrote
    // this configuration, and whoever wrote the value it logs in to (its host and port: the
    // CURRENT version, and the PENDING one a resumed rotation uses). Each must be allowed to
    // read it, or a member could send it to a host of their choosing.
    if (config.master !== undefined) {
      const master = state.secrets.find((e) => e.secret.name === config.master);
      const env = { now: deps.clock.now(), tty: deps.tty };
      const versionBy = (id: string | undefined): string | undefined => entry.versions.find((v) => v.id === id)?.by;
      const deciders: [string | undefined, string][] = [
        [entry.secret.by, `who last wrote ${name}'s settings`],
        [versionBy(currentId), `who wrote ${name}'s CURRENT value`],
        [resumed ? versionBy(heldPending) : undefined, `who wrote ${name}'s PENDING value`],
      ];
      for (const [id, role] of deciders) {
        if (id === undefined || master === undefined) continue;
        const writer = state.members.find((m) => m.id === id);
        if (writer !== undefined && decide(state, writer, 'GetSecretValue', master, { versionStages: [CURRENT] }, env).decision === 'allowed') continue;
        throw new SecretsError(
          'DENIED',
          `the rotation of ${name} uses the master secret ${config.master}, which ${writer?.name ?? id} (${role}) may not read`,
          `someone who may read ${config.master} checks ${name}, puts its value again and configures it again: \`secrets rotate ${name} --master-secret ${config.master} --no-rotate-now\``,
        );
      }
    }
    // Which program runs is this machine's choice (a handler the vault names may be refused here).
    try {
      return await ports.handlers.load(config.handler);
    } catch (err) {
      if (err instanceof SecretsError && err.code === 'DENIED') throw new SecretsError('DENIED', `cannot rotate ${name}: ${err.message}`, err.hint);
      throw err;
    }
  });

  // Whether a PENDING version of this rotation is in the vault (for the failure's hint).
  let stored = resumed;
  const fail = async (step: RotationStep, err: unknown): Promise<never> => {
    const failure = stepFailure(name, step, err, token, stored, config.strategy);
    await audited(deps.audit, 'RotationFailed', identity.id, async (scope) => {
      scope.vault(state, identity.id).secret(entry).version({ id: token }, [PENDING]).target(step);
      throw failure;
    }).catch(() => undefined);
    throw failure;
  };

  // Every value opened here is wiped when the rotation ends, however it ends.
  const opened: SecretBytes[] = [];
  const open = async (stage: string): Promise<SecretBytes | undefined> => {
    const v = await openStage(deps, state, entry, stage, identity);
    if (v) opened.push(v);
    return v;
  };
  try {
    let current: SecretBytes | undefined;
    let previous: SecretBytes | undefined;
    let pending: SecretBytes | undefined;
    let master: SecretBytes | undefined;
    try {
      current = await open(CURRENT);
      previous = await open(PREVIOUS);
      if (resumed) pending = await open(PENDING);
      if (config.strategy === 'alternating-users' && config.master !== undefined) {
        master = (await getSecretValue(deps, { name: config.master })).value;
        opened.push(master);
      }
    } catch (err) {
      return await fail('createSecret', err);
    }
    if (current === undefined || currentId === undefined) {
      return await fail('createSecret', new SecretsError('NOT_FOUND', `secret ${name} has no CURRENT version to rotate`));
    }

    const base: Omit<RotationRequest, 'step'> = {
      secretId: entry.secret.id,
      name,
      token,
      config,
      current,
      ...(previous ? { previous } : {}),
      ...(master ? { master } : {}),
      note: ports.note,
    };

    if (pending === undefined) {
      probe('createSecret', 'before');
      try {
        const value = await handler.createSecret({ ...base, step: 'createSecret' });
        opened.push(value);
        await storePending(deps, identity, name, currentId, token, value);
        stored = true;
        pending = value;
      } catch (err) {
        return await fail('createSecret', err);
      }
      probe('createSecret', 'after');
    } else {
      ports.note(`resuming the rotation of ${name} (version ${token})`);
    }

    const req: PendingRequest = { ...base, step: 'setSecret', pending };
    for (const step of ['setSecret', 'testSecret'] as const) {
      probe(step, 'before');
      try {
        await handler[step]({ ...req, step });
      } catch (err) {
        return await fail(step, err);
      }
      probe(step, 'after');
    }

    probe('finishSecret', 'before');
    try {
      await handler.finishSecret({ ...req, step: 'finishSecret' });
    } catch (err) {
      return await fail('finishSecret', err);
    }
    let done: Awaited<ReturnType<typeof finish>>;
    try {
      done = await finish(deps, identity, name, token);
    } catch (err) {
      return await fail('finishSecret', err);
    }
    await audited(deps.audit, done.finished ? 'RotationSucceeded' : 'RotationAbandoned', identity.id, async (scope) => {
      scope
        .vault(done.state, identity.id)
        .secret(done.entry)
        .version({ id: token }, done.finished ? [CURRENT] : []);
    });
    if (!done.finished) {
      throw new SecretsError(
        'CONFLICT',
        `the rotation of ${name} was abandoned: a new value was stored while it ran, so version ${token} did not become CURRENT`,
        `the service may now accept version ${token}: check with \`secrets get ${name} --version-id ${token}\`, then rotate again`,
      );
    }
    probe('finishSecret', 'after');
    return { Name: name, VersionId: token, Resumed: resumed };
  } finally {
    for (const v of opened) v.wipe();
  }
}

/** createSecret's write: the new version labelled PENDING only, if nothing moved meanwhile. */
async function storePending(deps: CoreDeps, identity: Identity, name: string, currentId: string, token: string, value: SecretBytes): Promise<void> {
  await deps.vault.transact(identity, async (state) => {
    const entry = findLiveEntry(state, name);
    check(deps, state, identity.id, 'RotateSecret', entry);
    await deps.vault.verifyRecords(state, [entry.secret]);
    if (entry.secret.stages.get(CURRENT) !== currentId || entry.secret.stages.has(PENDING)) {
      throw new SecretsError('CONFLICT', `secret ${name} changed while its rotation started`, `run \`secrets rotate ${name}\` again`);
    }
    const type = value.revealText() === undefined ? 'binary' : 'string';
    const added = await addVersion(deps, identity, state, entry, { bytes: value, type }, { act: 'RotateSecret', token, labels: [PENDING] });
    return { state: withEntry(state, added.entry), result: undefined };
  });
}

/**
 * finishSecret's write: CURRENT to the pending version, PREVIOUS to the old one, PENDING removed.
 * Returns false, changing nothing, when PENDING is no longer this rotation's (a put abandoned it).
 */
async function finish(deps: CoreDeps, identity: Identity, name: string, token: string): Promise<{ finished: boolean; state: VaultState; entry: SecretEntry }> {
  return deps.vault.transact<{ finished: boolean; state: VaultState; entry: SecretEntry }>(identity, async (state) => {
    const entry = findLiveEntry(state, name);
    check(deps, state, identity.id, 'RotateSecret', entry);
    await deps.vault.verifyRecords(state, [entry.secret]);
    if (entry.secret.stages.get(PENDING) !== token) return { state, result: { finished: false, state, entry } };
    const now = deps.clock.now().toISOString();
    const stages = moveLabel(moveLabel(entry.secret.stages, CURRENT, token), PENDING, undefined);
    const rotation = entry.secret.rotation ? { ...entry.secret.rotation, last: now } : undefined;
    const secret: SecretRecord = unsign({ ...entry.secret, stages, changed: now, act: 'RotateSecret', ...(rotation ? { rotation } : {}) });
    const next = withEntry(state, { ...entry, secret });
    return { state: next, result: { finished: true, state: next, entry: { ...entry, secret } } };
  });
}

/** `secrets rotate NAME --cancel`: turns automatic rotation off and drops an unfinished PENDING label. */
export async function cancelRotation(deps: CoreDeps, input: { name: string }): Promise<{ Name: string; CancelledVersionId?: string }> {
  const { identity } = await deps.identities.load();
  return audited(deps.audit, 'CancelRotateSecret', identity.id, (scope) =>
    deps.vault.transact(identity, async (state) => {
      scope.vault(state, identity.id).secretName(input.name);
      const entry = findEntry(state, input.name);
      scope.secret(entry);
      check(deps, state, identity.id, 'CancelRotateSecret', entry);
      await deps.vault.verifyRecords(state, [entry.secret]);
      const config = rotationOf(entry);
      const pendingId = entry.secret.stages.get(PENDING);
      const unfinished = pendingId !== undefined && pendingId !== entry.secret.stages.get(CURRENT) ? pendingId : undefined;
      if (unfinished !== undefined) scope.version({ id: unfinished }, []);
      const now = deps.clock.now().toISOString();
      const secret = unsign({
        ...entry.secret,
        stages: pendingId !== undefined ? moveLabel(entry.secret.stages, PENDING, undefined) : entry.secret.stages,
        rotation: { ...config, enabled: false },
        changed: now,
        act: 'CancelRotateSecret',
      });
      return {
        state: withEntry(state, { ...entry, secret }),
        result: { Name: input.name, ...(unfinished !== undefined ? { CancelledVersionId: unfinished } : {}) },
      };
    }),
  );
}

/** One line of `rotate --due` / `--exposed-to`. */
export interface BulkRotationItem {
  readonly Name: string;
  readonly Outcome: 'rotated' | 'failed' | 'skipped';
  readonly VersionId?: string;
  readonly Error?: string;
  readonly ErrorCode?: string;
}

async function rotateEach(
  deps: CoreDeps,
  ports: RotationPorts,
  names: readonly string[],
  skipped: readonly BulkRotationItem[],
  progress?: (done: number, total: number) => void,
): Promise<{ Items: BulkRotationItem[] }> {
  const items: BulkRotationItem[] = [...skipped];
  let done = 0;
  progress?.(0, names.length);
  for (const name of names) {
    try {
      const r = await rotateSecret(deps, ports, { name });
      items.push({ Name: name, Outcome: 'rotated', VersionId: r.VersionId });
    } catch (err) {
      if (!(err instanceof SecretsError)) throw err;
      // Storage and identity failures stop the run; a failed or refused rotation is reported.
      if (['STORAGE', 'AUDIT_UNAVAILABLE', 'IDENTITY_UNAVAILABLE', 'KEYCHAIN_UNAVAILABLE', 'ROLLBACK', 'DAMAGED_VAULT'].includes(err.code)) throw err;
      items.push({ Name: name, Outcome: err.code === 'DENIED' ? 'skipped' : 'failed', Error: err.message, ErrorCode: err.code });
    }
    progress?.(++done, names.length);
  }
  return { Items: items };
}

/** `secrets rotate --due`: every live secret whose schedule says it is due now, in name order. */
export async function rotateDue(
  deps: CoreDeps,
  ports: RotationPorts,
  progress?: (done: number, total: number) => void,
): Promise<{ Items: BulkRotationItem[] }> {
  const { identity } = await deps.identities.load();
  const state = await deps.vault.read(identity);
  const now = deps.clock.now();
  const due: string[] = [];
  for (const { secret } of state.secrets) {
    if (secret.deleted !== undefined || secret.rotation === undefined) continue;
    if ((await scheduleAt(secret.rotation, now)).due) due.push(secret.name);
  }
  due.sort();
  return rotateEach(deps, ports, due, [], progress);
}

/**
 * `secrets rotate --exposed-to MEMBER`: the secrets a removed member could read (stored when
 * they were removed). Those without a rotation configured are reported as skipped.
 */
export async function rotateExposed(
  deps: CoreDeps,
  ports: RotationPorts,
  input: { member: string },
  progress?: (done: number, total: number) => void,
): Promise<{ Items: BulkRotationItem[] }> {
  const { identity } = await deps.identities.load();
  const state = await deps.vault.read(identity);
  const member = state.members.find((m) => m.name === input.member);
  if (!member) throw new SecretsError('NOT_FOUND', `no member named ${JSON.stringify(input.member)}`, '`secrets member list --include-removed` lists them');
  if (member.removed === undefined || member.exposed === undefined) {
    throw new SecretsError('USAGE', `member ${input.member} has not been removed`, `remove them first: \`secrets member remove ${input.member}\``);
  }
  const names: string[] = [];
  const skipped: BulkRotationItem[] = [];
  for (const id of member.exposed) {
    const entry = state.secrets.find((e) => e.secret.id === id);
    if (!entry || entry.secret.deleted !== undefined) continue;
    if (entry.secret.rotation === undefined) {
      skipped.push({ Name: entry.secret.name, Outcome: 'skipped', Error: 'no rotation configured: put a new value by hand', ErrorCode: 'USAGE' });
    } else {
      names.push(entry.secret.name);
    }
  }
  names.sort();
  return rotateEach(deps, ports, names, skipped, progress);
}
