/**
 * createNode: one node's lifecycle and its public façade. compose.ts builds and wires
 * the layers; this module binds them, starts their loops and timers, closes them in
 * order, and turns each public call into one guarded call to the layer that owns it.
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
import { compose, type NodeParts } from './compose.js';
import { PROTOCOL_VERSION } from './codec/envelope.js';
import type { HelloInit } from './codec/control.js';
import { checkHeaders, checkMethodName, checkSubject, type CommandDef, type EventDef } from './defs.js';
import { AbortedError, ClosedError, InvalidArgumentError } from './errors.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { SUMMARY_TOPIC } from './names.js';
import { summaryListener } from './observe/summary-codec.js';
import { fanOut } from './observe.js';
import { MetricsObserver, startMetrics, type NodeMetrics } from './observe/node-metrics.js';
import { validatePrefix } from './pubsub/topics.js';
import type { ReliableLayer } from './reliable/layer.js';
import { CatchUp } from './reliable/catch-up.js';
import { requestReplay } from './reliable/control.js';
import { checkPayloadSize } from './reliable/transaction.js';
import { readLoop } from './socket/read-loop.js';
import { bindOrFail, boundPort, closeQuietly } from './socket/sockets.js';
import { settleWithin } from './timers.js';
import { startZap, type ZapHandler } from './socket/zap.js';
import { NodeTracing } from './observe/tracing.js';
import type {
  Candidate, Clock, Database, Discovery, DurableHandler, EventListener, Handler, MeshNode, NodeComponents, NodeEndpoints,
  NodeEventOf, NodeEventType, NodeOptions, NodeStats, NodeSummary, PeerInfo, ReliableHandler, ReliableStats,
  RequestOptions, SendOptions, SubscribeOptions, Subscription, Transaction,
} from './types.js';

/** Peer table timer: liveness is judged at this granularity. */
const TICK_MS = 50;
/** How long close() lets libzmq send what was sent while closing before the sockets go. */
const CLOSE_FLUSH_MS = 20;
/** Certificates are checked for expiry and revocation every this many ticks (1 s). */
const TRUST_TICKS = 20;

type Lifecycle = 'new' | 'starting' | 'running' | 'closing' | 'closed';

/** Creates a node. Throws INVALID_ARGUMENT for a bad option. Call `start()` to bind
 *  its sockets and find peers. */
