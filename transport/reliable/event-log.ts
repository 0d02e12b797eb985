/**
 * The publisher side of reliable events: an on-disk log numbered by `seq` (per
 * publisher store, never reused), group commit (store/group-commit.ts) for
 * publishReliable(), replay for
 * subscribers that missed events, and pruning.
 *
 * Pruning keeps an event while it is both unacknowledged by some known durable
 * subscriber and within the retention (age and count). With no durable subscriber
 * known, events live for the retention, so late joiners still get history.
 *
 * No poll and no prune reads the whole log: seq is the rowid, so a replay page reads a
 * rowid range (page() bounds it in rows for askers that continue from `scanned`), and
 * pruning deletes rowid ranges. Age is found from the low end of the rowid: rows are
 * appended as the wall clock goes, so the oldest rows come first and the scan stops at
 * the first row young enough, having read only rows it then deletes. An index on
 * created_ms would cost every publish a second b-tree insert for a lookup that is
 * already this cheap. If the clock stepped back, rows after a "future" one wait for
 * it (count and acknowledgements still prune them): kept longer, never dropped early.
 *
 * Durable-subscriber names come from peers, so they are bounded (bounds.ts): at most
 * MAX_DURABLE_NAMES_PER_ASKER per asker scope (a key fingerprint; the insecure scope
 * "" has only the total bound) and MAX_DURABLE_NAMES in all. An acknowledgement for a
 * new name past either is ignored and counted, and for the retention age after that
 * acknowledgements prune nothing (the refused subscriber may still be reading; age and
 * count still prune). A name not heard from for longer than
 * the retention age is forgotten at the next prune: it no longer holds pruning back,
 * and the events it would have wanted are gone by age anyway.
 */
import { MAX_DURABLE_NAMES, MAX_DURABLE_NAMES_PER_ASKER } from '../bounds.js';
import { StoreError } from '../errors.js';
import { GroupCommit } from '../store/group-commit.js';
import type { Db } from '../store/open.js';
import { oldestSpillSegment } from '../store/spill-refs.js';
import { SPILL_MIN_BYTES, type Spill } from '../store/spill.js';
import type { WalSync } from '../store/wal-sync.js';
import type { StoreSpace } from '../store/space.js';
import type { BoundsStats } from '../types.js';

const EMPTY = Buffer.alloc(0);

export interface LoggedEvent {
  seq: number;
  id: Buffer;
  topic: string;
  headers: Record<string, string> | undefined;
  payload: Buffer;
  createdMs: number;
  /** Set by page() when the row is there but its spilled payload cannot be read (cut
   *  short, or failing its CRC): why. `payload` is then empty. The row is left as it
   *  is; nothing is ever deleted to recover. */
  damaged?: string;
}

export interface PageQuery {
  after: number;
  upTo: number;
  prefix: string;
  maxEvents: number;
  maxRows: number;
  fits(e: LoggedEvent): boolean;
}

export interface Page {
  events: LoggedEvent[];
  more: boolean;
  scanned: number;
}

interface EventRow {
  seq: number; id: Buffer; topic: string; headers: string | null; payload: Buffer; created_ms: number;
  spill_segment: number | null; spill_offset: number; spill_length: number; spill_crc: number | null;
}

export interface Retention {
  maxAgeMs: number;
  maxEvents: number;
}

export const EVENT_RETENTION: Retention = { maxAgeMs: 3_600_000, maxEvents: 1_000_000 };

/** The scope a stored name was acknowledged under ("<16 hex>/" secure, "" insecure). */
function scopeOf(name: string): string {
  return /^[0-9a-f]{16}\//.test(name) ? name.slice(0, 17) : '';
}

export class EventLog {
  private readonly stmts;
  /** Every durable-subscriber name with an acknowledgement row, and names per scope. */
  private readonly names = new Set<string>();
  private readonly perScope = new Map<string, number>();
  /** When a name was last refused: while a refused subscriber may still be reading,
   *  acknowledgements alone do not prune (only retention does). */
  private lastRefusalMs = -Infinity;
  private confirmedHead: number;
  private readonly spill: Pick<Spill, 'append' | 'read' | 'collect'>;
  private readonly group: GroupCommit<{ topic: string; id: Buffer; payload: Uint8Array; headers: Record<string, string> | undefined }, LoggedEvent>;

