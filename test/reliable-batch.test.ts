/**
 * Reliable commands applied in batches, and acknowledged in batches (proto/README.md
 * section 14.2), checked from the raw side: a DEALER written from the spec sends many
 * commands in one ZeroMQ message, so that the node applies them in one transaction.
 *
 *   raw DEALER --[c1 .. cn in one message]--> node ROUTER: one batch
 *              <--ACK per command, or one ACK with an Ack body (batched_acks)--
 *
 * And the sender's rule for maxAttempts: only the receiver's refusals count, never a
 * timeout (a foreign receiver that stays silent, then refuses once).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, createNode, type MeshNode } from '../transport/index.js';
import { FOREIGN_ID, ForeignPeer } from './helpers/foreign-peer.js';
import { RawDealer, envelope, pb, type Received } from './helpers/raw-peer.js';

const dir = mkdtempSync(join(tmpdir(), 'zmesh-batch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

let ids = 0;
const freshId = (): Buffer => { const b = Buffer.alloc(16); b.writeUInt32BE(++ids); return b; };
const STREAM = 'abcdef0123456789';
const WAIT = { timeout: 10_000, interval: 10 };

/** A node with a store whose reliable "note" handler records each payload in a table;
 *  it throws for the payloads in `failing` (once each). */
async function receiver(failing: Set<string> = new Set()): Promise<{ node: MeshNode; notes(): string[] }> {
  const node = createNode({ insecure: true, service: 'native', host: '127.0.0.1', discovery: 'static', storePath: join(dir, `native-${Math.random()}.db`) });
  node.handleReliable('note', (p, ctx) => {
    const text = Buffer.from(p).toString();
    ctx.db.prepare('INSERT INTO notes (text) VALUES (?)').run(text);
    // After the write: its rollback must take the row with it.
    if (failing.delete(text)) throw new Error(`refusing ${text}`);
  });
  await node.start();
  node.db!.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)');
  cleanup.push(() => node.close());
  return { node, notes: () => node.db!.prepare('SELECT text FROM notes ORDER BY id').pluck().all() as string[] };
}

/** A raw DEALER that said HELLO, with or without batched_acks. */
async function dealerFor(node: MeshNode, batchedAcks: boolean | undefined): Promise<RawDealer> {
  const dealer = new RawDealer(node.endpoints.router);
  cleanup.push(() => dealer.close());
  const hello = pb.Hello.encode({
    nodeId: FOREIGN_ID, service: 'foreign', mesh: 'default', routerPort: 0, pubPort: 9, protocolVersion: 1, heartbeatIntervalMs: 500,
    ...(batchedAcks === undefined ? {} : { batchedAcks }),
  }).finish();
  const id = freshId();
  await dealer.send(envelope({ id, senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.HELLO, payload: hello }));
  expect((await dealer.answerTo(id)).kind).toBe(pb.Kind.WELCOME);
  return dealer;
}

/** Reliable commands seq from..to of one stream, in ONE ZeroMQ message; their ids. */
async function sendRun(dealer: RawDealer, from: number, to: number): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  const sent: Buffer[] = [];
  for (let seq = from; seq <= to; seq++) {
    const id = freshId();
    sent.push(id);
    frames.push(...envelope({
      id, senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.COMMAND, service: 'native', subject: 'note',
      payload: Buffer.from(`n${seq}`), headers: { 'zmesh-stream': STREAM, 'zmesh-seq': String(seq), 'zmesh-prev': String(seq - 1) },
    }));
  }
  await dealer.send(frames);
  return sent;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** Every command id an answer settles: its correlation_id, and an ACK's Ack body. */
function settled(e: Received): string[] {
  if (e.kind !== pb.Kind.ACK || e.payload.byteLength === 0) return [hex(e.correlationId)];
  return [hex(e.correlationId), ...pb.Ack.decode(e.payload).ids.map(hex)];
}
const answersOf = (dealer: RawDealer, kind: number): Received[] => dealer.received.filter((e) => e.kind === kind);
const upTo = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

