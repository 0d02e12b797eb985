/**
 * The sender side of reliable commands, on disk: rows of zmesh_outbox, one stream per
 * target service numbered by stream_seq, and the dead-letter table.
 *
 * send() goes through group commit (store/group-commit.ts): resolved = on disk.
 * insert() writes inside a caller's transaction instead (the transactional outbox).
 * Every other write goes through the store's space guard, so a full disk throws
 * StoreFullError and rolls the write back whole; the in-memory row count follows
 * only what committed.
 */
import { OutboxFullError, StoreError } from '../errors.js';
import { GroupCommit } from '../store/group-commit.js';
import type { Db } from '../store/open.js';
import type { StoreSpace } from '../store/space.js';
import { SPILL_MIN_BYTES, type Spill } from '../store/spill.js';
import type { WalSync } from '../store/wal-sync.js';

export interface OutboxRow {
  seq: number;
  id: Buffer;
  service: string;
  method: string;
  stream_seq: number;
  headers: string | null;
  payload: Buffer;
  created_ms: number;
  attempts: number;
  last_error: string | null;
  /** Set when its spilled payload could not be read back (StoreError 'corrupt'): the
   *  dispatcher dead-letters it rather than send wrong bytes. */
  damaged?: string;
}

/** A row as SELECT * reads it: a spilled payload (store/spill.ts) is empty and these
 *  say where its bytes are. */
interface StoredRow extends OutboxRow {
  spill_segment: number | null;
  spill_offset: number | null;
  spill_length: number | null;
  spill_crc: number | null;
}

/** Columns that move a row between the outbox and the dead letters as they are. */
const MOVED = 'id, service, method, stream_seq, headers, payload, created_ms, attempts, last_error, spill_segment, spill_offset, spill_length, spill_crc';

export interface NewMessage {
  id: Buffer;
  service: string;
  method: string;
  payload: Uint8Array;
  headers?: Record<string, string> | undefined;
}

/** The newest committed rows kept in memory per service (see Tail), at most: a
 *  count, and bytes (payloads, plus ROW_OVERHEAD_BYTES each for the row object). */
export const TAIL_MAX_ROWS = 65_536;
export const TAIL_MAX_BYTES = 16 << 20;
const ROW_OVERHEAD_BYTES = 256;

/**
 * The newest rows of one service's stream that this process committed, in memory: a
 * run of consecutive stream numbers ending at the newest row the process knows of.
 * The dispatcher reads new commands from here instead of SELECTing rows it has just
 * written (a read per command was a fifth of a sender's work). Any doubt sends it
 * back to SQL: a gap when a row is added resets the run, a stream number below the
 * run is read from the table, and rows another process added (`zmesh outbox retry`)
 * are noticed by `verify()`, which the dispatcher's poll runs.
 */
class Tail {
  private rows: OutboxRow[] = [];
  private head = 0;
  private bytes = 0;
  /** Rows of the run that are no longer in the table (acknowledged, dead-lettered). */
  private readonly gone = new Set<number>();

  get first(): number | undefined {
    return this.rows[this.head]?.stream_seq;
  }

  get last(): number | undefined {
    return this.rows[this.rows.length - 1]?.stream_seq;
  }

  add(row: OutboxRow): void {
    if (this.last !== undefined && row.stream_seq !== this.last + 1) this.clear();
    this.rows.push(row);
    this.bytes += row.payload.byteLength + ROW_OVERHEAD_BYTES;
    while (this.rows.length - this.head > TAIL_MAX_ROWS || this.bytes > TAIL_MAX_BYTES) this.shift();
  }

  /** Rows from stream number `from` on, or undefined when the run does not hold them. */
  from(from: number, limit: number): OutboxRow[] | undefined {
    const first = this.first;
    if (first === undefined || from < first) return undefined;
    const out: OutboxRow[] = [];
    for (let i = this.head + (from - first); i < this.rows.length && out.length < limit; i++) {
      const row = this.rows[i]!;
      if (!this.gone.has(row.stream_seq)) out.push(row);
    }
    return out;
  }

  remove(streamSeq: number): void {
    const first = this.first;
    if (first === undefined || streamSeq < first || streamSeq > this.last!) return;
    this.gone.add(streamSeq);
    while (this.first !== undefined && this.gone.has(this.first)) this.shift();
  }

  clear(): void {
    this.rows = [];
    this.head = 0;
    this.bytes = 0;
    this.gone.clear();
  }

