/**
 * Format1Vault: a format-1 vault file (the signed snapshot of docs/vault-format.md), read only.
 * Reads verify the genesis, the members, the head's signature and digest, per-writer counters
 * and the trust state. This version writes no format-1 file: a write to one refuses
 * (store/vault-format.ts), `secrets migrate` converts it, and `sync` only fast-forwards it
 * (sync/sync.ts). What is kept here is what reads, `verify`, `migrate` and `sync` check.
 */
import { existsSync } from 'node:fs';
import { SecretsError } from '../core/errors.js';
import { isAdmin, writeProblem } from '../core/access.js';
import type {
  HeadRecord,
  MemberRecord,
  PolicyRecord,
  SecretEntry,
  SecretRecord,
  VaultFileRecord,
  VaultRecord,
  VaultState,
  VersionRecord,
} from '../core/model.js';
import type { Clock, Identity } from '../core/ports.js';
import { isDerivedSecretId, secretIdFor, sha256Hex } from '../crypto/digest.js';
import { fromBase64 } from '../crypto/encoding.js';
import { fingerprint } from '../crypto/identity.js';
import { verifyRecord } from '../crypto/sign.js';
import { storageError } from './atomic.js';
import { MAX_FILE_BYTES, parseFile, quote, signedBytesOf } from './codec.js';
import { type FileAccess, SYNC_FILES } from './file-access.js';
import type { TrustState, TrustStore } from './trust.js';

/** Options of the format-1 reader. */
export interface Format1VaultOptions {
  readonly path: string;
  readonly trust: TrustStore;
  readonly clock: Clock;
  /** How reads reach the files (default synchronous; the library passes ASYNC_FILES). */
  readonly files?: FileAccess;
}

/** A file parsed whole: its records, by kind, and what the checks need. */
interface Parsed {
  readonly vault: VaultRecord;
  readonly members: MemberRecord[];
  readonly policies: PolicyRecord[];
  readonly head: HeadRecord;
  readonly secrets: SecretEntry[];
  /** Every record parsed (for the counter checks). */
  readonly records: readonly VaultFileRecord[];
  readonly lineOf: ReadonlyMap<VaultFileRecord, number>;
  /** SHA-256 over every record line but the head's, as the head signs it. */
  readonly digest: string;
  /** The vault record's line (its hash pins the vault's genesis). */
  readonly genesisLine: string;
}

interface Loaded {
  readonly state: VaultState;
  /** The trust state and path pin as read before this load, so nothing reads them twice. */
  readonly trusted: TrustState | undefined;
  readonly pinned: string | undefined;
  readonly lineOf: ReadonlyMap<VaultFileRecord, number>;
  readonly genesis: string;
}

const HINT_RESTORE = 'the file was not changed; restore it from a backup or from git, then run `secrets doctor`';

function integrity(message: string, hint = HINT_RESTORE): SecretsError {
  return new SecretsError('INTEGRITY', message, hint);
}

/** Sort key so that the file layout is canonical: vault, members, policies, head, secrets by name. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Identity policies by name, then resource policies by secret id. */
function policyKey(p: PolicyRecord): string {
  return p.name !== undefined ? `0${p.name}` : `1${p.secret ?? ''}`;
}

/** The records of a state in file order. */
export function orderedRecords(state: VaultState): VaultFileRecord[] {
  const out: VaultFileRecord[] = [state.vault];
  out.push(...[...state.members].sort((a, b) => compareStrings(a.id, b.id)));
  out.push(...[...state.policies].sort((a, b) => compareStrings(policyKey(a), policyKey(b))));
  out.push(state.head);
  for (const entry of [...state.secrets].sort((a, b) => compareStrings(a.secret.name, b.secret.name))) {
    out.push(entry.secret);
    out.push(...[...entry.versions].sort((a, b) => compareStrings(a.created, b.created) || compareStrings(a.id, b.id)));
  }
  return out;
}

/** A format-1 vault file, read and verified (never written). */
export class Format1Vault {
  readonly location: string;
  readonly #opts: Format1VaultOptions;
  readonly #files: FileAccess;
  readonly #lines = new WeakMap<VaultFileRecord, number>();

