/** The process's streams and environment, behind one interface so commands never touch `process`. */
import { ExitCode } from '../core/errors.js';

/** What commands may read from and write to. */
export interface Io {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdinIsTTY: boolean;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  /** Reads all of stdin as bytes. */
  readStdin(): Promise<Uint8Array>;
  writeOut(data: string | Uint8Array): void;
  writeErr(data: string | Uint8Array): void;
}

/** The real process. */
export function processIo(): Io {
  // A reader that goes away (`secrets audit export | head`) is not an error of ours: stop quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.ok);
    throw err;
  });
  return {
    env: process.env,
    stdinIsTTY: process.stdin.isTTY === true,
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    async readStdin(): Promise<Uint8Array> {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return new Uint8Array(Buffer.concat(chunks));
    },
    writeOut(data: string | Uint8Array): void {
      process.stdout.write(data);
    },
    writeErr(data: string | Uint8Array): void {
      process.stderr.write(data);
    },
  };
}
