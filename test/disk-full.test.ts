/**
 * Disk full (issue 12, finding 6), on a real tmpfs filled to the last byte while
 * reliable commands flow between two nodes. Disk full is a condition of the node, not
 * of the message: deliveries are held without burning attempts, the node warns and
 * says so in its stats, and everything resumes by itself once space is back.
 *
 *   source (store on local disk) --reliable 'apply'--> sink (store on the tmpfs)
 *   source (store on the tmpfs)  --reliable 'apply'--> sink (store on local disk)
 *   publisher (local disk)       --reliable events---> durable subscriber (tmpfs)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, createNode, type MeshNode, type NodeOptions } from '../transport/index.js';
import { mountTmpfs } from './helpers/tmpfs.js';

/** The store, its WAL and -shm, and room to grow: the filler takes the rest. */
const TMPFS_KIB = 4096;
const MAX_ATTEMPTS = 2;
const WAIT = { timeout: 30_000, interval: 20 };

interface Captured { logger: Logger; count(msg: string, level?: number): number }

/** A logger that keeps every line, to look for the warnings. */
function captured(): Captured {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as { level: number; msg: string }); } });
  return { logger, count: (msg, level = 40) => lines.filter((l) => l.level === level && l.msg.includes(msg)).length };
}

function meshNode(o: Partial<NodeOptions>, logger: Logger): MeshNode {
  return createNode({ insecure: true, service: 'sink', host: '127.0.0.1', discovery: 'static', ...o }, { logger });
}

/** The sink's effects table and handler: one row per command, in arrival order.
 *  `before(n)` runs first in the handler of command n. */
