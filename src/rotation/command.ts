/**
 * The `command:PATH` handler: any executable, run once per step as `PATH STEP`, never through a
 * shell. It reads one JSON event on stdin:
 *
 *   {"SecretId","Name","ClientRequestToken","Step","Current","Pending"?,"Previous"?}
 *
 * where the values are strings (or `CurrentBinary`… in base64 for binary values). Values are
 * never on its argv or in its environment, and our identity key is removed from the
 * environment it inherits. Exit 0 is success. At createSecret, what it prints on stdout is the
 * new value (one trailing newline removed); printing nothing asks for a generated password, as
 * the `password` handler makes. Its stderr goes to ours, so the person sees it; it is never
 * put in the audit log or in our error messages.
 */
import { spawn } from 'node:child_process';
import { SecretsError } from '../core/errors.js';
import type { PendingRequest, RotationHandler, RotationRequest, RotationStep } from '../core/rotation.js';
import { SecretBytes } from '../core/secret-bytes.js';
import { passwordOptionsOf, withNewPassword } from './password.js';

/** How long one step may run before it is stopped. */
const STEP_TIMEOUT_MS = 10 * 60_000;
/** A new value is at most 64 KiB (the vault's limit); more output is refused. */
const MAX_OUTPUT_BYTES = 64 * 1024 + 2;

/** Variables a rotation command never inherits: they would hand it our identity. */
const WITHHELD = ['SECRETS_IDENTITY_KEY', 'SECRETS_FAULT_KILL'];

function valueFields(label: string, value: SecretBytes | undefined): Record<string, string> {
  if (value === undefined) return {};
  const text = value.revealText();
  return text !== undefined ? { [label]: text } : { [`${label}Binary`]: Buffer.from(value.reveal()).toString('base64') };
}

/** Runs the executable at `path` for each step. */
export class CommandRotation implements RotationHandler {
  readonly #path: string;
  readonly #env: Readonly<Record<string, string | undefined>>;

  constructor(path: string, env: Readonly<Record<string, string | undefined>>) {
    this.#path = path;
    this.#env = env;
  }

  async createSecret(req: RotationRequest): Promise<SecretBytes> {
    const out = await this.#run(req, true);
    if (out.length === 0) return withNewPassword(req.current, passwordOptionsOf(req.config));
    const trimmed = out[out.length - 1] === 0x0a ? out.subarray(0, out[out.length - 2] === 0x0d ? -2 : -1) : out;
    return new SecretBytes(new Uint8Array(trimmed));
  }

  async setSecret(req: PendingRequest): Promise<void> {
    await this.#run(req, false);
  }

  async testSecret(req: PendingRequest): Promise<void> {
    await this.#run(req, false);
  }

  async finishSecret(req: PendingRequest): Promise<void> {
    await this.#run(req, false);
  }

  #run(req: RotationRequest, wantOutput: boolean): Promise<Buffer> {
    const step: RotationStep = req.step;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.#env)) if (v !== undefined && !WITHHELD.includes(k)) env[k] = v;
    const event = JSON.stringify({
      SecretId: req.secretId,
      Name: req.name,
      ClientRequestToken: req.token,
      Step: step,
      ...valueFields('Current', req.current),
      ...valueFields('Pending', req.pending),
      ...valueFields('Previous', req.previous),
    });
    return new Promise((resolve, reject) => {
      const child = spawn(this.#path, [step], { env, stdio: ['pipe', wantOutput ? 'pipe' : 'ignore', 'inherit'] });
      const chunks: Buffer[] = [];
      let size = 0;
      let tooBig = false;
      const timer = setTimeout(() => child.kill('SIGTERM'), STEP_TIMEOUT_MS);
      child.stdout?.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_OUTPUT_BYTES) {
          tooBig = true;
          child.kill('SIGTERM');
        } else chunks.push(d);
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new SecretsError('ROTATION_FAILED', `cannot run ${this.#path}: ${err.code ?? err.message}`, 'check the path and that it is executable'));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (tooBig) return reject(new SecretsError('ROTATION_FAILED', `${this.#path} printed more than the 64 KiB a value may hold`));
        if (code === 0) return resolve(Buffer.concat(chunks));
        reject(new SecretsError('ROTATION_FAILED', signal ? `${this.#path} ${step} was killed by ${signal}` : `${this.#path} ${step} exited ${code ?? '?'}`));
      });
      // A command that does not read its event must not crash us with EPIPE.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(event);
    });
  }
}
