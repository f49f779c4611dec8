/**
 * The audit trail as the core sees it (docs/audit.md): every command that touches a
 * secret records itself through `audited`, the one way events are made. A read releases its
 * value only after `scope.commit()` has durably appended the event (fail-closed); a write
 * records its event after it committed; a failure or a denial records itself on the way out.
 * Events carry names and ids, never a value.
 */
import { SecretsError } from './errors.js';
import type { MemberRecord, SecretEntry, VaultState, VersionRecord } from './model.js';
import type { AuditEntry, AuditTrail } from './ports.js';

/**
 * Events of a bulk operation, held until `flush` appends them all durably at once. Used as the
 * trail of each per-secret `audited` call; the caller releases values only after `flush`.
 */
export class AuditBatch implements AuditTrail {
  readonly #trail: AuditTrail;
  #entries: AuditEntry[] = [];

  constructor(trail: AuditTrail) {
    this.#trail = trail;
  }

  async append(entry: AuditEntry): Promise<void> {
    this.#entries.push(entry);
  }

  async appendAll(entries: readonly AuditEntry[]): Promise<void> {
    this.#entries.push(...entries);
  }

  lastAccess(vaultId: string, secretId: string): Promise<string | undefined> {
    return this.#trail.lastAccess(vaultId, secretId);
  }

  /** Appends what was collected, durably; throws (and nothing may be released) if it cannot. */
  async flush(): Promise<void> {
    const entries = this.#entries;
    this.#entries = [];
    if (entries.length > 0) await this.#trail.appendAll(entries);
  }

  /** `flush` after the change (an import, a restore) was saved: AUDIT_UNAVAILABLE says so if it fails. */
  async flushSaved(what: string): Promise<void> {
    try {
      await this.flush();
    } catch (err) {
      if (!(err instanceof SecretsError)) throw err;
      throw new SecretsError('AUDIT_UNAVAILABLE', `the ${what} was saved, but its audit events could not be written: ${err.message}`, err.hint);
    }
  }
}

/**
 * Records a change to the whole vault made outside the use cases (`compact`, `migrate`), once
 * it was saved: AUDIT_UNAVAILABLE says so if the event cannot be written.
 */
export async function recordVaultChange(trail: AuditTrail, event: { vaultId: string; eventName: string; principal: string; target?: string }): Promise<void> {
  try {
    await trail.append({
      vaultId: event.vaultId,
      eventName: event.eventName,
      principal: { id: event.principal },
      outcome: 'success',
      ...(event.target !== undefined ? { target: event.target } : {}),
    });
  } catch (err) {
    if (!(err instanceof SecretsError)) throw err;
    throw new SecretsError('AUDIT_UNAVAILABLE', `the change was saved, but its audit event could not be written: ${err.message}`, err.hint);
  }
}

/** Collects what an event needs while a use case runs. */
export class AuditScope {
  readonly #trail: AuditTrail;
  readonly #eventName: string;
  #vaultId: string | undefined;
  #principal: { id: string; name?: string } | undefined;
  #secret: { name: string; id?: string } | undefined;
  #version: { id: string; stages: readonly string[] } | undefined;
  #command: string | undefined;
  #target: string | undefined;
  #done = false;

  constructor(trail: AuditTrail, eventName: string, identityId: string | undefined) {
    this.#trail = trail;
    this.#eventName = eventName;
    if (identityId !== undefined) this.#principal = { id: identityId };
  }

  /** The vault and, when known, the member acting. */
  vault(state: VaultState, identityId: string): this {
    this.#vaultId = state.vault.id;
    const member: MemberRecord | undefined = state.members.find((m) => m.id === identityId);
    this.#principal = member ? { id: member.id, name: member.name } : { id: identityId };
    return this;
  }

  /** The secret named by the request (before it is found, so a miss is recorded too). */
  secretName(name: string): this {
    this.#secret = { name, ...(this.#secret?.id !== undefined ? { id: this.#secret.id } : {}) };
    return this;
  }

  secret(entry: SecretEntry): this {
    this.#secret = { name: entry.secret.name, id: entry.secret.id };
    return this;
  }

  version(version: Pick<VersionRecord, 'id'>, stages: readonly string[]): this {
    this.#version = { id: version.id, stages };
    return this;
  }

  command(program: string): this {
    this.#command = program;
    return this;
  }

  target(what: string): this {
    this.#target = what;
    return this;
  }

  get done(): boolean {
    return this.#done;
  }

  #entry(outcome: AuditEntry['outcome'], errorCode?: string): AuditEntry | undefined {
    if (this.#vaultId === undefined || this.#principal === undefined) return undefined;
    return {
      vaultId: this.#vaultId,
      eventName: this.#eventName,
      principal: this.#principal,
      ...(this.#secret ? { secretName: this.#secret.name, ...(this.#secret.id !== undefined ? { secretId: this.#secret.id } : {}) } : {}),
      ...(this.#version ? { versionId: this.#version.id, versionStage: this.#version.stages } : {}),
      outcome,
      ...(errorCode !== undefined ? { errorCode } : {}),
      ...(this.#command !== undefined ? { command: this.#command } : {}),
      ...(this.#target !== undefined ? { target: this.#target } : {}),
    };
  }

  /** Appends the success event now. A read calls this before it releases anything. */
  async commit(): Promise<void> {
    const entry = this.#entry('success');
    this.#done = true;
    if (entry) await this.#trail.append(entry);
  }

  /** Records a failure (best effort: the original error is what the user must see). */
  async fail(err: SecretsError): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    const entry = this.#entry(err.code === 'DENIED' ? 'denied' : 'error', err.code);
    if (!entry) return;
    try {
      await this.#trail.append(entry);
    } catch {
      // The command already failed; its own error is the one to report.
    }
  }
}

/**
 * Runs a use case as one audited operation. Reads call `scope.commit()` before releasing a value;
 * anything else is recorded when `body` returns (a write has committed by then, so a trail that
 * cannot be written is reported as such) or throws.
 */
export async function audited<T>(trail: AuditTrail, eventName: string, identityId: string | undefined, body: (scope: AuditScope) => Promise<T>): Promise<T> {
  const scope = new AuditScope(trail, eventName, identityId);
  let result: T;
  try {
    result = await body(scope);
  } catch (err) {
    if (err instanceof SecretsError) await scope.fail(err);
    throw err;
  }
  if (!scope.done) {
    try {
      await scope.commit();
    } catch (err) {
      if (!(err instanceof SecretsError)) throw err;
      throw new SecretsError('AUDIT_UNAVAILABLE', `the change was saved, but its audit event could not be written: ${err.message}`, err.hint);
    }
  }
  return result;
}
