#!/usr/bin/env node
// `npm run bench`: measures `secrets` beside its peers on this machine, in one run, with hyperfine,
// and writes docs/benchmarks.md (a table) and docs/benchmarks.svg (latency against vault size).
//
// Sizes, runs and the time budget come from the environment:
//   BENCH_SIZES=10,1000,10000,100000   BENCH_RUNS=10   BENCH_BUDGET_S=840   BENCH_PEERS=1
//   BENCH_PEER_MAX=10000 (largest size the peers are populated at)   BENCH_OUT=docs/benchmarks.md
//   BENCH_HISTORY=1 (a fresh clone of 10,000 secrets with a 100,000-op history, and compacted)
// Peers are installed when missing and we are root (apt: pass gopass age gnupg hyperfine time;
// npm: @dotenvx/dotenvx into .bench/). A peer that cannot be installed is left out and the report
// says so. Every command runs with the same environment; NODE_EXTRA_CA_CERTS is unset for all.
// Last, scripts/bench-serve.mjs loads `secrets serve` with autocannon (GetSecretValue and the agent
// protocol); `node scripts/bench-serve.mjs` runs that part alone and updates its section in place.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchServe } from './bench-serve.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SIZES = (process.env.BENCH_SIZES ?? '10,1000,10000,100000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const BUDGET_S = Number(process.env.BENCH_BUDGET_S ?? 840);
const PEERS = process.env.BENCH_PEERS !== '0';
const PEER_MAX = Number(process.env.BENCH_PEER_MAX ?? 10000);
/** The fresh clone of a 100,000-op history at 10,000 secrets, before and after compaction. */
const HISTORY = process.env.BENCH_HISTORY !== '0';
const OUT = resolve(ROOT, process.env.BENCH_OUT ?? 'docs/benchmarks.md');
const W = join(ROOT, '.bench', 'run');
const START = Date.now();
const BIN = join(ROOT, 'bin', 'secrets');

const elapsed = () => Math.round((Date.now() - START) / 1000);
const log = (m) => process.stderr.write(`[${String(elapsed()).padStart(4)}s] ${m}\n`);
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

