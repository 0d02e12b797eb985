/**
 * The peer table: every link this node holds, which peers are up, and which instance
 * of a service gets the next message.
 *
 * It does not care where a candidate came from (static list, a peer's hello, mDNS):
 * sources only propose endpoints, and a peer is up once its hello handshake and event
 * sync succeed over ZeroMQ.
 *
 * Balancing: least outstanding requests among the instances that are up; ties go
 * round-robin (the scan starts one further on every pick). Suspect instances are
 * used only when no instance is up.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { AbortedError, PeerDownError, TimeoutError } from '../errors.js';
import type { Hello } from '../codec.js';
import type { EventSubscriber } from '../pubsub/subscriber.js';
import type { PendingRequests } from '../protocol/pending.js';
import type { Candidate, NodeEvent, NodeEventOf, NodeEventType, PeerInfo } from '../types.js';
import { PeerLink, type LinkDeps } from './peer-link.js';

export interface TableDeps {
  selfId: string;
  mesh: string;
  link: Omit<LinkDeps, 'onWelcome' | 'onDown'>;
  subscriber: EventSubscriber;
  pending: PendingRequests;
  log: Logger;
  /** How long a new peer's publisher may take to confirm our subscriptions. */
  syncTimeoutMs: number;
}

export class PeerTable {
  /** Every link, by ROUTER endpoint. */
  private readonly links = new Map<string, PeerLink>();
  /** Node id -> the link that owns it (from welcome until down). */
  private readonly owners = new Map<string, PeerLink>();
  /** Service -> links that are up or suspect. */
  private readonly services = new Map<string, PeerLink[]>();
  private readonly cursor = new Map<string, number>();
  private readonly events = new EventEmitter();
  private readonly linkDeps: LinkDeps;

  constructor(private readonly d: TableDeps) {
    this.linkDeps = {
      ...d.link,
      onWelcome: (link, hello) => this.onWelcome(link, hello),
      onDown: (link, reason) => this.onDown(link, reason),
    };
  }

  /** Adds a link for the candidate's first endpoint unless it is known. Idempotent:
   *  sources may propose the same candidate again and again. */
  propose(c: Candidate): void {
    const endpoint = c.endpoints[0];
    if (endpoint === undefined || c.nodeId === this.d.selfId || this.links.has(endpoint)) return;
    const owner = c.nodeId === undefined ? undefined : this.owners.get(c.nodeId);
    if (owner !== undefined && owner.isUp) {
      if (c.endpoints.includes(owner.endpoint)) return;
      // A hello proves the node is alive, not that our link to it is stale: it lists
      // the addresses the node advertises, which need not include the one we reached
      // it on (a wildcard bind reached over loopback). Replacing a live link here
      // failed every request in flight on it.
      if (c.source === 'hello') return;
      // The same node now announces other endpoints: it restarted on new ports, or
      // moved. Its old link is finished.
      owner.markDown('endpoint changed');
      if (!owner.persistent) this.remove(owner);
    }
    this.links.set(endpoint, new PeerLink(endpoint, c.persistent === true, c.source, this.linkDeps));
    this.d.log.debug({ endpoint, source: c.source }, 'peer candidate');
  }

  /** A source withdrew a candidate: drop its non-persistent links. */
  withdraw(c: Candidate): void {
    for (const endpoint of c.endpoints) {
      const link = this.links.get(endpoint);
      if (link === undefined || link.persistent) continue;
      link.markDown('withdrawn');
      this.remove(link);
    }
  }

  pick(service: string): PeerLink | undefined {
    const list = this.services.get(service);
    if (list === undefined || list.length === 0) return undefined;
    const start = this.cursor.get(service) ?? 0;
    this.cursor.set(service, (start + 1) % list.length);
    let best: PeerLink | undefined;
    for (const wanted of ['up', 'suspect'] as const) {
      for (let i = 0; i < list.length; i++) {
        const link = list[(start + i) % list.length]!;
        if (link.state === wanted && (best === undefined || link.outstanding < best.outstanding)) best = link;
      }
      if (best !== undefined) return best;
    }
    return undefined;
  }

  /** Number of instances of `service` that are up or suspect. */
  count(service: string): number {
    return this.services.get(service)?.length ?? 0;
  }

