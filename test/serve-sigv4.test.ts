// SigV4 verification of `secrets serve` against vectors of AWS's published SigV4 test suite
// (credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1, service "service"), then against
// requests signed by the AWS SDK's own signer; and the derived credentials and ARNs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { identityFromSeed } from '../src/crypto/identity.js';
import { SecretBytes } from '../src/core/secret-bytes.js';
import { arnSuffix, nameFromSecretId, secretArn } from '../src/serve/aws.js';
import { accountIdOf, serveCredentials } from '../src/serve/credentials.js';
import { canonicalRequest, MAX_SKEW_MS, type SignedRequest, verifyRequest } from '../src/serve/sigv4.js';

const KEY_ID = 'AKIDEXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const NOW = Date.UTC(2015, 7, 30, 12, 36, 0);
const SCOPE = `${KEY_ID}/20150830/us-east-1/service/aws4_request`;

function vector(method: string, url: string, headers: [string, string][], signed: string, sig: string, body = ''): SignedRequest {
  const raw = [
    ...headers,
    ['X-Amz-Date', '20150830T123600Z'],
    ['Authorization', `AWS4-HMAC-SHA256 Credential=${SCOPE}, SignedHeaders=${signed}, Signature=${sig}`],
  ];
  return { method, url, rawHeaders: raw.flat(), body: Buffer.from(body) };
}

const verify = (req: SignedRequest, now = NOW) => verifyRequest(req, { service: 'service', now, secretFor: (id) => (id === KEY_ID ? SECRET : undefined) });

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const EMPTY = sha('');

