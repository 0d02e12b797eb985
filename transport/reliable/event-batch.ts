/**
 * Applies a durable subscription's events in batches: ONE SQLite transaction (one
 * fsync) for every event of a batch, each event in its own savepoint, and the
 * subscription's progress written once per stream. Batches come from two sources:
 *   - live bursts: add() queues an event; the queue is applied on the next
 *     setImmediate (the SUB read loop hands over a whole packed frame at once), or at
 *     once when it reaches MAX_BATCH_EVENTS or MAX_BATCH_BYTES, so that no transaction,
 *     and no turn of the event loop, grows with a backlog;
 *   - replay pages and drained buffers: apply() runs their transaction now.
 *
 * Each item, in order (`prev` is the seq the item follows where it came from: seq - 1
 * live, the page's previous event in a replay page):
 *
 *   its stream stopped earlier in this batch   skipped: order per stream holds
 *   seq <= last                                a duplicate: skipped
 *   prev > last                                a gap: skipped, and the stream stops
 *   otherwise                                  the handler runs in a savepoint; last = seq
 *     the handler throws                       its savepoint alone rolls back, its
 *                                              rolledBack() runs, and the stream stops:
 *                                              catch-up brings the event again later
 *     SQLite ended the whole transaction       the batch fails as a whole (below)
 *
 * An item without an event moves progress only (a replay page's `scanned`).
 * Then the progress rows, and COMMIT. After it: committed() of every applied event in
 * order, `last` moves, onCommitted(). If the transaction fails as a whole (the commit
 * itself, StoreFullError say): rolledBack() of every event applied in it, nothing
 * moves, and the events are left for catch-up: never lost, never applied twice.
 *
 * Sharp edge: better-sqlite3 runs db.transaction(fn) as a savepoint only while a
 * transaction is open. After SQLite rolled back the whole transaction itself (it may,
 * on SQLITE_FULL or an I/O error), a later "savepoint" would be a transaction of its
 * own and commit alone; so a failing savepoint that finds no transaction open ends
 * the batch there.
 */
import type { Logger } from 'pino';
import { StoreFullError } from '../errors.js';
import { RateLimitedLog } from '../log.js';
import type { Db } from '../store/open.js';
import type { StoreSpace } from '../store/space.js';
import type { DurableEvent, DurableHandler, Transaction } from '../types.js';
import type { WalSync } from '../store/wal-sync.js';
import type { OpenTransaction } from './transaction.js';

/** At most this many events, or this many payload bytes (and always one event), in
 *  one transaction: a batch applies in a few milliseconds, fsync included. */
export const MAX_BATCH_EVENTS = 1_000;
export const MAX_BATCH_BYTES = 1024 * 1024;

/** Where a stream stands: its progress key and the last seq applied (committed). */
export interface StreamProgress {
  readonly key: string;
  last: number;
  /** The last seq applied whose commit is on disk: what may be acknowledged to the
   *  publisher (which prunes on it). Behind `last` while a commit waits for its fsync
   *  (store/wal-sync.ts). */
  durable: number;
}

export interface BatchItem<S extends StreamProgress> {
  stream: S;
  seq: number;
  /** Applied only once the stream is at `prev` or beyond. */
  prev: number;
  /** Absent: the item only moves progress to `seq`. */
  event?: DurableEvent;
}

export interface BatchDeps<S extends StreamProgress> {
  db: Db;
  space: Pick<StoreSpace, 'write' | 'classify'>;
  /** The subscription, as its progress rows name it. */
  name: string;
  handler: DurableHandler;
  tx(): OpenTransaction;
  /** After a commit that moved `stream`, once it is on disk: `applied` of its events
   *  took effect, and `stream.durable` has moved. */
  onCommitted(stream: S, applied: number): void;
  /** Commits without blocking on the fsync; absent: the fsync is inside COMMIT. */
  sync?: Pick<WalSync, 'commit' | 'afterSync'>;
  log: Logger;
}

interface Run {
  last: number;
  stopped: boolean;
  applied: number;
}

export class EventBatch<S extends StreamProgress> {
  private queue: Array<BatchItem<S>> = [];
  private queuedBytes = 0;
  /** Per stream with live events queued: the highest seq queued, and how many. */
  private readonly queued = new Map<S, { to: number; count: number }>();
  private immediate: NodeJS.Immediate | undefined;
  private readonly save;
  /** The handler in a savepoint (it is only ever called inside the batch's
   *  transaction). Made once: better-sqlite3 builds a wrapper per transaction() call,
   *  which cost more than the savepoint itself (7 of 9 us an event). */
  private readonly inSavepoint;
  private readonly limited: RateLimitedLog;
  /** Transactions committed so far (fsyncs: what batching saves). */
  commits = 0;

  constructor(private readonly d: BatchDeps<S>) {
    this.save = d.db.prepare('INSERT INTO zmesh_durable (name, stream, last_seq) VALUES (?, ?, ?) ON CONFLICT (name, stream) DO UPDATE SET last_seq = excluded.last_seq');
    this.inSavepoint = d.db.transaction((e: DurableEvent, tx: Transaction) => d.handler(e, tx));
    this.limited = new RateLimitedLog(d.log);
  }

