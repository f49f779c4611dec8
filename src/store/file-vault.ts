/**
 * FileVaultRepository: the vault file on disk (docs/vault-format.md). Reads verify the genesis,
 * the members, the head's signature and digest, per-writer counters and the trust state;
 * writes run under the lock, sign changed records with this writer's next counter, write a
 * new head and replace the file atomically. A damaged file is reported and never rewritten.
 */
import { randomUUID } from 'node:crypto';
import { type BigIntStats, constants, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SecretsError } from '../core/errors.js';
import { isAdmin, requireMember, writeProblem } from '../core/access.js';
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
import type { Clock, Identity, VaultRepository } from '../core/ports.js';
import { isDerivedSecretId, secretIdFor, sha256Hex } from '../crypto/digest.js';
import { fromBase64, toBase64 } from '../crypto/encoding.js';
import { fingerprint, readIndexKey } from '../crypto/identity.js';
import { signRecord, verifyRecord } from '../crypto/sign.js';
import { removeStaleTemps, storageError, writeFileAtomic } from './atomic.js';
import {
  HEADER_LINE,
  MAX_FILE_BYTES,
  parseFile,
  parseRecordLine,
  quote,
  SECRET_LINE_PREFIX,
  serializeFile,
  serializeRecord,
  signedBytesOf,
  VERSION_LINE_PREFIX,
} from './codec.js';
import { type FileAccess, type OpenFile, readWhole, sha256HexPaced, STEP_BYTES, SYNC_FILES } from './file-access.js';
import { acquireLock } from './lock.js';
import { fileIdentity, type IndexHit, type ReadIndex, readChecked } from './read-index.js';
import type { TrustState, TrustStore } from './trust.js';

/** Options of the file repository. */
export interface FileVaultOptions {
  readonly path: string;
  readonly trust: TrustStore;
  readonly clock: Clock;
  readonly lockTimeoutMs: number;
  /** This machine's audit log tail, anchored in every head this machine writes. */
  readonly auditTail?: (vaultId: string) => Promise<{ log: string; seq: number; hash: string } | undefined>;
  /** This machine's read index (ADR 0013); without one every readSome hashes the whole file. */
  readonly index?: ReadIndex;
  /** How reads reach the files (default synchronous; the library passes ASYNC_FILES). Writes stay synchronous. */
  readonly files?: FileAccess;
}

/** A file parsed whole, or in part: its header records and the secrets a read needs. */
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

const NL = 0x0a;

