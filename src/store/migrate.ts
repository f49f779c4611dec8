/**
 * `secrets migrate`: a format-1 vault converted into format 2 in one write
 * (docs/decisions/0018-operation-log.md §8). The conversion is a function of the format-1 file
 * and the migrating admin's identity alone (Ed25519 signatures are deterministic), so another
 * machine holding the same format-1 file re-derives it line for line and compares:
 *
 * - a genesis with the same vault UUID and `from` = SHA-256 of the format-1 file, signed by the
 *   migrating admin (who is therefore the format-2 vault's creator);
 * - governance entries that reproduce the members (roles, removals), identity policies and
 *   their attachments, and resource policies;
 * - one checkpoint (`from` again) whose `state` lines hold the secrets, and the versions'
 *   ciphertexts and sealed keys unchanged: each version says `"aad":1`, since its ciphertext is
 *   bound to format 1's AAD. Holds are kept: a held secret's `setBy` is the removed member who
 *   set what is held.
 *
 * Ids stay: secret ids kept from format 1 are safe in format 2, where no op renames.
 */
import { readFileSync } from 'node:fs';
import { type CheckpointDigests, type SecretSummary, summarise } from '../core/checkpoint.js';
import { SecretsError } from '../core/errors.js';
import type { MemberRecord, VaultState } from '../core/model.js';
import type { Action, CheckpointEntry, Entry, MemberKeys, OpBodies, OpEntry, Payload } from '../core/ops.js';
import type { Identity } from '../core/ports.js';
import { replay, type ReplayResult } from '../core/replay.js';
import { byText, EMPTY_STATE, type ReplayState, type SecretState, type VersionState } from '../core/state.js';
import { sha256Base64 } from '../crypto/digest.js';
import { acquireLock } from './lock.js';
import { writeFileAtomic } from './atomic.js';
import { CHECKPOINT_DIGESTS, encodeLine, type Line, lineHash, signedEntry, type UnsignedEntry } from './op-codec.js';
import { type LogRead, OpLog, replayInput, serializeLog } from './op-log.js';
import { REPLAY_OPTIONS } from './log-vault.js';
import type { TrustStore } from './trust.js';