  /** The seq a live event of `stream` must have to be queued next. */
  nextLive(stream: S): number {
    return Math.max(stream.last, this.queued.get(stream)?.to ?? 0) + 1;
  }

  /** Queues a live event for the next batch: one that follows `prev` (seq - 1, or the
   *  previous event under the prefix its publisher named), with prev < nextLive(stream). */
  add(stream: S, event: DurableEvent, prev = event.seq - 1): void {
    this.queue.push({ stream, seq: event.seq, prev, event });
    this.queuedBytes += event.payload.byteLength;
    const q = this.queued.get(stream);
    this.queued.set(stream, { to: event.seq, count: (q?.count ?? 0) + 1 });
    if (this.queue.length >= MAX_BATCH_EVENTS || this.queuedBytes >= MAX_BATCH_BYTES) this.flush();
    else this.immediate ??= setImmediate(() => this.flush());
  }

  /** Drops what is queued, unapplied (catch-up brings it after a restart). */
  close(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    this.queued.clear();
  }

  /** Applies `items` in one transaction now. Returns the streams that stopped (a
   *  handler threw, or a gap). Throws what made the transaction fail as a whole
   *  (StoreFullError for want of space); then nothing of it took effect. */
  apply(items: ReadonlyArray<BatchItem<S>>): Set<S> {
    const runs = new Map<S, Run>();
    const applied: OpenTransaction[] = [];
    if (!items.some((i) => i.seq > i.stream.last)) return new Set();
    const transaction = this.d.db.transaction(() => {
      for (const item of items) this.one(item, runs, applied);
      for (const [s, r] of runs) if (r.last > s.last) this.save.run(this.d.name, s.key, r.last);
    });
    const sync = this.d.sync;
    try {
      this.d.space.write(() => (sync === undefined ? transaction.immediate() : sync.commit(() => transaction.immediate())));
    } catch (err) {
      for (const open of applied) open.rolledBack();
      throw err;
    }
    this.commits++;
    // In memory at once: the next batch decides against this one's progress.
    const stopped = new Set<S>();
    const moved: Array<{ s: S; r: Run }> = [];
    for (const [s, r] of runs) {
      if (r.stopped) stopped.add(s);
      if (r.last <= s.last) continue;
      s.last = r.last;
      moved.push({ s, r });
    }
    // What leaves the process (the handlers' sends and publishes, acknowledgements)
    // waits until the commit is on disk. A failed fsync cannot take the commit back:
    // it stands, and what it sent goes out, but no acknowledgement claims it.
    const settle = (err: Error | undefined): void => {
      for (const open of applied) open.committed();
      if (err !== undefined) {
        this.limited.warn('fsync', { err }, 'the WAL fsync after a durable batch failed; its progress is not acknowledged');
        return;
      }
      for (const { s, r } of moved) {
        if (r.last > s.durable) s.durable = r.last;
        this.d.onCommitted(s, r.applied);
      }
    };
    if (sync === undefined) settle(undefined);
    else sync.afterSync(settle);
    return stopped;
  }

  private one(item: BatchItem<S>, runs: Map<S, Run>, applied: OpenTransaction[]): void {
    const s = item.stream;
    let r = runs.get(s);
    if (r === undefined) runs.set(s, r = { last: s.last, stopped: false, applied: 0 });
    if (r.stopped || item.seq <= r.last) return;
    if (item.prev > r.last) {
      r.stopped = true;
      return;
    }
    const e = item.event;
    if (e !== undefined) {
      const open = this.d.tx();
      try {
        this.inSavepoint(e, open.tx);
      } catch (err) {
        open.rolledBack();
        if (!this.d.db.inTransaction) throw err;
        r.stopped = true;
        const why = this.d.space.classify(err);
        // Disk full is the store's alarm to raise (it did); anything else is the
        // handler's, and it runs again at every catch-up until it succeeds.
        if (!(why instanceof StoreFullError)) {
          this.limited.warn(`handler:${s.key}`, { err, topic: e.topic, seq: e.seq, stream: e.stream }, 'durable handler threw: the event is retried by catch-up');
        }
        return;
      }
      applied.push(open);
      r.applied++;
    }
    r.last = item.seq;
  }

  /** The queued live events, a bounded batch at a time, each in one transaction. */
  private flush(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && n < MAX_BATCH_EVENTS && (n === 0 || bytes + this.queue[n]!.event!.payload.byteLength <= MAX_BATCH_BYTES)) {
      bytes += this.queue[n]!.event!.payload.byteLength;
      n++;
    }
    const batch = this.queue.slice(0, n);
    this.queue = this.queue.slice(n);
    this.queuedBytes -= bytes;
    for (const item of batch) {
      const q = this.queued.get(item.stream)!;
      if (--q.count === 0) this.queued.delete(item.stream);
    }
    if (this.queue.length > 0) this.immediate = setImmediate(() => this.flush());
    try {
      this.apply(batch);
    } catch (err) {
      // Nothing of it took effect: the next live event shows the gap, or the
      // subscription's poll finds it. A full disk is the store's alarm (raised).
      if (!(err instanceof StoreFullError)) this.limited.warn('batch', { err, events: batch.length }, 'durable batch failed; its events are left for catch-up');
    }
  }
}
