/**
 * Reliable commands under SIGKILL: real processes, real SQLite files, 10,000 commands.
 * The verdict is read from the receiver's database, not from logs: exactly 10,000
 * effects, no duplicate, and in the order the source produced them.
 *
 *   source (store A) --reliable "apply" n=1..10000--> sink (store B: effects table)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dist } from './helpers/paths.js';
import { createLan, type Lan, type LanHost } from './helpers/vlan.js';
import { requireRoot } from './helpers/root.js';

const TOTAL = 10_000;
let dir: string;
const children = new Set<ChildProcess>();

beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'zmesh-reliable-')); });
afterEach(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all([...children].map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  children.clear();
  if (process.env['KEEP_DIRS'] !== '1') rmSync(dir, { recursive: true, force: true });
});

interface Stalled { n: number; seen: number; committed: number; inTransaction: boolean }
type Msg = {
  ready?: { routerPort: number; nodeId: string }; enqueued?: true; drained?: true; subscribed?: true; progress?: number; stalled?: Stalled;
  status?: { loopDelay?: { p99Ms: number; maxMs: number; samples: number } };
};

function start(config: Record<string, unknown>, on?: { lan: Lan; host: LanHost }): { child: ChildProcess; next(key: keyof Msg, timeoutMs?: number): Promise<Msg> } {
  const argv = [dist('test/fixtures/reliable-proc.js'), JSON.stringify(config)];
  const stdio: ['ignore', 'inherit', 'inherit', 'ipc'] = ['ignore', 'inherit', 'inherit', 'ipc'];
  const child = on === undefined ? fork(argv[0]!, argv.slice(1), { stdio }) : on.lan.spawn(on.host, [process.execPath, ...argv], { stdio });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const seen: Msg[] = [];
  child.on('message', (m: Msg) => seen.push(m));
  const next = (key: keyof Msg, timeoutMs = 60_000): Promise<Msg> => new Promise((resolve, reject) => {
    const hit = seen.find((m) => key in m);
    if (hit !== undefined) return resolve(hit);
    const timer = setTimeout(() => reject(new Error(`no ${key} within ${timeoutMs} ms`)), timeoutMs);
    const on = (m: Msg): void => { if (key in m) { clearTimeout(timer); child.off('message', on); resolve(m); } };
    child.on('message', on);
    child.once('exit', () => { clearTimeout(timer); reject(new Error(`exited before ${key}`)); });
  });
  return { child, next };
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

const randomMs = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo));

/** What the sink's database says. */
function verdict(path: string): { count: number; distinct: number; min: number; max: number; outOfOrder: number } {
  const db = new Database(path, { readonly: true });
  try {
    const r = db.prepare('SELECT count(*) AS count, count(DISTINCT n) AS distinct_, min(n) AS min, max(n) AS max FROM effects').get() as { count: number; distinct_: number; min: number; max: number };
    const o = db.prepare('SELECT count(*) AS c FROM effects a JOIN effects b ON b.rowid = (SELECT min(rowid) FROM effects WHERE rowid > a.rowid) WHERE b.n <= a.n').get() as { c: number };
    return { count: r.count, distinct: r.distinct_, min: r.min, max: r.max, outOfOrder: o.c };
  } finally {
    db.close();
  }
}

