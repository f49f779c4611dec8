/**
 * How the store, the identity provider and the audit log reach the file system on the read
 * path. The CLI uses `SYNC_FILES`: one command runs and nothing else waits, so synchronous calls
 * are the fastest. The library uses `ASYNC_FILES`: in a server, every call goes through the
 * thread pool, and long CPU work (hashing a large vault) pauses between steps, so the event loop
 * keeps turning. Both run the same code; only how bytes are read and written differs.
 */
import {
  type BigIntStats,
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  promises as fsp,
  readFileSync,
  readSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';

/** An open file, read and written at explicit positions. */
export interface OpenFile {
  stat(): Promise<BigIntStats>;
  /** Reads into `buf` from `position` until it is full or the file ends; returns the bytes read. */
  read(buf: Buffer, position: number): Promise<number>;
  /** Writes all of `bytes` at the current position (the end, for O_APPEND). */
  write(bytes: Uint8Array): Promise<void>;
  truncate(length: number): Promise<void>;
  /** fsync: returns once the file's data is durable. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file operations the read path needs. */
export interface FileAccess {
  open(path: string, flags: number, mode?: number): Promise<OpenFile>;
  stat(path: string): Promise<Stats>;
  lstat(path: string): Promise<Stats>;
  readFile(path: string): Promise<Buffer>;
  mkdir(path: string, mode: number): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Lets other work run between long pieces of CPU work (a no-op for synchronous access). */
  pause(): Promise<void>;
}

/** Synchronous calls behind the same interface: no event-loop turn between them. */
export const SYNC_FILES: FileAccess = {
  async open(path, flags, mode) {
    const fd = openSync(path, flags, mode);
    return {
      async stat() {
        return fstatSync(fd, { bigint: true });
      },
      async read(buf, position) {
        let at = 0;
        for (let n = -1; at < buf.length && n !== 0; at += n) n = readSync(fd, buf, at, buf.length - at, position + at);
        return at;
      },
      async write(bytes) {
        for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
      },
      async truncate(length) {
        ftruncateSync(fd, length);
      },
      async sync() {
        fsyncSync(fd);
      },
      async close() {
        closeSync(fd);
      },
    };
  },
  async stat(path) {
    return statSync(path);
  },
  async lstat(path) {
    return lstatSync(path);
  },
  async readFile(path) {
    return readFileSync(path);
  },
  async mkdir(path, mode) {
    mkdirSync(path, { recursive: true, mode });
  },
  async unlink(path) {
    unlinkSync(path);
  },
  async rename(from, to) {
    renameSync(from, to);
  },
  pause: () => Promise.resolve(),
};

/** fs.promises: every call runs on the thread pool while the event loop turns. */
export const ASYNC_FILES: FileAccess = {
  async open(path, flags, mode) {
    const fh = await fsp.open(path, flags, mode);
    return {
      stat: () => fh.stat({ bigint: true }),
      async read(buf, position) {
        let at = 0;
        for (let n = -1; at < buf.length && n !== 0; at += n) n = (await fh.read(buf, at, buf.length - at, position + at)).bytesRead;
        return at;
      },
      async write(bytes) {
        for (let at = 0; at < bytes.length;) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten;
      },
      truncate: (length) => fh.truncate(length),
      sync: () => fh.sync(),
      close: () => fh.close(),
    };
  },
  stat: (path) => fsp.stat(path),
  lstat: (path) => fsp.lstat(path),
  readFile: (path) => fsp.readFile(path),
  async mkdir(path, mode) {
    await fsp.mkdir(path, { recursive: true, mode });
  },
  unlink: (path) => fsp.unlink(path),
  rename: (from, to) => fsp.rename(from, to),
  pause: () => new Promise((resolve) => setImmediate(resolve)),
};

/**
 * Bytes read and hashed per step. A step of 1 MiB takes well under a millisecond to hash, so
 * a server's loop waits no longer than that between turns, and a small vault is one step.
 */
export const STEP_BYTES = 1 << 20;

/** fsyncs a directory so a create or rename in it survives a crash. */
export async function syncDirectory(files: FileAccess, dir: string): Promise<void> {
  const file = await files.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}
