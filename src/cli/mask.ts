/**
 * Output masking for `exec --mask`: every occurrence of a secret value in a byte stream becomes
 * `*****`, including a value split across chunks. The masker holds back only the longest tail
 * that could still begin a value, so ordinary output flows through at once.
 */

/** What replaces a value. */
export const MASK = Buffer.from('*****');

/** Values shorter than this are not masked: masking `1` or `ok` would mangle all output. */
export const MIN_MASKED_BYTES = 3;

/** A stateful masker for one stream. */
export class Masker {
  readonly #values: Buffer[];
  #pending: Buffer = Buffer.alloc(0);

  constructor(values: readonly Uint8Array[]) {
    // Longest first, so a value that contains another is masked whole.
    this.#values = [...new Set(values.filter((v) => v.length >= MIN_MASKED_BYTES).map((v) => Buffer.from(v).toString('latin1')))]
      .map((v) => Buffer.from(v, 'latin1'))
      .sort((a, b) => b.length - a.length);
  }

  /** Masks what can be decided now; keeps a possible start of a value for the next chunk. */
  push(chunk: Uint8Array): Buffer {
    const data = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : Buffer.from(chunk);
    const masked = this.#mask(data);
    const keep = this.#heldTail(masked.out, masked.safeFrom);
    this.#pending = Buffer.from(masked.out.subarray(masked.out.length - keep));
    return masked.out.subarray(0, masked.out.length - keep);
  }

  /** The rest, at the end of the stream. */
  end(): Buffer {
    const rest = this.#pending;
    this.#pending = Buffer.alloc(0);
    return rest;
  }

  /** Replaces whole values; `safeFrom` is where the last replacement ended (never held back). */
  #mask(data: Buffer): { out: Buffer; safeFrom: number } {
    if (this.#values.length === 0) return { out: data, safeFrom: data.length };
    const parts: Buffer[] = [];
    let at = 0;
    let outLen = 0;
    let safeFrom = 0;
    for (;;) {
      let best = -1;
      let bestValue: Buffer | undefined;
      for (const v of this.#values) {
        const i = data.indexOf(v, at);
        if (i >= 0 && (best < 0 || i < best || (i === best && v.length > (bestValue?.length ?? 0)))) {
          best = i;
          bestValue = v;
        }
      }
      if (best < 0 || !bestValue) break;
      parts.push(data.subarray(at, best), MASK);
      outLen += best - at + MASK.length;
      safeFrom = outLen;
      at = best + bestValue.length;
    }
    parts.push(data.subarray(at));
    return { out: Buffer.concat(parts), safeFrom };
  }

  /** Length of the longest suffix of `out` (after `safeFrom`) that is a proper prefix of a value. */
  #heldTail(out: Buffer, safeFrom: number): number {
    let longest = 0;
    for (const v of this.#values) {
      const max = Math.min(v.length - 1, out.length - safeFrom);
      for (let n = max; n > longest; n--) {
        if (out.compare(v, 0, n, out.length - n, out.length) === 0) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}
