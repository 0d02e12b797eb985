/**
 * Group commit: writes requested in the same event-loop turn go to disk in ONE
 * transaction (one fsync), and every caller's promise resolves once it committed.
 * With WAL and synchronous=FULL, "resolved" means durable, across power loss too
 * (with a WalSync, the fsync runs off the event loop and the callers wait for it). A
 * failed commit rejects every caller of the batch: nothing of it was stored (disk full
 * rejects with StoreFullError, see space.ts).
 */
import { StoreError } from '../errors.js';
import type { Db } from './open.js';
import type { StoreSpace } from './space.js';
import type { WalSync } from './wal-sync.js';

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
    /** Commits without blocking on the fsync (wal-sync.ts); callers are resolved, and
     *  onCommitted runs, once it is done. Absent: the fsync is inside COMMIT. */
    private readonly sync: Pick<WalSync, 'commit' | 'afterSync'> | undefined = undefined,
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
    const transaction = this.db.transaction(() => {
      this.around?.begin();
      const r = batch.map((w) => this.write(w.item));
      this.around?.end();
      return r;
    });
    try {
      results = this.space.write(() => (this.sync === undefined ? transaction() : this.sync.commit(transaction)));
      this.commits++;
    } catch (err) {
      this.around?.abort();
      this.onRolledBack();
      const e = err instanceof Error ? err : new Error(String(err));
      for (const w of batch) w.reject(e);
      return;
    }
    const settle = (err: Error | undefined): void => {
      // A failed fsync cannot take the commit back: the rows are there and go on (the
      // process reads them), but the callers learn that the disk did not confirm them.
      if (err !== undefined) for (const w of batch) w.reject(notConfirmed(err));
      else for (const w of batch) w.resolve();
      this.onCommitted(results);
    };
    if (this.sync === undefined) settle(undefined);
    else this.sync.afterSync(settle);
  }
}

/** What a caller gets when its commit stands but its fsync failed. */
export function notConfirmed(err: Error): StoreError {
  return new StoreError('unconfirmed', `committed, but the disk did not confirm it (fsync of the WAL failed: ${err.message}); it stands and is delivered (do not send it again), but may not survive a power cut`, { cause: err });
}
