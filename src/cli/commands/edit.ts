/**
 * `secrets edit NAME`: the CURRENT value in the person's editor, stored as a new version when it
 * changed. The copy lives in a private directory in memory-backed storage that is removed
 * however the editor ends; a failed or interrupted editor writes nothing.
 */
import type { Command } from 'commander';
import { SecretsError } from '../../core/errors.js';
import { SecretBytes } from '../../core/secret-bytes.js';
import { getSecretValue } from '../../core/use-cases/read.js';
import { putSecretValue } from '../../core/use-cases/write.js';
import type { App } from '../app.js';
import { editDirectory, editorCommand, PrivateCopy, runEditor } from '../editor.js';
import { formatJson, formatWarning } from '../ui.js';
import { inheritedEnvironment } from './exec.js';

/** True for a JSON object or array (a bare number or string is just text). */
function isJsonDocument(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}

/** A file name that tells the editor what it holds, from the last part of the secret's name. */
function fileNameFor(name: string, json: boolean): string {
  const base = (name.split('/').pop() ?? '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '') || 'secret';
  return json ? `${base}.json` : base;
}

/**
 * Editors end a file with a newline that a one-line secret never had: a value that did not end
 * with one loses one trailing newline, so saving unchanged stays unchanged.
 */
function withoutAddedNewline(before: Uint8Array, after: Uint8Array): Uint8Array {
  if (before.at(-1) === 0x0a || after.at(-1) !== 0x0a) return after;
  return after.subarray(0, after.at(-2) === 0x0d ? -2 : -1);
}

export function register(program: Command, app: App): void {
  program
    .command('edit')
    .description('edit a value in $VISUAL or $EDITOR (a private copy in memory, removed afterwards); stores a new version if it changed')
    .argument('<name>', 'secret name')
    .option('--unsafe-tmp', 'allow the copy in $TMPDIR when neither $XDG_RUNTIME_DIR nor /dev/shm is memory-backed')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: { unsafeTmp?: boolean; json?: boolean }, cmd: Command) => {
      // Refuse before reading anything: no editor, or nowhere private to put the copy.
      const editor = editorCommand(app.io.env, app.io.stdinIsTTY && app.io.stdoutIsTTY);
      const where = editDirectory(app.io.env, opts.unsafeTmp === true);
      const deps = app.deps(cmd);
      const current = await getSecretValue(deps, { name });
      const before = current.value;
      const text = current.type === 'string' ? before.revealText() : undefined;
      if (text === undefined || text.includes('\0')) {
        before.wipe();
        throw new SecretsError(
          'INVALID_VALUE',
          `${current.Name} is binary, and an editor edits text`,
          `write a new value from a file: secrets put ${current.Name} --from-file PATH`,
        );
      }
      const wasJson = isJsonDocument(text);
      if (!where.inMemory) app.warn(`the copy is on disk in ${where.parent} (--unsafe-tmp); it is overwritten and removed afterwards`);
      let edited: Uint8Array;
      const copy = new PrivateCopy(where.parent, fileNameFor(current.Name, wasJson), before.reveal());
      try {
        // The editor did not ask for our identity: it gets our environment without it.
        const exit = await runEditor(editor, copy.path, inheritedEnvironment(app.io.env, false));
        if (!exit.ok) {
          throw new SecretsError(
            'USAGE',
            `the editor (${editor}) failed: ${exit.reason}; nothing was written`,
            exit.notFound ? 'set VISUAL or EDITOR to an editor on your PATH' : 'an editor that exits non-zero (as vim :cq) abandons the edit',
          );
        }
        edited = copy.read();
      } finally {
        copy.remove();
      }
      const after = new SecretBytes(withoutAddedNewline(before.reveal(), edited));
      try {
        if (after.equals(before)) {
          return app.emit(
            opts.json
              ? { stdout: formatJson({ Name: current.Name, VersionId: current.VersionId, Unchanged: true }) }
              : { stderr: `${current.Name}: unchanged; nothing written\n` },
          );
        }
        if (after.length === 0) {
          throw new SecretsError(
            'USAGE',
            'the file was emptied; nothing was written',
            `to store an empty value on purpose: printf '' | secrets put ${current.Name} --value-stdin`,
          );
        }
        const afterText = after.revealText();
        if (afterText === undefined) {
          throw new SecretsError(
            'INVALID_VALUE',
            'the edited file is not UTF-8 text; nothing was written',
            `for bytes, use secrets put ${current.Name} --from-file PATH`,
          );
        }
        if (wasJson && !isJsonDocument(afterText)) {
          throw new SecretsError(
            'INVALID_VALUE',
            `${current.Name} held JSON and the edit is not valid JSON; nothing was written`,
            `run secrets edit ${current.Name} again, or store any text with: secrets put ${current.Name} --value-stdin`,
          );
        }
        const result = await putSecretValue(deps, { name: current.Name, value: { bytes: after, type: 'string' }, labels: [] });
        const abandoned =
          result.AbandonedRotationVersionId !== undefined
            ? formatWarning(`this abandons the rotation in progress: its value stays as version ${result.AbandonedRotationVersionId}, no longer PENDING`)
            : '';
        const stored = `Stored ${result.Name} version ${result.VersionId ?? '?'} [${(result.VersionStages ?? []).join(', ')}]\n`;
        app.emit(opts.json ? { stdout: formatJson(result), stderr: abandoned } : { stderr: stored + abandoned });
      } finally {
        after.wipe();
        before.wipe();
      }
    });
}