// ------------------------------------------------------------------------------------ install
function install() {
  const missing = [
    ['pass', 'pass'],
    ['gopass', 'gopass'],
    ['age', 'age'],
    ['gpg', 'gnupg'],
    ['hyperfine', 'hyperfine'],
    ['/usr/bin/time', 'time'],
  ]
    .filter(([c]) => !have(c))
    .map(([, p]) => p);
  if (missing.length > 0 && PEERS && process.getuid?.() === 0) {
    log(`apt-get install ${missing.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const ok = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env, stdio: 'ignore' }).status === 0;
    if (!ok) {
      spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore' });
      spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env, stdio: 'ignore' });
    }
  }
  if (!have('hyperfine')) throw new Error('hyperfine is required (apt-get install hyperfine)');
  let dotenvx;
  if (PEERS) {
    const dir = join(ROOT, '.bench', 'npm');
    dotenvx = join(dir, 'node_modules', '.bin', 'dotenvx');
    if (!existsSync(dotenvx)) {
      log('npm install @dotenvx/dotenvx');
      mkdirSync(dir, { recursive: true });
      if (!existsSync(join(dir, 'package.json'))) writeFileSync(join(dir, 'package.json'), '{"private":true}\n');
      spawnSync('npm', ['install', '--no-audit', '--no-fund', '--silent', '@dotenvx/dotenvx@2'], { cwd: dir, stdio: 'ignore', timeout: 180_000 });
    }
    if (!existsSync(dotenvx)) dotenvx = undefined;
  }
  return { dotenvx };
}

// ------------------------------------------------------------------------------------ setup
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
delete env.SECRETS_IDENTITY_KEY;
Object.assign(env, {
  HOME: join(W, 'home'),
  XDG_CONFIG_HOME: join(W, 'home', '.config'),
  XDG_DATA_HOME: join(W, 'home', '.local', 'share'),
  XDG_STATE_HOME: join(W, 'home', '.local', 'state'),
  XDG_CACHE_HOME: join(W, 'home', '.cache'),
  GNUPGHOME: join(W, 'gnupg'),
  SECRETS_IDENTITY_FILE: join(W, 'bench.key'),
  PATH: `${join(ROOT, 'bin')}:${process.env.PATH}`,
});
delete env.DBUS_SESSION_BUS_ADDRESS;

const run = (file, args, opts = {}) => execFileSync(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30, ...opts });

function data(n) {
  const rows = [];
  for (let i = 1; i <= n; i++) rows.push({ name: `app/svc${i}/key`, env: `APP_SVC${i}_KEY`, value: randomBytes(32).toString('base64') });
  return rows;
}

function setupSecrets(n, rows) {
  const vault = join(W, `vault-${n}.yaml`);
  const e = { ...env, SECRETS_VAULT: vault };
  run(BIN, ['init', '--name', `bench-${n}`], { env: e });
  const json = join(W, `data-${n}.json`);
  writeFileSync(json, JSON.stringify(Object.fromEntries(rows.map((r) => [r.name, r.value]))));
  const t = Date.now();
  run(BIN, ['import', '--format', 'json', json], { env: e });
  log(`  secrets: imported ${n} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return vault;
}

/** This machine's verified state and trust state: removed, the next read is a fresh clone's. */
const FRESH = `rm -rf ${join(env.XDG_CACHE_HOME, 'secrets', 'state')} ${join(env.XDG_STATE_HOME, 'secrets', 'trust')}`;

/**
 * A vault of the rows' secrets whose history holds `versions` ops per secret (one import, then
 * imports of changed values: each is one write of a PutSecretValue per secret): a fresh clone's
 * first read verifies all of them, and again after `secrets compact`.
 */
function history(n, rows, versions) {
  if (elapsed() > BUDGET_S) {
    skipped.push(`secrets fresh clone of a ${n * versions}-op history (time budget used)`);
    return;
  }
  const vault = join(W, `history-${n}.yaml`);
  const e = { SECRETS_VAULT: vault };
  run(BIN, ['init', '--name', `history-${n}`], { env: { ...env, ...e } });
  const json = join(W, `history-${n}.json`);
  const t = Date.now();
  for (let v = 0; v < versions; v++) {
    writeFileSync(json, JSON.stringify(Object.fromEntries(rows.map((r) => [r.name, `${r.value}-${v}`]))));
    run(BIN, ['import', '--format', 'json', json], { env: { ...env, ...e } });
  }
  const ops = n * versions;
  log(`  secrets: a history of ${ops} ops in ${((Date.now() - t) / 1000).toFixed(1)} s, file ${(statSync(vault).size / 1e6).toFixed(1)} MB`);
  const mid = rows[Math.floor(n / 2)] ?? rows[0];
  run(BIN, ['get', mid.name], { env: { ...env, ...e } });
  hf('secrets', `first read of a fresh clone, ${ops} ops`, n, `${BIN} get ${mid.name}`, { extraEnv: e, runs: Math.min(RUNS, 3), prepare: FRESH });
  const c = Date.now();
  run(BIN, ['compact'], { env: { ...env, ...e } });
  log(`  secrets: compact in ${((Date.now() - c) / 1000).toFixed(1)} s, file ${(statSync(vault).size / 1e6).toFixed(1)} MB`);
  hf('secrets', `first read of a fresh clone, ${ops} ops compacted`, n, `${BIN} get ${mid.name}`, {
    extraEnv: e,
    runs: Math.min(RUNS, 3),
    prepare: FRESH,
  });
  results.push({
    tool: 'secrets',
    op: `file size, ${versions} versions each, compacted (MB)`,
    size: n,
    median: statSync(vault).size / 1e6,
    min: 0,
    max: 0,
    runs: 1,
    unit: 'MB',
  });
}

let gpgFpr;
function gpgKey() {
  if (gpgFpr) return gpgFpr;
  mkdirSync(env.GNUPGHOME, { recursive: true, mode: 0o700 });
  const batch = join(W, 'keygen.batch');
  writeFileSync(
    batch,
    '%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\nSubkey-Type: ecdh\nSubkey-Curve: cv25519\nSubkey-Usage: encrypt\nName-Real: Bench\nName-Email: bench@example.invalid\nExpire-Date: 0\n%commit\n',
  );
  run('gpg', ['--batch', '--quiet', '--gen-key', batch]);
  gpgFpr = run('gpg', ['--list-keys', '--with-colons'])
    .toString()
    .split('\n')
    .find((l) => l.startsWith('fpr'))
    ?.split(':')[9];
  run('gpg', ['--quiet', '--import-ownertrust'], { input: `${gpgFpr}:6:\n` });
  return gpgFpr;
}

function setupPass(n, rows) {
  const dir = join(W, `pass-${n}`);
  const fpr = gpgKey();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '.gpg-id'), `${fpr}\n`);
  const files = [];
  for (const r of rows) {
    const f = join(dir, r.name);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, `${r.value}\n`);
    files.push(f);
  }
  // The files `pass insert` writes, encrypted by one gpg process (setup speed only).
  for (let i = 0; i < files.length; i += 2000) {
    run('gpg', ['--batch', '--yes', '--quiet', '--compress-algo=none', '--no-encrypt-to', '-r', fpr, '--encrypt-files', ...files.slice(i, i + 2000)]);
  }
  for (const f of files) rmSync(f);
  return dir;
}

