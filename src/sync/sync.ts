/**
 * Sharing a vault through git (docs/sync.md): `init --git`, `clone`, `sync`,
 * `sync --setup`, the merge driver git calls for `vault.yaml`, the diff text converter, and
 * `status`. A format-2 vault (the operation log) is merged by sync/log-merge.ts; this file moves
 * files and runs git, and each entry point below dispatches on the file's format. A format-1
 * vault, which this version reads but never writes, is only fast-forwarded: two format-1 copies
 * that both changed are refused (fastForwardFormat1).
 *
 * Trust across the remote: every fetched copy is verified (signatures, members, policies,
 * digest, counters) before it is merged, and refused as a rollback when a writer's counter is
 * below what this machine has seen — of another writer from anywhere, or of this identity in
 * what it has pushed. A copy that fails is never merged and the local vault is left as it was.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAdmin } from '../core/access.js';
import { SecretsError } from '../core/errors.js';
import type { VaultState } from '../core/model.js';
import type { Identity } from '../core/ports.js';
import type { CoreDeps } from '../core/use-cases/deps.js';
import { publishTrail } from '../audit/team-trail.js';
import { writeFileAtomic } from '../store/atomic.js';
import { sha256Base64 } from '../crypto/digest.js';
import { acceptMigratedCopy, migratedFrom } from '../store/migrate.js';
import { type LogRead, readLogBytes } from '../store/op-log.js';
import { notAfterOf } from '../store/log-vault.js';
import { headsOf } from '../core/log-union.js';
import { formatFingerprint } from '../crypto/identity.js';
import type { Format1Vault } from '../store/format1-vault.js';
import { TrustStore } from '../store/trust.js';
import { isFormat2 } from '../store/vault-format.js';
import { firstLine, Git, shellQuote } from './git.js';
import { mergeAcrossCompaction } from './across-compaction.js';
import { copyName, isLogText, logAdmins, type LogMergeResult, logTrust, mergeLogs, tipOfCopy, verifyFirstCopy } from './log-merge.js';

/** The vault file's name inside a shared work tree. */
export const VAULT_FILE = 'vault.yaml';
const BRANCH = 'main';
/** A rejected push is retried this many times (fetch, merge, push again). */
const PUSH_ATTEMPTS = 5;

const GITIGNORE = `# secrets: lock and temp files of the vault are never shared
*.lock
.*.tmp-*
`;
const GITATTRIBUTES = `# secrets: history merges and value-free diffs (secrets sync --setup registers the drivers)
${VAULT_FILE} merge=secrets diff=secrets
`;

/** What sync needs from the composition root. */
export interface SyncContext {
  readonly deps: CoreDeps;
  readonly repo: Format1Vault;
  readonly vaultPath: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `node /path/to/bin/secrets`, for the drivers git runs. */
  readonly self: readonly string[];
  /** `$XDG_STATE_HOME/secrets`. */
  readonly stateDir: string;
  /** `$XDG_STATE_HOME/secrets/trust`: what this machine verified, and (format 2) the heads seen per remote. */
  readonly trustDir: string;
  /** This machine's audit log of a vault. */
  readonly auditLogPath: (vaultId: string) => string;
  readonly note: (message: string) => void;
}

/** What this machine remembers about syncing one vault. */
interface SyncState {
  lastSync?: string;
  /** Highest counter per writer seen in the remote's copies (fetched or pushed). */
  remote: Record<string, number>;
}

function syncStatePath(ctx: SyncContext, vaultId: string): string {
  return join(ctx.stateDir, 'sync', `${vaultId}.json`);
}

function readSyncState(ctx: SyncContext, vaultId: string): SyncState {
  try {
    const raw = JSON.parse(readFileSync(syncStatePath(ctx, vaultId), 'utf8')) as Partial<SyncState>;
    return {
      ...(typeof raw.lastSync === 'string' ? { lastSync: raw.lastSync } : {}),
      remote: typeof raw.remote === 'object' && raw.remote !== null ? raw.remote : {},
    };
  } catch {
    return { remote: {} };
  }
}

function writeSyncState(ctx: SyncContext, vaultId: string, s: SyncState): void {
  const path = syncStatePath(ctx, vaultId);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, `${JSON.stringify(s, null, 2)}\n`);
}

function rememberRemote(ctx: SyncContext, state: VaultState, synced: boolean): void {
  const s = readSyncState(ctx, state.vault.id);
  for (const [w, c] of state.head.ctrs) s.remote[w] = Math.max(c, s.remote[w] ?? 0);
  if (synced) s.lastSync = ctx.deps.clock.now().toISOString();
  writeSyncState(ctx, state.vault.id, s);
}

function git(ctx: SyncContext): Git {
  return new Git(dirname(ctx.vaultPath), ctx.env);
}

async function isWorkTree(g: Git): Promise<boolean> {
  const r = await g.run(['rev-parse', '--show-toplevel']);
  return r.code === 0 && resolve(r.stdout.trim()) === resolve(g.dir);
}

/** Commits as the member when git has no identity configured (CI, fresh machines). */
async function authorEnv(g: Git, name: string, identityId: string): Promise<Record<string, string>> {
  const email = (await g.run(['config', 'user.email'])).stdout.trim();
  if (email !== '') return {};
  return {
    GIT_AUTHOR_NAME: name,
    GIT_AUTHOR_EMAIL: `${identityId}@secrets.invalid`,
    GIT_COMMITTER_NAME: name,
    GIT_COMMITTER_EMAIL: `${identityId}@secrets.invalid`,
  };
}

/** Registers the merge and diff drivers in the work tree's own git config. */
async function registerDrivers(ctx: Pick<SyncContext, 'self'>, g: Git): Promise<void> {
  const self = ctx.self.map(shellQuote).join(' ');
  await g.ok(['config', 'merge.secrets.name', 'secrets vault history merge']);
  await g.ok(['config', 'merge.secrets.driver', `${self} merge-driver %O %A %B`]);
  await g.ok(['config', 'diff.secrets.textconv', `${self} diff-text`]);
}

