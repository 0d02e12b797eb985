/**
 * Durable events apply in batches (transport/reliable/event-batch.ts): a live burst or
 * a replay page in ONE transaction, each event in its own savepoint. The subscription
 * runs on a real store; its publishers are real event logs in stores of their own,
 * answering `$replay` with the real answerReplay, without sockets:
 *
 *   publisher A (event log) --live MeshEvents, answerReplay--> DurableSubscription "audit"
 *   publisher B (event log) --/                                 (effects + progress)
 *
 * The verdict comes from the subscriber's database, read through a second connection
 * that sees only what committed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeReplayReply, encodeReplayRequest, type ReplayReply, type ReplayRequest } from '../transport/codec/control.js';
import { silentLogger } from '../transport/log.js';
import { answerReplay, reachOf } from '../transport/reliable/control.js';
import { DurableSubscription } from '../transport/reliable/durable.js';
import { MAX_BATCH_BYTES, MAX_BATCH_EVENTS } from '../transport/reliable/event-batch.js';
import { EVENT_RETENTION, EventLog } from '../transport/reliable/event-log.js';
import { openStore, type OpenedStore } from '../transport/store/open.js';
import { SPILL_MIN_BYTES } from '../transport/store/spill.js';
import type { MeshEvent, Transaction } from '../transport/types.js';

let dir: string;
const cleanup: Array<() => void> = [];
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'zmesh-durable-batch-')); });
afterEach(() => {
  for (const f of cleanup.splice(0).reverse()) f();
  rmSync(dir, { recursive: true, force: true });
});

interface Pub {
  nodeId: string;
  stream: string;
  /** Logs `count` events `<topic>` (payload: their number from 1, or `payload`), returns them as live events. */
  publish(count: number, topic?: string, payload?: Buffer): MeshEvent[];
  answer(req: ReplayRequest): ReplayReply;
  replays: number;
}

function publisher(name: string): Pub {
  const store = openStore(join(dir, `${name}.db`), { durability: 'os' });
  cleanup.push(() => store.close());
  const log = new EventLog(store.db, store.space, store, EVENT_RETENTION, () => undefined);
  const nodeId = `${name}-1`;
  const publishing = { storeId: store.storeId, nodeId, service: name, events: log };
  let n = 0;
  const pub: Pub = {
    nodeId,
    stream: store.storeId,
    replays: 0,
    publish: (count, topic = 'ev.x', payload) => {
      const events = store.db.transaction(() => Array.from({ length: count }, () => {
        const e = log.insert(topic, Buffer.alloc(16, 1), payload ?? Buffer.from(String(++n)), undefined);
        return {
          topic, payload: e.payload, sender: { node: nodeId, service: name }, id: e.id, seq: 0, timestampMs: e.createdMs,
          headers: { 'zmesh-estream': store.storeId, 'zmesh-eseq': String(e.seq) },
        };
      }))();
      // Committed with synchronous=FULL: on disk, so `$replay` may serve them (as the node's goLive says).
      if (events.length > 0) log.confirm(Number(events.at(-1)!.headers['zmesh-eseq']));
      return events;
    },
    answer: (req) => {
      pub.replays++;
      return decodeReplayReply(answerReplay(publishing, encodeReplayRequest(req)).reply)!;
    },
  };
  return pub;
}

interface Sub {
  sub: DurableSubscription;
  store: OpenedStore;
  committed: string[];
  rolledBack: string[];
  /** [publisher node, stream, seq, the progress a second connection saw committed then]. */
  acks: Array<[string, string, number, number]>;
  /** Seqs reported lost (damaged at their publisher), in order. */
  lost: number[];
  /** What committed: effects in order, per stream. */
  effects(stream: string): number[];
  progress(stream: string): number | undefined;
}

/** A durable subscription "audit" to "ev.". Its handler writes an effects row, then
 *  runs `before` (which may throw: the row must go with it). */
