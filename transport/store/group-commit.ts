/**
 * Group commit: writes requested in the same event-loop turn go to disk in ONE
 * transaction (one fsync), and every caller's promise resolves once it committed.
 * With WAL and synchronous=FULL, "resolved" means durable, across power loss too. A
 * failed commit rejects every caller of the batch: nothing of it was stored (disk full
 * rejects with StoreFullError, see space.ts).
 */
import type { Db } from './open.js';
import type { StoreSpace } from './space.js';

interface Waiting<T> {
  item: T;
  resolve(): void;
  reject(err: Error): void;
}

export class GroupCommit<T, R> {
  private waiting: Array<Waiting<T>> = [];
  private scheduled = false;
  /** Transactions committed so far (fsyncs, for the benchmark's per-message figure). */
  commits = 0;

  constructor(
    private readonly db: Db,
    private readonly space: Pick<StoreSpace, 'write'>,
    /** Writes one item inside the open transaction. */
    private readonly write: (item: T) => R,
    /** After a commit, with what write() returned, in order. */
    private readonly onCommitted: (results: R[]) => void,
    /** After a rollback, so in-memory counters can be corrected. */
    private readonly onRolledBack: () => void = () => undefined,
    /** Inside the transaction, before the first write and after the last (a writer
     *  that keeps per-transaction state in memory); the end's writes commit too. */
    private readonly around: { begin(): void; end(): void; abort(): void } | undefined = undefined,
  ) {}

  /** Items waiting for the next commit. */
  get pending(): number {
    return this.waiting.length;
  }

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    let results: R[];
    try {
      results = this.space.write(() => this.db.transaction(() => {
        this.around?.begin();
        const r = batch.map((w) => this.write(w.item));
        this.around?.end();
        return r;
      })());
      this.commits++;
    } catch (err) {
      this.around?.abort();
      this.onRolledBack();
      const e = err instanceof Error ? err : new Error(String(err));
      for (const w of batch) w.reject(e);
      return;
    }
    for (const w of batch) w.resolve();
    this.onCommitted(results);
  }
}
