/** `secrets random`: a random password with AWS GetRandomPassword semantics. */
import type { Command } from 'commander';
import { randomPassword } from '../../crypto/password.js';
import type { App } from '../app.js';
import { formatJson } from '../ui.js';
import { addPasswordOptions, passwordOptions } from '../value-source.js';

export function register(program: Command, app: App): void {
  const cmd = program
    .command('random')
    .description('print a random password (default: 32 characters with every character type)')
    .option('--json', 'print {RandomPassword}');
  addPasswordOptions(cmd).action((opts: Record<string, unknown>) => {
    const password = randomPassword(passwordOptions(opts));
    app.emit({ stdout: opts['json'] ? formatJson({ RandomPassword: password }) : app.io.stdoutIsTTY ? `${password}\n` : password });
  });
}
