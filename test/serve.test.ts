// `secrets serve` at the protocol level, against the built binary in a sandbox: start and stop,
// AWS's request and error shapes for each operation, idempotency tokens, deleted secrets, stage
// moves, ARN lookup, pagination, the agent protocol, values changed by another process, the
// audit trail, and hostile input (malformed JSON, huge bodies, slow clients, thousands of idle
// connections) that must neither stop the server nor leak a value.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { initialisedSandbox, marker, type Sandbox } from './support/cli.js';
import { call, type Keys, send, type Served, startServe } from './support/serve.js';

const TOKEN_A = '11111111-2222-3333-4444-555555555555';
const TOKEN_B = '11111111-2222-3333-4444-666666666666';

function auditEvents(sb: Sandbox): Record<string, unknown>[] {
  const dir = join(sb.home, '.local', 'state', 'secrets', 'audit');
  const file = readdirSync(dir).find((f) => f.endsWith('.jsonl')) as string;
  return readFileSync(join(dir, file), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('secrets serve', () => {
  let sb: Sandbox;
  let srv: Served;
  let keys: Keys;
  let agentToken: string;
  const values: string[] = [];
  const value = (): string => {
    const m = marker();
    values.push(m.value);
    return m.value;
  };
  const api = (op: string, input: unknown, opts?: Parameters<typeof call>[4]) => call(srv.endpoint, keys, op, input, opts);

  before(async () => {
    sb = await initialisedSandbox();
    const creds = JSON.parse(await sb.ok(['aws-credentials', '--json'])) as { AccessKeyId: string; SecretAccessKey: string; AgentToken: string };
    keys = { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretAccessKey };
    agentToken = creds.AgentToken;
    srv = await startServe(sb.env);
  });

  after(async () => {
    const stopped = await srv?.stop();
    sb?.cleanup();
    for (const v of values) assert.ok(!stopped?.stderr.includes(v), 'the server printed a value');
  });

  test('--json prints one line; aws-credentials names the running endpoint', async () => {
    assert.match(srv.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(srv.accountId, /^\d{12}$/);
    assert.equal(srv.accessKeyId, keys.accessKeyId);
    assert.equal(srv.region, 'us-east-1');
    assert.match(srv.stderr(), new RegExp(`Listening on ${srv.endpoint}\\n`));
    const shell = await sb.ok(['aws-credentials', '--format', 'shell']);
    assert.match(shell, new RegExp(`^export AWS_ENDPOINT_URL_SECRETS_MANAGER='?${srv.endpoint}'?$`, 'm'));
    assert.match(shell, new RegExp(`^export AWS_ACCESS_KEY_ID='?${keys.accessKeyId}'?$`, 'm'));
    const file = await sb.ok(['aws-credentials', '--format', 'credentials-file']);
    assert.match(file, /^\[secrets\]\naws_access_key_id = AKIA/);
  });

  test('a non-loopback host and unknown flags are usage errors (exit 2)', async () => {
    const r = await sb.run(['serve', '--host', '0.0.0.0', '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^secrets: error: refusing to serve on 0\.0\.0\.0: only loopback addresses/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal((await sb.run(['serve', '--nosuch'])).code, 2);
    assert.equal((await sb.run(['aws-credentials', '--format', 'yaml'])).code, 2);
  });

  test('create, get by name and by ARN (full and partial, any region), describe, list', async () => {
    const v = value();
    const created = await api('CreateSecret', {
      Name: 'app/db',
      SecretString: v,
      Description: 'the db',
      Tags: [{ Key: 'team', Value: 'core' }],
      ClientRequestToken: TOKEN_A,
    });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.headers['content-type'], 'application/x-amz-json-1.1');
    const arn = created.json['ARN'] as string;
    assert.match(arn, new RegExp(`^arn:aws:secretsmanager:us-east-1:${srv.accountId}:secret:app/db-[A-Za-z0-9]{6}$`));
    assert.deepEqual(created.json, { ARN: arn, Name: 'app/db', VersionId: TOKEN_A });

    for (const id of ['app/db', arn, arn.slice(0, -7), arn.replace('us-east-1', 'eu-west-3')]) {
      const got = await api('GetSecretValue', { SecretId: id }, { region: 'eu-west-3' });
      assert.equal(got.status, 200, `${id}: ${got.text}`);
      assert.equal(got.json['SecretString'], v);
      assert.deepEqual(got.json['VersionStages'], ['AWSCURRENT']);
      assert.equal(got.json['ARN'], arn.replace('us-east-1', 'eu-west-3'), 'the signing region is in the ARN');
      assert.equal(typeof got.json['CreatedDate'], 'number');
    }
    const wrongSuffix = await api('GetSecretValue', { SecretId: `${arn.slice(0, -6)}AAAAAA` });
    assert.equal(wrongSuffix.json['__type'], 'ResourceNotFoundException');

    const d = await api('DescribeSecret', { SecretId: 'app/db' });
    assert.equal(d.json['Description'], 'the db');
    assert.deepEqual(d.json['Tags'], [{ Key: 'team', Value: 'core' }]);
    assert.deepEqual(d.json['VersionIdsToStages'], { [TOKEN_A]: ['AWSCURRENT'] });
    assert.ok(!d.text.includes(v));

    const list = await api('ListSecrets', {});
    assert.deepEqual(
      (list.json['SecretList'] as { Name: string }[]).map((s) => s.Name),
      ['app/db'],
    );
  });

  test('ClientRequestToken: the same token and value is a no-op; another value is ResourceExistsException', async () => {
    const v = value();
    const first = await api('PutSecretValue', { SecretId: 'app/db', SecretString: v, ClientRequestToken: TOKEN_B });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json['VersionStages'], ['AWSCURRENT']);
    const again = await api('PutSecretValue', { SecretId: 'app/db', SecretString: v, ClientRequestToken: TOKEN_B });
    assert.equal(again.status, 200);
    assert.equal(again.json['VersionId'], TOKEN_B);
    const other = await api('PutSecretValue', { SecretId: 'app/db', SecretString: value(), ClientRequestToken: TOKEN_B });
    assert.equal(other.status, 400);
    assert.deepEqual(other.json, { __type: 'ResourceExistsException', message: "You can't modify an existing version, you can only create a new version." });
    const versions = await api('ListSecretVersionIds', { SecretId: 'app/db' });
    assert.deepEqual(
      (versions.json['Versions'] as { VersionId: string; VersionStages: string[] }[]).map((x) => [x.VersionId, x.VersionStages]),
      [
        [TOKEN_B, ['AWSCURRENT']],
        [TOKEN_A, ['AWSPREVIOUS']],
      ],
    );
  });

  test('stage moves: AWSCURRENT back to the previous version, AWSPREVIOUS follows; a label on a version needs RemoveFromVersionId', async () => {
    const refused = await api('UpdateSecretVersionStage', { SecretId: 'app/db', VersionStage: 'AWSCURRENT', MoveToVersionId: TOKEN_A });
    assert.equal(refused.json['__type'], 'InvalidParameterException');
    const moved = await api('UpdateSecretVersionStage', {
      SecretId: 'app/db',
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: TOKEN_A,
      RemoveFromVersionId: TOKEN_B,
    });
    assert.equal(moved.status, 200, moved.text);
    const d = await api('DescribeSecret', { SecretId: 'app/db' });
    assert.deepEqual(d.json['VersionIdsToStages'], { [TOKEN_A]: ['AWSCURRENT'], [TOKEN_B]: ['AWSPREVIOUS'] });
    const prev = await api('GetSecretValue', { SecretId: 'app/db', VersionStage: 'AWSPREVIOUS' });
    assert.equal(prev.json['VersionId'], TOKEN_B);
    const missing = await api('GetSecretValue', { SecretId: 'app/db', VersionStage: 'AWSPENDING' });
    assert.deepEqual(missing.json, {
      __type: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret value for staging label: AWSPENDING",
    });
  });

  test('validation errors as AWS answers them', async () => {
    const cases: [string, unknown, string, RegExp][] = [
      ['CreateSecret', { Name: 'bad name!', SecretString: 'x' }, 'InvalidParameterException', /^Invalid name\./],
      ['CreateSecret', { Name: 'x/both', SecretString: 'x', SecretBinary: 'eA==' }, 'InvalidParameterException', /both a binary secret value and a string/],
      ['CreateSecret', { Name: 'app/db', SecretString: 'x' }, 'ResourceExistsException', /^The operation failed because the secret app\/db already exists\.$/],
      ['CreateSecret', { SecretString: 'x' }, 'ValidationException', /Value null at 'name' failed to satisfy constraint: Member must not be null/],
      ['CreateSecret', { Name: 'x/big', SecretString: 'x'.repeat(65_537) }, 'ValidationException', /Member must have length less than or equal to 65536/],
      ['GetSecretValue', { SecretId: 'no/such' }, 'ResourceNotFoundException', /^Secrets Manager can't find the specified secret\.$/],
      ['GetSecretValue', { SecretId: 42 }, 'SerializationException', /./],
      ['DeleteSecret', { SecretId: 'app/db', RecoveryWindowInDays: 6 }, 'InvalidParameterException', /between 7 and 30 days/],
      ['DeleteSecret', { SecretId: 'app/db', RecoveryWindowInDays: 31 }, 'InvalidParameterException', /between 7 and 30 days/],
      [
        'DeleteSecret',
        { SecretId: 'app/db', RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true },
        'InvalidParameterException',
        /in conjunction with RecoveryWindowInDays/,
      ],
      ['ListSecrets', { SortOrder: 'sideways' }, 'ValidationException', /enum value set: \[asc, desc\]/],
      ['ListSecrets', { NextToken: 'garbage' }, 'InvalidNextTokenException', /NextToken value is invalid/],
      ['NoSuchOperation', {}, 'UnknownOperationException', /^$/],
    ];
    for (const [op, input, type, message] of cases) {
      const r = await api(op, input);
      assert.equal(r.status, 400, `${op} ${JSON.stringify(input).slice(0, 80)}: ${r.text.slice(0, 300)}`);
      assert.equal(r.json['__type'], type, `${op}: ${r.text.slice(0, 300)}`);
      assert.match(r.json['message'] as string, message);
    }
  });

  test('a deleted secret: refused for reads and writes, listed only on request, restored, deleted for good', async () => {
    const del = await api('DeleteSecret', { SecretId: 'app/db', RecoveryWindowInDays: 7 });
    assert.equal(del.status, 200, del.text);
    const days = ((del.json['DeletionDate'] as number) - Date.now() / 1000) / 86_400;
    assert.ok(days > 6.9 && days < 7.1, `deletion in 7 days, not ${days}`);
    const marked = "You can't perform this operation on the secret because it was marked for deletion.";
    assert.deepEqual((await api('GetSecretValue', { SecretId: 'app/db' })).json, { __type: 'InvalidRequestException', message: marked });
    assert.deepEqual((await api('PutSecretValue', { SecretId: 'app/db', SecretString: 'x' })).json, { __type: 'InvalidRequestException', message: marked });
    assert.equal((await api('CreateSecret', { Name: 'app/db', SecretString: 'x' })).json['__type'], 'InvalidRequestException');
    assert.equal((await api('DescribeSecret', { SecretId: 'app/db' })).status, 200, 'describe works on a deleted secret');
    assert.deepEqual((await api('ListSecrets', {})).json['SecretList'], []);
    assert.equal(((await api('ListSecrets', { IncludePlannedDeletion: true })).json['SecretList'] as unknown[]).length, 1);
    assert.equal((await api('RestoreSecret', { SecretId: 'app/db' })).status, 200);
    assert.equal((await api('GetSecretValue', { SecretId: 'app/db' })).status, 200);
    assert.equal((await api('RestoreSecret', { SecretId: 'app/db' })).status, 200, 'restoring a live secret is a no-op');
    assert.equal((await api('DeleteSecret', { SecretId: 'app/db', ForceDeleteWithoutRecovery: true })).status, 200);
    assert.equal((await api('DescribeSecret', { SecretId: 'app/db' })).json['__type'], 'ResourceNotFoundException');
  });

  test('pagination and filters: ListSecrets with MaxResults/NextToken, SortOrder, tag and name filters', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await api('CreateSecret', { Name: `page/s${i}`, SecretString: value(), Tags: [{ Key: 'n', Value: String(i % 2) }] });
      assert.equal(r.status, 200, r.text);
    }
    const seen: string[] = [];
    let next: string | undefined;
    do {
      const r = await api('ListSecrets', { MaxResults: 2, SortOrder: 'asc', ...(next !== undefined ? { NextToken: next } : {}) });
      assert.ok((r.json['SecretList'] as unknown[]).length <= 2);
      seen.push(...(r.json['SecretList'] as { Name: string }[]).map((s) => s.Name));
      next = r.json['NextToken'] as string | undefined;
    } while (next !== undefined);
    assert.deepEqual(seen, ['page/s0', 'page/s1', 'page/s2', 'page/s3', 'page/s4']);
    const desc = await api('ListSecrets', { SortOrder: 'desc', Filters: [{ Key: 'tag-value', Values: ['1'] }] });
    assert.deepEqual(
      (desc.json['SecretList'] as { Name: string }[]).map((s) => s.Name),
      ['page/s3', 'page/s1'],
    );
    const byName = await api('ListSecrets', { Filters: [{ Key: 'name', Values: ['page/s4', 'nope'] }] });
    assert.deepEqual(
      (byName.json['SecretList'] as { Name: string }[]).map((s) => s.Name),
      ['page/s4'],
    );
    const batch = await api('BatchGetSecretValue', { SecretIdList: ['page/s0', 'page/missing'] });
    assert.equal(batch.status, 200, batch.text);
    assert.deepEqual(
      (batch.json['SecretValues'] as { Name: string }[]).map((s) => s.Name),
      ['page/s0'],
    );
    assert.deepEqual(batch.json['Errors'], [
      { SecretId: 'page/missing', ErrorCode: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret." },
    ]);
  });

  test('tags, random passwords, rotation with a configured handler, resource policies', async () => {
    assert.equal((await api('TagResource', { SecretId: 'page/s0', Tags: [{ Key: 'env', Value: 'dev' }] })).status, 200);
    assert.equal((await api('UntagResource', { SecretId: 'page/s0', TagKeys: ['n'] })).status, 200);
    assert.deepEqual((await api('DescribeSecret', { SecretId: 'page/s0' })).json['Tags'], [{ Key: 'env', Value: 'dev' }]);

    const pw = await api('GetRandomPassword', { PasswordLength: 20, ExcludePunctuation: true });
    assert.match(pw.json['RandomPassword'] as string, /^[A-Za-z0-9]{20}$/);

    const noHandler = await api('RotateSecret', { SecretId: 'page/s1' });
    assert.equal(noHandler.json['__type'], 'InvalidParameterException', noHandler.text);
    const lambda = await api('RotateSecret', { SecretId: 'page/s1', RotationLambdaARN: 'arn:aws:lambda:us-east-1:123456789012:function:rot' });
    assert.equal(lambda.json['__type'], 'AccessDeniedException');
    await sb.ok(['rotate', 'page/s1', '--handler', 'password', '--no-rotate-now']);
    const before1 = await api('GetSecretValue', { SecretId: 'page/s1' });
    const rotated = await api('RotateSecret', { SecretId: 'page/s1', RotationRules: { AutomaticallyAfterDays: 30 } });
    assert.equal(rotated.status, 200, rotated.text);
    const after1 = await api('GetSecretValue', { SecretId: 'page/s1' });
    assert.equal(after1.json['VersionId'], rotated.json['VersionId']);
    assert.notEqual(after1.json['SecretString'], before1.json['SecretString']);
    const d = await api('DescribeSecret', { SecretId: 'page/s1' });
    assert.equal(d.json['RotationEnabled'], true);
    assert.deepEqual(d.json['RotationRules'], { AutomaticallyAfterDays: 30 });
    assert.equal((await api('CancelRotateSecret', { SecretId: 'page/s1' })).status, 200);
    assert.equal((await api('DescribeSecret', { SecretId: 'page/s1' })).json['RotationEnabled'], false);

    assert.deepEqual(Object.keys((await api('GetResourcePolicy', { SecretId: 'page/s1' })).json).sort(), ['ARN', 'Name']);
    const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'secrets:DeleteSecret', Resource: '*' }] };
    const valid = await api('ValidateResourcePolicy', { ResourcePolicy: JSON.stringify(policy) });
    assert.equal(valid.json['PolicyValidationPassed'], true, valid.text);
    assert.equal((await api('ValidateResourcePolicy', { ResourcePolicy: '{"Version":"2012-10-17"}' })).json['PolicyValidationPassed'], false);
    assert.equal((await api('PutResourcePolicy', { SecretId: 'page/s1', ResourcePolicy: JSON.stringify(policy) })).status, 200);
    assert.deepEqual(JSON.parse((await api('GetResourcePolicy', { SecretId: 'page/s1' })).json['ResourcePolicy'] as string), policy);
    assert.equal((await api('DeleteResourcePolicy', { SecretId: 'page/s1' })).status, 200);
  });

  test('authentication: unsigned, unknown key, wrong secret key, old date', async () => {
    const unsigned = await send(
      srv.endpoint,
      'POST',
      '/',
      { 'x-amz-target': 'secretsmanager.ListSecrets', 'content-type': 'application/x-amz-json-1.1' },
      '{}',
    );
    assert.deepEqual(unsigned.json, { __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' });
    const unknown = await call(srv.endpoint, { accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: keys.secretAccessKey }, 'ListSecrets', {});
    assert.deepEqual(unknown.json, { __type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' });
    const wrong = await call(srv.endpoint, { accessKeyId: keys.accessKeyId, secretAccessKey: 'x'.repeat(40) }, 'GetSecretValue', { SecretId: 'page/s0' });
    assert.equal(wrong.json['__type'], 'InvalidSignatureException');
    assert.match(wrong.json['message'] as string, /^The request signature we calculated does not match the signature you provided\./);
    const old = await api('ListSecrets', {}, { date: new Date(Date.now() - 20 * 60_000) });
    assert.equal(old.json['__type'], 'InvalidSignatureException');
    assert.match(old.json['message'] as string, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/);
    for (const r of [unsigned, unknown, wrong, old]) assert.equal(r.status, 400);
  });

  test('the agent protocol: the token is required; the answer is GetSecretValue', async () => {
    const path = '/secretsmanager/get?secretId=page%2Fs0';
    assert.equal((await send(srv.endpoint, 'GET', path, {})).status, 403);
    assert.equal((await send(srv.endpoint, 'GET', path, { 'X-Aws-Parameters-Secrets-Token': `${agentToken}x` })).status, 403);
    // As many characters as the token, but more bytes: still a plain refusal.
    assert.equal((await send(srv.endpoint, 'GET', path, { 'X-Aws-Parameters-Secrets-Token': '\u00e9'.repeat(agentToken.length) })).status, 403);
    const sig = await api('GetSecretValue', { SecretId: 'page/s0' });
    const ok = await send(srv.endpoint, 'GET', path, { 'X-Aws-Parameters-Secrets-Token': agentToken });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, sig.json);
    const stage = await send(srv.endpoint, 'GET', `${path}&versionStage=AWSCURRENT`, { 'X-Aws-Parameters-Secrets-Token': agentToken });
    assert.equal(stage.json['VersionId'], sig.json['VersionId']);
    const missing = await send(srv.endpoint, 'GET', '/secretsmanager/get?secretId=nope', { 'X-Aws-Parameters-Secrets-Token': agentToken });
    assert.equal(missing.json['__type'], 'ResourceNotFoundException');
    const forwarded = await send(srv.endpoint, 'GET', path, { 'X-Aws-Parameters-Secrets-Token': agentToken, 'X-Forwarded-For': '10.0.0.1' });
    assert.equal(forwarded.status, 400);
  });

  test('a value put by another process is served at once, without a restart', async () => {
    const v = value();
    await sb.ok(['put', 'page/s2', '--value-stdin'], { input: v });
    const got = await api('GetSecretValue', { SecretId: 'page/s2' });
    assert.equal(got.json['SecretString'], v);
  });

  test('one audit event per request, with source address, user agent and its own request id; never a value', async () => {
    const before1 = auditEvents(sb).length;
    const r = await send(srv.endpoint, 'GET', '/secretsmanager/get?secretId=page%2Fs0', {
      'X-Aws-Parameters-Secrets-Token': agentToken,
      'User-Agent': 'audit-probe/1.0',
    });
    await api('GetRandomPassword', {});
    await send(srv.endpoint, 'POST', '/', { 'x-amz-target': 'secretsmanager.ListSecrets', 'user-agent': 'unsigned-probe' }, '{}');
    const events = auditEvents(sb).slice(before1);
    assert.equal(events.length, 3, JSON.stringify(events));
    const [get, random, unsigned] = events as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    assert.equal(get['eventName'], 'GetSecretValue');
    assert.equal(get['outcome'], 'success');
    assert.equal(get['sourceIPAddress'], '127.0.0.1');
    assert.equal(get['userAgent'], 'audit-probe/1.0');
    assert.equal(get['requestId'], r.headers['x-amzn-requestid']);
    assert.equal(random['eventName'], 'GetRandomPassword');
    assert.equal(unsigned['outcome'], 'denied');
    assert.equal(unsigned['errorCode'], 'MissingAuthenticationTokenException');
    const log = JSON.stringify(auditEvents(sb));
    for (const v of values) assert.ok(!log.includes(v), 'a value in the audit log');
    assert.equal((await sb.run(['audit', 'verify'])).code, 0);
  });

  test('hostile input: malformed JSON, a huge body, slow and idle clients; the server stays up', async () => {
    for (const body of ['{', '[]', 'null', '"x"', '\u0000\u0001']) {
      const r = await api('ListSecrets', undefined, { body });
      assert.equal(r.status, 400, body);
      assert.equal(r.json['__type'], 'SerializationException');
    }
    const huge = await api('CreateSecret', undefined, { body: JSON.stringify({ Name: 'huge', SecretString: 'x'.repeat(2 * 1024 * 1024) }) }).catch(
      (e: Error) => e,
    );
    if (!(huge instanceof Error)) {
      assert.equal(huge.status, 413);
      assert.equal(huge.json['__type'], 'RequestEntityTooLargeException');
    }
    // A client that sends its headers a byte at a time, and thousands that send nothing.
    const sockets: Socket[] = [];
    const url = new URL(srv.endpoint);
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const s = connect(Number(url.port), url.hostname, () => resolve(s));
        s.on('error', reject);
      });
    for (let i = 0; i < 2000; i++) sockets.push(await open());
    const slow = await open();
    slow.on('error', () => undefined);
    const cutOff = new Promise<number>((resolve) => slow.once('close', () => resolve(Date.now())));
    const startedAt = Date.now();
    // Headers one byte at a time, never finished: the server hangs up after its 10 s limit.
    const text = 'GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ';
    let sent = 0;
    const trickle = setInterval(() => {
      if (!slow.destroyed) slow.write(text[sent % text.length] ?? 'x');
      sent++;
    }, 250);
    const ok = await api('GetSecretValue', { SecretId: 'page/s0' });
    assert.equal(ok.status, 200, 'served while thousands of connections idle and one trickles');
    for (const s of sockets) s.destroy();
    const still = await api('ListSecrets', {});
    assert.equal(still.status, 200);
    const closedAt = await cutOff;
    clearInterval(trickle);
    assert.ok(closedAt - startedAt < 15_000, `the slow client was cut off after ${closedAt - startedAt} ms`);
    for (const v of values) assert.ok(!srv.stderr().includes(v));
  });

  test('due rotations run on schedule while it serves', async () => {
    await sb.ok(['create', 'sched/key', '--value-stdin'], { input: value() });
    await sb.ok(['rotate', 'sched/key', '--handler', 'password', '--every', '1', '--no-rotate-now']);
    const before1 = (await api('GetSecretValue', { SecretId: 'sched/key' })).json['VersionId'];
    const later = await startServe({ ...sb.env, SECRETS_TEST_NOW: new Date(Date.now() + 3 * 86_400_000).toISOString() });
    for (let i = 0; i < 100 && !later.stderr().includes('Rotated sched/key'); i++) await new Promise((r) => setTimeout(r, 100));
    const { code, stderr } = await later.stop();
    assert.equal(code, 0, stderr);
    assert.match(stderr, /Rotated sched\/key \(version [0-9a-f-]{36}\)/);
    const now = await api('GetSecretValue', { SecretId: 'sched/key' });
    assert.notEqual(now.json['VersionId'], before1);
    assert.deepEqual(now.json['VersionStages'], ['AWSCURRENT']);
  });

  test('SIGTERM stops it cleanly: exit 0, no runtime file left', async () => {
    const other = await startServe(sb.env);
    const inflight = call(other.endpoint, keys, 'GetSecretValue', { SecretId: 'page/s0' });
    const r = await inflight;
    assert.equal(r.status, 200);
    const { code, stderr } = await other.stop('SIGTERM');
    assert.equal(code, 0, stderr);
    const again = await startServe(sb.env);
    assert.equal((await again.stop('SIGINT')).code, 0);
  });
});
