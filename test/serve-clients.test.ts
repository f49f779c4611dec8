// Real AWS clients against `secrets serve`: the npm @aws-sdk/client-secrets-manager, Debian's
// `aws` CLI (/usr/bin/aws) and boto3 under Debian's /usr/bin/python3. The server runs as bob, a
// member whose policy allows app/* but denies deleting app/protected. Each client creates,
// reads, lists, rotates and deletes a secret, and is refused with AWS's error for a missing
// secret, a denied action and a bad signature. With CI=true a missing client fails the suite.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { marker } from './support/cli.js';
import { person, type Person } from './support/insider.js';
import { type Served, startServe } from './support/serve.js';

const AWS = '/usr/bin/aws';
const PYTHON = '/usr/bin/python3';

/** A skip reason when a client is missing, except under CI, where it must fail instead. */
function missing(what: string, ok: boolean, fix: string): string | undefined {
  if (ok || process.env['CI'] === 'true') return undefined;
  return `${what} is not installed (${fix})`;
}
const awsSkip = missing(AWS, existsSync(AWS), 'apt-get install awscli');
const botoSkip = missing(
  'boto3 for /usr/bin/python3',
  spawnSync(PYTHON, ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0,
  'apt-get install python3-boto3',
);

const POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'App', Effect: 'Allow', Action: 'secrets:*', Resource: 'app/*' },
    { Sid: 'List', Effect: 'Allow', Action: 'secrets:ListSecrets', Resource: '*' },
    { Sid: 'KeepProtected', Effect: 'Deny', Action: 'secrets:DeleteSecret', Resource: 'app/protected' },
  ],
};

interface Creds {
  AccessKeyId: string;
  SecretAccessKey: string;
}