function ensureFile(path: string, text: string): boolean {
  if (existsSync(path)) return false;
  writeFileSync(path, text, { mode: 0o644 });
  return true;
}

/**
 * Makes the vault's directory a git work tree (if it is not one), with .gitignore,
 * .gitattributes and the drivers, and `origin` when a remote is given. Commits the vault.
 */
export async function setupSync(ctx: SyncContext, opts: { remote?: string | undefined }): Promise<{ Directory: string; Remote?: string; Created: boolean }> {
  const { identity } = await ctx.deps.identities.load();
  const state = await ctx.deps.vault.read(identity);
  const g = git(ctx);
  let created = false;
  if (!(await isWorkTree(g))) {
    await g.ok(['init', '-q', '-b', BRANCH]);
    created = true;
  }
  const dir = g.dir;
  ensureFile(join(dir, '.gitignore'), GITIGNORE);
  if (!ensureFile(join(dir, '.gitattributes'), GITATTRIBUTES)) {
    const text = readFileSync(join(dir, '.gitattributes'), 'utf8');
    if (!text.includes('merge=secrets'))
      writeFileSync(join(dir, '.gitattributes'), `${text.endsWith('\n') || text === '' ? text : `${text}\n`}${GITATTRIBUTES}`);
  }
  await registerDrivers(ctx, g);
  if (opts.remote !== undefined) {
    const has = (await g.run(['remote', 'get-url', 'origin'])).code === 0;
    await g.ok(['remote', has ? 'set-url' : 'add', 'origin', opts.remote]);
  }
  await g.ok(['add', '--', VAULT_FILE, '.gitignore', '.gitattributes']);
  const me = state.members.find((m) => m.id === identity.id);
  if ((await g.run(['diff', '--cached', '--quiet'])).code !== 0) {
    await g.ok(['commit', '-q', '-m', `secrets: share vault ${state.vault.id}`], { env: await authorEnv(g, me?.name ?? 'secrets', identity.id) });
  }
  return { Directory: dir, ...(opts.remote !== undefined ? { Remote: opts.remote } : {}), Created: created };
}

/** The admins of a vault, for a person to compare out of band. */
function adminsOf(state: VaultState): { Name: string; Fingerprint: string }[] {
  return state.members.filter(isAdmin).map((m) => ({ Name: m.name, Fingerprint: formatFingerprint(m.id) }));
}

/** `secrets clone REMOTE [DIR]`: clone, verify every record, pin the vault and its counters. */
export async function cloneVault(
  ctx: Omit<SyncContext, 'vaultPath' | 'repo'> & { repoFor: (vaultPath: string) => Format1Vault },
  opts: { remote: string; dir?: string | undefined; cwd: string },
): Promise<{ Directory: string; VaultPath: string; VaultId: string; Name: string; Admins: { Name: string; Fingerprint: string }[]; Records: number }> {
  const dir = resolve(opts.cwd, opts.dir ?? basename(opts.remote).replace(/\.git$/, '') ?? 'vault');
  if (existsSync(dir)) throw new SecretsError('ALREADY_EXISTS', `${dir} already exists`, 'pick another directory: `secrets clone REMOTE DIR`');
  const parent = new Git(dirname(dir), ctx.env);
  mkdirSync(dirname(dir), { recursive: true });
  // sync always pushes to main, whatever the remote's default branch is.
  const r = await parent.run(['clone', '-q', '-b', BRANCH, '--', opts.remote, dir], { network: true });
  if (r.code !== 0) throw new SecretsError('STORAGE', `cannot clone ${opts.remote}: ${firstLine(r.stderr)}`, 'check the remote URL and your access to it');
  const vaultPath = join(dir, VAULT_FILE);
  if (isFormat2(vaultPath)) return cloneLog(ctx, { remote: opts.remote, dir, vaultPath });
  const repo = ctx.repoFor(vaultPath);
  let text: string;
  try {
    text = readFileSync(vaultPath, 'utf8');
  } catch {
    throw new SecretsError('VAULT_NOT_FOUND', `${opts.remote} holds no ${VAULT_FILE}`, 'share a vault with `secrets sync --setup --remote URL` first');
  }
  const { state, genesis } = await repo.inspect(text);
  const all = await repo.verifyAll(state);
  if (all.problems.length > 0) {
    throw new SecretsError(
      'INTEGRITY',
      `the cloned vault holds ${all.problems.length} record(s) that fail verification: ${all.problems[0] ?? ''}`,
      `do not use it; ${dir} was left for inspection`,
    );
  }
  const full: SyncContext = { ...ctx, vaultPath, repo };
  await registerDrivers(full, new Git(dir, ctx.env));
  repo.trust(state, genesis);
  rememberRemote(full, state, true);
  return { Directory: dir, VaultPath: vaultPath, VaultId: state.vault.id, Name: state.vault.name, Admins: adminsOf(state), Records: all.checked };
}

/**
 * `clone` of a format-2 vault: every entry verified by replay, the genesis, seqs and heads
 * pinned, and the heads recorded as the remote's when this machine has an identity (without
 * one, the first sync records them).
 */
