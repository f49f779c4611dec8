/**
 * The V8 code cache of bin/secrets (ADR 0012) must never run code compiled from another
 * bundle. These runs copy the real bin/ next to a tiny stand-in bundle (bin/secrets finds
 * dist/secrets.cjs relative to itself) and watch which code runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT } from './support/cli.js';

/** A stand-in bundle that says which build it is; every build has the same length. */
const fakeBundle = (build: string): string => `process.stdout.write(${JSON.stringify(`build ${build}`)});\n`;

describe('the code cache', () => {
  let dir: string;
  let bundle: string;
  let cache: string;
  const run = (): string => {
    const r = spawnSync(process.execPath, [join(dir, 'bin', 'secrets'), 'get', 'x'], {
      env: { PATH: process.env['PATH'] ?? '', HOME: dir, XDG_CACHE_HOME: cache },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'secrets-code-cache-'));
    cache = join(dir, 'cache');
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'dist'));
    for (const f of ['secrets', 'package.json']) copyFileSync(join(ROOT, 'bin', f), join(dir, 'bin', f));
    bundle = join(dir, 'dist', 'secrets.cjs');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a rebuilt bundle of the same size and mtime, not the code cached from the old one', () => {
    // A whole second, so the same stamp can be set again exactly.
    const stamp = Math.floor(Date.now() / 1000) - 60;
    writeFileSync(bundle, fakeBundle('one'));
    utimesSync(bundle, stamp, stamp);
    assert.equal(run(), 'build one');
    assert.equal(readdirSync(join(cache, 'secrets', 'code')).length, 1, 'the first run saved a cache');
    assert.equal(run(), 'build one', 'the second run starts from it');
    writeFileSync(bundle, fakeBundle('two'));
    utimesSync(bundle, stamp, stamp);
    const st = statSync(bundle, { bigint: true });
    assert.equal(st.size, BigInt(fakeBundle('one').length), 'the same size');
    assert.equal(st.mtimeNs, BigInt(stamp) * 1_000_000_000n, 'the same mtime');
    assert.equal(run(), 'build two');
    assert.equal(run(), 'build two');
  });
});
