/**
 * `secrets serve`: the AWS Secrets Manager API (JSON 1.1 over HTTP, SigV4) and the Secrets
 * Manager Agent's local protocol, on loopback, for the identity that started it. Every request
 * is authenticated, runs through the CLI's use cases, and has one audit event that is durable
 * before the response leaves (fail-closed; events of concurrent requests share an fsync).
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { AppDeps } from '../app/compose.js';
import { SecretsError } from '../core/errors.js';
import type { RotationPorts } from '../core/use-cases/rotate.js';
import { rotateDue } from '../core/use-cases/rotate.js';
import { AwsError, type Input } from './aws.js';
import { type RequestMeta, type ServeContext, serveContext } from './context.js';
import { isOperation, runOperation } from './operations.js';
import { verifyRequest } from './sigv4.js';

/** Largest request body accepted (AWS's own limit for this API is lower: a value is ≤ 64 KiB). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** A client has this long to send a request's headers (slow clients are cut off). */
const HEADERS_TIMEOUT_MS = 10_000;
/** …and this long for the whole request. */
const REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive connection is closed after this long. */
const KEEP_ALIVE_MS = 65_000;
/** A connection that sends nothing at all is closed after this long. */
const IDLE_SOCKET_MS = 120_000;
/** The service name SigV4 requests must be signed for. */
const SERVICE = 'secretsmanager';
const TARGET_PREFIX = 'secretsmanager.';
/** How often due rotations are looked for. */
const ROTATION_CHECK_MS = 60_000;
/** The agent protocol's token header. */
const AGENT_TOKEN_HEADER = 'x-aws-parameters-secrets-token';

/** How to run the server. */
export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly app: AppDeps;
  /** Messages for the person who started it (never a value). */
  readonly log: (message: string) => void;
  /** The region of ARNs for agent requests (API requests use their signing region). */
  readonly region: string;
  /** Test hook: how often due rotations are looked for (ms); 0 turns the schedule off. */
  readonly rotationCheckMs?: number;
}

