/**
 * The read index (ADR 0013): `get` skips hashing the whole vault only for the exact file it
 * verified before, on a note only this identity can make. These transcripts check that it is
 * used, that it never hides a change, and that a note forged without the identity's key is
 * ignored (and that the same note with the right key would have been taken, so the MAC is
 * what stops it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeKey, identityFromSeed, readIndexKey } from '../src/crypto/identity.js';
import { ReadIndex } from '../src/store/read-index.js';
import { initialisedSandbox, type Sandbox } from './support/cli.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Past the two-second "racy" window, so a note may be made. */
const SETTLE_MS = 2300;

function indexFiles(sb: Sandbox): string[] {
  const dir = join(sb.home, '.cache', 'secrets', 'index');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.idx')).map((f) => join(dir, f)) : [];
}

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
    sb = await initialisedSandbox();
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
      const forge = (key: Uint8Array): void =>
        new ReadIndex(dir).save(sb.vault, statSync(sb.vault, { bigint: true }), key, { vault: meta.vault, digest: meta.digest, buf: spliced, headerEnd: meta.headerEnd, firstLine: meta.firstLine });
      forge(randomBytes(32));
      assert.notDeepEqual(readFileSync(file), note, 'the forged note replaced the real one');
      const refused = await sb.run(['get', 'prod/db']);
      assert.equal(refused.code, 6, `a note with a wrong MAC is ignored and the full read finds the splice: ${refused.stderr}`);
      // The same forgery with the key that only the seed gives is accepted: the MAC is the guard.
      const keyFile = findFile(sb.home, 'identity.key');
      assert.ok(keyFile, 'the sandbox identity file');
      const key = readIndexKey(await identityFromSeed(decodeKey(readFileSync(keyFile, 'utf8').split('\n').find((l) => l.startsWith('SECRETS-KEY-1')) ?? '', 'identity file')));
      forge(key);
      assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
    } finally {
      writeFileSync(sb.vault, original);
    }
  });
});
