/** SHA-256 over vault bytes (node:crypto: hardware-accelerated, no WASM start-up). */
import { createHash } from 'node:crypto';

/** Hex SHA-256 of the given chunks, in order. */
export function sha256Hex(chunks: Iterable<string | Uint8Array>): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}
