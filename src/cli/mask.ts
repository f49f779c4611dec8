/**
 * Output masking for `exec --mask`: every occurrence of a secret value in a byte stream becomes
 * `*****`, including a value split across chunks. The masker holds back only the longest tail
 * that could still begin a value, so ordinary output flows through at once.
 */

/** What replaces a value. */
export const MASK = Buffer.from('*****');

/** Values shorter than this are not masked: masking `1` or `ok` would mangle all output. */
export const MIN_MASKED_BYTES = 3;

/** A stateful masker for one stream: leftmost-longest replacement, as if on the whole stream. */
export class Masker {
  /** Values by their first byte, longest first. */
  readonly #byFirst = new Map<number, Buffer[]>();
  #pending: Buffer = Buffer.alloc(0);

  constructor(values: readonly Uint8Array[]) {
    const unique = new Map<string, Buffer>();
    for (const v of values) if (v.length >= MIN_MASKED_BYTES) unique.set(Buffer.from(v).toString('latin1'), Buffer.from(v));
    for (const v of [...unique.values()].sort((a, b) => b.length - a.length)) {
      const first = v[0] as number;
      this.#byFirst.set(first, [...(this.#byFirst.get(first) ?? []), v]);
    }
  }

  /** Masks what can be decided now; holds back from the first place a value may still be starting. */
  push(chunk: Uint8Array): Buffer {
    const data = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : Buffer.from(chunk);
    const { out, rest } = this.#scan(data, false);
    this.#pending = Buffer.from(rest);
    return out;
  }

  /** The rest, at the end of the stream (a value that never completed is not a value). */
  end(): Buffer {
    const { out } = this.#scan(this.#pending, true);
    this.#pending = Buffer.alloc(0);
    return out;
  }

  /**
   * Walks the bytes: at each position, the longest value that matches there is replaced, unless
   * a longer value could still match once more bytes arrive; then everything from that position
   * waits. So the output is what replacing on the whole stream would give.
   */
  #scan(data: Buffer, final: boolean): { out: Buffer; rest: Buffer } {
    const parts: Buffer[] = [];
    let plain = 0;
    let i = 0;
    while (i < data.length) {
      const candidates = this.#byFirst.get(data[i] as number);
      if (!candidates) {
        i++;
        continue;
      }
      let match = 0;
      let wait = false;
      const avail = data.length - i;
      for (const v of candidates) {
        if (v.length <= avail) {
          if (match === 0 && data.compare(v, 0, v.length, i, i + v.length) === 0) match = v.length;
        } else if (!final && match === 0 && data.compare(v, 0, avail, i, data.length) === 0) {
          // Longer than any complete match here (longest first), and may still complete.
          wait = true;
        }
      }
      if (wait) {
        parts.push(data.subarray(plain, i));
        return { out: Buffer.concat(parts), rest: data.subarray(i) };
      }
      if (match > 0) {
        parts.push(data.subarray(plain, i), MASK);
        i += match;
        plain = i;
      } else {
        i++;
      }
    }
    parts.push(data.subarray(plain));
    return { out: Buffer.concat(parts), rest: Buffer.alloc(0) };
  }
}