  private shift(): void {
    const row = this.rows[this.head++]!;
    this.bytes -= row.payload.byteLength + ROW_OVERHEAD_BYTES;
    this.gone.delete(row.stream_seq);
    if (this.head === this.rows.length) this.clear();
    else if (this.head > 1_024 && this.head * 2 > this.rows.length) {
      this.rows = this.rows.slice(this.head);
      this.head = 0;
    }
  }
}

export class Outbox {
  private readonly stmts;
  private readonly group: GroupCommit<NewMessage, OutboxRow>;
  /** Rows in the outbox, kept in memory to enforce the bound without a COUNT per send. */
  private rows: number;
  /** Transactions that removed acknowledged rows. */
  ackCommits = 0;
  /** Per service: whether it has dead letters (previousLive), as last seen. */
  private readonly deadIn = new Map<string, boolean>();
  private readonly tails = new Map<string, Tail>();
  private readonly spill: Pick<Spill, 'append' | 'read'>;
  /** The highest seq known to be on disk (committed()). */
  private confirmedSeq: number;
  /** zmesh_meta's 'outbox_requeues' as last seen (verify()). */
  private requeues: string | undefined;
  /** Inside a group commit: the next stream number per service, written at its end. */
  private counting: Map<string, number> | undefined;

  constructor(
    private readonly db: Db,
    private readonly space: Pick<StoreSpace, 'write'>,
    /** Where payloads of SPILL_MIN_BYTES or more go (the store syncs it before
     *  commit), and how send()'s group commit waits for its fsync. */
    files: { spill: Pick<Spill, 'append' | 'read'>; walSync?: Pick<WalSync, 'commit' | 'afterSync'> },
    private readonly maxRows: number,
    /** Called after new rows committed, so delivery can start. */
    private readonly onCommitted: () => void,
    /** Stamps created_ms, the age maxAgeMs is judged by (the dispatcher reads the same clock). */
    private readonly now: () => number = Date.now,
  ) {
    this.stmts = {
      setNext: db.prepare('UPDATE zmesh_streams SET next_seq = ? WHERE service = ?'),
      nextSeq: db.prepare('INSERT INTO zmesh_streams (service, next_seq) VALUES (?, 2) ON CONFLICT (service) DO UPDATE SET next_seq = next_seq + 1 RETURNING next_seq - 1 AS seq'),
      insert: db.prepare('INSERT INTO zmesh_outbox (id, service, method, stream_seq, headers, payload, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insertSpilled: db.prepare("INSERT INTO zmesh_outbox (id, service, method, stream_seq, headers, payload, created_ms, spill_segment, spill_offset, spill_length, spill_crc) VALUES (?, ?, ?, ?, ?, X'', ?, ?, ?, ?, ?)"),
      // A requeued dead letter keeps its bytes where they are (only the node appends
      // to the spill, never an operator tool beside it) and starts a new life: a new
      // stream number and created_ms, as a new send would.
      requeue: db.prepare(`INSERT INTO zmesh_outbox (id, service, method, stream_seq, headers, payload, created_ms, spill_segment, spill_offset, spill_length, spill_crc) SELECT id, service, method, ?, headers, payload, ?, spill_segment, spill_offset, spill_length, spill_crc FROM zmesh_dead_letters WHERE seq = ?`),
      // Only rows known to be on disk (confirmedSeq): see committed().
      due: db.prepare('SELECT * FROM zmesh_outbox WHERE service = ? AND stream_seq >= ? AND seq <= ? ORDER BY stream_seq LIMIT ?'),
      maxSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM zmesh_outbox').pluck(),
      first: db.prepare('SELECT * FROM zmesh_outbox WHERE service = ? ORDER BY stream_seq LIMIT 1'),
      // Every service ever sent to (a handful), rather than a scan of the outbox.
      services: db.prepare('SELECT service FROM zmesh_streams'),
      removeRange: db.prepare('DELETE FROM zmesh_outbox WHERE service = ? AND stream_seq BETWEEN ? AND ?'),
      // Rows of ours still waiting for their fsync are not news: only confirmed ones.
      newest: db.prepare('SELECT max(stream_seq) FROM zmesh_outbox WHERE service = ? AND seq <= ?').pluck(),
      anyDead: db.prepare('SELECT EXISTS (SELECT 1 FROM zmesh_dead_letters WHERE service = ?)').pluck(),
      failed: db.prepare('UPDATE zmesh_outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?'),
      note: db.prepare('UPDATE zmesh_outbox SET last_error = ? WHERE seq = ?'),
      toDead: db.prepare(`INSERT INTO zmesh_dead_letters (seq, ${MOVED}, dead_ms) SELECT seq, ${MOVED.replace('last_error', 'coalesce(?, last_error)')}, ? FROM zmesh_outbox WHERE seq = ?`),
      removeSeq: db.prepare('DELETE FROM zmesh_outbox WHERE seq = ?'),
      deadBelow: db.prepare('SELECT stream_seq FROM zmesh_dead_letters WHERE service = ? AND stream_seq < ? ORDER BY stream_seq DESC'),
      count: db.prepare('SELECT count(*) AS n FROM zmesh_outbox'),
      // The first in line by seq (the primary key: no scan), for a scrape's age.
      oldest: db.prepare('SELECT created_ms FROM zmesh_outbox ORDER BY seq LIMIT 1').pluck(),
      pending: db.prepare('SELECT * FROM zmesh_outbox ORDER BY seq LIMIT ?'),
      dead: db.prepare('SELECT * FROM zmesh_dead_letters ORDER BY seq LIMIT ?'),
      deadOne: db.prepare('SELECT * FROM zmesh_dead_letters WHERE seq = ?'),
      deadAll: db.prepare('SELECT * FROM zmesh_dead_letters ORDER BY seq'),
      deleteDead: db.prepare('DELETE FROM zmesh_dead_letters WHERE seq = ?'),
      requeues: db.prepare("SELECT value FROM zmesh_meta WHERE key = 'outbox_requeues'").pluck(),
      requeued: db.prepare("INSERT INTO zmesh_meta (key, value) VALUES ('outbox_requeues', '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"),
      // Prepared: db.pragma() compiles its statement on every call (withoutFsync).
      syncMode: db.prepare('PRAGMA synchronous').pluck(),
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      syncExtra: db.prepare('PRAGMA synchronous = EXTRA'),
    };
    this.spill = files.spill;
    this.rows = (this.stmts.count.get() as { n: number }).n;
    this.requeues = this.stmts.requeues.get() as string | undefined;
    this.confirmedSeq = this.stmts.maxSeq.get() as number;
    this.group = new GroupCommit(db, space, (m: NewMessage) => this.insert(m), (rows) => {
      this.committed(rows);
      onCommitted();
    }, () => {
      this.rows = (this.stmts.count.get() as { n: number }).n;
    }, {
      // A group commit's transaction holds the write lock from its first insert: no
      // other writer (`zmesh outbox retry`) can take a stream number meanwhile, so
      // the numbers are counted here and zmesh_streams is written once per service.
      begin: () => { this.counting = new Map(); },
      end: () => {
        for (const [service, next] of this.counting!) this.stmts.setNext.run(next, service);
        this.counting = undefined;
      },
      abort: () => { this.counting = undefined; },
    }, files.walSync);
  }

  /** Group-commit transactions so far. */
  get commits(): number {
    return this.group.commits;
  }

  get size(): number {
    return this.rows;
  }

  /** Age in ms of the command first in line (0 when empty), by the outbox's clock. */
  oldestAgeMs(): number {
    if (this.rows === 0) return 0;
    const created = this.stmts.oldest.get() as number | undefined;
    return created === undefined ? 0 : Math.max(0, this.now() - created);
  }

  /** Stores a message; resolves once it is on disk. Rejects OUTBOX_FULL when full. */
  send(message: NewMessage): Promise<void> {
    if (this.rows + this.group.pending >= this.maxRows) {
      return Promise.reject(new OutboxFullError(`outbox holds its maximum of ${this.maxRows} messages`));
    }
    return this.group.add(message);
  }

  /** Writes a message inside the caller's open transaction. Should that transaction
   *  roll back, the caller says so with uncount(). */
  insert(m: NewMessage): OutboxRow {
    if (this.rows >= this.maxRows) throw new OutboxFullError(`outbox holds its maximum of ${this.maxRows} messages`);
    const streamSeq = this.nextStreamSeq(m.service);
    const headers = m.headers === undefined ? null : JSON.stringify(m.headers);
    const payload = Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
    const created = this.now();
    let lastInsertRowid;
    if (payload.byteLength < SPILL_MIN_BYTES) {
      ({ lastInsertRowid } = this.stmts.insert.run(m.id, m.service, m.method, streamSeq, headers, payload, created));
    } else {
      const ref = this.spill.append(payload);
      ({ lastInsertRowid } = this.stmts.insertSpilled.run(m.id, m.service, m.method, streamSeq, headers, created, ref.segment, ref.offset, ref.length, ref.crc));
    }
    this.rows++;
    return {
      seq: Number(lastInsertRowid), id: m.id, service: m.service, method: m.method, stream_seq: streamSeq,
      headers, payload, created_ms: created, attempts: 0, last_error: null,
    };
  }

  /** The next stream number of `service`: from zmesh_streams, or, inside a group
   *  commit after its first row of the service, from memory. */
  private nextStreamSeq(service: string): number {
    const counting = this.counting;
    if (counting === undefined) return (this.stmts.nextSeq.get(service) as { seq: number }).seq;
    let next = counting.get(service);
    if (next === undefined) next = (this.stmts.nextSeq.get(service) as { seq: number }).seq;
    counting.set(service, next + 1);
    return next;
  }

  /** Rows insert()ed in a transaction that has now committed, and is on disk: the
   *  newest of their streams, kept in memory for the dispatcher. Only rows up to
   *  confirmedSeq are ever delivered: one committed without waiting for its fsync
   *  (store/wal-sync.ts) is in the table before it is on disk, and a receiver that
   *  applied it would keep an effect whose cause a power cut took. */
  committed(rows: readonly OutboxRow[]): void {
    for (const row of rows) {
      if (row.seq > this.confirmedSeq) this.confirmedSeq = row.seq;
      let tail = this.tails.get(row.service);
      if (tail === undefined) {
        tail = new Tail();
        this.tails.set(row.service, tail);
      }
      tail.add(row);
    }
  }

  /** Drops a service's in-memory rows when the table holds newer ones than they do:
   *  rows another process added. A requeue by `zmesh outbox retry` also counts the
   *  rows again: it marks zmesh_meta ('outbox_requeues'), one row read per poll. */
  verify(): void {
    const requeues = this.stmts.requeues.get() as string | undefined;
    if (requeues !== this.requeues) {
      this.requeues = requeues;
      this.rows = (this.stmts.count.get() as { n: number }).n;
      // The tool commits with synchronous=FULL: what it added is on disk.
      this.confirmedSeq = Math.max(this.confirmedSeq, this.stmts.maxSeq.get() as number);
    }
    for (const [service, tail] of this.tails) {
      const newest = this.stmts.newest.get(service, this.confirmedSeq) as number | null;
      if (newest !== null && (tail.last === undefined || newest > tail.last)) tail.clear();
    }
  }

  /** `count` rows insert()ed in a transaction that then rolled back. */
  uncount(count: number): void {
    this.rows -= count;
  }

  /** Rows of `service` from stream_seq `from` on, in order. */
  due(service: string, from: number, limit: number): OutboxRow[] {
    return this.tails.get(service)?.from(from, limit) ?? (this.stmts.due.all(service, from, this.confirmedSeq, limit) as StoredRow[]).map((r) => this.hydrate(r));
  }

  first(service: string): OutboxRow | undefined {
    const row = this.stmts.first.get(service) as StoredRow | undefined;
    return row === undefined ? undefined : this.hydrate(row);
  }

  /** The row with its payload, read from the spill when it is there. */
  private hydrate(r: StoredRow): OutboxRow {
    if (r.spill_segment === null) return r;
    try {
      r.payload = this.spill.read({ segment: r.spill_segment, offset: r.spill_offset!, length: r.spill_length!, crc: r.spill_crc ?? undefined });
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      r.damaged = err.message;
    }
    return r;
  }

  services(): string[] {
    return (this.stmts.services.all() as Array<{ service: string }>).map((r) => r.service);
  }

  /** Acknowledged: the rows are done. One transaction for the lot, one DELETE per run
   *  of consecutive stream numbers (acknowledgements mostly come in order). */
  acked(service: string, streamSeqs: number[]): void {
    const sorted = [...streamSeqs].sort((a, b) => a - b);
    this.rows -= this.space.write(() => this.withoutFsync(() => this.db.transaction(() => {
      let removed = 0;
      for (let i = 0; i < sorted.length;) {
        let j = i;
        while (j + 1 < sorted.length && sorted[j + 1]! <= sorted[j]! + 1) j++;
        removed += this.stmts.removeRange.run(service, sorted[i], sorted[j]).changes;
        i = j + 1;
      }
      return removed;
    })()));
    this.ackCommits++;
    const tail = this.tails.get(service);
    if (tail !== undefined) for (const seq of sorted) tail.remove(seq);
  }

  /**
   * Runs a write whose loss would be harmless with synchronous=NORMAL: its commit
   * waits for no fsync. Removing acknowledged rows is such a write: were it lost with
   * the power, the rows would be delivered again and the receiver's inbox would
   * discard them as duplicates. In WAL mode the next FULL commit's fsync makes it
   * durable too, in order, so it cannot tear what follows. Half a sender's fsyncs
   * were these.
   */
  private withoutFsync<T>(write: () => T): T {
    if (this.db.inTransaction) return write();
    const mode = this.stmts.syncMode.get() as number;
    if (mode < 2) return write(); // NORMAL or OFF already
    this.stmts.syncNormal.run();
    try {
      return write();
    } finally {
      (mode === 3 ? this.stmts.syncExtra : this.stmts.syncFull).run();
    }
  }

  /** A failed attempt: counts towards maxAttempts. The row object is updated too (it
   *  may be the one kept in memory). */
  failed(row: OutboxRow, error: string): void {
    this.space.write(() => this.stmts.failed.run(error, row.seq));
    row.attempts++;
    row.last_error = error;
  }

  /** A failure that does not count as an attempt (the receiver held it, or the peer
   *  was unreachable): only noted, for `zmesh outbox list`. */
  held(row: OutboxRow, error: string): void {
    this.space.write(() => this.stmts.note.run(error, row.seq));
    row.last_error = error;
  }

  /** Moves a row to the dead letters; `why`, when given, becomes its last_error. */
  deadLetter(row: OutboxRow, why?: string): void {
    this.deadIn.set(row.service, true);
    this.rows -= this.space.write(() => this.db.transaction(() => {
      this.stmts.toDead.run(why ?? null, this.now(), row.seq);
      return this.stmts.removeSeq.run(row.seq).changes;
    })());
    this.tails.get(row.service)?.remove(row.stream_seq);
  }

  /** The stream_seq this message follows: the previous one not dead-lettered, or 0. */
  previousLive(service: string, streamSeq: number): number {
    let prev = streamSeq - 1;
    if (!this.hasDead(service)) return prev;
    for (const { stream_seq: dead } of this.stmts.deadBelow.iterate(service, streamSeq) as Iterable<{ stream_seq: number }>) {
      if (dead !== prev) break;
      prev--;
    }
    return prev;
  }

  /** Whether `service` has dead letters, remembered: only this process makes them
   *  (deadLetter), and forgetDead() lets a requeue by `zmesh outbox` be seen. */
  private hasDead(service: string): boolean {
    let known = this.deadIn.get(service);
    if (known === undefined) {
      known = this.stmts.anyDead.get(service) === 1;
      this.deadIn.set(service, known);
    }
    return known;
  }

  /** Dead letters may have been requeued from outside: look again when asked next. */
  forgetDead(): void {
    this.deadIn.clear();
  }

  listPending(limit: number): OutboxRow[] {
    return this.stmts.pending.all(limit) as OutboxRow[];
  }

  listDead(limit: number): Array<OutboxRow & { dead_ms: number }> {
    return this.stmts.dead.all(limit) as Array<OutboxRow & { dead_ms: number }>;
  }

  /** Moves dead letters back to the end of their streams; returns how many. */
  requeue(seqs: number[] | 'all'): number {
    const rows = seqs === 'all'
      ? this.stmts.deadAll.all() as OutboxRow[]
      : seqs.map((s) => this.stmts.deadOne.get(s) as OutboxRow | undefined).filter((r): r is OutboxRow => r !== undefined);
    try {
      this.space.write(() => this.db.transaction(() => {
        for (const r of rows) {
          if (this.rows >= this.maxRows) throw new OutboxFullError(`outbox holds its maximum of ${this.maxRows} messages`);
          this.stmts.requeue.run(this.nextStreamSeq(r.service), this.now(), r.seq);
          this.rows++;
          this.stmts.deleteDead.run(r.seq);
        }
        if (rows.length > 0) this.stmts.requeued.run();
      })());
    } catch (err) {
      this.rows = (this.stmts.count.get() as { n: number }).n;
      throw err;
    }
    this.forgetDead();
    if (rows.length > 0) this.onCommitted();
    return rows.length;
  }
}
