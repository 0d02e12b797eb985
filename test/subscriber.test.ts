/** The SUB side with real sockets: one socket per publisher, so that a restarted
 *  publisher that got its predecessor's ephemeral port (two node ids, one endpoint)
 *  has a socket of its own, and disconnecting either never throws or touches the
 *  other's. */
import * as zmq from 'zeromq';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../transport/log.js';
import { inbound } from '../transport/protocol/inbound.js';
import { EventSubscriber } from '../transport/pubsub/subscriber.js';
import { Counters } from '../transport/stats.js';
import { encodeSyncMark } from '../transport/codec/control.js';
import { envelope, pb } from './helpers/raw-peer.js';

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

  it('subscriber - a connection libzmq gave up (a frame above ZMQ_MAXMSGSIZE) is found, rebuilt and resynced; events flow again', async () => {
    // A raw publisher from the spec: answers every $sync subscription with a SYNC mark.
    const xpub = new zmq.XPublisher({ linger: 0 });
    await xpub.bind('tcp://127.0.0.1:0');
    const syncs: string[] = [];
    void (async () => {
      for await (const [msg] of xpub) {
        if (msg![0] !== 1) continue;
        const topic = msg!.subarray(1).toString();
        if (!topic.startsWith('$sync/pub/')) continue;
        syncs.push(topic);
        const token = topic.slice('$sync/pub/'.length);
        await xpub.send([topic, ...envelope({ kind: pb.Kind.SYNC, senderNode: 'pub', subject: topic, payload: encodeSyncMark(token) })]);
      }
    })().catch(() => undefined);
    const counters = new Counters();
    const drop = (): void => undefined;
    let rebuilt = 0;
    const got: string[] = [];
    const s = new EventSubscriber({
      openSocket: () => new zmq.Subscriber({ linger: 0, maxMessageSize: 4_096, reconnectInterval: 50 }),
      nodeId: 'me', inbound: inbound({ maxPayloadBytes: 1_024, counters, drop }), drop, log: silentLogger(), delivered: () => undefined,
      rebuildAfterMs: 300, resyncTimeoutMs: 2_000, rebuilt: () => { rebuilt++; },
    });
    try {
      await s.connect('pub', xpub.lastEndpoint!, 2_000);
      await s.subscribe('t.', (e) => got.push(Buffer.from(e.payload).toString()), 2_000);
      const event = (payload: string) => envelope({ kind: pb.Kind.EVENT, senderNode: 'pub', subject: 't.x', payload: Buffer.from(payload) });
      await xpub.send(['t.x', ...event('before')]);
      await vi.waitFor(() => expect(got).toEqual(['before']));
      // 64 KiB: libzmq ends the SUB's connection for good, and says only "disconnect".
      await xpub.send(['t.x', ...event('x'.repeat(65_536))]);
      await vi.waitFor(() => expect(rebuilt).toBe(1), { timeout: 5_000 });
      // The new socket subscribed again and resynced: a third $sync came in.
      await vi.waitFor(() => expect(syncs.length).toBeGreaterThanOrEqual(3), { timeout: 5_000 });
      await vi.waitFor(async () => {
        await xpub.send(['t.x', ...event('after')]);
        expect(got).toContain('after');
      }, { timeout: 5_000, interval: 100 });
    } finally {
      s.close();
      xpub.close();
    }
  });

  it('subscriber - a publisher that goes away and comes back on its port is reconnected by libzmq, resynced, and not rebuilt', async () => {
    let xpub = new zmq.XPublisher({ linger: 0 });
    await xpub.bind('tcp://127.0.0.1:0');
    const endpoint = xpub.lastEndpoint!;
    let syncs = 0;
    const serve = (x: zmq.XPublisher): void => {
      void (async () => {
        for await (const [msg] of x) {
          if (msg![0] !== 1) continue;
          const topic = msg!.subarray(1).toString();
          if (!topic.startsWith('$sync/pub/')) continue;
          syncs++;
          await x.send([topic, ...envelope({ kind: pb.Kind.SYNC, senderNode: 'pub', subject: topic, payload: encodeSyncMark(topic.slice('$sync/pub/'.length)) })]);
        }
      })().catch(() => undefined);
    };
    serve(xpub);
    const counters = new Counters();
    const drop = (): void => undefined;
    let rebuilt = 0;
    const s = new EventSubscriber({
      openSocket: () => new zmq.Subscriber({ linger: 0, reconnectInterval: 50, reconnectMaxInterval: 100 }),
      nodeId: 'me', inbound: inbound({ maxPayloadBytes: 1_024, counters, drop }), drop, log: silentLogger(), delivered: () => undefined,
      rebuildAfterMs: 300, resyncTimeoutMs: 2_000, rebuilt: () => { rebuilt++; },
    });
    try {
      await s.connect('pub', endpoint, 2_000);
      const before = syncs;
      xpub.close();
      // Down for longer than rebuildAfterMs: libzmq keeps retrying, which is not giving up.
      await new Promise((r) => setTimeout(r, 800));
      xpub = new zmq.XPublisher({ linger: 0 });
      await xpub.bind(endpoint);
      serve(xpub);
      await vi.waitFor(() => expect(syncs).toBeGreaterThan(before), { timeout: 5_000 });
      expect(rebuilt).toBe(0);
    } finally {
      s.close();
      xpub.close();
    }
  });
});
