/**
 * Test support for `secrets serve`: starts the built binary as a child process in a sandbox,
 * reads its `--json` line, and signs requests to it with the AWS SDK's own SigV4 signer.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { request } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { BIN, TEST_HOOKS_BUNDLE } from './cli.js';

/** What `secrets serve --json` prints, plus the credentials of `aws-credentials --json`. */
export interface Served {
  readonly endpoint: string;
  readonly accountId: string;
  readonly accessKeyId: string;
  readonly region: string;
  readonly child: ChildProcess;
  /** Everything the server wrote on stderr so far. */
  stderr(): string;
  /** SIGTERM, then the exit code and stderr. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; stderr: string }>;
}

/** Starts `secrets serve --port 0 --json` with `env` and resolves once it listens. */
export function startServe(env: Record<string, string>, args: readonly string[] = []): Promise<Served> {
  // A fixed clock needs the build with test hooks (as runCli chooses it).
  const entry = env['SECRETS_TEST_NOW'] !== undefined ? TEST_HOOKS_BUNDLE : BIN;
  const child = spawn(process.execPath, [entry, 'serve', '--port', '0', '--json', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`secrets serve did not start:\n${err}`)), 20_000);
    // Ready once both the --json line (stdout) and "Listening on" (stderr) have arrived.
    const ready = (): void => {
      const nl = out.indexOf('\n');
      if (nl < 0 || !err.includes('Listening on ')) return;
      clearTimeout(timer);
      const info = JSON.parse(out.slice(0, nl)) as { endpoint: string; accountId: string; accessKeyId: string; region: string };
      resolve({
        ...info,
        child,
        stderr: () => err,
        async stop(signal: NodeJS.Signals = 'SIGTERM') {
          child.kill(signal);
          const code = await exited;
          return { code, stderr: err };
        },
      });
    };
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      ready();
    });
    child.stderr.on('data', () => ready());
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`secrets serve exited ${code}:\n${err}`));
    });
  });
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The SDK signer's hash interface over node:crypto. */
class Sha256 {
  readonly #h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#h = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#h.digest());
  }
}

/** Credentials a client signs with. */
export interface Keys {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** An HTTP response. */
export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

/** Sends raw bytes to the server and reads the reply. */
export function send(endpoint: string, method: string, path: string, headers: Record<string, string>, body: string | Buffer = ''): Promise<Reply> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // not JSON (the agent's refusals)
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Signs and sends one Secrets Manager operation, as an SDK would. */
export async function call(
  endpoint: string,
  keys: Keys,
  op: string,
  input: unknown,
  opts: { region?: string; date?: Date; body?: string } = {},
): Promise<Reply> {
  const url = new URL(endpoint);
  const body = opts.body ?? JSON.stringify(input);
  const signer = new SignatureV4({ service: 'secretsmanager', region: opts.region ?? 'us-east-1', credentials: keys, sha256: Sha256 });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `secretsmanager.${op}` },
      body,
    },
    opts.date ? { signingDate: opts.date } : {},
  );
  return send(endpoint, 'POST', '/', signed.headers, body);
}
