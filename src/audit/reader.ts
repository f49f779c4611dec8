/**
 * Reading the audit log: `audit verify` (the hash chain, sequence numbers and the vault's
 * signed anchors), queries (newest first), the CloudTrail-shaped export, and the last access
 * of a secret for `describe`. Every reader streams the file in chunks, so a log of a million
 * events is read in bounded memory.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { type AuditEvent, genesisHash, lineHash } from './format.js';

const CHUNK = 1024 * 1024;

/** Yields each line of a file (bytes, without newlines) and whether it was terminated. */
function* rawLines(path: string): Generator<{ bytes: Buffer; terminated: boolean }> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    let rest = Buffer.alloc(0);
    for (;;) {
      // A fresh buffer per chunk: yielded lines are views into it, and a reader may hold one
      // line while it looks at the next.
      const buf = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      const data = rest.length > 0 ? Buffer.concat([rest, buf.subarray(0, n)]) : buf.subarray(0, n);
      let start = 0;
      for (let nl = data.indexOf(0x0a, start); nl >= 0; nl = data.indexOf(0x0a, start)) {
        yield { bytes: data.subarray(start, nl), terminated: true };
        start = nl + 1;
      }
      rest = Buffer.from(data.subarray(start));
    }
    if (rest.length > 0) yield { bytes: rest, terminated: false };
  } finally {
    closeSync(fd);
  }
}

/** Each line as text. */
function* lines(path: string): Generator<{ line: string; terminated: boolean }> {
  for (const { bytes, terminated } of rawLines(path)) yield { line: bytes.toString('utf8'), terminated };
}

/**
 * The fields the chain needs, read without JSON.parse from a line this program wrote
 * (`{"seq":N,…,"prev":"<hex>"}`); undefined when the line has another shape, and the caller
 * falls back to a full parse. A million events verify in a few seconds this way.
 */
function quickFields(bytes: Buffer): { seq: number; prev: string } | undefined {
  const len = bytes.length;
  if (len < 90 || bytes.toString('latin1', 0, 7) !== '{"seq":' || bytes[len - 1] !== 0x7d || bytes[len - 2] !== 0x22) return undefined;
  let seq = 0;
  let i = 7;
  for (; i < 23 && (bytes[i] as number) >= 0x30 && (bytes[i] as number) <= 0x39; i++) seq = seq * 10 + ((bytes[i] as number) - 0x30);
  if (i === 7 || bytes[i] !== 0x2c) return undefined;
  if (bytes.toString('latin1', len - 2 - 64 - 8, len - 2 - 64) !== '"prev":"') return undefined;
  return { seq, prev: bytes.toString('latin1', len - 2 - 64, len - 2) };
}

/** An anchor from the vault head: event `seq` of log `log` had this line hash when `writer` wrote. */
export interface Anchor {
  readonly writer: string;
  readonly log: string;
  readonly seq: number;
  readonly hash: string;
}

/** The result of `audit verify`. */
export interface VerifyResult {
  readonly events: number;
  readonly log?: string;
  /** The first break, by sequence number. */
  readonly broken?: { readonly seq: number; readonly problem: string };
  /** The anchor that was checked, if the vault holds one for this log. */
  readonly anchor?: Anchor;
  /** A torn last line (an append that died before its fsync; not counted, not an attack). */
  readonly tornTail: boolean;
}

function parse(line: string): Partial<AuditEvent> | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks the whole chain of a vault's log against the vault's signed anchors. `mine` is the
 * anchor of the identity running the check: it must name this very log, so a log cannot escape
 * its anchor by being replaced, emptied or given another id.
 */
