/**
 * The outbound side of request/reply and commands: choose the peer (balanced across
 * instances of a service, or one named node), build the envelope, register the
 * request with its deadline, hand it to the peer's link. Every request takes this one
 * path; node.ts only checks lifecycle and payload first.
 */
import { NoRouteError, type ZmeshError } from '../errors.js';
import { Kind } from '../codec.js';
import type { PeerLink } from '../peers/peer-link.js';
import type { PeerTable } from '../peers/peer-table.js';
import type { RequestOptions, SendOptions } from '../types.js';
import type { EnvelopeBuilder } from './envelopes.js';
import type { PendingRequests } from './pending.js';

export interface ClientDeps {
  table: PeerTable;
  builder: EnvelopeBuilder;
  pending: PendingRequests;
  requestTimeoutMs: number;
}

export class RequestClient {
  constructor(private readonly d: ClientDeps) {}

  /** To one live instance of `service`. Throws NO_ROUTE or QUEUE_FULL. */
  request(service: string, method: string, payload: Uint8Array, o: RequestOptions): Promise<Uint8Array> {
    return this.requestOn(this.route(service), service, method, payload, o);
  }

  command(service: string, method: string, payload: Uint8Array, o: SendOptions): void {
    this.route(service).send(this.d.builder.build(Kind.COMMAND, { service, subject: method, payload, headers: o.headers }));
  }

  /** To one specific up peer (the reliable class's replay and acks). */
  requestNode(nodeId: string, method: string, payload: Uint8Array): Promise<Uint8Array> {
    const link = this.linkTo(nodeId);
    return this.requestOn(link, link.peer!.service, method, payload, {});
  }

  commandNode(nodeId: string, method: string, payload: Uint8Array): void {
    const link = this.linkTo(nodeId);
    link.send(this.d.builder.build(Kind.COMMAND, { service: link.peer!.service, subject: method, payload }));
  }

  private requestOn(link: PeerLink, service: string, method: string, payload: Uint8Array, o: RequestOptions): Promise<Uint8Array> {
    const timeoutMs = o.timeoutMs ?? this.d.requestTimeoutMs;
    const message = this.d.builder.build(Kind.REQUEST, { service, subject: method, payload, headers: o.headers, ttlMs: timeoutMs });
    link.outstanding++;
    const reply = this.d.pending.add(message.id, {
      peerId: link.nodeId!,
      timeoutMs,
      signal: o.signal,
      what: `${service}.${method}`,
      onSettle: () => { link.outstanding--; },
    });
    try {
      link.send(message);
    } catch (err) {
      this.d.pending.reject(message.id, err as ZmeshError);
    }
    return reply;
  }

  private route(service: string): PeerLink {
    const link = this.d.table.pick(service);
    if (link === undefined) throw new NoRouteError(`no live instance of service "${service}"`);
    return link;
  }

  private linkTo(nodeId: string): PeerLink {
    const link = this.d.table.byNode(nodeId);
    if (link === undefined || !link.isUp) throw new NoRouteError(`peer ${nodeId} is not up`);
    return link;
  }
}
