/**
 * socket/: the ZeroMQ edge. Sockets with their options resolved once, one bounded send
 * queue in front of each socket, and read loops that never die. Frames in and out;
 * nothing here knows what a frame means.
 * May import: foundation modules (errors, options, limits, stats, types) only.
 *
 * This file is the socket factory: every zeromq socket zmesh opens is made here from
 * the node's SocketSettings (options.ts). Socket roles are those of proto/README.md
 * section 1.
 */
import * as zmq from 'zeromq';
import { BindFailedError, errorMessage } from '../errors.js';
import { MAX_SUBSCRIPTION_FRAME_BYTES } from '../bounds.js';
import { MAX_BATCH_BYTES, MAX_BATCH_MESSAGES } from '../limits.js';
import type { SocketSettings } from '../options.js';
import { SendQueue, type SendFn } from './send-queue.js';

/** A secure node's sockets live in its own context (where its ZAP handler is) and
 *  speak CURVE with its long-term key pair (Z85). */
export interface SocketSecurity {
  context: zmq.Context;
  publicKey: string;
  secretKey: string;
  /** Connections are bound to keys (proto/README.md section 17.4): the ROUTER reports
   *  connects and disconnects in band, and each DEALER opens every connection with a
   *  BIND frame. Needs libzmq's draft options (ZMQ_ROUTER_NOTIFY, ZMQ_HELLO_MSG). */
  bindConnections: boolean;
}

/** Subscriptions an XPUB's connection may have queued unread: a flood is read (and
 *  counted) in small steps rather than swallowed whole. */
const SUBSCRIPTION_HWM = 100;

/** libzmq draft option numbers (zmq_draft.h, 4.3.5); zeromq.js sets them only from a
 *  subclass. */
const ZMQ_ROUTER_NOTIFY = 97;
const ZMQ_NOTIFY_CONNECT = 1;
const ZMQ_NOTIFY_DISCONNECT = 2;
const ZMQ_HELLO_MSG = 110;
const ZMQ_TOPICS_COUNT = 116;

/** A ROUTER that receives [routing id, empty frame] when a connection with that id
 *  comes up or goes away, in order with that connection's messages. */
class NotifyingRouter extends zmq.Router {
  constructor(options: zmq.SocketOptions<zmq.Router>) {
    super(options);
    this.setInt32Option(ZMQ_ROUTER_NOTIFY, ZMQ_NOTIFY_CONNECT | ZMQ_NOTIFY_DISCONNECT);
  }
}

/** An XPUB that can say how many distinct subscriptions libzmq holds in it: the one
 *  count no subscriber can skew (an unsubscribe it never subscribed is still reported
 *  to the application, so counting notifications can be fooled). */
class CountingXPublisher extends zmq.XPublisher {
  get topicCount(): number {
    return this.getInt32Option(ZMQ_TOPICS_COUNT);
  }
}

/** Distinct subscriptions `sock` holds, when libzmq can say (draft API). */
export function topicCount(sock: zmq.XPublisher): number | undefined {
  return sock instanceof CountingXPublisher && !sock.closed ? sock.topicCount : undefined;
}

/** A DEALER that libzmq makes send `hello` (one frame) first on every connection it
 *  opens, reconnections included, before anything queued. */
class GreetingDealer extends zmq.Dealer {
  constructor(options: zmq.SocketOptions<zmq.Dealer>, hello: Buffer) {
    super(options);
    this.setStringOption(ZMQ_HELLO_MSG, hello);
  }
}

/**
 * Sockets one ZeroMQ context may hold. libzmq's default is 1 023, and a node holds
 * about four per peer: a DEALER, a SUB, and the two sockets of the monitor that
 * watches each SUB (subscriber.ts). Ten nodes of a 30-node mesh in one process passed
 * that, and new sockets failed with EMFILE ("Too many open file descriptors") while
 * file descriptors were plentiful. The limit must be set before a context's first
 * socket, so zmesh makes its contexts itself.
 */
export const MAX_SOCKETS_PER_CONTEXT = 16_384;

/** A context of zmesh's own, with room for MAX_SOCKETS_PER_CONTEXT sockets. */
export function newContext(): zmq.Context {
  return new zmq.Context({ maxSockets: MAX_SOCKETS_PER_CONTEXT });
}

/** The context insecure nodes of this process share (secure ones have their own,
 *  where their ZAP handler is). */
let shared: zmq.Context | undefined;
function sharedContext(): zmq.Context {
  return shared ??= newContext();
}