/** True when the open file is no longer the one `st` describes. */
async function fileIdentityChanged(file: OpenFile, st: BigIntStats): Promise<boolean> {
  return fileIdentity(await file.stat()) !== fileIdentity(st);
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

/** The vault file as a repository. */
export class FileVaultRepository implements VaultRepository {
  readonly location: string;
  readonly #opts: FileVaultOptions;
  readonly #files: FileAccess;
  readonly #lines = new WeakMap<VaultFileRecord, number>();

  constructor(opts: FileVaultOptions) {
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

  /**
   * The file's bytes and, when nothing changed it while it was read, its identity (for the
   * read index). Errors as #readBytes.
   */
  async #readBytesAndStat(): Promise<{ buf: Buffer; stat: BigIntStats | undefined }> {
    let file: OpenFile;
    try {
      file = await this.#files.open(this.#opts.path, constants.O_RDONLY);
    } catch {
      return { buf: await this.#readBytes(), stat: undefined };
    }
    try {
      const st = await file.stat();
      if (!st.isFile() || st.size > BigInt(MAX_FILE_BYTES)) return { buf: await this.#readBytes(), stat: undefined };
      const buf = await readWhole(file, Number(st.size));
      return { buf, stat: buf.length !== Number(st.size) || (await fileIdentityChanged(file, st)) ? undefined : st };
    } catch (err) {
      if (err instanceof SecretsError) throw err;
      throw storageError(err, 'read', this.#opts.path);
    } finally {
      await file.close();
    }
  }

  /**
   * A read for commands that need a few named secrets (get, exec of named secrets): the same
   * verification as `read` — header records parsed strictly, member chain, head signature, the
   * digest over every line, counters, pin and rollback — but only the named secrets' lines are
   * parsed, found by a byte search, so the cost barely grows with the vault. Anything unusual
   * (a name found twice, an unexpected layout) falls back to the full read, which reports it.
   */
  async readSome(identity: Identity, names: readonly string[]): Promise<VaultState> {
    const indexed = await this.#readIndexed(identity, names);
    if (indexed) return indexed;
    for (let attempt = 1; ; attempt++) {
      const { buf, stat } = await this.#readBytesAndStat();
      const parsed = await this.#parseSome(buf, names);
      if (!parsed) return this.read(identity);
      try {
        const loaded = await this.#verify(parsed, true, async () => {
          await this.#load(buf.toString('utf8'));
          throw integrity('vault records were added, removed or reordered since the last signed write (head digest mismatch)');
        });
        this.#rememberTrust(loaded);
        if (stat && parsed.layout) {
          await this.#opts.index?.save(this.location, stat, readIndexKey(identity), {
            vault: loaded.state.vault.id,
            digest: parsed.digest,
            buf,
            ...parsed.layout,
          });
        }
        return loaded.state;
      } catch (err) {
        // As in read(): a writer's race looks like a rollback once; a real rollback stays.
        if (!(err instanceof SecretsError) || err.code !== 'ROLLBACK' || attempt >= 5 || (await this.#readBytes()).equals(buf)) throw err;
      }
    }
  }

  /**
   * readSome through the read index: the header and the named secrets' lines only, with the
   * digest this file matched when the note was made (ADR 0013). Undefined, for the full path,
   * on anything but a clean result; that path then reports whatever is wrong.
   */
  async #readIndexed(identity: Identity, names: readonly string[]): Promise<VaultState | undefined> {
    const index = this.#opts.index;
    if (!index || names.length === 0) return undefined;
    let file: OpenFile | undefined;
    try {
      file = await this.#files.open(this.#opts.path, constants.O_RDONLY);
      const st = await file.stat();
      if (!st.isFile()) return undefined;
      // lookup refuses a note for another file, or for one changed in the last two seconds.
      const hit = await index.lookup(this.location, st, readIndexKey(identity), names);
      if (!hit || BigInt(hit.header.end) > st.size) return undefined;
      const parsed = await this.#parseIndexed(file, hit, names);
      if (!parsed || (await fileIdentityChanged(file, st))) return undefined;
      const loaded = await this.#verify(parsed, true, async () => {
        throw integrity('head digest mismatch');
      });
      this.#rememberTrust(loaded);
      return loaded.state;
    } catch {
      return undefined;
    } finally {
      await file?.close();
    }
  }

  /**
   * The header and the named secrets from the ranges the note lists. Each range is read once
   * and used only if it hashes as noted (readChecked): the note's digest vouches for those
   * bytes and no others.
   */
  async #parseIndexed(file: OpenFile, hit: IndexHit, names: readonly string[]): Promise<Parsed | undefined> {
    const headerBytes = await readChecked(file, hit.header);
    if (!headerBytes) return undefined;
    const header = this.#parseHeader(headerBytes);
    if (!header || header.secretsFrom !== hit.header.end) return undefined;
    const lineOf = new Map(header.lineOf);
    const records: VaultFileRecord[] = [...header.records];
    const secrets: SecretEntry[] = [];
    for (const name of new Set(names)) {
      const e = hit.entries.get(name);
      if (!e) return undefined;
      const block = await readChecked(file, e);
      if (!block) return undefined;
      const found = this.#parseSecretBlock(block, 0, e.line, name, lineOf, records);
      if (!found || found.end + 1 !== block.length) return undefined;
      secrets.push(found.entry);
    }
    return { ...header.parsed, secrets, records, lineOf, digest: hit.digest };
  }

  /** The header records of `buf` (magic line to head), strictly parsed, or undefined for an unusual layout. */
  #parseHeader(buf: Buffer):
    | {
        parsed: Pick<Parsed, 'vault' | 'members' | 'policies' | 'head' | 'genesisLine'>;
        records: VaultFileRecord[];
        lineOf: Map<VaultFileRecord, number>;
        secretsFrom: number;
        firstSecretLine: number;
        headStart: number;
        headEnd: number;
        first: number;
      }
    | undefined {
    const first = buf.indexOf(NL);
    if (first === -1 || buf[buf.length - 1] !== NL || buf.toString('utf8', 0, first) !== HEADER_LINE) return undefined;
    const lineOf = new Map<VaultFileRecord, number>();
    const records: VaultFileRecord[] = [];
    let pos = first + 1;
    let lineNo = 2;
    let headStart = -1;
    let headEnd = -1;
    while (headStart === -1) {
      const end = buf.indexOf(NL, pos);
      if (end === -1) return undefined;
      const record = parseRecordLine(buf.toString('utf8', pos, end), lineNo);
      if (record.kind === 'secret' || record.kind === 'version') return undefined;
      records.push(record);
      lineOf.set(record, lineNo);
      this.#lines.set(record, lineNo);
      if (record.kind === 'head') {
        headStart = pos;
        headEnd = end;
      }
      pos = end + 1;
      lineNo++;
    }
    const [vault, ...rest] = records;
    const head = rest.pop();
    const members = rest.filter((r): r is MemberRecord => r.kind === 'member');
    const policies = rest.filter((r): r is PolicyRecord => r.kind === 'policy');
    if (vault?.kind !== 'vault' || head?.kind !== 'head' || members.length === 0 || members.length + policies.length !== rest.length) return undefined;
    if (rest.some((r, i) => i > 0 && r.kind === 'member' && rest[i - 1]?.kind === 'policy')) return undefined;
    const genesisLine = buf.toString('utf8', first + 1, buf.indexOf(NL, first + 1));
    return { parsed: { vault, members, policies, head, genesisLine }, records, lineOf, secretsFrom: pos, firstSecretLine: lineNo, headStart, headEnd, first };
  }

  /**
   * The secret record starting at `start` (line `line`) and the version lines after it, if it
   * is the secret called `name` and its versions are whole; records go into lineOf/records.
   */
  #parseSecretBlock(
    buf: Buffer,
    start: number,
    line: number,
    name: string,
    lineOf: Map<VaultFileRecord, number>,
    records: VaultFileRecord[],
  ): { entry: SecretEntry; end: number } | undefined {
    if (!buf.subarray(start, start + SECRET_LINE_PREFIX.length).equals(SECRET_LINE_PREFIX)) return undefined;
    let end = buf.indexOf(NL, start);
    if (end === -1) return undefined;
    let n = line;
    const secret = parseRecordLine(buf.toString('utf8', start, end), n);
    if (secret.kind !== 'secret' || secret.name !== name) return undefined;
    lineOf.set(secret, n);
    this.#lines.set(secret, n);
    records.push(secret);
    const versions: VersionRecord[] = [];
    const ids = new Set<string>();
    for (let p = end + 1; p < buf.length && buf.subarray(p, p + VERSION_LINE_PREFIX.length).equals(VERSION_LINE_PREFIX); p = end + 1) {
      end = buf.indexOf(NL, p);
      if (end === -1) return undefined;
      n++;
      const v = parseRecordLine(buf.toString('utf8', p, end), n);
      if (v.kind !== 'version' || v.secret !== secret.id || ids.has(v.id)) return undefined;
      ids.add(v.id);
      lineOf.set(v, n);
      this.#lines.set(v, n);
      records.push(v);
      versions.push(v);
    }
    for (const versionId of secret.stages.values()) if (!ids.has(versionId)) return undefined;
    return { entry: { secret, versions }, end };
  }

  /** The header records and the named secrets of `buf`, or undefined to fall back to a full parse. */
  async #parseSome(buf: Buffer, names: readonly string[]): Promise<(Parsed & { layout: { headerEnd: number; firstLine: number } }) | undefined> {
    const header = this.#parseHeader(buf);
    if (!header) return undefined;
    const { secretsFrom, firstSecretLine, headStart, headEnd, first, lineOf, records } = header;
    // The one cost that grows with the vault: hashed in steps, so a server's loop turns between them.
    const digest = await sha256HexPaced(this.#files, [buf.subarray(first + 1, headStart), buf.subarray(headEnd + 1)]);
    const lineAt = async (offset: number): Promise<number> => {
      let n = firstSecretLine;
      let pauseAt = secretsFrom + STEP_BYTES;
      for (let p = buf.indexOf(NL, secretsFrom); p !== -1 && p < offset; p = buf.indexOf(NL, p + 1)) {
        n++;
        if (p >= pauseAt) {
          pauseAt = p + STEP_BYTES;
          await this.#files.pause();
        }
      }
      return n;
    };
    const secrets: SecretEntry[] = [];
    for (const name of new Set(names)) {
      // Canonical records put a secret's "name" before its nested maps, so its first match is
      // either this secret's line or another secret's tags (a tag called "name"): the record
      // parsed must then carry this name, and a second match sends us to the full read.
      const pattern = Buffer.from(`,"name":${JSON.stringify(name)},`);
      // Each search and the line count scan the vault (ms at 10 MB): a server's loop turns between them.
      const at = buf.indexOf(pattern, secretsFrom);
      await this.#files.pause();
      if (at === -1) continue;
      if (buf.indexOf(pattern, at + pattern.length) !== -1) return undefined;
      await this.#files.pause();
      const start = buf.lastIndexOf(NL, at) + 1;
      const found = this.#parseSecretBlock(buf, start, await lineAt(start), name, lineOf, records);
      if (!found) return undefined;
      secrets.push(found.entry);
    }
    return { ...header.parsed, secrets, records, lineOf, digest, layout: { headerEnd: secretsFrom, firstLine: firstSecretLine } };
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
    return this.#verify({ vault, members, policies, head, secrets, records, lineOf, digest, genesisLine: raw[0] as string }, checkTrust, async () => {
      throw integrity('vault records were added, removed or reordered since the last signed write (head digest mismatch)');
    });
  }

  /** The checks every load makes, on a file parsed whole or in part (see `readSome`). */
  async #verify(p: Parsed, checkTrust: boolean, onDigestMismatch: (memberById: ReadonlyMap<string, MemberRecord>) => Promise<never>): Promise<Loaded> {
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
      await onDigestMismatch(memberById);
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

  /**
   * Signs a merged state as `identity` (unsigned records and a new head, counter above both
   * copies and this machine's own) and returns the file text, verified by parsing it back.
   */
  async signMerged(identity: Identity, state: VaultState): Promise<string> {
    const trusted = this.#opts.trust.get(state.vault.id);
    const ctr = Math.max(state.head.ctrs.get(identity.id) ?? 0, trusted?.ctrs.get(identity.id) ?? 0) + 1;
    const signed = await this.#sign(state, identity, ctr);
    const text = serializeFile(orderedRecords(signed).map(serializeRecord));
    await this.#load(text, false);
    return text;
  }

  /** Replaces the vault file with `text` (a verified merge) under the lock, atomically. */
  async replace(text: string): Promise<void> {
    const lock = await acquireLock(`${this.#opts.path}.lock`, this.#opts.lockTimeoutMs);
    try {
      mkdirSync(dirname(this.#opts.path), { recursive: true, mode: 0o700 });
      writeFileAtomic(this.#opts.path, text);
    } finally {
      await lock.release();
    }
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

  async transact<T>(identity: Identity, change: (state: VaultState) => Promise<{ state: VaultState; result: T }>): Promise<T> {
    const lock = await acquireLock(`${this.#opts.path}.lock`, this.#opts.lockTimeoutMs);
    try {
      removeStaleTemps(this.#opts.path);
      const loaded = await this.#load(await this.#readText());
      removeStaleTemps(this.#opts.trust.path(loaded.state.vault.id));
      requireMember(loaded.state, identity.id, this.location);
      const { state, result } = await change(loaded.state);
      if (state === loaded.state) return result;
      const ctr = Math.max(loaded.state.head.ctrs.get(identity.id) ?? 0, loaded.trusted?.ctrs.get(identity.id) ?? 0) + 1;
      const next = await this.#sign(state, identity, ctr);
      this.#write(next);
      this.#rememberTrust({ ...loaded, state: next });
      return result;
    } finally {
      await lock.release();
    }
  }

  /** Signs every unsigned record and builds the new head. */
  async #sign(state: VaultState, identity: Identity, ctr: number): Promise<VaultState> {
    const sign = async <R extends VaultFileRecord>(r: R): Promise<R> => {
      if (r.sig !== undefined) return r;
      const unsigned = { ...r, by: identity.id, ctr } as R;
      const sig = await signRecord(identity, state.vault.id, signedBytesOf(unsigned));
      return { ...unsigned, sig: toBase64(sig) };
    };
    const vault = await sign(state.vault);
    const members = await Promise.all(state.members.map(sign));
    const policies = await Promise.all(state.policies.map(sign));
    const secrets: SecretEntry[] = [];
    for (const e of state.secrets) secrets.push({ secret: await sign(e.secret), versions: await Promise.all(e.versions.map(sign)) });
    const ctrs = new Map(state.head.ctrs);
    ctrs.set(identity.id, ctr);
    const draft: VaultState = { vault, members, policies, head: { ...state.head, ctrs }, secrets };
    const lines = orderedRecords(draft)
      .filter((r) => r.kind !== 'head')
      .map(serializeRecord);
    const digest = sha256Hex(lines.flatMap((l) => [l, '\n']));
    const audit = new Map(state.head.audit ?? []);
    const tail = await this.#opts.auditTail?.(state.vault.id);
    // Keyed by the writer, not by the log: a log cannot choose which anchor applies to it.
    if (tail) audit.set(identity.id, `${tail.log}:${tail.seq}:${tail.hash}`);
    const head: HeadRecord = await sign({
      kind: 'head',
      ctrs,
      digest,
      at: this.#opts.clock.now().toISOString(),
      ...(audit.size > 0 ? { audit } : {}),
      by: identity.id,
      ctr,
    });
    return { ...draft, head };
  }

  #write(state: VaultState): void {
    const lines = orderedRecords(state).map(serializeRecord);
    mkdirSync(dirname(this.#opts.path), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.#opts.path, serializeFile(lines));
  }

  async create(identity: Identity, name: string, memberName: string): Promise<VaultState> {
    mkdirSync(dirname(this.#opts.path), { recursive: true, mode: 0o700 });
    const lock = await acquireLock(`${this.#opts.path}.lock`, this.#opts.lockTimeoutMs);
    try {
      if (existsSync(this.#opts.path)) {
        throw new SecretsError('VAULT_EXISTS', `a vault already exists at ${this.location}`, 'use it, or pick another path with --vault');
      }
      const now = this.#opts.clock.now().toISOString();
      const vault: VaultRecord = { kind: 'vault', id: randomUUID(), format: 1, name, created: now, by: identity.id, ctr: 1 };
      const member: MemberRecord = {
        kind: 'member',
        id: identity.id,
        name: memberName,
        enc: toBase64(identity.enc),
        sign: toBase64(identity.sign),
        roles: ['admin'],
        added: now,
        by: identity.id,
        ctr: 1,
      };
      const draft: VaultState = {
        vault,
        members: [member],
        policies: [],
        head: { kind: 'head', ctrs: new Map(), digest: '', at: now, by: identity.id, ctr: 1 },
        secrets: [],
      };
      const state = await this.#sign(draft, identity, 1);
      this.#write(state);
      const genesis = sha256Hex([serializeRecord(state.vault)]);
      this.#opts.trust.put(state.vault.id, { genesis, ctrs: state.head.ctrs });
      this.#opts.trust.pin(this.location, state.vault.id);
      return state;
    } finally {
      await lock.release();
    }
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