function subscriber(pubs: Pub[], before: (stream: string, seq: number) => void = () => undefined, effectsSql?: string): Sub {
  const path = join(dir, 'sub.db');
  const store = openStore(path);
  store.db.exec(effectsSql ?? 'CREATE TABLE effects (id INTEGER PRIMARY KEY, stream TEXT NOT NULL, seq INTEGER NOT NULL)');
  const reader = new Database(path, { readonly: true });
  const tags = new WeakMap<Transaction, string>();
  const s: Omit<Sub, 'sub'> = {
    store, committed: [], rolledBack: [], acks: [], lost: [],
    effects: (stream) => reader.prepare('SELECT seq FROM effects WHERE stream = ? ORDER BY id').pluck().all(stream) as number[],
    progress: (stream) => reader.prepare("SELECT last_seq FROM zmesh_durable WHERE name = 'audit' AND stream = ?").pluck().get(stream) as number | undefined,
  };
  const sub = new DurableSubscription({
    db: store.db, space: store.space, name: 'audit', prefix: 'ev.', log: silentLogger(),
    handler: (e, tx) => {
      tags.set(tx, `${e.stream}:${e.seq}`);
      tx.db.prepare('INSERT INTO effects (stream, seq) VALUES (?, ?)').run(e.stream, e.seq);
      before(e.stream, e.seq);
    },
    tx: () => {
      const tx = { db: store.db } as Transaction;
      return { tx, committed: () => s.committed.push(tags.get(tx)!), rolledBack: () => s.rolledBack.push(tags.get(tx)!) };
    },
    replay: (nodeId, req) => Promise.resolve(pubs.find((p) => p.nodeId === nodeId)!.answer(req)),
    ack: (nodeId, stream, seq) => { s.acks.push([nodeId, stream, seq, s.progress(stream) ?? 0]); },
    // No poll finds anything: catch-ups start from the triggers the tests give.
    isUp: () => false, upOf: () => [], scope: () => '', lost: (e) => s.lost.push(e.seq),
  });
  cleanup.push(() => { sub.close(); reader.close(); store.close(); });
  return { ...s, sub };
}

const upTo = (n: number, from = 1): number[] => Array.from({ length: n - from + 1 }, (_, i) => from + i);
const tagsOf = (stream: string, seqs: number[]): string[] => seqs.map((q) => `${stream}:${q}`);

