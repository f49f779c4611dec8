/**
 * A replayed format-2 state seen as the records the use cases read (core/model.ts): the same
 * code answers `get`, `list` and `describe` for both formats. Records here are not signed
 * lines: replay has verified the entries they come from, so `by` is the op's signer, `ctr` its
 * seq and `sig` is absent. Holds are derived (state.ts) and shown on the member who set what is
 * held, as format 1 lists them.
 */
import type { HeadRecord, MemberRecord, PolicyRecord, SecretEntry, SecretRecord, VaultState, VersionRecord } from './model.js';
import type { Payload } from './ops.js';
import { isHeld, type ReplayState, type SecretState, type VersionState } from './state.js';

/** Looks a payload up by hash (the store reads it from the file). */
export type PayloadLookup = (hash: string) => Payload | undefined;

function versionRecord(state: ReplayState, s: SecretState, v: VersionState, payload: PayloadLookup): VersionRecord {
  const value = payload(v.v);
  const keys = payload(v.k);
  return {
    kind: 'version',
    secret: s.id,
    id: v.id,
    created: v.at,
    type: v.type,
    n: value?.kind === 'value' ? value.n : '',
    ct: value?.kind === 'value' ? value.ct : '',
    keys: keys?.kind === 'keys' ? keys.keys : new Map(),
    by: v.by,
    ctr: 0,
    act: v.act,
    // A version migrated from format 1 keeps format 1's AAD: the cipher opens it without G and the writer.
    ...(v.aad === 1 ? {} : { bound: state.vault }),
  };
}

function secretRecord(s: SecretState): SecretRecord {
  const last = s.versions.at(-1)?.at ?? s.created;
  const changed = [s.created, last, s.deleted?.at ?? '', s.rotation?.since ?? '', s.rotation?.last ?? ''].sort().at(-1) as string;
  const { by: _by, ...rotation } = s.rotation ?? { by: '' };
  return {
    kind: 'secret',
    id: s.id,
    name: s.name,
    ...(s.description !== undefined ? { description: s.description } : {}),
    tags: s.tags,
    stages: s.stages,
    created: s.created,
    changed,
    ...(s.deleted !== undefined ? { deleted: s.deleted.at, purge: s.deleted.purge } : {}),
    ...(s.rotation !== undefined ? { rotation: rotation as SecretRecord['rotation'] & object } : {}),
    by: s.setBy,
    ctr: 0,
  };
}

/**
 * The records of `state`. `at` is now: a secret past its purge time is gone. `only`, when
 * given, keeps just the secrets of those names (a read of a few secrets loads only theirs).
 */
export function vaultView(
  state: ReplayState,
  payload: PayloadLookup,
  at: string,
  seqs: ReadonlyMap<string, number>,
  opts: {
    readonly only?: ReadonlySet<string>;
    /** Secret id → every member any version of it was ever sealed to (what a removed member could read). */
    readonly sealedTo?: ReadonlyMap<string, ReadonlySet<string>>;
  } = {},
): VaultState {
  const only = opts.only;
  const held = new Map<string, string[]>();
  const secrets: SecretEntry[] = [];
  for (const s of state.secrets.values()) {
    if (s.deleted !== undefined && s.deleted.purge <= at) continue;
    if (only !== undefined && !only.has(s.name)) continue;
    if (isHeld(state, s)) held.set(s.setBy, [...(held.get(s.setBy) ?? []), s.id]);
    secrets.push({ secret: secretRecord(s), versions: s.versions.map((v) => versionRecord(state, s, v, payload)) });
  }
  secrets.sort((a, b) => (a.secret.name < b.secret.name ? -1 : a.secret.name > b.secret.name ? 1 : 0));
  const members: MemberRecord[] = [...state.members.values()].map((m) => ({
    kind: 'member',
    id: m.id,
    name: m.name,
    enc: m.enc,
    sign: m.sign,
    roles: m.roles,
    added: m.added,
    ...(m.removed !== undefined ? { removed: m.removed } : {}),
    // What they could read, now or once (a key withdrawn since): a value once readable may have been read.
    exposed: exposedOf(m.id, m.exposed ?? [], opts.sealedTo),
    ...(held.has(m.id) ? { held: (held.get(m.id) as string[]).sort() } : {}),
    by: state.creator,
    ctr: 0,
  }));
  const policies: PolicyRecord[] = [...state.policies.values(), ...state.resourcePolicies.values()].map((p) => ({
    kind: 'policy',
    ...(p.name !== undefined ? { name: p.name } : {}),
    ...(p.secret !== undefined ? { secret: p.secret } : {}),
    doc: p.doc,
    attached: p.attached,
    changed: p.changed ?? '',
    by: state.creator,
    ctr: 0,
  }));
  // Keyed by the writer, as in format 1: each member's own signed statement about their log.
  const audit = new Map(state.anchors);
  const head: HeadRecord = { kind: 'head', ctrs: seqs, digest: '', at, ...(audit.size > 0 ? { audit } : {}), by: state.creator, ctr: 0 };
  return {
    vault: {
      kind: 'vault',
      id: state.id,
      format: 2,
      hash: state.vault,
      name: state.name,
      created: state.members.get(state.creator)?.added ?? '',
      by: state.creator,
      ctr: 0,
    },
    members,
    policies,
    head,
    secrets,
  };
}

/** What a removed member could read: what policies let them read when removed, and every secret a version of which was sealed to them. */
function exposedOf(member: string, atRemoval: readonly string[], sealedTo: ReadonlyMap<string, ReadonlySet<string>> | undefined): string[] {
  const out = new Set(atRemoval);
  for (const [secret, members] of sealedTo ?? []) if (members.has(member)) out.add(secret);
  return [...out].sort();
}
