/**
 * The socket layer's contexts: room for the sockets a process of many nodes holds.
 * libzmq's default context takes 1 023 sockets; a node holds about four per peer (a
 * DEALER, a SUB and the two sockets of the SUB's monitor), so ten nodes of a 30-node
 * mesh in one process ran out (EMFILE) and never converged. bench/discovery.ts shows
 * that end to end; this shows the bound itself, with real libzmq sockets.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SOCKETS_PER_CONTEXT, closeQuietly, createSubscriber } from '../transport/socket/sockets.js';
import type { SocketSettings } from '../transport/options.js';

const settings: SocketSettings = {
  maxMessageSize: 1 << 20, peerFrameCeiling: 2 << 20, highWaterMark: 1_000, lingerMs: 0, reconnectIntervalMs: 100, reconnectMaxIntervalMs: 1_000,
};

describe('socket contexts', () => {
  it('sockets - one process opens 700 watched SUBs (2 100 libzmq sockets, twice the default limit) without EMFILE', () => {
    expect(MAX_SOCKETS_PER_CONTEXT).toBeGreaterThan(2_100);
    const subs = [];
    try {
      for (let i = 0; i < 700; i++) {
        const sub = createSubscriber(settings);
        // What the subscriber does to every SUB: a monitor (two more sockets).
        sub.events.on('disconnect', () => undefined);
        subs.push(sub);
      }
      expect(subs).toHaveLength(700);
    } finally {
      for (const s of subs) closeQuietly(s, 0);
    }
  });
});
