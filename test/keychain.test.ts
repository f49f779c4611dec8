// The identity in a real OS keychain: gnome-keyring on a private D-Bus session, reached by the
// built binary through keytar. Skips with a reason on a machine without gnome-keyring; under
// CI=true a missing keyring fails the suite instead.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { marker, sandbox, type Sandbox } from './support/cli.js';
import { type KeyringSession, keyringAvailable, secretToolLookup, skipReason, startKeyring } from './support/keyring.js';

const skip = skipReason(keyringAvailable());

/** Every regular file under `dir`, recursively. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const st = statSync(path);
    return st.isDirectory() ? files(path) : st.isFile() ? [path] : [];
  });
}

describe('identity in the OS keychain (gnome-keyring)', { skip }, () => {
  let keyring: KeyringSession;
  let sb: Sandbox;
  let identityId: string;
  let bus: Record<string, string>;

  before(async () => {
    keyring = await startKeyring();
    // Only the bus address: the CLI's own XDG directories stay in the sandbox.
    bus = { DBUS_SESSION_BUS_ADDRESS: keyring.env['DBUS_SESSION_BUS_ADDRESS'] as string };
    sb = sandbox(bus);
  });

  after(async () => {
    await keyring?.stop();
    sb?.cleanup();
  });

  test('init stores the seed in the keychain and nowhere on disk', async () => {
    const r = await sb.run(['init', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /warning/);
    const info = JSON.parse(r.stdout) as { IdentityId: string; IdentitySource: string; IdentityLocation: string };
    identityId = info.IdentityId;
    assert.equal(info.IdentitySource, 'keychain');
    const stored = await secretToolLookup(keyring.env, 'secrets', identityId);
    assert.ok(stored?.startsWith('SECRETS-KEY-1'), 'the keychain holds the identity key');
    const seed = Buffer.from((stored as string).slice('SECRETS-KEY-1'.length), 'base64url');
    const needles = [stored as string, seed.toString('hex'), seed.toString('base64'), (stored as string).slice(13)];
    assert.equal(existsSync(join(sb.home, '.config/secrets/identity.key')), false);
    for (const file of files(sb.home)) {
      const content = readFileSync(file, 'latin1');
      for (const needle of needles) assert.ok(!content.includes(needle), `${file} contains the identity key`);
    }
    const pointer = JSON.parse(readFileSync(join(sb.home, '.config/secrets/identity.json'), 'utf8')) as { id: string; store: string };
    assert.deepEqual({ id: pointer.id, store: pointer.store }, { id: identityId, store: 'keychain' });
  });

  test('a new process reads the key from the keychain: create, then get', async () => {
    const m = marker();
    await sb.ok(['create', 'kc/one', '--value-stdin'], { input: m.value });
    assert.equal(await sb.ok(['get', 'kc/one']), m.value);
    const doctor = JSON.parse(await sb.ok(['doctor', '--json'])) as { Checks: { Name: string; Status: string; Detail: string }[] };
    const identity = doctor.Checks.find((c) => c.Name === 'identity');
    assert.equal(identity?.Status, 'ok');
    assert.match(identity?.Detail ?? '', /OS keychain/);
    assert.equal(doctor.Checks.find((c) => c.Name === 'keychain')?.Status, 'ok');
  });

  test('a second vault on this machine reuses the keychain identity', async () => {
    const other = join(sb.home, 'second.yaml');
    const info = JSON.parse(await sb.ok(['--vault', other, 'init', '--json'])) as { IdentityId: string; IdentityCreated: boolean };
    assert.equal(info.IdentityId, identityId);
    assert.equal(info.IdentityCreated, false);
  });

  test('a keychain that lost the entry (or is locked) is exit 7, never "no identity"', async () => {
    const clear = spawnSync('secret-tool', ['clear', 'service', 'secrets', 'account', identityId], { env: { ...process.env, ...keyring.env } });
    assert.equal(clear.status, 0);
    const r = await sb.run(['get', 'kc/one']);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stderr, /^secrets: error: the OS keychain returned no key for identity [0-9a-f]{16}: the keyring may be locked/);
    assert.match(r.stderr, /secrets: hint: .*SECRETS_IDENTITY_KEY/);
    assert.equal(r.stdout, '');
  });

  test('an unreachable keychain is exit 7 with the reason and the fallbacks', async () => {
    const r = await sb.run(['get', 'kc/one'], { env: { DBUS_SESSION_BUS_ADDRESS: undefined } });
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stderr, /^secrets: error: the OS keychain is not reachable: .+/);
    assert.match(r.stderr, /SECRETS_IDENTITY_KEY or --identity-file/);
  });
});

describe('no keychain reachable', () => {
  test('without D-Bus, init falls back to a 0600 identity file with a loud warning naming the reason', async () => {
    const sb = sandbox();
    try {
      const r = await sb.run(['init']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /secrets: warning: no OS keychain is reachable \(Cannot autolaunch D-Bus without X11 \$DISPLAY\)/);
      assert.match(r.stderr, /UNENCRYPTED/);
      const file = join(sb.home, '.config/secrets/identity.key');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.match(readFileSync(file, 'utf8'), /^SECRETS-KEY-1[A-Za-z0-9_-]{43}$/m);
      const doctor = await sb.run(['doctor']);
      assert.equal(doctor.code, 0);
      assert.match(doctor.stdout, /identity\s+warn\s+.*UNENCRYPTED/);
    } finally {
      sb.cleanup();
    }
  });

  test('SECRETS_IDENTITY_KEY and --identity-file are explicit alternatives that store nothing', async () => {
    const a = sandbox();
    try {
      await a.ok(['init']);
      const key = readFileSync(join(a.home, '.config/secrets/identity.key'), 'utf8')
        .split('\n')
        .find((l) => l.startsWith('SECRETS-KEY-1')) as string;
      await a.ok(['create', 'x', '--value-stdin'], { input: 'v' });
      // Another machine (HOME) with the key in the environment reads the same vault.
      const b = sandbox({ SECRETS_IDENTITY_KEY: key, SECRETS_VAULT: a.vault });
      try {
        assert.equal(await b.ok(['get', 'x']), 'v');
        assert.equal(existsSync(join(b.home, '.config')), false);
      } finally {
        b.cleanup();
      }
      const c = sandbox({ SECRETS_VAULT: a.vault });
      try {
        assert.equal(await c.ok(['--identity-file', join(a.home, '.config/secrets/identity.key'), 'get', 'x']), 'v');
        const bad = await c.run(['get', 'x'], { env: { SECRETS_IDENTITY_KEY: 'SECRETS-KEY-1garbage' } });
        assert.equal(bad.code, 7);
        assert.doesNotMatch(bad.stderr, /garbage/);
      } finally {
        c.cleanup();
      }
    } finally {
      a.cleanup();
    }
  });
});
