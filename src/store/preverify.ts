/**
 * The signatures of a long history, checked ahead of replay on every core. Replay checks each
 * entry's signature under its signer's key as it goes, one after another; in a fresh clone's
 * first read of 100,000 entries that is most of the time (about 60 us each), and it is the part
 * that runs in parallel. This module checks each entry under the keys its signer is given in
 * the history (CreateVault, AddMember), splitting the work between this thread and worker
 * threads, and answers replay from what it found. It only answers ahead of time: an entry it
 * did not find valid under the key replay asks about is checked by replay itself, so replay
 * decides exactly as it does without it.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { LogEntry, SignatureCheck } from '../core/ops.js';
import { fromBase64 } from '../crypto/encoding.js';
import { ED25519_SPKI_PREFIX, ed25519Acceptable, verifyDetached } from '../crypto/primitives.js';
import { entrySignedBytes } from '../crypto/sign.js';
import { entrySignatureValid, signedText } from './op-codec.js';

/** Below this many entries the threads cost more than they save. */
export const PREVERIFY_FROM = 4096;

/** A worker: verifies a batch (messages, keys and signatures packed in three buffers) with OpenSSL. */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const prefix = Buffer.from('${ED25519_SPKI_PREFIX}', 'hex');
const keys = new Map();
parentPort.on('message', ({ bytes, ends, keyBytes, sigs }) => {
  const ok = new Uint8Array(ends.length);
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    const raw = Buffer.from(keyBytes.buffer, keyBytes.byteOffset + i * 32, 32);
    const id = raw.toString('hex');
    let key = keys.get(id);
    if (key === undefined) keys.set(id, (key = createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' })));
    try {
      ok[i] = verify(null, bytes.subarray(start, ends[i]), key, sigs.subarray(i * 64, i * 64 + 64)) ? 1 : 0;
    } catch {
      ok[i] = 0;
    }
    start = ends[i];
  }
  parentPort.postMessage(ok, [ok.buffer]);
});
`;

/** One check: entry `hash`, under `key` (base64) in vault `vault` (G, or '' for the genesis), of `bytes` against `sig`. */
interface Job {
  readonly hash: string;
  readonly key: string;
  readonly vault: string;
  readonly keyBytes: Uint8Array;
  readonly bytes: Uint8Array;
  readonly sig: Uint8Array;
}

/** The keys each member is given in the history (an id could be given more than one). */
function keysIn(entries: readonly LogEntry[]): Map<string, Set<string>> {
  const keys = new Map<string, Set<string>>();
  const give = (id: string, sign: string): void => void keys.set(id, (keys.get(id) ?? new Set()).add(sign));
  for (const { entry } of entries) {
    if (entry.kind !== 'op') continue;
    if (entry.op === 'CreateVault') give(entry.body.creator.id, entry.body.creator.sign);
    else if (entry.op === 'AddMember') give(entry.body.member.id, entry.body.member.sign);
  }
  return keys;
}

/** The checks to make: each entry under each key its signer is given, framed as replay frames it. */
function jobsOf(entries: readonly LogEntry[]): Job[] {
  const G = entries[0]?.hash ?? '';
  const keys = keysIn(entries);
  const jobs: Job[] = [];
  for (const [i, { hash, entry }] of entries.entries()) {
    const sig = fromBase64(entry.sig);
    const given = keys.get(entry.by);
    if (sig === undefined || given === undefined) continue;
    // The genesis is signed before G exists: replay checks it with an empty vault hash.
    const vault = i === 0 && entry.kind === 'op' && entry.op === 'CreateVault' ? '' : G;
    const bytes = entrySignedBytes(vault, signedText(entry));
    for (const key of given) {
      const keyBytes = fromBase64(key);
      if (keyBytes !== undefined && ed25519Acceptable(sig, keyBytes)) jobs.push({ hash, key, vault, keyBytes, bytes, sig });
    }
  }
  return jobs;
}

/** Runs `jobs` in a worker thread; resolves to which of them verified. */
function inWorker(jobs: readonly Job[]): Promise<Uint8Array> {
  const size = jobs.reduce((n, j) => n + j.bytes.length, 0);
  const bytes = new Uint8Array(size);
  const ends = new Uint32Array(jobs.length);
  const keyBytes = new Uint8Array(jobs.length * 32);
  const sigs = new Uint8Array(jobs.length * 64);
  let at = 0;
  jobs.forEach((j, i) => {
    bytes.set(j.bytes, at);
    at += j.bytes.length;
    ends[i] = at;
    keyBytes.set(j.keyBytes, i * 32);
    sigs.set(j.sig, i * 64);
  });
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true });
    worker.once('message', (ok: Uint8Array) => {
      resolve(ok);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.postMessage({ bytes, ends, keyBytes, sigs }, [bytes.buffer, ends.buffer, keyBytes.buffer, sigs.buffer]);
  });
}

/**
 * Replay's signature check for `entries`, answered from checks made ahead on every core, or
 * undefined when the history is too short (or the machine has one core) for that to pay.
 */
export async function preverifiedSignatures(entries: readonly LogEntry[]): Promise<SignatureCheck | undefined> {
  const threads = Math.min(availableParallelism(), 4);
  if (entries.length < PREVERIFY_FROM || threads < 2) return undefined;
  const jobs = jobsOf(entries);
  // This thread takes one share; each worker one of the others.
  const share = Math.ceil(jobs.length / threads);
  const shares = Array.from({ length: threads }, (_, t) => jobs.slice(t * share, (t + 1) * share));
  const pending = shares.slice(1).map((s) => inWorker(s).catch(() => new Uint8Array(s.length)));
  const mine = (shares[0] ?? []).map((j) => (verifyDetached(j.sig, j.bytes, j.keyBytes) ? 1 : 0));
  const results = [Uint8Array.from(mine), ...(await Promise.all(pending))];
  const valid = new Map<string, Set<string>>();
  shares.forEach((s, t) =>
    s.forEach((j, i) => {
      if (results[t]?.[i] === 1) valid.set(j.hash, (valid.get(j.hash) ?? new Set()).add(`${j.key} ${j.vault}`));
    }),
  );
  return (item, signKey, vaultHash) => valid.get(item.hash)?.has(`${signKey} ${vaultHash}`) === true || entrySignatureValid(item, signKey, vaultHash);
}