async function cloneLog(
  ctx: Omit<SyncContext, 'vaultPath' | 'repo'>,
  opts: { remote: string; dir: string; vaultPath: string },
): Promise<{ Directory: string; VaultPath: string; VaultId: string; Name: string; Admins: { Name: string; Fingerprint: string }[]; Records: number }> {
  let identity: Identity | undefined;
  try {
    identity = (await ctx.deps.identities.load()).identity;
  } catch (err) {
    if (!(err instanceof SecretsError) || err.code !== 'IDENTITY_UNAVAILABLE') throw err;
  }
  const bytes = readFileSync(opts.vaultPath);
  let checked: Awaited<ReturnType<typeof verifyFirstCopy>>;
  const trust = new TrustStore(ctx.trustDir);
  try {
    checked = await verifyFirstCopy(bytes, trust, ctx.deps.clock);
  } catch (err) {
    if (err instanceof SecretsError) throw new SecretsError(err.code, err.message, `do not use it; ${opts.dir} was left for inspection`);
    throw err;
  }
  // Which vault lives at the new path, as a first read pins it (and format 1's clone).
  trust.pin(opts.vaultPath, checked.result.state.id);
  const g = new Git(opts.dir, ctx.env);
  await registerDrivers(ctx, g);
  // Keyed by origin's URL as git stored it, which is what sync and the driver read back.
  const origin = (await g.run(['remote', 'get-url', 'origin'])).stdout.trim();
  if (identity !== undefined && origin !== '') {
    await logTrust(ctx.trustDir, identity).remotes.putRemoteHeads(checked.result.state.vault, origin, checked.result.heads);
  }
  const { state } = checked.result;
  return {
    Directory: opts.dir,
    VaultPath: opts.vaultPath,
    VaultId: state.id,
    Name: state.name,
    Admins: logAdmins(checked.result).map((m) => ({ Name: m.name, Fingerprint: formatFingerprint(m.id) })),
    Records: checked.entries,
  };
}

/** Refuses a copy of the remote whose counters went backwards. */
function assertNotRolledBack(ctx: SyncContext, state: VaultState, identityId: string): void {
  const seen = readSyncState(ctx, state.vault.id).remote;
  const trusted = ctx.repo.trusted(state.vault.id) ?? new Map<string, number>();
  const writers = new Set([...Object.keys(seen), ...[...trusted.keys()].filter((w) => w !== identityId)]);
  for (const w of writers) {
    const have = state.head.ctrs.get(w) ?? 0;
    // Another writer's records reach this machine only through the remote, so anything this
    // machine saw of them must still be there; our own may simply not be pushed yet.
    const floor = Math.max(seen[w] ?? 0, w === identityId ? 0 : (trusted.get(w) ?? 0));
    if (have < floor) {
      const who = state.members.find((m) => m.id === w)?.name ?? 'a former member';
      throw new SecretsError(
        'ROLLBACK',
        `the remote's vault was rolled back: writer ${JSON.stringify(who)} (${w}) was at counter ${floor} on this machine, the remote has ${have}`,
        'someone force-pushed an older vault, or the remote was restored from an old backup; nothing was merged. Push your copy back only after checking why',
      );
    }
  }
}

/**
 * The result of two copies of a format-1 vault, which this version verifies but never merges or
 * writes: the remote's copy (`theirs`) must verify and not be a rollback; then, when this copy
 * holds nothing `theirs` lacks (it is the merge base, or `theirs` itself), `theirs` is taken, and
 * when `theirs` is the base, this copy is kept. Two copies that both changed are refused (exit
 * 4): only an earlier version could have written them, and only it merges them.
 */
export async function fastForwardFormat1(
  ctx: SyncContext,
  identity: Identity,
  texts: { base?: string | undefined; ours: string; theirs: string },
): Promise<{ text: string; theirs: VaultState }> {
  await ctx.repo.inspect(texts.ours);
  const theirs = (await ctx.repo.inspect(texts.theirs)).state;
  assertNotRolledBack(ctx, theirs, identity.id);
  if (texts.ours === texts.theirs || texts.ours === texts.base) return { text: texts.theirs, theirs };
  if (texts.theirs === texts.base) return { text: texts.ours, theirs };
  throw divergedFormat1();
}

/** The refusal of two format-1 copies that both changed. */
function divergedFormat1(): SecretsError {
  return new SecretsError(
    'CONFLICT',
    `this copy and the other copy of ${VAULT_FILE} are format-1 vaults that both changed since they last met (written with an earlier version of secrets); this version does not merge format 1, so nothing was merged`,
    'sync once with the earlier version that wrote them, which merges format 1; then have an admin run `secrets migrate` and share the result with `secrets sync`',
  );
}

/** `secrets merge-driver %O %A %B`: git's custom merge driver; writes the merge into %A. */
export async function runMergeDriver(ctx: SyncContext, files: { base: string; ours: string; theirs: string }): Promise<{ conflicts: readonly string[] }> {
  const { identity } = await ctx.deps.identities.load();
  const bytes = (p: string): Buffer | undefined => (existsSync(p) ? readFileSync(p) : undefined);
  const oursBytes = bytes(files.ours);
  const theirsBytes = bytes(files.theirs);
  if (oursBytes !== undefined && theirsBytes !== undefined && (isLogText(oursBytes) || isLogText(theirsBytes))) {
    // git runs a merge driver at the top of the work tree.
    const merged = await mergeLogCopy(ctx, new Git(process.cwd(), ctx.env), identity, { ours: oursBytes, theirs: theirsBytes });
    writeFileSync(files.ours, merged.text);
    merged.afterWrite?.();
    return { conflicts: merged.reports };
  }
  const read = (p: string): string | undefined => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);
  const ours = read(files.ours);
  const theirs = read(files.theirs);
  if (ours === undefined || theirs === undefined) throw new SecretsError('USAGE', 'merge-driver needs the files git gives it: %O %A %B');
  const taken = await fastForwardFormat1(ctx, identity, { base: read(files.base), ours, theirs });
  if (taken.text !== ours) writeFileSync(files.ours, taken.text);
  return { conflicts: [] };
}

/**
 * The origin's URL when `theirs` is exactly the vault file of origin/main (the copy `sync`
 * fetched, or the one a `git pull` from origin merges): then it must hold the heads last seen
 * there. Undefined for any other copy (a local branch).
 */
