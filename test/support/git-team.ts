/**
 * Test support for git sync: a real bare repository on disk and clones of it, each person with
 * their own HOME, identity file and trust state, driven through the built binary and real git.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Identity } from '../../src/core/ports.js';
import { decodeKey, identityFromSeed } from '../../src/crypto/identity.js';
import { type CliResult, type Sandbox, sandbox } from './cli.js';

/** A run, explained for an assertion message. */
export function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Committer settings for git runs a test makes by hand. */
export const GIT_PERSON = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };

/** Runs git in `cwd`; throws with its stderr when it fails. */
export function git(cwd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...env } });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} in ${cwd} failed: ${r.stderr}`);
  return r.stdout;
}

/** One person's machine: a sandbox, their identity file and their clone of the vault. */
export interface Clone {
  readonly name: string;
  readonly sb: Sandbox;
  readonly dir: string;
  readonly vault: string;
  readonly env: Record<string, string>;
  run(args: string[], input?: string): Promise<CliResult>;
  ok(args: string[], input?: string): Promise<string>;
}

/** A person's clone at `dir`. */
export function clone(name: string, sb: Sandbox, dir: string, extra: Record<string, string> = {}): Clone {
  const vault = join(dir, 'vault.yaml');
  const env = { SECRETS_VAULT: vault, ...extra };
  return {
    name,
    sb,
    dir,
    vault,
    env,
    run: (args, input) => sb.run(args, { env, ...(input !== undefined ? { input } : {}) }),
    ok: (args, input) => sb.ok(args, { env, ...(input !== undefined ? { input } : {}) }),
  };
}

/** A team on one bare remote. */
export interface Team {
  readonly remote: string;
  readonly a: Clone;
  readonly b: Clone;
  readonly c: Clone;
  cleanup(): void;
}

/**
 * A team of three on one bare remote under `root`: alice (creator, admin), bob (admin), carol
 * (a member with every permission). `initArgs` are added to alice's `init`; `env` to every
 * sandbox (FORMAT_1: a team still on format 1).
 */
export async function team(root: string, initArgs: readonly string[] = [], env: Record<string, string> = {}): Promise<Team> {
  const remote = join(root, 'remote.git');
  git(root, ['init', '-q', '--bare', '-b', 'main', remote]);
  const sa = sandbox(env);
  const sb = sandbox(env);
  const sc = sandbox(env);
  const aDir = join(sa.home, 'team-vault');
  await sa.ok(['--vault', join(aDir, 'vault.yaml'), 'init', '--member-name', 'alice', '--git', remote, ...initArgs]);
  const a = clone('alice', sa, aDir);
  const member = async (who: Sandbox, nm: string, role: string): Promise<string> => {
    const key = join(who.home, `${nm}.key`);
    const pub = (await a.ok(['identity', 'new', '--name', nm, '--out', key])).trim();
    await a.ok(['member', 'add', nm, pub, '--role', role]);
    return key;
  };
  const bobKey = await member(sb, 'bob', 'admin');
  const carolKey = await member(sc, 'carol', 'member');
  const everything = join(sa.home, 'everything.json');
  writeFileSync(everything, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secrets:*', Resource: '*' }] }));
  await a.ok(['policy', 'put', 'everything', '-f', everything]);
  await a.ok(['policy', 'attach', 'everything', 'carol']);
  await a.ok(['sync']);
  const b = clone('bob', sb, join(sb.home, 'team-vault'), { SECRETS_IDENTITY_FILE: bobKey });
  const c = clone('carol', sc, join(sc.home, 'team-vault'), { SECRETS_IDENTITY_FILE: carolKey });
  for (const x of [b, c]) {
    const r = await x.sb.run(['clone', remote, x.dir], { env: x.env });
    assert.equal(r.code, 0, explain(`${x.name} clone`, r));
  }
  return {
    remote,
    a,
    b,
    c,
    cleanup() {
      for (const s of [sa, sb, sc]) s.cleanup();
    },
  };
}

/** The identity in `x`'s key file (bob's and carol's; written by `secrets identity new --out`), to sign as a modified client would. */
export async function identityOf(x: Clone): Promise<Identity> {
  const key = readFileSync(x.env['SECRETS_IDENTITY_FILE'] as string, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('SECRETS-KEY-1'));
  return identityFromSeed(decodeKey(key ?? '', 'test'));
}

/** A plain git clone of the remote at `root/scratch`, as someone with push access would use it. */
export function scratchClone(root: string, remote: string): string {
  const scratch = join(root, 'scratch');
  git(root, ['clone', '-q', '-b', 'main', remote, scratch]);
  return scratch;
}

/** Runs `body` with a team of its own under a new temporary directory, removed afterwards. */
export async function withTeam(prefix: string, body: (t: Team, root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(root, 't'));
  const t = await team(join(root, 't'));
  try {
    await body(t, root);
  } finally {
    t.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}

/** `secrets sync` as `x`, which must exit 0. */
export async function syncOk(x: Clone): Promise<CliResult> {
  const r = await x.run(['sync']);
  assert.equal(r.code, 0, explain(`${x.name} sync`, r));
  return r;
}

/** `x`'s sync must be refused with exit `code`, its message matching `pattern`, leaving its vault file, trust state, sync state and HEAD as they were, and no merge behind. */
export async function syncRefused(x: Clone, pattern: RegExp, code = 6): Promise<string> {
  const before = snapshot(x);
  const r = await x.run(['sync']);
  assert.equal(r.code, code, explain(`${x.name} sync`, r));
  assert.match(r.stderr, pattern);
  assert.equal(snapshot(x), before, 'the vault file, the trust state and HEAD are unchanged');
  assert.equal(git(x.dir, ['status', '--porcelain', '--', 'vault.yaml']), '', 'no merge left behind');
  return r.stderr;
}

/** Everything a reader sees: names, values of every labelled version, stages, tags. */
export async function view(x: Clone): Promise<string> {
  const names = (await x.ok(['list'])).split('\n').filter(Boolean);
  const out: string[] = [];
  for (const n of names) {
    const d = JSON.parse(await x.ok(['describe', n, '--json'])) as { Tags: unknown; VersionIdsToStages: Record<string, string[]> };
    const stages = Object.entries(d.VersionIdsToStages).sort();
    const values: string[] = [];
    for (const [id, labels] of stages) values.push(`${labels.join(',')}=${await x.ok(['get', n, '--version-id', id])}`);
    out.push(`${n} ${JSON.stringify(d.Tags)} ${values.sort().join(' ')}`);
  }
  return out.join('\n');
}

const digest = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Every file under `dir`, as `path:SHA-256` lines (absent: empty). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? filesUnder(p) : [`${p}:${digest(p)}`];
    });
}

/** Digests of `x`'s vault file, its trust state and its sync state, and its git HEAD. */
export function snapshot(x: Clone): string {
  const state = join(x.sb.env['XDG_STATE_HOME'] as string, 'secrets');
  return [`${x.vault}:${digest(x.vault)}`, ...filesUnder(join(state, 'trust')), ...filesUnder(join(state, 'sync')), git(x.dir, ['rev-parse', 'HEAD'])].join(
    '\n',
  );
}
