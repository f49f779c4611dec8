#!/usr/bin/env node
// The API server's share of `npm run bench`: starts `secrets serve` on a free port against a
// small vault and loads it with autocannon (32 keep-alive connections) for GetSecretValue (SigV4
// signed with the AWS SDK's own signer, for a date within the server's 15-minute window, so the
// server verifies every request) and for the agent protocol. Every request is authenticated and
// audited (its event is durable before the response leaves). Run alone it rewrites the
// "secrets serve" section of docs/benchmarks.md; scripts/bench.mjs calls benchServe() too.
//   BENCH_SERVE_SECONDS=10   BENCH_SERVE_CONNECTIONS=32
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { SignatureV4 } from '@smithy/signature-v4';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'secrets');
const SECONDS = Number(process.env.BENCH_SERVE_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_SERVE_CONNECTIONS ?? 32);
const RPS_BUDGET = 5000;
const P99_BUDGET_MS = 10;

/** The SDK signer's hash interface over node:crypto. */
class Sha256 {
  constructor(secret) {
    this.h = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(data) {
    this.h.update(data);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

async function signed(endpoint, creds, target, body) {
  const url = new URL(endpoint);
  const signer = new SignatureV4({ service: 'secretsmanager', region: 'us-east-1', credentials: creds, sha256: Sha256 });
  const req = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `secretsmanager.${target}` },
    body,
  });
  return req.headers;
}

function load(title, opts) {
  return new Promise((resolvePromise, reject) => {
    autocannon({ connections: CONNECTIONS, duration: SECONDS, pipelining: 1, ...opts }, (err, r) => {
      if (err) reject(err);
      else resolvePromise({ title, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, total: r.requests.total });
    });
  });
}

/**
 * The budget's rate, paced: CONNECTIONS keep-alive connections, each sending its next request at
 * fixed intervals (or as soon as the previous answer arrives, when late), so requests arrive
 * spread out at `rate` per second. autocannon's own rate limit sends each second's quota flat
 * out and then waits, which measures bursts, not a rate. Like autocannon, the client writes a
 * prepared request on a raw socket and reads only the status and Content-Length of the answer,
 * so its own cost stays small beside the server's.
 */
async function paced(title, { url, method = 'GET', headers, body = '' }, rate) {
  const u = new URL(url);
  const head = Object.entries({ host: u.host, ...headers, 'content-length': String(Buffer.byteLength(body)) })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const wire = Buffer.from(`${method} ${u.pathname}${u.search} HTTP/1.1\r\n${head}\r\n${body}`);
  const interval = (1000 * CONNECTIONS) / rate;
  const latencies = [];
  let errors = 0;
  const started = performance.now();
  const end = started + SECONDS * 1000;
  const connection = () =>
    new Promise((resolve, reject) => {
      const socket = connect(Number(u.port), u.hostname, () => resolve(socket));
      socket.setNoDelay(true);
      socket.once('error', reject);
    });
  /** Sends one request and resolves with its status once the whole answer is in. */
  const exchange = (socket) =>
    new Promise((done) => {
      let buf = Buffer.alloc(0);
      const onData = (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const text = buf.subarray(0, headEnd).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? 0);
        if (buf.length < headEnd + 4 + length) return;
        socket.off('data', onData);
        done(Number(text.slice(9, 12)));
      };
      socket.on('data', onData);
      socket.write(wire);
    });
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, i) => {
      const socket = await connection();
      for (let next = started + (i * interval) / CONNECTIONS; next < end; next += interval) {
        const wait = next - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const t = performance.now();
        if ((await exchange(socket)) !== 200) errors++;
        latencies.push(performance.now() - t);
      }
      socket.destroy();
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 10) / 10;
  return { title, rps: latencies.length / SECONDS, p50: at(0.5), p99: at(0.99), errors, total: latencies.length };
}

