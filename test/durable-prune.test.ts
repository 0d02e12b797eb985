/**
 * What the event log costs its publisher (proto/README.md section 15): acknowledgements
 * that prune it, and `$replay` answers whose work is bounded. Real nodes on 127.0.0.1,
 * real stores, and a raw DEALER that speaks `$replay` from the spec alone, as a newer
 * asker (bounded_scan) and as an asker of an earlier revision (without the field).
 *
 *   product (log: product.*) <--$replay/$ack-- cart  durable "orders", prefix order.
 *                            <--$replay/$ack-- order durable "stock",  prefix product.
 *
 *   pub (log: noise.* with order.* among it) <--$replay-- raw DEALER
 *                                            <--$replay/$ack-- sub durable, prefix order.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_REPLAY_SCAN_ROWS, createNode, type MeshNode, type NodeOptions } from '../transport/index.js';
import { EventLog } from '../transport/reliable/event-log.js';
import { openStore } from '../transport/store/open.js';
import { RawDealer, envelope, pb } from './helpers/raw-peer.js';

const dir = mkdtempSync(join(tmpdir(), 'zmesh-durable-prune-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function node(o: Partial<NodeOptions> & { service: string }): Promise<MeshNode> {
  const n = createNode({ insecure: true, host: '127.0.0.1', discovery: 'static', storePath: join(dir, `${o.service}-${randomBytes(4).toString('hex')}.db`), ...o });
  cleanup.push(() => n.close());
  await n.start();
  return n;
}

const rows = (n: MeshNode): { min: number | null; count: number } => n.db!.prepare('SELECT min(seq) AS min, count(*) AS count FROM zmesh_events').get() as { min: number | null; count: number };
const acked = (n: MeshNode): Record<string, number> => Object.fromEntries((n.db!.prepare('SELECT subscriber, seq FROM zmesh_event_acks').all() as Array<{ subscriber: string; seq: number }>).map((r) => [r.subscriber.split('@')[0], r.seq]));
const storeIdOf = (n: MeshNode): string => n.db!.prepare("SELECT value FROM zmesh_meta WHERE key = 'store_id'").pluck().get() as string;
/** The effects table a durable handler writes: one row per event, in order. */
function effects(n: MeshNode): () => number[] {
  n.db!.exec('CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)');
  return () => n.db!.prepare('SELECT seq FROM effects ORDER BY id').pluck().all() as number[];
}

describe('durable acknowledgements prune the log', () => {
  it('durable - a subscriber whose prefix matches nothing a publisher logs does not hold its log back; one that received events holds back what it has not processed', async () => {
    const product = await node({ service: 'product' });
    for (let i = 1; i <= 300; i++) await product.publishReliable('product.stock.reserved', Buffer.from(String(i)));
    expect(rows(product)).toEqual({ min: 1, count: 300 });

    const cart = await node({ service: 'cart', peers: [product.endpoints.router] });
    const cartEffects = effects(cart);
    await cart.subscribeDurable('orders', 'order.', (e, tx) => { tx.db.prepare('INSERT INTO effects (seq) VALUES (?)').run(e.seq); });
    const order = await node({ service: 'order', peers: [product.endpoints.router] });
    const orderEffects = effects(order);
    let through = 200;
    await order.subscribeDurable('stock', 'product.', (e, tx) => {
      if (e.seq > through) throw new Error('not processed yet');
      tx.db.prepare('INSERT INTO effects (seq) VALUES (?)').run(e.seq);
    });

    // cart acknowledges product's head; order what it processed: the log goes up to 200.
    await vi.waitFor(() => expect(acked(product)).toEqual({ orders: 300, stock: 200 }), { timeout: 10_000 });
    await vi.waitFor(() => expect(rows(product)).toEqual({ min: 201, count: 100 }), { timeout: 15_000, interval: 200 });
    expect(orderEffects()).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(cartEffects()).toEqual([]);
    expect(cart.db!.prepare("SELECT last_seq FROM zmesh_durable WHERE name = 'orders' AND stream = ?").pluck().get(storeIdOf(product))).toBe(300);

    // order processes the rest (its catch-up retries them): the log empties.
    through = Infinity;
    await vi.waitFor(() => expect(orderEffects()).toHaveLength(300), { timeout: 10_000 });
    expect(orderEffects()).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    await vi.waitFor(() => expect(rows(product)).toEqual({ min: null, count: 0 }), { timeout: 15_000, interval: 200 });
    expect(acked(product)).toEqual({ orders: 300, stock: 300 });
  }, 60_000);
});

describe('durable retention', () => {
  it('durable - pruning by age deletes below the first row young enough; rows after a clock step back wait, none goes early', () => {
    const store = openStore(join(dir, 'age.db'), { durability: 'os' });
    cleanup.push(() => store.close());
    const hourMs = 3_600_000;
    const log = new EventLog(store.db, store.space, store, { maxAgeMs: hourMs, maxEvents: 1_000_000 }, () => undefined);
    store.db.transaction(() => { for (let i = 0; i < 1_000; i++) log.insert('a.b', Buffer.alloc(16), Buffer.from('x'), undefined); })();
    const age = (from: number, to: number, ms: number): void => { store.db.prepare('UPDATE zmesh_events SET created_ms = ? WHERE seq BETWEEN ? AND ?').run(Date.now() - ms, from, to); };
    const left = (): number[] => store.db.prepare('SELECT seq FROM zmesh_events ORDER BY seq').pluck().all() as number[];
    const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    // 1..600 are two hours old; 601 is young; 602..650 old again (the clock stepped back).
    age(1, 600, 2 * hourMs);
    age(602, 650, 2 * hourMs);
    expect(log.prune()).toBe(600);
    expect(left()).toEqual(range(601, 1_000));
    // Once 601 is old too, everything before the next young row goes.
    age(601, 601, 2 * hourMs);
    expect(log.prune()).toBe(50);
    expect(left()).toEqual(range(651, 1_000));
    // All old: all of it.
    age(651, 1_000, 2 * hourMs);
    expect(log.prune()).toBe(350);
    expect(left()).toEqual([]);
    expect(log.prune()).toBe(0);
  });
});

