/**
 * The running server's address, for `secrets aws-credentials --format shell`: a small file
 * under the state directory, written when `secrets serve` listens and removed when it stops.
 * It names no secret (the endpoint and the server's pid only).
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, isAlive } from '../store/atomic.js';
import { mkdirSync } from 'node:fs';

/** What the file holds. */
export interface RuntimeInfo {
  readonly endpoint: string;
  readonly region: string;
  readonly pid: number;
}

/** The file of the server of one vault. */
export function runtimePath(stateDir: string, vaultId: string): string {
  return join(stateDir, 'serve', `${vaultId}.json`);
}

/** Records a running server. */
export function writeRuntime(path: string, info: RuntimeInfo): void {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, `${JSON.stringify(info)}\n`);
}

/** Removes the record (when the server stops). */
export function removeRuntime(path: string): void {
  rmSync(path, { force: true });
}

/** The running server of a vault, if its record exists and its process is alive. */
export function readRuntime(path: string): RuntimeInfo | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<RuntimeInfo>;
    if (typeof v.endpoint !== 'string' || typeof v.pid !== 'number' || typeof v.region !== 'string') return undefined;
    return isAlive(v.pid) ? { endpoint: v.endpoint, region: v.region, pid: v.pid } : undefined;
  } catch {
    return undefined;
  }
}
