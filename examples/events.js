// examples/events.js: prefix subscriptions, live once subscribe() resolves.
import { createNode } from 'zmesh';

// An example must end: it gives up after 15 s rather than wait for good.
setTimeout(() => { console.error('timed out'); process.exit(1); }, 15_000).unref();

const sensor = createNode({ service: 'sensor', insecure: true, host: '127.0.0.1', discovery: 'static' });
await sensor.start();
const panel = createNode({ service: 'panel', insecure: true, host: '127.0.0.1', discovery: 'static', peers: [sensor.endpoints.router] });
await panel.start();
await panel.waitForService('sensor', { timeoutMs: 5_000 });
panel.on('peer:down', ({ peer, reason }) => console.log(`${peer.nodeId} is down: ${reason}`));

let seen = 0;
/** @type {() => void} */
let allSeen = () => {};
const done = new Promise((resolve) => { allSeen = () => resolve(undefined); });
// Resolves once every publisher that is up confirmed the subscription: nothing
// published after this line is missed (no slow-joiner sleep).
await panel.subscribe('temperature.', (event) => {
  console.log(`${event.topic} = ${Buffer.from(event.payload)} from ${event.sender.service}`);
  if (++seen === 3) allSeen();
});
// Fast class: queued to the socket, not stored; a subscriber that is down misses it.
for (const room of ['kitchen', 'hall', 'attic']) sensor.publish(`temperature.${room}`, Buffer.from('21.5'));
await done;

await panel.close();
await sensor.close();
