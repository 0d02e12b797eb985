/**
 * A ZAP handler (ZeroMQ RFC 27): libzmq asks it, for every CURVE handshake on a
 * server socket of its context, whether the client's key may connect. Without one, a
 * CURVE server accepts ANY client that knows its public key, so a secure node always
 * runs one, in its own zmq.Context (the handler's inproc endpoint is per context, so
 * two nodes in one process never share, or fight over, one).
 *
 *   request  [routing id, "", "1.0", request id, domain, address, identity, mechanism, credentials...]
 *   reply    [routing id, "", "1.0", request id, status ("200" | "400"), text, user id, metadata]
 *
 * The decision is the node's (`decide`); this module only speaks the protocol, and
 * refuses anything malformed or not CURVE.
 */
import * as zmq from 'zeromq';
import { readLoop } from './read-loop.js';
import { closeQuietly } from './sockets.js';

export const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';
const ZAP_VERSION = '1.0';

export interface ZapRequest {
  /** The ZMQ_ZAP_DOMAIN of the server socket being connected to. */
  domain: string;
  /** The client's IP address. */
  address: string;
  /** The client's 32-byte CURVE public key. */
  clientKey: Buffer;
}

/** Refused with the reason text ZAP carries back to libzmq (and our audit log). */
export type ZapDecision = { ok: true } | { ok: false; reason: string };

export interface ZapHandler {
  /** Requests answered, by outcome. */
  readonly stats: { allowed: number; denied: number; malformed: number };
  close(): void;
}

/** Binds the handler in `context`; resolves once it is serving. */
export async function startZap(context: zmq.Context, decide: (r: ZapRequest) => ZapDecision, onError: (err: unknown) => void): Promise<ZapHandler> {
  const router = new zmq.Router({ context, linger: 0 });
  await router.bind(ZAP_ENDPOINT);
  const stats = { allowed: 0, denied: 0, malformed: 0 };
  // zeromq.js allows one send in flight per socket: replies go out one after another.
  let sending: Promise<void> = Promise.resolve();
  void readLoop(router, (frames) => {
    const [routingId, delimiter, version, requestId, domain, address, , mechanism, clientKey] = frames;
    if (routingId === undefined || delimiter === undefined || requestId === undefined) return void stats.malformed++;
    let decision: ZapDecision;
    if (version?.toString() !== ZAP_VERSION || mechanism?.toString() !== 'CURVE' || clientKey?.length !== 32) {
      stats.malformed++;
      decision = { ok: false, reason: 'only CURVE is accepted' };
    } else {
      try {
        decision = decide({ domain: domain?.toString() ?? '', address: address?.toString() ?? '', clientKey });
      } catch (err) {
        onError(err);
        decision = { ok: false, reason: 'internal error' };
      }
      if (decision.ok) stats.allowed++;
      else stats.denied++;
    }
    const [status, text] = decision.ok ? ['200', 'OK'] : ['400', decision.reason];
    const reply = [routingId, delimiter, ZAP_VERSION, requestId, status, text, '', ''];
    sending = sending.then(() => router.send(reply)).catch((err: unknown) => { if (!router.closed) onError(err); });
  }, onError);
  return { stats, close: () => closeQuietly(router, 0) };
}
