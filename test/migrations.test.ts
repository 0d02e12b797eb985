/**
 * The `migrations` option (issue 14, finding 7): a service's tables exist before its
 * handlers can run, and a migration that fails leaves nothing running. Real nodes on
 * 127.0.0.1, real SQLite files in temp directories.
 *
 *   shop (outbox: place o-1, before orders exists) <- hello -- orders (peers: [shop])
 *   orders starts: store opened, migrations applied, THEN its ROUTER binds; the
 *   command waiting in shop's outbox is the first message orders' handler sees.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidArgumentError, StoreError, createNode, openStoreAdmin, type MeshNode, type Migration, type NodeOptions } from '../transport/index.js';
import { freePort } from './helpers/ports.js';

const dirs: string[] = [];
const nodes: MeshNode[] = [];

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function store(): string {
  const d = mkdtempSync(join(tmpdir(), 'zmesh-migrations-'));
  dirs.push(d);
  return join(d, 'zmesh.db');
}

function node(o: Partial<NodeOptions> & { service: string }): MeshNode {
  const n = createNode({ insecure: true, host: '127.0.0.1', discovery: 'static', ...o });
  nodes.push(n);
  return n;
}

async function startFails(n: MeshNode): Promise<StoreError> {
  const err = await n.start().then(() => undefined, (e: unknown) => e);
  expect(err, 'start() must fail').toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(ErrorCode.STORE);
  return err as StoreError;
}

const ORDERS = 'CREATE TABLE orders (id TEXT PRIMARY KEY) STRICT';
const LINES = 'CREATE TABLE order_lines (order_id TEXT NOT NULL, sku TEXT NOT NULL) STRICT';

/** Resolves once something can listen on `port` of 127.0.0.1 again; rejects if not. */
async function canListen(port: number): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  await new Promise((resolve) => server.close(resolve));
}

const appVersion = (n: MeshNode): number =>
  Number((n.db!.prepare("SELECT value FROM zmesh_meta WHERE key = 'app_version'").get() as { value: string } | undefined)?.value ?? 0);

