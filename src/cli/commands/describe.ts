/** `secrets describe NAME`: metadata, never the value. */
import type { Command } from 'commander';
import { describeSecret } from '../../core/use-cases/read.js';
import type { App } from '../app.js';
import { formatFields, formatJson } from '../ui.js';

function scheduleText(rules: { AutomaticallyAfterDays?: number; ScheduleExpression?: string; Duration?: string } | undefined): string {
  if (!rules) return '';
  const when =
    rules.AutomaticallyAfterDays !== undefined
      ? `, every ${rules.AutomaticallyAfterDays} days`
      : rules.ScheduleExpression !== undefined
        ? `, ${rules.ScheduleExpression}`
        : ', on demand';
  return `${when}${rules.Duration !== undefined ? `, window ${rules.Duration}` : ''}`;
}

export function register(program: Command, app: App): void {
  program
    .command('describe')
    .description("show a secret's metadata: description, tags, versions and labels, dates")
    .argument('<name>', 'secret name')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const d = await describeSecret(app.deps(cmd), { name });
      if (opts.json) return app.emit({ stdout: formatJson(d) });
      const stages = Object.entries(d.VersionIdsToStages).map(([id, labels]) => `${id} [${labels.join(', ')}]`);
      app.emit({
        stdout: formatFields([
          ['Name', d.Name],
          ['Id', d.Id],
          ['Description', d.Description],
          ['Tags', d.Tags.length ? d.Tags.map((t) => `${t.Key}=${t.Value}`).join(', ') : '(none)'],
          ['Versions', stages.length ? stages.join('; ') : '(none)'],
          ['Created', d.CreatedDate],
          ['Changed', d.LastChangedDate],
          ['Accessed', d.LastAccessedDate?.slice(0, 10)],
          ['Deleted', d.DeletedDate],
          ['Purge on', d.PurgeDate],
          [
            'Rotation',
            d.RotationEnabled === undefined ? undefined : `${d.RotationEnabled ? 'on' : 'off'} (${d.RotationHandler ?? '?'}${scheduleText(d.RotationRules)})`,
          ],
          ['Rotated', d.LastRotatedDate],
          ['Next rotation', d.NextRotationDate],
        ]),
      });
    });
}
