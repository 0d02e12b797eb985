/**
 * Socket factory: every zeromq socket zmesh opens is made here, with its options in
 * one place. Socket roles are those of proto/README.md ("Sockets").
 */
import * as zmq from 'zeromq';
import { ZMQ_MAXMSGSIZE_FACTOR } from '../options.js';

/** libzmq's per-pipe queue, in messages (a coalesced batch counts once). */
export const SOCKET_HWM = 10_000;
/** close() flushes our own queues first; this only covers what libzmq still holds. */
export const CLOSE_LINGER_MS = 200;

export interface SocketLimits {
  /** Our frame limit; libzmq gets a multiple of it as a hard cap (see options.ts). */
  maxFrameBytes: number;
}

function common(limits: SocketLimits) {
  return {
    linger: CLOSE_LINGER_MS,
    maxMessageSize: limits.maxFrameBytes * ZMQ_MAXMSGSIZE_FACTOR,
    receiveHighWaterMark: SOCKET_HWM,
  };
}

/** Commands and requests in. Handover lets a restarted peer with the same identity in. */
export function createRouter(limits: SocketLimits): zmq.Router {
  return new zmq.Router({ ...common(limits), sendHighWaterMark: SOCKET_HWM, handover: true });
}

/** Events out. XPUB, so that subscriptions arrive as messages and we can answer the
 *  sync handshake. Slow subscribers lose events at the HWM (fast class). */
export function createPublisher(limits: SocketLimits): zmq.XPublisher {
  return new zmq.XPublisher({ ...common(limits), sendHighWaterMark: SOCKET_HWM });
}

/** Our link to one peer's ROUTER. `immediate` keeps messages off connections that
 *  are not up, so nothing stale is delivered once a peer comes back. */
export function createDealer(limits: SocketLimits): zmq.Dealer {
  return new zmq.Dealer({ ...common(limits), sendHighWaterMark: SOCKET_HWM, immediate: true, reconnectInterval: 100, reconnectMaxInterval: 1_000 });
}

/** One SUB for all peers' PUBs; subscriptions apply to every connection. */
export function createSubscriber(limits: SocketLimits): zmq.Subscriber {
  return new zmq.Subscriber({ ...common(limits), reconnectInterval: 100, reconnectMaxInterval: 1_000 });
}

/** The port a bound socket got, from its last endpoint ("tcp://0.0.0.0:41234"). */
export function boundPort(endpoint: string | null): number {
  const m = endpoint === null ? null : /:(\d+)$/.exec(endpoint);
  if (m === null) throw new Error(`cannot read a port from endpoint ${String(endpoint)}`);
  return Number(m[1]);
}

/** Closing a socket that is already closed must be harmless on every exit path. */
export function closeQuietly(sock: zmq.Socket, lingerMs?: number): void {
  if (sock.closed) return;
  if (lingerMs !== undefined) sock.linger = lingerMs;
  sock.close();
}