  constructor(
    private readonly db: Db,
    private readonly space: Pick<StoreSpace, 'write'>,
    /** Where payloads of SPILL_MIN_BYTES or more go (the store syncs it before
     *  commit), and how publishReliable()'s group commit waits for its fsync. */
    files: { spill: Pick<Spill, 'append' | 'read' | 'collect'>; walSync?: Pick<WalSync, 'commit' | 'afterSync'> },
    private readonly retention: Retention,
    /** Called after commit with the new events, in seq order, to publish them live. */
    onCommitted: (events: LoggedEvent[]) => void,
    private readonly bounds: Pick<BoundsStats, 'durableNamesRefused' | 'durableNamesExpired'> = { durableNamesRefused: 0, durableNamesExpired: 0 },
  ) {
    this.stmts = {
      insert: db.prepare('INSERT INTO zmesh_events (id, topic, headers, payload, created_ms) VALUES (?, ?, ?, ?, ?)'),
      insertSpilled: db.prepare("INSERT INTO zmesh_events (id, topic, headers, payload, created_ms, spill_segment, spill_offset, spill_length, spill_crc) VALUES (?, ?, ?, X'', ?, ?, ?, ?, ?)"),
      first: db.prepare('SELECT seq FROM zmesh_events WHERE seq > ? ORDER BY seq LIMIT 1').pluck(),
      // seq is the rowid: a range search, never a scan of the table. substr() counts
      // characters (code points) in TEXT, so the prefix length is given in those too.
      range: db.prepare('SELECT * FROM zmesh_events WHERE seq >= ? AND seq <= ? AND substr(topic, 1, ?) = ? ORDER BY seq LIMIT ?'),
      head: db.prepare('SELECT coalesce(max(seq), 0) FROM zmesh_events').pluck(),
      ack: db.prepare('INSERT INTO zmesh_event_acks (subscriber, seq, updated_ms) VALUES (?, ?, ?) ON CONFLICT (subscriber) DO UPDATE SET seq = max(seq, excluded.seq), updated_ms = excluded.updated_ms'),
      minAck: db.prepare('SELECT min(seq) FROM zmesh_event_acks').pluck(),
      pruneAcked: db.prepare('DELETE FROM zmesh_events WHERE seq <= ?'),
      // Everything below the first row young enough (all of it when none is).
      pruneOld: db.prepare(`DELETE FROM zmesh_events WHERE seq < coalesce(
        (SELECT seq FROM zmesh_events WHERE created_ms >= ? ORDER BY seq LIMIT 1),
        (SELECT max(seq) + 1 FROM zmesh_events))`),
      pruneCount: db.prepare('DELETE FROM zmesh_events WHERE seq <= (SELECT max(seq) FROM zmesh_events) - ?'),
      names: db.prepare('SELECT subscriber FROM zmesh_event_acks').pluck(),
      expire: db.prepare('DELETE FROM zmesh_event_acks WHERE updated_ms < ? RETURNING subscriber').pluck(),
    };
    for (const name of this.stmts.names.all() as string[]) this.remember(name);
    // What an earlier run left is what there is (a power cut took what it took).
    this.confirmedHead = this.stmts.head.get() as number;
    this.spill = files.spill;
    this.group = new GroupCommit(db, space, (e) => this.insert(e.topic, e.id, e.payload, e.headers), (events) => {
      if (events.length > 0) this.confirm(events.at(-1)!.seq);
      onCommitted(events);
    }, undefined, undefined, files.walSync);
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
    const h = headers === undefined ? null : JSON.stringify(headers);
    // run() and lastInsertRowid (seq is the rowid) cost less than RETURNING.
    let run;
    if (buf.byteLength < SPILL_MIN_BYTES) {
      run = this.stmts.insert.run(id, topic, h, buf, createdMs);
    } else {
      const ref = this.spill.append(buf);
      run = this.stmts.insertSpilled.run(id, topic, h, createdMs, ref.segment, ref.offset, ref.length, ref.crc);
    }
    return { seq: Number(run.lastInsertRowid), id, topic, headers, payload: buf, createdMs };
  }

