// `policy validate` and `policy put` accept what AWS IAM accepts (an action that matches no
// action, an operator on a key of another type, such as Bool on a tag key) and report it as a
// warning with its line and column; `--strict` makes those warnings errors, for CI. Through the
// built binary.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { initialisedSandbox, type Sandbox } from './support/cli.js';

const POLICY = `Version: "2012-10-17"
Statement:
  - Effect: Allow
    Action: ["secrets:GetSecretValue", "secrets:Frob*"]
    Resource: "dev/*"
    Condition:
      Bool:
        secrets:ResourceTag/rotated: "true"
`;

describe('policies IAM accepts: warnings, and errors only with --strict', () => {
  let sb: Sandbox;
  let file: string;
  before(async () => {
    sb = await initialisedSandbox();
    file = join(sb.home, 'p.yaml');
    writeFileSync(file, POLICY);
  });
  after(() => sb.cleanup());

  test('validate: valid with two warnings, each with line and column; --strict exits 2 with the same lines as errors', async () => {
    const r = await sb.run(['policy', 'validate', '-f', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`${file}:4:40: warning: action "secrets:Frob\\*" matches no action`));
    assert.match(r.stdout, new RegExp(`${file}:8:38: warning: secrets:ResourceTag/rotated is a string key and Bool compares bool values`));
    assert.match(r.stdout, /valid identity policy \(2 warnings\)/);
    const strict = await sb.run(['policy', 'validate', '-f', file, '--strict']);
    assert.equal(strict.code, 2, strict.stdout);
    assert.match(strict.stdout, new RegExp(`${file}:4:40: error: action "secrets:Frob\\*" matches no action`));
    assert.match(strict.stdout, new RegExp(`${file}:8:38: error: secrets:ResourceTag/rotated`));
    assert.match(strict.stdout, /2 errors, 0 warnings/);
    const json = JSON.parse(await sb.ok(['policy', 'validate', '-f', file, '--json'])) as {
      Valid: boolean;
      Warnings: number;
      Issues: { Level: string; Line: number; Column: number }[];
    };
    assert.equal(json.Valid, true);
    assert.deepEqual(
      json.Issues.map((i) => [i.Level, i.Line, i.Column]),
      [
        ['warning', 4, 40],
        ['warning', 8, 38],
      ],
    );
  });

  test('put: stored with the warnings on stderr, and Bool on a tag compares the tag text; --strict refuses it and writes nothing', async () => {
    const vault = readFileSync(sb.vault);
    const strict = await sb.run(['policy', 'put', 'strict-p', '-f', file, '--strict']);
    assert.equal(strict.code, 2, strict.stderr);
    assert.match(strict.stderr, new RegExp(`--strict: ${file} has 2 warning\\(s\\); nothing was changed: ${file}:4:40: warning`));
    assert.deepEqual(readFileSync(sb.vault), vault, 'nothing written');

    const r = await sb.run(['policy', 'put', 'dev-read', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`secrets: warning: ${file}:4:40: warning: action "secrets:Frob\\*" matches no action`));
    assert.match(r.stderr, /Created policy dev-read/);
    // The vault reads the stored document back (its codec checks every policy it loads).
    assert.equal((await sb.run(['verify'])).code, 0);
    const bobKey = join(sb.home, 'bob.key');
    const pub = (await sb.ok(['identity', 'new', '--name', 'bob', '--out', bobKey])).trim();
    await sb.ok(['member', 'add', 'bob', pub]);
    await sb.ok(['policy', 'attach', 'dev-read', 'bob']);
    await sb.ok(['create', 'dev/yes', '--value-stdin', '--tag', 'rotated=true'], { input: 'v' });
    await sb.ok(['create', 'dev/no', '--value-stdin', '--tag', 'rotated=no'], { input: 'v' });
    const simulate = async (secret: string): Promise<string> =>
      (
        JSON.parse(await sb.ok(['policy', 'simulate', '--member', 'bob', '--action', 'secrets:GetSecretValue', '--secret', secret, '--json'])) as {
          Decision: string;
        }
      ).Decision;
    assert.equal(await simulate('dev/yes'), 'allowed');
    assert.equal(await simulate('dev/no'), 'implicitDeny');
    assert.equal(await sb.ok(['get', 'dev/yes'], { env: { SECRETS_IDENTITY_FILE: bobKey } }), 'v');
  });
});
