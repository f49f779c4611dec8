/**
 * Finds this machine's identity, in this order (README "Where things live", ADR 0003):
 * SECRETS_IDENTITY_KEY, then --identity-file / SECRETS_IDENTITY_FILE, then the 0600 fallback file
 * $XDG_CONFIG_HOME/secrets/identity.key (written by `init` when no keychain is reachable) if it
 * exists, then the OS keychain entry that $XDG_CONFIG_HOME/secrets/identity.json names. A keychain
 * that is unreachable, or locked, is exit 7 naming the fallbacks; it never reads as "no identity".
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SecretsError } from '../core/errors.js';
import type { Identity, IdentityProvider, Keychain, LoadedIdentity } from '../core/ports.js';
import { SecretBytes } from '../core/secret-bytes.js';
import { decodeKey, encodeKey, generateSeed, identityFromSeed } from '../crypto/identity.js';
import { storageError, writeFileAtomic } from '../store/atomic.js';
import { type FileAccess, SYNC_FILES } from '../store/file-access.js';

/** Where the identity sources are. */
export interface IdentityProviderOptions {
  /** Value of SECRETS_IDENTITY_KEY, if set. */
  readonly envKey: string | undefined;
  /** --identity-file or SECRETS_IDENTITY_FILE, if given. */
  readonly identityFile: string | undefined;
  /** $XDG_CONFIG_HOME/secrets */
  readonly configDir: string;
  /** Created lazily: the keychain module loads only when needed. */
  readonly keychain: () => Keychain;
  /** How key and pointer files are read (default synchronous; the library passes ASYNC_FILES). */
  readonly files?: FileAccess;
}

/** The pointer file that records which identity this machine uses and where its key is. */
interface IdentityPointer {
  readonly id: string;
  readonly store: 'keychain';
  readonly created: string;
}

const FALLBACK_FILE = 'identity.key';
const POINTER_FILE = 'identity.json';

