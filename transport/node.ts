/**
 * createNode: the composition root. It builds each layer from the one resolved
 * configuration and the injected components, wires them, and owns the lifecycle; the
 * façade methods only check that the node is running and delegate.
 *
 *            peers' DEALERs                      peers' SUBs
 *                 |                                   ^
 *                 v                                   |
 *   [ROUTER] -> RequestServer -> handlers      [XPUB] <- Publisher <- publish()
 *                     `-> reliable receiver           -> sync marks
 *   request()/command() -> RequestClient -> PeerTable.pick -> PeerLink [DEALER]
 *   subscribe() -> EventSubscriber [SUB] <- every live peer's PUB
 *   send()/publishReliable()/subscribeDurable() -> ReliableLayer (store/) -> the above
 */
import type { Logger } from 'pino';
import type * as zmq from 'zeromq';
import { createEventBus } from './bus.js';
import { systemClock } from './clock.js';
import { PROTOCOL_VERSION } from './codec/envelope.js';
import type { HelloInit } from './codec/control.js';
import { checkMethodName, type CommandDef, type EventDef } from './defs.js';
import { AbortedError, BindFailedError, ClosedError, InvalidArgumentError, PeerDownError, errorMessage } from './errors.js';
import { silentLogger } from './log.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { mdnsFromSettings } from './discovery/mdns.js';
import { staticDiscovery } from './discovery/static.js';
import { PeerTable } from './peers/peer-table.js';
import { RequestClient } from './protocol/client.js';
import { dropReporter } from './protocol/drops.js';
import { EnvelopeBuilder } from './protocol/envelopes.js';
import { inbound } from './protocol/inbound.js';
import { PendingRequests } from './protocol/pending.js';
import { RequestServer } from './protocol/server.js';
import { Publisher, toWire } from './pubsub/publisher.js';
import { EventSubscriber } from './pubsub/subscriber.js';
import { validatePrefix } from './pubsub/topics.js';
import { ReliableLayer } from './reliable/layer.js';
import { checkPayloadSize } from './reliable/transaction.js';
import { readLoop } from './socket/read-loop.js';
import type { SendQueue } from './socket/send-queue.js';
import { boundPort, closeQuietly, createPublisher, createRouter, createSubscriber, sendQueue, type QueueReport } from './socket/sockets.js';
import { Counters } from './stats.js';
import { settleWithin } from './timers.js';
import type {
  Candidate, Clock, Database, Discovery, DurableHandler, EventListener, Handler, MeshNode, NodeComponents, NodeEndpoints,
  NodeEventOf, NodeEventType, NodeObserver, NodeOptions, NodeStats, PeerInfo, ReliableHandler, ReliableStats,
  RequestOptions, SendOptions, SubscribeOptions, Subscription, Transaction,
} from './types.js';

/** Peer table timer: liveness is judged at this granularity. */
const TICK_MS = 50;

type Lifecycle = 'new' | 'starting' | 'running' | 'closing' | 'closed';

/** Creates a node. Throws INVALID_ARGUMENT for a bad option. Call `start()` to bind
 *  its sockets and find peers. */
export function createNode(options: NodeOptions, components: NodeComponents = {}): MeshNode {
  return new Node(resolveOptions(options), components);
}

/** Observer hooks run on the hot path; one that throws must not break delivery. */
function guardObserver(o: NodeObserver | undefined, log: Logger): Required<NodeObserver> | undefined {
  if (o === undefined) return undefined;
  const guard = <A extends unknown[]>(name: string, f: ((...a: A) => void) | undefined) => (...a: A): void => {
    try {
      f?.(...a);
    } catch (err) {
      log.warn({ err, hook: name }, 'node observer threw');
    }
  };
  return { dropped: guard('dropped', o.dropped?.bind(o)), requestSettled: guard('requestSettled', o.requestSettled?.bind(o)) };
}

class Node implements MeshNode {
  readonly id: string;
  readonly service: string;
  readonly mesh: string;
  readonly closed: Promise<void>;

