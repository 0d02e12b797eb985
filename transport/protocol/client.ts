/**
 * The calling side of request/reply and commands, both ways: out, choose where a
 * message goes (balanced across the instances of a service, or one named node), build
 * it, register it with its deadline and queue it; in, route the answers peers send
 * back on our DEALERs (REPLY, ACK, ERROR) to the request they settle. It mirrors
 * RequestServer, which does the same for the ROUTER.
 *
 * Where messages go is the peers layer's business: the client is handed `Routes`.
 */
import { BadMessageError, NoRouteError, errorFromWire, type ZmeshError } from '../errors.js';
import { Kind, type Envelope } from '../codec/envelope.js';
import { decodeAck, decodeErrorReply } from '../codec/control.js';
import type { RequestOptions, SendOptions } from '../types.js';
import type { DropFn } from './drops.js';
import type { Built, EnvelopeBuilder } from './envelopes.js';
import type { PendingRequests } from './pending.js';

/** One peer as the protocol sees it: a node id, its service, a queue to its ROUTER. */
export interface Conduit {
  readonly nodeId: string;
  readonly service: string;
  /** Queues one message; throws QUEUE_FULL. */
  send(message: Built): void;
}

/** Where the client may send; the peer table provides it. */
export interface Routes {
  /** One live instance of `service`, chosen by the balancer, or undefined. */
  pick(service: string): Conduit | undefined;
  /** The live peer `nodeId`, or undefined. */
  byNode(nodeId: string): Conduit | undefined;
}

export interface ClientParts {
  routes: Routes;
  builder: EnvelopeBuilder;
  pending: PendingRequests;
  drop: DropFn;
  requestTimeoutMs: number;
}

const EMPTY = new Uint8Array(0);

export class RequestClient {
  constructor(private readonly p: ClientParts) {}

  /** To one live instance of `service`. Rejects NO_ROUTE, QUEUE_FULL, TIMEOUT, ... */
  request(service: string, method: string, payload: Uint8Array, o: RequestOptions = {}): Promise<Uint8Array> {
    const to = this.p.routes.pick(service);
    if (to === undefined) return Promise.reject(new NoRouteError(`no live instance of service "${service}"`));
    return this.await(to, Kind.REQUEST, method, payload, o.headers, o.timeoutMs ?? this.p.requestTimeoutMs, o.signal);
  }

  /** Fire and forget to one live instance. Throws NO_ROUTE or QUEUE_FULL. */
  command(service: string, method: string, payload: Uint8Array, o: SendOptions = {}): void {
    const to = this.p.routes.pick(service);
    if (to === undefined) throw new NoRouteError(`no live instance of service "${service}"`);
    to.send(this.p.builder.build(Kind.COMMAND, { service, subject: method, payload, headers: o.headers }));
  }

  /** To one specific live peer (the reliable class's `$replay`; `$members`, which is
   *  `internal`: see AddOptions). */
  requestNode(nodeId: string, method: string, payload: Uint8Array, o: { internal?: boolean } = {}): Promise<Uint8Array> {
    const to = this.p.routes.byNode(nodeId);
    if (to === undefined) return Promise.reject(new NoRouteError(`peer ${nodeId} is not up`));
    return this.await(to, Kind.REQUEST, method, payload, undefined, this.p.requestTimeoutMs, undefined, o.internal === true);
  }

  /** Fire and forget to one specific live peer (`$ack`). Throws NO_ROUTE or QUEUE_FULL. */
  commandNode(nodeId: string, method: string, payload: Uint8Array): void {
    const to = this.p.routes.byNode(nodeId);
    if (to === undefined) throw new NoRouteError(`peer ${nodeId} is not up`);
    to.send(this.p.builder.build(Kind.COMMAND, { service: to.service, subject: method, payload }));
  }

  /** A COMMAND that the receiver answers (a reliable command): resolves on its ACK,
   *  rejects with its ERROR, TIMEOUT after `timeoutMs`, or PEER_DOWN. */
  deliver(to: Conduit, method: string, payload: Uint8Array, headers: Record<string, string>, timeoutMs: number): Promise<Uint8Array> {
    return this.await(to, Kind.COMMAND, method, payload, headers, timeoutMs, undefined);
  }

  /** An answer arrived on a DEALER: it settles the request it names, or is late. */
  onAnswer(env: Envelope): void {
    if (env.kind === Kind.ERROR) {
      const reply = decodeErrorReply(env.payload);
      const err = reply === undefined
        ? new BadMessageError(`undecodable error reply from ${env.senderNode}`, { remoteNode: env.senderNode })
        : errorFromWire(reply.code, reply.message, reply.retryable, env.senderNode);
      if (!this.p.pending.reject(env.correlationId, err)) this.p.drop('lateReply', 'no waiting request', env.senderNode);
      return;
    }
    if (env.kind === Kind.ACK && env.payload.byteLength > 0) return this.onBatchedAck(env);
    if (!this.p.pending.resolve(env.correlationId, env.payload)) this.p.drop('lateReply', 'no waiting request', env.senderNode);
  }

  /** An ACK for many commands (proto/README.md section 14.2). An id settles only a
   *  command sent to the node that acknowledges it. A body that is not a valid Ack
   *  settles nothing: the commands it meant time out and are sent again, which the
   *  receiver's inbox makes harmless. */
  private onBatchedAck(env: Envelope): void {
    const ids = decodeAck(env.payload);
    if (ids === undefined) {
      this.p.drop('invalid', 'ACK body is not a valid Ack', env.senderNode);
      return;
    }
    let late = 0;
    if (!this.p.pending.resolveFrom(env.senderNode, env.correlationId, EMPTY)) late++;
    for (const id of ids) if (!this.p.pending.resolveFrom(env.senderNode, id, EMPTY)) late++;
    if (late > 0) this.p.drop('lateReply', `${late} of ${ids.length + 1} acknowledged commands not waiting`, env.senderNode);
  }

  private await(
    to: Conduit, kind: Kind, method: string, payload: Uint8Array, headers: Record<string, string> | undefined,
    timeoutMs: number, signal: AbortSignal | undefined, internal = false,
  ): Promise<Uint8Array> {
    const message = this.p.builder.build(kind, {
      service: to.service, subject: method, payload, headers, ttlMs: kind === Kind.REQUEST ? timeoutMs : undefined,
    });
    const answer = this.p.pending.add(message.id, { peerId: to.nodeId, timeoutMs, signal, service: to.service, method, internal });
    try {
      to.send(message);
    } catch (err) {
      this.p.pending.reject(message.id, err as ZmeshError);
    }
    return answer;
  }
}
