/**
 * The audit log format (docs/audit.md): `$XDG_STATE_HOME/secrets/audit/<vault-id>.jsonl`,
 * one JSON event per line, each naming its sequence number and the SHA-256 of the line before
 * it (`prev`); the first line's `prev` is derived from the vault id, and it names the log's own
 * random id (`log`), which the vault's signed anchors name.
 */
import { createHash, hash } from 'node:crypto';
import { join } from 'node:path';

/** A stored event. Field order is fixed so every line is produced the same way. */
export interface AuditEvent {
  readonly seq: number;
  readonly eventTime: string;
  readonly eventName: string;
  readonly principal: { readonly id: string; readonly name?: string };
  readonly secretName?: string;
  readonly secretId?: string;
  readonly versionId?: string;
  readonly versionStage?: readonly string[];
  readonly outcome: 'success' | 'denied' | 'error';
  readonly errorCode?: string;
  readonly target?: string;
  readonly command?: string;
  readonly sourceIPAddress?: string;
  readonly userAgent?: string;
  readonly host: string;
  readonly pid: number;
  readonly user: string;
  readonly tty: boolean;
  readonly requestId: string;
  readonly vaultId: string;
  /** Only on the first event: this log's random id, which vault heads anchor. */
  readonly log?: string;
  readonly prev: string;
}

/** The log file of a vault. */
export function auditLogPath(auditDir: string, vaultId: string): string {
  return join(auditDir, `${vaultId}.jsonl`);
}

/** `prev` of the first event: binds the chain to its vault. */
export function genesisHash(vaultId: string): string {
  return createHash('sha256').update(`secrets-audit-v1\0${vaultId}`).digest('hex');
}

/** The hash of one line (without its newline): the next event's `prev`. */
export function lineHash(line: string | Uint8Array): string {
  // One-shot hash: no Hash object per line, which matters for a million-event verify.
  return hash('sha256', line, 'hex');
}

/** Serialises an event in the fixed field order. */
export function serializeEvent(e: AuditEvent): string {
  const ordered: Record<string, unknown> = {
    seq: e.seq,
    eventTime: e.eventTime,
    eventName: e.eventName,
    principal: e.principal.name !== undefined ? { id: e.principal.id, name: e.principal.name } : { id: e.principal.id },
    secretName: e.secretName,
    secretId: e.secretId,
    versionId: e.versionId,
    versionStage: e.versionStage,
    outcome: e.outcome,
    errorCode: e.errorCode,
    target: e.target,
    command: e.command,
    sourceIPAddress: e.sourceIPAddress,
    userAgent: e.userAgent,
    host: e.host,
    pid: e.pid,
    user: e.user,
    tty: e.tty,
    requestId: e.requestId,
    vaultId: e.vaultId,
    log: e.log,
    prev: e.prev,
  };
  return JSON.stringify(ordered);
}

/** Parses an anchor; undefined if malformed. */
export function parseAnchor(text: string): { log: string; seq: number; hash: string } | undefined {
  const m = /^([0-9a-f]{16}):(\d{1,15}):([0-9a-f]{64})$/.exec(text);
  return m ? { log: m[1] as string, seq: Number(m[2]), hash: m[3] as string } : undefined;
}
