// examples/durable-subscriber.js: reliable events and a durable subscriber on a second
// node, which gets every event once, in order, also those published while it was down.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, defineEvent, jsonCodec, on, subscribeDurable } from 'zmesh';

// An example must end: it gives up after 15 s rather than wait for good.
setTimeout(() => { console.error('timed out'); process.exit(1); }, 15_000).unref();

/** @type {import('zmesh').Codec<{ orderId: string, cents: number }>} */
const PlacedCodec = jsonCodec();
const OrderPlaced = defineEvent({ topic: 'orders.placed', codec: PlacedCodec });

const dir = mkdtempSync(join(tmpdir(), 'zmesh-example-'));
const local = { insecure: true, host: '127.0.0.1', discovery: /** @type {const} */ ('static') };

// The publisher keeps its reliable events in its store (1 h and 1 000 000 by default).
const orders = createNode({ ...local, service: 'orders', storePath: join(dir, 'orders.db') });
await orders.start();
// Before billing ever ran: kept in the event log, replayed to billing when it comes.
await orders.publishReliable(OrderPlaced, { orderId: 'o-1', cents: 1250 });

const first = await startBilling();
await orders.publishReliable(OrderPlaced, { orderId: 'o-2', cents: 300 }); // live
await first.invoiced(2);
await first.node.close();

await orders.publishReliable(OrderPlaced, { orderId: 'o-3', cents: 4200 }); // billing is down
const again = await startBilling(); // same store, same subscription name: resumes
await again.invoiced(3);
console.log('invoices:', again.node.db?.prepare('SELECT order_id FROM invoices ORDER BY order_id').pluck().all().join(', '));

await Promise.all([again.node.close(), orders.close()]);
rmSync(dir, { recursive: true });

/** billing: a second node, with a store of its own that outlives each run. */
async function startBilling() {
  const node = createNode({
    ...local, service: 'billing', storePath: join(dir, 'billing.db'), peers: [orders.endpoints.router],
    migrations: ['CREATE TABLE invoices (order_id TEXT PRIMARY KEY, cents INTEGER NOT NULL) STRICT'],
  });
  await node.start();
  /** @type {() => void} */
  let wake = () => {};
  const count = () => /** @type {number} */ (node.db?.prepare('SELECT count(*) FROM invoices').pluck().get());
  // Each event once: the handler's writes and the subscription's progress commit
  // together. A second invoice for one order would break the PRIMARY KEY.
  await subscribeDurable(node, 'invoicing', [on(OrderPlaced, ({ orderId, cents }, event, tx) => {
    tx.db.prepare('INSERT INTO invoices (order_id, cents) VALUES (?, ?)').run(orderId, cents);
    console.log(`invoiced ${orderId} (${event.topic} #${event.seq} from ${event.sender.node})`);
    queueMicrotask(() => wake()); // after its transaction committed
  })]);
  /** Resolves once `n` invoices are in the table. @param {number} n */
  const invoiced = async (n) => {
    while (count() < n) await new Promise((resolve) => { wake = () => resolve(undefined); });
  };
  return { node, invoiced };
}
