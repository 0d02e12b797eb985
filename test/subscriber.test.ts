/** The SUB side with real sockets: one socket per publisher, so that a restarted
 *  publisher that got its predecessor's ephemeral port (two node ids, one endpoint)
 *  has a socket of its own, and disconnecting either never throws or touches the
 *  other's. */
import * as zmq from 'zeromq';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../transport/log.js';
import { inbound } from '../transport/protocol/inbound.js';
import { EventSubscriber } from '../transport/pubsub/subscriber.js';
import { Counters } from '../transport/stats.js';

describe('event subscriber', () => {
  it('subscriber - two node ids on one PUB endpoint get a socket each; disconnecting both does not throw', () => {
    const opened: zmq.Subscriber[] = [];
    const counters = new Counters();
    const drop = (): void => undefined;
    const s = new EventSubscriber({
      openSocket: () => { const sock = new zmq.Subscriber({ linger: 0 }); opened.push(sock); return sock; },
      nodeId: 'me', inbound: inbound({ maxPayloadBytes: 1 << 20, counters, drop }), drop, log: silentLogger(), delivered: () => undefined,
      rebuildAfterMs: 1_000, resyncTimeoutMs: 1_000, rebuilt: () => undefined,
    });
    const endpoint = 'tcp://127.0.0.1:1';
    // connect() also starts a sync handshake; only the bookkeeping matters here.
    void s.connect('old-id', endpoint, 50).catch(() => undefined);
    void s.connect('new-id', endpoint, 50).catch(() => undefined);
    expect(opened).toHaveLength(2);
    expect(() => s.disconnect('old-id')).not.toThrow();
    expect(opened[0]!.closed).toBe(true);
    expect(opened[1]!.closed).toBe(false);
    expect(() => s.disconnect('new-id')).not.toThrow();
    expect(() => s.disconnect('new-id')).not.toThrow();
    expect(opened[1]!.closed).toBe(true);
    s.close();
  });
});