  constructor(opts: Format1VaultOptions) {
    this.#opts = opts;
    this.#files = opts.files ?? SYNC_FILES;
    this.location = opts.path;
  }

  async exists(): Promise<boolean> {
    return existsSync(this.#opts.path);
  }

  async #readText(): Promise<string> {
    return (await this.#readBytes()).toString('utf8');
  }

  /** The file's bytes; a missing file is VAULT_NOT_FOUND, other failures STORAGE, over 1 GiB DAMAGED_VAULT. */
  async #readBytes(): Promise<Buffer> {
    const path = this.#opts.path;
    let size: number;
    try {
      const st = await this.#files.stat(path);
      if (!st.isFile()) throw new SecretsError('STORAGE', `${path} is not a file`);
      size = st.size;
    } catch (err) {
      if (err instanceof SecretsError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new SecretsError('VAULT_NOT_FOUND', `no vault at ${path}`, 'create one with `secrets init`, or point --vault / SECRETS_VAULT at yours');
      }
      throw storageError(err, 'read', path);
    }
    if (size > MAX_FILE_BYTES) throw new SecretsError('DAMAGED_VAULT', `vault file ${path} is larger than 1 GiB`, HINT_RESTORE);
    try {
      return await this.#files.readFile(path);
    } catch (err) {
      throw storageError(err, 'read', path);
    }
  }

  async read(_identity: Identity): Promise<VaultState> {
    // Reads take no lock. A writer may replace the file and advance the trust state between our
    // read of the file and our check against the trust state, which looks like a rollback; a
    // real rollback is still there when the file is read again, a race is not.
    let text = await this.#readText();
    for (let attempt = 1; ; attempt++) {
      try {
        const loaded = await this.#load(text);
        this.#rememberTrust(loaded);
        return loaded.state;
      } catch (err) {
        if (!(err instanceof SecretsError) || err.code !== 'ROLLBACK' || attempt >= 5) throw err;
        const again = await this.#readText();
        if (again === text) throw err;
        text = again;
      }
    }
  }

  async #load(text: string, checkTrust = true): Promise<Loaded> {
    const parsed = parseFile(text);
    const { records, lines, raw } = parsed;
    const lineOf = new Map<VaultFileRecord, number>();
    records.forEach((r, i) => {
      lineOf.set(r, lines[i] as number);
      this.#lines.set(r, lines[i] as number);
    });
    const at = (i: number): number => lines[i] ?? lines.length + 2;
    const damaged = (i: number, what: string): SecretsError =>
      new SecretsError('DAMAGED_VAULT', `vault file is damaged at line ${at(i)}: ${what}`, HINT_RESTORE);

    // Structure: vault, members, head, then secrets each followed by its versions.
    let i = 0;
    const vault = records[i];
    if (vault?.kind !== 'vault') throw damaged(0, 'the first record must be the vault record');
    i++;
    const members: MemberRecord[] = [];
    while (records[i]?.kind === 'member') members.push(records[i++] as MemberRecord);
    if (members.length === 0) throw damaged(i, 'the vault has no members');
    const policies: PolicyRecord[] = [];
    const policyKeys = new Set<string>();
    while (records[i]?.kind === 'policy') {
      const p = records[i] as PolicyRecord;
      if (policyKeys.has(policyKey(p))) throw damaged(i, 'duplicate policy');
      policyKeys.add(policyKey(p));
      policies.push(p);
      i++;
    }
    const headIndex = i;
    const head = records[i];
    if (head?.kind !== 'head') throw damaged(i, 'expected the head record after the members and policies');
    i++;
    const secrets: SecretEntry[] = [];
    const names = new Set<string>();
    const ids = new Set<string>();
    while (i < records.length) {
      const secret = records[i];
      if (secret?.kind !== 'secret') throw damaged(i, `unexpected ${secret?.kind ?? 'end'} record (expected a secret)`);
      if (names.has(secret.name) || ids.has(secret.id)) throw damaged(i, `duplicate secret ${JSON.stringify(secret.name)}`);
      names.add(secret.name);
      ids.add(secret.id);
      const secretIndex = i;
      i++;
      const versions: VersionRecord[] = [];
      const versionIds = new Set<string>();
      while (records[i]?.kind === 'version') {
        const v = records[i] as VersionRecord;
        if (v.secret !== secret.id) throw damaged(i, 'version does not belong to the secret before it');
        if (versionIds.has(v.id)) throw damaged(i, `duplicate version ${v.id}`);
        versionIds.add(v.id);
        versions.push(v);
        i++;
      }
      for (const [label, versionId] of secret.stages) {
        if (!versionIds.has(versionId)) throw damaged(secretIndex, `stage ${quote(label)} points to a missing version`);
      }
      secrets.push({ secret, versions });
    }

