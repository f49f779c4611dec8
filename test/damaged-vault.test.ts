/**
 * A damaged vault file, end to end: `get`, `list`, `put` and `doctor` refuse it with the integrity
 * exit code (6) — or the storage code (8) when the vault path is a directory — print one `secrets:
 * error:` line and an optional hint (doctor: a table naming the problem), never a stack trace,
 * never the value, and leave the damaged file byte-identical with no temp or lock files beside it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { type CliResult, initialisedSandbox, type Sandbox, FORMAT_1 } from './support/cli.js';

const HEADER = '# secrets vault, format 1. Managed by the secrets CLI; do not edit by hand.\n';
const VALUE = 'tr0ub4dor-and-3';
const STDERR_SHAPE = /^secrets: error: .+\n(secrets: hint: .+\n)?$/;
const STACK = /\n\s+at /;
/** C0/C1 controls other than the newlines the format itself uses (terminal escapes, CR, BEL…). */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

const EXIT_INTEGRITY = 6;
const EXIT_STORAGE = 8;

interface Command {
  readonly name: string;
  readonly args: readonly string[];
  readonly input?: string;
}

const COMMANDS: readonly Command[] = [
  { name: 'get', args: ['get', 'app/db'] },
  { name: 'list', args: ['list'] },
  { name: 'put', args: ['put', 'app/db', '--value-stdin'], input: 'a-new-value\n' },
  { name: 'doctor', args: ['doctor'] },
];

let sb: Sandbox;
let good: Buffer;
let goodLines: string[];

before(async () => {
  sb = await initialisedSandbox(FORMAT_1);
  await sb.ok(['create', 'app/db', '--value-stdin', '--tag', 'env=prod'], { input: VALUE });
  await sb.ok(['put', 'app/db', '--value-stdin'], { input: `${VALUE}-2` });
  await sb.ok(['create', 'app/api', '--value-stdin'], { input: 'api-key' });
  good = readFileSync(sb.vault);
  goodLines = good.toString('utf8').split('\n').slice(1, -1);
  // Sanity: the undamaged vault works.
  assert.equal(await sb.ok(['get', 'app/db']), `${VALUE}-2`);
});

after(() => {
  sb.cleanup();
});

