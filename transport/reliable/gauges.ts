/**
 * Read-only figures of a store, for node summaries (observe/summary.ts, once per
 * interval) and `zmesh status` (admin.ts). Plain SELECTs that use the primary keys:
 * the only one that counts rows is the dead-letter count, a table operators keep
 * small (an alarm in itself when it grows).
 *
 * The event log's head is the last seq it ever gave (sqlite_sequence: zmesh_events is
 * AUTOINCREMENT), so a log pruned empty still has its head. A durable subscriber's lag
 * is that head minus the seq it last acknowledged (zmesh_event_acks); subscribers
 * acknowledge every few events (durable.ts), so the lag is that coarse.
 */
import type { Db } from '../store/open.js';
import type { ReliableStats } from '../types.js';

export interface DurableProgress {
  /** "<scope>/<name>" as the subscriber acknowledged it. */
  subscriber: string;
  ackedSeq: number;
  lag: number;
  updatedMs: number;
}

export interface StoreFigures {
  outbox: { pending: number; oldestCreatedMs: number | undefined };
  deadLetters: number;
  events: { headSeq: number; rows: number };
  durable: DurableProgress[];
  inboxStreams: number;
  /** The node id kept in the store (storedNodeId), when there is one. */
  nodeId: string | undefined;
}

const HEAD = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'zmesh_events'), 0)";

/** What a summary needs, statements prepared once. */
export function storeGauges(db: Db): { deadLetters(): number; durableLag(): number } {
  const dead = db.prepare('SELECT count(*) FROM zmesh_dead_letters').pluck();
  const lag = db.prepare(`SELECT max(0, (${HEAD}) - min(seq)) FROM zmesh_event_acks`).pluck();
  return {
    deadLetters: () => dead.get() as number,
    durableLag: () => (lag.get() as number | null) ?? 0,
  };
}

/** A node's figures for its summaries, from its reliable layer once the store is open
 *  (undefined before, and without a store). Statements are prepared on the first read
 *  and belong to that database. */
export function storeReader(layer: () => { db: Db | undefined; stats(): ReliableStats | undefined } | undefined): () => { outboxDepth: number; deadLetters: number; durableLag: number } | undefined {
  let prepared: { db: Db; gauges: ReturnType<typeof storeGauges> } | undefined;
  return () => {
    const l = layer();
    const db = l?.db;
    if (l === undefined || db === undefined) return undefined;
    if (prepared?.db !== db) prepared = { db, gauges: storeGauges(db) };
    return { outboxDepth: l.stats()?.pending ?? 0, deadLetters: prepared.gauges.deadLetters(), durableLag: prepared.gauges.durableLag() };
  };
}

/** Everything `zmesh status` shows; one read transaction, so the figures agree. */
export function storeFigures(db: Db): StoreFigures {
  return db.transaction(() => {
    const head = db.prepare(HEAD).pluck().get() as number;
    const outbox = db.prepare('SELECT count(*) AS n, min(created_ms) AS oldest FROM zmesh_outbox').get() as { n: number; oldest: number | null };
    const acks = db.prepare('SELECT subscriber, seq, updated_ms FROM zmesh_event_acks ORDER BY subscriber').all() as Array<{ subscriber: string; seq: number; updated_ms: number }>;
    const nodeId = db.prepare("SELECT value FROM zmesh_meta WHERE key = 'node_id'").pluck().get() as string | undefined;
    return {
      outbox: { pending: outbox.n, oldestCreatedMs: outbox.oldest ?? undefined },
      deadLetters: db.prepare('SELECT count(*) FROM zmesh_dead_letters').pluck().get() as number,
      events: { headSeq: head, rows: db.prepare('SELECT count(*) FROM zmesh_events').pluck().get() as number },
      durable: acks.map((a) => ({ subscriber: a.subscriber, ackedSeq: a.seq, lag: Math.max(0, head - a.seq), updatedMs: a.updated_ms })),
      inboxStreams: db.prepare('SELECT count(*) FROM zmesh_inbox').pluck().get() as number,
      nodeId,
    };
  })();
}
