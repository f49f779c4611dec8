/**
 * The rotation handlers by name. Database drivers load only when their handler runs, so no
 * other command pays for `pg` or `mysql2`.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { SecretsError } from '../core/errors.js';
import type { RotationHandler, RotationHandlers } from '../core/rotation.js';
import { CommandRotation } from './command.js';
import { PasswordRotation } from './password.js';

const KNOWN = 'password, postgres, mysql or command:/absolute/path';

/** password, postgres, mysql, command:PATH. */
export class DefaultRotationHandlers implements RotationHandlers {
  readonly #env: Readonly<Record<string, string | undefined>>;

  constructor(env: Readonly<Record<string, string | undefined>>) {
    this.#env = env;
  }

  check(handler: string): void {
    if (handler === 'password' || handler === 'postgres' || handler === 'mysql') return;
    if (!handler.startsWith('command:')) {
      throw new SecretsError('USAGE', `unknown rotation handler ${JSON.stringify(handler)}`, `use ${KNOWN}`);
    }
    const path = handler.slice('command:'.length);
    if (!isAbsolute(path)) {
      throw new SecretsError('USAGE', `the command of a rotation handler must be an absolute path, not ${JSON.stringify(path)}`, 'e.g. --handler command:/usr/local/bin/rotate-api-key');
    }
    try {
      if (!statSync(path).isFile()) throw new Error('not a file');
      accessSync(path, constants.X_OK);
    } catch {
      throw new SecretsError('USAGE', `${path} is not an executable file`, `chmod +x ${path}, or fix the path`);
    }
  }

  async load(handler: string): Promise<RotationHandler> {
    if (handler === 'password') return new PasswordRotation();
    if (handler === 'postgres') return new (await import('./postgres.js')).PostgresRotation();
    if (handler === 'mysql') return new (await import('./mysql.js')).MysqlRotation();
    if (handler.startsWith('command:')) return new CommandRotation(handler.slice('command:'.length), this.#env);
    throw new SecretsError('USAGE', `unknown rotation handler ${JSON.stringify(handler)}`, `use ${KNOWN}`);
  }
}
