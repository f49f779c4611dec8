/**
 * The only importer of libsodium. Loaded lazily: commands that never encrypt (help, list,
 * random) do not pay for the WASM start-up (~50 ms, research/deps.md section 4).
 */
import type sodiumType from 'libsodium-wrappers-sumo';

export type Sodium = typeof sodiumType;

let ready: Promise<Sodium> | undefined;

/** Resolves to an initialised libsodium. Default import only: named imports crash (deps.md). */
export function loadSodium(): Promise<Sodium> {
  ready ??= import('libsodium-wrappers-sumo').then(async (mod) => {
    const sodium = mod.default;
    await sodium.ready;
    return sodium;
  });
  return ready;
}