/** Reads a key file: comment lines start with '#'; the key is the one other line. */
async function readKeyFile(files: FileAccess, path: string, label: string): Promise<SecretBytes> {
  let text: string;
  try {
    const st = await files.lstat(path);
    if (!st.isFile()) throw new SecretsError('IDENTITY_UNAVAILABLE', `${label} ${path} is not a regular file`);
    text = (await files.readFile(path)).toString('utf8');
  } catch (err) {
    if (err instanceof SecretsError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SecretsError('IDENTITY_UNAVAILABLE', `${label} ${path} does not exist`);
    throw new SecretsError('IDENTITY_UNAVAILABLE', `cannot read ${label} ${path}: ${code ?? 'error'}`, `check the permissions of ${path}`);
  }
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  return decodeKey(lines.length === 1 ? (lines[0] as string) : '', `${label} ${path}`);
}

function keyFileText(key: SecretBytes, id: string, note: string): string {
  return `# secrets identity ${id}\n# ${note}\n${new TextDecoder().decode(key.reveal())}\n`;
}

/**
 * A new identity for a CI runner or another machine (`secrets identity new`). Its key is
 * returned once, as the text of a key file and as the bare key line; it is stored nowhere.
 */
export async function createMachineIdentity(name: string): Promise<{ identity: Identity; keyLine: SecretBytes; keyFile: SecretBytes }> {
  const seed = generateSeed();
  const identity = await identityFromSeed(seed);
  const keyLine = encodeKey(seed);
  const keyFile = SecretBytes.fromString(
    keyFileText(keyLine, identity.id, `machine identity "${name}": give it to that machine only, as --identity-file or SECRETS_IDENTITY_KEY.`),
  );
  return { identity, keyLine, keyFile };
}

/** Writes a new key file (0600); refuses to replace an existing file. */
export function writeNewKeyFile(path: string, keyFile: SecretBytes): void {
  if (existsSync(path)) {
    throw new SecretsError('ALREADY_EXISTS', `${path} already exists`, 'pick another --out path; an identity key file is never overwritten');
  }
  try {
    writeFileAtomic(path, keyFile.reveal());
  } catch (err) {
    throw err instanceof SecretsError ? err : storageError(err, 'write', path);
  }
}

/** The identity provider over env, files and the OS keychain. */
export class DefaultIdentityProvider implements IdentityProvider {
  readonly #opts: IdentityProviderOptions;
  readonly #files: FileAccess;

  constructor(opts: IdentityProviderOptions) {
    this.#opts = opts;
    this.#files = opts.files ?? SYNC_FILES;
  }

  get fallbackPath(): string {
    return join(this.#opts.configDir, FALLBACK_FILE);
  }

  get pointerPath(): string {
    return join(this.#opts.configDir, POINTER_FILE);
  }

  async #pointer(): Promise<IdentityPointer | undefined> {
    let text: string;
    try {
      text = (await this.#files.readFile(this.pointerPath)).toString('utf8');
    } catch {
      return undefined;
    }
    try {
      const raw = JSON.parse(text) as Partial<IdentityPointer>;
      if (typeof raw.id === 'string' && /^[0-9a-f]{16}$/.test(raw.id) && raw.store === 'keychain') {
        return { id: raw.id, store: 'keychain', created: String(raw.created ?? '') };
      }
    } catch {
      // fall through
    }
    throw new SecretsError('IDENTITY_UNAVAILABLE', `${this.pointerPath} is damaged`, 'restore it, or use SECRETS_IDENTITY_KEY or --identity-file');
  }

  async #fallbackExists(): Promise<boolean> {
    try {
      await this.#files.lstat(this.fallbackPath);
      return true;
    } catch {
      return false;
    }
  }

  /** Loads the identity, or returns undefined when this machine has none at all. */
  async #find(): Promise<LoadedIdentity | undefined> {
    const { envKey, identityFile } = this.#opts;
    if (envKey !== undefined && envKey !== '') {
      const identity = await identityFromSeed(decodeKey(envKey, 'SECRETS_IDENTITY_KEY'));
      return { identity, source: 'env', where: 'SECRETS_IDENTITY_KEY' };
    }
    if (identityFile !== undefined && identityFile !== '') {
      const identity = await identityFromSeed(await readKeyFile(this.#files, identityFile, 'identity file'));
      return { identity, source: 'file', where: identityFile };
    }
    if (await this.#fallbackExists()) {
      const identity = await identityFromSeed(await readKeyFile(this.#files, this.fallbackPath, 'identity file'));
      return { identity, source: 'fallback-file', where: this.fallbackPath };
    }
    const pointer = await this.#pointer();
    if (!pointer) return undefined;
    const keychain = this.#opts.keychain();
    const stored = await keychain.get(pointer.id);
    if (stored === null) {
      throw new SecretsError(
        'IDENTITY_UNAVAILABLE',
        `the OS keychain returned no key for identity ${pointer.id}: the keyring may be locked, or the entry was removed`,
        'unlock your keyring and retry, or use SECRETS_IDENTITY_KEY or --identity-file',
      );
    }
    const identity = await identityFromSeed(decodeKey(stored, 'the OS keychain entry'));
    if (identity.id !== pointer.id) {
      throw new SecretsError('IDENTITY_UNAVAILABLE', `the OS keychain entry for ${pointer.id} holds a different key (${identity.id})`);
    }
    return { identity, source: 'keychain', where: `${keychain.description} (service "secrets", account ${pointer.id})` };
  }

  async load(): Promise<LoadedIdentity> {
    const found = await this.#find();
    if (!found) {
      throw new SecretsError('IDENTITY_UNAVAILABLE', 'this machine has no identity yet', 'run `secrets init`, or set SECRETS_IDENTITY_KEY / --identity-file');
    }
    return found;
  }

  async loadOrCreate(warn: (message: string) => void): Promise<LoadedIdentity & { readonly created: boolean }> {
    const found = await this.#find();
    if (found) return { ...found, created: false };
    const seed = generateSeed();
    const identity = await identityFromSeed(seed);
    const key = encodeKey(seed);
    const keyText = new TextDecoder().decode(key.reveal());
    mkdirSync(this.#opts.configDir, { recursive: true, mode: 0o700 });
    let reason: string;
    try {
      const keychain = this.#opts.keychain();
      await keychain.set(identity.id, keyText);
      const back = await keychain.get(identity.id);
      if (back === keyText) {
        const pointer: IdentityPointer = { id: identity.id, store: 'keychain', created: new Date().toISOString() };
        writeFileAtomic(this.pointerPath, `${JSON.stringify(pointer, null, 2)}\n`);
        return { identity, source: 'keychain', where: `${keychain.description} (service "secrets", account ${identity.id})`, created: true };
      }
      reason = 'the keychain did not return the stored key (is the keyring locked?)';
      await keychain.delete(identity.id).catch(() => false);
    } catch (err) {
      if (!(err instanceof SecretsError) || err.code !== 'KEYCHAIN_UNAVAILABLE') throw err;
      reason = err.message.replace(/^the OS keychain is not reachable: /, '');
    }
    try {
      writeFileAtomic(this.fallbackPath, keyFileText(key, identity.id, 'UNENCRYPTED identity key: keep this file private (mode 0600) and backed up.'));
    } catch (err) {
      throw err instanceof SecretsError ? err : storageError(err, 'write', this.fallbackPath);
    }
    warn(
      `no OS keychain is reachable (${reason}).\n` +
        `  Your identity key is stored UNENCRYPTED in ${this.fallbackPath} (mode 0600).\n` +
        '  Anyone who can read that file can read your secrets: keep it off shared disks and out of backups you do not\n' +
        '  control, or use SECRETS_IDENTITY_KEY from a secret store instead. `secrets doctor` will keep flagging this.',
    );
    return { identity, source: 'fallback-file', where: this.fallbackPath, created: true };
  }
}