function serveSink(sink: MeshNode, before: (n: number) => void = () => undefined): () => number[] {
  sink.db!.exec('CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
  sink.handleReliable('apply', (p, ctx) => {
    const n = Number(Buffer.from(p).toString());
    before(n);
    ctx.db.prepare('INSERT INTO effects (n) VALUES (?)').run(n);
  });
  return () => sink.db!.prepare('SELECT n FROM effects ORDER BY id').pluck().all() as number[];
}

const count = (node: MeshNode, sql: string): number => node.db!.prepare(sql).pluck().get() as number;
const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('disk full', () => {
  it('disk full - a receiver out of space holds reliable commands without burning attempts, warns, and resumes by itself', async ({ skip }) => {
    const tmpfs = mountTmpfs(TMPFS_KIB);
    if ('skip' in tmpfs) return skip(tmpfs.skip);
    const local = mkdtempSync(join(tmpdir(), 'zmesh-disk-full-'));
    const sinkLog = captured();
    const sourceLog = captured();
    let sink: MeshNode | undefined;
    let source: MeshNode | undefined;
    try {
      sink = meshNode({ storePath: join(tmpfs.dir, 'sink.db') }, sinkLog.logger);
      await sink.start();
      // The disk fills in the middle of the stream: as command FILL_AT is being
      // applied, with the commands after it in flight.
      const FILL_AT = 40;
      let filled = 0;
      const effects = serveSink(sink, (n) => { if (n === FILL_AT && filled === 0) filled = tmpfs.fill(); });
      source = meshNode({
        service: 'source', storePath: join(local, 'source.db'), peers: [sink.endpoints.router],
        reliable: { maxAttempts: MAX_ATTEMPTS, backoffBaseMs: 10, backoffMaxMs: 200 },
      }, sourceLog.logger);
      await source.start();
      await source.waitForService('sink');
      let sent = 0;
      const send = (k: number): Promise<unknown> => Promise.all(Array.from({ length: k }, () => source!.send('sink', 'apply', Buffer.from(String(++sent)))));

      await send(10);
      await vi.waitFor(() => expect(effects()).toHaveLength(10), WAIT);
      await send(90);

      // Held: the sink refuses the batch holding command FILL_AT (and, alone, each
      // command after, as out of order or for want of space)
      // round after round, the source probing with one command at a time, many more
      // rounds than maxAttempts; nothing is counted.
      const afterFill = 100 - FILL_AT + 1;
      await vi.waitFor(() => expect(sink!.stats().handled.failed).toBeGreaterThan(afterFill + 3 * MAX_ATTEMPTS), WAIT);
      // Rounds, not commands: each probe is a write that fails at the sink.
      await vi.waitFor(() => expect(sink!.reliableStats()!.store.diskFullErrors).toBeGreaterThan(3 * MAX_ATTEMPTS), WAIT);
      expect(filled).toBeGreaterThan(0);
      expect(count(source, 'SELECT count(*) FROM zmesh_dead_letters')).toBe(0);
      expect(count(source, 'SELECT coalesce(max(attempts), 0) FROM zmesh_outbox')).toBe(0);
      // Commands are applied in batches (one transaction each): the batch that held
      // FILL_AT rolled back whole, so what stands is an unbroken prefix before it.
      const stood = effects();
      expect(stood).toEqual(upTo(stood.length));
      expect(stood.length).toBeGreaterThanOrEqual(10);
      expect(stood.length).toBeLessThan(FILL_AT);
      await vi.waitFor(() => expect(source!.reliableStats()!.held).toBeGreaterThan(3 * MAX_ATTEMPTS), WAIT);
      expect(count(source, `SELECT count(*) FROM zmesh_outbox WHERE last_error LIKE '${ErrorCode.STORE_FULL}%'`)).toBe(1);
      expect(sink.reliableStats()!.store).toMatchObject({ diskFull: true });
      expect(sink.reliableStats()!.store.diskFullErrors).toBeGreaterThan(3 * MAX_ATTEMPTS);
      expect(sinkLog.count('store is full')).toBeGreaterThan(0);
      expect(sourceLog.count('reliable commands held')).toBeGreaterThan(0);

      // Space is back: nobody does anything, and everything arrives, once, in order.
      tmpfs.release();
      await vi.waitFor(() => expect(effects()).toHaveLength(100), WAIT);
      expect(effects()).toEqual(upTo(100));
      await vi.waitFor(() => expect(source!.reliableStats()!.pending).toBe(0), WAIT);
      expect(count(source, 'SELECT count(*) FROM zmesh_dead_letters')).toBe(0);
      expect(sink.reliableStats()!.store.diskFull).toBe(false);
      expect(sinkLog.count('store has room again', 30)).toBeGreaterThanOrEqual(1);
    } finally {
      await source?.close();
      await sink?.close();
      tmpfs.unmount();
      rmSync(local, { recursive: true, force: true });
    }
  });

  it('disk full - a sender out of space loses nothing: sends are refused with STORE_FULL, acknowledged rows wait, and it resumes by itself', async ({ skip }) => {
    const tmpfs = mountTmpfs(TMPFS_KIB);
    if ('skip' in tmpfs) return skip(tmpfs.skip);
    const local = mkdtempSync(join(tmpdir(), 'zmesh-disk-full-'));
    const sinkLog = captured();
    const sourceLog = captured();
    const sinkStore = join(local, 'sink.db');
    let sink: MeshNode | undefined;
    let source: MeshNode | undefined;
    try {
      // The sink's port, then the sink away: the source's commands wait in its outbox.
      const first = meshNode({ storePath: sinkStore }, sinkLog.logger);
      await first.start();
      const port = first.endpoints.routerPort;
      await first.close();
      source = meshNode({
        service: 'source', storePath: join(tmpfs.dir, 'source.db'), peers: [`tcp://127.0.0.1:${port}`],
        reliable: { maxAttempts: MAX_ATTEMPTS, backoffBaseMs: 10, backoffMaxMs: 200 },
      }, sourceLog.logger);
      await source.start();
      for (let i = 1; i <= 50; i++) await source.send('sink', 'apply', Buffer.from(String(i)));
      expect(source.reliableStats()!.pending).toBe(50);

      expect(tmpfs.fill()).toBeGreaterThan(0);
      const refused = await source.send('sink', 'apply', Buffer.from('refused')).then(() => undefined, (e: unknown) => e);
      expect(refused).toMatchObject({ code: ErrorCode.STORE_FULL, retryable: true });
      expect(source.reliableStats()!.store.diskFull).toBe(true);
      expect(sourceLog.count('store is full')).toBeGreaterThan(0);

      // The sink comes up and takes all 50. The source cannot delete the acknowledged
      // rows: they stay, are not sent again, and nothing is dead-lettered.
      sink = meshNode({ storePath: sinkStore, routerPort: port }, sinkLog.logger);
      await sink.start();
      const effects = serveSink(sink);
      await vi.waitFor(() => expect(effects()).toHaveLength(50), WAIT);
      await vi.waitFor(() => expect(sourceLog.count('removing acknowledged commands failed')).toBeGreaterThan(0), WAIT);
      expect(source.reliableStats()).toMatchObject({ pending: 50, store: { diskFull: true } });
      expect(sink.stats().handled).toMatchObject({ ok: 50, failed: 0 });
      expect(count(source, 'SELECT count(*) FROM zmesh_dead_letters')).toBe(0);

      // Space is back: the rows go by themselves, and new sends are taken again.
      tmpfs.release();
      await vi.waitFor(() => expect(source!.reliableStats()!.pending).toBe(0), WAIT);
      expect(source.reliableStats()!.store.diskFull).toBe(false);
      for (let i = 51; i <= 60; i++) await source.send('sink', 'apply', Buffer.from(String(i)));
      await vi.waitFor(() => expect(effects()).toHaveLength(60), WAIT);
      expect(effects()).toEqual(upTo(60));
      expect(count(source, 'SELECT count(*) FROM zmesh_dead_letters')).toBe(0);
    } finally {
      await source?.close();
      await sink?.close();
      tmpfs.unmount();
      rmSync(local, { recursive: true, force: true });
    }
  });

  it('disk full - a durable subscriber out of space holds its events, warns, and applies each once, in order, when space is back', async ({ skip }) => {
    const tmpfs = mountTmpfs(TMPFS_KIB);
    if ('skip' in tmpfs) return skip(tmpfs.skip);
    const local = mkdtempSync(join(tmpdir(), 'zmesh-disk-full-'));
    const subLog = captured();
    let pub: MeshNode | undefined;
    let sub: MeshNode | undefined;
    try {
      pub = meshNode({ service: 'pub', storePath: join(local, 'pub.db') }, captured().logger);
      await pub.start();
      sub = meshNode({ service: 'sub', storePath: join(tmpfs.dir, 'sub.db'), peers: [pub.endpoints.router] }, subLog.logger);
      await sub.start();
      sub.db!.exec('CREATE TABLE effects (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
      const effects = (): number[] => sub!.db!.prepare('SELECT n FROM effects ORDER BY id').pluck().all() as number[];
      // The disk fills while event FILL_AT is applied, in the middle of its batch.
      const FILL_AT = 40;
      let filled = 0;
      await sub.subscribeDurable('audit', 'ev.', (e, tx) => {
        const n = Number(Buffer.from(e.payload).toString());
        if (n === FILL_AT && filled === 0) filled = tmpfs.fill();
        tx.db.prepare('INSERT INTO effects (n) VALUES (?)').run(n);
      });
      await pub.waitForService('sub');
      const publish = (from: number, to: number): Promise<unknown> => Promise.all(upTo(to).slice(from - 1).map((n) => pub!.publishReliable('ev.n', Buffer.from(String(n)))));
      await publish(1, 10);
      await vi.waitFor(() => expect(effects()).toEqual(upTo(10)), WAIT);
      await publish(11, 100);

      // Held: try after try (live, then the subscription's poll) fails for want of
      // space, and what committed before stays a prefix, with its progress.
      await vi.waitFor(() => expect(sub!.reliableStats()!.store.diskFullErrors).toBeGreaterThan(2), WAIT);
      expect(filled).toBeGreaterThan(0);
      const held = effects();
      expect(held).toEqual(upTo(held.length));
      expect(held.length).toBeLessThan(FILL_AT);
      expect(sub.db!.prepare("SELECT last_seq FROM zmesh_durable WHERE name = 'audit'").pluck().get()).toBe(held.length);
      expect(sub.reliableStats()!.store.diskFull).toBe(true);
      expect(subLog.count('store is full')).toBeGreaterThan(0);

      // Space is back: the next poll applies everything, once, in order.
      tmpfs.release();
      await vi.waitFor(() => expect(effects()).toHaveLength(100), WAIT);
      expect(effects()).toEqual(upTo(100));
      expect(sub.reliableStats()!.store.diskFull).toBe(false);
    } finally {
      await sub?.close();
      await pub?.close();
      tmpfs.unmount();
      rmSync(local, { recursive: true, force: true });
    }
  });
});