async function remoteOfCopy(g: Git, theirs: Buffer): Promise<string | undefined> {
  const blob = await g.show(`origin/${BRANCH}`, VAULT_FILE);
  if (blob === undefined || !Buffer.from(blob).equals(theirs)) return undefined;
  const url = (await g.run(['remote', 'get-url', 'origin'])).stdout.trim();
  return url === '' ? undefined : url;
}

/**
 * Merges two copies of a format-2 vault (sync/log-merge.ts) as `identity`; when `theirs` is the
 * origin's copy, checks it against the heads last seen there and, once it verified, records its
 * heads as the origin's.
 */
async function mergeLogCopy(ctx: SyncContext, g: Git, identity: Identity, texts: { ours: Buffer; theirs: Buffer }): Promise<LogMergeResult> {
  const oursLog = isLogText(texts.ours);
  if (oursLog !== isLogText(texts.theirs)) return acrossMigration(ctx, g, oursLog ? texts.ours : texts.theirs, oursLog ? texts.theirs : texts.ours, oursLog);
  const remote = await remoteOfCopy(g, texts.theirs);
  const t = logTrust(ctx.trustDir, identity);
  const crossed = await mergeAcrossCompaction(texts.ours, texts.theirs, {
    identity,
    trust: t,
    remote,
    theirsName: copyName(remote),
    notAfter: notAfterOf(ctx.deps.clock),
    historyHolding: (hash, skip) => historyHolding(g, hash, skip),
  });
  // The heads the remote had are recorded by `sync` once the merge is in place and reads.
  return crossed ?? (await mergeLogs(t, { identity, clock: ctx.deps.clock }, texts, remote));
}

/** How many commits of vault.yaml's history are searched for the format-1 file a migration converted, or the history a compaction summarised. */
const MIGRATION_SEARCH = 100;

/** vault.yaml as each of the last commits of `revs` that changed it holds it, newest first. */
async function* vaultHistory(g: Git, revs: readonly string[]): AsyncGenerator<string> {
  const commits = (await g.run(['rev-list', `--max-count=${MIGRATION_SEARCH}`, ...revs, '--', VAULT_FILE])).stdout.split('\n').filter(Boolean);
  for (const c of commits) {
    const text = await g.show(c, VAULT_FILE);
    if (text !== undefined) yield text;
  }
}

/**
 * The format-2 vault.yaml copies of git history that hold entry `hash`, newest first, skipping
 * copies that hold the line `skip` (the compaction itself): only commits of this branch and of
 * origin/main (a branch anyone pushed is not searched), whole (`--full-history`: a merge that
 * took one side's file would hide the other side's commits). A cheap scan of line hashes; each
 * copy is parsed and checked by its caller, who takes the first that will do.
 */
