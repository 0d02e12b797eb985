/**
 * The publisher side of reliable events: an on-disk log numbered by `seq` (per
 * publisher store, never reused), group commit (store/group-commit.ts) for
 * publishReliable(), replay for
 * subscribers that missed events, and pruning.
 *
 * Pruning keeps an event while it is both unacknowledged by some known durable
 * subscriber and within the retention (age and count). With no durable subscriber
 * known, events live for the retention, so late joiners still get history.
 */
import { GroupCommit } from '../store/group-commit.js';
import type { Db } from '../store/open.js';
import type { StoreSpace } from '../store/space.js';

export interface LoggedEvent {
  seq: number;
  id: Buffer;
  topic: string;
  headers: Record<string, string> | undefined;
  payload: Buffer;
  createdMs: number;
}

export interface Retention {
  maxAgeMs: number;
  maxEvents: number;
}

export const EVENT_RETENTION: Retention = { maxAgeMs: 3_600_000, maxEvents: 1_000_000 };

export class EventLog {
  private readonly stmts;
  private readonly group: GroupCommit<{ topic: string; id: Buffer; payload: Uint8Array; headers: Record<string, string> | undefined }, LoggedEvent>;

  constructor(
    private readonly db: Db,
    private readonly space: Pick<StoreSpace, 'write'>,
    private readonly retention: Retention,
    /** Called after commit with the new events, in seq order, to publish them live. */
    onCommitted: (events: LoggedEvent[]) => void,
  ) {
    this.stmts = {
      insert: db.prepare('INSERT INTO zmesh_events (id, topic, headers, payload, created_ms) VALUES (?, ?, ?, ?, ?)'),
      range: db.prepare('SELECT * FROM zmesh_events WHERE seq >= ? AND substr(topic, 1, ?) = ? ORDER BY seq LIMIT ?'),
      head: db.prepare('SELECT coalesce(max(seq), 0) FROM zmesh_events').pluck(),
      ack: db.prepare('INSERT INTO zmesh_event_acks (subscriber, seq, updated_ms) VALUES (?, ?, ?) ON CONFLICT (subscriber) DO UPDATE SET seq = max(seq, excluded.seq), updated_ms = excluded.updated_ms'),
      minAck: db.prepare('SELECT min(seq) FROM zmesh_event_acks').pluck(),
      pruneAcked: db.prepare('DELETE FROM zmesh_events WHERE seq <= ?'),
      pruneOld: db.prepare('DELETE FROM zmesh_events WHERE created_ms < ?'),
      pruneCount: db.prepare('DELETE FROM zmesh_events WHERE seq <= (SELECT max(seq) FROM zmesh_events) - ?'),
    };
    this.group = new GroupCommit(db, space, (e) => this.insert(e.topic, e.id, e.payload, e.headers), onCommitted);
  }

  /** Group-commit transactions so far. */
  get commits(): number {
    return this.group.commits;
  }

  /** Stores an event; resolves once on disk, after which it is published live. */
  publish(topic: string, id: Buffer, payload: Uint8Array, headers: Record<string, string> | undefined): Promise<void> {
    return this.group.add({ topic, id, payload, headers });
  }

  /** Writes an event inside the caller's transaction; returns it for live publishing
   *  once that transaction commits. */
  insert(topic: string, id: Buffer, payload: Uint8Array, headers: Record<string, string> | undefined): LoggedEvent {
    const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const createdMs = Date.now();
    // run() and lastInsertRowid (seq is the rowid) cost less than RETURNING.
    const seq = Number(this.stmts.insert.run(id, topic, headers === undefined ? null : JSON.stringify(headers), buf, createdMs).lastInsertRowid);
    return { seq, id, topic, headers, payload: buf, createdMs };
  }

  /** Events from `from` on whose topic starts with `prefix`, in order. */
  range(from: number, prefix: string, max: number): LoggedEvent[] {
    return (this.stmts.range.all(from, prefix.length, prefix, max) as Array<{ seq: number; id: Buffer; topic: string; headers: string | null; payload: Buffer; created_ms: number }>)
      .map((r) => ({ seq: r.seq, id: r.id, topic: r.topic, headers: r.headers === null ? undefined : JSON.parse(r.headers) as Record<string, string>, payload: r.payload, createdMs: r.created_ms }));
  }

  head(): number {
    return this.stmts.head.get() as number;
  }

  /** A durable subscriber processed everything up to `seq`. */
  acknowledge(subscriber: string, seq: number): void {
    this.space.write(() => this.stmts.ack.run(subscriber, seq, Date.now()));
  }

  /** Drops what every known durable subscriber acknowledged, and what retention allows. */
  prune(): number {
    return this.space.write(() => this.db.transaction(() => {
      let n = 0;
      const acked = this.stmts.minAck.get() as number | null;
      if (acked !== null) n += this.stmts.pruneAcked.run(acked).changes;
      n += this.stmts.pruneOld.run(Date.now() - this.retention.maxAgeMs).changes;
      n += this.stmts.pruneCount.run(this.retention.maxEvents).changes;
      return n;
    })());
  }
}
