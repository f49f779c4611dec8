/**
 * The read index (ADR 0013): `get` skips hashing the whole vault only for the exact file it
 * verified before, on a note only this identity can make. These transcripts check that it is
 * used, that it never hides a change, and that a note forged without the identity's key is
 * ignored (and that the same note with the right key would have been taken, so the MAC is
 * what stops it).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { decodeKey, identityFromSeed, readIndexKey } from '../src/crypto/identity.js';
import { fileIdentity, ReadIndex } from '../src/store/read-index.js';
import { type CliResult, initialisedSandbox, type Sandbox, FORMAT_1 } from './support/cli.js';
import { skipReason } from './support/keyring.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Past the two-second "racy" window, so a note may be made. */
const SETTLE_MS = 2300;

function indexFiles(sb: Sandbox): string[] {
  const dir = join(sb.home, '.cache', 'secrets', 'index');
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.idx'))
        .map((f) => join(dir, f))
    : [];
}

/**
 * Edits `length` bytes at `start` of `path` through a shared memory mapping, in two steps.
 * `dirty()` writes the bytes already there: the kernel stamps mtime and ctime at that first
 * write to each page. `edit()` then writes new bytes through the same, still dirty pages,
 * and no timestamp changes: the file keeps its device, inode, size, mtime and ctime.
 */
function mappedEditor(path: string, start: number, replacement: Buffer): { dirty(): Promise<void>; edit(): Promise<void>; close(): Promise<void> } {
  const program = [
    'import mmap, os, sys',
    'fd = os.open(sys.argv[1], os.O_RDWR)',
    'm = mmap.mmap(fd, 0, mmap.MAP_SHARED)',
    'start, new = int(sys.argv[2]), bytes.fromhex(sys.argv[3])',
    'for line in sys.stdin:',
    '    if line.strip() == "dirty": m[start:start + len(new)] = m[start:start + len(new)]',
    '    if line.strip() == "edit": m[start:start + len(new)] = new',
    '    print(line.strip(), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', program, path, String(start), replacement.toString('hex')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const replies: string[] = [];
  let waiting: (() => void) | undefined;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    replies.push(...d.split('\n').filter(Boolean));
    waiting?.();
  });
  const step = (word: string): Promise<void> =>
    new Promise((resolve, reject) => {
      child.once('exit', () => reject(new Error(`the mmap helper exited before "${word}"`)));
      waiting = () => {
        if (replies.includes(word)) resolve();
      };
      child.stdin.write(`${word}\n`);
    });
  return {
    dirty: () => step('dirty'),
    edit: () => step('edit'),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

const hasPython = spawnSync('python3', ['-c', 'import mmap'], { stdio: 'ignore' }).status === 0;

function findFile(dir: string, name: string): string | undefined {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const found = findFile(p, name);
      if (found) return found;
    } else if (e.name === name) return p;
  }
  return undefined;
}