describe('reliable commands in batches', () => {
  it('batched apply - commands that arrive together commit in one transaction; a peer that did not ask for batched ACKs gets one empty ACK each', async () => {
    const { node, notes } = await receiver();
    for (const hello of [undefined, false]) {
      const dealer = await dealerFor(node, hello);
      const before = node.reliableStats()!.batches.transactions;
      const base = notes().length;
      const sent = await sendRun(dealer, base + 1, base + 40);
      await vi.waitFor(() => expect(answersOf(dealer, pb.Kind.ACK)).toHaveLength(40), WAIT);
      const acks = answersOf(dealer, pb.Kind.ACK);
      expect(acks.every((a) => a.payload.byteLength === 0)).toBe(true);
      expect(acks.map((a) => hex(a.correlationId))).toEqual(sent.map(hex));
      // One transaction held them all.
      expect(node.reliableStats()!.batches.transactions).toBe(before + 1);
      expect(notes()).toEqual(upTo(base + 40));
    }
    expect(node.reliableStats()!.batches.largest).toBe(40);
  });

  it('batched acks - a peer whose HELLO said batched_acks gets one ACK for the batch: correlation_id and the Ack body name every command once', async () => {
    const { node, notes } = await receiver();
    const dealer = await dealerFor(node, true);
    const sent = await sendRun(dealer, 1, 300);
    await vi.waitFor(() => expect(answersOf(dealer, pb.Kind.ACK).flatMap(settled)).toHaveLength(300), WAIT);
    const acks = answersOf(dealer, pb.Kind.ACK);
    expect(acks.length).toBeLessThan(300 / 10);
    expect(acks.flatMap(settled).sort()).toEqual(sent.map(hex).sort());
    expect(notes()).toEqual(upTo(300));
    // A redelivery of the lot is all duplicates: acknowledged again, no second effect.
    dealer.received.length = 0;
    await sendRun(dealer, 1, 300);
    await vi.waitFor(() => expect(answersOf(dealer, pb.Kind.ACK).flatMap(settled)).toHaveLength(300), WAIT);
    expect(notes()).toEqual(upTo(300));
  });

  it('batched apply - one handler throws in the middle of a batch: the others commit, it gets ERROR, the rest of its stream waits, and order holds', async () => {
    const { node, notes } = await receiver(new Set(['n5']));
    const dealer = await dealerFor(node, true);
    const sent = await sendRun(dealer, 1, 10);
    await vi.waitFor(() => expect(answersOf(dealer, pb.Kind.ACK).flatMap(settled).length + answersOf(dealer, pb.Kind.ERROR).length).toBe(10), WAIT);
    expect(answersOf(dealer, pb.Kind.ACK).flatMap(settled).sort()).toEqual(sent.slice(0, 4).map(hex).sort());
    const errors = new Map(answersOf(dealer, pb.Kind.ERROR).map((e) => [hex(e.correlationId), pb.ErrorReply.decode(e.payload).code]));
    expect(errors.get(hex(sent[4]!))).toBe(ErrorCode.HANDLER_FAILED);
    for (const id of sent.slice(5)) expect(errors.get(hex(id))).toBe(ErrorCode.OUT_OF_ORDER);
    // The failed handler's own write went with its savepoint; its neighbours' did not.
    expect(notes()).toEqual(upTo(4));
    expect(node.reliableStats()!.batches).toMatchObject({ transactions: 1, writes: 4, refused: 6 });
    // The sender goes back to its oldest unacknowledged command: all of it applies.
    dealer.received.length = 0;
    await sendRun(dealer, 5, 10);
    await vi.waitFor(() => expect(answersOf(dealer, pb.Kind.ACK).flatMap(settled)).toHaveLength(6), WAIT);
    expect(notes()).toEqual(upTo(10));
  });

  it('batched acks - between two zmesh nodes, 5 000 commands with 1 000 in flight: each applied once, in order, in far fewer transactions than commands', async () => {
    const { node: sink, notes } = await receiver();
    const source = createNode({ insecure: true, service: 'source', host: '127.0.0.1', discovery: 'static', peers: [sink.endpoints.router], storePath: join(dir, `source-${Math.random()}.db`) });
    await source.start();
    cleanup.push(() => source.close());
    await source.waitForService('native');
    const acked = new Promise<void>((resolve) => {
      let n = 0;
      const off = source.on('outbox:acked', (e) => { n += e.count; if (n === 5_000) { off(); resolve(); } });
    });
    await Promise.all(Array.from({ length: 5_000 }, (_, i) => source.send('native', 'note', Buffer.from(`n${i + 1}`))));
    await acked;
    expect(notes()).toEqual(upTo(5_000));
    const batches = sink.reliableStats()!.batches;
    expect(batches.writes).toBe(5_000);
    expect(batches.transactions).toBeLessThan(5_000 / 10);
    // The sender saw batched ACKs: far fewer answers than commands reached it.
    expect(source.stats().received).toBeLessThan(5_000 / 2);
    await vi.waitFor(() => expect(source.reliableStats()!.pending).toBe(0), WAIT);
  });
});

/** A foreign receiver that answers the n-th delivery of a command as `answer(n)` says
 *  ('silent': no answer, so the sender times out), and a source node sending to it. */
