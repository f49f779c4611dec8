/**
 * The `password` handler: the new value is a generated password (the `random` options kept with
 * the rotation); for a JSON-object secret only its `password` field changes. Nothing outside
 * the vault changes, so setSecret, testSecret and finishSecret have nothing to do.
 */
import { SecretsError } from '../core/errors.js';
import type { RotationHandler } from '../core/ports.js';
import type { RotationConfig, RotationRequest } from '../core/rotation.js';
import { SecretBytes } from '../core/secret-bytes.js';
import { DEFAULT_PASSWORD_OPTIONS, type PasswordOptions, randomPassword } from '../crypto/password.js';

/** The generator options of a rotation: AWS defaults overlaid with what was configured. */
export function passwordOptionsOf(config: RotationConfig, defaults: Partial<PasswordOptions> = {}): PasswordOptions {
  return { ...DEFAULT_PASSWORD_OPTIONS, ...defaults, ...config.random };
}

/**
 * The current value with a new password: the whole value, or the `password` field of a JSON
 * object (other fields and their order kept).
 */
export function withNewPassword(current: SecretBytes, options: PasswordOptions): SecretBytes {
  const text = current.revealText();
  let parsed: unknown;
  try {
    parsed = text !== undefined && text.trimStart().startsWith('{') ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const password = randomPassword(options);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return SecretBytes.fromString(password);
  const obj = parsed as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(obj, 'password') && typeof obj['password'] !== 'string') {
    throw new SecretsError('INVALID_VALUE', 'the secret\'s "password" field is not a string', 'store the password as a JSON string');
  }
  return SecretBytes.fromString(JSON.stringify({ ...obj, password }));
}

/** Generated values only. */
export class PasswordRotation implements RotationHandler {
  async createSecret(req: RotationRequest): Promise<SecretBytes> {
    return withNewPassword(req.current, passwordOptionsOf(req.config));
  }

  async setSecret(): Promise<void> {}

  async testSecret(): Promise<void> {}

  async finishSecret(): Promise<void> {}
}
