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
 */
import { OutOfOrderError } from '../errors.js';
import type { Db } from '../store/open.js';
import type { StoreSpace } from '../store/space.js';

export type InboxVerdict = 'applied' | 'duplicate';

export class Inbox {
  private readonly get;
  private readonly put;
  /** decide() as a transaction function: nested in an open transaction, a SAVEPOINT. */
  private readonly savepoint;

  constructor(private readonly db: Db, private readonly space: Pick<StoreSpace, 'write'>) {
    this.get = db.prepare('SELECT last_seq FROM zmesh_inbox WHERE sender = ?').pluck();
    this.savepoint = db.transaction((sender: string, seq: number, prev: number, effect: () => void) => this.decide(sender, seq, prev, effect));
    this.put = db.prepare('INSERT INTO zmesh_inbox (sender, last_seq, updated_ms) VALUES (?, ?, ?) ON CONFLICT (sender) DO UPDATE SET last_seq = excluded.last_seq, updated_ms = excluded.updated_ms');
  }

  /** Runs `effect` at most once for (sender, seq), atomically with the watermark. Throws
   *  OUT_OF_ORDER for a gap, STORE_FULL for a full disk, or whatever the effect
   *  throws (rolled back). */
  apply(sender: string, seq: number, prev: number, effect: () => void): InboxVerdict {
    return this.space.write(() => this.db.transaction(() => this.decide(sender, seq, prev, effect)).immediate());
  }

  /** The same inside the caller's open transaction, as a SAVEPOINT of its own: a throw
   *  rolls back this command's effect and watermark only (command-batch.ts). */
  applyHere(sender: string, seq: number, prev: number, effect: () => void): InboxVerdict {
    return this.savepoint(sender, seq, prev, effect);
  }

  private decide(sender: string, seq: number, prev: number, effect: () => void): InboxVerdict {
    const last = this.get.get(sender) as number | undefined;
    if (last !== undefined && seq <= last) return 'duplicate';
    if (last !== undefined && last < prev) throw new OutOfOrderError(`expected the command after ${last} first, got ${seq} (after ${prev})`);
    effect();
    this.put.run(sender, seq, Date.now());
    return 'applied';
  }
}