async function* historyHolding(g: Git, hash: string, skip: string): AsyncGenerator<Buffer> {
  const origin = (await g.run(['rev-parse', '--verify', '-q', `origin/${BRANCH}`])).code === 0 ? [`origin/${BRANCH}`] : [];
  for await (const text of vaultHistory(g, ['--full-history', 'HEAD', ...origin])) {
    const bytes = Buffer.from(text);
    if (text.includes(skip) || !isLogText(bytes)) continue;
    const holds = text.split('\n').some((line) => /^- \{"kind":"(op|merge|checkpoint)",/.test(line) && sha256Base64(Buffer.from(line.slice(2))) === hash);
    if (holds) yield bytes;
  }
}

/** The format-1 vault.yaml in git history (any branch, newest first) whose SHA-256 is `sha256`. */
async function formerInHistory(g: Git, sha256: string): Promise<Buffer | undefined> {
  for await (const text of vaultHistory(g, ['--all'])) {
    const bytes = Buffer.from(text);
    if (!isLogText(bytes) && sha256Base64(bytes) === sha256) return bytes;
  }
  return undefined;
}

/**
 * One copy was migrated to format 2 (`secrets migrate`), the other is still format 1. This
 * machine's own migration is kept when the other copy is the file it converted (nobody wrote
 * format 1 since). Another admin's migration is taken as `migrate --accept` takes it: it must
 * name this copy, or a format-1 file in git history, as the file it converted, be that file's
 * exact conversion by one of its admins, and hold every format-1 write this machine verified.
 */
async function acrossMigration(ctx: SyncContext, g: Git, migrated: Buffer, former: Buffer, mine: boolean): Promise<LogMergeResult> {
  const name = mine ? 'this copy' : 'the migrated copy';
  // Read once: the genesis, the heads and (for another admin's migration) the checks all use it.
  let read: LogRead;
  try {
    read = await readLogBytes(migrated);
  } catch (err) {
    throw err instanceof SecretsError ? new SecretsError(err.code, `${name}: ${err.message}`, err.hint) : err;
  }
  const tip = {
    vault: read.entries[0]?.hash ?? '',
    heads: headsOf(read.entries.map((e) => ({ hash: e.hash, parents: e.entry.parents, checkpoint: e.entry.kind === 'checkpoint' }))),
  };
  const from = migratedFrom(read);
  if (from === undefined)
    throw new SecretsError(
      'INTEGRITY',
      'one copy is a format-2 vault that is no migration of the other, a format-1 vault; nothing was merged',
      'check where the other copy came from: it is not this vault converted by `secrets migrate`',
    );
  if (mine) {
    if (sha256Base64(former) !== from)
      throw new SecretsError(
        'CONFLICT',
        `the other copy is format 1 and changed after the copy this machine migrated (someone wrote it with an earlier version); nothing was merged`,
        'ask the team to stop writing with earlier versions; then migrate again from the latest format-1 copy (`git show origin/main:vault.yaml`)',
      );
    return { text: migrated, outcome: 'unchanged', reports: [], vault: tip.vault, theirsHeads: [], heads: tip.heads };
  }
  const file = sha256Base64(former) === from ? former : await formerInHistory(g, from);
  if (file === undefined)
    throw new SecretsError(
      'INTEGRITY',
      `${name} names a format-1 file (SHA-256 ${from}) that is neither this copy nor in the git history; nothing was merged`,
      'ask the admin who migrated the vault for that file, and accept it with `secrets migrate --accept FILE`',
    );
  // This machine's own copy, verified as every read verifies it: the migration must be of this vault, by one of its current admins.
  const local = (await ctx.repo.inspect(former.toString('utf8'))).state;
  const summary = await acceptMigratedCopy(
    { path: ctx.vaultPath, formatOne: ctx.repo, trust: new TrustStore(ctx.trustDir) },
    file,
    { bytes: migrated, read },
    local,
  );
  return {
    text: migrated,
    outcome: 'fast-forward',
    reports: [`took the migration of vault ${summary.name} to format 2, signed by an admin of the format-1 vault`],
    vault: tip.vault,
    theirsHeads: tip.heads,
    heads: tip.heads,
  };
}

/** What `sync` did. */
export interface SyncResult {
  readonly Committed: boolean;
  readonly Merged: boolean;
  readonly Pushed: boolean;
  readonly Offline: boolean;
  readonly Conflicts: readonly string[];
  readonly Remote?: string;
  readonly PublishedEvents: number;
}

async function commitLocal(ctx: SyncContext, g: Git, identity: Identity, state: VaultState): Promise<boolean> {
  await g.ok(['add', '--', VAULT_FILE, ...(existsSync(join(g.dir, 'audit')) ? ['audit'] : [])]);
  if ((await g.run(['diff', '--cached', '--quiet'])).code === 0) return false;
  const me = state.members.find((m) => m.id === identity.id);
  const changed = (await g.ok(['diff', '--cached', '--numstat', '--', VAULT_FILE])).trim();
  const lines = changed === '' ? 0 : Number(changed.split(/\s+/)[0] ?? 0);
  // The message names no secret: who, which vault, how many record lines.
  await g.ok(['commit', '-q', '-m', `secrets: ${lines} record line(s) from ${me?.name ?? identity.id} (${formatFingerprint(identity.id)})`], {
    env: await authorEnv(g, me?.name ?? 'secrets', identity.id),
  });
  return true;
}

/**
 * Before `secrets compact` replaces the history of a vault shared through git: commits the file
 * as it is, so that the history the checkpoint summarises is pushed with the compaction and every
 * other clone's sync can check the checkpoint against it. False when the vault is not the
 * vault.yaml of a git work tree, or is unchanged since its last commit.
 */
export async function commitBeforeCompaction(ctx: SyncContext): Promise<boolean> {
  const g = git(ctx);
  if (basename(ctx.vaultPath) !== VAULT_FILE || !(await isWorkTree(g))) return false;
  if ((await g.run(['ls-files', '--error-unmatch', '--', VAULT_FILE])).code !== 0) return false;
  await g.ok(['add', '--', VAULT_FILE]);
  if ((await g.run(['diff', '--cached', '--quiet', '--', VAULT_FILE])).code === 0) return false;
  const { identity } = await ctx.deps.identities.load();
  await g.ok(['commit', '-q', '-m', `secrets: the history before a compaction, from ${formatFingerprint(identity.id)}`, '--', VAULT_FILE], {
    env: await authorEnv(g, 'secrets', identity.id),
  });
  return true;
}

/** Resolves a textual conflict in vault.yaml (no driver registered) with the semantic merge. */
async function resolveConflict(ctx: SyncContext, g: Git, identity: Identity): Promise<readonly string[]> {
  const conflicted = (await g.ok(['diff', '--name-only', '--diff-filter=U'])).split('\n').filter(Boolean);
  const others = conflicted.filter((f) => f !== VAULT_FILE);
  if (others.length > 0) {
    await g.run(['merge', '--abort']);
    throw new SecretsError(
      'CONFLICT',
      `git could not merge ${others.join(', ')} (not the vault file); nothing was merged`,
      `resolve it in ${g.dir} with git, then run \`secrets sync\` again`,
    );
  }
  const base = await g.show(':1', VAULT_FILE);
  const ours = await g.show(':2', VAULT_FILE);
  const theirs = await g.show(':3', VAULT_FILE);
  if (ours === undefined || theirs === undefined) {
    await g.run(['merge', '--abort']);
    throw new SecretsError('CONFLICT', `${VAULT_FILE} was deleted on one side of the merge; nothing was merged`, 'restore it from git history');
  }
  if (isLogText(Buffer.from(ours)) || isLogText(Buffer.from(theirs))) {
    let merged: LogMergeResult;
    try {
      merged = await mergeLogCopy(ctx, g, identity, { ours: Buffer.from(ours), theirs: Buffer.from(theirs) });
    } catch (err) {
      // Nothing merged: the work tree goes back to the commit before the merge.
      await g.run(['merge', '--abort']);
      throw err;
    }
    writeFileAtomic(ctx.vaultPath, merged.text);
    merged.afterWrite?.();
    await g.ok(['add', '--', VAULT_FILE]);
    await g.ok(['commit', '-q', '--no-edit'], { env: await authorEnv(g, 'secrets', identity.id) });
    return merged.reports;
  }
  let taken: { text: string };
  try {
    taken = await fastForwardFormat1(ctx, identity, { base, ours, theirs });
  } catch (err) {
    await g.run(['merge', '--abort']);
    throw err;
  }
  writeFileAtomic(ctx.vaultPath, taken.text);
  await g.ok(['add', '--', VAULT_FILE]);
  await g.ok(['commit', '-q', '--no-edit'], { env: await authorEnv(g, 'secrets', identity.id) });
  return [];
}

/**
 * Merges `remoteRef` without committing (and never as a fast-forward), puts `text` in place of
 * vault.yaml, and commits. Another file in conflict aborts the merge: nothing is merged.
 */
async function commitCrossing(ctx: SyncContext, g: Git, remoteRef: string, text: Buffer, env: Record<string, string>): Promise<void> {
  const m = await g.run(['merge', '-q', '--no-ff', '--no-commit', remoteRef], { env });
  const others = (await g.run(['diff', '--name-only', '--diff-filter=U'])).stdout.split('\n').filter((f) => f !== '' && f !== VAULT_FILE);
  const merging = (await g.run(['rev-parse', '-q', '--verify', 'MERGE_HEAD'])).code === 0;
  if (others.length > 0 || (m.code !== 0 && !merging)) {
    if (merging) await g.run(['merge', '--abort']);
    throw new SecretsError(
      'CONFLICT',
      others.length > 0 ? `git could not merge ${others.join(', ')} (not the vault file); nothing was merged` : `git merge failed: ${firstLine(m.stderr)}`,
      `resolve it in ${g.dir} with git, then run \`secrets sync\` again`,
    );
  }
  writeFileAtomic(ctx.vaultPath, text);
  await g.ok(['add', '--', VAULT_FILE]);
  await g.ok(merging ? ['commit', '-q', '--no-edit'] : ['commit', '-q', '-m', 'secrets: across a compaction'], { env });
}

/** Lines the merge driver printed (through git's stderr) about conflicts it resolved. */
function driverReports(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('secrets: merged: '))
    .map((l) => l.slice('secrets: merged: '.length));
}

