/**
 * Large payloads spilled beside the store (transport/store/spill.ts): a reliable event
 * of SPILL_MIN_BYTES or more keeps its bytes in a segment file, its row says where, and
 * the two commit together. Real stores, real files, real nodes, a real SIGKILL.
 */
import { fork } from 'node:child_process';
import { Writable } from 'node:stream';
import pino from 'pino';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, createNode, openStoreAdmin, type MeshEvent, type MeshNode } from '../transport/index.js';
import { StoreError } from '../transport/errors.js';
import { decodeReplayReply, encodeReplayRequest } from '../transport/codec/control.js';
import { answerReplay } from '../transport/reliable/control.js';
import { EVENT_RETENTION, EventLog, type LoggedEvent } from '../transport/reliable/event-log.js';
import { beforeCommit } from '../transport/store/before-commit.js';
import { openStore, type OpenedStore } from '../transport/store/open.js';
import { SPILL_MIN_BYTES, Spill } from '../transport/store/spill.js';
import { dist } from './helpers/paths.js';
import { spillPayload } from './helpers/spill-payload.js';
import { freePort } from './helpers/ports.js';

const BIG = 64 * 1024;
let dir: string;
const cleanup: Array<() => unknown> = [];
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'zmesh-spill-')); });
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  rmSync(dir, { recursive: true, force: true });
});

const segments = (storePath: string): string[] => {
  try {
    return readdirSync(`${storePath}-spill`).sort();
  } catch {
    return [];
  }
};

/** Every event of the log, through the same page() that answers `$replay`. */
function readAll(log: EventLog): LoggedEvent[] {
  return log.page({ after: 0, upTo: Number.MAX_SAFE_INTEGER, prefix: '', maxEvents: Number.MAX_SAFE_INTEGER, maxRows: Number.MAX_SAFE_INTEGER, fits: () => true }).events;
}

function eventLog(store: OpenedStore, spill = store.spill): EventLog {
  return new EventLog(store.db, store.space, { spill }, EVENT_RETENTION, () => undefined);
}

