/**
 * Per-machine files that only their writer can have written: a magic line, one line of text,
 * and HMAC-SHA-256 (hex) over both under a key derived from the identity. The verified state's
 * header and the trust floor are such files; their directories are private (0700) and every
 * write is atomic.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { storageError, writeFileAtomic } from './atomic.js';
import { type FileAccess, SYNC_FILES } from './file-access.js';

/** What a MAC'd file held: its text, or that there is no file, or that it does not check. */
export type Checked = { readonly text: string } | 'missing' | 'forged';

/** One private directory of files, some of them MAC'd under one key. */
export class MacFiles {
  readonly #dir: string;
  readonly #key: Uint8Array;
  readonly #files: FileAccess;
  readonly #durable: boolean;

  /**
   * `files` serves the reads; writes are synchronous and atomic, and fsynced unless `durable`
   * is false (a cache, whose reader rebuilds whatever a crash lost).
   */
  constructor(dir: string, key: Uint8Array, files: FileAccess = SYNC_FILES, durable = true) {
    this.#dir = dir;
    this.#key = key;
    this.#files = files;
    this.#durable = durable;
  }

  /** A file of this directory. */
  path(name: string): string {
    return join(this.#dir, name);
  }

  #mac(magic: string, text: string): Buffer {
    return createHmac('sha256', this.#key).update(magic).update(text).digest();
  }

  /** A file's text, undefined when it is missing; STORAGE for other failures. */
  async read(name: string): Promise<string | undefined> {
    try {
      return (await this.#files.readFile(this.path(name))).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storageError(err, 'read', this.path(name));
    }
  }

  /** Writes a file atomically, mode 0600, in the directory (`name` may hold a subdirectory; made 0700 if needed). */
  write(name: string, text: string | Uint8Array): void {
    mkdirSync(dirname(this.path(name)), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.path(name), text, 'replace', this.#durable);
  }

  /** The text of a file `writeChecked` wrote with this key and magic. */
  async readChecked(name: string, magic: string): Promise<Checked> {
    const raw = await this.read(name);
    if (raw === undefined) return 'missing';
    if (!raw.startsWith(magic)) return 'forged';
    const [text, mac, rest] = raw.slice(magic.length).split('\n');
    if (text === undefined || mac === undefined || rest !== '' || !/^[0-9a-f]{64}$/.test(mac)) return 'forged';
    return timingSafeEqual(this.#mac(magic, text), Buffer.from(mac, 'hex')) ? { text } : 'forged';
  }

  /** Writes `text` (one line) with its magic and MAC. */
  writeChecked(name: string, magic: string, text: string): void {
    this.write(name, `${magic}${text}\n${this.#mac(magic, text).toString('hex')}\n`);
  }
}
