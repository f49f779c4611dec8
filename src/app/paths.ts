/** Where things live, from the XDG base directory variables (with their standard defaults). */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The directories and files this machine uses. */
export interface Paths {
  readonly vault: string;
  readonly configDir: string;
  readonly stateDir: string;
  readonly trustDir: string;
  /** Derived data that may be deleted at any time (the verified state of format-2 vaults, ADR 0018 §5). */
  readonly cacheDir: string;
}

/** Resolves paths from the environment and the --vault flag. */
export function resolvePaths(env: Readonly<Record<string, string | undefined>>, vaultFlag: string | undefined): Paths {
  const home = env['HOME'] && env['HOME'] !== '' ? env['HOME'] : homedir();
  const xdg = (name: string, fallback: string): string => {
    const v = env[name];
    return v && v.startsWith('/') ? v : join(home, fallback);
  };
  const data = xdg('XDG_DATA_HOME', '.local/share');
  const config = xdg('XDG_CONFIG_HOME', '.config');
  const state = xdg('XDG_STATE_HOME', '.local/state');
  const cache = xdg('XDG_CACHE_HOME', '.cache');
  const vaultPath = vaultFlag ?? (env['SECRETS_VAULT'] || undefined) ?? join(data, 'secrets', 'vault.yaml');
  return {
    vault: resolve(vaultPath),
    configDir: join(config, 'secrets'),
    stateDir: join(state, 'secrets'),
    trustDir: join(state, 'secrets', 'trust'),
    cacheDir: join(cache, 'secrets'),
  };
}
