/** Baseline server: a raw zeromq.js ROUTER that echoes every message, as plainly as
 *  zeromq.js is usually used (one message per send). */
import * as zmq from 'zeromq';

const router = new zmq.Router({ linger: 0, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000 });
await router.bind('tcp://127.0.0.1:0');
process.send?.({ endpoint: router.lastEndpoint });
process.on('SIGTERM', () => router.close());
try {
  for await (const msg of router) await router.send(msg);
} catch {
  // closed
}
process.disconnect?.();
