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
 *
 * Bounds (bounds.ts): candidates from hellos and discovery cost a DEALER each, so at
 * most MAX_PENDING_LINKS of them wait to come up at once, and one per node id a hello
 * claims (a newer hello replaces an older claim that got no answer yet; records,
 * which anyone can forge, never replace one). A link that got no answer at all in
 * PENDING_LINK_TTL_MS is dropped: its endpoint is dead or made up, and a live peer
 * proposes itself again (mDNS re-announces, a restarted node says HELLO). Static
 * peers are the operator's and are not bounded.
 *
 * Members that a peer lists (`$members`, peers/members.ts) are third-hand: anyone
 * admitted can list anything. So such an entry is proposed only for a node id and an
 * endpoint the table knows nothing of (it never moves, replaces or re-keys a link),
 * and the entries one peer listed hold at most MAX_PENDING_PER_INFORMANT pending
 * links at once, which are dropped when that peer goes down.
 */
import type { Logger } from 'pino';
import { MAX_PENDING_LINKS, MAX_PENDING_PER_INFORMANT, PENDING_LINK_TTL_MS } from '../bounds.js';
import { AbortedError, TimeoutError, errorMessage } from '../errors.js';
import type { EventBus } from '../bus.js';
import type { Hello, Member } from '../codec/control.js';
import { parseEndpoint } from '../names.js';
import type { Routes } from '../protocol/client.js';
import { RateLimitedLog } from '../log.js';
import { logEvent } from '../events.js';
import { keyFingerprint } from '../security/keys.js';
import type { BoundsStats, Candidate, PeerInfo } from '../types.js';
import { PeerLink, type LinkParts } from './peer-link.js';

/** Peers whose last start time is remembered (peer.restarted). */
const MAX_REMEMBERED_STARTS = 4_096;

/** What the table needs from the node. The hooks are how the layers above take part
 *  in a peer's life without the table knowing them. */
export interface TableParts {
  selfId: string;
  mesh: string;
  link: Omit<LinkParts, 'onWelcome' | 'onDown' | 'onOpenFailed' | 'onTooLarge'>;
  bus: Pick<EventBus, 'emit' | 'on'>;
  log: Logger;
  /** Where refusals and rebuilds are counted. */
  bounds: BoundsStats;
  /** Candidates proposed, by source (stats().candidates). */
  candidates?: Record<string, number>;
  /** Requests in flight to a node (least-outstanding balancing). */
  outstanding(nodeId: string): number;
  /** Runs after a WELCOME, before the peer is up: the event sync with its publisher.
   *  Rejecting keeps the link connecting, to try again. */
  peerReady(nodeId: string, pubEndpoint: string, publicKey: string | undefined): Promise<void>;
  /** The peer is no longer up (down, replaced, or its handshake failed). */
  peerGone(nodeId: string, reason: string): void;
  /** Secure: checks a WELCOME's credentials against the key the link proved; throws
   *  to refuse the peer. Also turns a candidate's hex key into the Z85 libzmq takes. */
  trust?: {
    admit(hello: Hello, link: PeerLink): void;
    serverKey(hex: string | undefined): string | undefined;
    keyChanged(endpoint: string, previous: string, next: string): void;
  };
  /** Peer publish-endpoint sync takes the publisher's key too, when secure. */
}

export class PeerTable implements Routes {
  /** Every link, by ROUTER endpoint. */
  private readonly links = new Map<string, PeerLink>();
  /** Node id -> the link that owns it (from welcome until down). */
  private readonly owners = new Map<string, PeerLink>();
  /** Service -> links that are up or suspect. */
  private readonly services = new Map<string, PeerLink[]>();
  private readonly cursor = new Map<string, number>();
  /** Node id a hello claimed -> the pending link it made (one each). */
  private readonly claims = new Map<string, PeerLink>();
  /** Pending link made from a peer's `$members` answer -> the peer that listed it. */
  private readonly informants = new Map<PeerLink, string>();
  /** The started_ms each peer's last HELLO gave, to tell a restart from a rejoin;
   *  bounded like every map a stranger can grow. */
  private readonly startedBy = new Map<string, number>();
  private readonly linkParts: LinkParts;
  private readonly limited: RateLimitedLog;
  /** Set by close() and abort(): a candidate that arrives later (a HELLO read while the
   *  node shuts down) would open a DEALER that nothing closes, and that keeps the
   *  process alive after close() resolved. */
  private closed = false;

  constructor(private readonly d: TableParts) {
    this.limited = new RateLimitedLog(d.log);
    this.linkParts = {
      ...d.link,
      onWelcome: (link, hello) => this.onWelcome(link, hello),
      onDown: (link, reason) => this.onDown(link, reason),
      onOpenFailed: (link, err) => {
        d.bounds.linkOpenFailures++;
        this.limited.warn(`open:${link.endpoint}`, { endpoint: link.endpoint, err: errorMessage(err) }, 'cannot open a socket for a peer link; retrying');
      },
      onTooLarge: (link, bytes, limit) => {
        d.bounds.tooLargeForPeer++;
        this.limited.warn(`large:${link.nodeId}`, { peer: link.nodeId, bytes, limit }, 'message larger than the peer accepts: not sent');
      },
    };
  }