function setupAge(n, rows) {
  const id = join(W, 'age.key');
  if (!existsSync(id)) run('age-keygen', ['-o', id]);
  const recipient = run('age-keygen', ['-y', id]).toString().trim();
  const file = join(W, `age-${n}.env.age`);
  run('age', ['-r', recipient, '-o', file], { input: rows.map((r) => `${r.env}=${r.value}\n`).join('') });
  return { id, file };
}

function setupDotenvx(dotenvx, n, rows) {
  const dir = join(W, `dotenvx-${n}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '.env'), rows.map((r) => `${r.env}=${r.value}\n`).join(''));
  run(dotenvx, ['encrypt', '-f', '.env'], { cwd: dir, timeout: 600_000 });
  return dir;
}

// ------------------------------------------------------------------------------------ measure
const results = []; // {tool, op, size, median, min, max, runs}
const skipped = [];

function hf(tool, op, size, command, { shell = false, runs = RUNS, extraEnv = {}, prepare } = {}) {
  if (elapsed() > BUDGET_S) {
    skipped.push(`${tool} ${op} @${size} (time budget used)`);
    return;
  }
  const json = join(W, 'hf.json');
  const args = ['--style', 'none', '--warmup', runs > 3 ? '2' : '0', '--runs', String(runs), '--export-json', json];
  if (!shell) args.push('-N');
  if (prepare !== undefined) args.push('--prepare', prepare);
  const r = spawnSync('hyperfine', [...args, command], {
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: Math.max(60, BUDGET_S + 120 - elapsed()) * 1000,
  });
  if (r.status !== 0 || !existsSync(json)) {
    skipped.push(
      `${tool} ${op} @${size} (failed: ${
        r.stderr
          ?.toString()
          .split('\n')
          .find((l) => l.trim()) ?? 'timeout'
      })`,
    );
    return;
  }
  const res = JSON.parse(readFileSync(json, 'utf8')).results[0];
  rmSync(json);
  results.push({ tool, op, size, median: res.median * 1000, min: res.min * 1000, max: res.max * 1000, runs: res.times.length });
  log(`  ${tool} ${op} @${size}: ${(res.median * 1000).toFixed(1)} ms`);
}

/**
 * A read saves this machine's verified state of the vault (ADR 0018), which the next read
 * starts from; the steady-state figures read once first. The "first read after a write" rows
 * are a read after another process appended; "first read of a fresh clone" verifies all.
 */
function settle() {
  run(BIN, ['get', 'app/svc1/key'], { env: { ...env, SECRETS_VAULT: settledVault } });
}
let settledVault;

function peakRss(size, vault, name) {
  if (!existsSync('/usr/bin/time')) return;
  settledVault = vault;
  settle();
  for (const [op, extra] of [
    ['get peak RSS (MB)', {}],
    ['get peak RSS, whole verification (MB)', { SECRETS_READ_INDEX: '0' }],
  ]) {
    let kb = 0;
    for (let i = 0; i < 3; i++) {
      const r = spawnSync('/usr/bin/time', ['-f', '%M', BIN, 'get', name], {
        env: { ...env, SECRETS_VAULT: vault, ...extra },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      kb = Math.max(kb, Number(r.stderr.toString().trim().split('\n').at(-1)));
    }
    results.push({ tool: 'secrets', op, size, median: kb / 1024, min: kb / 1024, max: kb / 1024, runs: 3, unit: 'MB' });
    log(`  secrets ${op} @${size}: ${(kb / 1024).toFixed(1)} MB`);
  }
}

function auditMillion(vault) {
  // A real log (a few gets) extended to 1,000,000 chained events, then `audit verify`.
  const e = { ...env, SECRETS_VAULT: vault };
  for (let i = 0; i < 3; i++) run(BIN, ['get', 'app/svc1/key'], { env: e });
  const dir = join(env.XDG_STATE_HOME, 'secrets', 'audit');
  const log1 = readdirSync(dir)
    .map((f) => join(dir, f))
    .find((f) => f.endsWith('.jsonl') && readFileSync(f, 'utf8').includes(vaultIdOf(vault)));
  if (!log1) return;
  run(process.execPath, [join(ROOT, 'scripts', 'bench-audit-log.mjs'), log1, '1000000']);
  const ve = { extraEnv: { SECRETS_VAULT: vault } };
  hf('secrets', 'audit verify 1M events', 1_000_000, `${BIN} audit verify`, { runs: 3, ...ve });
  hf('secrets', 'audit query 1M events (--secret, --limit 10)', 1_000_000, `${BIN} audit --secret app/svc1/key --limit 10`, { runs: 3, ...ve });
  // Appending is O(1): a read with a million-event log costs what it costs with a short one.
  hf('secrets', 'read one secret, 1M-event audit log', 1_000_000, `${BIN} get app/svc1/key`, ve);
}

function vaultIdOf(vault) {
  return JSON.parse(readFileSync(vault, 'utf8').split('\n')[1].slice(2)).id;
}

// ------------------------------------------------------------------------------------ report
function machine() {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const os = existsSync('/etc/os-release') ? (readFileSync('/etc/os-release', 'utf8').match(/PRETTY_NAME="([^"]+)"/)?.[1] ?? 'Linux') : process.platform;
  const ver = (c, a) => {
    if (!have(c)) return `${c} not installed`;
    try {
      return (
        run(c, a)
          .toString()
          .split('\n')
          .find((l) => l.trim())
          ?.trim() ?? c
      );
    } catch {
      return c;
    }
  };
  return [
    `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${os}, Node ${process.version}`,
    [
      ver('hyperfine', ['--version']),
      have('pass')
        ? `pass ${
            run('pass', ['version'])
              .toString()
              .match(/v\d[\d.]*/)?.[0] ?? ''
          }`
        : 'pass not installed',
      ver('gopass', ['version']),
      ver('age', ['--version']).replace(/^v?/, 'age '),
      ver('gpg', ['--version']),
    ].join('; '),
  ].join('\n');
}

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function report(meta) {
  const ops = [...new Set(results.map((r) => r.op))];
  const sizes = [...new Set(results.map((r) => r.size))].sort((a, b) => a - b);
  const tools = [...new Set(results.map((r) => r.tool))];
  const find = (tool, op, size) => results.find((r) => r.tool === tool && r.op === op && r.size === size);
  const lines = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (scripts/bench.mjs); do not edit by hand. -->',
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}, in ${elapsed()} s:`,
    '',
    '```',
    meta.machine,
    '```',
    '',
    `Each cell is the median in ms (min–max) of hyperfine with ${RUNS} runs after 2 warm-ups, unless marked. The ratio is`,
    "the peer's median over `secrets`'s for the same operation and size (above 1: `secrets` is faster). All commands ran",
    'with the same environment (NODE_EXTRA_CA_CERTS unset). Peers hold the same data: `app/svcN/key` → 32 random bytes in base64.',
    '`secrets` reads from the verified state its last read saved (ADR 0018), so the bench reads once after setting a vault',
    'up; "first read after a write" reads after another process appended. Its V8 code cache (ADR 0012)',
    'is warm after the warm-up runs, as it is for a user after the first run of each command.',
    '',
  ];
  for (const f of results.filter((r) => r.tool === 'floor')) {
    lines.push(
      `Floor: \`${f.op === 'true' ? 'true' : "node -e ''"}\` = ${fmt(f.median)} ms (${fmt(f.min)}–${fmt(f.max)})${f.op === 'true' ? '' : ', the least any Node CLI can take'}.`,
      '',
    );
  }
  for (const op of ops.filter((o) => o !== 'node -e ""' && o !== 'true')) {
    const opSizes = sizes.filter((s) => results.some((r) => r.op === op && r.size === s));
    lines.push(
      `## ${op}`,
      '',
      `| tool | ${opSizes.map((s) => `${s.toLocaleString('en')} secrets`).join(' | ')} |`,
      `|---|${opSizes.map(() => '---').join('|')}|`,
    );
    for (const tool of tools.filter((t) => t !== 'floor')) {
      const cells = opSizes.map((s) => {
        const r = find(tool, op, s);
        if (!r) return '–';
        const base = tool === 'secrets' ? undefined : find('secrets', op, s);
        const ratio = base ? ` **×${(r.median / base.median).toFixed(1)}**` : '';
        return r.unit === 'MB' ? `${fmt(r.median)} MB` : `${fmt(r.median)} (${fmt(r.min)}–${fmt(r.max)})${r.runs < RUNS ? ` n=${r.runs}` : ''}${ratio}`;
      });
      if (cells.some((c) => c !== '–')) lines.push(`| ${tool} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  lines.push(...meta.serve);
  lines.push('## Budgets', '', ...meta.budgets.map((b) => `- ${b}`), '');
  if (skipped.length) lines.push('## Not measured', '', ...skipped.map((s) => `- ${s}`), '');
  lines.push('![latency against vault size](benchmarks.svg)', '');
  writeFileSync(OUT, lines.join('\n'));
  writeFileSync(OUT.replace(/\.md$/, '.svg'), plot());
  log(`wrote ${OUT}`);
}

function plot() {
  const reads = results.filter((r) => r.op === 'read one secret');
  const tools = [...new Set(reads.map((r) => r.tool))];
  const sizes = [...new Set(reads.map((r) => r.size))].sort((a, b) => a - b);
  const maxY = Math.max(1, ...reads.map((r) => r.median));
  const [w, h, l, b] = [640, 360, 60, 40];
  const x = (s) =>
    l + ((Math.log10(s) - Math.log10(sizes[0] ?? 1)) / Math.max(1e-9, Math.log10(sizes.at(-1) ?? 10) - Math.log10(sizes[0] ?? 1))) * (w - l - 20);
  const y = (v) => h - b - (Math.log10(v) / Math.log10(maxY * 1.2)) * (h - b - 20);
  const colors = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`,
    `<text x="${w / 2}" y="14" text-anchor="middle">read one secret: median ms (log) against vault size (log)</text>`,
    `<line x1="${l}" y1="${h - b}" x2="${w - 10}" y2="${h - b}" stroke="#000"/><line x1="${l}" y1="20" x2="${l}" y2="${h - b}" stroke="#000"/>`,
  ];
  for (const s of sizes) out.push(`<text x="${x(s)}" y="${h - b + 15}" text-anchor="middle">${s.toLocaleString('en')}</text>`);
  for (const v of [1, 10, 100, 1000, 10000, 100000].filter((v) => v <= maxY * 1.2))
    out.push(`<text x="${l - 5}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  tools.forEach((t, i) => {
    const pts = sizes
      .map((s) => reads.find((r) => r.tool === t && r.size === s))
      .filter(Boolean)
      .map((r) => `${x(r.size).toFixed(1)},${y(r.median).toFixed(1)}`);
    out.push(`<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${pts.join(' ')}"/>`);
    out.push(`<text x="${w - 120}" y="${40 + i * 14}" fill="${colors[i % colors.length]}">${t}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// ------------------------------------------------------------------------------------ main
async function main() {
  const { dotenvx } = install();
  rmSync(W, { recursive: true, force: true });
  mkdirSync(W, { recursive: true });
  mkdirSync(env.HOME, { recursive: true });
  run(BIN, ['identity', 'new', '--name', 'bench', '--out', env.SECRETS_IDENTITY_FILE]);
  hf('floor', 'node -e ""', 0, "node -e ''", { runs: Math.max(RUNS, 20) });
  hf('floor', 'true', 0, 'true', { runs: Math.max(RUNS, 20) });
  const budgets = [];
  let audited = false;
  for (const n of SIZES) {
    log(`size ${n}`);
    const rows = data(n);
    const mid = rows[Math.floor(n / 2)] ?? rows[0];
    const vault = setupSecrets(n, rows);
    const e = { SECRETS_VAULT: vault };
    settledVault = vault;
    settle();
    hf('secrets', 'read one secret', n, `${BIN} get ${mid.name}`, { extraEnv: e });
    const other = rows[0] === mid ? (rows[1] ?? mid) : rows[0];
    hf('secrets', 'read one secret, first read after a write', n, `${BIN} get ${mid.name}`, {
      extraEnv: e,
      prepare: `sh -c 'printf x | ${BIN} put ${other.name} --value-stdin'`,
    });
    hf('secrets', 'exec -- true, one secret', n, `${BIN} exec --secret ${mid.name} -- true`, { extraEnv: e });
    if (n <= 10000)
      hf('secrets', 'exec -- true, every secret', n, `${BIN} exec --prefix app/ -- true`, { extraEnv: e, runs: n > 1000 ? Math.min(RUNS, 5) : RUNS });
    hf('secrets', 'write one secret', n, `printf new-value | ${BIN} put ${mid.name} --value-stdin`, { shell: true, extraEnv: e });
    hf('secrets', 'list names', n, `${BIN} list`, { extraEnv: e, runs: n > 1000 ? Math.min(RUNS, 3) : RUNS });
    hf('secrets', 'list --json', n, `${BIN} list --json`, { extraEnv: e });
    // The table a person sees: stdout a terminal (script(1) gives the command a pseudo-terminal).
    if (have('script')) hf('secrets', 'list, table on a terminal', n, `script -qec '${BIN} list' /dev/null`, { shell: true, extraEnv: e });
    if (n <= 10000)
      hf('secrets', 'first read of a fresh clone', n, `${BIN} get ${mid.name}`, { extraEnv: e, runs: n > 1000 ? Math.min(RUNS, 3) : RUNS, prepare: FRESH });
    log(`  secrets: file ${(statSync(vault).size / 1e6).toFixed(1)} MB at ${n}`);
    peakRss(n, vault, mid.name);
    if (n === 10000 && HISTORY) history(n, rows, 10);
    if (!audited) {
      auditMillion(vault);
      audited = true;
    }
    if (!PEERS || n > PEER_MAX) continue;
    if (have('pass') && have('gpg')) {
      const store = setupPass(n, rows);
      const pe = { PASSWORD_STORE_DIR: store };
      hf('pass', 'read one secret', n, `pass show ${mid.name}`, { extraEnv: pe });
      hf('pass', 'exec -- true, one secret', n, `env ${mid.env}="$(pass show ${mid.name})" true`, { shell: true, extraEnv: pe });
      hf('pass', 'write one secret', n, `printf 'new-value\\n' | pass insert -m -f ${mid.name}`, { shell: true, extraEnv: pe });
      hf('pass', 'list names', n, 'pass ls', { extraEnv: pe });
      if (have('gopass')) {
        hf('gopass', 'read one secret', n, `gopass show ${mid.name}`, { extraEnv: pe });
        hf('gopass', 'exec -- true, one secret', n, `env ${mid.env}="$(gopass show ${mid.name})" true`, { shell: true, extraEnv: pe });
        hf('gopass', 'list names', n, 'gopass ls', { extraEnv: pe });
      }
    } else skipped.push(`pass/gopass @${n} (not installed)`);
    if (have('age')) {
      const a = setupAge(n, rows);
      hf('age (one file)', 'read one secret', n, `age -d -i ${a.id} ${a.file} | grep -m1 '^${mid.env}=' | cut -d= -f2-`, { shell: true });
      hf('age (one file)', 'exec -- true, every secret', n, `env $(age -d -i ${a.id} ${a.file}) true`, { shell: true });
    }
    if (dotenvx && n <= 1000) {
      const dir = setupDotenvx(dotenvx, n, rows);
      const slow = n >= 1000 ? { runs: 2 } : {};
      hf('dotenvx', 'read one secret', n, `${dotenvx} get ${mid.env} -f ${dir}/.env`, slow);
      hf('dotenvx', 'exec -- true, every secret', n, `${dotenvx} run -f ${dir}/.env -- true`, slow);
    } else if (!dotenvx) skipped.push(`dotenvx @${n} (not installable here)`);
    else skipped.push(`dotenvx @${n} (its get/run decrypt every value: ~25 ms each, minutes per call)`);
  }
  skipped.push('sops (no Debian 12 package and no npm package ships its binary; nothing may be downloaded here)');
  const m = (tool, op, size) => results.find((r) => r.tool === tool && r.op === op && r.size === size)?.median;
  const floor = m('floor', 'node -e ""', 0);
  const g10k = m('secrets', 'read one secret', 10000);
  const g10 = m('secrets', 'read one secret', 10);
  const g100k = m('secrets', 'read one secret', 100000);
  if (floor && g10k)
    budgets.push(
      `get at 10,000 secrets: ${fmt(g10k)} ms = ${(g10k / floor).toFixed(2)}× \`node -e ''\` (${fmt(floor)} ms); budget ≤ 1.5× (aim 1.2×): ${g10k / floor <= 1.5 ? 'met' : `missed by ${((g10k / floor / 1.5 - 1) * 100).toFixed(0)}%`}`,
    );
  if (g10 && g100k)
    budgets.push(
      `get at 100,000 ÷ get at 10: ${(g100k / g10).toFixed(2)}; budget ≤ 1.5: ${g100k / g10 <= 1.5 ? 'met' : `missed by ${((g100k / g10 / 1.5 - 1) * 100).toFixed(0)}%`}`,
    );
  const ga10k = m('secrets', 'read one secret, first read after a write', 10000);
  if (floor && ga10k)
    budgets.push(
      `get at 10,000 secrets, first read after another process wrote: ${fmt(ga10k)} ms = ${(ga10k / floor).toFixed(2)}× \`node -e ''\`; budget ≤ 1.5×: ${ga10k / floor <= 1.5 ? 'met' : `missed by ${((ga10k / floor / 1.5 - 1) * 100).toFixed(0)}%`}`,
    );
  const w10 = m('secrets', 'write one secret', 10);
  const w100k = m('secrets', 'write one secret', 100000);
  if (w10 && w100k)
    budgets.push(
      `write at 100,000 ÷ write at 10: ${(w100k / w10).toFixed(2)} (${fmt(w100k)} ms, ${fmt(w10)} ms); budget ≤ 1.5: ${w100k / w10 <= 1.5 ? 'met' : `missed by ${((w100k / w10 / 1.5 - 1) * 100).toFixed(0)}%`}`,
    );
  const w10k = m('secrets', 'write one secret', 10000);
  const pw10k = m('pass', 'write one secret', 10000);
  if (w10k && pw10k)
    budgets.push(`write at 10,000: secrets ${fmt(w10k)} ms vs pass insert ${fmt(pw10k)} ms; budget: no slower: ${w10k <= pw10k ? 'met' : 'missed'}`);
  const fresh = m('secrets', 'first read of a fresh clone, 100000 ops', 10000);
  if (fresh)
    budgets.push(
      `a fresh clone's first read, 10,000 secrets with 100,000 ops: ${(fresh / 1000).toFixed(2)} s; budget < 15 s: ${fresh < 15000 ? 'met' : 'missed'}`,
    );
  const compacted = m('secrets', 'first read of a fresh clone, 100000 ops compacted', 10000);
  if (compacted)
    budgets.push(
      `the same after \`secrets compact\`: ${(compacted / 1000).toFixed(2)} s; budget < 2 s: ${compacted < 2000 ? 'met' : `missed by ${((compacted / 2000 - 1) * 100).toFixed(0)}%`}`,
    );
  const e1 = m('secrets', 'exec -- true, one secret', 10000);
  if (e1 && g10k)
    budgets.push(
      `exec -- true with one secret at 10,000: ${fmt(e1)} ms vs get ${fmt(g10k)} ms; budget: no more than get: ${e1 <= g10k * 1.05 ? 'met' : 'missed'}`,
    );
  const av = m('secrets', 'audit verify 1M events', 1_000_000);
  if (av) budgets.push(`audit verify of 1,000,000 events: ${(av / 1000).toFixed(2)} s; budget ≤ 5 s: ${av <= 5000 ? 'met' : 'missed'}`);
  const rss = results.find((r) => r.op === 'get peak RSS (MB)' && r.size === 100000)?.median;
  if (rss) budgets.push(`peak RSS of get at 100,000 secrets: ${rss.toFixed(0)} MB; budget ≤ 100 MB: ${rss <= 100 ? 'met' : 'missed'}`);
  for (const op of ['read one secret', 'list names', 'write one secret']) {
    for (const n of SIZES) {
      const s = m('secrets', op, n);
      const d = m('dotenvx', op, n);
      if (s && d) budgets.push(`${op} at ${n}: dotenvx/secrets = ${(d / s).toFixed(1)}× (budget ≥ 20×): ${d / s >= 20 ? 'met' : 'missed'}`);
    }
  }
  const l10k = m('secrets', 'list names', 10000);
  for (const peer of ['pass', 'gopass']) {
    const p = m(peer, 'list names', 10000);
    if (l10k && p) budgets.push(`list at 10,000: secrets ${fmt(l10k)} ms vs ${peer} ls ${fmt(p)} ms: ${l10k < p ? 'met' : 'missed'}`);
  }
  // The API server (scripts/bench-serve.mjs): requests per second and p99, not per-command times.
  const serve = await benchServe(log);
  budgets.push(...serve.budgets);
  report({ machine: machine(), budgets, serve: serve.lines });
  appendFileSync(join(ROOT, '.bench', 'history.jsonl'), `${JSON.stringify({ at: new Date().toISOString(), results })}\n`);
}

await main();