/** What a migration shows a person before it writes, and reports after. */
export interface MigrationSummary {
  readonly vaultId: string;
  readonly name: string;
  readonly members: readonly { readonly name: string; readonly id: string; readonly roles: readonly string[]; readonly removed?: string }[];
  readonly policies: readonly { readonly name: string; readonly attached: readonly string[] }[];
  readonly resourcePolicies: readonly string[];
  readonly secrets: number;
  readonly versions: number;
  /** SHA-256 of the format-1 file (the genesis's `from`). */
  readonly from: string;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

/** Signs one entry of the conversion: the migrating admin's key, or (re-deriving) the signature the file holds at that place. */
type Signer = (unsigned: UnsignedEntry, index: number, vaultHash: string) => Entry;

/** The conversion's lines and summary. */
interface Conversion {
  readonly lines: readonly Line[];
  readonly genesis: string;
  readonly checkpoint: string;
  readonly seqs: ReadonlyMap<string, number>;
  readonly summary: MigrationSummary;
}

function later(a: string, b: string | undefined): string {
  return b !== undefined && b > a ? b : a;
}

function keysOf(m: MemberRecord): MemberKeys {
  return { id: m.id, name: m.name, enc: m.enc, sign: m.sign };
}

/**
 * Converts a verified format-1 state (`bytes` is its file) as the member `by`. Throws DENIED
 * when `by` is not a current admin of it, and CONFLICT for what format 2 cannot hold.
 */
export function convert(state: VaultState, bytes: Uint8Array, by: string, sign: Signer): Conversion {
  const from = sha256Base64(bytes);
  const migrator = state.members.find((m) => m.id === by);
  if (migrator === undefined || migrator.removed !== undefined || !migrator.roles.includes('admin'))
    throw new SecretsError(
      'DENIED',
      `only an admin of the format-1 vault can migrate it; ${migrator?.name ?? by} is not one`,
      'ask an admin to run `secrets migrate`',
    );
  const lines: Line[] = [];
  const hashes: string[] = [];
  let at = state.vault.created;
  let seq = 0;
  let G = '';
  const push = (entry: Omit<UnsignedEntry, 'by' | 'seq' | 'parents' | 'at'>, when?: string): string => {
    at = later(at, when);
    const unsigned = { ...entry, by, seq: ++seq, parents: hashes.length === 0 ? [] : [hashes[hashes.length - 1] as string], at } as UnsignedEntry;
    const signed = sign(unsigned, lines.length, G);
    const hash = lineHash(encodeLine(signed));
    if (G === '') G = hash;
    lines.push(signed);
    hashes.push(hash);
    return hash;
  };
  const op = <A extends Action>(action: A, body: OpBodies[A], when?: string): string =>
    push({ kind: 'op', op: action, body } as Omit<UnsignedEntry<OpEntry>, 'by' | 'seq' | 'parents' | 'at'>, when);

  op('CreateVault', { vault: state.vault.id, name: state.vault.name, format: 2, creator: keysOf(migrator), from });
  const others = state.members.filter((m) => m.id !== by).sort((a, b) => byText(a.added, b.added) || byText(a.id, b.id));
  for (const m of others) op('AddMember', { member: keysOf(m), roles: [...m.roles].sort() }, m.added);
  const identityPolicies = state.policies.filter((p) => p.name !== undefined).sort((a, b) => byText(a.name as string, b.name as string));
  const current = new Set(state.members.filter((m) => m.removed === undefined).map((m) => m.id));
  for (const p of identityPolicies) {
    op('PutPolicy', { policy: p.name as string, doc: p.doc }, p.changed || undefined);
    for (const member of [...p.attached].sort(byText)) if (current.has(member)) op('AttachPolicy', { policy: p.name as string, member });
  }
  const names = new Map(state.secrets.map((e) => [e.secret.id, e.secret.name]));
  const resource = state.policies.filter((p) => p.secret !== undefined && names.has(p.secret)).sort((a, b) => byText(a.secret as string, b.secret as string));
  for (const p of resource)
    op('PutResourcePolicy', { secret: p.secret as string, name: names.get(p.secret as string) as string, doc: p.doc }, p.changed || undefined);
  const removed = others.filter((m) => m.removed !== undefined).sort((a, b) => byText(a.removed as string, b.removed as string) || byText(a.id, b.id));
  for (const m of removed) op('RemoveMember', { member: m.id }, m.removed);

  // The secrets, as a checkpoint keeps them.
  const heldBy = new Map<string, string>();
  for (const m of state.members) for (const id of m.held ?? []) heldBy.set(id, m.id);
  const payloads = new Map<string, Payload>();
  const secrets: SecretState[] = state.secrets.map(({ secret: s, versions }) => {
    const rotation = s.rotation;
    if (rotation !== undefined && !/^(password|postgres|mysql|command:[A-Za-z0-9][A-Za-z0-9._-]{0,63})$/.test(rotation.handler))
      throw new SecretsError(
        'CONFLICT',
        `secret ${s.name} rotates with ${JSON.stringify(rotation.handler)}, a program path: format 2 stores handler names only`,
        `give it a handler name first (\`secrets rotate ${s.name} --handler command:NAME\`), then migrate`,
      );
    const vs: VersionState[] = versions.map((v) => {
      if (v.keys.size === 0) throw new SecretsError('CONFLICT', `version ${v.id} of ${s.name} is sealed to no one`, 'run `secrets reseal`, then migrate');
      const value: Payload = { kind: 'value', n: v.n, ct: v.ct };
      const keys: Payload = { kind: 'keys', keys: v.keys };
      const vh = lineHash(encodeLine(value));
      const kh = lineHash(encodeLine(keys));
      payloads.set(vh, value).set(kh, keys);
      at = later(at, v.created);
      return { id: v.id, at: v.created, by: v.by, type: v.type, v: vh, k: kh, act: v.act ?? 'PutSecretValue', aad: 1 };
    });
    const setBy = heldBy.get(s.id) ?? (current.has(s.by) ? s.by : by);
    at = later(later(at, s.changed), s.deleted);
    return {
      id: s.id,
      name: s.name,
      ...(s.description !== undefined ? { description: s.description } : {}),
      tags: s.tags,
      stages: s.stages,
      versions: vs,
      created: s.created,
      ...(s.deleted !== undefined ? { deleted: { at: s.deleted, purge: s.purge ?? s.deleted, entry: from } } : {}),
      ...(rotation !== undefined ? { rotation: { ...rotation, by: current.has(s.by) ? s.by : by } } : {}),
      setBy,
    };
  });
  // Each removed member's exposure as format 1 recorded it.
  let members = EMPTY_STATE.members;
  for (const m of state.members)
    members = members.set(m.id, {
      ...keysOf(m),
      roles: m.roles,
      added: m.added,
      ...(m.removed !== undefined ? { removed: m.removed, exposed: [...(m.exposed ?? [])].sort(byText) } : {}),
    });
  let map = EMPTY_STATE.secrets;
  for (const s of secrets) map = map.set(s.id, s);
  const view: ReplayState = { ...EMPTY_STATE, members, secrets: map };
  at = later(at, state.head.at);
  const summaries: SecretSummary[] = summarise(view, at);
  const digests: CheckpointDigests = CHECKPOINT_DIGESTS;
  const seqs = new Map([[by, seq]]);
  const governance = [...hashes];
  push({
    kind: 'checkpoint',
    state: digests.state(summaries),
    secrets: summaries.length,
    seqs,
    gov: digests.gov(governance),
    anchors: new Map(),
    from,
  } as Omit<UnsignedEntry<CheckpointEntry>, 'by' | 'seq' | 'parents' | 'at'>);
  const checkpoint = lines.pop() as Entry;
  const used = [...new Set(summaries.flatMap((s) => s.versions.flatMap((v) => [v.v, v.k])))];
  // One line at a time: a large vault's lines are too many for one call's arguments.
  for (const s of summaries) lines.push({ kind: 'state', ...s });
  for (const h of used) lines.push(payloads.get(h) as Payload);
  lines.push(checkpoint);
  return {
    lines,
    genesis: G,
    checkpoint: hashes[hashes.length - 1] as string,
    seqs: new Map([[by, seq]]),
    summary: {
      vaultId: state.vault.id,
      name: state.vault.name,
      members: state.members.map((m) => ({ name: m.name, id: m.id, roles: m.roles, ...(m.removed !== undefined ? { removed: m.removed } : {}) })),
      policies: identityPolicies.map((p) => ({ name: p.name as string, attached: p.attached.map((id) => state.members.find((m) => m.id === id)?.name ?? id) })),
      resourcePolicies: resource.map((p) => names.get(p.secret as string) as string),
      secrets: summaries.length,
      versions: summaries.reduce((n, s) => n + s.versions.length, 0),
      from,
      bytesBefore: bytes.length,
      bytesAfter: serializeLog(lines).length,
    },
  };
}

/** The format-1 side of a migration: read and verify a copy, as this machine trusts it. */
export interface FormatOneReader {
  /** Verifies `text` as a format-1 vault (signatures, members, head), without this machine's trust state. */
  inspect(text: string): Promise<{ state: VaultState; genesis: string }>;
  /** Reads the vault at its path with every check, this machine's trust state included. */
  read(identity: Identity): Promise<VaultState>;
  /** Verifies every record's signature and authorization; lists what fails. */
  verifyAll(state: VaultState): Promise<{ checked: number; problems: string[] }>;
}

/** What `migrate` needs. */
export interface MigrateOptions {
  readonly path: string;
  readonly formatOne: FormatOneReader;
  readonly trust: TrustStore;
  readonly lockTimeoutMs: number;
}

/** The replay of a converted file: the check every reader makes, here before the file is written. */
function replayed(lines: readonly Line[]): ReplayResult {
  const entries = lines.flatMap((l) => (l.kind === 'op' || l.kind === 'checkpoint' || l.kind === 'merge' ? [{ hash: lineHash(encodeLine(l)), entry: l }] : []));
  const payloads = new Map(lines.flatMap((l) => (l.kind === 'value' || l.kind === 'keys' ? [[lineHash(encodeLine(l)), l] as const] : [])));
  const states = lines.flatMap((l) => (l.kind === 'state' ? [l] : [])).map(({ kind: _kind, ...s }) => s);
  return replay({ entries, payloads, states }, REPLAY_OPTIONS);
}

/**
 * Plans the migration of the format-1 vault at `opts.path` as `identity` (an admin): verifies it
 * as every read does, converts it, and replays the result. `commit` then writes it: in one
 * atomic replace under the lock, if the format-1 file is still the one converted, and moves this
 * machine's trust pin from the format-1 genesis to the new one.
 */
export async function planMigration(opts: MigrateOptions, identity: Identity): Promise<{ summary: MigrationSummary; commit: () => Promise<MigrationSummary> }> {
  const bytes = readFileSync(opts.path);
  const trusted = await opts.formatOne.read(identity);
  const { state } = await opts.formatOne.inspect(bytes.toString('utf8'));
  if (!readFileSync(opts.path).equals(bytes)) throw new SecretsError('CONFLICT', `${opts.path} changed while it was being read`, 'run `secrets migrate` again');
  const { problems } = await opts.formatOne.verifyAll(trusted);
  if (problems.length > 0)
    throw new SecretsError(
      'INTEGRITY',
      `the format-1 vault does not verify: ${problems[0] as string}`,
      '`secrets verify` lists every problem; fix them before migrating',
    );
  const conversion = convert(state, bytes, identity.id, (unsigned, _i, G) => signedEntry<Entry>(identity, G, unsigned));
  replayed(conversion.lines);
  const commit = async (): Promise<MigrationSummary> => {
    const lock = await acquireLock(`${opts.path}.lock`, opts.lockTimeoutMs);
    try {
      if (!readFileSync(opts.path).equals(bytes))
        throw new SecretsError('CONFLICT', `${opts.path} changed while the migration was being confirmed`, 'run `secrets migrate` again');
      writeFileAtomic(opts.path, serializeLog(conversion.lines));
    } finally {
      await lock.release();
    }
    opts.trust.put(state.vault.id, { genesis: conversion.genesis, ctrs: conversion.seqs, heads: [conversion.checkpoint] });
    return conversion.summary;
  };
  return { summary: conversion.summary, commit };
}

/**
 * Accepts, on another machine, a migration an admin made (§8): `former` is this machine's copy
 * of the format-1 file (from git history, a backup). It must hash to the genesis's `from`,
 * verify as format 1 under this machine's trust state (the same genesis, no counter below what
 * was seen), and name the migration's signer as a current admin; the format-2 file must be
 * exactly the conversion of it by that admin. Then this machine's pin moves to the new genesis.
 * Any failure is INTEGRITY (exit 6) and changes nothing.
 */
export async function acceptMigration(opts: MigrateOptions, former: Uint8Array): Promise<MigrationSummary> {
  const read = await new OpLog({ path: opts.path, lockTimeoutMs: opts.lockTimeoutMs }).read();
  return acceptConversion(opts, former, read, readFileSync(opts.path));
}

/** The SHA-256 of the format-1 file a migrated vault's genesis names, or undefined when it names none. */
export function migratedFrom(read: LogRead): string | undefined {
  const genesis = read.entries[0]?.entry;
  return genesis?.kind === 'op' && genesis.op === 'CreateVault' ? genesis.body.from : undefined;
}

/**
 * Accepts a migration arriving through git (`sync`, the merge driver): `migrated` is the
 * format-2 copy and `former` the format-1 file it names, from this machine's copy or its git
 * history. The same checks as `migrate --accept`; the result is the migrated copy.
 */
export async function acceptMigratedCopy(
  opts: Omit<MigrateOptions, 'lockTimeoutMs'>,
  former: Uint8Array,
  migrated: { readonly bytes: Buffer; readonly read: LogRead },
  local: VaultState,
): Promise<MigrationSummary> {
  return acceptConversion(opts, former, migrated.read, migrated.bytes, local);
}

/**
 * `local`, when given, is this machine's own verified format-1 copy (sync): the converted file
 * must then be that vault, its signer a current admin in it, and every removal in it kept.
 * The removals in the trust state are checked either way: a format-1 head's counters are only
 * its signer's word, so the counters alone do not show that a copy from before a removal is old.
 */
async function acceptConversion(
  opts: Omit<MigrateOptions, 'lockTimeoutMs'>,
  former: Uint8Array,
  read: LogRead,
  actual: Buffer,
  local?: VaultState,
): Promise<MigrationSummary> {
  const genesis = read.entries[0];
  const body = genesis?.entry.kind === 'op' && genesis.entry.op === 'CreateVault' ? genesis.entry.body : undefined;
  if (genesis === undefined || body?.from === undefined)
    throw new SecretsError('INTEGRITY', `${opts.path} is not a migrated vault (its genesis names no format-1 file)`);
  const refuse = (why: string): never => {
    throw new SecretsError(
      'INTEGRITY',
      `the migration ${genesis.hash} is refused: ${why}`,
      'the trust state was not changed; ask the admin who migrated the vault',
    );
  };
  if (sha256Base64(former) !== body.from) refuse('the format-1 file given is not the one it converted');
  const { state, genesis: formerGenesis } = await opts.formatOne.inspect(Buffer.from(former).toString('utf8'));
  const pinned = opts.trust.pinnedVault(opts.path);
  if ((pinned !== undefined && pinned !== state.vault.id) || (local !== undefined && local.vault.id !== state.vault.id))
    refuse(`the format-1 file is vault ${state.vault.id}, not the vault this machine uses at ${opts.path}`);
  const trusted = opts.trust.get(state.vault.id);
  if (trusted !== undefined && trusted.genesis !== formerGenesis) refuse('the format-1 file is not the vault this machine pinned');
  for (const [who, ctr] of trusted?.ctrs ?? [])
    if ((state.head.ctrs.get(who) ?? 0) < ctr) refuse(`the format-1 file is older than the copy this machine verified (${who})`);
  const removedIn = new Set(state.members.filter((m) => m.removed !== undefined).map((m) => m.id));
  const seenRemoved = [...(trusted?.removed ?? []), ...(local?.members.filter((m) => m.removed !== undefined).map((m) => m.id) ?? [])];
  for (const id of seenRemoved)
    if (!removedIn.has(id)) refuse(`member ${id}, whom this machine saw removed, is not removed in the format-1 file (an older copy)`);
  const signer = genesis.entry.by;
  const admin = state.members.find((m) => m.id === signer);
  if (admin === undefined || admin.removed !== undefined || !admin.roles.includes('admin'))
    refuse(`${admin?.name ?? signer} was not an admin of the format-1 vault`);
  const localAdmin = local?.members.find((m) => m.id === signer);
  if (local !== undefined && (localAdmin === undefined || localAdmin.removed !== undefined || !localAdmin.roles.includes('admin')))
    refuse(`${localAdmin?.name ?? signer} is not an admin in this machine's format-1 copy`);
  const entries = read.entries;
  let conversion: Conversion;
  try {
    let nth = 0;
    conversion = convert(state, former, signer, (unsigned) => ({ ...unsigned, sig: entries[nth++]?.entry.sig ?? '' }));
  } catch (err) {
    if (err instanceof SecretsError) refuse(err.message);
    throw err;
  }
  const expected = serializeLog(conversion.lines);
  if (!actual.subarray(0, expected.length).equals(expected)) refuse('the file is not the conversion of the format-1 file by its signer');
  const result = replay(replayInput(read), REPLAY_OPTIONS);
  opts.trust.put(state.vault.id, { genesis: genesis.hash, ctrs: result.seqs, heads: result.heads });
  return conversion.summary;
}
