/**
 * createNode: wires sockets, codec, protocol and peers into one MeshNode.
 *
 *            peers' DEALERs                      peers' SUBs
 *                 |                                   ^
 *                 v                                   |
 *   [ROUTER] -> RequestServer -> handlers      [XPUB] <- Publisher <- publish()
 *                                                     -> sync marks
 *   request()/command() -> PeerTable.pick -> PeerLink [DEALER] -> peer's ROUTER
 *   subscribe() -> EventSubscriber [SUB] <- every live peer's PUB
 *
 * This module owns lifecycle only; each box above is its own module.
 */
import type { Logger } from 'pino';
import type * as zmq from 'zeromq';
import {
  AbortedError, BindFailedError, ClosedError, InvalidArgumentError, MessageTooLargeError,
  UnknownMethodError, errorMessage,
} from './errors.js';
import { PROTOCOL_VERSION, type HelloInit } from './codec.js';
import { silentLogger } from './log.js';
import { MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, resolveOptions, type ResolvedOptions } from './options.js';
import { mdnsDiscovery } from './discovery/mdns.js';
import { PeerTable } from './peers/peer-table.js';
import { ReliableLayer } from './reliable/layer.js';
import { dropReporter, type DropFn } from './protocol/drops.js';
import { EnvelopeBuilder } from './protocol/envelopes.js';
import { RequestClient } from './protocol/client.js';
import { PendingRequests } from './protocol/pending.js';
import { RequestServer } from './protocol/server.js';
import { Publisher, toWire } from './pubsub/publisher.js';
import { EventSubscriber } from './pubsub/subscriber.js';
import { validatePrefix } from './pubsub/topics.js';
import { readLoop } from './socket/read-loop.js';
import { SendQueue } from './socket/send-queue.js';
import { boundPort, closeQuietly, createPublisher, createRouter, createSubscriber } from './socket/sockets.js';
import { Counters } from './stats.js';
import type {
  Database, Discovery, DurableHandler, EventListener, Handler, MeshNode, ReliableHandler, ReliableStats, Transaction, NodeComponents, NodeEndpoints, NodeEventOf, NodeEventType, NodeOptions,
  NodeStats, PeerInfo, RequestOptions, SendOptions, SubscribeOptions, Subscription,
} from './types.js';
import { settleWithin } from './timers.js';

/** How long a subscription or a new peer's publisher may take to confirm. */
export const SUBSCRIBE_TIMEOUT_MS = 5_000;
/** Peer table timer: liveness is judged at this granularity. */
const TICK_MS = 50;

type Lifecycle = 'new' | 'starting' | 'running' | 'closing' | 'closed';