/**
 * The directory of a remote given as a path (`/srv/vault.git`, `../vault.git`, `file://…`) that
 * is a bare repository on this machine; undefined for a URL (`ssh://…`, `host:path`, `https://…`).
 */
async function localBareRemote(g: Git, remote: string): Promise<string | undefined> {
  let path: string;
  if (/^file:\/\//i.test(remote)) {
    try {
      path = fileURLToPath(remote);
    } catch {
      return undefined;
    }
  } else if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(remote) || /^[^/]*:/.test(remote)) {
    return undefined;
  } else {
    path = resolve(g.dir, remote);
  }
  if (!existsSync(path)) return undefined;
  const bare = await g.run([`--git-dir=${path}`, 'rev-parse', '--is-bare-repository']);
  return bare.code === 0 && bare.stdout.trim() === 'true' ? path : undefined;
}

/**
 * After the first push from this work tree (its branch tracks nothing yet): the branch tracks
 * origin/main, so a plain `git pull` works, and the remote's HEAD names main, so a plain
 * `git clone` checks the vault out instead of warning about a missing branch. `git init --bare`
 * leaves HEAD on master (or init.defaultBranch), a branch that never gets pushed. A bare remote
 * on this machine whose HEAD names no branch is pointed at main; for any other, a note says
 * what to do. A branch that already tracks something, or a HEAD on a real branch, is left alone.
 */
async function trackRemoteBranch(ctx: SyncContext, g: Git, remote: string): Promise<void> {
  const branch = (await g.run(['symbolic-ref', '-q', '--short', 'HEAD'])).stdout.trim();
  if (branch === '' || (await g.run(['config', `branch.${branch}.merge`])).code === 0) return;
  await g.ok(['branch', `--set-upstream-to=origin/${BRANCH}`, branch]);
  const dir = await localBareRemote(g, remote);
  let head: string | undefined;
  if (dir !== undefined) {
    head = (await g.run([`--git-dir=${dir}`, 'symbolic-ref', '-q', 'HEAD'])).stdout.trim();
    const named = head !== '' && (await g.run([`--git-dir=${dir}`, 'rev-parse', '--verify', '-q', head])).code === 0;
    if (!named) {
      await g.ok([`--git-dir=${dir}`, 'symbolic-ref', 'HEAD', `refs/heads/${BRANCH}`]);
      return;
    }
  } else {
    // The remote advertises HEAD only when it names an existing branch.
    const ls = await g.run(['ls-remote', '--symref', 'origin', 'HEAD'], { network: true });
    head = /^ref: (\S+)\tHEAD$/m.exec(ls.stdout)?.[1] ?? '';
  }
  if (head === `refs/heads/${BRANCH}`) return;
  const now = head === '' ? `HEAD names no branch it has` : `default branch is ${head.replace(/^refs\/heads\//, '')}, not ${BRANCH}`;
  ctx.note(
    `the remote's ${now}, so a plain \`git clone\` will not check out the vault (\`secrets clone\` will): ` +
      `make ${BRANCH} the default branch in the repository's settings on the server, or there run \`git --git-dir=REPO symbolic-ref HEAD refs/heads/${BRANCH}\``,
  );
}