/** 102 500 events: noise.x, with order.x at 10 001 (just past one bounded scan) and
 *  at every multiple of 40 after it. Returns the seqs of the order.x events. */
function fill(pub: MeshNode): { orders: number[]; head: number } {
  const head = 102_500;
  const orders: number[] = [];
  pub.transact((tx) => {
    for (let seq = 1; seq <= head; seq++) {
      const mine = seq === 10_001 || (seq > 10_001 && seq % 40 === 0);
      if (mine) orders.push(seq);
      tx.publish(mine ? 'order.x' : 'noise.x', Buffer.from(String(seq)));
    }
  });
  return { orders, head };
}

type Reply = { stream: string; head: number; scanned: number; more: boolean; seqs: number[] };

function asker(pub: MeshNode): (request: Record<string, unknown>) => Promise<Reply> {
  const dealer = new RawDealer(pub.endpoints.router);
  cleanup.push(() => dealer.close());
  return async (request) => {
    const id = randomBytes(16);
    // No `subscriber`: this asker leaves no acknowledgement behind.
    await dealer.send(envelope({ id, kind: pb.Kind.REQUEST, service: pub.service, subject: '$replay', ttlMs: 10_000, payload: pb.ReplayRequest.encode(request).finish() }));
    const answer = await dealer.answerTo(id, 10_000);
    expect(answer.kind).toBe(pb.Kind.REPLY);
    const r = pb.ReplayReply.decode(answer.payload);
    return { stream: r.stream, head: Number(r.head), scanned: Number(r.scanned), more: r.more, seqs: r.events.map((e) => Number(e.seq)) };
  };
}

describe('durable replay work is bounded', () => {
  it(`durable - with 100 000 rows under another prefix, one $replay answer looks at no more than ${MAX_REPLAY_SCAN_ROWS} rows, and the subscriber still catches up and acknowledges the head`, async () => {
    const pub = await node({ service: 'pub' });
    const { orders, head } = fill(pub);
    const ask = asker(pub);

    // The first order.x is at 10 001: an answer that looked further would carry it.
    const first = await ask({ known: {}, prefix: 'order.', max: 1_000, boundedScan: true });
    expect(first).toMatchObject({ head, scanned: MAX_REPLAY_SCAN_ROWS, more: false, seqs: [] });
    // Followed as the spec says, every answer looks at most at the bound, and they end at the head.
    const seen: number[] = [];
    let from = 0;
    for (let answers = 0; from < head; answers++) {
      expect(answers).toBeLessThan(50);
      const r = await ask({ known: { [first.stream]: from }, prefix: 'order.', max: 1_000, boundedScan: true });
      expect(r.scanned).toBeGreaterThan(from);
      expect(r.scanned - from).toBeLessThanOrEqual(MAX_REPLAY_SCAN_ROWS);
      seen.push(...r.seqs);
      from = r.scanned;
    }
    expect(seen).toEqual(orders);

    const sub = await node({ service: 'sub', peers: [pub.endpoints.router] });
    const got = effects(sub);
    await sub.subscribeDurable('orders', 'order.', (e, tx) => { tx.db.prepare('INSERT INTO effects (seq) VALUES (?)').run(e.seq); });
    await vi.waitFor(() => expect(acked(pub)).toEqual({ orders: head }), { timeout: 20_000 });
    expect(got()).toEqual(orders);
    expect(sub.db!.prepare("SELECT last_seq FROM zmesh_durable WHERE name = 'orders'").pluck().get()).toBe(head);
    // Its acknowledgement was the only one: the log goes.
    await vi.waitFor(() => expect(rows(pub).count).toBe(0), { timeout: 15_000, interval: 200 });
  }, 60_000);

  it('durable - an asker of an earlier revision (no bounded_scan) still gets every event and ends on a short page', async () => {
    const pub = await node({ service: 'pub' });
    const { orders, head } = fill(pub);
    const ask = asker(pub);
    // The request as an earlier zmesh sent it: fields 1 to 5, nothing of field 6.
    const body = (from: number, stream?: string): Record<string, unknown> => ({ known: stream === undefined ? {} : { [stream]: from }, prefix: 'order.', max: 1_000, maxBytes: 0 });
    expect([...pb.ReplayRequest.encode(body(0)).finish()]).not.toContain((6 << 3) | 0);

    // Its loop: ask again from the last event while a page is full or cut by size.
    const seen: number[] = [];
    let stream: string | undefined;
    let answers = 0;
    for (let last = 0; ; answers++) {
      expect(answers).toBeLessThan(50);
      const r = await ask(body(last, stream));
      stream = r.stream;
      expect(r.head).toBe(head);
      seen.push(...r.seqs);
      if (r.seqs.length < 1_000 && !r.more) break;
      last = r.seqs.at(-1)!;
    }
    expect(seen).toEqual(orders);
    // Unbounded scans: whole pages of 1 000, then the short last one.
    expect(answers + 1).toBe(Math.ceil(orders.length / 1_000));
  }, 60_000);
});
