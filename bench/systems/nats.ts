/** NATS core through the official nats.js client (TCP_NODELAY is its default). */
import { connect, type NatsConnection } from 'nats';
import { portOpen, type System } from './types.js';

const SERVER = '127.0.0.1:4222';
const open = (): Promise<NatsConnection> => connect({ servers: SERVER, noEcho: true });

export const nats: System = {
  name: 'nats',
  settings: 'nats.js, core NATS (no JetStream): request() with its muxed inbox, publish() + flush()',
  unavailable: async () => (await portOpen(4222) ? undefined : `no NATS server on ${SERVER} (run bench/brokers.sh up)`),
  version: async () => {
    const nc = await open();
    const v = `nats-server ${nc.info?.version ?? '?'}`;
    await nc.close();
    return v;
  },
  serveRpc: async (p) => {
    const nc = await open();
    nc.subscribe(`bench.${p.id}.rpc`, { callback: (_err, msg) => msg.respond(msg.data) });
    await nc.flush();
    return { close: () => nc.close() };
  },
  rpcClient: async (p) => {
    const nc = await open();
    const subject = `bench.${p.id}.rpc`;
    return { request: async (payload) => { await nc.request(subject, payload, { timeout: 30_000 }); }, close: () => nc.close() };
  },
  publisher: async (p) => {
    const nc = await open();
    const subject = `bench.${p.id}.data`;
    return { publish: (payload) => nc.publish(subject, payload), flush: () => nc.flush(), close: () => nc.close() };
  },
  subscribe: async (p, onMessage) => {
    const nc = await open();
    nc.subscribe(`bench.${p.id}.data`, { callback: (_err, msg) => onMessage(msg.data) });
    await nc.flush();
    return { close: () => nc.close() };
  },
};