/** `secrets sync`: commit, fetch, verify, merge, verify, commit, push (retrying a rejected push). */
export async function syncVault(ctx: SyncContext): Promise<SyncResult> {
  const g = git(ctx);
  if (!(await isWorkTree(g))) {
    throw new SecretsError(
      'USAGE',
      `${g.dir} is not a git work tree of its own`,
      'share the vault first: `secrets sync --setup --remote URL` (or `secrets clone URL` to use a shared one)',
    );
  }
  const { identity } = await ctx.deps.identities.load();
  const format2 = isFormat2(ctx.vaultPath);
  // A plain `git pull` without the driver may have left vault.yaml conflicted: finish that merge first.
  const conflicts: string[] = [];
  const unmerged = (await g.run(['diff', '--name-only', '--diff-filter=U'])).stdout.split('\n').filter(Boolean);
  if (unmerged.includes(VAULT_FILE)) conflicts.push(...(await resolveConflict(ctx, g, identity)));
  const local = await ctx.deps.vault.read(identity);
  let published = 0;
  if (local.members.some((m) => m.id === identity.id && m.removed === undefined)) {
    const logPath = ctx.auditLogPath(local.vault.id);
    if (existsSync(logPath)) published = (await publishTrail({ vaultPath: ctx.vaultPath, vaultId: local.vault.id, localLog: logPath, identity })).published;
  }
  // Drivers may be missing in a clone made by plain git; make sure they are there.
  await registerDrivers(ctx, g);
  const committed = await commitLocal(ctx, g, identity, local);
  const remote = (await g.run(['remote', 'get-url', 'origin'])).stdout.trim();
  if (remote === '') {
    return { Committed: committed, Merged: false, Pushed: false, Offline: true, Conflicts: [], PublishedEvents: published };
  }
  let merged = false;
  for (let attempt = 1; ; attempt++) {
    const fetch = await g.run(['fetch', '-q', 'origin'], { network: true });
    if (fetch.code !== 0) {
      ctx.note(`the remote is unreachable (${firstLine(fetch.stderr)}); your changes are committed locally and will be pushed by the next sync`);
      return { Committed: committed, Merged: false, Pushed: false, Offline: true, Conflicts: conflicts, Remote: remote, PublishedEvents: published };
    }
    const remoteRef = `origin/${BRANCH}`;
    const hasRemote = (await g.run(['rev-parse', '--verify', '-q', remoteRef])).code === 0;
    // Format 2: the whole merge is computed and verified first (refused: nothing changes);
    // git's merge then runs the driver, which makes it again and signs it.
    let logMerge: LogMergeResult | undefined;
    if (hasRemote) {
      const theirsText = await g.show(remoteRef, VAULT_FILE);
      if (theirsText !== undefined && (format2 || isLogText(Buffer.from(theirsText)))) {
        logMerge = await mergeLogCopy(ctx, g, identity, { ours: readFileSync(ctx.vaultPath), theirs: Buffer.from(theirsText) });
      } else if (theirsText !== undefined) {
        // Format 1: a fast-forward or nothing, decided before git merges anything.
        const baseCommit = (await g.run(['merge-base', 'HEAD', remoteRef])).stdout.trim();
        const base = baseCommit === '' ? undefined : await g.show(baseCommit, VAULT_FILE);
        const taken = await fastForwardFormat1(ctx, identity, { base, ours: readFileSync(ctx.vaultPath, 'utf8'), theirs: theirsText });
        rememberRemote(ctx, taken.theirs, false);
      }
      const before = (await g.ok(['rev-parse', 'HEAD'])).trim();
      // The merge driver git runs is this program: it needs the identity, wherever it comes from.
      const identityEnv = Object.fromEntries(
        ['SECRETS_IDENTITY_KEY', 'SECRETS_IDENTITY_FILE'].flatMap((k) => (ctx.env[k] !== undefined ? [[k, ctx.env[k]]] : [])),
      );
      const env = { ...(await authorEnv(g, 'secrets', identity.id)), ...identityEnv };
      // The trust state before the merge (the driver git runs may move it across a compaction).
      const trust = new TrustStore(ctx.trustDir);
      const trusted = trust.get(local.vault.id);
      if (logMerge?.afterWrite !== undefined) {
        // Across a compaction: what is committed is the result checked above, whatever git would
        // do with the file on its own (a fast-forward runs no driver).
        conflicts.push(...logMerge.reports);
        await commitCrossing(ctx, g, remoteRef, logMerge.text, env);
        logMerge.afterWrite();
      } else {
        const m = await g.run(['merge', '-q', '--no-edit', remoteRef], { env });
        conflicts.push(...(logMerge !== undefined ? logMerge.reports : driverReports(m.stderr)));
        if (m.code !== 0) {
          const unmerged = (await g.run(['diff', '--name-only', '--diff-filter=U'])).stdout.trim();
          if (unmerged === '') throw new SecretsError('CONFLICT', `git merge failed: ${firstLine(m.stderr)}`, `look at ${g.dir} with git status`);
          const reports = await resolveConflict(ctx, g, identity);
          if (logMerge === undefined) conflicts.push(...reports);
        }
      }
      merged = merged || (await g.ok(['rev-parse', 'HEAD'])).trim() !== before;
      // The result must load as any command would load it: verified, and not a rollback here.
      try {
        await ctx.deps.vault.read(identity);
      } catch (err) {
        // Refused: the work tree and the trust state go back to what they were before the merge.
        if (trusted !== undefined) trust.replace(local.vault.id, trusted);
        await g.run(['reset', '-q', '--hard', before]);
        throw err;
      }
      // Only now: the heads the remote had, verified and merged here.
      if (logMerge !== undefined) await logTrust(ctx.trustDir, identity).remotes.putRemoteHeads(logMerge.vault, remote, logMerge.theirsHeads);
    }
    const push = await g.run(['push', '-q', 'origin', `HEAD:${BRANCH}`], { network: true });
    if (push.code === 0) {
      await trackRemoteBranch(ctx, g, remote);
      const now = await ctx.deps.vault.read(identity);
      if (format2) {
        const pushed = await tipOfCopy(readFileSync(ctx.vaultPath));
        await logTrust(ctx.trustDir, identity).remotes.putRemoteHeads(pushed.vault, remote, pushed.heads);
      }
      rememberRemote(ctx, now, true);
      return { Committed: committed, Merged: merged, Pushed: true, Offline: false, Conflicts: conflicts, Remote: remote, PublishedEvents: published };
    }
    const rejected = /rejected|non-fast-forward|fetch first/.test(push.stderr);
    if (!rejected) {
      ctx.note(`the push failed (${firstLine(push.stderr)}); your changes are committed locally and will be pushed by the next sync`);
      return { Committed: committed, Merged: merged, Pushed: false, Offline: true, Conflicts: conflicts, Remote: remote, PublishedEvents: published };
    }
    if (attempt >= PUSH_ATTEMPTS) {
      throw new SecretsError('CONFLICT', `the remote kept moving: push rejected ${PUSH_ATTEMPTS} times`, 'run `secrets sync` again');
    }
  }
}

