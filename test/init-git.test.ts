// `init --git REMOTE` against a bare repository made by a plain `git init --bare` (HEAD on
// master): afterwards a plain `git pull` and a plain `git clone` work. Real git, real binary.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sandbox } from './support/cli.js';

function git(cwd: string, args: string[], env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...env, GIT_TERMINAL_PROMPT: '0' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('init --git', () => {
  test('a local bare remote: the branch tracks origin/main, the remote HEAD names main; plain git pull and git clone work', async () => {
    const sb = sandbox();
    try {
      const remote = join(sb.home, 'remote.git');
      assert.equal(git(sb.home, ['init', '-q', '--bare', '-b', 'master', remote], sb.env).code, 0);
      const dir = join(sb.home, 'vault');
      const r = await sb.run(['--vault', join(dir, 'vault.yaml'), 'init', '--git', remote]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /pushed to /);
      assert.doesNotMatch(r.stderr, /default branch|HEAD names/);
      assert.equal(git(dir, ['rev-parse', '--abbrev-ref', '@{upstream}'], sb.env).stdout.trim(), 'origin/main');
      assert.equal(git(sb.home, ['--git-dir', remote, 'symbolic-ref', 'HEAD'], sb.env).stdout.trim(), 'refs/heads/main');
      const pull = git(dir, ['pull', '-q'], sb.env);
      assert.equal(pull.code, 0, pull.stderr);
      const copy = git(sb.home, ['clone', remote, join(sb.home, 'copy')], sb.env);
      assert.equal(copy.code, 0, copy.stderr);
      assert.doesNotMatch(copy.stderr, /warning/);
      assert.ok(existsSync(join(sb.home, 'copy', 'vault.yaml')));
    } finally {
      sb.cleanup();
    }
  });

  test('a remote reached by URL: the branch tracks origin/main, and a note says how to make main its default branch', async () => {
    const sb = sandbox();
    try {
      const remote = join(sb.home, 'remote.git');
      assert.equal(git(sb.home, ['init', '-q', '--bare', '-b', 'master', remote], sb.env).code, 0);
      // A transport that is not a path, as ssh:// or https:// would be, but needs no server.
      writeFileSync(join(sb.home, '.gitconfig'), '[protocol "ext"]\n\tallow = always\n');
      const url = `ext::git %s ${remote}`;
      const dir = join(sb.home, 'vault');
      const r = await sb.run(['--vault', join(dir, 'vault.yaml'), 'init', '--git', url]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        /^secrets: the remote's HEAD names no branch it has, so a plain `git clone` will not check out the vault \(`secrets clone` will\): make main the default branch in the repository's settings on the server, or there run `git --git-dir=REPO symbolic-ref HEAD refs\/heads\/main`$/m,
      );
      assert.equal(git(dir, ['rev-parse', '--abbrev-ref', '@{upstream}'], sb.env).stdout.trim(), 'origin/main');
      // Not ours to change through a URL.
      assert.equal(git(sb.home, ['--git-dir', remote, 'symbolic-ref', 'HEAD'], sb.env).stdout.trim(), 'refs/heads/master');
      // Said once, on the first push, not on every sync.
      const again = await sb.run(['--vault', join(dir, 'vault.yaml'), 'sync']);
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(again.stderr, /default branch|HEAD names/);
    } finally {
      sb.cleanup();
    }
  });
});