/** A running server. */
export interface RunningServer {
  readonly host: string;
  readonly port: number;
  readonly context: ServeContext;
  /** Stops accepting, lets in-flight requests finish, flushes the audit trail. */
  close(): Promise<void>;
}

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function sendAws(res: ServerResponse, requestId: string, status: number, body: unknown): void {
  send(res, status, JSON.stringify(body), { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': requestId });
}

function sendError(res: ServerResponse, requestId: string, err: AwsError): void {
  sendAws(res, requestId, err.status, { __type: err.type, message: err.message });
}

/** Reads a body up to the limit; undefined when it is larger (the caller answers 413). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > MAX_BODY_BYTES) {
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Starts the server; resolves once it listens. */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  if (!isLoopback(opts.host)) {
    throw new SecretsError(
      'USAGE',
      `refusing to serve on ${opts.host}: only loopback addresses (127.0.0.1, ::1, localhost) are allowed`,
      'the API hands out secret values to anyone holding the credentials; keep it on this machine (--host 127.0.0.1)',
    );
  }
  const ctx = await serveContext(opts.app);
  let rotation: Promise<RotationPorts> | undefined;
  const rotationPorts = (): Promise<RotationPorts> => (rotation ??= opts.app.rotation());
  const { accessKeyId, secretAccessKey, agentToken } = ctx.credentials;
  const agentTokenBytes = Buffer.from(agentToken);
  let closing: Promise<void> | undefined;
  const firstRequest = new Map<Socket, NodeJS.Timeout>();

  /**
   * Audits a request that no use case recorded: one refused before any ran (unauthenticated
   * ones are recorded as such), or one that touches no secret (GetRandomPassword).
   */
  async function auditOther(
    meta: RequestMeta,
    eventName: string,
    outcome: 'success' | 'denied' | 'error',
    errorCode?: string,
    authenticated = true,
  ): Promise<void> {
    await ctx.trail.append({
      vaultId: ctx.vaultId,
      eventName,
      principal: { id: authenticated ? ctx.identity.identity.id : 'unauthenticated' },
      outcome,
      ...(errorCode !== undefined ? { errorCode } : {}),
      ...meta,
    });
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, meta: RequestMeta, body: Buffer): Promise<void> {
    const verified = verifyRequest(
      { method: req.method ?? 'POST', url: req.url ?? '/', rawHeaders: req.rawHeaders, body },
      { service: SERVICE, now: Date.now(), secretFor: (id) => (id === accessKeyId ? secretAccessKey : undefined) },
    );
    const target = header(req, 'x-amz-target') ?? '';
    const named = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
    // Only a known operation's name goes into the audit log: the header is the client's to write.
    const op = isOperation(named) ? named : '';
    if ('type' in verified) {
      await auditOther(meta, op || 'Unknown', 'denied', verified.type, false).catch(() => undefined);
      sendError(res, meta.requestId, new AwsError(verified.type, verified.message, verified.status));
      return;
    }
    let events = 0;
    const base = ctx.depsFor(meta);
    const deps = {
      ...base,
      audit: {
        append: (e: Parameters<typeof base.audit.append>[0]) => (events++, base.audit.append(e)),
        appendAll: (es: Parameters<typeof base.audit.appendAll>[0]) => ((events += es.length), base.audit.appendAll(es)),
        lastAccess: (vaultId: string, secretId: string) => base.audit.lastAccess(vaultId, secretId),
      },
    };
    let result: Record<string, unknown>;
    try {
      if (op === '') throw new AwsError('UnknownOperationException', '');
      let input: unknown = {};
      if (body.length > 0) {
        try {
          input = JSON.parse(body.toString('utf8'));
        } catch {
          throw new AwsError('SerializationException', 'Start of structure or map found where not expected.');
        }
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw new AwsError('SerializationException', 'Start of structure or map found where not expected.');
      }
      result = await runOperation(
        { serve: ctx, deps, scope: { region: verified.region, accountId: ctx.credentials.accountId, vaultId: ctx.vaultId }, rotation: rotationPorts },
        op,
        input as Input,
      );
    } catch (err) {
      const aws = err instanceof AwsError ? err : internal(err, opts.log);
      if (events === 0) await auditOther(meta, op || 'Unknown', aws.type === 'AccessDeniedException' ? 'denied' : 'error', aws.type).catch(() => undefined);
      sendError(res, meta.requestId, aws);
      return;
    }
    if (events === 0) {
      // Fail-closed for operations no use case audited (GetRandomPassword): the event first.
      try {
        await auditOther(meta, op, 'success');
      } catch (err) {
        sendError(res, meta.requestId, internal(err, opts.log));
        return;
      }
    }
    sendAws(res, meta.requestId, 200, result);
  }

  async function handleAgent(req: IncomingMessage, res: ServerResponse, meta: RequestMeta, url: URL): Promise<void> {
    const given = header(req, AGENT_TOKEN_HEADER);
    const givenBytes = Buffer.from(given ?? '', 'utf8');
    const ok = givenBytes.length === agentTokenBytes.length && timingSafeEqual(givenBytes, agentTokenBytes);
    const plain = { 'Content-Type': 'text/plain; charset=utf-8', 'x-amzn-RequestId': meta.requestId };
    if (!ok) {
      await auditOther(meta, 'GetSecretValue', 'denied', 'BadToken', false).catch(() => undefined);
      send(res, 403, 'Bad Token\n', plain);
      return;
    }
    if (req.headers['x-forwarded-for'] !== undefined) {
      // As the agent does: a forwarded request is a server-side request forgery.
      await auditOther(meta, 'GetSecretValue', 'denied', 'Forwarded', false).catch(() => undefined);
      send(res, 400, 'Forwarded\n', plain);
      return;
    }
    const input: Input = {};
    for (const [k, name] of [
      ['secretId', 'SecretId'],
      ['versionId', 'VersionId'],
      ['versionStage', 'VersionStage'],
    ] as const) {
      const v = url.searchParams.get(k);
      if (v !== null) input[name] = v;
    }
    let events = 0;
    const base = ctx.depsFor(meta);
    const deps = { ...base, audit: { ...base.audit, append: (e: Parameters<typeof base.audit.append>[0]) => (events++, base.audit.append(e)) } };
    try {
      const result = await runOperation(
        { serve: ctx, deps, scope: { region: opts.region, accountId: ctx.credentials.accountId, vaultId: ctx.vaultId }, rotation: rotationPorts },
        'GetSecretValue',
        input,
      );
      sendAws(res, meta.requestId, 200, result);
    } catch (err) {
      const aws = err instanceof AwsError ? err : internal(err, opts.log);
      if (events === 0) await auditOther(meta, 'GetSecretValue', 'error', aws.type).catch(() => undefined);
      sendError(res, meta.requestId, aws);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const meta: RequestMeta = {
      sourceIPAddress: req.socket.remoteAddress ?? 'unknown',
      userAgent: header(req, 'user-agent') ?? '',
      requestId: randomUUID(),
    };
    const body = await readBody(req);
    if (body === undefined) {
      res.setHeader('Connection', 'close');
      sendAws(res, meta.requestId, 413, { __type: 'RequestEntityTooLargeException', message: `Request body must be at most ${MAX_BODY_BYTES} bytes.` });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/ping') {
      send(res, 200, 'healthy', { 'Content-Type': 'text/plain' });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/secretsmanager/get') return handleAgent(req, res, meta, url);
    if (req.method === 'POST' && url.pathname === '/') return handleApi(req, res, meta, body);
    sendAws(res, meta.requestId, 404, { __type: 'UnknownOperationException', message: '' });
  }

  const server: Server = createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_MS,
      // Node looks for overdue headers this often (default 30 s, which would let a slow client linger).
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
      const first = firstRequest.get(req.socket);
      if (first) {
        clearTimeout(first);
        firstRequest.delete(req.socket);
      }
      if (closing) res.setHeader('Connection', 'close');
      handle(req, res).catch((err: unknown) => {
        sendError(res, 'unknown', internal(err, opts.log));
      });
    },
  );
  server.timeout = IDLE_SOCKET_MS;
  // A connection must bring its first request's headers within HEADERS_TIMEOUT_MS. Node's own
  // check misses clients that trickle bytes while many connections are open, so each new
  // connection gets its own deadline too; later requests are bounded by keepAliveTimeout.
  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), HEADERS_TIMEOUT_MS);
    timer.unref();
    firstRequest.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      firstRequest.delete(socket);
    });
  });
  server.on('clientError', (_err: Error, socket: Socket) => {
    if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new SecretsError(
          // A port in use is a conflict with another program (exit 4); anything else is the request's fault.
          err.code === 'EADDRINUSE' ? 'CONFLICT' : 'USAGE',
          `cannot listen on ${opts.host}:${opts.port}: ${err.code ?? err.message}`,
          'pick another --port (0 picks a free one)',
        ),
      ),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address() as AddressInfo;

  // Due rotations, as `rotate --due` does, while the server runs.
  const every = opts.rotationCheckMs ?? ROTATION_CHECK_MS;
  let rotating: Promise<void> | undefined;
  const runDue = (): void => {
    if (rotating) return;
    rotating = (async () => {
      try {
        const deps = ctx.depsFor({ sourceIPAddress: 'scheduler', userAgent: 'secrets-serve-scheduler', requestId: randomUUID() });
        const r = await rotateDue(deps, await rotationPorts());
        for (const item of r.Items) {
          if (item.Outcome === 'rotated') opts.log(`Rotated ${item.Name} (version ${item.VersionId ?? '?'})`);
          else opts.log(`Rotation of ${item.Name} ${item.Outcome}: ${item.Error ?? ''}`);
        }
      } catch (err) {
        opts.log(`Scheduled rotation failed: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        rotating = undefined;
      }
    })();
  };
  const timer = every > 0 ? setInterval(runDue, every) : undefined;
  timer?.unref();
  if (every > 0) runDue();

  return {
    host: opts.host,
    port: address.port,
    context: ctx,
    close() {
      closing ??= (async () => {
        if (timer) clearInterval(timer);
        await new Promise<void>((resolve) => {
          // Keep-alive connections close as soon as their request in flight is answered; none
          // may hold the exit up for longer than a request may take.
          const idle = setInterval(() => server.closeIdleConnections(), 50);
          const deadline = setTimeout(() => server.closeAllConnections(), REQUEST_TIMEOUT_MS);
          server.close(() => {
            clearInterval(idle);
            clearTimeout(deadline);
            resolve();
          });
          server.closeIdleConnections();
        });
        if (rotating) await rotating;
        await ctx.trail.flush();
      })();
      return closing;
    },
  };
}

/** A bug or an unexpected failure: AWS's InternalFailure, with no detail that could hold a value. */
function internal(err: unknown, log: (message: string) => void): AwsError {
  if (err instanceof SecretsError) return new AwsError('InternalServiceError', err.message, 500);
  log(`internal error: ${err instanceof Error ? err.message : String(err)}`);
  return new AwsError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 500);
}