/** `secrets status`. */
export async function syncStatus(
  ctx: SyncContext,
  opts: { fetch: boolean },
): Promise<{
  Vault: string;
  VaultId: string;
  Git: boolean;
  Remote?: string;
  LastSync?: string;
  UncommittedChanges: boolean;
  Ahead?: number;
  Behind?: number;
  /** Format 2: the heads of the local history, to compare with another member's out of band. */
  Heads?: readonly string[];
  Members: { Name: string; Role: string; Fingerprint: string }[];
}> {
  const { identity } = await ctx.deps.identities.load();
  const state = await ctx.deps.vault.read(identity);
  const members = state.members
    .filter((m) => m.removed === undefined)
    .map((m) => ({ Name: m.name, Role: isAdmin(m) ? 'admin' : 'member', Fingerprint: formatFingerprint(m.id) }));
  const heads = isFormat2(ctx.vaultPath) ? (await tipOfCopy(readFileSync(ctx.vaultPath))).heads : undefined;
  const base = { Vault: ctx.vaultPath, VaultId: state.vault.id, ...(heads !== undefined ? { Heads: heads } : {}), Members: members };
  const g = git(ctx);
  if (!(await isWorkTree(g))) return { ...base, Git: false, UncommittedChanges: false };
  const sync = readSyncState(ctx, state.vault.id);
  const remote = (await g.run(['remote', 'get-url', 'origin'])).stdout.trim();
  if (opts.fetch && remote !== '') {
    const f = await g.run(['fetch', '-q', 'origin'], { network: true });
    if (f.code !== 0) ctx.note(`cannot reach the remote: ${firstLine(f.stderr)}; ahead/behind are as of the last fetch`);
  }
  const dirty = (await g.ok(['status', '--porcelain', '--', VAULT_FILE, 'audit'])).trim() !== '';
  let ahead: number | undefined;
  let behind: number | undefined;
  const counts = await g.run(['rev-list', '--left-right', '--count', `HEAD...origin/${BRANCH}`]);
  if (counts.code === 0) {
    const [a, b] = counts.stdout.trim().split(/\s+/).map(Number);
    ahead = a;
    behind = b;
  }
  return {
    ...base,
    Git: true,
    ...(remote !== '' ? { Remote: remote } : {}),
    ...(sync.lastSync !== undefined ? { LastSync: sync.lastSync } : {}),
    UncommittedChanges: dirty,
    ...(ahead !== undefined ? { Ahead: ahead } : {}),
    ...(behind !== undefined ? { Behind: behind } : {}),
  };
}

/** `secrets diff-text FILE`: the vault without ciphertexts, for `git diff` (textconv). */
export function diffText(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('- {')) continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line.slice(2)) as Record<string, unknown>;
    } catch {
      out.push('(unparseable line)');
      continue;
    }
    const kind = r['kind'];
    const obj = (v: unknown): Record<string, string> => (typeof v === 'object' && v !== null ? (v as Record<string, string>) : {});
    if (kind === 'vault') out.push(`vault ${String(r['id'])} ${JSON.stringify(r['name'])}`);
    else if (kind === 'member')
      out.push(`member ${String(r['name'])} ${String(r['id'])} ${(r['roles'] as string[] | undefined)?.join(',') ?? ''}${r['removed'] ? ' (removed)' : ''}`);
    else if (kind === 'policy')
      out.push(
        typeof r['name'] === 'string' ? `policy ${r['name']} attached to ${JSON.stringify(r['attached'])}` : `resource policy of ${String(r['secret'])}`,
      );
    else if (kind === 'secret') {
      const tags = Object.entries(obj(r['tags']))
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      const stages = Object.entries(obj(r['stages']))
        .map(([k, v]) => `${k}:${v}`)
        .join(' ');
      out.push(
        `secret ${String(r['name'])}${r['deleted'] ? ' (deleted)' : ''}${tags ? ` tags[${tags}]` : ''} stages[${stages}]${r['rotation'] ? ' rotation' : ''}`,
      );
    } else if (kind === 'version') {
      out.push(`  version ${String(r['id'])} ${String(r['created'])} readers=${Object.keys(obj(r['keys'])).length} by ${String(r['by'])}`);
    } else if (kind === 'op') {
      // Format 2: an action, what it acts on (a secret's name, a member, a policy), its signer and seq.
      const body = typeof r['body'] === 'object' && r['body'] !== null ? (r['body'] as Record<string, unknown>) : {};
      const member = body['member'];
      const subject =
        typeof body['secret'] === 'string' && typeof body['name'] === 'string'
          ? ` secret ${body['name']}`
          : typeof member === 'string'
            ? ` member ${member}`
            : typeof member === 'object' && member !== null
              ? ` member ${String((member as Record<string, unknown>)['name'])}`
              : typeof body['policy'] === 'string'
                ? ` policy ${body['policy']}`
                : '';
      out.push(`op ${String(r['op'])}${subject} by ${String(r['by'])} seq ${String(r['seq'])} at ${String(r['at'])}`);
    } else if (kind === 'merge') {
      out.push(`merge of ${(r['parents'] as unknown[] | undefined)?.length ?? 0} heads by ${String(r['by'])} seq ${String(r['seq'])} at ${String(r['at'])}`);
    } else if (kind === 'keys') {
      out.push(`  keys for ${Object.keys(obj(r['keys'])).length} readers`);
    } else if (kind === 'value') {
      out.push('  value (encrypted)');
    }
  }
  return `${out.join('\n')}\n`;
}
