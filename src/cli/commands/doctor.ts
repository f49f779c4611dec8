/**
 * `secrets doctor`: is the keychain reachable, where does the identity come from, are the
 * vault's permissions private, does every record verify, is the vault in the format this
 * version writes. Exit 0 when nothing failed (warnings
 * included), else the exit code of the first failure.
 */
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { ExitCode, type ExitCodeValue, isSecretsError, SecretsError } from '../../core/errors.js';
import type { LoadedIdentity } from '../../core/ports.js';
import type { App } from '../app.js';
import type { AppDeps } from '../../app/compose.js';
import { formatJson, formatTable } from '../ui.js';

interface Check {
  readonly Name: string;
  readonly Status: 'ok' | 'warn' | 'fail';
  readonly Detail: string;
  readonly exit?: ExitCodeValue;
}

function failed(name: string, err: unknown): Check {
  if (isSecretsError(err)) return { Name: name, Status: 'fail', Detail: err.hint ? `${err.message} (${err.hint})` : err.message, exit: err.exit };
  throw err;
}

async function checkKeychain(deps: AppDeps): Promise<Check> {
  try {
    await deps.keychain().get('doctor-probe');
    return { Name: 'keychain', Status: 'ok', Detail: 'the OS keychain is reachable' };
  } catch (err) {
    if (isSecretsError(err)) return { Name: 'keychain', Status: 'warn', Detail: err.message };
    throw err;
  }
}

function checkIdentity(loaded: LoadedIdentity): Check {
  const id = loaded.identity.id;
  switch (loaded.source) {
    case 'keychain':
      return { Name: 'identity', Status: 'ok', Detail: `${id} in the ${loaded.where}` };
    case 'env':
      return { Name: 'identity', Status: 'ok', Detail: `${id} from SECRETS_IDENTITY_KEY` };
    case 'file':
      return { Name: 'identity', Status: 'ok', Detail: `${id} from identity file ${loaded.where}` };
    case 'fallback-file':
      return {
        Name: 'identity',
        Status: 'warn',
        Detail: `${id} is stored UNENCRYPTED in ${loaded.where} because no keychain was reachable at init; keep that file private`,
      };
  }
}

function checkPermissions(path: string): Check {
  try {
    const file = statSync(path).mode & 0o777;
    const dir = statSync(dirname(path)).mode & 0o777;
    const loose = [
      file & 0o077 ? `${path} is mode ${file.toString(8)}` : '',
      dir & 0o022 ? `${dirname(path)} is writable by others (mode ${dir.toString(8)})` : '',
    ]
      .filter(Boolean)
      .join('; ');
    return loose
      ? { Name: 'permissions', Status: 'warn', Detail: `${loose}; run chmod 600 on the vault file` }
      : { Name: 'permissions', Status: 'ok', Detail: `${path} is private (mode ${file.toString(8)})` };
  } catch (err) {
    return failed('permissions', new SecretsError('STORAGE', `cannot stat ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`));
  }
}

export function register(program: Command, app: App): void {
  program
    .command('doctor')
    .description('check the keychain, the identity, the vault permissions and every record of the vault')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const deps = app.deps(cmd);
      const checks: Check[] = [await checkKeychain(deps)];
      let loaded: LoadedIdentity | undefined;
      try {
        loaded = await deps.identities.load();
        checks.push(checkIdentity(loaded));
      } catch (err) {
        checks.push(failed('identity', err));
      }
      if (!(await deps.vault.exists())) {
        checks.push({ Name: 'vault', Status: 'fail', Detail: `no vault at ${deps.vault.location} (run \`secrets init\`)`, exit: ExitCode.notFound });
      } else {
        checks.push(checkPermissions(deps.vault.location));
        if (loaded) {
          try {
            const state = await deps.vault.read(loaded.identity);
            const { checked, problems } = await deps.vault.verifyAll(state);
            const member = state.members.some((m) => m.id === loaded?.identity.id && m.removed === undefined);
            checks.push(
              problems.length === 0
                ? { Name: 'integrity', Status: 'ok', Detail: `${checked} records verified; ${state.secrets.length} secrets` }
                : {
                    Name: 'integrity',
                    Status: 'fail',
                    Detail: `${problems.length} record(s) rejected: ${problems[0] ?? ''}${problems.length > 1 ? ' (`secrets verify` lists all)' : ''}`,
                    exit: ExitCode.integrity,
                  },
            );
            checks.push(
              member
                ? { Name: 'membership', Status: 'ok', Detail: `this identity is a member of vault ${state.vault.id}` }
                : { Name: 'membership', Status: 'fail', Detail: 'this identity is not a member of the vault', exit: ExitCode.denied },
            );
            checks.push(
              state.vault.format === 1
                ? {
                    Name: 'format',
                    Status: 'warn',
                    Detail: 'format 1 (a signed snapshot), which is read but no longer written: an admin converts it with `secrets migrate`',
                  }
                : { Name: 'format', Status: 'ok', Detail: 'format 2 (an append-only log of signed operations)' },
            );
          } catch (err) {
            checks.push(failed('integrity', err));
          }
        }
      }
      const firstFail = checks.find((c) => c.Status === 'fail');
      const exitCode = firstFail?.exit ?? (firstFail ? ExitCode.internal : ExitCode.ok);
      if (opts.json) {
        return app.emit({ stdout: formatJson({ Checks: checks.map(({ exit: _e, ...c }) => c) }), exitCode });
      }
      app.emit({
        stdout: formatTable(
          ['CHECK', 'STATUS', 'DETAIL'],
          checks.map((c) => [c.Name, c.Status, c.Detail]),
        ),
        exitCode,
      });
    });
}