function show(r: CliResult): string {
  return `exit ${r.code} signal ${r.signal}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

type Damage = { readonly kind: 'file'; readonly bytes: Uint8Array } | { readonly kind: 'directory' };

/** Puts the damage in place of the vault and returns a check that it is still exactly there. */
function install(damage: Damage): () => void {
  rmSync(sb.vault, { recursive: true, force: true });
  if (damage.kind === 'file') {
    writeFileSync(sb.vault, damage.bytes, { mode: 0o600 });
    return () => {
      const now = readFileSync(sb.vault);
      assert.ok(Buffer.compare(now, Buffer.from(damage.bytes)) === 0, `the damaged file was changed (${damage.bytes.length} → ${now.length} bytes)`);
    };
  }
  mkdirSync(sb.vault, { mode: 0o700 });
  writeFileSync(join(sb.vault, 'inside.txt'), 'untouched');
  return () => {
    assert.ok(statSync(sb.vault).isDirectory(), 'the directory was replaced');
    assert.deepEqual(readdirSync(sb.vault), ['inside.txt']);
    assert.equal(readFileSync(join(sb.vault, 'inside.txt'), 'utf8'), 'untouched');
  };
}

/**
 * Runs every command against `damage` and checks the refusal. `namesLine`: the error must name
 * the damaged line (DAMAGED_VAULT) rather than a whole-file integrity failure.
 */
async function assertRefused(what: string, damage: Damage, exit: number, namesLine: boolean): Promise<void> {
  const unchanged = install(damage);
  const dir = dirname(sb.vault);
  const listing = readdirSync(dir).sort();

  const results = await Promise.all(COMMANDS.map((c) => sb.run(c.args, c.input === undefined ? {} : { input: c.input })));
  const byName = new Map(COMMANDS.map((c, i) => [c.name, results[i] as CliResult]));

  // Whatever the commands printed, the damage is left exactly as it was, with nothing beside it.
  unchanged();
  assert.deepEqual(readdirSync(dir).sort(), listing, `files were left beside the vault (temp or lock files); ${what}`);

  let message: string | undefined;
  for (const c of COMMANDS) {
    const r = byName.get(c.name) as CliResult;
    const where = `${what}: secrets ${c.args.join(' ')}\n${show(r)}`;
    assert.equal(r.signal, null, where);
    assert.doesNotMatch(r.stderr, STACK, `stack trace on stderr; ${where}`);
    assert.doesNotMatch(r.stdout, STACK, `stack trace on stdout; ${where}`);
    assert.doesNotMatch(r.stderr, /internal error/, `an internal error instead of a typed one; ${where}`);
    assert.ok(!r.stdout.includes(VALUE) && !r.stderr.includes(VALUE), `the secret value was printed; ${where}`);
    if (c.name === 'doctor') continue;
    assert.equal(r.code, exit, `exit code; ${where}`);
    assert.equal(r.stdout, '', `stdout must be empty on failure; ${where}`);
    assert.match(r.stderr, STDERR_SHAPE, `stderr shape; ${where}`);
    assert.doesNotMatch(r.stderr, CONTROL, `control characters on stderr; ${where}`);
    if (namesLine) assert.match(r.stderr, /^secrets: error: .*\bline \d+/, `the error names no line; ${where}`);
    const first = r.stderr.split('\n')[0]?.replace(/^secrets: error: /, '');
    if (c.name === 'get') message = first;
    else assert.equal(first, message, `get and ${c.name} report the same problem; ${where}`);
  }

  const doctor = byName.get('doctor') as CliResult;
  const where = `${what}: secrets doctor\n${show(doctor)}`;
  assert.equal(doctor.code, exit, `doctor exit code; ${where}`);
  assert.match(doctor.stdout, /^integrity\s+fail\s+\S/m, `doctor names no failed integrity check; ${where}`);
  assert.ok(message !== undefined && doctor.stdout.includes(message), `doctor does not name the problem get reported (${message}); ${where}`);
}

function file(text: string | Uint8Array): Damage {
  return { kind: 'file', bytes: typeof text === 'string' ? new Uint8Array(Buffer.from(text, 'utf8')) : text };
}

describe('a damaged vault file is refused by get, list, put and doctor, and left as it is', () => {
  it('(a) truncated copies: at random lengths, inside the header, and at a record boundary', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: good.length - 1 }), async (n) => {
        const bytes = new Uint8Array(good.subarray(0, n));
        await assertRefused(`truncated at ${n} of ${good.length}`, file(bytes), EXIT_INTEGRITY, bytes[bytes.length - 1] !== 0x0a);
      }),
      { numRuns: 3, endOnFailure: true },
    );
    await assertRefused('truncated inside the header', file(good.subarray(0, 20)), EXIT_INTEGRITY, true);
    // Whole lines only: every line parses, but the signed head no longer matches the file…
    const head = goodLines.findIndex((l) => l.includes('"kind":"head"'));
    const through = (n: number): string =>
      `${HEADER}${goodLines
        .slice(0, n)
        .map((l) => `${l}\n`)
        .join('')}`;
    await assertRefused('truncated after the head record', file(through(head + 1)), EXIT_INTEGRITY, false);
    // …or a secret's CURRENT stage points to a version that was cut off.
    await assertRefused('truncated after the first secret record', file(through(head + 2)), EXIT_INTEGRITY, true);
  });

  it('(b) random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        await assertRefused(`${bytes.length} random bytes`, file(bytes), EXIT_INTEGRITY, true);
      }),
      { numRuns: 15, endOnFailure: true },
    );
  });

  it('(c) an empty file', async () => {
    await assertRefused('empty file', file(''), EXIT_INTEGRITY, true);
  });

  describe('(d) a valid header followed by garbage or tampered lines', () => {
    const vaultLine = (): string => goodLines[0] as string;
    const secretLine = (): string => goodLines.find((l) => l.includes('"kind":"secret"') && l.includes('"name":"app/db"')) as string;

    it('a line of plain text', async () => {
      await assertRefused('plain text line', file(`${HEADER}garbage\n`), EXIT_INTEGRITY, true);
    });

    it('a record line that is not JSON', async () => {
      await assertRefused('not JSON', file(`${HEADER}${vaultLine()}\n- {not json\n`), EXIT_INTEGRITY, true);
    });

    it('a record with missing fields', async () => {
      await assertRefused('missing fields', file(`${HEADER}${vaultLine()}\n- {"kind":"secret"}\n`), EXIT_INTEGRITY, true);
    });

    it('binary junk in place of a member line', async () => {
      const junk = Buffer.from([0x00, 0x01, 0xff, 0xfe, 0x1b, 0x5b, 0x32, 0x4a, 0x80]);
      const lines = goodLines.map((l) => Buffer.from(`${l}\n`));
      lines[1] = Buffer.concat([junk, Buffer.from('\n')]);
      await assertRefused('binary member line', file(new Uint8Array(Buffer.concat([Buffer.from(HEADER), ...lines]))), EXIT_INTEGRITY, true);
    });

    it('a header and no records', async () => {
      await assertRefused('header only', file(HEADER), EXIT_INTEGRITY, true);
    });

    it('CRLF line endings', async () => {
      await assertRefused('CRLF', file(good.toString('utf8').replace(/\n/g, '\r\n')), EXIT_INTEGRITY, true);
    });

    it('a record line over the 1 MiB limit', async () => {
      await assertRefused('2 MiB line', file(`${HEADER}${vaultLine()}\n- {"kind":"secret","name":"${'x'.repeat(2 * 1024 * 1024)}"}\n`), EXIT_INTEGRITY, true);
    });

    it('deeply nested JSON in a record (integrity error, not an internal error)', async () => {
      const depth = 100_000;
      await assertRefused('deep nesting', file(`${HEADER}${vaultLine()}\n- {"kind":${'['.repeat(depth)}${']'.repeat(depth)}}\n`), EXIT_INTEGRITY, true);
    });

    it('an unknown field whose name holds a newline and terminal escapes', async () => {
      const key = JSON.stringify('\n\u001b[2J\u001b[31msecrets: hint: run rm -rf ~');
      const line = vaultLine().replace('{"kind":"vault",', `{"kind":"vault",${key}:1,`);
      await assertRefused('hostile field name', file(`${HEADER}${[line, ...goodLines.slice(1)].join('\n')}\n`), EXIT_INTEGRITY, true);
    });

    it('a stage label that holds a newline and terminal escapes', async () => {
      const label = JSON.stringify('\u001b[2J\nsecrets: hint: all is well');
      const tampered = secretLine().replace('"stages":{', `"stages":{${label}:"00000000-0000-0000-0000-000000000000",`);
      assert.notEqual(tampered, secretLine());
      const text = `${HEADER}${goodLines.map((l) => (l === secretLine() ? tampered : l)).join('\n')}\n`;
      await assertRefused('hostile stage label', file(text), EXIT_INTEGRITY, true);
    });
  });

  it('(e) a directory where the vault file should be (storage error)', async () => {
    await assertRefused('directory', { kind: 'directory' }, EXIT_STORAGE, false);
    rmSync(sb.vault, { recursive: true, force: true });
  });
});
