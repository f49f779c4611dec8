/**
 * Output masking for `exec --mask`: every occurrence of a secret value in a byte stream becomes
 * `*****`, including a value split across chunks. The masker holds back only the longest tail
 * that could still begin a value, so ordinary output flows through at once. `maskedForms` adds
 * the common encodings of each value (hex, base64, percent-encoding) to what is masked.
 */

/** What replaces a value. */
export const MASK = Buffer.from('*****');

/** Values shorter than this are not masked: masking `1` or `ok` would mangle all output. */
export const MIN_MASKED_BYTES = 3;

/**
 * Values shorter than this are masked as they are, not in their encodings: the hex or base64
 * of a 4-byte value is 6 to 8 characters, which ordinary output (hashes, ids) holds by chance.
 * From 8 bytes, the shortest form masked is 8 base64 characters (48 bits).
 */
export const MIN_ENCODED_BYTES = 8;

/** Bytes left as they are by each percent-encoding: RFC 3986 unreserved, encodeURIComponent's set, HTML forms' set. */
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const URI_COMPONENT = /[A-Za-z0-9\-._~!'()*]/;
const FORM = /[A-Za-z0-9*\-._]/;

function percentEncode(value: Uint8Array, safe: RegExp, spaceAsPlus: boolean, upper: boolean): Buffer {
  let out = '';
  for (const byte of value) {
    const c = String.fromCharCode(byte);
    if (byte < 0x80 && safe.test(c)) out += c;
    else if (byte === 0x20 && spaceAsPlus) out += '+';
    else {
      const hex = byte.toString(16).padStart(2, '0');
      out += `%${upper ? hex.toUpperCase() : hex}`;
    }
  }
  return Buffer.from(out, 'latin1');
}

/**
 * Every form of each value to mask: the value, and from MIN_ENCODED_BYTES its hex (lower and
 * upper case), base64 and base64url (with and without padding), the base64 of the value as
 * it appears at any of the 3 byte alignments inside a longer base64 text (the characters
 * that depend on the value alone, so a few characters at each end stay visible), and its
 * percent-encodings (RFC 3986 as Python's quote(safe=''), encodeURIComponent, and form encoding
 * with `+` for a space as URLSearchParams and Python's quote_plus write it; with upper- and
 * lower-case hex). Duplicates are dropped.
 */
export function maskedForms(values: readonly Uint8Array[]): Buffer[] {
  const forms = new Map<string, Buffer>();
  const add = (b: Buffer): void => {
    if (b.length > 0) forms.set(b.toString('latin1'), b);
  };
  for (const value of values) {
    const v = Buffer.from(value);
    add(v);
    if (v.length < MIN_ENCODED_BYTES) continue;
    const hex = v.toString('hex');
    add(Buffer.from(hex));
    add(Buffer.from(hex.toUpperCase()));
    const b64 = v.toString('base64');
    for (const text of [b64, b64.replace(/=+$/, '')]) {
      add(Buffer.from(text));
      add(Buffer.from(text.replace(/\+/g, '-').replace(/\//g, '_')));
    }
    // Inside a longer base64 text the value starts at byte offset 0, 1 or 2 of a 3-byte group;
    // skipping that many bytes, its remaining whole groups encode to fixed characters.
    for (const skip of [0, 1, 2]) {
      const rest = v.subarray(skip);
      const core = rest.subarray(0, rest.length - (rest.length % 3)).toString('base64');
      add(Buffer.from(core));
      add(Buffer.from(core.replace(/\+/g, '-').replace(/\//g, '_')));
    }
    for (const upper of [true, false]) {
      add(percentEncode(v, UNRESERVED, false, upper));
      add(percentEncode(v, URI_COMPONENT, false, upper));
      add(percentEncode(v, UNRESERVED, true, upper));
      add(percentEncode(v, FORM, true, upper));
    }
  }
  return [...forms.values()];
}

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