async function attemptsPair(maxAttempts: number, answer: (n: number) => 'silent' | 'refuse' | 'ack'): Promise<{ source: MeshNode; deliveries(): number }> {
  const foreign = new ForeignPeer();
  await foreign.start();
  cleanup.push(() => foreign.close());
  let deliveries = 0;
  foreign.onEnvelope = (e) => {
    if (e.kind !== pb.Kind.COMMAND) return undefined;
    const what = answer(++deliveries);
    if (what === 'silent') return undefined;
    if (what === 'ack') return foreign.answer(pb.Kind.ACK, e.id, new Uint8Array(0));
    return foreign.answer(pb.Kind.ERROR, e.id, pb.ErrorReply.encode({ code: ErrorCode.HANDLER_FAILED, message: 'refused', retryable: false }).finish());
  };
  const source = createNode({
    insecure: true, service: 'source', host: '127.0.0.1', discovery: 'static', peers: [foreign.routerEndpoint], storePath: join(dir, `attempts-${Math.random()}.db`),
    reliable: { maxAttempts, ackTimeoutMs: 100, backoffBaseMs: 5, backoffMaxMs: 20 },
  });
  await source.start();
  cleanup.push(() => source.close());
  await source.waitForService('foreign');
  return { source, deliveries: () => deliveries };
}

describe('maxAttempts', () => {
  it('maxAttempts - counts only the receiver\'s refusals: a command that waited through 6 timeouts is not dead-lettered by one handler error', async () => {
    // Silent for the first six deliveries, then one refusal, then ACK.
    const { source, deliveries } = await attemptsPair(2, (n) => (n <= 6 ? 'silent' : n === 7 ? 'refuse' : 'ack'));
    const acked = new Promise<void>((resolve) => { const off = source.on('outbox:acked', () => { off(); resolve(); }); });
    await source.send('foreign', 'note', Buffer.from('patient'));
    await acked;
    expect(deliveries()).toBe(8);
    const db = source.db!;
    expect(db.prepare('SELECT count(*) FROM zmesh_dead_letters').pluck().get()).toBe(0);
    await vi.waitFor(() => expect(source.reliableStats()!.pending).toBe(0), WAIT);
  });

  it('maxAttempts - refusals still count: a handler that always fails is dead-lettered after maxAttempts refusals, timeouts in between or not', async () => {
    // Every other delivery times out; the others are refused.
    const { source, deliveries } = await attemptsPair(3, (n) => (n % 2 === 1 ? 'silent' : 'refuse'));
    await source.send('foreign', 'note', Buffer.from('doomed'));
    const db = source.db!;
    await vi.waitFor(() => expect(db.prepare('SELECT count(*) FROM zmesh_dead_letters').pluck().get()).toBe(1), WAIT);
    expect(db.prepare('SELECT attempts FROM zmesh_dead_letters').pluck().get()).toBe(3);
    expect(deliveries()).toBe(6);
  });
});

describe('commit()', () => {
  it('commit - 200 concurrent commit() blocks share a few transactions; each resolves with its result once committed; one that throws is rolled back alone', async () => {
    const { node, notes } = await receiver();
    const before = node.reliableStats()!.batches.transactions;
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => node.commit((tx) => {
      tx.db.prepare('INSERT INTO notes (text) VALUES (?)').run(`c${i}`);
      if (i === 77) throw new Error('block 77 refuses');
      return i * 2;
    })));
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual(
      Array.from({ length: 200 }, (_, i) => i * 2).filter((v) => v !== 154));
    expect((results[77] as PromiseRejectedResult).reason).toMatchObject({ message: 'block 77 refuses' });
    expect(notes()).toEqual(Array.from({ length: 200 }, (_, i) => `c${i}`).filter((t) => t !== 'c77'));
    const used = node.reliableStats()!.batches.transactions - before;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThan(20);
    // Resolved means committed: another connection sees every row.
    const reader = new Database(node.db!.name, { readonly: true });
    try {
      expect(reader.prepare('SELECT count(*) FROM notes').pluck().get()).toBe(199);
    } finally {
      reader.close();
    }
  });

  it('commit - a block that sends a reliable command: the command leaves only once the block committed, and not at all when it threw', async () => {
    const { node: sink, notes } = await receiver();
    const source = createNode({ insecure: true, service: 'source', host: '127.0.0.1', discovery: 'static', peers: [sink.endpoints.router], storePath: join(dir, `commit-${Math.random()}.db`) });
    await source.start();
    cleanup.push(() => source.close());
    await source.waitForService('native');
    await expect(source.commit((tx) => { tx.send('native', 'note', Buffer.from('never')); throw new Error('no'); })).rejects.toThrow('no');
    await source.commit((tx) => { tx.send('native', 'note', Buffer.from('once')); });
    await vi.waitFor(() => expect(notes()).toEqual(['once']), WAIT);
    await vi.waitFor(() => expect(source.reliableStats()!.pending).toBe(0), WAIT);
  });
});