describe('migrations', () => {
  it('migrations - a handler that runs on the first message after start finds its table', async () => {
    const shop = node({ service: 'shop', storePath: store() });
    await shop.start();
    // On disk in shop's outbox before any instance of orders exists.
    await shop.send('orders', 'place', Buffer.from('o-1'));

    const orders = node({ service: 'orders', storePath: store(), peers: [shop.endpoints.router], migrations: [ORDERS] });
    const failures: unknown[] = [];
    orders.handleReliable('place', (payload, ctx) => {
      try {
        ctx.db.prepare('INSERT INTO orders (id) VALUES (?)').run(Buffer.from(payload).toString());
      } catch (err) {
        failures.push(err);
        throw err;
      }
    });
    orders.handle('count', () => {
      const { n } = orders.db!.prepare('SELECT count(*) AS n FROM orders').get() as { n: number };
      return Buffer.from(String(n));
    });
    const acked = new Promise<number>((resolve) => shop.on('outbox:acked', ({ count }) => resolve(count)));
    await orders.start();
    expect(await acked).toBe(1);
    expect(failures).toEqual([]);
    expect(orders.db!.prepare('SELECT id FROM orders').all()).toEqual([{ id: 'o-1' }]);
    // A request on the first contact finds the table too.
    await shop.waitForService('orders', { timeoutMs: 5_000 });
    expect(Buffer.from(await shop.request('orders', 'count', new Uint8Array(0))).toString()).toBe('1');
    expect(appVersion(orders)).toBe(1);
  });

  it('migrations - each step runs once per store, in order; appended steps run at the next start, functions too', async () => {
    const path = store();
    const first = node({ service: 'orders', storePath: path, migrations: [ORDERS] });
    await first.start();
    first.db!.prepare("INSERT INTO orders (id) VALUES ('kept')").run();
    await first.close();

    const ran: number[] = [];
    const steps: Migration[] = [
      ORDERS, // would fail with "table orders already exists" if it ran again
      (db) => { ran.push(2); db.prepare("INSERT INTO orders (id) VALUES ('from-step-2')").run(); },
      LINES,
    ];
    const second = node({ service: 'orders', storePath: path, migrations: steps });
    await second.start();
    expect(ran).toEqual([2]);
    expect(second.db!.prepare('SELECT id FROM orders ORDER BY id').all()).toEqual([{ id: 'from-step-2' }, { id: 'kept' }]);
    expect(second.db!.prepare("SELECT name FROM sqlite_master WHERE name = 'order_lines'").get()).toEqual({ name: 'order_lines' });
    expect(appVersion(second)).toBe(3);
    await second.close();

    const third = node({ service: 'orders', storePath: path, migrations: steps });
    await third.start();
    expect(ran).toEqual([2]);
    expect(appVersion(third)).toBe(3);
  });

  it('migrations - a failing step fails start() with STORE naming the step, rolls back the whole start, and leaves nothing running', async () => {
    const path = store();
    const first = node({ service: 'orders', storePath: path, migrations: [ORDERS] });
    await first.start();
    await first.close();

    const routerPort = await freePort();
    const pubPort = await freePort();
    const broken = node({
      service: 'orders', storePath: path, routerPort, pubPort,
      migrations: [ORDERS, LINES, 'CREATE TABLE order_notes (body TEXT) STRICTLY'],
    });
    const err = await startFails(broken);
    expect(err.problem).toBe('migration');
    expect(err.message).toContain(path);
    expect(err.message).toContain('migration step 3 of 3 failed');
    expect(err.message).toMatch(/syntax error|STRICTLY/);
    expect(err.message).toContain('stays at step 1');
    // Nothing running: the node is closed, its ports were never taken, and the
    // store's lock is free again (another node opens it at once).
    await broken.closed;
    expect(() => broken.endpoints).toThrow();
    await canListen(routerPort);
    await canListen(pubPort);
    await expect(broken.send('shop', 'x', new Uint8Array(0))).rejects.toMatchObject({ code: ErrorCode.CLOSED });

    const after = node({ service: 'orders', storePath: path, migrations: [ORDERS] });
    await after.start();
    expect(appVersion(after)).toBe(1);
    // Step 2 ran in that start and was rolled back with step 3.
    expect(after.db!.prepare("SELECT name FROM sqlite_master WHERE name = 'order_lines'").get()).toBeUndefined();
  });

  it('migrations - a step that throws or returns a promise fails start() and is rolled back', async () => {
    const path = store();
    const thrower = node({
      service: 'orders', storePath: path,
      migrations: [ORDERS, (db) => { db.prepare("INSERT INTO orders (id) VALUES ('x')").run(); throw new Error('backfill found a bad row'); }],
    });
    const err = await startFails(thrower);
    expect(err.problem).toBe('migration');
    expect(err.message).toContain('migration step 2 of 2 failed: backfill found a bad row');
    expect(err.cause).toBeInstanceOf(Error);

    const asynchronous = node({ service: 'orders', storePath: path, migrations: [ORDERS, async () => undefined] });
    expect((await startFails(asynchronous)).message).toContain('returned a promise');

    const check = node({ service: 'orders', storePath: path });
    await check.start();
    expect(appVersion(check)).toBe(0);
    expect(check.db!.prepare("SELECT name FROM sqlite_master WHERE name = 'orders'").get()).toBeUndefined();
  });

  it('migrations - a store that ran more steps than given is refused as newer, and not written', async () => {
    const path = store();
    const newer = node({ service: 'orders', storePath: path, migrations: [ORDERS, LINES] });
    await newer.start();
    await newer.close();

    const older = node({ service: 'orders', storePath: path, migrations: [ORDERS] });
    const err = await startFails(older);
    expect(err.problem).toBe('newer');
    expect(err.message).toContain('at migration 2, this code has 1 migration step(s)');

    const check = node({ service: 'orders', storePath: path, migrations: [ORDERS, LINES] });
    await check.start();
    expect(appVersion(check)).toBe(2);
    // Beside the node, an operator tool opens the store without steps, and leaves the
    // count alone; so does a node started without the option.
    const admin = openStoreAdmin(path);
    expect(admin.pending()).toEqual([]);
    admin.close();
    await check.close();
    const without = node({ service: 'orders', storePath: path });
    await without.start();
    expect(appVersion(without)).toBe(2);
  });

  it('migrations - bad values are refused by createNode, naming the option', () => {
    const attempt = (o: Partial<NodeOptions>) => () => createNode({ insecure: true, service: 'orders', discovery: 'static', ...o });
    expect(attempt({ migrations: [ORDERS] })).toThrow(new InvalidArgumentError('migrations need a store: set storePath'));
    expect(attempt({ storePath: '/nonexistent/x.db', migrations: [ORDERS, 42 as unknown as string] })).toThrow(/migrations\[1\] must be SQL text or a function/);
    expect(attempt({ storePath: '/nonexistent/x.db', migrations: ['  '] })).toThrow(/migrations\[0\] must be SQL text/);
    expect(attempt({ storePath: '/nonexistent/x.db', migrations: ORDERS as unknown as string[] })).toThrow(/migrations must be an array/);
  });
});