async function waitForEffects(path: string, n: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let count = 0;
    try {
      const db = new Database(path, { readonly: true });
      count = (db.prepare('SELECT count(*) AS c FROM effects').get() as { c: number }).c;
      db.close();
    } catch {
      // not created yet
    }
    if (count >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${count} of ${n} effects after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('reliable commands', () => {
  it('reliable - the source is killed with SIGKILL 5 times mid-stream: every command takes effect once, in order', async () => {
    const sinkPath = join(dir, 'sink.db');
    const sourcePath = join(dir, 'source.db');
    const sink = start({ role: 'sink', storePath: sinkPath });
    const { ready } = await sink.next('ready');
    const peers = [`tcp://127.0.0.1:${ready!.routerPort}`];
    for (let kills = 0; kills < 5; kills++) {
      const source = start({ role: 'source', storePath: sourcePath, peers, total: TOTAL });
      await source.next('ready');
      await new Promise((r) => setTimeout(r, randomMs(100, 600)));
      await kill(source.child);
    }
    const last = start({ role: 'source', storePath: sourcePath, peers, total: TOTAL });
    await last.next('drained', 90_000);
    await waitForEffects(sinkPath, TOTAL);
    expect(verdict(sinkPath)).toEqual({ count: TOTAL, distinct: TOTAL, min: 1, max: TOTAL, outOfOrder: 0 });
  });

  it('reliable - the sink is killed with SIGKILL 5 times mid-stream: every command takes effect once, in order', async () => {
    const sinkPath = join(dir, 'sink.db');
    const sourcePath = join(dir, 'source.db');
    let sink = start({ role: 'sink', storePath: sinkPath });
    const port = (await sink.next('ready')).ready!.routerPort;
    const source = start({ role: 'source', storePath: sourcePath, peers: [`tcp://127.0.0.1:${port}`], total: TOTAL });
    await source.next('ready');
    for (let kills = 0; kills < 5; kills++) {
      await new Promise((r) => setTimeout(r, randomMs(150, 700)));
      await kill(sink.child);
      sink = start({ role: 'sink', storePath: sinkPath, routerPort: port });
      await sink.next('ready');
    }
    await source.next('drained', 90_000);
    expect(verdict(sinkPath)).toEqual({ count: TOTAL, distinct: TOTAL, min: 1, max: TOTAL, outOfOrder: 0 });
  });
});

describe('reliable commands applied in batches', () => {
  it('reliable - the sink is killed with SIGKILL in the middle of a batch 10 times: what survives is what committed, and every command takes effect once, in order', async () => {
    const sinkPath = join(dir, 'sink.db');
    const sourcePath = join(dir, 'source.db');
    // The sink hangs on these commands, inside its batch transaction, and is killed there.
    const stallAt = Array.from({ length: 10 }, (_, i) => 600 + i * 900);
    let sink = start({ role: 'sink', storePath: sinkPath, stallAt: stallAt[0] });
    const port = (await sink.next('ready')).ready!.routerPort;
    const source = start({ role: 'source', storePath: sourcePath, peers: [`tcp://127.0.0.1:${port}`], total: TOTAL });
    await source.next('ready');
    const stalls: Stalled[] = [];
    for (let i = 0; i < stallAt.length; i++) {
      const { stalled } = await sink.next('stalled');
      stalls.push(stalled!);
      await kill(sink.child);
      // The batch died whole: its earlier commands, applied in savepoints, are gone.
      expect(verdict(sinkPath).count).toBe(stalled!.committed);
      sink = start({ role: 'sink', storePath: sinkPath, routerPort: port, stallAt: stallAt[i + 1] });
      await sink.next('ready');
    }
    await source.next('drained', 90_000);
    expect(verdict(sinkPath)).toEqual({ count: TOTAL, distinct: TOTAL, min: 1, max: TOTAL, outOfOrder: 0 });
    expect(stalls.map((s) => s.n)).toEqual(stallAt);
    // In order: the transaction sees every command before the one it hangs on.
    expect(stalls.every((s) => s.inTransaction && s.seen === s.n - 1)).toBe(true);
    // Mid-batch for real: the transaction held earlier, uncommitted commands when killed.
    expect(stalls.filter((s) => s.seen > s.committed).length).toBeGreaterThan(stallAt.length / 2);
  });
});

describe('reliable commands across a cut link', () => {
  it('reliable - the link between two hosts is cut and restored twice mid-stream: every command takes effect once, in order', async (ctx) => {
    requireRoot(ctx, 'the virtual LAN (network namespaces)');
    //   h1: source ──veth── br0 ──veth── h2: sink      (h2's port is unplugged twice)
    const lan = createLan({ hosts: 2 });
    try {
      const [h1, h2] = lan.hosts as [LanHost, LanHost];
      const sinkPath = join(dir, 'sink.db');
      const sink = start({ role: 'sink', storePath: sinkPath, host: h2.address }, { lan, host: h2 });
      const port = (await sink.next('ready')).ready!.routerPort;
      const source = start({ role: 'source', storePath: join(dir, 'source.db'), host: h1.address, peers: [`tcp://${h2.address}:${port}`], total: TOTAL }, { lan, host: h1 });
      await source.next('ready');
      for (let cut = 0; cut < 2; cut++) {
        await new Promise((r) => setTimeout(r, randomMs(200, 600)));
        lan.cut(h2);
        // Longer than the fixtures' 1 s liveness timeout: the sink is declared down.
        await new Promise((r) => setTimeout(r, 1_500));
        lan.restore(h2);
      }
      await source.next('drained', 90_000);
      expect(verdict(sinkPath)).toEqual({ count: TOTAL, distinct: TOTAL, min: 1, max: TOTAL, outOfOrder: 0 });
    } finally {
      for (const c of children) c.kill('SIGKILL');
      lan.destroy();
    }
  });
});

describe('durable subscriptions', () => {
  it('reliable - a durable subscriber down for the middle third of 10,000 events catches up: each once, in order', async () => {
    //   publisher (event log) --PUB live / $replay--> durable "audit" (effects + progress)
    const pub = start({ role: 'publisher', storePath: join(dir, 'pub.db'), total: TOTAL });
    const port = (await pub.next('ready')).ready!.routerPort;
    const peers = [`tcp://127.0.0.1:${port}`];
    const subPath = join(dir, 'sub.db');
    const progressAt = (n: number): Promise<void> => new Promise((resolve) => {
      const on = (m: Msg): void => { if ((m.progress ?? 0) >= n) { pub.child.off('message', on); resolve(); } };
      pub.child.on('message', on);
    });
    const first = start({ role: 'durable', storePath: subPath, peers });
    await first.next('subscribed');
    await progressAt(TOTAL / 3);
    await kill(first.child);
    await progressAt((2 * TOTAL) / 3);
    const second = start({ role: 'durable', storePath: subPath, peers });
    await second.next('subscribed');
    await pub.next('enqueued', 60_000);
    await waitForEffects(subPath, TOTAL);
    expect(verdict(subPath)).toEqual({ count: TOTAL, distinct: TOTAL, min: 1, max: TOTAL, outOfOrder: 0 });
    // The subscriber acknowledged its progress, so the publisher prunes its log.
    const logSize = (): number => {
      const db = new Database(join(dir, 'pub.db'), { readonly: true });
      try { return db.prepare('SELECT count(*) FROM zmesh_events').pluck().get() as number; } finally { db.close(); }
    };
    const until = Date.now() + 15_000;
    while (logSize() >= TOTAL - 500 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    expect(logSize()).toBeLessThan(TOTAL - 500);
  });
});

describe('durable subscriptions in batches', () => {
  it('reliable - a durable subscriber is killed with SIGKILL 12 times in the middle of its batches, its handler failing now and then: each of 20,000 events applied once, in order', async () => {
    //   publisher (bursts of 100) --PUB live / $replay--> durable "audit", killed and restarted
    const EVENTS = 20_000;
    const pub = start({ role: 'publisher', storePath: join(dir, 'pub.db'), total: EVENTS });
    const peers = [`tcp://127.0.0.1:${(await pub.next('ready')).ready!.routerPort}`];
    const subPath = join(dir, 'sub.db');
    // Every 997th event fails once in each process: a savepoint rolled back mid-batch.
    const durable = (): ReturnType<typeof start> => start({ role: 'durable', storePath: subPath, peers, failEvery: 997 });
    let applied = 0;
    for (let kills = 0; kills < 12; kills++) {
      const sub = durable();
      await sub.next('subscribed');
      // Killed while it applies: live bursts, or the replay pages of its catch-up.
      // Capped below the total: a subscriber that outruns the kills (a fast machine
      // applies on between the wait and the kill) must not leave the wait unmet.
      await waitForEffects(subPath, Math.min(EVENTS - 500, applied + randomMs(300, 1_500)));
      await kill(sub.child);
      applied = verdict(subPath).count;
    }
    expect(applied).toBeLessThanOrEqual(EVENTS);
    const last = durable();
    await last.next('subscribed');
    await pub.next('enqueued', 60_000);
    await waitForEffects(subPath, EVENTS);
    expect(verdict(subPath)).toEqual({ count: EVENTS, distinct: EVENTS, min: 1, max: EVENTS, outOfOrder: 0 });
    const db = new Database(subPath, { readonly: true });
    try {
      expect(db.prepare("SELECT last_seq FROM zmesh_durable WHERE name = 'audit'").pluck().all()).toEqual([EVENTS]);
    } finally {
      db.close();
    }
  }, 120_000);

  it('reliable - a durable subscriber that catches up on 10,000 events and applies 10,000 more live never holds its event loop for a log at a time (event-loop delay p99 under 50 ms)', async () => {
    const EVENTS = 20_000;
    const pub = start({ role: 'publisher', storePath: join(dir, 'pub.db'), total: EVENTS });
    const peers = [`tcp://127.0.0.1:${(await pub.next('ready')).ready!.routerPort}`];
    await new Promise<void>((resolve) => {
      const on = (m: Msg): void => { if ((m.progress ?? 0) >= EVENTS / 2) { pub.child.off('message', on); resolve(); } };
      pub.child.on('message', on);
    });
    const subPath = join(dir, 'sub.db');
    const sub = start({ role: 'durable', storePath: subPath, peers });
    await sub.next('subscribed');
    await pub.next('enqueued', 60_000);
    await waitForEffects(subPath, EVENTS);
    expect(verdict(subPath)).toEqual({ count: EVENTS, distinct: EVENTS, min: 1, max: EVENTS, outOfOrder: 0 });
    sub.child.send({ status: true });
    const { status } = await sub.next('status');
    process.stderr.write(`durable subscriber event-loop delay: ${JSON.stringify(status!.loopDelay)}\n`);
    expect(status!.loopDelay!.samples).toBeGreaterThan(1_000);
    // A regression guard, not the performance claim: applying the 10 000 replayed events
    // in one go holds the loop for hundreds of ms. The 20 ms target is the bench's
    // (reliable-e2e, receiver event-loop delay), measured beside the brokers; on this
    // 2-core VM on a slow day this test's p99 was 18 to 22 ms, so 20 here would flake.
    expect(status!.loopDelay!.p99Ms).toBeLessThan(50);
  }, 90_000);
});

describe('durable subscriptions across publisher restarts', () => {
  it('reliable - the publisher is killed with SIGKILL twice mid-stream: the durable subscriber still gets each event once, in order', async () => {
    const pubPath = join(dir, 'pub.db');
    const subPath = join(dir, 'sub.db');
    let pub = start({ role: 'publisher', storePath: pubPath, total: TOTAL });
    const port = (await pub.next('ready')).ready!.routerPort;
    const sub = start({ role: 'durable', storePath: subPath, peers: [`tcp://127.0.0.1:${port}`] });
    await sub.next('subscribed');
    for (let kills = 0; kills < 2; kills++) {
      await new Promise((r) => setTimeout(r, randomMs(400, 1_000)));
      await kill(pub.child);
      pub = start({ role: 'publisher', storePath: pubPath, total: TOTAL, routerPort: port });
      await pub.next('ready');
    }
    await pub.next('enqueued', 25_000);
    await waitForEffects(subPath, TOTAL, 20_000).catch(async (err: unknown) => {
      // Diagnostics for a failure: the subscriber's own view of its peers and counters.
      sub.child.send({ status: true });
      const status = await new Promise((r) => sub.child.once('message', r));
      process.stderr.write(`durable subscriber stuck: ${JSON.stringify(status)}\n`);
      throw err;
    });
    expect(verdict(subPath)).toEqual({ count: TOTAL, distinct: TOTAL, min: 1, max: TOTAL, outOfOrder: 0 });
  });
});

describe('dead letters', () => {
  it('reliable - a handler that always fails is dead-lettered after maxAttempts; zmesh outbox lists and requeues it', async () => {
    const { createNode } = await import('../transport/index.js');
    const { spawnSync } = await import('node:child_process');
    const zmesh = (...args: string[]) => spawnSync(process.execPath, [dist('nodes/cli/main.js'), ...args], { encoding: 'utf8' });
    let failing = true;
    let attempts = 0;
    const sink = createNode({ insecure: true, service: 'sink', host: '127.0.0.1', discovery: 'static', storePath: join(dir, 'sink.db') });
    sink.handleReliable('fragile', (_p, ctx) => {
      attempts++;
      if (failing) throw new Error('not today');
      ctx.db.prepare('INSERT INTO effects (n) VALUES (1)').run();
    });
    await sink.start();
    sink.db!.exec('CREATE TABLE effects (n INTEGER)');
    const source = createNode({
      insecure: true,
      service: 'source', host: '127.0.0.1', peers: [sink.endpoints.router], storePath: join(dir, 'zmesh.db'),
      reliable: { maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 50 },
    });
    await source.start();
    try {
      await source.send('sink', 'fragile', Buffer.from('payload'));
      const deadline = Date.now() + 20_000;
      let dead: Array<{ method: string; attempts: number; lastError: string }> = [];
      while (dead.length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        const r = zmesh('outbox', 'dead', '--data', dir, '--json');
        expect(r.status).toBe(0);
        dead = JSON.parse(r.stdout) as typeof dead;
      }
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ method: 'fragile', attempts: 3 });
      expect(dead[0]!.lastError).toContain('not today');
      expect(attempts).toBe(3);
      expect(JSON.parse(zmesh('outbox', 'list', '--data', dir, '--json').stdout)).toEqual([]);

      failing = false;
      const retried = zmesh('outbox', 'retry', '--data', dir, '--all');
      expect(retried.stdout).toContain('requeued 1 message(s)');
      // The running node finds the requeued row on its own (outbox poll) and delivers it.
      const until = Date.now() + 20_000;
      while ((sink.db!.prepare('SELECT count(*) FROM effects').pluck().get() as number) < 1 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(sink.db!.prepare('SELECT count(*) FROM effects').pluck().get()).toBe(1);
      expect(JSON.parse(zmesh('outbox', 'list', '--data', dir, '--json').stdout)).toEqual([]);
      expect(JSON.parse(zmesh('outbox', 'dead', '--data', dir, '--json').stdout)).toEqual([]);
      // Bad usage is a clear message and exit 2.
      const bad = zmesh('outbox', 'retry', '--data', dir);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('retry needs --seq N... or --all');
    } finally {
      await source.close();
      await sink.close();
    }
  });
});