    const digest = sha256Hex(raw.flatMap((line, k) => (k === headIndex ? [] : [line, '\n'])));
    return this.#verify({ vault, members, policies, head, secrets, records, lineOf, digest, genesisLine: raw[0] as string }, checkTrust);
  }

  /** The checks every load makes, on the parsed file. */
  async #verify(p: Parsed, checkTrust: boolean): Promise<Loaded> {
    const { vault, members, policies, head, secrets, records, lineOf } = p;
    // Genesis and members. Membership is a chain of admin signatures rooted in the vault's
    // creator: the creator's record is the only self-signed one; every other member record must
    // be signed by an admin already in the chain. Each member id must be the fingerprint of its
    // keys. A record that signs itself into the vault is refused.
    const memberById = new Map(members.map((m) => [m.id, m]));
    if (memberById.size !== members.length) throw new SecretsError('DAMAGED_VAULT', 'vault file is damaged at line 2: duplicate member', HINT_RESTORE);
    for (const m of members) {
      const enc = fromBase64(m.enc);
      const sign = fromBase64(m.sign);
      if (!enc || !sign || (await fingerprint(enc, sign)) !== m.id) {
        throw integrity(`member record at line ${lineOf.get(m)} has keys that do not match its id ${m.id}`);
      }
    }
    const creator = memberById.get(vault.by);
    if (!creator || !isAdmin(creator) || creator.by !== creator.id) {
      throw integrity(`vault record at line ${lineOf.get(vault) ?? 2} is not signed by the vault's creator`);
    }
    await this.#verifyOne(vault, vault.id, memberById, lineOf.get(vault));
    const established = new Map<string, MemberRecord>();
    await this.#verifyOne(creator, vault.id, memberById, lineOf.get(creator));
    established.set(creator.id, creator);
    for (let grew = true; grew;) {
      grew = false;
      for (const m of members) {
        if (established.has(m.id)) continue;
        // Removing a member re-signs what they signed, so a removed admin vouches for no one.
        const signer = established.get(m.by);
        if (!signer || !isAdmin(signer) || m.by === m.id) continue;
        await this.#verifyOne(m, vault.id, established, lineOf.get(m));
        established.set(m.id, m);
        grew = true;
      }
    }
    for (const m of members) {
      if (!established.has(m.id)) {
        throw integrity(`member record at line ${lineOf.get(m)} (${quote(m.name)}) was not added by an admin of this vault`);
      }
    }
    // Policies are valid only when signed by a current admin; the head by a current member.
    for (const p of policies) {
      const signer = memberById.get(p.by);
      if (!signer || !isAdmin(signer)) {
        throw integrity(
          `policy record at line ${lineOf.get(p)} is not signed by an admin of this vault`,
          'run `secrets verify`; an admin must put the policy again',
        );
      }
      await this.#verifyOne(p, vault.id, memberById, lineOf.get(p));
    }
    if (memberById.get(head.by)?.removed !== undefined) {
      throw integrity(`head record at line ${lineOf.get(head) ?? '?'} is signed by a removed member`);
    }
    await this.#verifyOne(head, vault.id, memberById, lineOf.get(head));

    // The head covers every other line: anything added, removed, edited or reordered shows here.
    if (p.digest !== head.digest) {
      await this.#diagnose(records, vault.id, memberById, lineOf);
      throw integrity('vault records were added, removed or reordered since the last signed write (head digest mismatch)');
    }

    // Counters: no record may claim a counter beyond its writer's in the head.
    if (head.ctrs.get(head.by) !== head.ctr) throw integrity(`head record at line ${lineOf.get(head) ?? '?'} has inconsistent counters`);
    for (const r of records) {
      if (r.kind === 'head') continue;
      const max = head.ctrs.get(r.by);
      if (max === undefined || r.ctr > max) throw integrity(`record at line ${lineOf.get(r) ?? '?'} has a counter beyond its writer's head`);
    }

    const genesis = sha256Hex([p.genesisLine]);
    if (!checkTrust) {
      const now = this.#opts.clock.now().toISOString();
      const live = secrets.filter((e) => e.secret.purge === undefined || e.secret.purge > now);
      return { state: { vault, members, policies, head, secrets: live }, lineOf, genesis, trusted: undefined, pinned: undefined };
    }

    // The path: a different vault put where this machine used another one is refused.
    const pinned = await this.#opts.trust.loadPin(this.location);
    if (pinned !== undefined && pinned !== vault.id) {
      throw integrity(
        `the vault at ${this.location} is vault ${vault.id}, but this machine used vault ${pinned} there`,
        `if you replaced it on purpose, remove ${this.#opts.trust.pinPath(this.location)} and run the command again`,
      );
    }

    // Rollback: compare with the highest counters this machine has seen for this vault.
    const trusted = await this.#opts.trust.load(vault.id);
    if (trusted) {
      if (trusted.genesis !== genesis) {
        throw integrity(
          `vault ${vault.id} at ${this.location} does not match the vault this machine pinned under that id`,
          `if you replaced it on purpose, remove ${this.#opts.trust.path(vault.id)} and run the command again`,
        );
      }
      for (const [writer, ctr] of trusted.ctrs) {
        const now = head.ctrs.get(writer) ?? 0;
        if (now < ctr) {
          const who = quote(memberById.get(writer)?.name ?? 'a former member');
          throw new SecretsError(
            'ROLLBACK',
            `vault file was rolled back: writer ${who} (${writer}) was at counter ${ctr} on this machine, the file has ${now}`,
            `restore the newest copy of ${this.location}; to accept this older copy on purpose, remove ${this.#opts.trust.path(vault.id)}`,
          );
        }
      }
    }

    const now = this.#opts.clock.now().toISOString();
    const live = secrets.filter((e) => e.secret.purge === undefined || e.secret.purge > now);
    return { state: { vault, members, policies, head, secrets: live }, lineOf, genesis, trusted, pinned };
  }

  async #verifyOne(record: VaultFileRecord, vaultId: string, members: ReadonlyMap<string, MemberRecord>, line: number | undefined): Promise<void> {
    const signer = members.get(record.by);
    const where = `${record.kind} record at line ${line ?? '?'}`;
    if (!signer) throw integrity(`${where} is signed by ${record.by}, who is not a member of this vault`);
    const key = fromBase64(signer.sign);
    const sig = record.sig === undefined ? undefined : fromBase64(record.sig);
    if (!key || !sig || !(await verifyRecord(key, vaultId, signedBytesOf(record), sig))) {
      throw integrity(`${where} has an invalid signature: it was altered or forged`);
    }
  }

  async #diagnose(
    records: readonly VaultFileRecord[],
    vaultId: string,
    members: ReadonlyMap<string, MemberRecord>,
    lineOf: ReadonlyMap<VaultFileRecord, number>,
  ): Promise<void> {
    for (const r of records) await this.#verifyOne(r, vaultId, members, lineOf.get(r));
  }

  #rememberTrust(loaded: Loaded): void {
    const { state, genesis, trusted, pinned } = loaded;
    if (pinned === undefined) {
      try {
        this.#opts.trust.pin(this.location, state.vault.id);
      } catch {
        // as below: defence in depth must not break a read
      }
    }
    const removed = removedIds(state);
    const known = new Set(trusted?.removed ?? []);
    const advanced = !trusted || [...state.head.ctrs].some(([w, c]) => c > (trusted.ctrs.get(w) ?? 0)) || removed.some((id) => !known.has(id));
    if (!advanced) return;
    try {
      this.#opts.trust.put(state.vault.id, { genesis, ctrs: state.head.ctrs, removed });
    } catch {
      // Trust state is a defence in depth; a read must not fail because it cannot be saved.
    }
  }

  /**
   * Parses and verifies a copy of a vault held elsewhere (a merge's base, ours or theirs):
   * structure, genesis, member chain, signatures, head digest and counters, but not this
   * machine's trust state or path pin, which the caller compares itself.
   */
  async inspect(text: string): Promise<{ state: VaultState; genesis: string }> {
    const loaded = await this.#load(text, false);
    return { state: loaded.state, genesis: loaded.genesis };
  }

  /** Remembers the counters of a state this machine accepted (after a merge or a clone). */
  trust(state: VaultState, genesis: string): void {
    this.#opts.trust.put(state.vault.id, { genesis, ctrs: state.head.ctrs, removed: removedIds(state) });
    if (this.#opts.trust.pinnedVault(this.location) === undefined) this.#opts.trust.pin(this.location, state.vault.id);
  }

  /** The counters this machine has seen for a vault. */
  trusted(vaultId: string): ReadonlyMap<string, number> | undefined {
    return this.#opts.trust.get(vaultId)?.ctrs;
  }

  /** Secrets by id, built once per state (states are immutable). */
  readonly #byId = new WeakMap<readonly SecretEntry[], Map<string, SecretEntry>>();

  async verifyRecords(state: VaultState, records: readonly (SecretRecord | VersionRecord)[]): Promise<void> {
    const members = new Map(state.members.map((m) => [m.id, m]));
    let byId = this.#byId.get(state.secrets);
    if (!byId) {
      byId = new Map(state.secrets.map((e) => [e.secret.id, e]));
      this.#byId.set(state.secrets, byId);
    }
    for (const r of records) {
      await this.#verifyOne(r, state.vault.id, members, this.#lines.get(r));
      const entry = byId.get(r.kind === 'secret' ? r.id : r.secret);
      // A derived id names its secret: a record that carries another name was renamed.
      const renamed = r.kind === 'secret' && isDerivedSecretId(r.id) && r.id !== secretIdFor(state.vault.id, r.name);
      const problem = renamed
        ? `its name does not match its id ${r.id}: a secret cannot be renamed`
        : entry
          ? writeProblem(state, r, entry)
          : 'it belongs to no secret';
      if (problem !== undefined) {
        throw integrity(
          `${r.kind} record at line ${this.#lines.get(r) ?? '?'} (${entry?.secret.name ?? '?'}) is not authorized: ${problem}`,
          'run `secrets verify` to list every such record; restore the vault from git or a backup',
        );
      }
    }
  }

  async verifyAll(state: VaultState): Promise<{ checked: number; problems: string[] }> {
    const records = orderedRecords(state).filter((r): r is SecretRecord | VersionRecord => r.kind === 'secret' || r.kind === 'version');
    const problems: string[] = [];
    for (const r of records) {
      try {
        await this.verifyRecords(state, [r]);
      } catch (err) {
        if (!(err instanceof SecretsError)) throw err;
        problems.push(err.message);
      }
    }
    return { checked: orderedRecords(state).length, problems };
  }
}

/**
 * The members a format-1 state shows removed. The trust state keeps them (a removal is final):
 * a format-1 head's counters are only its signer's word, so a removed admin could sign a new
 * head over a copy from before his removal that claims counters above every one seen; the
 * removals this machine saw are what refuses the migration of such a copy (store/migrate.ts).
 */
export function removedIds(state: VaultState): string[] {
  return state.members.filter((m) => m.removed !== undefined).map((m) => m.id);
}
