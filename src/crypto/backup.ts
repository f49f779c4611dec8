/**
 * The backup file's envelope (ADR 0020): a payload encrypted under a fresh file key with
 * XChaCha20-Poly1305, the file key sealed to one recipient (crypto_box_seal, as data keys are)
 * or wrapped under a key derived from a passphrase (scrypt), and the whole file signed by the
 * exporting identity. Four lines of text:
 *
 *   secrets-backup-1
 *   {header: how the file key is wrapped, the signer, the body nonce}
 *   base64(body)
 *   base64(Ed25519 signature over the three lines above)
 *
 * The body's AAD is the magic line and the header line, so no header field can change without
 * the body failing to open. Every failure to open is INTEGRITY (exit 6); nothing here returns
 * "empty" or "not found".
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { SecretsError } from '../core/errors.js';
import type { Identity, PublicIdentity } from '../core/ports.js';
import type { SecretBytes } from '../core/secret-bytes.js';
import { fromBase64, frame, toBase64 } from './encoding.js';
import { decodePublicIdentity, encodePublicIdentity } from './identity.js';
import { aeadDecrypt, aeadEncrypt, boxSeal, boxSealOpen, signDetached, verifyDetached } from './primitives.js';

/** The first line, and the domain of every AAD and signature below; bump with the format. */
export const BACKUP_MAGIC = 'secrets-backup-1';
const SIGNATURE_DOMAIN = 'secrets-backup-1 signature';
const PASSPHRASE_DOMAIN = 'secrets-backup-1 passphrase';
const FILE_KEY_BYTES = 32;
/** XChaCha20: random 192-bit nonces are safe. */
const NONCE_BYTES = 24;
const SALT_BYTES = 16;
/**
 * scrypt N = 2^17, r = 8, p = 1: 128 MiB and about half a second here, the parameters OWASP
 * recommends as a minimum for scrypt. A backup is written and read rarely, so the cost falls on
 * whoever guesses passphrases offline, not on users.
 */
const SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
/** The most a file may ask of a reader's memory and time: N up to 2^20 (1 GiB). */
const SCRYPT_MAX_LOG_N = 20;
/** A backup holds at most the vault: cap what is parsed (base64 of 256 MiB of payload). */
export const MAX_BACKUP_BYTES = 360 * 1024 * 1024;

/** How a backup is encrypted. */
export type BackupLock = { readonly recipient: PublicIdentity } | { readonly passphrase: SecretBytes };

/** How a backup file says its key is wrapped. */
type Header =
  | { v: 1; to: 'identity'; id: string; key: string; signer: string; nonce: string }
  | { v: 1; to: 'passphrase'; kdf: 'scrypt'; logN: number; r: number; p: number; salt: string; keyNonce: string; key: string; signer: string; nonce: string };

function scryptKey(passphrase: SecretBytes, salt: Uint8Array, logN: number, r: number, p: number): Uint8Array {
  const N = 2 ** logN;
  // maxmem: scrypt needs 128 * N * r bytes; node's default cap (32 MiB) is below ours.
  return new Uint8Array(scryptSync(passphrase.reveal(), salt, FILE_KEY_BYTES, { N, r, p, maxmem: 128 * N * r + 1024 * 1024 }));
}

function bad(why: string): SecretsError {
  return new SecretsError('INTEGRITY', `not a valid backup, or damaged: ${why}`, 'use the file exactly as `secrets export --format backup` wrote it');
}

/** Encrypts `payload` for `lock`, signed by `signer`. */
export function sealBackup(payload: Uint8Array, lock: BackupLock, signer: Identity): string {
  const fileKey = new Uint8Array(randomBytes(FILE_KEY_BYTES));
  const nonce = toBase64(new Uint8Array(randomBytes(NONCE_BYTES)));
  const signerLine = encodePublicIdentity(signer);
  try {
    let header: Header;
    if ('recipient' in lock) {
      header = { v: 1, to: 'identity', id: lock.recipient.id, key: toBase64(boxSeal(fileKey, lock.recipient.enc)), signer: signerLine, nonce };
    } else {
      const salt = new Uint8Array(randomBytes(SALT_BYTES));
      const keyNonce = new Uint8Array(randomBytes(NONCE_BYTES));
      const logN = Math.log2(SCRYPT.N);
      const kek = scryptKey(lock.passphrase, salt, logN, SCRYPT.r, SCRYPT.p);
      try {
        const params = frame([PASSPHRASE_DOMAIN, String(logN), String(SCRYPT.r), String(SCRYPT.p)]);
        const key = toBase64(aeadEncrypt(fileKey, params, keyNonce, kek));
        header = {
          v: 1,
          to: 'passphrase',
          kdf: 'scrypt',
          logN,
          r: SCRYPT.r,
          p: SCRYPT.p,
          salt: toBase64(salt),
          keyNonce: toBase64(keyNonce),
          key,
          signer: signerLine,
          nonce,
        };
      } finally {
        kek.fill(0);
      }
    }
    const headerLine = JSON.stringify(header);
    const body = toBase64(aeadEncrypt(payload, frame([BACKUP_MAGIC, headerLine]), fromBase64(nonce) as Uint8Array, fileKey));
    const sig = signDetached(frame([SIGNATURE_DOMAIN, headerLine, body]), signer.signSecret.reveal());
    return `${BACKUP_MAGIC}\n${headerLine}\n${body}\n${toBase64(sig)}\n`;
  } finally {
    fileKey.fill(0);
  }
}

function b64(h: Record<string, unknown>, key: string, length?: number): Uint8Array {
  const v = h[key];
  const bytes = typeof v === 'string' ? fromBase64(v) : undefined;
  if (!bytes || (length !== undefined && bytes.length !== length)) throw bad(`header field ${key} is missing or malformed`);
  return bytes;
}

