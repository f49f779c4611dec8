/**
 * `get` reads a vault in part (FileVaultRepository.readSome): the header records and the one
 * secret it needs, found by a byte search, with the digest still taken over every line. These
 * transcripts check that the shortcut never returns another secret's value and never skips a
 * check that the full read makes.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FORMAT_1, initialisedSandbox, type Sandbox } from './support/cli.js';

describe('partial reads for get', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await initialisedSandbox(FORMAT_1);
    const lines = Array.from({ length: 300 }, (_, i) => `K${i}=value-${i}`).join('\n');
    await sb.ok(['import', '--format', 'dotenv', '--prefix', 'bulk/', '-'], { input: `${lines}\n` });
    await sb.ok(['create', 'prod/db', '--value-stdin'], { input: 'the-right-one' });
    // Tags named "name" whose value is another secret's name, before and after it in the file.
    await sb.ok(['create', 'a/decoy', '--value-stdin', '--tag', 'a=1', '--tag', 'name=prod/db', '--tag', 'z=2'], { input: 'decoy-a' });
    await sb.ok(['create', 'z/decoy', '--value-stdin', '--tag', 'a=1', '--tag', 'name=prod/db', '--tag', 'z=2'], { input: 'decoy-z' });
  });
  after(() => sb.cleanup());

  it('finds the secret by name, not a tag that spells its name', async () => {
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one');
    assert.equal(await sb.ok(['get', 'a/decoy']), 'decoy-a');
    assert.equal(await sb.ok(['get', 'z/decoy']), 'decoy-z');
    assert.equal(await sb.ok(['get', 'bulk/K0']), 'value-0');
    assert.equal(await sb.ok(['get', 'bulk/K299']), 'value-299');
  });

  it('a missing name is not found (exit 3), as with a full read', async () => {
    const r = await sb.run(['get', 'bulk/K300']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /secret bulk\/K300 not found/);
  });

  it('an edit to a line get does not use is still caught by the digest (exit 6, the line named)', async () => {
    const original = readFileSync(sb.vault, 'utf8');
    try {
      const lines = original.split('\n');
      const i = lines.findIndex((l) => l.includes('"name":"bulk/K150"'));
      lines[i] = (lines[i] as string).replace('"tags":{}', '"tags":{"x":"y"}');
      writeFileSync(sb.vault, lines.join('\n'));
      const r = await sb.run(['get', 'prod/db']);
      assert.equal(r.code, 6, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`line ${i + 1}`), `the edited line is named: ${r.stderr}`);
    } finally {
      writeFileSync(sb.vault, original);
    }
  });

  it('a removed version line of another secret is caught too', async () => {
    const original = readFileSync(sb.vault, 'utf8');
    try {
      const lines = original.split('\n');
      const i = lines.findIndex((l) => l.startsWith('- {"kind":"version"') && lines[lines.indexOf(l) - 1]?.includes('"name":"bulk/K7"'));
      lines.splice(i, 1);
      writeFileSync(sb.vault, lines.join('\n'));
      const r = await sb.run(['get', 'prod/db']);
      assert.equal(r.code, 6, r.stderr);
      assert.equal(r.stdout, '');
    } finally {
      writeFileSync(sb.vault, original);
    }
    assert.equal(await sb.ok(['get', 'prod/db']), 'the-right-one', 'and the restored file reads again');
  });
});
