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
import { OutboxFullError } from '../errors.js';
import { GroupCommit } from '../store/group-commit.js';
import type { Db } from '../store/open.js';
import type { StoreSpace } from '../store/space.js';

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
}

export interface NewMessage {
  id: Buffer;
  service: string;
  method: string;
  payload: Uint8Array;
  headers?: Record<string, string> | undefined;
}

export class Outbox {
  private readonly stmts;
  private readonly group: GroupCommit<NewMessage, void>;
  /** Rows in the outbox, kept in memory to enforce the bound without a COUNT per send. */
  private rows: number;
  /** Transactions that removed acknowledged rows. */
  ackCommits = 0;

  constructor(
    private readonly db: Db,
    private readonly space: Pick<StoreSpace, 'write'>,
    private readonly maxRows: number,
    /** Called after new rows committed, so delivery can start. */
    private readonly onCommitted: () => void,
    /** Stamps created_ms, the age maxAgeMs is judged by (the dispatcher reads the same clock). */
    private readonly now: () => number = Date.now,
  ) {
    this.stmts = {
      nextSeq: db.prepare('INSERT INTO zmesh_streams (service, next_seq) VALUES (?, 2) ON CONFLICT (service) DO UPDATE SET next_seq = next_seq + 1 RETURNING next_seq - 1 AS seq'),
      insert: db.prepare('INSERT INTO zmesh_outbox (id, service, method, stream_seq, headers, payload, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      due: db.prepare('SELECT * FROM zmesh_outbox WHERE service = ? AND stream_seq >= ? ORDER BY stream_seq LIMIT ?'),
      first: db.prepare('SELECT * FROM zmesh_outbox WHERE service = ? ORDER BY stream_seq LIMIT 1'),
      services: db.prepare('SELECT DISTINCT service FROM zmesh_outbox'),
      remove: db.prepare('DELETE FROM zmesh_outbox WHERE service = ? AND stream_seq = ?'),
      failed: db.prepare('UPDATE zmesh_outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?'),
      note: db.prepare('UPDATE zmesh_outbox SET last_error = ? WHERE seq = ?'),
      toDead: db.prepare('INSERT INTO zmesh_dead_letters SELECT seq, id, service, method, stream_seq, headers, payload, created_ms, attempts, last_error, ? FROM zmesh_outbox WHERE seq = ?'),
      removeSeq: db.prepare('DELETE FROM zmesh_outbox WHERE seq = ?'),
      deadBelow: db.prepare('SELECT stream_seq FROM zmesh_dead_letters WHERE service = ? AND stream_seq < ? ORDER BY stream_seq DESC'),
      count: db.prepare('SELECT count(*) AS n FROM zmesh_outbox'),
      pending: db.prepare('SELECT * FROM zmesh_outbox ORDER BY seq LIMIT ?'),
      dead: db.prepare('SELECT * FROM zmesh_dead_letters ORDER BY seq LIMIT ?'),
      deadOne: db.prepare('SELECT * FROM zmesh_dead_letters WHERE seq = ?'),
      deadAll: db.prepare('SELECT * FROM zmesh_dead_letters ORDER BY seq'),
      deleteDead: db.prepare('DELETE FROM zmesh_dead_letters WHERE seq = ?'),
    };
    this.rows = (this.stmts.count.get() as { n: number }).n;
    this.group = new GroupCommit(db, space, (m: NewMessage) => this.insert(m), () => onCommitted(), () => {
      this.rows = (this.stmts.count.get() as { n: number }).n;
    });
  }

  /** Group-commit transactions so far. */
  get commits(): number {
    return this.group.commits;
  }

  get size(): number {
    return this.rows;
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
  insert(m: NewMessage): void {
    if (this.rows >= this.maxRows) throw new OutboxFullError(`outbox holds its maximum of ${this.maxRows} messages`);
    const { seq } = this.stmts.nextSeq.get(m.service) as { seq: number };
    this.stmts.insert.run(m.id, m.service, m.method, seq, m.headers === undefined ? null : JSON.stringify(m.headers), Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength), this.now());
    this.rows++;
  }

  /** `count` rows insert()ed in a transaction that then rolled back. */
  uncount(count: number): void {
    this.rows -= count;
  }

  /** Rows of `service` from stream_seq `from` on, in order. */
  due(service: string, from: number, limit: number): OutboxRow[] {
    return this.stmts.due.all(service, from, limit) as OutboxRow[];
  }

  first(service: string): OutboxRow | undefined {
    return this.stmts.first.get(service) as OutboxRow | undefined;
  }

  services(): string[] {
    return (this.stmts.services.all() as Array<{ service: string }>).map((r) => r.service);
  }

  /** Acknowledged: the rows are done. One transaction for the lot. */
  acked(service: string, streamSeqs: number[]): void {
    this.rows -= this.space.write(() => this.db.transaction(() => {
      let removed = 0;
      for (const s of streamSeqs) removed += this.stmts.remove.run(service, s).changes;
      return removed;
    })());
    this.ackCommits++;
  }

  /** A failed attempt: counts towards maxAttempts. */
  failed(row: OutboxRow, error: string): void {
    this.space.write(() => this.stmts.failed.run(error, row.seq));
  }

  /** A refusal that does not count as an attempt (the receiver held it): only noted,
   *  for `zmesh outbox list`. */
  held(row: OutboxRow, error: string): void {
    this.space.write(() => this.stmts.note.run(error, row.seq));
  }

  deadLetter(row: OutboxRow): void {
    this.rows -= this.space.write(() => this.db.transaction(() => {
      this.stmts.toDead.run(this.now(), row.seq);
      return this.stmts.removeSeq.run(row.seq).changes;
    })());
  }

  /** The stream_seq this message follows: the previous one not dead-lettered, or 0. */
  previousLive(service: string, streamSeq: number): number {
    let prev = streamSeq - 1;
    for (const { stream_seq: dead } of this.stmts.deadBelow.iterate(service, streamSeq) as Iterable<{ stream_seq: number }>) {
      if (dead !== prev) break;
      prev--;
    }
    return prev;
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
          this.insert({ id: r.id, service: r.service, method: r.method, payload: r.payload, headers: r.headers === null ? undefined : JSON.parse(r.headers) as Record<string, string> });
          this.stmts.deleteDead.run(r.seq);
        }
      })());
    } catch (err) {
      this.rows = (this.stmts.count.get() as { n: number }).n;
      throw err;
    }
    if (rows.length > 0) this.onCommitted();
    return rows.length;
  }
}
