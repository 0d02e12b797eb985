/**
 * The receiver side of reliable commands: exactly-once effect, in order, per sender.
 *
 * Each sender's store numbers its commands to this service (stream_seq) and says which
 * number each one follows (prev: the previous one still alive; dead letters are
 * skipped). In ONE transaction with the handler's own writes, the inbox keeps the last
 * sequence applied per sender:
 *   seq <= last          duplicate (a redelivery): acknowledge, no effect
 *   last < prev          a predecessor is missing: OUT_OF_ORDER, the sender goes back
 *   otherwise            run the handler, record seq; commit together
 * A sender never seen before starts at whatever arrives first (its lowest unacked).
 * A transaction that fails for want of disk space throws StoreFullError: the answer
 * that holds the command at its sender without counting an attempt.
 *
 * In a batch (command-batch.ts) the decisions are made against the watermarks as the
 * batch has moved them so far, kept in memory, and each stream's watermark row is
 * written once, at the end of the batch, inside its transaction: the same rows, one
 * write per stream instead of one per command. Each handler still runs in a SAVEPOINT
 * of its own, so one that throws leaves its stream's watermark where it was.
 */
import { OutOfOrderError } from '../errors.js';
import type { Db } from '../store/open.js';
import type { StoreSpace } from '../store/space.js';

export type InboxVerdict = 'applied' | 'duplicate';

export class Inbox {
  private readonly get;
  private readonly put;
  /** A handler as a transaction function: nested in an open transaction, a SAVEPOINT. */
  private readonly savepoint;
  /** Watermarks the open batch has moved, by stream; written by endBatch(). */
  private moved: Map<string, number> | undefined;

  constructor(private readonly db: Db, private readonly space: Pick<StoreSpace, 'write'>) {
    this.get = db.prepare('SELECT last_seq FROM zmesh_inbox WHERE sender = ?').pluck();
    this.savepoint = db.transaction((effect: () => void) => effect());
    this.put = db.prepare('INSERT INTO zmesh_inbox (sender, last_seq, updated_ms) VALUES (?, ?, ?) ON CONFLICT (sender) DO UPDATE SET last_seq = excluded.last_seq, updated_ms = excluded.updated_ms');
  }

  /** Runs `effect` at most once for (sender, seq), atomically with the watermark, in a
   *  transaction of its own. Throws OUT_OF_ORDER for a gap, STORE_FULL for a full
   *  disk, or whatever the effect throws (rolled back). */
  apply(sender: string, seq: number, prev: number, effect: () => void): InboxVerdict {
    return this.space.write(() => this.db.transaction((): InboxVerdict => {
      const verdict = this.decide(sender, seq, prev);
      if (verdict === 'applied') {
        effect();
        this.put.run(sender, seq, Date.now());
      }
      return verdict;
    }).immediate());
  }

  /** Starts a batch inside the caller's open transaction. */
  beginBatch(): void {
    this.moved = new Map();
  }

  /** One command of the open batch: its effect in a SAVEPOINT of its own (a throw
   *  rolls back this command's writes only, and moves no watermark). */
  applyInBatch(sender: string, seq: number, prev: number, effect: () => void): InboxVerdict {
    const moved = this.moved!;
    const verdict = this.decide(sender, seq, prev, moved.get(sender));
    if (verdict === 'applied') {
      this.savepoint(effect);
      moved.set(sender, seq);
    }
    return verdict;
  }

  /** Writes the watermarks the batch moved, still inside its transaction. */
  endBatch(): void {
    const now = Date.now();
    for (const [sender, seq] of this.moved!) this.put.run(sender, seq, now);
    this.moved = undefined;
  }

  /** The batch's transaction is gone: nothing it moved stands. */
  abortBatch(): void {
    this.moved = undefined;
  }

  private decide(sender: string, seq: number, prev: number, moved?: number): InboxVerdict {
    const last = moved ?? (this.get.get(sender) as number | undefined);
    if (last !== undefined && seq <= last) return 'duplicate';
    if (last !== undefined && last < prev) throw new OutOfOrderError(`expected the command after ${last} first, got ${seq} (after ${prev})`);
    return 'applied';
  }
}
