/**
 * Test support for attacks on a format-2 vault (the operation log) by its members: a modified
 * client that signs whatever op it likes with a member's real key and appends it (or splices
 * it) into the shared file by hand, bypassing every check of the real client; and the check
 * that an honest command then refuses the history with exit 6, names the entry, and leaves the
 * vault file and the trust state byte for byte as they were.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Action, Entry, OpBodies, Payload, VersionRef } from '../../src/core/ops.js';
import type { Identity } from '../../src/core/ports.js';
import { SecretBytes } from '../../src/core/secret-bytes.js';
import { toBase64 } from '../../src/crypto/encoding.js';
import { sealValue } from '../../src/crypto/envelope.js';
import { encodeLine, lineHash, signedEntry, type UnsignedEntry } from '../../src/store/op-codec.js';
import { OpLog } from '../../src/store/op-log.js';
import { explain, type Person } from './insider.js';

/** The log as it stands: G, the heads, each signer's seq, the latest time, every entry. */
export async function logOf(vault: string): Promise<{ G: string; heads: string[]; seqs: Map<string, number>; at: string; hashes: string[]; entries: Entry[] }> {
  const read = await new OpLog({ path: vault, lockTimeoutMs: 5000 }).read();
  const named = new Set(read.entries.flatMap((e) => e.entry.parents));
  const seqs = new Map<string, number>();
  for (const { entry } of read.entries) seqs.set(entry.by, Math.max(seqs.get(entry.by) ?? 0, entry.seq));
  return {
    G: read.entries[0]?.hash as string,
    heads: read.entries.map((e) => e.hash).filter((h) => !named.has(h)),
    seqs,
    at: read.entries
      .map((e) => e.entry.at)
      .sort()
      .at(-1) as string,
    hashes: read.entries.map((e) => e.hash),
    entries: read.entries.map((e) => e.entry),
  };
}

/** A line of the file for `line`. */
export const text = (line: Entry | Payload): string => `- ${encodeLine(line)}\n`;

/**
 * Signs an op as `signer` (as a modified client would) on `parents` (default: the heads) and
 * appends it with its payloads to the file, bypassing every check of the real client. `by`
 * names another signer than the key's (a forged signature). Returns the entry's hash.
 */
export async function forgeOp<A extends Action>(
  vault: string,
  signer: Identity,
  op: A,
  body: OpBodies[A],
  opts: { payloads?: readonly Payload[]; parents?: readonly string[]; by?: string } = {},
): Promise<string> {
  const log = await logOf(vault);
  const by = opts.by ?? signer.id;
  const entry = signedEntry<Entry>(signer, log.G, {
    kind: 'op',
    op,
    body,
    by,
    seq: (log.seqs.get(by) ?? 0) + 1,
    parents: [...(opts.parents ?? log.heads)].sort(),
    at: log.at,
  } as UnsignedEntry);
  appendFileSync(vault, [...(opts.payloads ?? []), entry].map(text).join(''));
  return lineHash(encodeLine(entry));
}

/** What a forger may bind a value's AAD to instead of the truth. */
export interface AadOverrides {
  readonly vault?: string;
  readonly secret?: string;
  readonly version?: string;
  readonly type?: 'string' | 'binary';
  readonly writer?: string;
}

/**
 * A value encrypted as `writer` (AAD: G, `secret`, a new version, string, the writer; any of
 * them replaced by `aad`), sealed to `readers`, with its payloads and the reference an op
 * carries (which names the true version and type).
 */
export async function value(
  G: string,
  secret: string,
  writer: Identity,
  readers: readonly Identity[],
  plain: string,
  aad: AadOverrides = {},
): Promise<{ ref: VersionRef; payloads: Payload[] }> {
  const version = randomUUID();
  const sealed = await sealValue(
    new SecretBytes(new Uint8Array(Buffer.from(plain))),
    {
      vaultId: '',
      secretId: aad.secret ?? secret,
      versionId: aad.version ?? version,
      type: aad.type ?? 'string',
      bound: { vault: aad.vault ?? G, writer: aad.writer ?? writer.id },
    },
    readers.map((r) => ({ id: r.id, enc: r.enc, sign: r.sign })),
  );
  const v: Payload = { kind: 'value', n: toBase64(sealed.nonce), ct: toBase64(sealed.ciphertext) };
  const k: Payload = { kind: 'keys', keys: new Map([...sealed.keys].map(([id, key]) => [id, toBase64(key)])) };
  return { ref: { version, type: 'string', v: lineHash(encodeLine(v)), k: lineHash(encodeLine(k)) }, payloads: [v, k] };
}

function trustDir(who: Person): string {
  return join(who.sb.env['XDG_STATE_HOME'] as string, 'secrets', 'trust');
}

/** The files below a trust directory (the path pins are in `paths/`): path and text. */
function trustFiles(dir: string): [string, string][] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .filter((f) => statSync(join(dir, f)).isFile())
    .map((f) => [f, readFileSync(join(dir, f), 'utf8')]);
}

/** The bytes of the vault and of every trust file of `who`. */
export function snapshot(vault: string, who: Person): string {
  const trust = trustFiles(trustDir(who)).map(([f, t]) => `${f}:${t}`);
  return [readFileSync(vault, 'utf8'), ...trust].join('\n---\n');
}

/**
 * Remembers the shared file and the trust state of `people` as they are now; the function
 * returned puts them back, so that each attack starts from the same verified history.
 */
export function keeper(vault: string, people: readonly Person[]): () => void {
  const file = readFileSync(vault, 'utf8');
  const trust = people.map((p) => {
    const dir = trustDir(p);
    return { dir, files: trustFiles(dir) };
  });
  return () => {
    writeFileSync(vault, file);
    for (const { dir, files } of trust) {
      rmSync(dir, { recursive: true });
      for (const [f, t] of files) {
        mkdirSync(dirname(join(dir, f)), { recursive: true });
        writeFileSync(join(dir, f), t);
      }
    }
  };
}

/** `text` as a regular expression that matches it literally (hashes hold `+`, `/` and `=`). */
export const escaped = (text: string): string => text.replace(/[+/=]/g, (c) => `\\${c}`);

/** Runs `args` as `who` and checks the refusal: exit 6, the entry named, nothing changed. */
export async function refused(
  vault: string,
  who: Person,
  entry: string | RegExp,
  args: readonly string[] = ['get', 'app/db'],
  opts: { input?: string } = {},
): Promise<string> {
  const before = snapshot(vault, who);
  const r = await who.run(args, opts);
  assert.equal(r.code, 6, explain(`${who.name}: secrets ${args.join(' ')}`, r));
  assert.match(r.stderr, typeof entry === 'string' ? new RegExp(escaped(entry)) : entry);
  assert.equal(r.stdout, '', 'no value on stdout');
  assert.equal(snapshot(vault, who), before, 'the vault file and the trust state are unchanged');
  return r.stderr;
}
