/**
 * Operator access to a node's store, for `zmesh outbox` and `zmesh status`: pending and dead-lettered
 * reliable commands, and requeueing dead letters. Safe while the node runs (WAL lets
 * readers and one writer share the file); a requeued command is delivered by the node
 * on its next retry pass or restart.
 */
import type { OutboxRow } from './outbox.js';
import { Outbox } from './outbox.js';
import { openStore } from '../store/open.js';
import { storeFigures, type StoreFigures } from './gauges.js';

export type { StoreFigures, DurableProgress } from './gauges.js';

export interface OutboxEntry {
  seq: number;
  id: string;
  service: string;
  method: string;
  streamSeq: number;
  bytes: number;
  createdMs: number;
  attempts: number;
  lastError: string | null;
  deadMs?: number;
}

export interface StoreAdmin {
  readonly storeId: string;
  pending(limit?: number): OutboxEntry[];
  dead(limit?: number): OutboxEntry[];
  /** Moves dead letters (all, or by seq) back to the end of their streams. */
  retry(seqs: number[] | 'all'): number;
  /** The store at a glance (`zmesh status`): outbox, dead letters, the event log's
   *  head and rows, durable subscribers' lag, inbox streams, the kept node id. */
  figures(): StoreFigures;
  close(): void;
}

const entry = (r: OutboxRow & { dead_ms?: number; spill_length?: number | null }): OutboxEntry => ({
  seq: r.seq, id: r.id.toString('hex'), service: r.service, method: r.method, streamSeq: r.stream_seq,
  // A spilled payload is not read for a listing: its row says how long it is.
  bytes: r.spill_length ?? r.payload.length, createdMs: r.created_ms, attempts: r.attempts, lastError: r.last_error,
  ...(r.dead_ms === undefined ? {} : { deadMs: r.dead_ms }),
});

/** Opens a store beside its running node: the same checks as a node's start, but not
 *  the owner lock, which the node holds. Throws STORE. */
export function openStoreAdmin(path: string): StoreAdmin {
  const store = openStore(path, { lock: false });
  const outbox = new Outbox(store.db, store.space, store, Number.MAX_SAFE_INTEGER, () => undefined);
  return {
    storeId: store.storeId,
    pending: (limit = 1_000) => outbox.listPending(limit).map(entry),
    dead: (limit = 1_000) => outbox.listDead(limit).map(entry),
    retry: (seqs) => outbox.requeue(seqs),
    figures: () => storeFigures(store.db),
    close: () => store.close(),
  };
}
