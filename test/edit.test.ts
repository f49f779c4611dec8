// `secrets edit`, end to end through the built binary with EDITOR set to a shell script that
// edits the file with sed and records what it was given: the new version's value, the private
// directory (0700, file 0600, in a tmpfs) gone afterwards, nothing written when the content is
// unchanged, the editor fails or is stopped, and the value never on the editor's argv.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { BIN, type CliResult, initialisedSandbox, type Sandbox } from './support/cli.js';
import { skipReason } from './support/keyring.js';

const TMPFS_MAGIC = 0x01021994;

function shmCheck(): { ok: true } | { ok: false; reason: string } {
  try {
    if (Number(statfsSync('/dev/shm').type) === TMPFS_MAGIC) return { ok: true };
  } catch {
    // reported below
  }
  return { ok: false, reason: 'no tmpfs at /dev/shm for a private runtime directory' };
}

// Records its arguments, the modes and file system of what it got, then edits as told.
const EDITOR_SCRIPT = `#!/bin/sh
log="$HOME/editor.log"
printf '%s\\n' "$#" "$@" > "$log"
if [ "$1" = --wait ]; then shift; fi
stat -c '%a' "$1" >> "$log"
stat -c '%a' "$(dirname "$1")" >> "$log"
stat -f -c '%T' "$1" >> "$log"
if [ -n "$EDIT_SED" ]; then sed -i "$EDIT_SED" "$1"; fi
if [ -n "$EDIT_NEWLINE" ]; then printf '\\n' >> "$1"; fi
if [ -n "$EDIT_WAIT" ]; then
  trap 'echo TERM >> "$log"; exit 143' TERM
  echo waiting >> "$log"
  sleep 30 & wait $!
fi
exit "\${EDIT_EXIT:-0}"
`;

function assertUserError(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^(.*\n)*secrets: error: .+\n(secrets: hint: .+\n)?$/);
  assert.match(r.stderr, pattern);
}

