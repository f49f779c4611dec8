// Building format-2 logs with real keys and signatures for the store's tests: members from fixed
// seeds, entries signed through the codec, payloads with placeholder bytes (the store never
// decrypts them). Deterministic: the same calls give the same bytes.
import { createHash } from 'node:crypto';
import type { Action, Entry, LogEntry, MemberKeys, OpBodies, Payload, VersionRef } from '../../src/core/ops.js';
import type { Identity } from '../../src/core/ports.js';
import type { ReplayOptions } from '../../src/core/replay.js';
import { SecretBytes } from '../../src/core/secret-bytes.js';
import { secretIdInLog } from '../../src/crypto/digest.js';
import { identityFromSeed } from '../../src/crypto/identity.js';
import { CHECKPOINT_DIGESTS, encodeLine, entrySignatureValid, type Line, lineHash, signedEntry, type UnsignedEntry } from '../../src/store/op-codec.js';

/** A member of the test vaults: **test keys**, each seed the text `TEST KEY <name> fixture v2` padded with dots. */
export interface TestMember {
  readonly identity: Identity;
  readonly keys: MemberKeys;
}

export async function testMember(name: string): Promise<TestMember> {
  const seed = new SecretBytes(new Uint8Array(Buffer.from(`TEST KEY ${name} fixture v2`.padEnd(32, '.'))));
  const identity = await identityFromSeed(seed);
  return {
    identity,
    keys: { id: identity.id, name, enc: Buffer.from(identity.enc).toString('base64'), sign: Buffer.from(identity.sign).toString('base64') },
  };
}

/** Replay's options with the real signature check and secret ids. */
export const REAL_REPLAY: ReplayOptions = { signatureValid: entrySignatureValid, secretIdOf: secretIdInLog, checkpoint: CHECKPOINT_DIGESTS };

/** `n` bytes derived from a label, as canonical base64 (placeholder nonces, ciphertexts and sealed keys). */
export function bytesOf(label: string, n: number): string {
  const out = Buffer.alloc(n);
  for (let i = 0; i * 32 < n; i++)
    createHash('sha256')
      .update(`${label}/${i}`)
      .digest()
      .copy(out, i * 32);
  return out.toString('base64');
}

/** Minute `n` after 2026-01-05T09:00Z. */
export const minute = (n: number): string => new Date(Date.UTC(2026, 0, 5, 9, n)).toISOString();

/**
 * A linear log under construction: each entry's parent is the previous entry, its `seq` one
 * above its signer's last, its time one minute after the previous entry's unless given.
 */
export class LinearLog {
  readonly lines: Line[] = [];
  readonly entries: LogEntry[] = [];
  G = '';
  #head: string | undefined;
  #at = 0;
  readonly #seqs = new Map<string, number>();

  get head(): string | undefined {
    return this.#head;
  }

  /** Value and keys payloads sealed (with placeholder bytes) to `readers`; returns their reference. */
  version(label: string, readers: readonly MemberKeys[], type: 'string' | 'binary' = 'string'): { ref: VersionRef; payloads: Payload[] } {
    const value: Payload = { kind: 'value', n: bytesOf(`${label}/n`, 24), ct: bytesOf(`${label}/ct`, 48) };
    const keys: Payload = { kind: 'keys', keys: new Map(readers.map((r) => [r.id, bytesOf(`${label}/key/${r.id}`, 80)])) };
    const ref: VersionRef = {
      version: createHash('sha256').update(label).digest('hex').slice(0, 32),
      type,
      v: lineHash(encodeLine(value)),
      k: lineHash(encodeLine(keys)),
    };
    return { ref, payloads: [value, keys] };
  }

  /** Signs and adds an op after `payloads`. */
  op<A extends Action>(by: TestMember, op: A, body: OpBodies[A], payloads: readonly Payload[] = [], at?: string): string {
    const seq = (this.#seqs.get(by.keys.id) ?? 0) + 1;
    this.#seqs.set(by.keys.id, seq);
    const when = at ?? minute(++this.#at);
    const unsigned = { kind: 'op', op, body, by: by.keys.id, seq, parents: this.#head === undefined ? [] : [this.#head], at: when } as UnsignedEntry;
    const entry = signedEntry<Entry>(by.identity, op === 'CreateVault' ? '' : this.G, unsigned);
    const hash = lineHash(encodeLine(entry));
    if (op === 'CreateVault') this.G = hash;
    this.lines.push(...payloads, entry);
    this.entries.push({ hash, entry });
    this.#head = hash;
    return hash;
  }

  /** The id a new secret of this name must have in this vault. */
  secretId(name: string): string {
    return secretIdInLog(this.G, name);
  }
}

/** Allows every action on `app/*`. */
export const APP_RW = { Statement: [{ Action: 'secrets:*', Effect: 'Allow', Resource: 'app/*' }], Version: '2012-10-17' };

/**
 * The log of test/fixtures/vault-format-v2/vault.yaml: alice creates the vault, adds bob with a
 * policy on app/*, creates app/db with a value; bob puts a second value and tags it.
 */
export async function fixtureLog(): Promise<{ log: LinearLog; alice: TestMember; bob: TestMember }> {
  const alice = await testMember('alice');
  const bob = await testMember('bob');
  const log = new LinearLog();
  log.op(alice, 'CreateVault', { vault: '0b6f4c1e-7d2a-4f3b-9c55-2e8a1d9f6b70', name: 'format-v2-fixture', format: 2, creator: alice.keys });
  log.op(alice, 'AddMember', { member: bob.keys, roles: ['member'] });
  log.op(alice, 'PutPolicy', { policy: 'app-rw', doc: APP_RW });
  log.op(alice, 'AttachPolicy', { policy: 'app-rw', member: bob.keys.id });
  const first = log.version('app/db#1', [alice.keys, bob.keys]);
  const id = log.secretId('app/db');
  log.op(
    alice,
    'CreateSecret',
    { secret: id, name: 'app/db', description: 'the app database', tags: new Map([['team', 'dev']]), value: first.ref },
    first.payloads,
  );
  const second = log.version('app/db#2', [alice.keys, bob.keys]);
  log.op(bob, 'PutSecretValue', { secret: id, name: 'app/db', value: second.ref }, second.payloads);
  log.op(bob, 'TagResource', { secret: id, name: 'app/db', tags: new Map([['owner', 'bob']]) });
  return { log, alice, bob };
}
