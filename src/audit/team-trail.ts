/**
 * The team trail (docs/audit.md): each identity publishes its own events beside the vault as
 * `audit/<identity-id>.jsonl`. Only that identity appends to its file, so git merges of the
 * directory never conflict. Every line is chained to the one before (`prev`) and signed by the
 * identity (`sig`), so a teammate can verify a member's whole file with the public key in the
 * vault. `secrets sync` publishes before it commits; `secrets audit publish` does it by hand.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { SecretsError } from '../core/errors.js';
import type { MemberRecord } from '../core/model.js';
import type { Identity } from '../core/ports.js';
import { fromBase64, toBase64 } from '../crypto/encoding.js';
import { signAuditLine, verifyAuditLine } from '../crypto/sign.js';
import { writeFileAtomic } from '../store/atomic.js';
import { type AuditEvent, lineHash } from './format.js';
import { allEvents } from './reader.js';

/** The directory of published trails, beside the vault file. */
export function teamTrailDir(vaultPath: string): string {
  return join(dirname(vaultPath), 'audit');
}

/** A published event: the local event renumbered in its file, with its source, chain and signature. */
export type PublishedEvent = Omit<AuditEvent, 'log'> & { readonly src: string; readonly sig?: string };

function teamGenesis(vaultId: string, identityId: string): string {
  return createHash('sha256').update(`secrets-team-audit-v1\0${vaultId}\0${identityId}`).digest('hex');
}

const SIG_SUFFIX = /,"sig":"([A-Za-z0-9+/]{86}==)"\}$/;

/** Splits a published line into the signed body and its signature. */
function splitSig(line: string): { body: string; sig: Uint8Array | undefined } {
  const m = SIG_SUFFIX.exec(line);
  if (!m) return { body: line, sig: undefined };
  return { body: `${line.slice(0, m.index)}}`, sig: fromBase64(m[1] as string) };
}

function readLines(path: string): string[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  return text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
}

/** Appends this identity's new local events to its published file. Returns how many. */
export async function publishTrail(opts: {
  vaultPath: string;
  vaultId: string;
  localLog: string;
  identity: Identity;
}): Promise<{ path: string; published: number; total: number }> {
  const path = join(teamTrailDir(opts.vaultPath), `${opts.identity.id}.jsonl`);
  const existing = readLines(path);
  // What was already published from each local log (a machine's log id → highest seq).
  const done = new Map<string, number>();
  let prev = teamGenesis(opts.vaultId, opts.identity.id);
  let seq = 0;
  for (const line of existing) {
    const e = JSON.parse(line) as { src?: string; seq?: number };
    const [log, n] = (e.src ?? ':').split(':');
    if (log) done.set(log, Math.max(done.get(log) ?? 0, Number(n)));
    seq = e.seq ?? seq;
    prev = lineHash(line);
  }
  let logId: string | undefined;
  const added: string[] = [];
  for (const e of allEvents(opts.localLog)) {
    if (e.seq === 1) logId = e.log;
    if (logId === undefined || e.principal.id !== opts.identity.id || e.vaultId !== opts.vaultId) continue;
    if (e.seq <= (done.get(logId) ?? 0)) continue;
    const { log: _log, seq: localSeq, prev: _prev, ...rest } = e;
    const body = JSON.stringify({ seq: ++seq, ...rest, src: `${logId}:${localSeq}`, prev });
    const sig = toBase64(await signAuditLine(opts.identity, opts.vaultId, body));
    const line = `${body.slice(0, -1)},"sig":"${sig}"}`;
    added.push(line);
    prev = lineHash(line);
  }
  if (added.length > 0) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Rewritten whole but only ever extended: earlier lines keep their bytes, so git sees appends.
    writeFileAtomic(path, [...existing, ...added].map((l) => `${l}\n`).join(''));
  }
  return { path, published: added.length, total: existing.length + added.length };
}

/** The verified events of every member's published file, and the first break in each. */
export async function readTeamTrail(opts: {
  vaultPath: string;
  vaultId: string;
  members: readonly MemberRecord[];
}): Promise<{ events: PublishedEvent[]; files: { member: string; events: number; broken?: { seq: number; problem: string } }[] }> {
  const dir = teamTrailDir(opts.vaultPath);
  const events: PublishedEvent[] = [];
  const files: { member: string; events: number; broken?: { seq: number; problem: string } }[] = [];
  const names = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.jsonl'))
        .sort()
    : [];
  for (const name of names) {
    const id = name.slice(0, -'.jsonl'.length);
    const member = opts.members.find((m) => m.id === id);
    const label = member?.name ?? id;
    if (!member) {
      files.push({ member: label, events: 0, broken: { seq: 1, problem: `audit/${name} belongs to no member of this vault` } });
      continue;
    }
    const key = fromBase64(member.sign);
    let prev = teamGenesis(opts.vaultId, id);
    let expected = 1;
    let broken: { seq: number; problem: string } | undefined;
    const mine: PublishedEvent[] = [];
    for (const line of readLines(join(dir, name))) {
      const { body, sig } = splitSig(line);
      let e: PublishedEvent | undefined;
      try {
        e = JSON.parse(body) as PublishedEvent;
      } catch {
        e = undefined;
      }
      if (!e || e.seq !== expected) {
        broken = {
          seq: expected,
          problem: e ? `event ${e.seq} where event ${expected} was expected (deleted, inserted or reordered)` : `event ${expected} is not valid JSON`,
        };
        break;
      }
      if (e.prev !== prev) {
        broken = { seq: expected, problem: `event ${expected} does not chain to event ${expected - 1}` };
        break;
      }
      if (!key || !sig || !(await verifyAuditLine(key, opts.vaultId, body, sig)) || e.principal.id !== id || e.vaultId !== opts.vaultId) {
        broken = { seq: expected, problem: `event ${expected} is not signed by ${label} (forged or edited)` };
        break;
      }
      const { sig: _sig, ...event } = e;
      mine.push(event);
      prev = lineHash(line);
      expected++;
    }
    events.push(...mine);
    files.push({ member: label, events: mine.length, ...(broken ? { broken } : {}) });
  }
  return { events, files };
}

/** Throws INTEGRITY naming the first broken member file. */
export function assertTeamTrailIntact(files: readonly { member: string; broken?: { seq: number; problem: string } }[]): void {
  const bad = files.find((f) => f.broken);
  if (bad?.broken) {
    throw new SecretsError(
      'INTEGRITY',
      `the published audit trail of ${bad.member} is broken at event ${bad.broken.seq}: ${bad.broken.problem}`,
      'restore audit/ from git; events after the break cannot be trusted',
    );
  }
}
