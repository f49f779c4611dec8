/**
 * Test support for forging format-2 histories in a real vault file: read the log as it stands,
 * sign ops with any key (as a modified client would) and append them with their payloads,
 * bypassing every check of the real client; encrypt values with any AAD a forger chooses.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import type { Action, Entry, OpBodies, Payload, VersionRef } from '../../src/core/ops.js';
import type { Identity } from '../../src/core/ports.js';
import { SecretBytes } from '../../src/core/secret-bytes.js';
import { toBase64 } from '../../src/crypto/encoding.js';
import { sealValue } from '../../src/crypto/envelope.js';
import { encodeLine, lineHash, signedEntry, type UnsignedEntry } from '../../src/store/op-codec.js';
import { OpLog } from '../../src/store/op-log.js';

/** The log as it stands: G, the heads, each signer's seq, the latest time, every entry's hash. */
export async function logOf(vault: string): Promise<{ G: string; heads: string[]; seqs: Map<string, number>; at: string; hashes: string[] }> {
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
  };
}

/** A line of the file for `line`, with its `- ` and newline. */
export const text = (line: Entry | Payload): string => `- ${encodeLine(line)}\n`;

/**
 * Signs an op as `signer` (as a modified client would) on `parents` (default: the heads) and
 * appends it with its payloads to the file, bypassing every check of the real client. `by`
 * names another signer than the key's (a forged signature). Returns the entry's hash.
 */
export async function forge<A extends Action>(
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
