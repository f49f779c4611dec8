/**
 * The rotation handlers by name. Database drivers load only when their handler runs, so no
 * other command pays for `pg` or `mysql2`. A `command:NAME` handler runs the program this
 * machine allowed under NAME, never a path taken from the vault.
 */
import { SecretsError } from '../core/errors.js';
import type { HandlerAllowlist, RotationHandler, RotationHandlers } from '../core/ports.js';
import { BUILTIN_HANDLERS, HANDLER_NAME } from '../core/rotation.js';
import { CommandRotation } from './command.js';
import { PasswordRotation } from './password.js';

const KNOWN = 'password, postgres, mysql or command:NAME (a handler this machine allows: `secrets handler list`)';

function isBuiltin(handler: string): boolean {
  return (BUILTIN_HANDLERS as readonly string[]).includes(handler);
}

/** The local name in `command:NAME`; USAGE for anything else that is not built in. */
function localName(handler: string, running: boolean): string {
  if (!handler.startsWith('command:')) {
    throw new SecretsError('USAGE', `unknown rotation handler ${JSON.stringify(handler)}`, `use ${KNOWN}`);
  }
  const name = handler.slice('command:'.length);
  if (name.startsWith('/')) {
    // Configuring one is bad input; running one stored by an older version is refused outright.
    throw new SecretsError(
      running ? 'DENIED' : 'USAGE',
      `a rotation handler is a name now, not a path: ${JSON.stringify(handler)}${running ? ' is never run' : ''}`,
      `allow the program under a name on each machine that rotates (\`secrets handler allow NAME ${name}\`), then configure \`--handler command:NAME\``,
    );
  }
  if (!HANDLER_NAME.test(name)) {
    throw new SecretsError(
      'USAGE',
      `invalid rotation handler name ${JSON.stringify(name.slice(0, 70))}`,
      'a handler name is 1-64 characters of a-z 0-9 . _ - and starts with a letter or digit',
    );
  }
  return name;
}

/** password, postgres, mysql, command:NAME. */
export class DefaultRotationHandlers implements RotationHandlers {
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #allowlist: HandlerAllowlist;
  readonly #allowlistPath: string;

  constructor(env: Readonly<Record<string, string | undefined>>, allowlist: HandlerAllowlist, allowlistPath: string) {
    this.#env = env;
    this.#allowlist = allowlist;
    this.#allowlistPath = allowlistPath;
  }

  check(handler: string): void {
    if (!isBuiltin(handler)) localName(handler, false);
  }

  async load(handler: string): Promise<RotationHandler> {
    if (handler === 'password') return new PasswordRotation();
    if (handler === 'postgres') return new (await import('./postgres.js')).PostgresRotation();
    if (handler === 'mysql') return new (await import('./mysql.js')).MysqlRotation();
    const name = localName(handler, true);
    const path = this.#allowlist.lookup(name);
    if (path === undefined) {
      throw new SecretsError(
        'DENIED',
        `rotation handler ${handler} is not allowed on this machine`,
        `the vault names the handler, this machine decides what it runs: if you trust it, \`secrets handler allow ${name} /absolute/path/to/program\` (kept in ${this.#allowlistPath})`,
      );
    }
    return new CommandRotation(name, path, this.#env);
  }
}
