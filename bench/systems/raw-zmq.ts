/** Raw zeromq.js, the floor: DEALER/ROUTER echo and PUB/SUB, one message per send(),
 *  as zeromq.js is normally used. */
import * as zmq from 'zeromq';
import { Fifo, type System } from './types.js';

const HWM = { sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000 };

export const rawZmq: System = {
  name: 'raw-zeromq',
  settings: 'zeromq.js DEALER/ROUTER and PUB/SUB, awaited send() per message, HWM 100k',
  unavailable: async () => undefined,
  version: async () => `zeromq.js, libzmq ${zmq.version}`,
  serveRpc: async () => {
    const router = new zmq.Router({ linger: 0, ...HWM });
    await router.bind('tcp://127.0.0.1:0');
    void (async () => { for await (const msg of router) await router.send(msg); })().catch(() => undefined);
    return { endpoint: router.lastEndpoint!, close: async () => router.close() };
  },
  rpcClient: async (p) => {
    const dealer = new zmq.Dealer({ linger: 0, ...HWM });
    dealer.connect(p.endpoint!);
    const fifo = new Fifo();
    void (async () => { for await (const _ of dealer) fifo.shift(); })().catch(() => undefined);
    // One pending send per zeromq.js socket: concurrent requests take turns.
    let chain: Promise<void> = Promise.resolve();
    return {
      request: (payload) => new Promise<void>((resolve) => {
        fifo.push(resolve);
        chain = chain.then(() => dealer.send(payload));
      }),
      close: async () => dealer.close(),
    };
  },
  publisher: async () => {
    const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: HWM.sendHighWaterMark });
    await pub.bind('tcp://127.0.0.1:0');
    // zeromq.js takes one send at a time per socket: each is awaited before the next.
    return { endpoint: pub.lastEndpoint!, window: 1, publish: (payload) => pub.send(payload), flush: async () => undefined, close: async () => pub.close() };
  },
  subscribe: async (p, onMessage) => {
    const sub = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: HWM.receiveHighWaterMark });
    sub.connect(p.endpoint!);
    sub.subscribe();
    void (async () => { for await (const [msg] of sub) onMessage(msg!); })().catch(() => undefined);
    return { close: async () => sub.close() };
  },
};
