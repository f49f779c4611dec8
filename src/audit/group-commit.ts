/**
 * Group commit for a busy writer (`secrets serve`): appends that arrive while one is being
 * written wait for it, then go to disk together, with one lock, one write and one fsync. Each
 * caller's promise settles only when its own event is durable (or failed), so fail-closed holds
 * per request while the cost of an fsync is shared by every request that waited for it.
 */
import type { AuditEntry, AuditTrail } from '../core/ports.js';

interface Waiting {
  readonly entries: readonly AuditEntry[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** An AuditTrail that batches the appends of concurrent callers into one durable write. */
export class GroupCommitTrail implements AuditTrail {
  readonly #trail: AuditTrail;
  #queue: Waiting[] = [];
  #writing: Promise<void> | undefined;

  constructor(trail: AuditTrail) {
    this.#trail = trail;
  }

  append(entry: AuditEntry): Promise<void> {
    return this.appendAll([entry]);
  }

  appendAll(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ entries, resolve, reject });
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

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        // One vault per append (the log is per vault); a server has one, but keep them apart.
        const byVault = new Map<string, Waiting[]>();
        for (const w of batch) {
          const key = w.entries[0]?.vaultId ?? '';
          byVault.set(key, [...(byVault.get(key) ?? []), w]);
        }
        for (const group of byVault.values()) {
          try {
            await this.#trail.appendAll(group.flatMap((w) => w.entries));
            for (const w of group) w.resolve();
          } catch (err) {
            for (const w of group) w.reject(err);
          }
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }
}