function parseHeader(line: string): Header {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw bad('the header is not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('the header is not an object');
  const h = raw as Record<string, unknown>;
  const fields =
    h['to'] === 'identity'
      ? ['v', 'to', 'id', 'key', 'signer', 'nonce']
      : h['to'] === 'passphrase'
        ? ['v', 'to', 'kdf', 'logN', 'r', 'p', 'salt', 'keyNonce', 'key', 'signer', 'nonce']
        : undefined;
  if (!fields) throw bad('the header says neither identity nor passphrase');
  const keys = Object.keys(h);
  if (h['v'] !== 1 || keys.length !== fields.length || !keys.every((k, i) => k === fields[i])) throw bad('unknown header version or fields');
  if (typeof h['signer'] !== 'string' || h['signer'].length > 200) throw bad('header field signer is malformed');
  b64(h, 'nonce', NONCE_BYTES);
  b64(h, 'key');
  if (h['to'] === 'identity') {
    if (typeof h['id'] !== 'string' || !/^[0-9a-f]{16}$/.test(h['id'])) throw bad('header field id is malformed');
  } else {
    const { logN, r, p } = h;
    if (h['kdf'] !== 'scrypt') throw bad('unknown passphrase KDF');
    // Never weaker than what we write, never more than a reader can afford.
    if (typeof logN !== 'number' || !Number.isInteger(logN) || logN < Math.log2(SCRYPT.N) || logN > SCRYPT_MAX_LOG_N || r !== SCRYPT.r || p !== SCRYPT.p) {
      throw bad('scrypt parameters out of range');
    }
    b64(h, 'salt', SALT_BYTES);
    b64(h, 'keyNonce', NONCE_BYTES);
  }
  return h as unknown as Header;
}

/** What a backup file says before it is opened: who signed it and how it is locked. */
export interface BackupEnvelope {
  readonly header: Header;
  readonly headerLine: string;
  readonly body: Uint8Array;
  readonly signer: PublicIdentity;
}

/** Parses a backup file and checks its signature; nothing is decrypted yet. */
export async function readBackupEnvelope(text: string): Promise<BackupEnvelope> {
  if (text.length > MAX_BACKUP_BYTES) throw bad('the file is larger than any backup');
  const lines = text.split('\n');
  if (lines[0] !== BACKUP_MAGIC) throw bad(`it does not start with ${BACKUP_MAGIC}`);
  if (lines.length !== 5 || lines[4] !== '') throw bad('it does not have four lines');
  const [, headerLine, bodyLine, sigLine] = lines as [string, string, string, string, string];
  const header = parseHeader(headerLine);
  const body = fromBase64(bodyLine);
  const sig = fromBase64(sigLine);
  if (!body || !sig) throw bad('the body or the signature is not base64');
  let signer: PublicIdentity;
  try {
    signer = await decodePublicIdentity(header.signer);
  } catch {
    throw bad('the signer is not a public identity');
  }
  if (!verifyDetached(sig, frame([SIGNATURE_DOMAIN, headerLine, bodyLine]), signer.sign)) throw bad('the signature does not verify (the file was altered)');
  return { header, headerLine, body, signer };
}

/** The way a backup is locked, for messages and to pick how to open it. */
export function backupLockKind(envelope: BackupEnvelope): { kind: 'identity'; id: string } | { kind: 'passphrase' } {
  return envelope.header.to === 'identity' ? { kind: 'identity', id: envelope.header.id } : { kind: 'passphrase' };
}

/** Decrypts the payload with `key`: the identity the file is sealed to, or the passphrase. */
export function openBackup(envelope: BackupEnvelope, key: { identity: Identity } | { passphrase: SecretBytes }): Uint8Array {
  const h = envelope.header;
  let fileKey: Uint8Array;
  const wrapped = fromBase64(h.key) as Uint8Array;
  if (h.to === 'identity') {
    if (!('identity' in key))
      throw new SecretsError('USAGE', 'this backup is encrypted to an identity, not a passphrase', 'run the import with the identity it was exported to');
    if (h.id !== key.identity.id) {
      throw new SecretsError(
        'DECRYPTION_FAILED',
        `this backup is encrypted to identity ${h.id}, not to this one (${key.identity.id})`,
        'import it with the identity it was exported to (SECRETS_IDENTITY_FILE)',
      );
    }
    try {
      fileKey = boxSealOpen(wrapped, key.identity.enc, key.identity.encSecret.reveal());
    } catch {
      throw bad('the file key does not open with this identity');
    }
  } else {
    if (!('passphrase' in key))
      throw new SecretsError('USAGE', 'this backup is encrypted to a passphrase', 'pass --passphrase-file FILE, or run on a terminal to be asked');
    const kek = scryptKey(key.passphrase, fromBase64(h.salt) as Uint8Array, h.logN, h.r, h.p);
    try {
      fileKey = aeadDecrypt(wrapped, frame([PASSPHRASE_DOMAIN, String(h.logN), String(h.r), String(h.p)]), fromBase64(h.keyNonce) as Uint8Array, kek);
    } catch {
      throw new SecretsError('DECRYPTION_FAILED', 'wrong passphrase, or the file was altered', 'check the passphrase; nothing was written');
    } finally {
      kek.fill(0);
    }
  }
  try {
    if (fileKey.length !== FILE_KEY_BYTES) throw bad('the file key has the wrong length');
    return aeadDecrypt(envelope.body, frame([BACKUP_MAGIC, envelope.headerLine]), fromBase64(h.nonce) as Uint8Array, fileKey);
  } catch (err) {
    if (err instanceof SecretsError) throw err;
    throw bad('the body does not decrypt (the file was altered)');
  } finally {
    fileKey.fill(0);
  }
}