describe('the read index', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await initialisedSandbox(FORMAT_1);
    const lines = Array.from({ length: 200 }, (_, i) => `K${i}=value-${i}`).join('\n');
    await sb.ok(['import', '--format', 'dotenv', '--prefix', 'bulk/', '-'], { input: `${lines}\n` });
    await sb.ok(['create', 'prod/db', '--value-stdin', '--tag', 'name=bulk/K3'], { input: 'the-right-one' });
  });
  after(() => sb.cleanup());

  it('is not made for a file changed in the last two seconds, then is made, 0600, with no value in it', async () => {
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
    assert.deepEqual(indexFiles(sb), [], 'a fresh file gets no note');
    await sleep(SETTLE_MS);
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
    const [file] = indexFiles(sb);
    assert.ok(file, 'a settled file gets a note');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes('the-right-one') && !text.includes('value-7'), 'names and offsets only');
    assert.match(text, /bulk\/K199\t/);
    // Reads through the note return the same values as reads without it.
    for (const name of ['prod/db', 'bulk/K0', 'bulk/K3', 'bulk/K199']) {
      assert.equal(await sb.ok(['get', name]), await sb.ok(['get', name], { env: { SECRETS_READ_INDEX: '0' } }));
    }
    const r = await sb.run(['get', 'bulk/K200']);
    assert.equal(r.code, 3, 'a name the note does not list is looked up the full way');
  });

  it('an edit after the note is caught: the file is not the one noted', async () => {
    await sleep(SETTLE_MS);
    await sb.ok(['get', 'prod/db']);
    assert.equal(indexFiles(sb).length, 1);
    const original = readFileSync(sb.vault, 'utf8');
    try {
      // Same size, same inode: only the timestamps tell.
      writeFileSync(sb.vault, original.replace('"name":"bulk/K150"', '"name":"bulk/K15X"'));
      const r = await sb.run(['get', 'prod/db']);
      assert.equal(r.code, 6, r.stderr);
      assert.equal(r.stdout, '');
    } finally {
      writeFileSync(sb.vault, original);
    }
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
  });

  it('a note forged for a spliced file is refused without the identity key, and would be taken with it', async () => {
    await sleep(SETTLE_MS);
    await sb.ok(['get', 'prod/db']);
    const [file] = indexFiles(sb);
    assert.ok(file);
    const note = readFileSync(file);
    const original = readFileSync(sb.vault, 'utf8');
    try {
      // Splice: drop another secret's lines. Its own signature checks cannot see that; only the head digest can.
      const lines = original.split('\n');
      const i = lines.findIndex((l) => l.includes('"name":"bulk/K0"'));
      lines.splice(i, 2);
      writeFileSync(sb.vault, lines.join('\n'));
      await sleep(SETTLE_MS);
      const spliced = readFileSync(sb.vault);
      const nl = note.indexOf(0x0a, note.indexOf(0x0a) + 1);
      const [metaText] = note.toString('utf8', note.indexOf(0x0a) + 1, nl).split('\t');
      const meta = JSON.parse(metaText as string) as { vault: string; digest: string; headerEnd: number; firstLine: number };
      // The forger's note: this spliced file "matched" the digest the original file had.
      const dir = join(sb.home, '.cache', 'secrets', 'index');
      const forge = (key: Uint8Array): Promise<void> =>
        new ReadIndex(dir).save(sb.vault, statSync(sb.vault, { bigint: true }), key, {
          vault: meta.vault,
          digest: meta.digest,
          buf: spliced,
          headerEnd: meta.headerEnd,
          firstLine: meta.firstLine,
        });
      await forge(randomBytes(32));
      assert.notDeepEqual(readFileSync(file), note, 'the forged note replaced the real one');
      const refused = await sb.run(['get', 'prod/db']);
      assert.equal(refused.code, 6, `a note with a wrong MAC is ignored and the full read finds the splice: ${refused.stderr}`);
      // The same forgery with the key that only the seed gives is accepted: the MAC is the guard.
      const keyFile = findFile(sb.home, 'identity.key');
      assert.ok(keyFile, 'the sandbox identity file');
      const key = readIndexKey(
        await identityFromSeed(
          decodeKey(
            readFileSync(keyFile, 'utf8')
              .split('\n')
              .find((l) => l.startsWith('SECRETS-KEY-1')) ?? '',
            'identity file',
          ),
        ),
      );
      await forge(key);
      assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
    } finally {
      writeFileSync(sb.vault, original);
    }
  });
});

/** The line of `file` (as bytes) that includes every one of `parts`. */
function lineWith(file: Buffer, ...parts: string[]): Buffer {
  const line = file
    .toString('utf8')
    .split('\n')
    .find((l) => parts.every((p) => l.includes(p)));
  assert.ok(line, `a line with ${parts.join(' ')}`);
  return Buffer.from(line);
}

/**
 * The attack: a record the current file replaced, validly signed, is written back over its
 * successor (same size) through a shared mapping that was dirtied before the note was made, so
 * the file keeps the identity the note was made for. Returns `get NAME` after the edit.
 */