describe('spill', () => {
  it('spill - 64 KiB events reach a durable subscriber that starts later, byte for byte and in order, from the segment files; the rows hold none of it', async () => {
    const storePath = join(dir, 'pub.db');
    const mk = (service: string, o: object = {}): MeshNode => {
      const n = createNode({ insecure: true, service, host: '127.0.0.1', discovery: 'static', maxPayloadBytes: 1 << 20, ...o });
      cleanup.push(() => n.close());
      return n;
    };
    let pub = mk('pub', { storePath });
    await pub.start();
    const small = Buffer.alloc(SPILL_MIN_BYTES - 1, 0x73);
    const sent: Buffer[] = [];
    for (let n = 1; n <= 40; n++) sent.push(n % 10 === 0 ? small : spillPayload(n, BIG));
    await Promise.all(sent.map((p) => pub.publishReliable('big.ev', p)));
    // The publisher restarts on its store: old segments stay readable, new bytes go to a new one.
    await pub.close();
    expect(segments(storePath)).toEqual(['0000000001.seg']);
    pub = mk('pub', { storePath });
    await pub.start();
    for (let n = 41; n <= 50; n++) sent.push(spillPayload(n, BIG));
    await Promise.all(sent.slice(40).map((p) => pub.publishReliable('big.ev', p)));
    expect(segments(storePath)).toEqual(['0000000001.seg', '0000000002.seg']);
    const inRows = pub.db!.prepare('SELECT sum(length(payload)) FROM zmesh_events').pluck().get() as number;
    expect(inRows).toBe(4 * small.byteLength); // the small ones only
    expect(statSync(`${storePath}-spill/0000000001.seg`).size).toBe(36 * BIG);

    const sub = mk('sub', { peers: [pub.endpoints.router], storePath: join(dir, 'sub.db') });
    await sub.start();
    const got: Buffer[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => { done = r; });
    await sub.subscribeDurable('late', 'big.', (e: MeshEvent) => {
      got.push(Buffer.from(e.payload));
      if (got.length === sent.length) done();
    });
    await all;
    expect(got.length).toBe(sent.length);
    for (let i = 0; i < sent.length; i++) expect(got[i]!.equals(sent[i]!), `event ${i + 1}`).toBe(true);
  });

  it('spill - 64 KiB reliable commands reach the handler byte for byte and in order across a sender restart; a dead letter requeued by the operator tool keeps its bytes; segments go once all is acknowledged', async () => {
    const sourcePath = join(dir, 'source.db');
    const mk = (service: string, o: object): MeshNode => {
      const n = createNode({ insecure: true, service, host: '127.0.0.1', discovery: 'static', maxPayloadBytes: 1 << 20, ...o });
      cleanup.push(() => n.close());
      return n;
    };
    // Sent while the sink is not there yet: the rows wait in the outbox, then the
    // source restarts, so what it delivers is read back from its store.
    const sinkPort = await freePort();
    let source = mk('source', { storePath: sourcePath, peers: [`tcp://127.0.0.1:${sinkPort}`] });
    await source.start();
    const sent: Buffer[] = [];
    for (let n = 1; n <= 30; n++) sent.push(n % 10 === 0 ? Buffer.from(`small ${n}`) : spillPayload(n, BIG));
    await Promise.all(sent.map((p) => source.send('sink', 'apply', p)));
    await source.close();
    expect(segments(sourcePath)).toEqual(['0000000001.seg']);

    const got: Buffer[] = [];
    let refuse = 7; // the handler refuses command 7 until the test says otherwise
    const sink = mk('sink', { routerPort: sinkPort, storePath: join(dir, 'sink.db'), reliable: { maxAttempts: 1 } });
    sink.handleReliable('apply', (p) => {
      const b = Buffer.from(p);
      if (b.byteLength === BIG && Number(b.readBigUInt64BE(0)) === refuse) throw new Error('not now');
      got.push(b);
    });
    await sink.start();
    source = mk('source', { storePath: sourcePath, peers: [`tcp://127.0.0.1:${sinkPort}`], reliable: { maxAttempts: 1 } });
    await source.start();
    await vi.waitFor(() => expect(source.reliableStats()!.deadLettered).toBe(1), { timeout: 20_000, interval: 20 });
    await vi.waitFor(() => expect(source.reliableStats()!.pending).toBe(0), { timeout: 20_000, interval: 20 });
    expect(got.length).toBe(29);
    // The operator requeues it from beside the running node; its bytes stay where they were.
    refuse = 0;
    const admin = openStoreAdmin(sourcePath);
    expect(admin.dead()[0]!.bytes).toBe(BIG);
    expect(admin.retry('all')).toBe(1);
    admin.close();
    await vi.waitFor(() => expect(got.length).toBe(30), { timeout: 20_000, interval: 20 });
    const expected = [...sent.slice(0, 6), ...sent.slice(7), sent[6]!];
    for (let i = 0; i < expected.length; i++) expect(got[i]!.equals(expected[i]!), `command ${i + 1}`).toBe(true);
    await vi.waitFor(() => expect(source.reliableStats()!.pending).toBe(0), { timeout: 20_000, interval: 20 });
    // Everything acknowledged: at the next start no row points into the old segment.
    await source.close();
    source = mk('source', { storePath: sourcePath });
    await source.start();
    expect(segments(sourcePath)).toEqual([]);
  });

  it('spill - a rolled-back transaction leaves no row and its bytes unreferenced; pruning unlinks the segments no row points into, never the one being written', () => {
    const store = openStore(join(dir, 'log.db'));
    cleanup.push(() => store.close());
    // Small segments, so that a few events span several.
    const spill = new Spill(join(dir, 'small'), 'full', 3 * BIG);
    beforeCommit(store.db, () => spill.sync());
    cleanup.push(() => spill.close());
    const log = eventLog(store, spill);
    const id = (n: number): Buffer => Buffer.alloc(16, n);
    store.db.transaction(() => { for (let n = 1; n <= 7; n++) log.insert('t', id(n), spillPayload(n, BIG), undefined); })();
    expect(() => store.db.transaction(() => {
      log.insert('t', id(8), spillPayload(8, BIG), undefined);
      throw new Error('handler failed');
    })()).toThrow('handler failed');
    store.db.transaction(() => { log.insert('t', id(9), spillPayload(9, BIG), undefined); })();
    const events = readAll(log);
    expect(events.map((e) => e.payload.readBigUInt64BE(0))).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 9n]);
    for (const e of events) expect(e.payload.equals(spillPayload(Number(e.payload.readBigUInt64BE(0)), BIG))).toBe(true);
    // 7 events, 3 a segment: 1-3, 4-6, 7 then 8 (rolled back) and 9 in the third.
    expect(readdirSync(`${join(dir, 'small')}-spill`).sort()).toEqual(['0000000001.seg', '0000000002.seg', '0000000003.seg']);
    // A subscriber acknowledged 1..4: segment 1 holds nothing live, segment 2 still holds 5 and 6.
    log.acknowledge('', 'sub', 4);
    log.prune();
    expect(readdirSync(`${join(dir, 'small')}-spill`).sort()).toEqual(['0000000002.seg', '0000000003.seg']);
    expect(readAll(log).map((e) => e.payload.readBigUInt64BE(0))).toEqual([5n, 6n, 7n, 9n]);
    // Everything acknowledged: the current segment stays (it is being written), the rest goes.
    log.acknowledge('', 'sub', 100);
    log.prune();
    expect(readdirSync(`${join(dir, 'small')}-spill`)).toEqual(['0000000003.seg']);
    expect(readAll(log)).toEqual([]);
  });

  it('spill - the sync runs inside the outermost transaction, before COMMIT, not in savepoints; a failing sync rolls the transaction back', () => {
    const store = openStore(join(dir, 'hooks.db'));
    cleanup.push(() => store.close());
    store.db.exec('CREATE TABLE t (x INTEGER)');
    const seen: boolean[] = [];
    let fail = false;
    beforeCommit(store.db, () => {
      seen.push(store.db.inTransaction);
      if (fail) throw new Error('sync failed');
    });
    const insert = store.db.prepare('INSERT INTO t VALUES (?)');
    const inner = store.db.transaction((x: number) => insert.run(x));
    store.db.transaction(() => { inner(1); inner(2); }).immediate();
    expect(seen).toEqual([true]);
    fail = true;
    expect(() => store.db.transaction(() => { inner(3); })()).toThrow('sync failed');
    expect(store.db.prepare('SELECT x FROM t ORDER BY x').pluck().all()).toEqual([1, 2]);
  });

  it('spill - a store whose -spill directory is missing or cut short is refused at open, naming the segment, with nothing changed; put back, it opens with every event intact', () => {
    const path = join(dir, 'moved.db');
    const store = openStore(path);
    const log = eventLog(store);
    store.db.transaction(() => { for (let n = 1; n <= 3; n++) log.insert('t', Buffer.alloc(16, n), spillPayload(n, BIG), undefined); })();
    store.close();
    const seg = `${path}-spill/0000000001.seg`;
    const whole = readFileSync(seg);
    const refusal = (): StoreError => {
      try {
        openStore(path).close();
      } catch (e) {
        return e as StoreError;
      }
      throw new Error('opened');
    };
    renameSync(`${path}-spill`, `${path}-elsewhere`);
    let err = refusal();
    expect(err).toBeInstanceOf(StoreError);
    expect(err.problem).toBe('corrupt');
    expect(err.message).toMatch(/spill segment 1 .* is missing/);
    expect(existsSync(`${path}-spill`)).toBe(false); // nothing made in its place
    renameSync(`${path}-elsewhere`, `${path}-spill`);
    truncateSync(seg, 2 * BIG + 100);
    err = refusal();
    expect(err.problem).toBe('corrupt');
    expect(err.message).toContain('cut short');
    expect(statSync(seg).size).toBe(2 * BIG + 100);
    writeFileSync(seg, whole);
    const again = openStore(path);
    cleanup.push(() => again.close());
    expect(readAll(eventLog(again)).map((e) => e.payload.equals(spillPayload(Number(e.payload.readBigUInt64BE(0)), BIG)))).toEqual([true, true, true]);
  });

  it('spill - durability os: a flipped byte is a corrupt error naming the segment, never wrong bytes, and the row stays; a damaged command is dead-lettered with the reason and the rest of its stream delivered', async () => {
    const path = join(dir, 'os.db');
    const store = openStore(path, { durability: 'os' });
    const log = eventLog(store);
    store.db.transaction(() => { for (let n = 1; n <= 3; n++) log.insert('t', Buffer.alloc(16, n), spillPayload(n, BIG), undefined); })();
    store.close();
    const flip = (file: string, at: number): void => {
      const bytes = readFileSync(file);
      bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
      writeFileSync(file, bytes);
    };
    flip(`${path}-spill/0000000001.seg`, BIG + 5);
    const again = openStore(path, { durability: 'os' });
    const log2 = eventLog(again);
    // The page says which event is damaged, and why, instead of serving wrong bytes
    // or failing as a whole (proto/README.md section 15.2).
    const read = readAll(log2);
    expect(read.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(read[1]!.payload.byteLength).toBe(0);
    expect(read[1]!.damaged).toContain('0000000001.seg');
    expect(read[1]!.damaged).toContain('CRC');
    expect(read[0]!.damaged).toBeUndefined();
    expect(read[0]!.payload.equals(spillPayload(1, BIG))).toBe(true);
    expect(read[2]!.payload.equals(spillPayload(3, BIG))).toBe(true);
    // An asker of an earlier revision (no takes_damaged) gets the events before it,
    // then a corrupt error naming it, as before the field.
    const publishing = { storeId: 'ffeeddccbbaa9988', nodeId: 'pub-1', service: 'pub', events: log2 };
    const old = decodeReplayReply(answerReplay(publishing, encodeReplayRequest({ known: {}, prefix: '', max: 10, subscriber: '', maxBytes: 0, boundedScan: true })).reply)!;
    expect(old.events.map((e) => e.seq)).toEqual([1]);
    expect(old).toMatchObject({ scanned: 1, more: false, head: 3 });
    const err = (() => { try { answerReplay(publishing, encodeReplayRequest({ known: { [publishing.storeId]: 1 }, prefix: '', max: 10, subscriber: '', maxBytes: 0, boundedScan: true })); } catch (e) { return e; } return undefined; })();
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).problem).toBe('corrupt');
    expect((err as Error).message).toContain('CRC');
    const told = decodeReplayReply(answerReplay(publishing, encodeReplayRequest({ known: {}, prefix: '', max: 10, subscriber: '', maxBytes: 0, boundedScan: true, takesDamaged: true })).reply)!;
    expect(told.events.map((e) => [e.seq, e.damaged === undefined, e.payload.byteLength])).toEqual([[1, true, BIG], [2, false, 0], [3, true, BIG]]);
    expect(again.db.prepare('SELECT count(*) FROM zmesh_events').pluck().get()).toBe(3);
    again.close();

    // Commands 1..5 wait in a sender's outbox; command 3's bytes get damaged.
    const sourcePath = join(dir, 'os-source.db');
    const sinkPort = await freePort();
    const mk = (service: string, o: object): MeshNode => {
      const n = createNode({ insecure: true, service, host: '127.0.0.1', discovery: 'static', maxPayloadBytes: 1 << 20, reliable: { durability: 'os' }, ...o });
      cleanup.push(() => n.close());
      return n;
    };
    let source = mk('source', { storePath: sourcePath, peers: [`tcp://127.0.0.1:${sinkPort}`] });
    await source.start();
    await Promise.all([1, 2, 3, 4, 5].map((n) => source.send('sink', 'apply', spillPayload(n, BIG))));
    await source.close();
    flip(`${sourcePath}-spill/0000000001.seg`, 2 * BIG + 9);
    const got: number[] = [];
    const sink = mk('sink', { routerPort: sinkPort, storePath: join(dir, 'os-sink.db') });
    sink.handleReliable('apply', (p) => {
      const b = Buffer.from(p);
      expect(b.equals(spillPayload(Number(b.readBigUInt64BE(0)), BIG))).toBe(true);
      got.push(Number(b.readBigUInt64BE(0)));
    });
    await sink.start();
    source = mk('source', { storePath: sourcePath, peers: [`tcp://127.0.0.1:${sinkPort}`] });
    await source.start();
    await vi.waitFor(() => expect(got).toEqual([1, 2, 4, 5]), { timeout: 20_000, interval: 20 });
    expect(source.reliableStats()!.deadLettered).toBe(1);
    await source.close();
    const admin = openStoreAdmin(sourcePath);
    try {
      const [dead] = admin.dead();
      expect(dead).toMatchObject({ streamSeq: 3, bytes: BIG });
      expect(dead!.lastError).toContain('CRC');
    } finally {
      admin.close();
    }
  });

  it('spill - durability os: a durable subscriber moves past an event whose spilled payload is damaged, reports it lost once, and gets every other event in order, live ones after it too; the publisher keeps the row', async () => {
    const storePath = join(dir, 'pub-os.db');
    const port = await freePort();
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } }));
    const mk = (service: string, o: object): MeshNode => {
      const n = createNode({ insecure: true, service, host: '127.0.0.1', discovery: 'static', maxPayloadBytes: 1 << 20, reliable: { durability: 'os' }, ...o }, { logger });
      cleanup.push(() => n.close());
      return n;
    };
    let pub = mk('pub', { storePath, routerPort: port });
    await pub.start();
    // Events 1..6: the even ones are spilled, in segment 1 in that order.
    const sent = [1, 2, 3, 4, 5, 6].map((n) => (n % 2 === 0 ? spillPayload(n, BIG) : Buffer.from(`small ${n}`)));
    for (const p of sent) await pub.publishReliable('a.ev', p);
    await pub.close();
    const seg = `${storePath}-spill/0000000001.seg`;
    const bytes = readFileSync(seg);
    bytes.writeUInt8(bytes.readUInt8(BIG + 77) ^ 0xff, BIG + 77); // event 4, the second spilled
    writeFileSync(seg, bytes);

    pub = mk('pub', { storePath, routerPort: port });
    await pub.start();
    const sub = mk('sub', { storePath: join(dir, 'sub-os.db'), peers: [`tcp://127.0.0.1:${port}`] });
    const lost: Array<{ seq: number; subscription: string | undefined; reason: string; stream: string }> = [];
    sub.on('event:lost', (e) => lost.push(e));
    await sub.start();
    const got: number[] = [];
    await sub.subscribeDurable('audit', 'a.', (e: MeshEvent) => {
      const i = e.seq - 1;
      expect(Buffer.from(e.payload).equals(sent[i]!)).toBe(true);
      got.push(e.seq);
    });
    await vi.waitFor(() => expect(got).toEqual([1, 2, 3, 5, 6]), { timeout: 20_000, interval: 20 });
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ seq: 4, subscription: 'audit' });
    expect(lost[0]!.reason).toContain('0000000001.seg');
    expect(sub.stats().events.lost).toBe(1);
    // One error line on each side, in the events schema, naming the event.
    const line = (event: string): Array<Record<string, unknown>> => lines.filter((l) => l['event'] === event);
    expect(line('event.lost')).toEqual([expect.objectContaining({ level: 50, schema: 'zmesh.audit.v1', seq: 4, topic: 'a.ev', subscription: 'audit', suppressed: 0, peer: expect.objectContaining({ service: 'pub' }) })]);
    expect(line('event.damaged')).toEqual([expect.objectContaining({ level: 50, seq: 4, count: 1, peer: expect.objectContaining({ service: 'sub' }) })]);
    // And the mesh hears of it in the subscriber's summary (what zmesh top shows red).
    const lostInSummary: number[] = [];
    const watching = await pub.watchSummaries((s) => { if (s.service === 'sub') lostInSummary.push(s.eventsLost); });
    await vi.waitFor(() => expect(lostInSummary.at(-1)).toBe(1), { timeout: 10_000, interval: 50 });
    watching.unsubscribe();
    // Progress stands past it: a live event applies at once, and the damaged event is
    // never asked for again (the once-a-second poll runs meanwhile).
    sent.push(Buffer.from('small 7'));
    await pub.publishReliable('a.ev', sent[6]!);
    await vi.waitFor(() => expect(got.at(-1)).toBe(7), { timeout: 10_000, interval: 20 });
    const progress = sub.db!.prepare("SELECT last_seq FROM zmesh_durable WHERE name = 'audit'").pluck().get();
    expect(progress).toBe(7);
    expect(lost).toHaveLength(1);
    // The publisher deleted nothing: the row is there, damaged as it was.
    expect(pub.db!.prepare('SELECT count(*) FROM zmesh_events').pluck().get()).toBe(7);
    expect(readFileSync(seg).equals(bytes)).toBe(true);
  });

  it('spill - a publisher of 64 KiB events SIGKILLed 5 times: every event whose publishReliable resolved is there, byte for byte, numbered without a gap', async () => {
    const storePath = join(dir, 'crash.db');
    let reported = 0;
    for (let round = 1; round <= 5; round++) {
      const child = fork(dist('test/fixtures/spill-proc.js'), [JSON.stringify({ storePath, size: BIG, window: 50 })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      cleanup.push(() => child.kill('SIGKILL'));
      // Killed a random number of resolutions into the round, with 50 still in flight.
      const killAt = reported + 100 + Math.floor(Math.random() * 200);
      await new Promise<void>((resolve, reject) => {
        child.on('message', (m: { resolved?: number; error?: string }) => {
          if (m.error !== undefined) reject(new Error(m.error));
          if (m.resolved === undefined) return;
          reported = Math.max(reported, m.resolved);
          if (reported >= killAt) {
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.on('exit', (code, signal) => { if (signal !== 'SIGKILL') reject(new Error(`spill-proc exited ${code}`)); });
      });
      await new Promise<void>((r) => { if (child.exitCode !== null || child.signalCode !== null) r(); else child.on('exit', () => r()); });
    }
    const store = openStore(storePath);
    cleanup.push(() => store.close());
    const events = readAll(eventLog(store));
    expect(events.length).toBeGreaterThanOrEqual(reported);
    events.forEach((e, i) => {
      expect(e.payload.readBigUInt64BE(0)).toBe(BigInt(i + 1));
      expect(e.payload.equals(spillPayload(i + 1, BIG)), `event ${i + 1}`).toBe(true);
    });
    // One segment per run: a restarted node never writes after bytes of unknown state.
    expect(segments(storePath).length).toBe(5);
  }, 120_000);

  it('spill - a full disk refuses a 64 KiB event with STORE_FULL and stores none of it; once space is back it is published and read back intact', async ({ skip }) => {
    const { mountTmpfs } = await import('./helpers/tmpfs.js');
    const tmpfs = mountTmpfs(2048);
    if ('skip' in tmpfs) return skip(tmpfs.skip);
    const node = createNode({ insecure: true, service: 'full', host: '127.0.0.1', discovery: 'static', storePath: join(tmpfs.dir, 'full.db'), maxPayloadBytes: 1 << 20 });
    try {
      await node.start();
      await node.publishReliable('big.ev', spillPayload(1, BIG));
      tmpfs.fill();
      const refused = await node.publishReliable('big.ev', spillPayload(2, BIG)).then(() => undefined, (e: { code?: string }) => e);
      expect(refused?.code).toBe(ErrorCode.STORE_FULL);
      expect(node.db!.prepare('SELECT count(*) FROM zmesh_events').pluck().get()).toBe(1);
      tmpfs.release();
      await node.publishReliable('big.ev', spillPayload(2, BIG));
      await node.close();
      const store = openStore(join(tmpfs.dir, 'full.db'));
      try {
        const events = readAll(eventLog(store));
        expect(events.map((e) => e.payload.equals(spillPayload(Number(e.payload.readBigUInt64BE(0)), BIG)))).toEqual([true, true]);
        expect(events.map((e) => e.payload.readBigUInt64BE(0))).toEqual([1n, 2n]);
      } finally {
        store.close();
      }
    } finally {
      await node.close();
      tmpfs.unmount();
    }
  });
});
