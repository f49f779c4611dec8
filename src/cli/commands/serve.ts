/**
 * `secrets serve`: the AWS Secrets Manager API on loopback (docs/serve.md), and
 * `secrets aws-credentials`: the credentials an AWS SDK signs its requests to it with.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { shellQuote } from '../../core/dotenv.js';
import { SecretsError } from '../../core/errors.js';
import { serveCredentials } from '../../serve/credentials.js';
import { readRuntime, removeRuntime, runtimePath, writeRuntime } from '../../serve/runtime.js';
import { ASYNC_FILES } from '../../store/file-access.js';
import type { App } from '../app.js';
import { formatJson } from '../ui.js';

/** The Secrets Manager Agent's port, and so this server's default. */
const DEFAULT_PORT = 2773;
const DEFAULT_REGION = 'us-east-1';

function port(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535) throw new InvalidArgumentError('a port is 0 to 65535 (0 picks a free one)');
  return Number(text);
}

function region(text: string): string {
  if (!/^[a-z]{2}(-[a-z0-9]+){1,3}$/.test(text)) throw new InvalidArgumentError('a region looks like us-east-1');
  return text;
}

/** Waits for SIGTERM or SIGINT. */
function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export function register(program: Command, app: App): void {
  program
    .command('serve')
    .description('serve the AWS Secrets Manager API and the Secrets Manager Agent protocol on loopback, for this identity (docs/serve.md)')
    .option('--host <address>', 'loopback address to listen on', '127.0.0.1')
    .option('--port <port>', `port (0 picks a free one)`, port, DEFAULT_PORT)
    .option('--region <region>', 'the region in ARNs of agent requests (API requests use the region they are signed for)', region, DEFAULT_REGION)
    .option('--json', 'print {endpoint, accountId, accessKeyId, region} on one line of stdout once listening')
    .action(async (opts: { host: string; port: number; region: string; json?: boolean }, cmd: Command) => {
      const { startServer } = await import('../../serve/server.js');
      const deps = app.deps(cmd, ASYNC_FILES);
      const server = await startServer({ host: opts.host, port: opts.port, app: deps, region: opts.region, log: (m) => app.io.writeErr(`secrets: ${m}\n`) });
      const host = server.host.includes(':') ? `[${server.host}]` : server.host;
      const endpoint = `http://${host}:${server.port}`;
      const runtime = runtimePath(deps.paths.stateDir, server.context.vaultId);
      const stopped = untilStopped();
      try {
        writeRuntime(runtime, { endpoint, region: opts.region, pid: process.pid });
        if (opts.json) {
          const { accountId, accessKeyId } = server.context.credentials;
          app.io.writeOut(`${JSON.stringify({ endpoint, accountId, accessKeyId, region: opts.region })}\n`);
        }
        app.io.writeErr(`Listening on ${endpoint}\n`);
        await stopped;
      } finally {
        removeRuntime(runtime);
        await server.close();
      }
    });

  program
    .command('aws-credentials')
    .description('print the AWS access key and secret key that sign requests to `secrets serve` for this identity and vault')
    .option('--json', 'print {AccessKeyId, SecretAccessKey, AgentToken, AccountId, Endpoint?}')
    .addOption(
      new Option('--format <format>', 'env (dotenv), shell (export lines, the default) or credentials-file (an ~/.aws/credentials profile)').choices([
        'env',
        'shell',
        'credentials-file',
      ]),
    )
    .option('--endpoint <url>', 'the server to name in AWS_ENDPOINT_URL_SECRETS_MANAGER (default: the running `secrets serve` of this vault, if any)')
    .action(async (opts: { json?: boolean; format?: string; endpoint?: string }, cmd: Command) => {
      if (opts.json && opts.format !== undefined) throw new SecretsError('USAGE', '--json and --format cannot be combined', 'pick one');
      if (opts.endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(opts.endpoint)) {
        throw new SecretsError('USAGE', `--endpoint must be an http:// or https:// URL, not ${JSON.stringify(opts.endpoint)}`);
      }
      const deps = app.deps(cmd);
      const { identity } = await deps.identities.load();
      const state = await deps.vault.read(identity);
      const c = serveCredentials(identity, state.vault.id);
      const running = readRuntime(runtimePath(deps.paths.stateDir, state.vault.id));
      const endpoint = opts.endpoint ?? running?.endpoint;
      const regionName = running?.region ?? DEFAULT_REGION;
      if (opts.json) {
        return app.emit({
          stdout: formatJson({
            AccessKeyId: c.accessKeyId,
            SecretAccessKey: c.secretAccessKey,
            AgentToken: c.agentToken,
            AccountId: c.accountId,
            ...(endpoint !== undefined ? { Endpoint: endpoint } : {}),
          }),
        });
      }
      const vars: [string, string][] = [
        ['AWS_ACCESS_KEY_ID', c.accessKeyId],
        ['AWS_SECRET_ACCESS_KEY', c.secretAccessKey],
        ['AWS_REGION', regionName],
        ['AWS_SESSION_TOKEN', ''],
        ['AWS_TOKEN', c.agentToken],
        ...(endpoint !== undefined ? ([['AWS_ENDPOINT_URL_SECRETS_MANAGER', endpoint]] as [string, string][]) : []),
      ];
      switch (opts.format ?? 'shell') {
        case 'env':
          return app.emit({
            stdout: vars
              .filter(([, v]) => v !== '')
              .map(([k, v]) => `${k}=${shellQuote(v)}\n`)
              .join(''),
          });
        case 'credentials-file':
          return app.emit({
            stdout: `[secrets]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${c.secretAccessKey}\n${endpoint !== undefined ? `# endpoint_url = ${endpoint} (in ~/.aws/config, or --endpoint-url)\n` : ''}`,
          });
        default:
          return app.emit({
            stdout: vars.map(([k, v]) => (v === '' ? `unset ${k}\n` : `export ${k}=${shellQuote(v)}\n`)).join(''),
            ...(endpoint === undefined ? { stderr: 'secrets: no `secrets serve` is running for this vault: start one, or pass --endpoint URL\n' } : {}),
          });
      }
    });
}
