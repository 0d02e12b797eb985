/**
 * Durability off the event loop (transport/store/wal-sync.ts): a commit that only has
 * to be durable before anyone hears of it runs without an fsync at COMMIT, and what
 * depends on it waits for an fdatasync of the WAL that started after it. Real stores,
 * real files; the power cut itself cannot be staged here, so these check the order
 * that makes it safe: nothing leaves (a resolved promise, a delivery, a `$replay`
 * page) before its fsync.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../transport/errors.js';
import { silentLogger } from '../transport/log.js';
import { EventBatch, type StreamProgress } from '../transport/reliable/event-batch.js';
import { EVENT_RETENTION, EventLog } from '../transport/reliable/event-log.js';
import { Outbox } from '../transport/reliable/outbox.js';
import { openStore, type OpenedStore } from '../transport/store/open.js';

let dir: string;
const stores: OpenedStore[] = [];
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'zmesh-wal-sync-')); });
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const open = (name: string, durability: 'full' | 'os' = 'full'): OpenedStore => {
  const s = openStore(join(dir, name), { durability });
  stores.push(s);
  s.db.exec('CREATE TABLE IF NOT EXISTS t (x INTEGER)');
  return s;
};

describe('wal sync', () => {
  it('wal sync - a callback runs only after an fdatasync that started after its commit; callbacks of commits made meanwhile share the next one, in order', async () => {
    const s = open('a.db');
    const insert = s.db.prepare('INSERT INTO t VALUES (?)');
    const order: string[] = [];
    s.walSync.commit(() => s.db.transaction(() => insert.run(1))());
    // Not durable at COMMIT: the row is readable, nobody was told yet.
    expect(s.db.pragma('synchronous', { simple: true })).toBe(2); // FULL again for everything else
    s.walSync.afterSync(() => order.push(`1 after ${s.walSync.syncs} syncs`));
    expect(order).toEqual([]);
    // While the first fdatasync runs, two more commits: they wait for a second one.
    s.walSync.commit(() => s.db.transaction(() => insert.run(2))());
    s.walSync.afterSync(() => order.push(`2 after ${s.walSync.syncs} syncs`));
    s.walSync.commit(() => s.db.transaction(() => insert.run(3))());
    await new Promise<void>((resolve) => s.walSync.afterSync(() => { order.push(`3 after ${s.walSync.syncs} syncs`); resolve(); }));
    expect(order).toEqual(['1 after 1 syncs', '2 after 2 syncs', '3 after 2 syncs']);
    expect(s.db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(3);
  });

  it('wal sync - with durability os there is nothing to wait for: the callback runs at once; flushSync() settles what waits, synchronously', () => {
    const os = open('os.db', 'os');
    let called = false;
    os.walSync.afterSync(() => { called = true; });
    expect(called).toBe(true);
    const full = open('full.db');
    const seen: Array<Error | undefined> = [];
    full.walSync.commit(() => full.db.prepare('INSERT INTO t VALUES (1)').run());
    full.walSync.afterSync((err) => seen.push(err));
    full.walSync.flushSync();
    expect(seen).toEqual([undefined]);
    expect(full.walSync.syncs).toBe(1);
  });

  it('wal sync - a committed send() is neither resolved nor delivered before its fsync; a logged event is not served by $replay before it either', async () => {
    const s = open('sender.db');
    const outbox = new Outbox(s.db, s.space, s, 1_000, () => undefined);
    let resolved = false;
    const sent = outbox.send({ id: Buffer.alloc(16, 1), service: 'sink', method: 'apply', payload: Buffer.from('x') }).then(() => { resolved = true; });
    // The group commit runs on the next turn; right after it the row is in the table...
    await new Promise((r) => setImmediate(r));
    const inTable = s.db.prepare('SELECT count(*) FROM zmesh_outbox').pluck().get();
    const dueBefore = outbox.due('sink', 0, 10).length;
    const wasResolved = resolved;
    await sent;
    expect({ inTable, dueBefore, wasResolved }).toEqual({ inTable: 1, dueBefore: 0, wasResolved: false });
    expect(outbox.due('sink', 0, 10).map((r) => r.method)).toEqual(['apply']);

    const log = new EventLog(s.db, s.space, s, EVENT_RETENTION, () => undefined);
    const logged = log.publish('ev.a', Buffer.alloc(16, 2), Buffer.from('e'), undefined);
    await new Promise((r) => setImmediate(r));
    const rows = s.db.prepare('SELECT count(*) FROM zmesh_events').pluck().get();
    const headBefore = log.head();
    await logged;
    expect({ rows, headBefore }).toEqual({ rows: 1, headBefore: 0 });
    expect(log.head()).toBe(1);
  });

  it('wal sync - a send() whose fsync failed rejects with STORE problem "unconfirmed", and its command stands and is delivered (a resend would be a duplicate)', async () => {
    const s = open('unconfirmed.db');
    const failing = { commit: <T>(w: () => T): T => w(), afterSync: (cb: (err: Error | undefined) => void) => cb(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })) };
    const outbox = new Outbox(s.db, s.space, { ...s, walSync: failing as never }, 1_000, () => undefined);
    const err = await outbox.send({ id: Buffer.alloc(16, 7), service: 'sink', method: 'apply', payload: Buffer.from('x') }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect({ code: (err as StoreError).code, problem: (err as StoreError).problem, retryable: (err as StoreError).retryable })
      .toEqual({ code: 'ZMESH_ERR_STORE', problem: 'unconfirmed', retryable: false });
    expect((err as Error).message).toMatch(/do not send it again/);
    expect(outbox.due('sink', 0, 10).map((r) => r.method)).toEqual(['apply']);
  });

  it('wal sync - a durable batch moves its progress in memory at commit, but its handlers\' sends and its acknowledgement wait for the fsync, and the progress it acknowledges is only what is on disk', () => {
    const s = open('durable.db');
    const told: string[] = [];
    const waiting: Array<(err: Error | undefined) => void> = [];
    // The fsync is held by the test, so what runs before it is visible.
    const sync = { commit: <T>(w: () => T): T => w(), afterSync: (cb: (err: Error | undefined) => void) => { waiting.push(cb); } };
    const batch = new EventBatch<StreamProgress>({
      db: s.db, space: s.space, name: 'audit', log: silentLogger(), sync,
      handler: (e, tx) => { tx.db.prepare('INSERT INTO t VALUES (?)').run(e.seq); },
      tx: () => ({ tx: { db: s.db } as never, committed: () => told.push('sends and publishes out'), rolledBack: () => undefined }),
      onCommitted: (stream, applied) => told.push(`ack ${stream.durable} (${applied} applied)`),
    });
    const stream: StreamProgress = { key: 'pub-store', last: 0, durable: 0 };
    const event = (seq: number) => ({ topic: 'ev.a', payload: Buffer.from('x'), sender: { node: 'p', service: 'p' }, id: Buffer.alloc(16, seq), seq, stream: 'pub-store', timestampMs: 0, headers: {} });
    batch.apply([1, 2, 3].map((seq) => ({ stream, seq, prev: seq - 1, event: event(seq) })));
    expect({ last: stream.last, durable: stream.durable, told }).toEqual({ last: 3, durable: 0, told: [] });
    expect(s.db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(3);
    waiting.shift()!(undefined);
    expect(stream.durable).toBe(3);
    expect(told).toEqual(['sends and publishes out', 'sends and publishes out', 'sends and publishes out', 'ack 3 (3 applied)']);
    // A failed fsync: the commit stands (its sends go out) but nothing acknowledges it.
    told.length = 0;
    batch.apply([{ stream, seq: 4, prev: 3, event: event(4) }]);
    waiting.shift()!(new Error('EIO'));
    expect({ last: stream.last, durable: stream.durable, told }).toEqual({ last: 4, durable: 3, told: ['sends and publishes out'] });
  });
});