describe('the AWS SigV4 test suite', () => {
  const cases: [string, SignedRequest, string | undefined][] = [
    [
      'get-vanilla',
      vector('GET', '/', [['Host', 'example.amazonaws.com']], 'host;x-amz-date', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'),
      'bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63',
    ],
    [
      'get-vanilla-query-order-key-case',
      vector(
        'GET',
        '/?Param2=value2&Param1=value1',
        [['Host', 'example.amazonaws.com']],
        'host;x-amz-date',
        'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
      ),
      '816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0',
    ],
    [
      'post-x-www-form-urlencoded',
      vector(
        'POST',
        '/',
        [
          ['Content-Type', 'application/x-www-form-urlencoded'],
          ['Host', 'example.amazonaws.com'],
        ],
        'content-type;host;x-amz-date',
        'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
        'Param1=value1',
      ),
      undefined,
    ],
    [
      'get-header-key-duplicate',
      vector(
        'GET',
        '/',
        [
          ['Host', 'example.amazonaws.com'],
          ['My-Header1', 'value2'],
          ['My-Header1', 'value2'],
          ['My-Header1', 'value1'],
        ],
        'host;my-header1;x-amz-date',
        'c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea',
      ),
      undefined,
    ],
  ];
  for (const [name, req, canonicalHash] of cases) {
    test(`${name}: accepted as signed, refused with any other signature`, () => {
      assert.deepEqual(verify(req), { accessKeyId: KEY_ID, region: 'us-east-1' });
      if (canonicalHash !== undefined) {
        const signedHeaders = /SignedHeaders=([^,]+)/.exec(req.rawHeaders.join(' '))?.[1]?.split(';') ?? [];
        assert.equal(sha(canonicalRequest(req, signedHeaders, EMPTY)), canonicalHash);
      }
      const auth = req.rawHeaders.at(-1) as string;
      const flipped = auth.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
      const bad = { ...req, rawHeaders: [...req.rawHeaders.slice(0, -1), flipped] };
      assert.equal((verify(bad) as { type: string }).type, 'InvalidSignatureException');
    });
  }

  test('get-utf8: the path is percent-encoded with uppercase hex', () => {
    const req = vector('GET', '/ሴ', [['Host', 'example.amazonaws.com']], 'host;x-amz-date', '0'.repeat(64));
    const canonical = canonicalRequest(req, ['host', 'x-amz-date'], EMPTY);
    assert.equal(canonical.split('\n')[1], '/%E1%88%B4');
    assert.equal(sha(canonical), '2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102');
  });
});

describe('refusals, as AWS words them', () => {
  const good = cases0();
  function cases0(): SignedRequest {
    return vector('GET', '/', [['Host', 'example.amazonaws.com']], 'host;x-amz-date', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  }

  test('no Authorization header: MissingAuthenticationTokenException', () => {
    const r = verify({ ...good, rawHeaders: good.rawHeaders.slice(0, -2) });
    assert.deepEqual(r, { type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token', status: 400 });
  });

  test('an unknown access key: UnrecognizedClientException', () => {
    const r = verifyRequest(good, { service: 'service', now: NOW, secretFor: () => undefined });
    assert.deepEqual(r, { type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.', status: 400 });
  });

  test('a date more than 15 minutes away, either way: InvalidSignatureException naming both times', () => {
    const late = verify(good, NOW + MAX_SKEW_MS + 1000) as { type: string; message: string };
    assert.equal(late.type, 'InvalidSignatureException');
    assert.match(late.message, /^Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \(20150830T125101Z - 15 min\.\)$/);
    const early = verify(good, NOW - MAX_SKEW_MS - 1000) as { type: string; message: string };
    assert.match(early.message, /^Signature not yet current: 20150830T123600Z is still later than /);
    assert.deepEqual(verify(good, NOW + MAX_SKEW_MS - 1000), { accessKeyId: KEY_ID, region: 'us-east-1' });
  });

  test('another service, a body that differs from its declared hash, a garbled header', () => {
    const other = verifyRequest(good, { service: 'secretsmanager', now: NOW, secretFor: () => SECRET }) as { type: string };
    assert.equal(other.type, 'InvalidSignatureException');
    const tampered = verify({ ...good, body: Buffer.from('x') }) as { type: string };
    assert.equal(tampered.type, 'InvalidSignatureException');
    const garbled = verify({ ...good, rawHeaders: [...good.rawHeaders.slice(0, -1), 'AWS4-HMAC-SHA256 Credential=x'] }) as { type: string; message: string };
    assert.equal(garbled.type, 'IncompleteSignatureException');
  });
});

describe('derived credentials and ARNs', () => {
  test('deterministic per identity and vault, different for another of either; AWS-shaped', async () => {
    const a = await identityFromSeed(new SecretBytes(new Uint8Array(32).fill(1)));
    const b = await identityFromSeed(new SecretBytes(new Uint8Array(32).fill(2)));
    const c1 = serveCredentials(a, 'vault-1');
    assert.deepEqual(serveCredentials(a, 'vault-1'), c1);
    assert.match(c1.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
    assert.match(c1.secretAccessKey, /^[A-Za-z0-9+/]{40}$/);
    assert.match(c1.accountId, /^\d{12}$/);
    assert.equal(c1.accountId, accountIdOf('vault-1'));
    const others = [serveCredentials(a, 'vault-2'), serveCredentials(b, 'vault-1')];
    for (const o of others) {
      assert.notEqual(o.accessKeyId, c1.accessKeyId);
      assert.notEqual(o.secretAccessKey, c1.secretAccessKey);
      assert.notEqual(o.agentToken, c1.agentToken);
    }
    assert.equal(serveCredentials(b, 'vault-1').accountId, c1.accountId, 'the account is the vault');
  });

  test('a secret is found by name, full ARN and partial ARN; not by another account or suffix', () => {
    const names = new Set(['prod/db', 'prod/db-abcdef']);
    const exists = (n: string) => names.has(n);
    const scope = { region: 'eu-west-1', accountId: '123456789012', vaultId: 'vault-1' };
    const arn = secretArn(scope, 'prod/db');
    assert.match(arn, /^arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod\/db-[A-Za-z0-9]{6}$/);
    assert.equal(arnSuffix('vault-1', 'prod/db'), arn.slice(-6));
    assert.notEqual(arnSuffix('vault-2', 'prod/db'), arn.slice(-6), 'another vault, another suffix');
    assert.equal(nameFromSecretId('prod/db', scope, exists), 'prod/db');
    assert.equal(nameFromSecretId(arn, scope, exists), 'prod/db');
    assert.equal(nameFromSecretId(arn.replace('eu-west-1', 'us-east-1'), scope, exists), 'prod/db', 'any region');
    assert.equal(nameFromSecretId('arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db', scope, exists), 'prod/db');
    assert.equal(nameFromSecretId('arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-abcdef', scope, exists), 'prod/db-abcdef');
    assert.equal(nameFromSecretId(arn.replace('123456789012', '999999999999'), scope, exists), undefined);
    assert.equal(nameFromSecretId(`${arn.slice(0, -6)}zzzzzz`, scope, exists), undefined);
  });
});