/** Runs the server benchmarks; returns markdown lines and budget lines. */
export async function benchServe(log = (m) => process.stderr.write(`${m}\n`)) {
  const home = join(ROOT, '.bench', 'serve');
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, 'data'), XDG_STATE_HOME: join(home, 'state') };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.SECRETS_IDENTITY_KEY;
  delete env.SECRETS_VAULT;
  const run = (args, input) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { env, input, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`secrets ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  run(['init']);
  for (let i = 0; i < 10; i++) run(['create', `app/svc${i}/key`, '--value-stdin'], `value-${i}-${'x'.repeat(32)}`);
  const creds = JSON.parse(run(['aws-credentials', '--json']));
  const server = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--json'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((res, rej) => {
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) res(out.split('\n')[0]);
    });
    server.on('exit', (code) => rej(new Error(`secrets serve exited ${code}`)));
  });
  const { endpoint } = JSON.parse(line);
  const credentials = { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretAccessKey };
  const body = JSON.stringify({ SecretId: 'app/svc5/key' });
  const results = [];
  const loadBefore = loadavg()[0];
  try {
    const headers = await signed(endpoint, credentials, 'GetSecretValue', body);
    // Warm-up, then the measured runs.
    await new Promise((res) => autocannon({ url: endpoint, connections: 4, duration: 2, method: 'POST', headers, body }, res));
    log(`serve: GetSecretValue, ${CONNECTIONS} connections, ${SECONDS} s`);
    results.push(await load('GetSecretValue (SigV4, JSON 1.1)', { url: endpoint, method: 'POST', headers, body }));
    const agent = { url: `${endpoint}/secretsmanager/get?secretId=app%2Fsvc5%2Fkey`, headers: { 'X-Aws-Parameters-Secrets-Token': creds.AgentToken } };
    log(`serve: agent protocol, ${CONNECTIONS} connections, ${SECONDS} s`);
    results.push(await load('agent protocol (GET /secretsmanager/get)', agent));
    // The same at the budget's rate rather than flat out: the latency a client sees at 5,000 req/s.
    log(`serve: both at ${RPS_BUDGET} req/s, paced`);
    results.push(
      await paced(`GetSecretValue at ${RPS_BUDGET.toLocaleString('en')} req/s, paced`, { url: endpoint, method: 'POST', headers, body }, RPS_BUDGET),
    );
    results.push(await paced(`agent protocol at ${RPS_BUDGET.toLocaleString('en')} req/s, paced`, agent, RPS_BUDGET));
  } finally {
    server.kill('SIGTERM');
    await new Promise((res) => server.once('exit', res));
  }
  const auditDir = join(home, 'state', 'secrets', 'audit');
  const auditFile = readdirSync(auditDir).find((f) => f.endsWith('.jsonl'));
  const audit = readFileSync(join(auditDir, auditFile), 'utf8').split('\n').length - 1;
  const lines = [
    '## secrets serve (API server)',
    '',
    `autocannon, ${CONNECTIONS} keep-alive connections, ${SECONDS} s per row after a 2 s warm-up, against \`secrets serve\` on loopback`,
    '(a 10-secret vault). Every request is SigV4-verified (API) or token-checked (agent), decrypted, and audited: its',
    `event is fsynced before the response is sent (events of concurrent requests share one fsync). The audit log held ${audit.toLocaleString('en')} events afterwards.`,
    'The first two rows load the server flat out (autocannon sends the next request as soon as an answer arrives); the last',
    `two send ${RPS_BUDGET.toLocaleString('en')} requests/s, the budget's rate, paced evenly over ${CONNECTIONS} keep-alive connections by a small Node`,
    'client (in scripts/bench-serve.mjs; latency from the send of each request). The load runs on the same 2-core',
    `machine as the server, and so does whatever else runs there: the 1-minute load average was ${loadBefore.toFixed(1)} before and ${loadavg()[0].toFixed(1)} after (2 cores).`,
    '',
    '| operation | requests/s | p50 (ms) | p99 (ms) | errors | requests |',
    '|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.title} | ${Math.round(r.rps).toLocaleString('en')} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.total.toLocaleString('en')} |`),
    '',
  ];
  const budgets = results.slice(0, 2).map((r, i) => {
    const atRate = results[i + 2];
    // The budget's latency is the one at the budget's rate.
    const p99 = atRate?.p99 ?? r.p99;
    return `serve, ${r.title}: ${Math.round(r.rps).toLocaleString('en')} req/s flat out (p99 ${r.p99} ms), p99 ${atRate?.p99 ?? '?'} ms at ${RPS_BUDGET.toLocaleString('en')} req/s; budget ≥ ${RPS_BUDGET.toLocaleString('en')} req/s at p99 ≤ ${P99_BUDGET_MS} ms: ${
      r.rps >= RPS_BUDGET && p99 <= P99_BUDGET_MS && r.errors === 0
        ? 'met'
        : `missed (${r.rps < RPS_BUDGET ? `${((1 - r.rps / RPS_BUDGET) * 100).toFixed(0)}% short of the rate` : 'rate met'}${p99 > P99_BUDGET_MS ? `, p99 ${p99} ms` : ''}${r.errors ? `, ${r.errors} errors` : ''})`
    }`;
  });
  return { lines, budgets };
}

/** Replaces the server section of docs/benchmarks.md (run alone). */
async function main() {
  const { lines, budgets } = await benchServe();
  const out = join(ROOT, 'docs', 'benchmarks.md');
  const doc = readFileSync(out, 'utf8');
  const section = [...lines, ...budgets.map((b) => `- ${b}`), '', ''].join('\n');
  const start = doc.indexOf('## secrets serve (API server)');
  let next;
  if (start >= 0) {
    const after = doc.indexOf('\n## ', start + 5);
    next = doc.slice(0, start) + section + (after >= 0 ? doc.slice(after + 1) : '');
  } else {
    const budgetsAt = doc.indexOf('## Budgets');
    next = budgetsAt >= 0 ? doc.slice(0, budgetsAt) + section + '\n' + doc.slice(budgetsAt) : `${doc}\n${section}`;
  }
  writeFileSync(out, next);
  process.stderr.write(`${budgets.join('\n')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