export function createNode(options: NodeOptions, components: NodeComponents = {}): MeshNode {
  return new Node(resolveOptions(options), components);
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
  private zap: ZapHandler | undefined;
  private readonly lifetime = new AbortController();
  private readonly startedMs = Date.now();
  private readonly p: NodeParts;
  /** Spans and trace context (observe/tracing.ts); `trace.on` is the only check a
   *  message pays while tracing is off. */
  private readonly trace: NodeTracing;
  /** With the `metrics` option: its hooks from the start, its server once started. */
  private readonly metricsObserver: MetricsObserver | undefined;
  private metrics: NodeMetrics | undefined;
  private metricsClosed: Promise<void> | undefined;

  constructor(private readonly opts: ResolvedOptions, components: NodeComponents) {
    this.id = opts.nodeId;
    this.service = opts.service;
    this.mesh = opts.mesh;
    this.closed = new Promise((resolve) => { this.markClosed = resolve; });
    this.metricsObserver = opts.metrics === undefined ? undefined : new MetricsObserver();
    const observer = fanOut([this.metricsObserver, components.observer]);
    this.p = compose(opts, { ...components, observer }, () => this.localHello());
    this.trace = new NodeTracing(opts.tracing, opts.service, this.p.log);
  }

  get publicKey(): string | undefined {
    return this.p.trust?.policy.publicKeyHex;
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
    // The optional OpenTelemetry API loads meanwhile; it never rejects.
    const tracing = this.trace.start();
    this.p.reliable?.start();
    const trust = this.p.trust;
    if (trust === undefined) {
      if (this.opts.insecure) this.p.log.warn('running INSECURE: anyone who can reach this node can join the mesh, forge messages and read them');
    } else {
      // The ZAP handler must serve before the first CURVE handshake can happen.
      this.zap = await startZap(trust.context, (r) => trust.policy.zapAllows(r.domain, r.clientKey, r.address), (err) => this.p.log.error({ err }, 'ZAP handler failed'));
    }
    if (this.opts.client) {
      // A light client binds nothing: its requests and their replies travel on the
      // DEALERs it opens, its events come on its SUB, and nobody can dial it.
      this.bound = { router: '', pub: '', routerPort: 0, pubPort: 0, advertised: [] };
    } else {
      const { router } = this.p.sockets;
      await bindOrFail(router, `tcp://${this.opts.host}:${this.opts.routerPort}`, 'ROUTER');
      const pub = await this.p.pubSocket.bind(`tcp://${this.opts.host}:${this.opts.pubPort}`);
      const ports = { routerPort: boundPort(router.lastEndpoint), pubPort: boundPort(pub) };
      this.bound = { router: router.lastEndpoint!, pub, ...ports, advertised: this.opts.advertise.map((a) => `tcp://${a}:${ports.routerPort}`) };
      void readLoop(router, (f) => this.p.server.onMessage(f), (err) => this.p.log.error({ err }, 'router receive failed'));
    }
    const ports = { routerPort: this.bound.routerPort, pubPort: this.bound.pubPort };
    // A timer callback must never take the process down: log and keep ticking.
    let ticks = 0;
    this.ticker = setInterval(() => {
      try {
        const now = this.p.clock.monotonic();
        this.p.table.tick(now);
        this.p.members.tick(now);
        if (trust !== undefined && ++ticks % TRUST_TICKS === 0) trust.policy.tick();
      } catch (err) {
        this.p.log.error({ err }, 'peer table tick failed');
      }
    }, TICK_MS);
    const sink = { propose: (c: Candidate) => this.p.table.propose(c), withdraw: (c: Candidate) => this.p.table.withdraw(c) };
    const local = {
      nodeId: this.id, service: this.service, mesh: this.mesh, ...ports, protocolVersion: PROTOCOL_VERSION,
      ...(trust === undefined ? {} : { publicKey: trust.policy.publicKeyHex }),
    };
    // A light client only browses: a source given no local node advertises nothing.
    for (const [, source] of this.p.sources) await source.start(this.opts.client ? undefined : local, sink, this.lifetime.signal);
    await tracing;
    if (this.opts.metrics !== undefined) await this.startMetrics(this.opts.metrics, this.bound);
    this.state = 'running';
    this.p.summaries?.start();
    this.p.log.info({ endpoints: this.bound, service: this.service }, 'node started');
  }

  private async startMetrics(settings: NonNullable<ResolvedOptions['metrics']>, bound: NodeEndpoints): Promise<void> {
    const view = {
      id: this.id, service: this.service, mesh: this.mesh, hasStore: this.p.reliable !== undefined,
      state: () => this.state, stats: () => this.stats(), reliableStats: () => this.reliableStats(), peers: () => this.peers(),
      on: this.on.bind(this) as MeshNode['on'],
    };
    this.metrics = await startMetrics(settings, view, this.metricsObserver!, this.p.log);
    if (this.metrics.url !== undefined) bound.metrics = this.metrics.url;
  }

  handle(method: string, handler: Handler): void {
    checkMethodName(method);
    this.notClient('handle');
    this.p.server.handle(method, this.trace.handler(method, handler));
  }

  handleReliable(method: string, handler: ReliableHandler): void {
    this.reliableClass().handle(method, this.trace.reliableHandler(method, handler));
  }

  request(service: string, method: string, payload: Uint8Array, o: RequestOptions = {}): Promise<Uint8Array> {
    return attempt(() => {
      this.checkSend(payload, o.headers);
      // Bytes only: "$" methods are zmesh's, and a caller may still ask them.
      checkSubject(method);
      if (o.signal?.aborted) throw new AbortedError(`${service}.${method} aborted before it was sent`, { cause: o.signal.reason });
      if (this.trace.on) return this.trace.ops.request(service, method, payload, o.headers, (headers) => this.p.client.request(service, method, payload, { ...o, headers }));
      return this.p.client.request(service, method, payload, o);
    });
  }

  command(service: string, method: string, payload: Uint8Array, o: SendOptions = {}): void {
    this.checkSend(payload, o.headers);
    checkSubject(method);
    if (this.trace.on) this.trace.ops.send([service, method, payload, o], (a) => this.p.client.command(service, method, payload, a[3] as SendOptions));
    else this.p.client.command(service, method, payload, o);
  }

  send(a: string | CommandDef<unknown>, b: unknown, c?: unknown, d?: unknown): Promise<void> {
    return attempt(() => {
      const r = this.runningReliable();
      return this.trace.on ? this.trace.ops.send([a, b, c, d], (x) => r.send(x[0] as string, x[1], x[2], x[3])) : r.send(a, b, c, d);
    });
  }

  publishReliable(a: string | EventDef<unknown>, b: unknown, c?: unknown): Promise<void> {
    return attempt(() => {
      const r = this.runningReliable();
      return this.trace.on ? this.trace.ops.publish([a, b, c], (x) => r.publishReliable(x[0] as string, x[1], x[2])) : r.publishReliable(a, b, c);
    });
  }

  transact<T>(fn: (tx: Transaction) => T): T {
    return this.runningReliable().transact(this.trace.transaction(fn));
  }

  commit<T>(fn: (tx: Transaction) => T): Promise<T> {
    return attempt(() => this.runningReliable().commit(this.trace.laterTransaction(fn)));
  }

  subscribeDurable(name: string, prefix: string, handler: DurableHandler): Promise<{ close(): void }> {
    return attempt(() => this.runningReliable().subscribeDurable(name, prefix, this.trace.durableHandler(name, handler)));
  }

  get db(): Database | undefined {
    return this.p.reliable?.db;
  }

  reliableStats(): ReliableStats | undefined {
    return this.p.reliable?.stats();
  }

  publish(topic: string, payload: Uint8Array, o: SendOptions = {}): void {
    this.notClient('publish');
    this.checkSend(payload, o.headers);
    if (this.trace.on) this.trace.ops.publish([topic, payload, o], (a) => this.p.publisher.publish(topic, payload, (a[2] as SendOptions).headers));
    else this.p.publisher.publish(topic, payload, o.headers);
  }

  async subscribe(prefix: string, given: EventListener, o: SubscribeOptions = {}): Promise<Subscription> {
    validatePrefix(prefix);
    return this.listen(prefix, this.trace.listener(given), o);
  }

  watchSummaries(listener: (summary: NodeSummary) => void, o: Pick<SubscribeOptions, 'signal' | 'timeoutMs'> = {}): Promise<Subscription> {
    return attempt(() => this.listen(SUMMARY_TOPIC, summaryListener(this.mesh, listener), { ...o, catchUp: false }));
  }

  /** A subscription to `prefix`, checked by the caller ("$" topics are zmesh's). */
  private async listen(prefix: string, listener: EventListener, o: SubscribeOptions): Promise<Subscription> {
    this.assertRunning();
    const catchUp = o.catchUp === true ? this.catchUpFor(prefix, listener) : undefined;
    let remove: () => void;
    try {
      remove = await this.p.subscriber.subscribe(prefix, catchUp?.onEvent ?? listener, o.timeoutMs ?? this.opts.subscribeTimeoutMs);
    } catch (err) {
      catchUp?.release();
      throw err;
    }
    const stop = (): void => {
      remove();
      catchUp?.release();
    };
    const onAbort = (): void => stop();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    return {
      prefix,
      unsubscribe: () => {
        o.signal?.removeEventListener('abort', onAbort);
        stop();
      },
    };
  }

  /** A catch-up (reliable/catch-up.ts) fed with this node's peer events; release()
   *  stops it and removes its listeners. */
  private catchUpFor(prefix: string, listener: EventListener): { onEvent: EventListener; release(): void } {
    const maxBytes = Math.max(1_024, this.opts.maxPayloadBytes - 1_024);
    const catchUp = new CatchUp({ prefix, deliver: listener, lost: this.p.reportLost, log: this.p.log, replay: (nodeId, request) => requestReplay(this.p.client, nodeId, { ...request, maxBytes }) });
    const offs = [
      this.p.bus.on('peer:down', ({ peer }) => catchUp.publisherDown(peer.nodeId)),
      this.p.bus.on('peer:up', ({ peer }) => catchUp.publisherUp(peer.nodeId, peer.service)),
    ];
    return {
      onEvent: catchUp.onEvent,
      release: () => {
        for (const off of offs) off();
        catchUp.close();
      },
    };
  }

  waitForService(service: string, o: { count?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const signal = o.signal === undefined ? this.lifetime.signal : AbortSignal.any([o.signal, this.lifetime.signal]);
    return this.p.table.waitFor(service, o.count ?? 1, o.timeoutMs ?? this.opts.requestTimeoutMs, signal);
  }

  peers(): PeerInfo[] {
    return this.p.table.list();
  }

  stats(): NodeStats {
    const s = this.p.counters.snapshot();
    for (const [name, source] of this.p.sources) s.discovery[name] = source.stats?.();
    s.queued = { router: this.p.queues.router.size, publisher: this.p.queues.pub.size, links: this.p.table.queued() };
    return s;
  }

  on<T extends NodeEventType>(type: T, listener: (event: NodeEventOf<T>) => void): () => void {
    return this.p.bus.on(type, listener);
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
    const sentBefore = this.p.counters.sent;
    try {
      // Viewers (zmesh top) learn at once that we go; it leaves with the queue's drain.
      this.p.summaries?.stop(true);
      // Finish what we owe others first: running handlers and their replies.
      this.p.server.stopAccepting();
      await settleWithin(this.p.server.idle(), t);
      await settleWithin(this.p.queues.router.drained(), t);
      await settleWithin(this.p.queues.pub.drained(), t);
      this.lifetime.abort(new ClosedError('node closed'));
      await Promise.all(this.p.sources.map(([, d]) => d.close().catch(() => undefined)));
      await this.p.table.close(t);
      // What was sent while closing (the replies of handlers that were running) is in
      // libzmq's queues; closing the sockets at once lost such a reply about one time in
      // five (measured: a few ms later, none in 45), linger notwithstanding.
      if (this.p.counters.sent > sentBefore) await new Promise((resolve) => setTimeout(resolve, Math.min(CLOSE_FLUSH_MS, t)));
    } catch (err) {
      this.p.log.error({ err }, 'error while closing');
    }
    this.release();
    await this.metricsClosed;
  }

  abort(): void {
    if (this.state === 'closed') return;
    this.lifetime.abort(new ClosedError('node aborted'));
    this.p.server.abortAll(new ClosedError('node aborted'));
    for (const [, d] of this.p.sources) void d.close().catch(() => undefined);
    this.p.table.abort();
    this.release(0);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private release(lingerMs?: number): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    // Before the store closes: the metrics keep the final counts of it.
    this.metricsClosed = this.metrics?.close().catch((err: unknown) => this.p.log.warn({ err }, 'metrics server close failed'));
    clearInterval(this.ticker);
    this.p.summaries?.stop();
    this.p.members.close();
    this.trace.close();
    this.p.queues.router.close();
    this.p.queues.pub.close();
    this.p.subscriber.close();
    this.p.pending.rejectAll(() => new ClosedError('node closed before the reply arrived'));
    this.p.reliable?.close();
    closeQuietly(this.p.sockets.router, lingerMs);
    this.p.pubSocket.close(lingerMs);
    this.zap?.close();
    void this.p.trust?.audit.close();
    this.p.log.info('node closed');
    this.markClosed();
  }

  /** What a light client cannot do: nobody could reach a handler or a publication. */
  private notClient(what: string): void {
    if (this.opts.client) throw new InvalidArgumentError(`a light client (client: true) cannot ${what}: nothing can reach it`);
  }

  /** The one lifecycle guard. */
  private assertRunning(): void {
    if (this.state !== 'running') throw new ClosedError(`node is ${this.state}, not running`);
  }

  private reliableClass(): ReliableLayer {
    if (this.p.reliable === undefined) throw new InvalidArgumentError('the reliable class needs a store: set storePath');
    return this.p.reliable;
  }

  private runningReliable(): ReliableLayer {
    this.assertRunning();
    return this.reliableClass();
  }

  /** What every fast-class send checks before anything is queued: a message the
   *  receiver would drop fails here, with a typed error, instead. */
  private checkSend(payload: Uint8Array, headers: Record<string, string> | undefined): void {
    this.assertRunning();
    checkPayloadSize(payload, this.opts.maxPayloadBytes);
    checkHeaders(headers);
  }

  private localHello(): HelloInit {
    const ports = this.bound ?? { routerPort: 0, pubPort: 0 };
    return {
      nodeId: this.id,
      service: this.service,
      mesh: this.mesh,
      routerPort: ports.routerPort,
      pubPort: ports.pubPort,
      // A light client names no endpoint (and ports 0): nobody dials it or lists it.
      routerEndpoints: this.opts.client ? [] : this.opts.advertise.map((a) => `tcp://${a}:${ports.routerPort}`),
      protocolVersion: PROTOCOL_VERSION,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      startedMs: this.startedMs,
      publicKey: this.p.trust?.policy.publicKeyHex ?? '',
      certificate: this.p.trust?.policy.certificate ?? new Uint8Array(0),
      bindsConnections: this.p.trust?.bindsConnections ?? false,
      maxPayloadBytes: this.opts.maxPayloadBytes,
      batchedAcks: true,
      listsMembers: true,
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