describe('AWS clients against secrets serve', () => {
  let dir: string;
  let alice: Person;
  let bob: Person;
  let srv: Served;
  let creds: Creds;
  const values: string[] = [];
  const value = (): string => {
    const m = marker();
    values.push(m.value);
    return m.value;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secrets-serve-clients-'));
    const vault = join(dir, 'vault.yaml');
    alice = await person('alice', vault);
    bob = await person('bob', vault);
    await alice.ok(['init', '--member-name', 'alice']);
    const early = await bob.run(['serve', '--port', '0']);
    assert.equal(early.code, 5, `a non-member cannot serve the vault: ${early.stderr}`);
    assert.match(early.stderr, /^secrets: error: this identity \([0-9a-f]+\) is not a member of the vault at /);
    await alice.ok(['member', 'add', 'bob', (await bob.ok(['identity', 'show'])).trim()]);
    const file = join(dir, 'bob.json');
    writeFileSync(file, JSON.stringify(POLICY));
    await alice.ok(['policy', 'put', 'bob-app', '-f', file]);
    await alice.ok(['policy', 'attach', 'bob-app', 'bob']);
    await alice.ok(['create', 'app/protected', '--value-stdin'], { input: value() });
    creds = JSON.parse(await bob.ok(['aws-credentials', '--json'])) as Creds;
    srv = await startServe(bob.sb.env);
  });

  after(async () => {
    const stopped = await srv?.stop();
    for (const v of values) assert.ok(!stopped?.stderr.includes(v), 'the server printed a value');
    alice?.sb.cleanup();
    bob?.sb.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('the JavaScript SDK v3 (@aws-sdk/client-secrets-manager)', async () => {
    const client = new SecretsManagerClient({
      endpoint: srv.endpoint,
      region: 'eu-central-1',
      credentials: { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretAccessKey },
      maxAttempts: 1,
    });
    const v = value();
    const created = await client.send(new CreateSecretCommand({ Name: 'app/js', SecretString: v }));
    assert.match(created.ARN ?? '', /^arn:aws:secretsmanager:eu-central-1:\d{12}:secret:app\/js-[A-Za-z0-9]{6}$/);
    const got = await client.send(new GetSecretValueCommand({ SecretId: created.ARN }));
    assert.equal(got.SecretString, v);
    assert.deepEqual(got.VersionStages, ['AWSCURRENT']);
    assert.ok(got.CreatedDate instanceof Date && Math.abs(got.CreatedDate.getTime() - Date.now()) < 60_000);
    const listed = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['app/js'] }] }));
    assert.deepEqual(
      listed.SecretList?.map((s) => s.Name),
      ['app/js'],
    );
    await bob.ok(['rotate', 'app/js', '--handler', 'password', '--no-rotate-now']);
    const rotated = await client.send(new RotateSecretCommand({ SecretId: 'app/js' }));
    const now = await client.send(new GetSecretValueCommand({ SecretId: 'app/js' }));
    assert.equal(now.VersionId, rotated.VersionId);
    assert.notEqual(now.SecretString, v);
    const deleted = await client.send(new DeleteSecretCommand({ SecretId: 'app/js', ForceDeleteWithoutRecovery: true }));
    assert.equal(deleted.Name, 'app/js');

    const refused = async (send: () => Promise<unknown>) => {
      try {
        await send();
      } catch (err) {
        return err as { name: string; message: string; $metadata: { httpStatusCode?: number } };
      }
      assert.fail('expected a refusal');
    };
    const notFound = await refused(() => client.send(new GetSecretValueCommand({ SecretId: 'app/js' })));
    assert.equal(notFound.name, 'ResourceNotFoundException');
    assert.equal(notFound.message, "Secrets Manager can't find the specified secret.");
    const denied = await refused(() => client.send(new DeleteSecretCommand({ SecretId: 'app/protected', ForceDeleteWithoutRecovery: true })));
    assert.equal(denied.name, 'AccessDeniedException');
    assert.match(denied.message, /^User: arn:aws:iam::\d{12}:user\/bob is not authorized to perform: secretsmanager:DeleteSecret on resource: app\/protected/);
    const badKey = new SecretsManagerClient({
      endpoint: srv.endpoint,
      region: 'eu-central-1',
      credentials: { accessKeyId: creds.AccessKeyId, secretAccessKey: `${creds.SecretAccessKey.slice(0, -1)}x` },
      maxAttempts: 1,
    });
    const bad = await refused(() => badKey.send(new GetSecretValueCommand({ SecretId: 'app/protected' })));
    assert.equal(bad.name, 'InvalidSignatureException');
    assert.equal(bad.$metadata.httpStatusCode, 400);
  });

  test('the aws CLI (/usr/bin/aws)', { skip: awsSkip }, async () => {
    const env = (secret = creds.SecretAccessKey): Record<string, string> => ({
      PATH: '/usr/bin:/bin',
      HOME: bob.sb.home,
      AWS_ACCESS_KEY_ID: creds.AccessKeyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_DEFAULT_REGION: 'us-west-2',
      AWS_CONFIG_FILE: join(dir, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
      AWS_MAX_ATTEMPTS: '1',
      AWS_PAGER: '',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    const aws = (args: string[], secret?: string) => {
      const r = spawnSync(AWS, ['--endpoint-url', srv.endpoint, '--output', 'json', 'secretsmanager', ...args], {
        env: env(secret),
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) as Record<string, unknown> };
    };
    const ok = (args: string[]) => {
      const r = aws(args);
      assert.equal(r.code, 0, `aws secretsmanager ${args.join(' ')}: ${r.stderr}`);
      return r.json();
    };
    const v = value();
    const created = ok(['create-secret', '--name', 'app/cli', '--secret-string', v]);
    assert.match(created['ARN'] as string, /^arn:aws:secretsmanager:us-west-2:\d{12}:secret:app\/cli-/);
    assert.equal(ok(['get-secret-value', '--secret-id', 'app/cli'])['SecretString'], v);
    const listed = ok(['list-secrets']);
    assert.ok((listed['SecretList'] as { Name: string }[]).some((s) => s.Name === 'app/cli'));
    await bob.ok(['rotate', 'app/cli', '--handler', 'password', '--no-rotate-now']);
    const rotated = ok(['rotate-secret', '--secret-id', 'app/cli']);
    assert.equal(ok(['get-secret-value', '--secret-id', 'app/cli'])['VersionId'], rotated['VersionId']);
    ok(['delete-secret', '--secret-id', 'app/cli', '--recovery-window-in-days', '7']);
    const gone = aws(['get-secret-value', '--secret-id', 'app/cli']);
    assert.equal(gone.code, 254);
    assert.match(
      gone.stderr,
      /An error occurred \(InvalidRequestException\) when calling the GetSecretValue operation( \(reached max retries: \d+\))?: You can't perform this operation on the secret because it was marked for deletion\./,
    );
    const missing1 = aws(['get-secret-value', '--secret-id', 'app/nope']);
    assert.match(
      missing1.stderr,
      /\(ResourceNotFoundException\) when calling the GetSecretValue operation( \(reached max retries: \d+\))?: Secrets Manager can't find the specified secret\./,
    );
    const denied = aws(['delete-secret', '--secret-id', 'app/protected']);
    assert.match(
      denied.stderr,
      /\(AccessDeniedException\) when calling the DeleteSecret operation( \(reached max retries: \d+\))?: User: arn:aws:iam::\d{12}:user\/bob is not authorized/,
    );
    const bad = aws(['get-secret-value', '--secret-id', 'app/protected'], 'x'.repeat(40));
    assert.match(
      bad.stderr,
      /\(InvalidSignatureException\) when calling the GetSecretValue operation( \(reached max retries: \d+\))?: The request signature we calculated does not match/,
    );
    for (const v1 of values) assert.ok(!bad.stderr.includes(v1) && !denied.stderr.includes(v1));
  });

  test('boto3 (under /usr/bin/python3)', { skip: botoSkip }, async () => {
    await bob.ok(['create', 'app/py-rotated', '--value-stdin'], { input: value() });
    await bob.ok(['rotate', 'app/py-rotated', '--handler', 'password', '--no-rotate-now']);
    const v = value();
    const script = `
import json, os, sys, boto3, botocore
cfg = botocore.config.Config(retries={'max_attempts': 1, 'mode': 'standard'})
def client(secret):
    return boto3.client('secretsmanager', endpoint_url=os.environ['ENDPOINT'], region_name='ap-south-1',
        aws_access_key_id=os.environ['KEY_ID'], aws_secret_access_key=secret, config=cfg)
c = client(os.environ['SECRET'])
out = {}
def err(f):
    try:
        f()
        return None
    except botocore.exceptions.ClientError as e:
        return [e.response['Error']['Code'], e.response['Error']['Message'], e.response['ResponseMetadata']['HTTPStatusCode']]
out['created'] = c.create_secret(Name='app/py', SecretString=os.environ['VALUE'])['ARN']
out['value'] = c.get_secret_value(SecretId='app/py')['SecretString']
out['listed'] = [s['Name'] for s in c.list_secrets()['SecretList']]
before = c.get_secret_value(SecretId='app/py-rotated')['VersionId']
out['rotated'] = c.rotate_secret(SecretId='app/py-rotated')['VersionId'] != before
out['deleted'] = c.delete_secret(SecretId='app/py', ForceDeleteWithoutRecovery=True)['Name']
out['missing'] = err(lambda: c.get_secret_value(SecretId='app/py'))
out['denied'] = err(lambda: c.delete_secret(SecretId='app/protected'))
out['bad'] = err(lambda: client('x' * 40).get_secret_value(SecretId='app/protected'))
print(json.dumps(out))
`;
    const r = spawnSync(PYTHON, ['-c', script], {
      env: {
        PATH: '/usr/bin:/bin',
        HOME: bob.sb.home,
        ENDPOINT: srv.endpoint,
        KEY_ID: creds.AccessKeyId,
        SECRET: creds.SecretAccessKey,
        VALUE: v,
        AWS_CONFIG_FILE: join(dir, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.match(out['created'] as string, /^arn:aws:secretsmanager:ap-south-1:\d{12}:secret:app\/py-/);
    assert.equal(out['value'], v);
    assert.ok((out['listed'] as string[]).includes('app/py'));
    assert.equal(out['rotated'], true);
    assert.equal(out['deleted'], 'app/py');
    assert.deepEqual(out['missing'], ['ResourceNotFoundException', "Secrets Manager can't find the specified secret.", 400]);
    assert.equal((out['denied'] as string[])[0], 'AccessDeniedException');
    assert.equal((out['bad'] as string[])[0], 'InvalidSignatureException');
  });
});