async function replayUnderNote(sb: Sandbox, name: string, older: Buffer, newer: Buffer, settledValue: string): Promise<{ get: CliResult; full: CliResult }> {
  const current = readFileSync(sb.vault);
  assert.equal(older.length, newer.length, 'the two records have the same size');
  assert.notDeepEqual(older, newer);
  const editor = mappedEditor(sb.vault, current.indexOf(newer), older);
  try {
    await editor.dirty();
    await sleep(SETTLE_MS);
    assert.equal(await sb.ok(['get', name]), settledValue);
    assert.equal(indexFiles(sb).length, 1, 'the note is made');
    const noted = statSync(sb.vault, { bigint: true });
    await editor.edit();
    assert.equal(fileIdentity(statSync(sb.vault, { bigint: true })), fileIdentity(noted), 'the edit changed no timestamp');
    assert.ok(readFileSync(sb.vault).includes(older), 'the older record is in the file');
    const full = await sb.run(['get', name], { env: { SECRETS_READ_INDEX: '0' } });
    return { get: await sb.run(['get', name]), full };
  } finally {
    await editor.close();
  }
}

describe(
  'the read index against an edit that changes no timestamp',
  { skip: skipReason(hasPython ? { ok: true } : { ok: false, reason: 'needs python3 for mmap' }) },
  () => {
    let sb: Sandbox;
    beforeEach(async () => {
      sb = await initialisedSandbox(FORMAT_1);
    });
    afterEach(() => sb.cleanup());

    it("never serves a secret's bytes it did not check: an older signed record put back is refused", async () => {
      await sb.ok(['create', 'app/key', '--value-stdin'], { input: 'value-1' });
      await sb.ok(['put', 'app/key', '--value-stdin'], { input: 'value-2' });
      // The record that said CURRENT = value-2: validly signed, then replaced.
      const older = lineWith(readFileSync(sb.vault), '"kind":"secret"', '"name":"app/key"');
      await sb.ok(['put', 'app/key', '--value-stdin'], { input: 'value-3' });
      const newer = lineWith(readFileSync(sb.vault), '"kind":"secret"', '"name":"app/key"');
      const { get, full } = await replayUnderNote(sb, 'app/key', older, newer, 'value-3');
      assert.equal(full.code, 6, `the full read refuses the file: ${full.stderr}`);
      assert.notEqual(get.stdout, 'value-2', 'the index served the replaced record');
      assert.equal(get.code, 6, get.stderr);
      assert.equal(get.stdout, '');

      // A note whose row is rewritten to the hash of the replayed lines is refused too: the
      // buckets are under the MAC, and only the identity's key makes one.
      const [file] = indexFiles(sb);
      assert.ok(file);
      const note = readFileSync(file);
      const vault = readFileSync(sb.vault);
      const rowAt = note.indexOf('app/key\t');
      assert.ok(rowAt > 0, 'the note lists app/key');
      const row = note.toString('latin1', rowAt, note.indexOf('\n', rowAt));
      const [, start, stop] = row.split('\t');
      assert.equal(Number(start), vault.indexOf(older), 'the row points at the replayed record');
      const forged = `${row.slice(0, row.lastIndexOf('\t'))}\t${createHash('sha256')
        .update(vault.subarray(Number(start), Number(stop)))
        .digest('hex')}`;
      assert.equal(forged.length, row.length);
      writeFileSync(file, Buffer.concat([note.subarray(0, rowAt), Buffer.from(forged, 'latin1'), note.subarray(rowAt + row.length)]));
      const refused = await sb.run(['get', 'app/key']);
      assert.notEqual(refused.stdout, 'value-2', 'the index took a row rewritten without the key');
      assert.equal(refused.code, 6, refused.stderr);
    });

    it('never serves a header it did not check: an older signed policy put back is refused', async () => {
      await sb.ok(['create', 'app/key', '--value-stdin'], { input: 'value-1' });
      const policy = (sid: string): string =>
        JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: sid, Effect: 'Allow', Action: 'secrets:ListSecrets', Resource: '*' }] });
      await sb.ok(['policy', 'put', 'lister', '-f', '-'], { input: policy('One') });
      const older = lineWith(readFileSync(sb.vault), '"kind":"policy"');
      await sb.ok(['policy', 'put', 'lister', '-f', '-'], { input: policy('Two') });
      const newer = lineWith(readFileSync(sb.vault), '"kind":"policy"');
      const { get, full } = await replayUnderNote(sb, 'app/key', older, newer, 'value-1');
      assert.equal(full.code, 6, `the full read refuses the file: ${full.stderr}`);
      assert.equal(get.code, 6, `the index path took a header it did not check: ${get.stderr}`);
      assert.equal(get.stdout, '');
    });
  },
);
