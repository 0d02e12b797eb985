/**
 * RabbitMQ end to end through amqplib, TCP_NODELAY: persistent messages to a durable
 * classic queue on a confirm channel (a send resolves on the broker's confirm); the
 * consumer has prefetch W and acks each message by hand after its handler ran.
 *
 * AMQP 0-9-1 has no answer to basic.ack, so "the broker accepted the acks" is shown by
 * a round trip on the consumer's own channel after the phase's last ack (a passive
 * queue.declare): the channel hands frames to the queue in order, so its answer comes
 * after every ack before it has reached the queue. After the row, the consumer's
 * channel is closed (unacked messages would go back to the queue) and the queue must
 * be empty.
 */
import amqp, { type ChannelModel } from 'amqplib';
import { portOpen } from '../systems/types.js';
import { brokerPidFile, type E2eSystem } from './types.js';

const URL = 'amqp://guest:guest@127.0.0.1:5672';
const open = (): Promise<ChannelModel> => amqp.connect(URL, { noDelay: true });
const queue = (id: string): string => `bench.${id}.e2e`;

export const rabbitmqE2e: E2eSystem = {
  name: 'rabbitmq',
  settings: 'amqplib, TCP_NODELAY; durable classic queue, persistent messages, publisher confirms (W unconfirmed); consumer prefetch W, manual ack after the handler; done = every confirm, and a channel round trip after the last ack',
  unavailable: async () => (await portOpen(5672) ? undefined : 'no RabbitMQ on 127.0.0.1:5672 (run bench/brokers.sh up)'),
  version: async () => {
    const c = await open();
    const v = `rabbitmq ${String(c.connection.serverProperties.version)}`;
    await c.close();
    return v;
  },
  brokerPid: () => brokerPidFile('rabbitmq'),
  sender: async (p) => {
    const c = await open();
    const ch = await c.createConfirmChannel();
    const q = queue(p.id);
    await ch.assertQueue(q, { durable: true });
    return {
      send: (payload) => new Promise<void>((resolve, reject) => {
        ch.sendToQueue(q, payload, { persistent: true }, (err) => (err ? reject(err) : resolve()));
      }),
      leftover: async () => (await ch.checkQueue(q)).messageCount,
      close: async () => { await ch.deleteQueue(q).catch(() => undefined); await c.close(); },
    };
  },
  receiver: async (p, handle, settled) => {
    const c = await open();
    const ch = await c.createChannel();
    const q = queue(p.id);
    await ch.assertQueue(q, { durable: true });
    await ch.prefetch(p.window);
    await ch.consume(q, (m) => {
      if (m === null) return;
      const last = handle(m.content);
      ch.ack(m);
      if (last) void ch.checkQueue(q).then(settled);
    }, { noAck: false });
    return {
      close: async () => {
        // close-ok comes once the channel is gone and its unacked messages are back
        // in the queue, so the sender's leftover() sees them.
        await ch.close();
        await c.close();
      },
    };
  },
};
