// Hidden value prompts in a real terminal (tmux): the typed value never appears on screen, a
// mismatch asks again, Ctrl-C exits 130 and writes nothing.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, initialisedSandbox, type Sandbox } from './support/cli.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const skip = hasTmux || process.env['CI'] === 'true' ? undefined : 'tmux is not installed';

/** A tmux session on a private socket running one command. */
class Terminal {
  readonly #socket: string;
  constructor(sb: Sandbox, command: string) {
    this.#socket = `${sb.home}/tmux.sock`;
    const env = Object.entries(sb.env)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    this.#tmux('new-session', '-d', '-s', 't', '-x', '150', '-y', '30', `env -i ${env} ${command}; echo EXIT=$?; sleep 60`);
  }
  #tmux(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.#socket, ...args], { encoding: 'utf8' });
  }
  type(text: string): void {
    this.#tmux('send-keys', '-t', 't', '-l', text);
  }
  key(name: string): void {
    this.#tmux('send-keys', '-t', 't', name);
  }
  screen(): string {
    return this.#tmux('capture-pane', '-p', '-t', 't');
  }
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.screen();
      if (pattern.test(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; screen:\n${s}`);
      await sleep(50);
    }
  }
  close(): void {
    spawnSync('tmux', ['-S', this.#socket, 'kill-server']);
  }
}

describe('hidden prompts in a terminal', { skip }, () => {
  let sb: Sandbox;
  before(async () => {
    sb = await initialisedSandbox();
  });
  after(() => sb.cleanup());

  test('create asks twice, repeats on a mismatch, and never echoes the value', async () => {
    const term = new Terminal(sb, `${process.execPath} ${BIN} create tty/secret`);
    try {
      await term.waitFor(/Value for tty\/secret:/);
      term.type('first-Value-1');
      term.key('Enter');
      await term.waitFor(/Again, to confirm:/);
      term.type('other-Value-2');
      term.key('Enter');
      await term.waitFor(/entries differ/);
      await term.waitFor(/\? Value for tty\/secret:/);
      term.type('final-Value-3');
      term.key('Enter');
      await term.waitFor(/\? Again, to confirm:/);
      term.type('final-Value-3');
      term.key('Enter');
      const screen = await term.waitFor(/EXIT=\d+/);
      assert.match(screen, /EXIT=0/);
      for (const v of ['first-Value-1', 'other-Value-2', 'final-Value-3']) assert.ok(!screen.includes(v), `${v} shown on screen`);
    } finally {
      term.close();
    }
    assert.equal(await sb.ok(['get', 'tty/secret']), 'final-Value-3');
  });

  test('Ctrl-C at the prompt exits 130 and writes nothing', async () => {
    const before = readFileSync(sb.vault);
    const term = new Terminal(sb, `${process.execPath} ${BIN} put tty/secret`);
    try {
      await term.waitFor(/Value for tty\/secret:/);
      term.type('half-typed');
      term.key('C-c');
      const screen = await term.waitFor(/EXIT=\d+/);
      assert.match(screen, /EXIT=130/);
      assert.ok(!screen.includes('half-typed'));
    } finally {
      term.close();
    }
    assert.deepEqual(readFileSync(sb.vault), before);
  });

  test('delete asks for confirmation on a terminal; no keeps the secret', async () => {
    const term = new Terminal(sb, `${process.execPath} ${BIN} delete tty/secret`);
    try {
      await term.waitFor(/Delete tty\/secret\?/);
      term.type('n');
      term.key('Enter');
      const screen = await term.waitFor(/EXIT=\d+/);
      assert.doesNotMatch(screen, /EXIT=0/);
    } finally {
      term.close();
    }
    assert.equal(await sb.ok(['get', 'tty/secret']), 'final-Value-3');
  });

  test('policy changes that reduce access confirm on a terminal and need --yes elsewhere', async () => {
    const file = `${sb.home}/p.json`;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'tty/*' }] }));
    await sb.ok(['policy', 'put', 'tty-read', '-f', file]);
    const off = await sb.run(['policy', 'delete', 'tty-read']);
    assert.equal(off.code, 2, off.stderr);
    assert.match(off.stderr, /refusing to delete policy tty-read without confirmation: it reduces access/);
    assert.match(off.stderr, /hint: pass --yes/);
    const term = new Terminal(sb, `${process.execPath} ${BIN} policy delete tty-read`);
    try {
      await term.waitFor(/Delete policy tty-read\? Members may lose access/);
      term.type('n');
      term.key('Enter');
      const screen = await term.waitFor(/EXIT=\d+/);
      assert.match(screen, /EXIT=130/);
    } finally {
      term.close();
    }
    assert.match(await sb.ok(['policy', 'list']), /tty-read/, 'declined: the policy is still there');
    await sb.ok(['policy', 'delete', 'tty-read', '--yes']);
    assert.doesNotMatch(await sb.ok(['policy', 'list']), /tty-read/);
  });
});