export function verifyLog(
  path: string,
  vaultId: string,
  anchors: readonly Anchor[],
  mine: Anchor | undefined,
  progress?: (doneMiB: number, totalMiB: number) => void,
): VerifyResult {
  let totalMiB = 0;
  if (progress) {
    try {
      totalMiB = Math.ceil(statSync(path).size / 1_048_576);
    } catch {
      progress = undefined;
    }
  }
  let readBytes = 0;
  let expected = 1;
  let prev = genesisHash(vaultId);
  let log: string | undefined;
  let anchor: Anchor | undefined;
  let checks: Anchor[] = [];
  let tornTail = false;
  const it = rawLines(path);
  let next = it.next();
  const brokenAt = (seq: number, problem: string): VerifyResult => ({
    events: expected - 1,
    ...(log ? { log } : {}),
    broken: { seq, problem },
    ...(anchor ? { anchor } : {}),
    tornTail,
  });
  while (!next.done) {
    const { bytes, terminated } = next.value;
    next = it.next();
    if (progress) {
      readBytes += bytes.length + 1;
      if ((expected & 0xffff) === 0) progress(Math.floor(readBytes / 1_048_576), totalMiB);
    }
    if (!terminated) {
      tornTail = true;
      break;
    }
    // Every prev hangs off a genesis derived from the vault id, so only event 1 needs its
    // vaultId read; later lines take the fast path.
    const quick = expected === 1 ? undefined : quickFields(bytes);
    const e: Partial<AuditEvent> | undefined = quick ?? parse(bytes.toString('utf8'));
    if (!e || typeof e.seq !== 'number') return brokenAt(expected, `event ${expected} is not a valid event (the line was edited)`);
    if (e.seq !== expected) {
      if (e.seq > expected) {
        const following = !next.done && next.value.terminated ? parse(next.value.bytes.toString('utf8')) : undefined;
        if (following?.seq === expected) return brokenAt(expected, `events ${expected} and ${e.seq} are out of order (reordered)`);
        const range = e.seq - 1 === expected ? `event ${expected} is` : `events ${expected}–${e.seq - 1} are`;
        return brokenAt(expected, `${range} missing (deleted)`);
      }
      return brokenAt(e.seq, `event ${e.seq} appears again after event ${expected - 1} (inserted or reordered)`);
    }
    if (!quick && e.vaultId !== vaultId) return brokenAt(expected, `event ${expected} belongs to another vault (${String(e.vaultId)})`);
    if (e.prev !== prev) {
      return brokenAt(
        expected,
        expected === 1
          ? "event 1 does not start this vault's chain (edited or forged)"
          : `event ${expected} does not chain to event ${expected - 1}: event ${expected - 1} was edited, or event ${expected} was inserted`,
      );
    }
    if (expected === 1) {
      log = typeof e.log === 'string' ? e.log : undefined;
      if (mine && mine.log !== log) {
        return brokenAt(1, `this log (id ${String(log)}) is not the log the vault anchors for this identity (id ${mine.log}): it was replaced`);
      }
      checks = anchors.filter((a) => a.log === log);
      anchor = mine ?? checks.reduce<Anchor | undefined>((best, a) => (!best || a.seq > best.seq ? a : best), undefined);
    }
    prev = lineHash(bytes);
    for (const a of checks) {
      if (a.seq === expected && a.hash !== prev) {
        return brokenAt(expected, `event ${expected} differs from the copy the vault's signed anchor names: the log was rewritten`);
      }
    }
    expected++;
  }
  const events = expected - 1;
  progress?.(totalMiB, totalMiB);
  if (events === 0 && mine) {
    return {
      events,
      broken: { seq: 1, problem: `the log is missing or empty, but the vault anchors event ${mine.seq} of it for this identity: it was deleted or emptied` },
      anchor: mine,
      tornTail,
    };
  }
  const beyond = checks.find((a) => a.seq > events);
  if (beyond) {
    return {
      events,
      ...(log ? { log } : {}),
      broken: { seq: events + 1, problem: `the log ends at event ${events}, but the vault anchors event ${beyond.seq}: the tail was truncated` },
      anchor: beyond,
      tornTail,
    };
  }
  return { events, ...(log ? { log } : {}), ...(anchor ? { anchor } : {}), tornTail };
}

/** Filters of `secrets audit`. */
export interface AuditQuery {
  readonly secret?: string | undefined;
  readonly event?: string | undefined;
  readonly principal?: string | undefined;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly outcome?: string | undefined;
  readonly limit?: number | undefined;
}

/** True when an event passes every filter of `q`. */
export function matches(e: Partial<AuditEvent>, q: AuditQuery): boolean {
  if (q.secret !== undefined && e.secretName !== q.secret && e.secretId !== q.secret) return false;
  if (q.event !== undefined && e.eventName?.toLowerCase() !== q.event.toLowerCase()) return false;
  if (q.principal !== undefined && e.principal?.name !== q.principal && e.principal?.id !== q.principal) return false;
  if (q.outcome !== undefined && e.outcome !== q.outcome) return false;
  if (q.since !== undefined && (e.eventTime ?? '') < q.since) return false;
  if (q.until !== undefined && (e.eventTime ?? '') > q.until) return false;
  return true;
}