  private state: Lifecycle = 'new';
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private markClosed!: () => void;
  private bound: NodeEndpoints | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly lifetime = new AbortController();
  private readonly startedMs = Date.now();
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly counters = new Counters();
  private readonly bus = createEventBus();
  private readonly pending: PendingRequests;
  private readonly sockets: { router: zmq.Router; xpub: zmq.XPublisher; sub: zmq.Subscriber };
  private readonly queues: { router: SendQueue; pub: SendQueue };
  private readonly server: RequestServer;
  private readonly client: RequestClient;
  private readonly publisher: Publisher;
  private readonly subscriber: EventSubscriber;
  private readonly table: PeerTable;
  private readonly reliable: ReliableLayer | undefined;
  /** Discovery sources by name, for stats(): "static", "mdns", "source0", ... */
  private readonly sources: Array<[string, Discovery]> = [];

  constructor(private readonly opts: ResolvedOptions, components: NodeComponents) {
    this.id = opts.nodeId;
    this.service = opts.service;
    this.mesh = opts.mesh;
    this.closed = new Promise((resolve) => { this.markClosed = resolve; });
    const log = (components.logger ?? silentLogger()).child({ component: 'zmesh', node: this.id });
    this.log = log;
    const clock = components.clock ?? systemClock;
    this.clock = clock;
    const observer = guardObserver(components.observer, log);
    const counters = this.counters;
    const drop = dropReporter(counters, log, observer?.dropped);
    const builder = new EnvelopeBuilder(this.id, this.service, clock);
    const decode = inbound({ maxPayloadBytes: opts.maxPayloadBytes, counters, drop });
    const report: QueueReport = {
      sent: (n) => { counters.sent += n; counters.batches++; },
      failed: (err, n, queue) => { counters.sendErrors++; log.debug({ err, frames: n, queue }, 'send failed'); },
    };
    this.pending = new PendingRequests(counters, observer?.requestSettled);

    const router = createRouter(opts.sockets);
    const xpub = createPublisher(opts.sockets);
    const sub = createSubscriber(opts.sockets);
    this.sockets = { router, xpub, sub };
    this.queues = {
      router: sendQueue('router', opts.sendQueueLimit, (f) => router.send(f), report),
      pub: sendQueue('publisher', opts.sendQueueLimit, async (batch) => {
        for (const message of toWire(batch)) await xpub.send(message);
      }, report),
    };

    this.server = new RequestServer({
      service: this.service, maxPayloadBytes: opts.maxPayloadBytes, counters, drop, log, builder, inbound: decode,
      queue: this.queues.router, localHello: () => this.localHello(),
    });
    this.publisher = new Publisher(builder, this.queues.pub, counters, drop);
    this.subscriber = new EventSubscriber({ sub, nodeId: this.id, inbound: decode, counters, drop, log });
    // The client and the table need each other (routes; answers): the table is
    // handed the client's answer routing through a closure.
    const answers = { onAnswer: (env: Parameters<RequestClient['onAnswer']>[0]) => this.client.onAnswer(env) };
    this.table = new PeerTable({
      selfId: this.id,
      mesh: this.mesh,
      bus: this.bus,
      log,
      link: {
        heartbeatIntervalMs: opts.heartbeatIntervalMs, suspectAfterMs: opts.suspectAfterMs, deadAfterMs: opts.deadAfterMs,
        sendQueueLimit: opts.sendQueueLimit, sockets: opts.sockets, report, inbound: decode, answers, builder, drop, log, clock,
        localHello: () => this.localHello(),
      },
      outstanding: (nodeId) => this.pending.inFlightTo(nodeId),
      peerReady: (nodeId, pubEndpoint) => this.subscriber.connect(nodeId, pubEndpoint, opts.subscribeTimeoutMs),
      peerGone: (nodeId, reason) => this.peerGone(nodeId, reason),
    });
    this.client = new RequestClient({ routes: this.table, builder, pending: this.pending, drop, requestTimeoutMs: opts.requestTimeoutMs });
    this.server.listen({
      onHello: (hello) => {
        if (hello.mesh !== this.mesh) return drop('foreignMesh', `mesh "${hello.mesh}"`, hello.nodeId);
        this.table.propose({ endpoints: hello.routerEndpoints, nodeId: hello.nodeId, source: 'hello' });
      },
      onBye: (nodeId) => this.table.byNode(nodeId)?.markDown('said goodbye'),
    });
    this.reliable = opts.storePath === undefined ? undefined : new ReliableLayer({
      storePath: opts.storePath, settings: opts.reliable, maxPayloadBytes: opts.maxPayloadBytes,
      subscribeTimeoutMs: opts.subscribeTimeoutMs, nodeId: this.id, service: this.service, builder,
      client: this.client, peers: this.table, server: this.server, publisher: this.publisher,
      subscriber: this.subscriber, bus: this.bus, clock, log,
    });
    if (opts.peers.length > 0) this.sources.push(['static', staticDiscovery({ peers: opts.peers })]);
    if (opts.mdns !== undefined) this.sources.push(['mdns', mdnsFromSettings(opts.mdns, log)]);
    opts.sources.forEach((s, i) => this.sources.push([`source${i}`, s]));
  }