/** Creates a node. Call `start()` to bind its sockets and find peers. */
export function createNode(options: NodeOptions, components: NodeComponents = {}): MeshNode {
  return new Node(resolveOptions(options), options, components);
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
  private ports = { router: 0, pub: 0 };
  private bound: NodeEndpoints | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly lifetime = new AbortController();
  private readonly startedMs = Date.now();

  private readonly log: Logger;
  private readonly counters = new Counters();
  private readonly drop: DropFn;
  private readonly builder: EnvelopeBuilder;
  private readonly pending: PendingRequests;
  private readonly router: zmq.Router;
  private readonly xpub: zmq.XPublisher;
  private readonly sub: zmq.Subscriber;
  private readonly routerQueue: SendQueue;
  private readonly pubQueue: SendQueue;
  private readonly server: RequestServer;
  private readonly publisher: Publisher;
  private readonly subscriber: EventSubscriber;
  private readonly table: PeerTable;
  private readonly client: RequestClient;
  /** Discovery sources by name ("mdns", "source0", ...); the static list is the table's. */
  private readonly sources: Array<[string, Discovery]> = [];
  /** The reliable class; present after start() when storePath is set. */
  private reliableLayer: ReliableLayer | undefined;
  private readonly reliableHandlers = new Map<string, ReliableHandler>();

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly userOptions: NodeOptions,
    components: NodeComponents,
  ) {
    this.id = opts.nodeId;
    this.service = opts.service;
    this.mesh = opts.mesh;
    this.closed = new Promise((resolve) => { this.markClosed = resolve; });
    this.log = (components.logger ?? silentLogger()).child({ component: 'zmesh', node: this.id });
    this.drop = dropReporter(this.counters, this.log);
    this.builder = new EnvelopeBuilder(this.id, this.service);
    this.pending = new PendingRequests(this.counters);

    const limits = { maxFrameBytes: opts.maxFrameBytes };
    this.router = createRouter(limits);
    this.xpub = createPublisher(limits);
    this.sub = createSubscriber(limits);
    this.routerQueue = this.queueFor('router', (f) => this.router.send(f));
    this.pubQueue = this.queueFor('publisher', async (batch) => {
      for (const message of toWire(batch)) await this.xpub.send(message);
    });

    this.server = new RequestServer({
      service: this.service,
      maxPayloadBytes: opts.maxPayloadBytes,
      counters: this.counters,
      drop: this.drop,
      log: this.log,
      builder: this.builder,
      queue: this.routerQueue,
      localHello: () => this.localHello(),
      onHello: (hello) => {
        if (hello.mesh !== this.mesh) return this.drop('foreignMesh', `mesh "${hello.mesh}"`, hello.nodeId);
        this.table.propose({ endpoints: hello.routerEndpoints, nodeId: hello.nodeId, source: 'hello' });
      },
      onBye: (nodeId) => this.table.byNode(nodeId)?.markDown('said goodbye'),
      reliable: (env, caller) => {
        if (this.reliableLayer === undefined) throw new UnknownMethodError(`node of "${this.service}" has no store for reliable commands`);
        this.reliableLayer.receive(env, caller);
      },
    });
    this.publisher = new Publisher(this.builder, this.pubQueue, this.counters, this.drop);
    this.subscriber = new EventSubscriber(this.sub, this.id, opts.maxPayloadBytes, this.counters, this.drop, this.log);
    this.table = new PeerTable({
      selfId: this.id,
      mesh: this.mesh,
      link: {
        opts,
        counters: this.counters,
        drop: this.drop,
        log: this.log,
        builder: this.builder,
        pending: this.pending,
        localHello: () => this.localHello(),
      },
      subscriber: this.subscriber,
      pending: this.pending,
      log: this.log,
      syncTimeoutMs: SUBSCRIBE_TIMEOUT_MS,
    });
    this.client = new RequestClient({ table: this.table, builder: this.builder, pending: this.pending, requestTimeoutMs: opts.requestTimeoutMs });
    if (opts.discovery !== 'static') {
      this.sources.push(['mdns', mdnsDiscovery({ ...userOptions.mdns, interface: userOptions.interface, logger: this.log })]);
    }
    (userOptions.sources ?? []).forEach((s, i) => this.sources.push([`source${i}`, s]));
  }

  get endpoints(): NodeEndpoints {
    if (this.bound === undefined) throw new ClosedError('node is not started');
    return this.bound;
  }

  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.state !== 'new') throw new ClosedError('node is closed');
    this.state = 'starting';
    if (this.userOptions.storePath !== undefined) {
      try {
        this.reliableLayer = new ReliableLayer({
          storePath: this.userOptions.storePath,
          options: this.userOptions.reliable ?? {},
          maxPayloadBytes: this.opts.maxPayloadBytes,
          nodeId: this.id,
          service: this.service,
          builder: this.builder,
          pending: this.pending,
          table: this.table,
          client: this.client,
          publisher: this.publisher,
          server: this.server,
          subscribe: (prefix, listener) => this.subscribe(prefix, listener),
          log: this.log,
        });
      } catch (err) {
        this.abort();
        throw err;
      }
      for (const [method, h] of this.reliableHandlers) this.reliableLayer.handle(method, h);
    }
    const { host } = this.opts;
    await this.bind(this.router, `tcp://${host}:${this.opts.routerPort}`, 'ROUTER');
    await this.bind(this.xpub, `tcp://${host}:${this.opts.pubPort}`, 'PUB');
    this.ports = { router: boundPort(this.router.lastEndpoint), pub: boundPort(this.xpub.lastEndpoint) };
    this.bound = {
      router: this.router.lastEndpoint!,
      pub: this.xpub.lastEndpoint!,
      routerPort: this.ports.router,
      pubPort: this.ports.pub,
    };
    const onError = (what: string) => (err: unknown) => this.log.error({ err }, `${what} receive failed`);
    void readLoop(this.router, (f) => this.server.onMessage(f), onError('router'));
    void readLoop(this.xpub, (f) => this.publisher.onSubscription(f), onError('xpub'));
    void readLoop(this.sub, (f) => this.subscriber.onMessage(f), onError('sub'));
    // A timer callback must never take the process down: log and keep ticking.
    this.ticker = setInterval(() => {
      try {
        this.table.tick(performance.now());
      } catch (err) {
        this.log.error({ err }, 'peer table tick failed');
      }
    }, TICK_MS);
    for (const endpoint of this.opts.peers) this.table.propose({ endpoints: [endpoint], source: 'static', persistent: true });
    const sink = {
      propose: (c: Parameters<PeerTable['propose']>[0]) => this.table.propose(c),
      withdraw: (c: Parameters<PeerTable['withdraw']>[0]) => this.table.withdraw(c),
    };
    const local = {
      nodeId: this.id, service: this.service, mesh: this.mesh,
      routerPort: this.ports.router, pubPort: this.ports.pub, protocolVersion: PROTOCOL_VERSION,
    };
    try {
      for (const [, source] of this.sources) await source.start(local, sink, this.lifetime.signal);
    } catch (err) {
      this.abort();
      throw err;
    }
    this.state = 'running';
    this.reliableLayer?.start();
    this.log.info({ endpoints: this.bound, service: this.service }, 'node started');
  }

  private async bind(sock: zmq.Socket & { bind(a: string): Promise<void> }, address: string, what: string): Promise<void> {
    try {
      await sock.bind(address);
    } catch (err) {
      this.abort();
      throw new BindFailedError(`cannot bind ${what} on ${address}: ${errorMessage(err)}`, { cause: err });
    }
  }

  handle(method: string, handler: Handler): void {
    this.server.handle(method, handler);
  }

  request(service: string, method: string, payload: Uint8Array, o: RequestOptions = {}): Promise<Uint8Array> {
    try {
      this.checkSend(payload);
      if (o.signal?.aborted) throw new AbortedError(`${service}.${method} aborted before it was sent`, { cause: o.signal.reason });
      return this.client.request(service, method, payload, o);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  send(service: string, method: string, payload: Uint8Array, o: SendOptions = {}): Promise<void> {
    if (this.state !== 'running') return Promise.reject(new ClosedError(`node is ${this.state}, not running`));
    return this.reliable().send(service, method, payload, o);
  }

  transact<T>(fn: (tx: Transaction) => T): T {
    if (this.state !== 'running') throw new ClosedError(`node is ${this.state}, not running`);
    return this.reliable().transact(fn);
  }

  publishReliable(topic: string, payload: Uint8Array, o: SendOptions = {}): Promise<void> {
    if (this.state !== 'running') return Promise.reject(new ClosedError(`node is ${this.state}, not running`));
    try {
      return this.reliable().publishReliable(topic, payload, o);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  subscribeDurable(name: string, prefix: string, handler: DurableHandler): Promise<{ close(): void }> {
    if (this.state !== 'running') return Promise.reject(new ClosedError(`node is ${this.state}, not running`));
    try {
      return this.reliable().subscribeDurable(name, prefix, handler);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  handleReliable(method: string, handler: ReliableHandler): void {
    this.reliableHandlers.set(method, handler);
    this.reliableLayer?.handle(method, handler);
  }

  get db(): Database | undefined {
    return this.reliableLayer?.db;
  }

  reliableStats(): ReliableStats | undefined {
    return this.reliableLayer?.stats();
  }

  private reliable(): ReliableLayer {
    if (this.reliableLayer === undefined) throw new InvalidArgumentError('the reliable class needs a store: set storePath');
    return this.reliableLayer;
  }

  command(service: string, method: string, payload: Uint8Array, o: SendOptions = {}): void {
    this.checkSend(payload);
    this.client.command(service, method, payload, o);
  }

  publish(topic: string, payload: Uint8Array, o: SendOptions = {}): void {
    this.checkSend(payload);
    this.publisher.publish(topic, payload, o.headers);
  }

  async subscribe(prefix: string, listener: EventListener, o: SubscribeOptions = {}): Promise<Subscription> {
    validatePrefix(prefix);
    if (this.state !== 'running') throw new ClosedError(`node is ${this.state}, not running`);
    const remove = await this.subscriber.subscribe(prefix, listener, o.timeoutMs ?? SUBSCRIBE_TIMEOUT_MS);
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
    return this.table.on(type, listener);
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.starting !== undefined) await this.starting.catch(() => undefined);
    this.state = 'closing';
    const t = this.opts.closeTimeoutMs;
    try {
      // Finish what we owe others first: running handlers and their replies.
      this.server.stopAccepting();
      await settleWithin(this.server.idle(), t);
      await settleWithin(this.routerQueue.drained(), t);
      await settleWithin(this.pubQueue.drained(), t);
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

  private release(lingerMs?: number): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearInterval(this.ticker);
    this.routerQueue.close();
    this.pubQueue.close();
    this.subscriber.close();
    this.pending.rejectAll(() => new ClosedError('node closed before the reply arrived'));
    this.reliableLayer?.close();
    for (const sock of [this.router, this.xpub, this.sub]) closeQuietly(sock, lingerMs);
    this.log.info('node closed');
    this.markClosed();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private checkSend(payload: Uint8Array): void {
    if (this.state !== 'running') throw new ClosedError(`node is ${this.state}, not running`);
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
    if (payload.byteLength > this.opts.maxPayloadBytes) {
      throw new MessageTooLargeError(`payload of ${payload.byteLength} bytes exceeds maxPayloadBytes ${this.opts.maxPayloadBytes}`);
    }
  }

  private localHello(): HelloInit {
    return {
      nodeId: this.id,
      service: this.service,
      mesh: this.mesh,
      routerPort: this.ports.router,
      pubPort: this.ports.pub,
      routerEndpoints: this.opts.advertise.map((a) => `tcp://${a}:${this.ports.router}`),
      protocolVersion: PROTOCOL_VERSION,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      startedMs: this.startedMs,
    };
  }

  private queueFor(name: string, send: (frames: Uint8Array[]) => Promise<void>): SendQueue {
    return new SendQueue({
      name,
      limit: this.opts.sendQueueLimit,
      maxBatchMessages: MAX_BATCH_MESSAGES,
      maxBatchBytes: MAX_BATCH_BYTES,
      send,
      onSent: (n) => { this.counters.sent += n; this.counters.batches++; },
      onError: (err, n) => {
        this.counters.sendErrors++;
        this.log.debug({ err, frames: n, socket: name }, 'send failed');
      },
    });
  }
}
