// examples/request-reply.js: two nodes on 127.0.0.1, a request with bytes, then a typed one.
import { call, createNode, defineMethod, jsonCodec, serve } from 'zmesh';

// A typed method, declared once. In TypeScript: jsonCodec<{ a: number; b: number }>().
/** @type {import('zmesh').Codec<{ a: number, b: number }>} */
const AddRequest = jsonCodec();
/** @type {import('zmesh').Codec<{ sum: number }>} */
const AddReply = jsonCodec();
const Add = defineMethod({ service: 'inventory', method: 'add', request: AddRequest, response: AddReply });

// insecure: anyone who can reach these nodes may use them; fine on 127.0.0.1 (README
// "Security" makes a mesh of members). discovery 'static': peers come from `peers`
// only, so nothing is multicast on your network.
const inventory = createNode({ service: 'inventory', insecure: true, host: '127.0.0.1', discovery: 'static' });
inventory.handle('count', (payload) => Buffer.from(`42 of ${Buffer.from(payload)}`));
serve(inventory, Add, ({ a, b }) => ({ sum: a + b }));
await inventory.start();

// One side's list is enough: inventory learns shop from its hello.
const shop = createNode({ service: 'shop', insecure: true, host: '127.0.0.1', discovery: 'static', peers: [inventory.endpoints.router] });
await shop.start();
await shop.waitForService('inventory', { timeoutMs: 5_000 });

const reply = await shop.request('inventory', 'count', Buffer.from('sku-1'), { timeoutMs: 2_000 });
console.log(`count: ${Buffer.from(reply)}`);
const { sum } = await call(shop, Add, { a: 2, b: 3 });
console.log(`sum: ${sum}`);

await shop.close(); // drains, says goodbye, releases every socket and timer
await inventory.close();