  get endpoints(): NodeEndpoints {
    if (this.bound === undefined) throw new ClosedError('node is not started');
    return this.bound;
  }

  start(): Promise<void> {
    this.starting ??= this.doStart().catch((err: unknown) => {
      this.abort();
      throw err;
    });
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.state !== 'new') throw new ClosedError('node is closed');
    this.state = 'starting';
    this.reliable?.start();
    const { router, xpub, sub } = this.sockets;
    await bind(router, `tcp://${this.opts.host}:${this.opts.routerPort}`, 'ROUTER');
    await bind(xpub, `tcp://${this.opts.host}:${this.opts.pubPort}`, 'PUB');
    const ports = { routerPort: boundPort(router.lastEndpoint), pubPort: boundPort(xpub.lastEndpoint) };
    this.bound = { router: router.lastEndpoint!, pub: xpub.lastEndpoint!, ...ports };
    const onError = (what: string) => (err: unknown) => this.log.error({ err }, `${what} receive failed`);
    void readLoop(router, (f) => this.server.onMessage(f), onError('router'));
    void readLoop(xpub, (f) => this.publisher.onSubscription(f), onError('xpub'));
    void readLoop(sub, (f) => this.subscriber.onMessage(f), onError('sub'));
    // A timer callback must never take the process down: log and keep ticking.
    this.ticker = setInterval(() => {
      try {
        this.table.tick(this.clock.monotonic());
      } catch (err) {
        this.log.error({ err }, 'peer table tick failed');
      }
    }, TICK_MS);
    const sink = { propose: (c: Candidate) => this.table.propose(c), withdraw: (c: Candidate) => this.table.withdraw(c) };
    const local = { nodeId: this.id, service: this.service, mesh: this.mesh, ...ports, protocolVersion: PROTOCOL_VERSION };
    for (const [, source] of this.sources) await source.start(local, sink, this.lifetime.signal);
    this.state = 'running';
    this.log.info({ endpoints: this.bound, service: this.service }, 'node started');
  }

  handle(method: string, handler: Handler): void {
    checkMethodName(method);
    this.server.handle(method, handler);
  }

  handleReliable(method: string, handler: ReliableHandler): void {
    this.reliableClass().handle(method, handler);
  }

  request(service: string, method: string, payload: Uint8Array, o: RequestOptions = {}): Promise<Uint8Array> {
    return attempt(() => {
      this.checkSend(payload);
      if (o.signal?.aborted) throw new AbortedError(`${service}.${method} aborted before it was sent`, { cause: o.signal.reason });
      return this.client.request(service, method, payload, o);
    });
  }

  command(service: string, method: string, payload: Uint8Array, o: SendOptions = {}): void {
    this.checkSend(payload);
    this.client.command(service, method, payload, o);
  }

  send(a: string | CommandDef<unknown>, b: unknown, c?: unknown, d?: unknown): Promise<void> {
    return attempt(() => this.runningReliable().send(a, b, c, d));
  }

  publishReliable(a: string | EventDef<unknown>, b: unknown, c?: unknown): Promise<void> {
    return attempt(() => this.runningReliable().publishReliable(a, b, c));
  }

  transact<T>(fn: (tx: Transaction) => T): T {
    return this.runningReliable().transact(fn);
  }

  subscribeDurable(name: string, prefix: string, handler: DurableHandler): Promise<{ close(): void }> {
    return attempt(() => this.runningReliable().subscribeDurable(name, prefix, handler));
  }

  get db(): Database | undefined {
    return this.reliable?.db;
  }

  reliableStats(): ReliableStats | undefined {
    return this.reliable?.stats();
  }

  publish(topic: string, payload: Uint8Array, o: SendOptions = {}): void {
    this.checkSend(payload);
    this.publisher.publish(topic, payload, o.headers);
  }

  async subscribe(prefix: string, listener: EventListener, o: SubscribeOptions = {}): Promise<Subscription> {
    validatePrefix(prefix);
    this.assertRunning();
    const remove = await this.subscriber.subscribe(prefix, listener, o.timeoutMs ?? this.opts.subscribeTimeoutMs);
    const onAbort = (): void => remove();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    return {
      prefix,
      unsubscribe: () => {
        o.signal?.removeEventListener('abort', onAbort);
        remove();
      },
    };
  }

  waitForService(service: string, o: { count?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const signal = o.signal === undefined ? this.lifetime.signal : AbortSignal.any([o.signal, this.lifetime.signal]);
    return this.table.waitFor(service, o.count ?? 1, o.timeoutMs ?? this.opts.requestTimeoutMs, signal);
  }

  peers(): PeerInfo[] {
    return this.table.list();
  }

  stats(): NodeStats {
    const s = this.counters.snapshot();
    for (const [name, source] of this.sources) s.discovery[name] = source.stats?.();
    return s;
  }

  on<T extends NodeEventType>(type: T, listener: (event: NodeEventOf<T>) => void): () => void {
    return this.bus.on(type, listener);
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.starting !== undefined) await this.starting.catch(() => undefined);
    // A start that failed has aborted the node meanwhile.
    if ((this.state as Lifecycle) === 'closed') return;
    this.state = 'closing';
    const t = this.opts.closeTimeoutMs;
    try {
      // Finish what we owe others first: running handlers and their replies.
      this.server.stopAccepting();
      await settleWithin(this.server.idle(), t);
      await settleWithin(this.queues.router.drained(), t);
      await settleWithin(this.queues.pub.drained(), t);
      this.lifetime.abort(new ClosedError('node closed'));
      await Promise.all(this.sources.map(([, d]) => d.close().catch(() => undefined)));
      await this.table.close(t);
    } catch (err) {
      this.log.error({ err }, 'error while closing');
    }
    this.release();
  }

  abort(): void {
    if (this.state === 'closed') return;
    this.lifetime.abort(new ClosedError('node aborted'));
    this.server.abortAll(new ClosedError('node aborted'));
    for (const [, d] of this.sources) void d.close().catch(() => undefined);
    this.table.abort();
    this.release(0);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private release(lingerMs?: number): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearInterval(this.ticker);
    this.queues.router.close();
    this.queues.pub.close();
    this.subscriber.close();
    this.pending.rejectAll(() => new ClosedError('node closed before the reply arrived'));
    this.reliable?.close();
    for (const sock of Object.values(this.sockets)) closeQuietly(sock, lingerMs);
    this.log.info('node closed');
    this.markClosed();
  }

  /** A peer left: its events stop, its requests fail with PEER_DOWN. */
  private peerGone(nodeId: string, reason: string): void {
    this.subscriber.disconnect(nodeId);
    this.pending.rejectPeer(nodeId, () => new PeerDownError(`peer ${nodeId} went down (${reason})`, { remoteNode: nodeId }));
  }

  /** The one lifecycle guard. */
  private assertRunning(): void {
    if (this.state !== 'running') throw new ClosedError(`node is ${this.state}, not running`);
  }

  private reliableClass(): ReliableLayer {
    if (this.reliable === undefined) throw new InvalidArgumentError('the reliable class needs a store: set storePath');
    return this.reliable;
  }

  private runningReliable(): ReliableLayer {
    this.assertRunning();
    return this.reliableClass();
  }

  private checkSend(payload: Uint8Array): void {
    this.assertRunning();
    checkPayloadSize(payload, this.opts.maxPayloadBytes);
  }

  private localHello(): HelloInit {
    const ports = this.bound ?? { routerPort: 0, pubPort: 0 };
    return {
      nodeId: this.id,
      service: this.service,
      mesh: this.mesh,
      routerPort: ports.routerPort,
      pubPort: ports.pubPort,
      routerEndpoints: this.opts.advertise.map((a) => `tcp://${a}:${ports.routerPort}`),
      protocolVersion: PROTOCOL_VERSION,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      startedMs: this.startedMs,
    };
  }
}

/** Runs `f`, turning a synchronous throw into a rejection: promise-returning façade
 *  methods never throw. */
function attempt<T>(f: () => Promise<T>): Promise<T> {
  try {
    return f();
  } catch (err) {
    return Promise.reject(err);
  }
}

async function bind(sock: zmq.Router | zmq.XPublisher, address: string, what: string): Promise<void> {
  try {
    await sock.bind(address);
  } catch (err) {
    throw new BindFailedError(`cannot bind ${what} on ${address}: ${errorMessage(err)}`, { cause: err });
  }
}
