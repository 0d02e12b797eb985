/**
 * NATS JetStream end to end through nats.js: a file-storage stream with work-queue
 * retention (a message is removed once its ack is accepted, as a queue's would be);
 * JetStream publish, which resolves on the server's PubAck (W unresolved); a durable
 * pull consumer with explicit ack and max_ack_pending W, consumed with a callback that
 * acks each message after its handler ran.
 *
 * A plain ack has no answer, so the phase's last message is acked with ackAck(),
 * which the server answers once it processed that ack: acks from one connection to
 * one consumer are processed in order, so every ack before it was accepted too. After
 * the row the stream must be empty (work-queue retention: every message acked).
 * JetStream on nats-server 2.9 does not fsync each write (its file store syncs on an
 * interval); the fsync columns show what it does.
 */
import { AckPolicy, RetentionPolicy, StorageType, connect, type JetStreamManager, type NatsConnection } from 'nats';
import { portOpen } from '../systems/types.js';
import { brokerPidFile, type E2eSystem } from './types.js';

const SERVER = '127.0.0.1:4222';
const open = (): Promise<NatsConnection> => connect({ servers: SERVER, noEcho: true });
const names = (id: string): { stream: string; subject: string; durable: string } =>
  ({ stream: `bench_${id}_e2e`, subject: `bench.${id}.e2e`, durable: 'e2e' });

/** Both sides make sure the stream exists (the same config, so the second call is a
 *  no-op): neither has to start first. */
async function stream(jsm: JetStreamManager, id: string): Promise<void> {
  const n = names(id);
  await jsm.streams.add({ name: n.stream, subjects: [n.subject], storage: StorageType.File, retention: RetentionPolicy.Workqueue });
}

export const jetstreamE2e: E2eSystem = {
  name: 'nats-jetstream',
  settings: 'nats.js; file-storage stream, work-queue retention; JetStream publish resolved on PubAck (W unresolved); durable pull consumer, explicit ack, max_ack_pending W, ack after the handler; done = every PubAck, and ackAck of the last message',
  unavailable: async () => {
    if (!await portOpen(4222)) return `no NATS server on ${SERVER} (run bench/brokers.sh up)`;
    const nc = await open();
    try {
      await nc.jetstreamManager();
      return undefined;
    } catch (err) {
      return `nats-server on ${SERVER} has no JetStream (${(err as Error).message}; bench/brokers.sh up starts it with -js)`;
    } finally {
      await nc.close();
    }
  },
  version: async () => {
    const nc = await open();
    const v = `nats-server ${nc.info?.version ?? '?'} (JetStream)`;
    await nc.close();
    return v;
  },
  brokerPid: () => brokerPidFile('nats'),
  sender: async (p) => {
    const nc = await open();
    const jsm = await nc.jetstreamManager();
    await stream(jsm, p.id);
    const js = nc.jetstream();
    const { stream: name, subject } = names(p.id);
    return {
      send: async (payload) => { await js.publish(subject, payload, { timeout: 60_000 }); },
      leftover: async () => (await jsm.streams.info(name)).state.messages,
      close: async () => { await jsm.streams.delete(name).catch(() => undefined); await nc.close(); },
    };
  },
  receiver: async (p, handle, settled) => {
    const nc = await open();
    const jsm = await nc.jetstreamManager();
    await stream(jsm, p.id);
    const n = names(p.id);
    await jsm.consumers.add(n.stream, { durable_name: n.durable, ack_policy: AckPolicy.Explicit, max_ack_pending: p.window });
    const consumer = await nc.jetstream().consumers.get(n.stream, n.durable);
    const messages = await consumer.consume({
      max_messages: p.window,
      callback: (m) => {
        if (!handle(m.data)) return void m.ack();
        void m.ackAck({ timeout: 60_000 }).then((ok) => { if (ok) settled(); });
      },
    });
    return {
      close: async () => {
        messages.stop();
        await nc.close();
      },
    };
  },
};
