/**
 * createProgram: the commander tree. Parsing errors become usage errors (exit 2) through
 * exitOverride; output goes through the Io so tests and main see the same thing.
 */
import { Command } from 'commander';
import type { App } from './app.js';
import { register as registerAudit } from './commands/audit.js';
import { VERSION } from './version.js';
import { register as registerCreate } from './commands/create.js';
import { register as registerDelete } from './commands/delete.js';
import { register as registerDescribe } from './commands/describe.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerEnv } from './commands/env.js';
import { register as registerExec } from './commands/exec.js';
import { register as registerGet } from './commands/get.js';
import { register as registerInject } from './commands/inject.js';
import { register as registerTransfer } from './commands/transfer.js';
import { register as registerIdentity } from './commands/identity.js';
import { register as registerMember } from './commands/member.js';
import { register as registerPolicy } from './commands/policy.js';
import { register as registerVerify } from './commands/verify.js';
import { register as registerInit } from './commands/init.js';
import { register as registerList } from './commands/list.js';
import { register as registerPut } from './commands/put.js';
import { register as registerRandom } from './commands/random.js';
import { register as registerRotate } from './commands/rotate.js';
import { register as registerStage } from './commands/stage.js';
import { register as registerSync } from './commands/sync.js';
import { register as registerTag } from './commands/tag.js';
import { register as registerUpdate } from './commands/update.js';
import { register as registerVersions } from './commands/versions.js';

export { VERSION } from './version.js';

/** Builds the command tree. */
export function createProgram(app: App): Command {
  const program = new Command('secrets')
    .description('A local-first secrets manager: an encrypted vault file, versions with staging labels, the key in your OS keychain.')
    .version(VERSION, '-V, --version')
    .option('--vault <path>', 'vault file (default $SECRETS_VAULT or $XDG_DATA_HOME/secrets/vault.yaml)')
    .option('--identity-file <path>', 'read the identity key from this file (or $SECRETS_IDENTITY_FILE)')
    .option('--audit <mode>', 'required (default: fail closed) or best-effort (or $SECRETS_AUDIT, or "audit" in config.json)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => app.io.writeOut(s),
      writeErr: (s) => app.io.writeErr(s),
      outputError: (s, write) => write(s.replace(/^error: /, 'secrets: error: ')),
    });
  program.configureHelp({ sortSubcommands: false });
  for (const register of [
    registerInit,
    registerCreate,
    registerGet,
    registerPut,
    registerUpdate,
    registerDescribe,
    registerVersions,
    registerStage,
    registerList,
    registerTag,
    registerDelete,
    registerRotate,
    registerExec,
    registerEnv,
    registerInject,
    registerTransfer,
    registerRandom,
    registerIdentity,
    registerMember,
    registerPolicy,
    registerVerify,
    registerSync,
    registerAudit,
    registerDoctor,
  ]) {
    register(program, app);
  }
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const cmd of all(program).slice(1)) {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => app.io.writeOut(s),
      writeErr: (s) => app.io.writeErr(s),
      outputError: (s, write) => write(s.replace(/^error: /, 'secrets: error: ')),
    });
  }
  return program;
}
