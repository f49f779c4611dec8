/**
 * AWS Signature Version 4, verified (not produced): every request to `secrets serve` carries an
 * `Authorization: AWS4-HMAC-SHA256 …` header that this module checks against the one secret key
 * the server knows, as AWS's own endpoints do: the canonical request is rebuilt from what
 * arrived (method, path, query, the signed headers, the SHA-256 of the body), signed with the
 * key derived for the request's date, region and service, and compared in constant time.
 * Refusals carry AWS's error codes and message texts for its JSON protocol.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** What a verifier needs of a request: raw header pairs keep duplicates and their order. */
export interface SignedRequest {
  readonly method: string;
  /** The request target as sent: path and query, still percent-encoded. */
  readonly url: string;
  /** Alternating names and values, as node:http's `rawHeaders`. */
  readonly rawHeaders: readonly string[];
  readonly body: Uint8Array;
}

/** A refusal, as AWS answers it. */
export interface AuthError {
  readonly type: string;
  readonly message: string;
  readonly status: number;
}

/** Who signed, once verified. */
export interface Verified {
  readonly accessKeyId: string;
  readonly region: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** How far X-Amz-Date may be from the server's clock, either way. */
export const MAX_SKEW_MS = 15 * 60_000;
const SKEW_TEXT = '15 min.';

const INVALID_SIGNATURE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

function fail(type: string, message: string, status = 400): AuthError {
  return { type, message, status };
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters, uppercase hex. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, '%20'));
  } catch {
    return text;
  }
}

/** The canonical URI: dot segments removed, each segment encoded (again, for services other than S3). */
export function canonicalUri(path: string): string {
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '.') continue;
    if (segment === '..') {
      out.pop();
      continue;
    }
    out.push(segment);
  }
  const joined = out.map(uriEncode).join('/');
  const normalised = joined.startsWith('/') ? joined : `/${joined}`;
  return path.endsWith('/') && !normalised.endsWith('/') ? `${normalised}/` : normalised;
}

/** The canonical query string: parameters decoded, re-encoded, sorted by name then value. */
export function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs = query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const name = eq < 0 ? p : p.slice(0, eq);
      const value = eq < 0 ? '' : p.slice(eq + 1);
      return [uriEncode(safeDecode(name)), uriEncode(safeDecode(value))] as const;
    });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** Header values by lowercase name, trimmed, inner runs of spaces collapsed, repeats joined by commas. */
function headerMap(rawHeaders: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = (rawHeaders[i + 1] as string).trim().replace(/\s+/g, ' ');
    const before = map.get(name);
    map.set(name, before === undefined ? value : `${before},${value}`);
  }
  return map;
}

/** The canonical request SigV4 signs. */
export function canonicalRequest(req: Omit<SignedRequest, 'body'>, signedHeaders: readonly string[], payloadHash: string): string {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? '' : req.url.slice(q + 1);
  const headers = headerMap(req.rawHeaders);
  const lines = signedHeaders.map((h) => `${h}:${headers.get(h) ?? ''}\n`).join('');
  return `${req.method}\n${canonicalUri(path)}\n${canonicalQuery(query)}\n${lines}\n${signedHeaders.join(';')}\n${payloadHash}`;
}

/** The string to sign for a canonical request. */
export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
}

const keyCache = new Map<string, Buffer>();
const KEY_CACHE_MAX = 64;

/** The signing key of a secret key for one day, region and service (cached: it changes daily). */
export function signingKey(secretKey: string, date: string, region: string, service: string): Buffer {
  const cacheKey = `${secretKey}\0${date}\0${region}\0${service}`;
  const hit = keyCache.get(cacheKey);
  if (hit) return hit;
  const kDate = createHmac('sha256', `AWS4${secretKey}`).update(date).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  const key = createHmac('sha256', kService).update('aws4_request').digest();
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value as string);
  keyCache.set(cacheKey, key);
  return key;
}

