/**
 * Test support: the CLI with format 1 writable, for the suites that need format-1 vaults (the
 * format-1 reader, `verify`, `sync`'s checks, `secrets migrate`). It is the installed command's
 * code with one change: the vault's format-1 writes, and `init --format 1`, go to the writer of
 * test/support/format1-writer.ts. scripts/bundle.mjs bundles it, with the test hooks, as
 * dist/secrets-format1-test.cjs, which no package ships; test/support/cli.ts runs it for a
 * sandbox made with FORMAT_1.
 */
import { type AppContext, type AppDeps, composeDeps } from '../../src/app/compose.js';
import { main } from '../../src/cli/main.js';
import { Format1Writer, WithFormat1Writer } from './format1-writer.js';

function withFormat1Writer(context: AppContext): AppDeps {
  const deps = composeDeps(context);
  const { trust, lockTimeoutMs } = deps.migration();
  const writer = new Format1Writer({
    path: deps.paths.vault,
    trust,
    clock: deps.clock,
    lockTimeoutMs,
    auditTail: (vaultId) => deps.auditLog().tail(vaultId),
  });
  return { ...deps, vault: new WithFormat1Writer(deps.vault, writer) };
}

void main(withFormat1Writer);