  /** Adds a link for the candidate's first endpoint unless it is known. Idempotent:
   *  sources may propose the same candidate again and again. */
  propose(c: Candidate): void {
    if (this.d.candidates !== undefined) this.d.candidates[c.source] = (this.d.candidates[c.source] ?? 0) + 1;
    const endpoint = c.endpoints[0];
    if (this.closed || endpoint === undefined || c.nodeId === this.d.selfId) return;
    const serverKey = this.d.trust?.serverKey(c.publicKey);
    if (this.d.trust !== undefined && serverKey === undefined) {
      this.d.log.debug({ endpoint, source: c.source }, 'candidate without a public key ignored (secure mesh)');
      return;
    }
    const known = this.links.get(endpoint);
    if (known !== undefined) {
      if (known.serverKey === serverKey) return;
      // The same address, proposed with another key: a node that came back with a new
      // identity, or an impostor (a record or a member's hello can name any address).
      // A link that is up has proven its key, so it stays; one that is not may give
      // way to the new candidate.
      this.d.trust?.keyChanged(endpoint, known.serverKey ?? '', serverKey ?? '');
      if (known.isUp) return;
      this.remove(known);
    }
    const owner = c.nodeId === undefined ? undefined : this.owners.get(c.nodeId);
    if (owner === undefined && c.persistent !== true && !this.admitPending(c, endpoint)) return;
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
    const link = new PeerLink(endpoint, c.persistent === true, c.source, this.linkParts, serverKey);
    this.links.set(endpoint, link);
    if (c.persistent !== true && c.source === 'hello' && c.nodeId !== undefined) this.claims.set(c.nodeId, link);
    this.d.log.debug({ endpoint, source: c.source }, 'peer candidate');
  }

  /** A member that the up peer `informant` listed. Returns false when the entry was
   *  refused for the informant's quota (counted by the caller); true otherwise, also
   *  when it named something known already, which is no news. */
  learn(m: Member, informant: string): boolean {
    if (m.nodeId === this.d.selfId || this.owners.has(m.nodeId) || this.claims.has(m.nodeId)) return true;
    const endpoint = m.routerEndpoints[0]!;
    if (this.links.has(endpoint)) return true;
    for (const l of this.links.values()) if (l.peer?.nodeId === m.nodeId) return true;
    let pending = 0;
    for (const [l, from] of this.informants) if (from === informant && !l.isUp) pending++;
    if (pending >= MAX_PENDING_PER_INFORMANT) return false;
    this.propose({ endpoints: m.routerEndpoints, nodeId: m.nodeId, source: 'member', ...(m.publicKey === '' ? {} : { publicKey: m.publicKey }) });
    const link = this.links.get(endpoint);
    if (link !== undefined && !link.isUp) {
      this.informants.set(link, informant);
      this.claims.set(m.nodeId, link);
    }
    return true;
  }

  /** The peers that are up (or suspect), for a `$members` answer. */
  upLinks(): PeerLink[] {
    return [...this.links.values()].filter((l) => l.isUp && l.peer !== undefined);
  }

