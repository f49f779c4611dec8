/**
 * A secret value in memory. It prints as [REDACTED] through every path that turns objects
 * into text (String(), template literals, JSON.stringify, util.inspect, console.log), so a
 * stray log line or error message cannot carry it. `reveal()` is for the few places where a
 * value must leave: stdout of `get`, a child's environment, an output file.
 */
const REDACTED = '[REDACTED]';

export class SecretBytes {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** Wraps the UTF-8 encoding of `text`. */
  static fromString(text: string): SecretBytes {
    return new SecretBytes(new TextEncoder().encode(text));
  }

  /** Byte length (not secret). */
  get length(): number {
    return this.#bytes.length;
  }

  /** The raw bytes. Call only where the value must leave the process. */
  reveal(): Uint8Array {
    return this.#bytes;
  }

  /** The value as text, or undefined when it is not valid UTF-8. */
  revealText(): string | undefined {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.#bytes);
    } catch {
      return undefined;
    }
  }

  /** Constant-time equality of two values. */
  equals(other: SecretBytes): boolean {
    const a = this.#bytes;
    const b = other.#bytes;
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
    return diff === 0;
  }

  /** Overwrites the bytes with zeros. */
  wipe(): void {
    this.#bytes.fill(0);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return REDACTED;
  }
}