  /** One `$replay` page: the events of seq in (after, upTo] whose topic starts with
   *  `prefix`, in order, at most `maxEvents`, reading the rows of at most `maxRows`
   *  seqs (Infinity: up to `upTo`). Rows are read one at a time and reading stops at
   *  the first event `fits` refuses (it is given each event in turn): a page cut by
   *  size never loads the rows it leaves out; `more` says one was left out.
   *  `scanned`: every matching event of seq in (after, scanned] is in `events`. */
  page(q: PageQuery): Page {
    if (q.after >= q.upTo) return { events: [], more: false, scanned: q.upTo };
    // Start at the oldest row left: retention may have pruned far past `after`, and a
    // range of seqs that no longer exist would use up the bound for nothing.
    const first = this.stmts.first.get(q.after) as number | undefined;
    if (first === undefined || first > q.upTo) return { events: [], more: false, scanned: q.upTo };
    const end = Math.min(q.upTo, first + q.maxRows - 1);
    const events: LoggedEvent[] = [];
    const rows = this.stmts.range.iterate(first, end, [...q.prefix].length, q.prefix, q.maxEvents) as IterableIterator<EventRow>;
    for (const r of rows) {
      const e: LoggedEvent = { seq: r.seq, id: r.id, topic: r.topic, headers: r.headers === null ? undefined : JSON.parse(r.headers) as Record<string, string>, payload: r.payload, createdMs: r.created_ms };
      if (r.spill_segment !== null) {
        try {
          e.payload = this.spill.read({ segment: r.spill_segment, offset: r.spill_offset, length: r.spill_length, crc: r.spill_crc ?? undefined });
        } catch (err) {
          // Damage stays damage: reading again cannot mend it, so the caller is told
          // which event it is (and may skip it) rather than refused for good. Any
          // other failure (EIO) may pass, and fails the page.
          if (!(err instanceof StoreError) || err.problem !== 'corrupt') throw err;
          e.payload = EMPTY;
          e.damaged = err.message;
        }
      }
      if (!q.fits(e)) return { events, more: true, scanned: events.at(-1)?.seq ?? q.after }; // leaving the loop resets the statement
      events.push(e);
    }
    // Cut by count: rows after the last event were not looked at.
    return { events, more: false, scanned: events.length >= q.maxEvents ? events.at(-1)!.seq : end };
  }

  /** The last seq known to be on disk: what `$replay` serves up to. A commit that
   *  waits for its fsync off the event loop (store/wal-sync.ts) is readable before
   *  then; were it served and the power then cut, its seq would be given again to
   *  another event, which the subscriber would skip as already applied. */
  head(): number {
    return this.confirmedHead;
  }

  /** Events up to `seq` are on disk (they go live now). */
  confirm(seq: number): void {
    if (seq > this.confirmedHead) this.confirmedHead = seq;
  }

  /** Durable subscriber `name`, of asker `scope`, processed everything up to `seq`.
   *  False when the name is new and the bounds leave no room for it. */
  acknowledge(scope: string, name: string, seq: number): boolean {
    const key = scope + name;
    if (!this.names.has(key)) {
      if (this.names.size >= MAX_DURABLE_NAMES || (scope !== '' && (this.perScope.get(scope) ?? 0) >= MAX_DURABLE_NAMES_PER_ASKER)) {
        this.bounds.durableNamesRefused++;
        this.lastRefusalMs = Date.now();
        return false;
      }
      this.remember(key);
    }
    this.space.write(() => this.stmts.ack.run(key, seq, Date.now()));
    return true;
  }

  /** Durable-subscriber names known (for tests and stats). */
  get durableNames(): number {
    return this.names.size;
  }

  private remember(key: string): void {
    this.names.add(key);
    const scope = scopeOf(key);
    this.perScope.set(scope, (this.perScope.get(scope) ?? 0) + 1);
  }

  private forget(key: string): void {
    if (!this.names.delete(key)) return;
    const scope = scopeOf(key);
    const left = (this.perScope.get(scope) ?? 1) - 1;
    if (left === 0) this.perScope.delete(scope);
    else this.perScope.set(scope, left);
  }

  /** Drops what every known durable subscriber acknowledged, and what retention allows;
   *  then the spill segments no row points into any more. */
  prune(): number {
    const n = this.pruneRows();
    // Always: acknowledged commands free segments too.
    this.collectSpill();
    return n;
  }

  /** Unlinks spill segments below the oldest one a row (event, command or dead
   *  letter) still points at. */
  collectSpill(): void {
    this.spill.collect(oldestSpillSegment(this.db));
  }

  private pruneRows(): number {
    return this.space.write(() => this.db.transaction(() => {
      let n = 0;
      const expired = this.stmts.expire.all(Date.now() - this.retention.maxAgeMs) as string[];
      for (const name of expired) this.forget(name);
      this.bounds.durableNamesExpired += expired.length;
      const acked = this.stmts.minAck.get() as number | null;
      if (acked !== null && Date.now() - this.lastRefusalMs >= this.retention.maxAgeMs) n += this.stmts.pruneAcked.run(acked).changes;
      n += this.stmts.pruneOld.run(Date.now() - this.retention.maxAgeMs).changes;
      n += this.stmts.pruneCount.run(this.retention.maxEvents).changes;
      return n;
    })());
  }
}
