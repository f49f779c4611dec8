/**
 * AWS-style credentials for `secrets serve`, derived from the identity's seed and the vault id
 * (docs/decisions/0019-aws-api-server.md): nothing is stored, the same identity and vault always
 * give the same keys, and another identity (or a new one) gives others. Each value is an
 * HMAC-SHA256 of the seed over a domain string naming what it is for, so knowing one of them
 * (the access key id is not secret) says nothing about the others or about the seed.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Identity } from '../core/ports.js';

/** Domain separation: a change here changes every derived credential. */
const DOMAIN = 'secrets-serve-v1';

/**
 * AWS access key ids are 20 characters; `AKIA` is AWS's prefix for long-term access keys. The
 * same prefix keeps SDKs and secret scanners (which look for `AKIA…`) treating it as one.
 */
const ACCESS_KEY_PREFIX = 'AKIA';
const ACCESS_KEY_LENGTH = 20;
/** AWS secret access keys are 40 characters of base64. */
const SECRET_KEY_LENGTH = 40;
/** AWS account ids are 12 digits. */
const ACCOUNT_DIGITS = 12;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** What a client signs with, and the agent protocol's token. */
export interface ServeCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly agentToken: string;
  /** The vault's 12-digit account id (in ARNs); derived from the vault id alone. */
  readonly accountId: string;
}

function derive(identity: Identity, vaultId: string, purpose: string): Buffer {
  const seed = identity.seed.reveal();
  return createHmac('sha256', seed).update(`${DOMAIN}\0${purpose}\0${vaultId}`).digest();
}

function base32(bytes: Uint8Array, length: number): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** The credentials of `identity` for the vault `vaultId`. */
export function serveCredentials(identity: Identity, vaultId: string): ServeCredentials {
  return {
    accessKeyId: ACCESS_KEY_PREFIX + base32(derive(identity, vaultId, 'access-key-id'), ACCESS_KEY_LENGTH - ACCESS_KEY_PREFIX.length),
    secretAccessKey: derive(identity, vaultId, 'secret-access-key').toString('base64').slice(0, SECRET_KEY_LENGTH),
    agentToken: derive(identity, vaultId, 'agent-token').toString('base64url'),
    accountId: accountIdOf(vaultId),
  };
}

/** A 12-digit account id for the vault (not secret: it appears in every ARN). */
export function accountIdOf(vaultId: string): string {
  const digest = createHash('sha256').update(`${DOMAIN}\0account\0${vaultId}`).digest();
  const n = digest.readBigUInt64BE(0) % 10n ** BigInt(ACCOUNT_DIGITS);
  return n.toString().padStart(ACCOUNT_DIGITS, '0');
}