  /** Resolves once `count` instances of `service` are up. Rejects TIMEOUT or ABORTED;
   *  every listener and timer is released on every exit. */
  waitFor(service: string, count: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.count(service) >= count) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => finish(new TimeoutError(`fewer than ${count} instances of "${service}" up after ${timeoutMs} ms`)), timeoutMs);
      const onAbort = (): void => finish(new AbortedError(`waiting for "${service}" aborted`));
      const off = this.on('peer:up', () => { if (this.count(service) >= count) finish(); });
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        off();
        signal.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort);
    });
  }

  byNode(nodeId: string): PeerLink | undefined {
    return this.owners.get(nodeId);
  }

  list(): PeerInfo[] {
    const out: PeerInfo[] = [];
    for (const link of this.links.values()) {
      const info = link.info();
      if (info !== undefined) out.push(info);
    }
    return out;
  }

  tick(now: number): void {
    for (const link of [...this.links.values()]) link.tick(now);
  }

  on<T extends NodeEventType>(type: T, listener: (event: NodeEventOf<T>) => void): () => void {
    this.events.on(type, listener);
    return () => this.events.off(type, listener);
  }

  /** BYE to every peer, then release all links. */
  async close(timeoutMs: number): Promise<void> {
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.map((l) => l.close(true, timeoutMs)));
  }

  abort(): void {
    for (const link of this.links.values()) link.abort();
    this.links.clear();
  }

  private async onWelcome(link: PeerLink, hello: Hello): Promise<void> {
    if (hello.nodeId === this.d.selfId) {
      this.remove(link); // our own endpoint came back to us
      return;
    }
    if (hello.mesh !== this.d.mesh) {
      this.d.link.drop('foreignMesh', `mesh "${hello.mesh}"`, hello.nodeId);
      if (!link.persistent) this.remove(link);
      throw new Error(`peer ${hello.nodeId} is in mesh "${hello.mesh}"`);
    }
    const owner = this.owners.get(hello.nodeId);
    if (owner !== undefined && owner !== link && this.links.get(owner.endpoint) === owner) {
      if (!link.persistent) this.remove(link); // the same node, reached by another route
      throw new Error(`peer ${hello.nodeId} is already linked via ${owner.endpoint}`);
    }
    this.owners.set(hello.nodeId, link);
    const pubEndpoint = `tcp://${hostOf(link.endpoint)}:${hello.pubPort}`;
    try {
      await this.d.subscriber.connect(hello.nodeId, pubEndpoint, this.d.syncTimeoutMs);
    } catch (err) {
      if (this.owners.get(hello.nodeId) === link) this.owners.delete(hello.nodeId);
      this.d.subscriber.disconnect(hello.nodeId);
      throw err;
    }
    if (!this.links.has(link.endpoint)) return; // removed or closed meanwhile
    link.markUp(pubEndpoint, performance.now());
    this.reindex(hello.service);
    this.d.log.info({ peer: hello.nodeId, service: hello.service, endpoint: link.endpoint }, 'peer up');
    this.emit({ type: 'peer:up', peer: link.info()! });
  }

  private onDown(link: PeerLink, reason: string): void {
    const peer = link.peer!;
    if (this.owners.get(peer.nodeId) === link) this.owners.delete(peer.nodeId);
    this.d.subscriber.disconnect(peer.nodeId);
    this.reindex(peer.service);
    const failed = this.d.pending.rejectPeer(peer.nodeId, () => new PeerDownError(`peer ${peer.nodeId} went down (${reason})`, { remoteNode: peer.nodeId }));
    this.d.log.info({ peer: peer.nodeId, reason, failed }, 'peer down');
    this.emit({ type: 'peer:down', peer: { ...link.info()!, state: 'down' }, reason });
    if (!link.persistent) queueMicrotask(() => this.remove(link));
  }

  private remove(link: PeerLink): void {
    if (this.links.get(link.endpoint) !== link) return;
    this.links.delete(link.endpoint);
    link.abort();
  }

  private reindex(service: string): void {
    const list = [...this.links.values()].filter((l) => l.isUp && l.peer?.service === service);
    if (list.length === 0) this.services.delete(service);
    else this.services.set(service, list);
  }

  emit(event: NodeEvent): void {
    this.events.emit(event.type, event);
  }
}

function hostOf(endpoint: string): string {
  const m = /^tcp:\/\/(.+):\d+$/.exec(endpoint);
  return m === null ? '127.0.0.1' : m[1]!;
}
