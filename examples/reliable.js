// examples/reliable.js: reliable commands, applied once each in a transaction with the
// service's own tables, and sent from a transaction of the sender's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, defineCommand, jsonCodec, serveReliable } from 'zmesh';

// An example must end: it gives up after 15 s rather than wait for good.
setTimeout(() => { console.error('timed out'); process.exit(1); }, 15_000).unref();

/** @type {import('zmesh').Codec<{ orderId: string, sku: string }>} */
const PlaceCodec = jsonCodec();
const Place = defineCommand({ service: 'order', method: 'place', codec: PlaceCodec });
/** @type {import('zmesh').Codec<{ sku: string }>} */
const ReserveCodec = jsonCodec();
const Reserve = defineCommand({ service: 'stock', method: 'reserve', codec: ReserveCodec });

// Each node's store is one SQLite file; its directory must exist (a data directory of
// your service, /var/lib/order for instance; a temporary one here).
const dir = mkdtempSync(join(tmpdir(), 'zmesh-example-'));
const local = { insecure: true, host: '127.0.0.1', discovery: /** @type {const} */ ('static') };

const order = createNode({
  ...local, service: 'order', storePath: join(dir, 'order.db'),
  // The service's tables, created by start() before any message can reach a handler.
  migrations: ['CREATE TABLE orders (id TEXT PRIMARY KEY, sku TEXT NOT NULL) STRICT'],
});
serveReliable(order, Place, ({ orderId, sku }, tx) => { // one SQLite transaction:
  tx.db.prepare('INSERT INTO orders (id, sku) VALUES (?, ?)').run(orderId, sku); // the state,
  tx.send(Reserve, { sku });                                // a reliable command,
  tx.publish('orders.placed', Buffer.from(orderId));         // a reliable event,
});                                                          // and the inbox record
await order.start();

const stock = createNode({
  ...local, service: 'stock', storePath: join(dir, 'stock.db'), peers: [order.endpoints.router],
  migrations: ['CREATE TABLE reserved (sku TEXT NOT NULL) STRICT'],
});
serveReliable(stock, Reserve, ({ sku }, tx) => { tx.db.prepare('INSERT INTO reserved (sku) VALUES (?)').run(sku); });
await stock.start();

const shop = createNode({
  ...local, service: 'shop', storePath: join(dir, 'shop.db'), peers: [order.endpoints.router],
  migrations: ['CREATE TABLE checkouts (order_id TEXT PRIMARY KEY) STRICT'],
});
await shop.start();

const reserved = acknowledged(order, 'stock', 2);
// Resolves once on disk; delivered in order, retried until order acknowledges.
await shop.send(Place, { orderId: 'o-1', sku: 'sku-1' });
// The sender's own write and its command commit together, or neither does.
shop.transact((tx) => {
  tx.db.prepare('INSERT INTO checkouts (order_id) VALUES (?)').run('o-2');
  tx.send(Place, { orderId: 'o-2', sku: 'sku-2' });
});
await reserved;
console.log('orders:', order.db?.prepare('SELECT id FROM orders ORDER BY id').pluck().all().join(', '));
console.log('reserved:', stock.db?.prepare('SELECT sku FROM reserved ORDER BY sku').pluck().all().join(', '));

// Together: each node says goodbye while the others still listen.
await Promise.all([shop.close(), stock.close(), order.close()]);
rmSync(dir, { recursive: true });

/**
 * Resolves once `count` reliable commands from `node` to `service` were acknowledged:
 * their receiver committed their effects.
 * @param {import('zmesh').MeshNode} node
 * @param {string} service
 * @param {number} count
 * @returns {Promise<void>}
 */
function acknowledged(node, service, count) {
  return new Promise((resolve) => {
    let acked = 0;
    const off = node.on('outbox:acked', (e) => {
      if (e.service === service && (acked += e.count) >= count) {
        off();
        resolve();
      }
    });
  });
}
