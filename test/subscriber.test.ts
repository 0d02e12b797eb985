/** The SUB side with a real socket: one endpoint shared by two publisher node ids (a
 *  restarted publisher that got its predecessor's ephemeral port) must connect and
 *  disconnect libzmq exactly once, and never throw. */
import * as zmq from 'zeromq';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../transport/log.js';
import { inbound } from '../transport/protocol/inbound.js';
import { EventSubscriber } from '../transport/pubsub/subscriber.js';
import { Counters } from '../transport/stats.js';

describe('event subscriber', () => {
  it('subscriber - two node ids on one PUB endpoint: disconnecting both does not throw', () => {
    const sub = new zmq.Subscriber({ linger: 0 });
    const counters = new Counters();
    const drop = (): void => undefined;
    const s = new EventSubscriber({ sub, nodeId: 'me', inbound: inbound({ maxPayloadBytes: 1 << 20, counters, drop }), counters, drop, log: silentLogger() });
    const endpoint = 'tcp://127.0.0.1:1';
    // connect() also starts a sync handshake; only the bookkeeping matters here.
    void s.connect('old-id', endpoint, 50).catch(() => undefined);
    void s.connect('new-id', endpoint, 50).catch(() => undefined);
    expect(() => s.disconnect('old-id')).not.toThrow();
    expect(() => s.disconnect('new-id')).not.toThrow();
    expect(() => s.disconnect('new-id')).not.toThrow();
    // The endpoint is really gone from libzmq: disconnecting it again is ENOENT.
    expect(() => sub.disconnect(endpoint)).toThrow(/No such endpoint/);
    s.close();
    sub.close();
  });
});
