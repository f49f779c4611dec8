/**
 * The `command:NAME` handler: the program this machine allowed under NAME, run once per step as
 * `PROGRAM STEP`, never through a shell, in an empty private directory of its own (never the
 * caller's working directory, whose files a vault's writer may have chosen). It reads one JSON
 * event on stdin:
 *
 *   {"SecretId","Name","ClientRequestToken","Step","Current","Pending"?,"Previous"?}
 *
 * where the values are strings (or `CurrentBinary`… in base64 for binary values). Values are
 * never on its argv or in its environment, and the variables that lead to our identity are
 * removed from the environment it inherits. Exit 0 is success. At createSecret, what it prints on stdout is the
 * new value (one trailing newline removed); printing nothing asks for a generated password, as
 * the `password` handler makes. Its stderr goes to ours, so the person sees it; it is never
 * put in the audit log or in our error messages.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretsError } from '../core/errors.js';
import type { RotationHandler } from '../core/ports.js';
import { leadsToIdentity } from '../core/protected-variables.js';
import type { PendingRequest, RotationRequest, RotationStep } from '../core/rotation.js';
import { SecretBytes } from '../core/secret-bytes.js';
import { passwordOptionsOf, withNewPassword } from './password.js';

/** How long one step may run before it is stopped. */
const STEP_TIMEOUT_MS = 10 * 60_000;
/** A new value is at most 64 KiB (the vault's limit); more output is refused. */
const MAX_OUTPUT_BYTES = 64 * 1024 + 2;

/** Variables a rotation command never inherits: they would lead it to our identity, or are test hooks. */
const withheld = (k: string): boolean => leadsToIdentity(k) || k === 'SECRETS_FAULT_KILL' || k === 'SECRETS_TEST_NOW';

function valueFields(label: string, value: SecretBytes | undefined): Record<string, string> {
  if (value === undefined) return {};
  const text = value.revealText();
  return text !== undefined ? { [label]: text } : { [`${label}Binary`]: Buffer.from(value.reveal()).toString('base64') };
}

/** A new empty directory only we can enter, for a handler to run in (TMPDIR, else /tmp). */
function privateDir(): string {
  for (const base of [...new Set([tmpdir(), '/tmp'])]) {
    try {
      return mkdtempSync(join(base, 'secrets-rotate-'));
    } catch {
      // an unset or missing TMPDIR: try the next
    }
  }
  throw new SecretsError('ROTATION_FAILED', 'cannot make a private directory for the handler to run in', 'check TMPDIR and /tmp');
}

/** Runs the allowed program for each step. */
export class CommandRotation implements RotationHandler {
  readonly #name: string;
  readonly #path: string;
  readonly #env: Readonly<Record<string, string | undefined>>;

  constructor(name: string, path: string, env: Readonly<Record<string, string | undefined>>) {
    this.#name = name;
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
    for (const [k, v] of Object.entries(this.#env)) if (v !== undefined && !withheld(k)) env[k] = v;
    const event = JSON.stringify({
      SecretId: req.secretId,
      Name: req.name,
      ClientRequestToken: req.token,
      Step: step,
      ...valueFields('Current', req.current),
      ...valueFields('Pending', req.pending),
      ...valueFields('Previous', req.previous),
    });
    const cwd = privateDir();
    const done = <T>(p: Promise<T>): Promise<T> => p.finally(() => rmSync(cwd, { recursive: true, force: true }));
    return done(
      new Promise((resolve, reject) => {
        const child = spawn(this.#path, [step], { cwd, env, stdio: ['pipe', wantOutput ? 'pipe' : 'ignore', 'inherit'] });
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
          reject(
            new SecretsError(
              'ROTATION_FAILED',
              `cannot run handler ${this.#name} (${this.#path}): ${err.code ?? err.message}`,
              'check the program, then `secrets handler allow` it again',
            ),
          );
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          if (tooBig) return reject(new SecretsError('ROTATION_FAILED', `handler ${this.#name} printed more than the 64 KiB a value may hold`));
          if (code === 0) return resolve(Buffer.concat(chunks));
          reject(
            new SecretsError(
              'ROTATION_FAILED',
              signal ? `handler ${this.#name} (${step}) was killed by ${signal}` : `handler ${this.#name} (${step}) exited ${code ?? '?'}`,
            ),
          );
        });
        // A command that does not read its event must not crash us with EPIPE.
        child.stdin?.on('error', () => undefined);
        child.stdin?.end(event);
      }),
    );
  }
}
