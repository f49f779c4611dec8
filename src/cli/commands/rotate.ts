/**
 * `secrets rotate`: configure a rotation, run it now, run every due one, rotate what a removed
 * member could read, or cancel. The four steps and their guarantees are in core/use-cases/rotate.ts.
 */
import { type Command, Option } from 'commander';
import { ExitCode, SecretsError } from '../../core/errors.js';
import type { RotationRandom, RotationStrategy } from '../../core/rotation.js';
import {
  type BulkRotationItem,
  cancelRotation,
  configureRotation,
  rotateDue,
  rotateExposed,
  rotateSecret,
  type RotationSettings,
} from '../../core/use-cases/rotate.js';
import type { App } from '../app.js';
import { formatJson, formatTable, formatWarning, progressOnTty } from '../ui.js';
import { addPasswordOptions, intArg } from '../value-source.js';

/** Flags that change the configuration (as opposed to running or cancelling). */
const CONFIG_FLAGS = ['handler', 'every', 'cron', 'window', 'strategy', 'masterSecret'] as const;
const RANDOM_FLAGS = [
  'length',
  'excludeCharacters',
  'excludeNumbers',
  'excludePunctuation',
  'excludeUppercase',
  'excludeLowercase',
  'includeSpace',
  'requireEachIncludedType',
] as const;

function given(cmd: Command, key: string): boolean {
  return cmd.getOptionValueSource(key) === 'cli';
}

/** Generator options given on this command line only (so unset ones keep AWS defaults). */
function randomSettings(cmd: Command, opts: Record<string, unknown>): RotationRandom | undefined {
  const out: Record<string, unknown> = {};
  for (const key of RANDOM_FLAGS) if (given(cmd, key)) out[key] = opts[key];
  return Object.keys(out).length > 0 ? out : undefined;
}

function bulkText(items: readonly BulkRotationItem[]): string {
  if (items.length === 0) return 'Nothing to rotate.\n';
  return formatTable(
    ['NAME', 'OUTCOME', 'DETAIL'],
    items.map((i) => [i.Name, i.Outcome, i.VersionId !== undefined ? `version ${i.VersionId}` : (i.Error ?? '')]),
  );
}

export function register(program: Command, app: App): void {
  const cmd = program
    .command('rotate')
    .description('rotate a secret now (the four steps of AWS rotation), configure its rotation, or run every rotation that is due')
    .argument('[name]', 'secret name')
    .option('--handler <handler>', 'password, postgres, mysql, or command:NAME (a program each machine allows with `secrets handler allow`)')
    .addOption(new Option('--every <days>', 'rotate every N days after the last rotation').argParser(intArg('--every')))
    .option('--cron <expr>', 'or on a cron schedule: five fields, UTC (e.g. "0 3 * * 1")')
    .option('--window <duration>', 'a rotation may start up to this long after its scheduled time (30m, 4h, 1d)')
    .addOption(new Option('--strategy <strategy>', 'database handlers: who changes which password').choices(['single-user', 'alternating-users']))
    .option('--master-secret <name>', "alternating-users: the secret holding an administrator's credentials")
    .option('--no-rotate-now', 'store the configuration without rotating now')
    .option('--due', 'rotate every secret whose schedule is due (for cron or a systemd timer)')
    .option('--exposed-to <member>', 'rotate every secret a removed member could read')
    .option('--cancel', 'turn automatic rotation off and cancel an unfinished rotation')
    .option('--json', 'print JSON');
  // The generator flags of `random`; only those given on the command line are stored (randomSettings).
  addPasswordOptions(cmd).action(async (name: string | undefined, opts: Record<string, unknown>, c: Command) => {
    const configuring = CONFIG_FLAGS.some((k) => given(c, k)) || randomSettings(c, opts) !== undefined;
    const modes = [opts['due'] === true, opts['exposedTo'] !== undefined, opts['cancel'] === true].filter(Boolean).length;
    if (modes > 1) throw new SecretsError('USAGE', '--due, --exposed-to and --cancel cannot be combined', 'pick one');
    if (modes === 1 && configuring)
      throw new SecretsError(
        'USAGE',
        'configuration flags cannot be combined with --due, --exposed-to or --cancel',
        'configure with `secrets rotate NAME --handler …` first',
      );
    if ((opts['due'] === true || opts['exposedTo'] !== undefined) && name !== undefined) {
      throw new SecretsError(
        'USAGE',
        `--${opts['due'] === true ? 'due' : 'exposed-to'} rotates several secrets and takes no name`,
        `to rotate ${name} alone: \`secrets rotate ${name}\``,
      );
    }
    if (modes === 0 && name === undefined) throw new SecretsError('USAGE', 'which secret?', 'pass a name, or --due to rotate everything that is due');
    if (!configuring && given(c, 'rotateNow'))
      throw new SecretsError('USAGE', '--no-rotate-now only applies when configuring', 'add --handler (or another setting)');

    const deps = app.deps(c);
    const ports = await deps.rotation();
    const json = opts['json'] === true;

    if (opts['due'] === true || opts['exposedTo'] !== undefined) {
      const progress = progressOnTty(app.io, 'rotating');
      const r =
        opts['due'] === true ? await rotateDue(deps, ports, progress) : await rotateExposed(deps, ports, { member: opts['exposedTo'] as string }, progress);
      const failed = r.Items.some((i) => i.Outcome === 'failed');
      return app.emit({ ...(json ? { stdout: formatJson(r) } : { stdout: bulkText(r.Items) }), ...(failed ? { exitCode: ExitCode.rotation } : {}) });
    }
    const secret = name as string;
    if (opts['cancel'] === true) {
      const r = await cancelRotation(deps, { name: secret });
      if (json) return app.emit({ stdout: formatJson(r) });
      const pending =
        r.CancelledVersionId !== undefined
          ? formatWarning(
              `the unfinished rotation's value is kept as version ${r.CancelledVersionId} (no longer PENDING). ` +
                `If its setSecret step had already run, the service may accept only that value: \`secrets get ${secret} --version-id ${r.CancelledVersionId}\``,
            )
          : '';
      return app.emit({ stderr: `Automatic rotation of ${secret} is off.\n${pending}` });
    }
    if (configuring) {
      const settings: RotationSettings = {
        handler: opts['handler'] as string | undefined,
        every: opts['every'] as number | undefined,
        cron: opts['cron'] as string | undefined,
        window: opts['window'] as string | undefined,
        strategy: opts['strategy'] as RotationStrategy | undefined,
        master: opts['masterSecret'] as string | undefined,
        random: randomSettings(c, opts),
      };
      const r = await configureRotation(deps, ports, { name: secret, settings, rotateNow: opts['rotateNow'] !== false });
      if (json) return app.emit({ stdout: formatJson(r) });
      const rotated = r.Rotated ? `Rotated ${secret}: version ${r.Rotated.VersionId} is CURRENT.\n` : '';
      return app.emit({ stderr: `Rotation of ${secret} configured (${r.Rotation.handler}).\n${rotated}` });
    }
    const r = await rotateSecret(deps, ports, { name: secret });
    if (json) return app.emit({ stdout: formatJson(r) });
    app.emit({ stderr: `Rotated ${secret}${r.Resumed ? ' (resumed)' : ''}: version ${r.VersionId} is CURRENT.\n` });
  });
}