  /** Room for one more pending link from a hello or discovery? A node id claims one
   *  pending link at a time: a newer claim replaces the older one. */
  private admitPending(c: Candidate, endpoint: string): boolean {
    if (c.source === 'hello' && c.nodeId !== undefined) {
      const claimed = this.claims.get(c.nodeId);
      if (claimed !== undefined && claimed.endpoint !== endpoint && unanswered(claimed)) this.remove(claimed);
    }
    let pending = 0;
    for (const l of this.links.values()) if (!l.persistent && !l.isUp) pending++;
    if (pending < MAX_PENDING_LINKS) return true;
    this.d.bounds.candidatesRefused++;
    this.limited.warn('pending', { endpoint, source: c.source, pending }, `${MAX_PENDING_LINKS} peer links pending already: candidate refused`);
    return false;
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
        if (link.state === wanted && (best === undefined || this.d.outstanding(link.nodeId) < this.d.outstanding(best.nodeId))) best = link;
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
      const off = this.d.bus.on('peer:up', () => { if (this.count(service) >= count) finish(); });
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

  /** The up (or suspect) link of `nodeId`. */
  byNode(nodeId: string): PeerLink | undefined {
    const link = this.owners.get(nodeId);
    return link !== undefined && link.isUp ? link : undefined;
  }

  /** Node ids of the up (or suspect) instances of `service`. */
  upOf(service: string): string[] {
    return (this.services.get(service) ?? []).map((l) => l.nodeId);
  }

  list(): PeerInfo[] {
    const out: PeerInfo[] = [];
    for (const link of this.links.values()) {
      const info = link.info(this.d.outstanding(link.nodeId));
      if (info !== undefined) out.push(info);
    }
    return out;
  }

  /** Messages waiting in every link's DEALER send queue. */
  queued(): number {
    let n = 0;
    for (const link of this.links.values()) n += link.queued;
    return n;
  }

  tick(now: number): void {
    for (const link of [...this.links.values()]) {
      if (!link.persistent && unanswered(link) && now - link.connectingSinceMs > PENDING_LINK_TTL_MS) {
        this.d.bounds.pendingExpired++;
        this.d.log.debug({ endpoint: link.endpoint }, 'pending peer link expired');
        this.remove(link);
        continue;
      }
      link.tick(now);
    }
  }

  /** BYE to every peer, then release all links. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.map((l) => l.close(true, timeoutMs)));
  }

  abort(): void {
    this.closed = true;
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
    this.d.trust?.admit(hello, link);
    this.owners.set(hello.nodeId, link);
    const pubEndpoint = `tcp://${parseEndpoint(link.endpoint)?.host ?? '127.0.0.1'}:${hello.pubPort}`;
    try {
      await this.d.peerReady(hello.nodeId, pubEndpoint, link.serverKey);
    } catch (err) {
      if (this.owners.get(hello.nodeId) === link) this.owners.delete(hello.nodeId);
      this.d.peerGone(hello.nodeId, 'handshake not completed');
      throw err;
    }
    if (this.links.get(link.endpoint) !== link) {
      // Removed (or replaced) meanwhile: it must not come up as a link nobody holds.
      // What its handshake set up goes too, unless another link owns the node now.
      if (this.owners.get(hello.nodeId) === link) {
        this.owners.delete(hello.nodeId);
        this.d.peerGone(hello.nodeId, 'link removed during its handshake');
      }
      return;
    }
    link.markUp(pubEndpoint, this.d.link.clock.monotonic());
    this.informants.delete(link);
    this.reindex(hello.service);
    this.noteJoined(hello, link.endpoint, link.serverKey);
    this.d.bus.emit({ type: 'peer:up', peer: link.info(this.d.outstanding(hello.nodeId))! });
  }

  /** peer.joined, or peer.restarted when the same node id comes back as a new process. */
  private noteJoined(hello: Hello, endpoint: string, serverKey: string | undefined): void {
    const peer = { nodeId: hello.nodeId, service: hello.service, endpoint, ...(serverKey === undefined ? {} : { fingerprint: keyFingerprint(serverKey) }) };
    const previous = this.startedBy.get(hello.nodeId);
    this.startedBy.delete(hello.nodeId);
    this.startedBy.set(hello.nodeId, hello.startedMs);
    if (this.startedBy.size > MAX_REMEMBERED_STARTS) this.startedBy.delete(this.startedBy.keys().next().value!);
    if (previous !== undefined && previous !== hello.startedMs) {
      logEvent(this.d.log, { event: 'peer.restarted', peer, startedMs: hello.startedMs, previousStartedMs: previous });
    } else {
      logEvent(this.d.log, { event: 'peer.joined', peer });
    }
  }

  private onDown(link: PeerLink, reason: string): void {
    const peer = link.peer!;
    if (this.owners.get(peer.nodeId) === link) this.owners.delete(peer.nodeId);
    this.reindex(peer.service);
    this.d.peerGone(peer.nodeId, reason);
    const info = { ...link.info(this.d.outstanding(peer.nodeId))!, state: 'down' as const };
    // What it listed was only ever its word: pending links it made go with it.
    for (const [l, from] of [...this.informants]) if (from === peer.nodeId && !l.isUp) this.remove(l);
    logEvent(this.d.log, { event: 'peer.left', peer: { nodeId: peer.nodeId, service: peer.service, endpoint: link.endpoint }, reason });
    this.d.bus.emit({ type: 'peer:down', peer: info, reason });
    if (!link.persistent) queueMicrotask(() => this.remove(link));
  }

  private remove(link: PeerLink): void {
    if (this.links.get(link.endpoint) !== link) return;
    this.links.delete(link.endpoint);
    for (const [id, l] of this.claims) if (l === link) this.claims.delete(id);
    this.informants.delete(link);
    link.abort();
  }

  private reindex(service: string): void {
    const list = [...this.links.values()].filter((l) => l.isUp && l.peer?.service === service);
    if (list.length === 0) this.services.delete(service);
    else this.services.set(service, list);
  }
}

/** A link that is not up and never got a WELCOME: nothing has answered at its endpoint. */
function unanswered(link: PeerLink): boolean {
  return !link.isUp && !link.isHandshaking && link.peer === undefined;
}
