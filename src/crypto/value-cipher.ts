/** The core's ValueCipher port over the envelope module and base64 record fields. */
import { SecretsError } from '../core/errors.js';
import type { VersionRecord } from '../core/model.js';
import type { Identity, PublicIdentity, ValueCipher } from '../core/ports.js';
import type { SecretBytes } from '../core/secret-bytes.js';
import { fromBase64, toBase64 } from './encoding.js';
import { openValue, sealValue, type SealedValue, shareDataKey, type ValueContext } from './envelope.js';
import { x25519SmallOrder } from './primitives.js';

function bytes(field: string, text: string): Uint8Array {
  const b = fromBase64(text);
  if (!b) throw new SecretsError('INTEGRITY', `field ${field} is not valid base64`);
  return b;
}

function sealedOf(version: VersionRecord): SealedValue {
  const keys = new Map<string, Uint8Array>();
  for (const [id, key] of version.keys) keys.set(id, bytes('keys', key));
  return { nonce: bytes('n', version.n), ciphertext: bytes('ct', version.ct), keys };
}

function contextOf(version: VersionRecord, vaultId: string): ValueContext {
  const base = { vaultId, secretId: version.secret, versionId: version.id, type: version.type };
  return version.bound !== undefined ? { ...base, bound: { vault: version.bound, writer: version.by } } : base;
}

/** libsodium envelope encryption with base64 fields, as stored in version records. */
export class SodiumValueCipher implements ValueCipher {
  async seal(value: SecretBytes, ctx: ValueContext, readers: readonly PublicIdentity[]): Promise<{ n: string; ct: string; keys: ReadonlyMap<string, string> }> {
    const sealed = await sealValue(value, ctx, readers);
    const keys = new Map<string, string>();
    for (const [id, key] of sealed.keys) keys.set(id, toBase64(key));
    return { n: toBase64(sealed.nonce), ct: toBase64(sealed.ciphertext), keys };
  }

  async open(version: VersionRecord, vaultId: string, identity: Identity): Promise<SecretBytes> {
    return openValue(sealedOf(version), contextOf(version, vaultId), identity);
  }

  async shareKey(version: VersionRecord, vaultId: string, identity: Identity, readers: readonly PublicIdentity[]): Promise<ReadonlyMap<string, string>> {
    const keys = await shareDataKey(sealedOf(version), contextOf(version, vaultId), identity, readers);
    return new Map([...keys].map(([id, key]) => [id, toBase64(key)]));
  }

  memberIdentity(member: { id: string; enc: string; sign: string }): PublicIdentity {
    const enc = bytes('enc', member.enc);
    // `member add` refuses such a key; a vault file can still hold one (an older version let it
    // in, or the file was edited). Sealing a data key to it would hand the key to anyone. A
    // merely non-canonical key, also refused by `member add`, still seals safely: not blocked.
    if (x25519SmallOrder(enc)) {
      throw new SecretsError(
        'INTEGRITY',
        `member ${member.id} has an encryption key of small order: refusing to seal a data key to it`,
        `remove that member with \`secrets member remove ${member.id}\``,
      );
    }
    return { id: member.id, enc, sign: bytes('sign', member.sign) };
  }
}
