/**
 * Reliable commands applied in batches: the receiver's side of "no broker, and still
 * at broker speed".
 *
 * A commit with synchronous=FULL costs an fsync, whatever it holds: one command per
 * transaction caps a receiver at the disk's fsync rate (hundreds a second; tens on an
 * SD card). So commands that arrive together (one read of the ROUTER, or whatever
 * queued while the previous commit ran) are applied in ONE transaction:
 *
 *   BEGIN IMMEDIATE
 *     SAVEPOINT; inbox decision + handler; RELEASE     (command 1)
 *     SAVEPOINT; ... handler throws ...; ROLLBACK TO    (command 2: its own ERROR)
 *     ...
 *   COMMIT                                             then every ACK, then ERRORs
 *
 * Each command keeps the exactly-once rules of inbox.ts: its SAVEPOINT holds its
 * handler's writes and its watermark together, so a throwing handler undoes only its
 * own command, and a later command of the same stream then finds its predecessor
 * missing (OUT_OF_ORDER), as it would have in a transaction of its own. ACKs go out
 * only after COMMIT returned, so an ACK still means "on disk". Should the COMMIT itself
 * fail (a full disk, say), nothing of the batch happened and every command is answered
 * with that error.
 *
 * A batch is flushed on the next setImmediate (everything the read loop handed over
 * meanwhile joins it). One transaction takes at most `maxCommands`, and starts no
 * command after `budgetMs` of work, so that no batch blocks the event loop for long;
 * the rest follows in the next transaction, in order.
 */
import type { Logger } from 'pino';
import { ClosedError } from '../errors.js';
import type { Db } from '../store/open.js';
import type { InboxStats } from '../stats-types.js';
import type { StoreSpace } from '../store/space.js';
import type { Inbox } from './inbox.js';
import type { OpenTransaction } from './transaction.js';

/** One reliable command, checked and ready to apply. */
export interface QueuedCommand {
  /** The inbox stream (the sender's proven identity and its stream id). */
  stream: string;
  seq: number;
  prev: number;
  /** Runs the handler in the transaction `open` gives it. */
  run(open: OpenTransaction): void;
  ack(): void;
  fail(err: unknown): void;
}

export interface CommandBatchParts {
  db: Db;
  space: Pick<StoreSpace, 'write' | 'classify'>;
  inbox: Pick<Inbox, 'beginBatch' | 'applyInBatch' | 'endBatch' | 'abortBatch'>;
  /** A transaction object for one command's handler. */
  transaction(): OpenTransaction;
  /** Most commands in one transaction. */
  maxCommands: number;
  /** No command starts in a transaction that has run this long already. */
  budgetMs: number;
  log: Logger;
}

export class CommandBatch {
  private queue: QueuedCommand[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;
  readonly stats: InboxStats = { batches: 0, committed: 0, refused: 0, largestBatch: 0, commitMs: 0 };

  constructor(private readonly p: CommandBatchParts) {}

  /** Commands waiting for the next transaction. */
  get size(): number {
    return this.queue.length;
  }

  add(c: QueuedCommand): void {
    if (this.closed) return c.fail(new ClosedError('the reliable class is closed', { retryable: true }));
    this.queue.push(c);
    // Far behind (more than the read loop should ever hand over in one turn): apply
    // now, so that what waits stays bounded.
    if (this.queue.length >= 4 * this.p.maxCommands) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Applies what is queued in one transaction: at most maxCommands, and no more
   *  commands once budgetMs of work went into it (a slow handler must not hold the
   *  event loop). What is left goes into the next transaction, a turn later. */
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

  private take(): QueuedCommand[] {
    if (this.queue.length <= this.p.maxCommands) {
      const all = this.queue;
      this.queue = [];
      return all;
    }
    const taken = this.queue.slice(0, this.p.maxCommands);
    this.queue = this.queue.slice(this.p.maxCommands);
    return taken;
  }

  private apply(batch: QueuedCommand[]): void {
    const started = performance.now();
    const applied: Array<{ c: QueuedCommand; open: OpenTransaction }> = [];
    const refused: Array<{ c: QueuedCommand; err: unknown }> = [];
    try {
      this.p.space.write(() => this.p.db.transaction(() => {
        this.p.inbox.beginBatch();
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
            this.p.inbox.applyInBatch(c.stream, c.seq, c.prev, () => c.run(open));
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
        this.p.inbox.endBatch();
      }).immediate());
    } catch (err) {
      this.p.inbox.abortBatch();
      // Nothing of the batch committed (space.write made a full disk STORE_FULL,
      // which the senders hold without counting an attempt).
      for (const { open } of applied) open.rolledBack();
      for (const c of batch) c.fail(err);
      return;
    }
    const st = this.stats;
    st.batches++;
    st.committed += applied.length;
    st.refused += refused.length;
    st.largestBatch = Math.max(st.largestBatch, batch.length);
    st.commitMs += performance.now() - started;
    for (const { c, open } of applied) {
      open.committed();
      c.ack();
    }
    for (const { c, err } of refused) c.fail(err);
  }

  /** Applies what is queued while the store is still open; nothing is queued after. */
  close(): void {
    this.closed = true;
    this.flush();
  }
}
