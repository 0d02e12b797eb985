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

const TOTAL = 10_000;
let dir: string;
const children = new Set<ChildProcess>();

beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'zmesh-reliable-')); });
afterEach(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all([...children].map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  children.clear();
  rmSync(dir, { recursive: true, force: true });
});

type Msg = { ready?: { routerPort: number; nodeId: string }; enqueued?: true; drained?: true };

function start(config: Record<string, unknown>): { child: ChildProcess; next(key: keyof Msg, timeoutMs?: number): Promise<Msg> } {
  const child = fork(dist('test/fixtures/reliable-proc.js'), [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
