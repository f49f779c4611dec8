/**
 * Group commit for a busy writer (`secrets serve`): appends that arrive while one is being
 * written wait for it, then go to disk together, with one write and one fsync. Each caller's
 * promise settles only when its own event is durable (or failed), so fail-closed holds per
 * request while the cost of an fsync is shared by every request that waited for it. When the
 * trail can be held (FileAuditLog.hold), consecutive batches keep the log's lock and its tail for
 * up to MAX_HOLD_MS, so a batch costs one write and one fsync.
 */
import type { AuditEntry, AuditTrail } from '../core/ports.js';

/** A trail whose log can be kept open, and locked, across several appends. */
export interface HoldableTrail extends AuditTrail {
  hold<T>(vaultId: string, body: (append: (entries: readonly AuditEntry[]) => Promise<void>) => Promise<T>): Promise<T>;
}

/** Longest a busy server keeps the log's lock before letting another process's append in. */
const MAX_HOLD_MS = 20;
/** How long a held log waits for the next append before it is let go. */
const LINGER_MS = 2;
/**
 * After a hold that ran its full time, the log stays free this long before it is taken again,
 * so another process waiting for its lock (it polls every 2–100 ms) gets in within a second or
 * so even while the server is busy.
 */
const YIELD_MS = 3;

interface Waiting {
  readonly vaultId: string;
  readonly entries: readonly AuditEntry[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** An AuditTrail that batches the appends of concurrent callers into one durable write. */
export class GroupCommitTrail implements AuditTrail {
  readonly #trail: AuditTrail | HoldableTrail;
  #queue: Waiting[] = [];
  #writing: Promise<void> | undefined;
  /** Wakes a lingering hold when an append arrives. */
  #arrived: (() => void) | undefined;

  constructor(trail: AuditTrail | HoldableTrail) {
    this.#trail = trail;
  }

  append(entry: AuditEntry): Promise<void> {
    return this.appendAll([entry]);
  }

  appendAll(entries: readonly AuditEntry[]): Promise<void> {
    const first = entries[0];
    if (!first) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ vaultId: first.vaultId, entries, resolve, reject });
      this.#arrived?.();
      this.#writing ??= this.#drain();
    });
  }

  lastAccess(vaultId: string, secretId: string): Promise<string | undefined> {
    return this.#trail.lastAccess(vaultId, secretId);
  }

  /** Resolves once everything queued so far is written (or has failed). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Takes every waiting append of one vault off the queue (the log is per vault). */
  #take(vaultId: string): Waiting[] {
    const mine = this.#queue.filter((w) => w.vaultId === vaultId);
    this.#queue = this.#queue.filter((w) => w.vaultId !== vaultId);
    return mine;
  }

  async #write(group: Waiting[], append: (entries: readonly AuditEntry[]) => Promise<void>): Promise<void> {
    try {
      await append(group.flatMap((w) => w.entries));
    } catch (err) {
      for (const w of group) w.reject(err);
      throw err;
    }
    for (const w of group) w.resolve();
  }

  /** Resolves when an append arrives, or after LINGER_MS. */
  #linger(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, LINGER_MS);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#arrived = () => {
        this.#arrived = undefined;
        done();
      };
    });
  }

  async #drain(): Promise<void> {
    try {
      for (let next = this.#queue[0]; next; next = this.#queue[0]) {
        const { vaultId } = next;
        const trail = this.#trail;
        try {
          if ('hold' in trail) {
            const busy = await trail.hold(vaultId, async (append) => {
              const started = Date.now();
              for (;;) {
                let group = this.#take(vaultId);
                // Under load the next request is on its way: wait a moment for it rather than let go.
                if (group.length === 0) {
                  await this.#linger();
                  group = this.#take(vaultId);
                }
                if (group.length === 0) return false;
                await this.#write(group, append);
                if (Date.now() - started >= MAX_HOLD_MS) return true;
              }
            });
            if (busy) await new Promise((r) => setTimeout(r, YIELD_MS));
          } else {
            await this.#write(this.#take(vaultId), (entries) => trail.appendAll(entries));
          }
        } catch (err) {
          // The log could not be opened or written: what waits for it fails the same way.
          for (const w of this.#take(vaultId)) w.reject(err);
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }
}
