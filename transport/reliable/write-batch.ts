/**
 * Writes applied in batches: the receiver's side of "no broker, and still at broker
 * speed".
 *
 * A commit with synchronous=FULL costs an fsync, whatever it holds: one write per
 * transaction caps a node at the disk's fsync rate (hundreds a second; tens on an SD
 * card). So the writes of one moment share ONE transaction: the reliable commands the
 * ROUTER read together (or that queued while the previous commit ran), and the
 * `commit()` blocks of request handlers:
 *
 *   BEGIN IMMEDIATE
 *     write 1: inbox decision; SAVEPOINT; handler; RELEASE
 *     write 2: ... handler throws ...; ROLLBACK TO        (its own ERROR / rejection)
 *     ...
 *     the inbox's watermarks (hooks.end)
 *   COMMIT                                              then every done(), then fail()s
 *
 * Each write keeps its own SAVEPOINT, so one that throws undoes only its own writes.
 * For reliable commands the inbox decides against the watermarks as the batch moved
 * them, so a later command of the same stream then finds its predecessor missing
 * (OUT_OF_ORDER), as it would have in a transaction of its own. done() (an ACK, a
 * resolved promise) runs only once the commit is on disk: after COMMIT returned, or,
 * with a WalSync (`sync`), after the fdatasync of the WAL that followed it, which runs
 * off the event loop while the next batch is read and applied.
 * Should the COMMIT itself fail (a full disk, say), nothing of the batch happened and
 * every write fails with that error.
 *
 * A batch is flushed on the next setImmediate (everything handed over meanwhile joins
 * it). One transaction takes at most `maxWrites`, and starts no write after
 * `budgetMs` of work, so that no batch blocks the event loop for long; the rest
 * follows in the next transaction, in order.
 */
import { ClosedError } from '../errors.js';
import type { Db } from '../store/open.js';
import type { BatchStats } from '../stats-types.js';
import { notConfirmed } from '../store/group-commit.js';
import type { StoreSpace } from '../store/space.js';
import type { WalSync } from '../store/wal-sync.js';
import type { Inbox } from './inbox.js';
import type { OpenTransaction } from './transaction.js';

/** One write of a batch. */
export interface BatchedWrite {
  /** Runs inside the batch's transaction, in a SAVEPOINT of its own (the write makes
   *  it); a throw refuses this write only. */
  apply(open: OpenTransaction): void;
  /** After COMMIT. */
  done(): void;
  fail(err: unknown): void;
}

export interface WriteBatchParts {
  db: Db;
  space: Pick<StoreSpace, 'write' | 'classify'>;
  /** Told when a batch's transaction begins, is about to commit, or is gone (the
   *  inbox keeps its watermarks for the batch). */
  hooks: Pick<Inbox, 'beginBatch' | 'endBatch' | 'abortBatch'>;
  /** A transaction object for one write. */
  transaction(): OpenTransaction;
  /** Told of each committed batch: its writes, and ms spent, commit included. */
  committed?: (writes: number, ms: number) => void;
  /** Commits without blocking on the fsync (store/wal-sync.ts): done() runs once it
   *  is done. Absent: the fsync is inside COMMIT. */
  sync?: Pick<WalSync, 'commit' | 'afterSync'>;
  /** Most writes in one transaction. */
  maxWrites: number;
  /** No write starts in a transaction that has run this long already. */
  budgetMs: number;
}

export class WriteBatch {
  private queue: BatchedWrite[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;
  readonly stats: BatchStats = { transactions: 0, writes: 0, refused: 0, largest: 0, ms: 0 };

  constructor(private readonly p: WriteBatchParts) {}

  /** Writes waiting for the next transaction. */
  get size(): number {
    return this.queue.length;
  }

  add(c: BatchedWrite): void {
    if (this.closed) return c.fail(new ClosedError('the reliable class is closed', { retryable: true }));
    this.queue.push(c);
    // Far behind (more than the read loop should ever hand over in one turn): apply
    // now, so that what waits stays bounded.
    if (this.queue.length >= 4 * this.p.maxWrites) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Applies what is queued in one transaction: at most maxWrites, and no more once
   *  budgetMs of work went into it (a slow handler must not hold the event loop).
   *  What is left goes into the next transaction, a turn later. */
  flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    if (this.queue.length === 0) return;
    const taken = this.take();
    this.apply(taken);
    if (this.queue.length > 0 && !this.closed) this.scheduled = setImmediate(() => this.flush());
    else if (this.queue.length > 0) this.flush();
  }

  private take(): BatchedWrite[] {
    if (this.queue.length <= this.p.maxWrites) {
      const all = this.queue;
      this.queue = [];
      return all;
    }
    const taken = this.queue.slice(0, this.p.maxWrites);
    this.queue = this.queue.slice(this.p.maxWrites);
    return taken;
  }

  private apply(batch: BatchedWrite[]): void {
    const started = performance.now();
    const applied: Array<{ c: BatchedWrite; open: OpenTransaction }> = [];
    const refused: Array<{ c: BatchedWrite; err: unknown }> = [];
    try {
      const transaction = this.p.db.transaction(() => {
        this.p.hooks.beginBatch();
        for (let i = 0; i < batch.length; i++) {
          const c = batch[i]!;
          if (i > 0 && performance.now() - started > this.p.budgetMs) {
            // Over budget: the rest waits for the next transaction, in order.
            this.queue = batch.slice(i).concat(this.queue);
            batch.length = i;
            break;
          }
          const open = this.p.transaction();
          try {
            c.apply(open);
            applied.push({ c, open });
          } catch (err) {
            open.rolledBack();
            // A failure SQLite answers by rolling back the whole transaction (a full
            // disk can): nothing of this batch stands, so stop here.
            if (!this.p.db.inTransaction) throw err;
            // A full disk is STORE_FULL (held by the sender, not an attempt) and
            // raises the store's alarm, as it would for a transaction of its own.
            refused.push({ c, err: this.p.space.classify(err) });
          }
        }
        this.p.hooks.endBatch();
      });
      const sync = this.p.sync;
      this.p.space.write(() => (sync === undefined ? transaction.immediate() : sync.commit(() => transaction.immediate())));
    } catch (err) {
      this.p.hooks.abortBatch();
      // Nothing of the batch committed (space.write made a full disk STORE_FULL,
      // which the senders hold without counting an attempt).
      for (const { open } of applied) open.rolledBack();
      for (const c of batch) c.fail(err);
      return;
    }
    const st = this.stats;
    st.transactions++;
    st.writes += applied.length;
    st.refused += refused.length;
    st.largest = Math.max(st.largest, batch.length);
    const ms = performance.now() - started;
    st.ms += ms;
    this.p.committed?.(batch.length, ms);
    const settle = (err: Error | undefined): void => {
      for (const { c, open } of applied) {
        // What the writes sent and published goes out either way: it stands.
        open.committed();
        if (err === undefined) c.done();
        else c.fail(notConfirmed(err));
      }
      for (const { c, err: refusal } of refused) c.fail(refusal);
    };
    if (this.p.sync === undefined) settle(undefined);
    else this.p.sync.afterSync(settle);
  }

  /** Applies what is queued while the store is still open; nothing is queued after. */
  close(): void {
    this.closed = true;
    this.flush();
  }
}