describe('secrets edit', { skip: skipReason(shmCheck()) }, () => {
  let sb: Sandbox;
  let runtime: string;
  let editor: string;
  const VALUE = 'hunter2-7f3a91c4';
  const log = (): string[] => readFileSync(join(sb.home, 'editor.log'), 'utf8').split('\n');
  const versionCount = async (name: string): Promise<number> =>
    (JSON.parse(await sb.ok(['versions', name, '--json'])) as { Versions: unknown[] }).Versions.length;
  const edit = (name: string, env: Record<string, string> = {}, extra: string[] = []): Promise<CliResult> =>
    sb.run(['edit', name, ...extra], { env: { EDITOR: `${editor} --wait`, XDG_RUNTIME_DIR: runtime, ...env } });

  before(async () => {
    sb = await initialisedSandbox();
    runtime = mkdtempSync('/dev/shm/secrets-edit-test-');
    editor = join(sb.home, 'editor.sh');
    writeFileSync(editor, EDITOR_SCRIPT);
    chmodSync(editor, 0o755);
    await sb.ok(['create', 'app/pw', '--value-stdin'], { input: VALUE });
    await sb.ok(['create', 'app/db', '--value-stdin'], { input: '{"user":"app","password":"old"}' });
    writeFileSync(join(sb.home, 'key.bin'), Buffer.from([0xff, 0x00, 0xfe, 0x01]));
    await sb.ok(['create', 'app/key', '--from-file', join(sb.home, 'key.bin')]);
  });
  beforeEach(() => rmSync(join(sb.home, 'editor.log'), { force: true }));
  after(() => {
    sb.cleanup();
    rmSync(runtime, { recursive: true, force: true });
  });

  test('an edit is stored as a new version; the editor gets the path alone, in a private tmpfs directory that is gone afterwards', async () => {
    const r = await edit('app/pw', { EDIT_SED: 's/hunter2/hunter3/' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^Stored app\/pw version \S+ \[CURRENT\]\n$/);
    assert.equal(await sb.ok(['get', 'app/pw']), 'hunter3-7f3a91c4');
    assert.equal(await sb.ok(['get', 'app/pw', '--version-stage', 'PREVIOUS']), VALUE);
    const [argc, flag, path, fileMode, dirMode, fsType] = log();
    // `--wait` came from EDITOR, parsed as a command with arguments; then only the path.
    assert.equal(argc, '2');
    assert.equal(flag, '--wait');
    assert.ok(path?.startsWith(`${runtime}/secrets-edit-`), path);
    assert.equal(fileMode, '600');
    assert.equal(dirMode, '700');
    assert.equal(fsType, 'tmpfs');
    assert.ok(!readFileSync(join(sb.home, 'editor.log'), 'utf8').includes('hunter'), 'the value reached the editor only through the file');
    assert.deepEqual(readdirSync(runtime), []);
    assert.equal(existsSync(path ?? ''), false);
  });

  test('unchanged content (even with the newline an editor adds) writes nothing', async () => {
    const before = await versionCount('app/pw');
    for (const env of [{}, { EDIT_NEWLINE: '1' }]) {
      const r = await edit('app/pw', env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, 'app/pw: unchanged; nothing written\n');
    }
    assert.equal(await versionCount('app/pw'), before);
    assert.deepEqual(readdirSync(runtime), []);
  });

  test('an editor that fails, or is not found, writes nothing and leaves nothing', async () => {
    const before = await versionCount('app/pw');
    assertUserError(
      await edit('app/pw', { EDIT_SED: 's/hunter/lost/', EDIT_EXIT: '1' }),
      2,
      /the editor .* failed: it exited with status 1; nothing was written/,
    );
    assertUserError(await sb.run(['edit', 'app/pw'], { env: { EDITOR: 'no-such-editor-x', XDG_RUNTIME_DIR: runtime } }), 2, /not found \(exit 127\)/);
    assert.equal(await versionCount('app/pw'), before);
    assert.equal(await sb.ok(['get', 'app/pw']), 'hunter3-7f3a91c4');
    assert.deepEqual(readdirSync(runtime), []);
  });

  test('SIGTERM while the editor runs: the editor is told, nothing is written, the directory is removed', async () => {
    const before = await versionCount('app/pw');
    const child = spawn(process.execPath, [BIN, 'edit', 'app/pw'], {
      env: { ...sb.env, EDITOR: editor, XDG_RUNTIME_DIR: runtime, EDIT_SED: 's/hunter/lost/', EDIT_WAIT: '1' },
      cwd: sb.home,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    for (let i = 0; i < 200 && !(existsSync(join(sb.home, 'editor.log')) && log().includes('waiting')); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(log().includes('waiting'), 'the editor started');
    child.kill('SIGTERM');
    const code = await closed;
    assert.equal(code, 2, stderr);
    assert.match(stderr, /we received SIGTERM; nothing was written/);
    assert.ok(log().includes('TERM'), 'the editor got the signal');
    assert.equal(await versionCount('app/pw'), before);
    assert.deepEqual(readdirSync(runtime), []);
  });

  test('a JSON secret must stay JSON', async () => {
    const before = await versionCount('app/db');
    assertUserError(await edit('app/db', { EDIT_SED: 's/}$//' }), 2, /app\/db held JSON and the edit is not valid JSON; nothing was written/);
    assert.equal(await versionCount('app/db'), before);
    assert.ok(log()[2]?.endsWith('/db.json'), 'the file is named for its content');
    const r = await edit('app/db', { EDIT_SED: 's/"old"/"new"/' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sb.ok(['get', 'app/db', '--field', 'password']), 'new');
    assert.deepEqual(readdirSync(runtime), []);
  });

  test('a binary secret is refused before any editor runs; an emptied file writes nothing', async () => {
    assertUserError(await edit('app/key'), 2, /app\/key is binary, and an editor edits text\n.*--from-file/);
    assert.equal(existsSync(join(sb.home, 'editor.log')), false);
    assertUserError(await edit('app/pw', { EDIT_SED: 'd' }), 2, /the file was emptied; nothing was written/);
    assert.deepEqual(readdirSync(runtime), []);
  });

  test('no editor off a terminal is a usage error; an unknown secret is not found', async () => {
    assertUserError(await sb.run(['edit', 'app/pw'], { env: { XDG_RUNTIME_DIR: runtime } }), 2, /no editor: VISUAL and EDITOR are unset/);
    assertUserError(await edit('app/none'), 3, /app\/none/);
    assert.equal(existsSync(join(sb.home, 'editor.log')), false);
  });
});
