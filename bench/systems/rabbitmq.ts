/**
 * RabbitMQ through amqplib, the seed design's broker, with TCP_NODELAY:
 * - RPC: a request queue, replies over direct reply-to (amq.rabbitmq.reply-to) matched
 *   by correlation id, the pattern RabbitMQ documents for RPC;
 * - pub/sub: a fanout exchange, one exclusive auto-ack queue per subscriber;
 * - reliable: persistent messages to a durable queue on a confirm channel; a publish
 *   resolves on the broker's confirm.
 */
import amqp, { type ChannelModel } from 'amqplib';
import { portOpen, type System } from './types.js';

const URL = 'amqp://guest:guest@127.0.0.1:5672';
const open = (): Promise<ChannelModel> => amqp.connect(URL, { noDelay: true });

export const rabbitmq: System = {
  name: 'rabbitmq',
  settings: 'amqplib, TCP_NODELAY; RPC via direct reply-to + correlation id; fanout exchange, auto-ack consumers; reliable: persistent + publisher confirms to a durable queue',
  unavailable: async () => (await portOpen(5672) ? undefined : 'no RabbitMQ on 127.0.0.1:5672 (run bench/brokers.sh up)'),
  version: async () => {
    const c = await open();
    const v = `rabbitmq ${String(c.connection.serverProperties.version)}`;
    await c.close();
    return v;
  },
  serveRpc: async (p) => {
    const c = await open();
    const ch = await c.createChannel();
    const q = `bench.${p.id}.rpc`;
    await ch.assertQueue(q, { durable: false, autoDelete: true });
    await ch.consume(q, (m) => {
      if (m !== null) ch.sendToQueue(m.properties.replyTo as string, m.content, { correlationId: m.properties.correlationId as string });
    }, { noAck: true });
    return { close: () => c.close() };
  },
  rpcClient: async (p) => {
    const c = await open();
    const ch = await c.createChannel();
    const q = `bench.${p.id}.rpc`;
    await ch.assertQueue(q, { durable: false, autoDelete: true });
    const waiting = new Map<string, () => void>();
    await ch.consume('amq.rabbitmq.reply-to', (m) => {
      const id = m?.properties.correlationId as string | undefined;
      if (id !== undefined) { waiting.get(id)?.(); waiting.delete(id); }
    }, { noAck: true });
    let next = 0;
    return {
      request: (payload) => new Promise<void>((resolve) => {
        const id = String(++next);
        waiting.set(id, resolve);
        ch.sendToQueue(q, payload, { replyTo: 'amq.rabbitmq.reply-to', correlationId: id });
      }),
      close: () => c.close(),
    };
  },
  publisher: async (p) => {
    const c = await open();
    const ch = await c.createChannel();
    const ex = `bench.${p.id}`;
    await ch.assertExchange(ex, 'fanout', { durable: false, autoDelete: true });
    // publish() returns false when the channel's buffer is full: wait for one drain,
    // shared by every publish that hit the full buffer.
    let drained: Promise<void> | undefined;
    return {
      publish: (payload) => {
        if (ch.publish(ex, '', payload)) return undefined;
        drained ??= new Promise<void>((r) => ch.once('drain', () => { drained = undefined; r(); }));
        return drained;
      },
      flush: async () => undefined,
      close: () => c.close(),
    };
  },
  subscribe: async (p, onMessage) => {
    const c = await open();
    const ch = await c.createChannel();
    const ex = `bench.${p.id}`;
    await ch.assertExchange(ex, 'fanout', { durable: false, autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, '');
    await ch.consume(queue, (m) => { if (m !== null) onMessage(m.content); }, { noAck: true });
    // Also drain the durable queue of the reliable scenario, so it does not grow.
    const durable = `bench.${p.id}.durable`;
    await ch.assertQueue(durable, { durable: true });
    await ch.consume(durable, (m) => { if (m !== null) onMessage(m.content); }, { noAck: true });
    return { close: () => c.close() };
  },
  reliablePublisher: async (p) => {
    const c = await open();
    const ch = await c.createConfirmChannel();
    const q = `bench.${p.id}.durable`;
    await ch.assertQueue(q, { durable: true });
    return {
      publish: (payload) => new Promise<void>((resolve, reject) => {
        ch.sendToQueue(q, payload, { persistent: true }, (err) => (err ? reject(err) : resolve()));
      }),
      flush: async () => undefined,
      close: async () => { await ch.deleteQueue(q).catch(() => undefined); await c.close(); },
    };
  },
};