/** The hex signature of a string to sign. */
export function signature(key: Buffer, toSign: string): string {
  return createHmac('sha256', key).update(toSign).digest('hex');
}

interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

/** Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
function parseAuthorization(header: string): ParsedAuthorization | AuthError {
  if (!header.startsWith(`${ALGORITHM} `)) {
    return fail(
      'IncompleteSignatureException',
      `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${header.split(' ')[0] ?? ''}`,
    );
  }
  const fields = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !fields.has(k));
  if (missing.length > 0) {
    const said = missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' ');
    return fail('IncompleteSignatureException', `${said} Authorization=${header}`);
  }
  const credential = (fields.get('Credential') as string).split('/');
  const [accessKeyId, date, region, service, terminator] = credential;
  if (credential.length !== 5 || terminator !== 'aws4_request' || !accessKeyId || !date || !region || !service) {
    return fail(
      'IncompleteSignatureException',
      `Credential should be scoped to a valid region, not '${region ?? ''}'. Credential should be scoped to correct service: 'secretsmanager'.`,
    );
  }
  const signedHeaders = (fields.get('SignedHeaders') as string).split(';');
  return { accessKeyId, date, region, service, signedHeaders, signature: fields.get('Signature') as string };
}

/** `20150830T123600Z` as a time, or undefined. */
function parseAmzDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(t) ? undefined : t;
}

function amzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** Compares two hex signatures without leaking where they differ. */
function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Verifies a request's signature. `secretFor` returns the secret key of an access key id this
 * server knows (undefined for any other). Returns who signed, or AWS's refusal.
 */
export function verifyRequest(
  req: SignedRequest,
  opts: { service: string; now: number; secretFor: (accessKeyId: string) => string | undefined },
): Verified | AuthError {
  const headers = headerMap(req.rawHeaders);
  const authorization = headers.get('authorization');
  if (authorization === undefined || authorization === '') return fail('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const parsed = parseAuthorization(authorization);
  if ('type' in parsed) return parsed;
  const dateHeader = headers.get('x-amz-date');
  if (dateHeader === undefined) {
    return fail(
      'IncompleteSignatureException',
      `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${authorization}`,
    );
  }
  if (parsed.service !== opts.service) {
    return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${opts.service}'. `);
  }
  if (!parsed.signedHeaders.includes('host')) {
    return fail('InvalidSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const time = parseAmzDate(dateHeader);
  if (time === undefined || !dateHeader.startsWith(parsed.date)) {
    return fail('IncompleteSignatureException', `Date must be in ISO-8601 'basic format'. Got '${dateHeader}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  }
  if (time < opts.now - MAX_SKEW_MS) {
    return fail(
      'InvalidSignatureException',
      `Signature expired: ${dateHeader} is now earlier than ${amzDate(opts.now - MAX_SKEW_MS)} (${amzDate(opts.now)} - ${SKEW_TEXT})`,
    );
  }
  if (time > opts.now + MAX_SKEW_MS) {
    return fail(
      'InvalidSignatureException',
      `Signature not yet current: ${dateHeader} is still later than ${amzDate(opts.now + MAX_SKEW_MS)} (${amzDate(opts.now)} + ${SKEW_TEXT})`,
    );
  }
  const secret = opts.secretFor(parsed.accessKeyId);
  if (secret === undefined) return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  const declared = headers.get('x-amz-content-sha256');
  if (declared !== undefined && declared !== bodyHash) return fail('InvalidSignatureException', INVALID_SIGNATURE);
  const canonical = canonicalRequest(req, parsed.signedHeaders, bodyHash);
  const scope = `${parsed.date}/${parsed.region}/${parsed.service}/aws4_request`;
  const expected = signature(signingKey(secret, parsed.date, parsed.region, parsed.service), stringToSign(dateHeader, scope, canonical));
  if (!sameSignature(expected, parsed.signature)) return fail('InvalidSignatureException', INVALID_SIGNATURE);
  return { accessKeyId: parsed.accessKeyId, region: parsed.region };
}