function common(s: SocketSettings, sec: SocketSecurity | undefined) {
  return {
    linger: s.lingerMs,
    maxMessageSize: s.maxMessageSize,
    receiveHighWaterMark: s.highWaterMark,
    sendHighWaterMark: s.highWaterMark,
    context: sec === undefined ? sharedContext() : sec.context,
  };
}

/** CURVE server: every client is authenticated by the ZAP handler under `domain`. */
function server(sec: SocketSecurity | undefined, domain: string) {
  return sec === undefined ? {} : { curveServer: true, curveSecretKey: sec.secretKey, curvePublicKey: sec.publicKey, zapDomain: domain };
}

/** CURVE client of the server whose public key is `serverKey`: the connection only
 *  completes with the holder of that key. */
function client(sec: SocketSecurity | undefined, serverKey: string | undefined) {
  if (sec === undefined) return {};
  if (serverKey === undefined) throw new Error('a secure client socket needs the server\'s public key');
  return { curveServerKey: serverKey, curvePublicKey: sec.publicKey, curveSecretKey: sec.secretKey };
}

/** Commands and requests in. Handover lets a restarted peer with the same identity in. */
export function createRouter(s: SocketSettings, sec?: SocketSecurity, zapDomain = 'zmesh-router'): zmq.Router {
  const options = { ...common(s, sec), ...server(sec, zapDomain), handover: true };
  return sec?.bindConnections === true ? new NotifyingRouter(options) : new zmq.Router(options);
}

/** Events out. XPUB, so that subscriptions arrive as messages and we can answer the
 *  sync handshake. Slow subscribers lose events at the HWM (fast class). All it reads
 *  are subscriptions, so libzmq drops a connection that sends a bigger frame before
 *  storing it (bounds.ts). */
export function createPublisher(s: SocketSettings, sec?: SocketSecurity, zapDomain = 'zmesh-pub'): zmq.XPublisher {
  const options = {
    ...common(s, sec), maxMessageSize: MAX_SUBSCRIPTION_FRAME_BYTES, receiveHighWaterMark: SUBSCRIPTION_HWM, ...server(sec, zapDomain),
  };
  return zmq.capability.draft === true ? new CountingXPublisher(options) : new zmq.XPublisher(options);
}

/** Our link to one peer's ROUTER. `immediate` keeps messages off connections that
 *  are not up, so nothing stale is delivered once a peer comes back. */
export function createDealer(s: SocketSettings, sec?: SocketSecurity, serverKey?: string, bind?: Buffer): zmq.Dealer {
  const options = {
    ...common(s, sec), maxMessageSize: s.peerFrameCeiling, ...client(sec, serverKey), immediate: true,
    reconnectInterval: s.reconnectIntervalMs, reconnectMaxInterval: s.reconnectMaxIntervalMs,
  };
  return bind === undefined ? new zmq.Dealer(options) : new GreetingDealer(options, bind);
}

/** One SUB per publisher (pubsub/subscriber.ts says why). */
export function createSubscriber(s: SocketSettings, sec?: SocketSecurity, serverKey?: string): zmq.Subscriber {
  const { sendHighWaterMark: _unused, ...options } = common(s, sec);
  return new zmq.Subscriber({
    ...options, maxMessageSize: s.peerFrameCeiling, ...client(sec, serverKey), reconnectInterval: s.reconnectIntervalMs, reconnectMaxInterval: s.reconnectMaxIntervalMs,
  });
}

/** What a send queue reports to the node: messages sent per batch, failed batches. */
export interface QueueReport {
  sent(messages: number): void;
  failed(err: unknown, messages: number, queue: string): void;
}

/** The one bounded queue in front of a socket (see send-queue.ts), batched to the
 *  protocol's limits. */
export function sendQueue(name: string, limit: number, send: SendFn, report: QueueReport): SendQueue {
  return new SendQueue({
    name,
    limit,
    maxBatchMessages: MAX_BATCH_MESSAGES,
    maxBatchBytes: MAX_BATCH_BYTES,
    send,
    onSent: (n) => report.sent(n),
    onError: (err, n) => report.failed(err, n, name),
  });
}

/** Binds, or throws BIND_FAILED naming the socket and the address. */
export async function bindOrFail(sock: zmq.Router | zmq.XPublisher, address: string, what: string): Promise<void> {
  try {
    await sock.bind(address);
  } catch (err) {
    throw new BindFailedError(`cannot bind ${what} on ${address}: ${errorMessage(err)}`, { cause: err });
  }
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