/** Events matching `q`, newest first, at most `q.limit`. */
export function queryLog(path: string, q: AuditQuery): AuditEvent[] {
  const limit = q.limit ?? Infinity;
  const kept: AuditEvent[] = [];
  // A cheap substring test before JSON.parse keeps a filtered query fast on a large log.
  const needle = q.secret ?? q.principal;
  for (const { line, terminated } of lines(path)) {
    if (!terminated || (needle !== undefined && !line.includes(JSON.stringify(needle).slice(1, -1)))) continue;
    const e = parse(line);
    if (!e || !matches(e, q)) continue;
    kept.push(e as AuditEvent);
    if (kept.length > limit) kept.shift();
  }
  return kept.reverse();
}

/** Every event, oldest first (for export). */
export function* allEvents(path: string): Generator<AuditEvent> {
  for (const { line, terminated } of lines(path)) {
    const e = terminated ? parse(line) : undefined;
    if (e && typeof e.seq === 'number') yield e as AuditEvent;
  }
}

const READ_ONLY = new Set(['GetSecretValue', 'DescribeSecret', 'ListSecrets', 'ListSecretVersionIds', 'GetResourcePolicy']);

/** One event as a CloudTrail record (ids only in requestParameters). */
export function toCloudTrail(e: AuditEvent, version: string): Record<string, unknown> {
  const requestParameters: Record<string, unknown> = {};
  if (e.secretId !== undefined) requestParameters['secretId'] = e.secretId;
  if (e.versionId !== undefined) requestParameters['versionId'] = e.versionId;
  if (e.versionStage !== undefined) requestParameters['versionStage'] = e.versionStage;
  return {
    eventVersion: '1.08',
    eventSource: 'secrets',
    eventName: e.eventName,
    eventTime: e.eventTime,
    eventType: 'SecretsApiCall',
    eventID: `${e.vaultId}:${e.seq}`,
    requestID: e.requestId,
    readOnly: READ_ONLY.has(e.eventName),
    recipientAccountId: e.vaultId,
    sourceIPAddress: e.sourceIPAddress ?? e.host,
    userAgent: e.userAgent ?? `secrets/${version}`,
    userIdentity: { type: 'SecretsMember', principalId: e.principal.id, ...(e.principal.name !== undefined ? { userName: e.principal.name } : {}) },
    requestParameters: Object.keys(requestParameters).length > 0 ? requestParameters : null,
    responseElements: null,
    ...(e.outcome !== 'success' ? { errorCode: e.errorCode ?? (e.outcome === 'denied' ? 'AccessDenied' : 'Error') } : {}),
    additionalEventData: {
      outcome: e.outcome,
      seq: e.seq,
      host: e.host,
      pid: e.pid,
      user: e.user,
      tty: e.tty,
      ...(e.command !== undefined ? { command: e.command } : {}),
    },
  };
}

/** The time of the last successful GetSecretValue of a secret, reading the log backwards. */
export function lastAccess(path: string, secretId: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    let pos = fstatSync(fd).size;
    let carry = Buffer.alloc(0);
    const needle = `"secretId":${JSON.stringify(secretId)}`;
    const hit = (line: string): string | undefined => {
      if (!line.includes(needle) || !line.includes('"eventName":"GetSecretValue"')) return undefined;
      const e = parse(line);
      return e?.secretId === secretId && e.eventName === 'GetSecretValue' && e.outcome === 'success' ? e.eventTime : undefined;
    };
    while (pos > 0) {
      const len = Math.min(CHUNK, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      // Split on bytes, so a chunk boundary inside a UTF-8 character does no harm.
      const data = Buffer.concat([buf, carry]);
      let end = data.length;
      for (let nl = data.lastIndexOf(0x0a, end - 1); nl >= 0; nl = data.lastIndexOf(0x0a, end - 1)) {
        const found = hit(data.toString('utf8', nl + 1, end));
        if (found !== undefined) return found;
        end = nl;
        if (end === 0) break;
      }
      carry = Buffer.from(data.subarray(0, end));
    }
    if (carry.length > 0) return hit(carry.toString('utf8'));
    return undefined;
  } finally {
    closeSync(fd);
  }
}
