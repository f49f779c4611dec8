// Mistakes a newcomer makes on the command line, and what they are told: an unknown command is
// exit 2 even with --help (so a script can tell), with the nearest names; `exec ls -la` shows
// the `--` it needs. End to end through the built binary.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { initialisedSandbox, type Sandbox } from './support/cli.js';

describe('unknown commands', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await initialisedSandbox();
  });
  after(() => sb.cleanup());

  test('an unknown command is exit 2 with or without --help, and after help; stdout stays empty; real ones still work', async () => {
    for (const args of [['nosuch'], ['nosuch', '--help'], ['--help', 'nosuch'], ['help', 'nosuch'], ['--vault', 'x.yaml', 'nosuch', '--help']]) {
      const r = await sb.run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', args.join(' '));
      assert.equal(r.stderr, "secrets: error: unknown command 'nosuch'\nsecrets: hint: `secrets --help` lists the commands\n", args.join(' '));
    }
  });

  test('a near miss names the command it was probably meant to be', async () => {
    const r = await sb.run(['gett', '--help']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "secrets: error: unknown command 'gett'\nsecrets: hint: did you mean `secrets get`? (`secrets --help` lists the commands)\n");
    const sub = await sb.run(['policy', 'lst', '--help']);
    assert.equal(sub.code, 2);
    assert.equal(
      sub.stderr,
      "secrets: error: unknown command 'policy lst'\nsecrets: hint: did you mean `secrets policy list`? (`secrets policy --help` lists the commands)\n",
    );
    const audit = await sb.run(['audit', '--secret', 'x', 'verfy']);
    assert.equal(audit.code, 2);
    assert.match(audit.stderr, /unknown command 'audit verfy'\nsecrets: hint: did you mean `secrets audit verify`\?/);
    // Help for a real command, and real commands, are unchanged.
    for (const args of [['get', '--help'], ['help', 'get'], ['policy', 'list', '--help'], ['help', 'exit-codes'], ['--help']]) {
      const r = await sb.run(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: secrets/, args.join(' '));
    }
    assert.equal((await sb.run(['list'])).code, 0);
  });
});

describe('exec without --', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await initialisedSandbox();
  });
  after(() => sb.cleanup());

  test('a flag of the command is refused with a hint that puts -- before the command, and works after --', async () => {
    const r = await sb.run(['exec', 'ls', '-la']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "secrets: error: unknown option '-la'\nsecrets: hint: a flag for the command goes after --: secrets exec -- ls -la\n");
    const flags = await sb.run(['exec', '--secret', 'app/db', 'ls', '-la', '/tmp']);
    assert.equal(flags.code, 2);
    assert.match(flags.stderr, /\nsecrets: hint: a flag for the command goes after --: secrets exec --secret app\/db -- ls -la …\n$/);
    const first = await sb.run(['exec', '-la', 'ls']);
    assert.equal(first.code, 2);
    assert.match(first.stderr, /\nsecrets: hint: a flag for the command goes after --: secrets exec \[flags\] -- CMD \[ARGS\.\.\.\]\n$/);
    // As the hint says: with --, the flag reaches the command.
    await sb.ok(['create', 'app/db', '--value-stdin'], { input: 'x' });
    const ran = await sb.run(['exec', '--secret', 'app/db', '--', 'ls', '-la', sb.home]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /^total /m);
  });
});