describe('durable batches', () => {
  it('durable batch - a live burst from two publishers commits once; a throwing handler rolls back alone, its stream stops there, and catch-up applies it once, in order', async () => {
    const a = publisher('alpha');
    const b = publisher('beta');
    let failed = false;
    const s = subscriber([a, b], (stream, seq) => {
      if (stream === a.stream && seq === 3 && !failed) {
        failed = true;
        throw new Error('not yet');
      }
    });
    const fromA = a.publish(250);
    const fromB = b.publish(250);
    // As a read loop hands over a packed frame: all of it in one synchronous go.
    for (let i = 0; i < 250; i++) {
      s.sub.onLive(fromA[i]!);
      s.sub.onLive(fromB[i]!);
    }
    expect(s.sub.commits).toBe(0);
    await vi.waitFor(() => expect(s.sub.commits).toBe(1));
    // A's event 3 rolled back its own row only; A stopped there, B went on.
    expect(s.effects(a.stream)).toEqual([1, 2]);
    expect(s.effects(b.stream)).toEqual(upTo(250));
    expect(s.rolledBack).toEqual([`${a.stream}:3`]);
    expect(s.committed.filter((t) => t.startsWith(a.stream))).toEqual(tagsOf(a.stream, [1, 2]));
    expect(s.committed.filter((t) => t.startsWith(b.stream))).toEqual(tagsOf(b.stream, upTo(250)));
    expect([s.progress(a.stream), s.progress(b.stream)]).toEqual([2, 250]);
    expect(a.replays).toBe(0);

    // A catch-up brings A's events from 3 on again: one page, one transaction.
    s.sub.onPeerUp(a.nodeId);
    await vi.waitFor(() => expect(s.acks.filter(([node]) => node === a.nodeId).at(-1)?.[2]).toBe(250));
    expect(s.effects(a.stream)).toEqual(upTo(250));
    expect(s.committed.filter((t) => t.startsWith(a.stream))).toEqual(tagsOf(a.stream, upTo(250)));
    expect(s.rolledBack).toEqual([`${a.stream}:3`]);
    expect(s.sub.commits).toBe(2);
    // Every $ack went out after the progress it reports had committed.
    for (const [, , seq, seen] of s.acks) expect(seen).toBeGreaterThanOrEqual(seq);
  });

  it('durable batch - an event its publisher cannot read (damaged spill) moves progress past it in the page\'s transaction and is reported lost once, only when progress gets there', async () => {
    const a = publisher('alpha');
    let failed = false;
    const s = subscriber([a], (_stream, seq) => {
      if (seq === 2 && !failed) {
        failed = true;
        throw new Error('not yet');
      }
    });
    a.publish(2);
    a.publish(1, 'ev.x', Buffer.alloc(SPILL_MIN_BYTES, 0x33)); // seq 3, spilled, with its CRC
    a.publish(2);
    const seg = join(dir, 'alpha.db-spill', '0000000001.seg');
    const bytes = readFileSync(seg);
    bytes.writeUInt8(bytes.readUInt8(100) ^ 0xff, 100);
    writeFileSync(seg, bytes);
    // The first page stops at 2 (its handler throws): 3 is not reached, not reported.
    s.sub.onPeerUp(a.nodeId);
    await vi.waitFor(() => expect(s.rolledBack).toEqual([`${a.stream}:2`]));
    await vi.waitFor(() => expect(s.acks.at(-1)?.[2]).toBe(1));
    expect(s.lost).toEqual([]);
    s.sub.onPeerUp(a.nodeId);
    await vi.waitFor(() => expect(s.progress(a.stream)).toBe(5));
    expect(s.effects(a.stream)).toEqual([1, 2, 4, 5]);
    expect(s.lost).toEqual([3]);
    // Past it for good: asking again finds nothing new and reports nothing again.
    const replays = a.replays;
    s.sub.onPeerUp(a.nodeId);
    await vi.waitFor(() => expect(a.replays).toBe(replays + 1));
    await vi.waitFor(() => expect(s.acks.at(-1)?.[2]).toBe(5));
    expect(s.lost).toEqual([3]);
  });

  it('durable batch - a batch whose COMMIT fails rolls back every event in it; catch-up applies each once, nothing twice', async () => {
    const a = publisher('alpha');
    // A deferred foreign key is checked at COMMIT: every savepoint succeeds, the commit fails.
    const s = subscriber([a], undefined, `
      CREATE TABLE gate (id INTEGER PRIMARY KEY);
      CREATE TABLE effects (id INTEGER PRIMARY KEY, stream TEXT NOT NULL, seq INTEGER NOT NULL,
        gate INTEGER NOT NULL DEFAULT 1 REFERENCES gate (id) DEFERRABLE INITIALLY DEFERRED);`);
    for (const e of a.publish(100)) s.sub.onLive(e);
    await vi.waitFor(() => expect(s.rolledBack).toHaveLength(100));
    expect(s.rolledBack).toEqual(tagsOf(a.stream, upTo(100)));
    expect(s.committed).toEqual([]);
    expect(s.sub.commits).toBe(0);
    expect(s.effects(a.stream)).toEqual([]);
    expect(s.progress(a.stream)).toBeUndefined();
    expect(s.acks).toEqual([]);
    // And no transaction was left open by the failed commit.
    expect(s.store.db.inTransaction).toBe(false);

    s.store.db.exec('INSERT INTO gate (id) VALUES (1)');
    s.sub.onPeerUp(a.nodeId);
    await vi.waitFor(() => expect(s.acks.at(-1)?.[2]).toBe(100));
    expect(s.effects(a.stream)).toEqual(upTo(100));
    expect(s.committed).toEqual(tagsOf(a.stream, upTo(100)));
    expect(s.rolledBack).toHaveLength(100);
    expect(s.progress(a.stream)).toBe(100);
  });

  it('durable batch - 5 000 events handed over at once are applied MAX_BATCH_EVENTS at a time, and large ones within MAX_BATCH_BYTES', async () => {
    const a = publisher('alpha');
    const s = subscriber([a]);
    for (const e of a.publish(5 * MAX_BATCH_EVENTS)) s.sub.onLive(e);
    // Each full batch was applied as it filled, in the read loop's own turn.
    expect(s.sub.commits).toBe(5);
    expect(s.effects(a.stream)).toEqual(upTo(5 * MAX_BATCH_EVENTS));

    const size = 100 * 1024;
    const before = s.sub.commits;
    for (const e of a.publish(40, 'ev.big', Buffer.alloc(size))) s.sub.onLive(e);
    await vi.waitFor(() => expect(s.effects(a.stream)).toHaveLength(5 * MAX_BATCH_EVENTS + 40));
    const perBatch = Math.floor(MAX_BATCH_BYTES / size);
    expect(s.sub.commits - before).toBe(Math.ceil(40 / perBatch));
    expect(s.effects(a.stream)).toEqual(upTo(5 * MAX_BATCH_EVENTS + 40));
  });

  it('durable batch - a replay that finds nothing under the prefix moves progress to the head, so the next live event applies without a replay', async () => {
    const a = publisher('alpha');
    const s = subscriber([a]);
    a.publish(25_000, 'other.x');
    a.publish(1, 'ev.x');
    const head = 25_001;
    s.sub.onPeerUp(a.nodeId);
    await vi.waitFor(() => expect(s.acks.at(-1)?.[2]).toBe(head));
    expect(s.effects(a.stream)).toEqual([head]);
    expect(s.progress(a.stream)).toBe(head);
    // Three bounded pages of 10 000 rows.
    expect(a.replays).toBe(3);
    const [next] = a.publish(1, 'ev.x');
    s.sub.onLive(next!);
    await vi.waitFor(() => expect(s.progress(a.stream)).toBe(head + 1));
    expect(a.replays).toBe(3);
    expect(s.effects(a.stream)).toEqual([head, head + 1]);
  });

  it('durable batch - how far an answer takes the asker: to scanned (at most the head) from a publisher that says it, to its last event from one that predates the field', () => {
    const reply = (seqs: number[], o: { head: number; scanned?: number; more?: boolean }): ReplayReply => ({
      stream: 's', head: o.head, more: o.more ?? false, scanned: o.scanned,
      events: seqs.map((seq) => ({ seq, topic: 'ev.x', payload: Buffer.alloc(0), headers: {}, timestampMs: 0, id: Buffer.alloc(16), node: 'n', service: 'v' })),
    });
    // Bounded scans: on to scanned, past events that were not ours, until the head.
    expect(reachOf(reply([], { head: 100_000, scanned: 10_000 }), 0, 1_000)).toEqual({ through: 10_000, done: false });
    expect(reachOf(reply([15_000], { head: 100_000, scanned: 20_000 }), 10_000, 1_000)).toEqual({ through: 20_000, done: false });
    expect(reachOf(reply([99_999], { head: 100_000, scanned: 100_000 }), 90_000, 1_000)).toEqual({ through: 100_000, done: true });
    // A page cut by size says its last event.
    expect(reachOf(reply([5, 6], { head: 100, scanned: 6, more: true }), 4, 1_000)).toEqual({ through: 6, done: false });
    // Never beyond the head, never behind the last event, and an answer that does not
    // move the asker on ends the catch-up instead of repeating it.
    expect(reachOf(reply([], { head: 50, scanned: 80 }), 10, 1_000)).toEqual({ through: 50, done: true });
    expect(reachOf(reply([30], { head: 50, scanned: 20 }), 10, 1_000)).toEqual({ through: 30, done: false });
    expect(reachOf(reply([], { head: 50, scanned: 10 }), 10, 1_000)).toEqual({ through: 10, done: true });
    // A publisher that predates scanned (0 or absent): only events move the asker, and
    // a short page without `more` is the end; a full one, or one with `more`, is not.
    expect(reachOf(reply([3, 9], { head: 50 }), 2, 2)).toEqual({ through: 9, done: false });
    expect(reachOf(reply([3, 9], { head: 50, scanned: 0 }), 2, 3)).toEqual({ through: 9, done: true });
    expect(reachOf(reply([3], { head: 50, more: true }), 2, 3)).toEqual({ through: 3, done: false });
    expect(reachOf(reply([], { head: 50 }), 2, 3)).toEqual({ through: 2, done: true });
  });
});
