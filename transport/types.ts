/**
 * Public types of the zmesh transport. Everything a user of `createNode` touches is
 * declared here; implementation modules import from this file, never the reverse.
 */
import type { Logger } from 'pino';
import type { CommandDef, EventDef, PublishOptions } from './defs.js';
import type { Discovery, DiscoveryMode } from './discovery-types.js';
import type { DropReason, NodeStats, NodeSummary, ReliableStats } from './stats-types.js';
import type { MetricsOptions } from './metrics-types.js';

// Two parts of the public surface live in files of their own, and are named here too.
export type { Candidate, Discovery, DiscoveryMode, DiscoverySink, LocalNode } from './discovery-types.js';
export type { BoundsStats, DropReason, BatchStats, NodeStats, NodeSummary, ReliableStats, StoreStats } from './stats-types.js';
export type { MetricsOptions } from './metrics-types.js';

/** User options for `createNode`. Defaults live in options.ts, in one place. */
export interface NodeOptions {
  /** Service this node provides, e.g. "order". [a-z0-9][a-z0-9_-]{0,31}. */
  service: string;
  /** Unique node id. Default: `<service>-<8 random hex>`, new on every start; keep
   *  one across restarts with `storedNodeId(storePath, service)`. A secure node's id
   *  is derived from its key: give none, or exactly that one. */
  nodeId?: string;
  /** Mesh name; nodes of different meshes ignore each other. Default "default". */
  mesh?: string;
  /** Address to bind the ROUTER and PUB sockets on. Default "0.0.0.0". */
  host?: string;
  /** Addresses peers should use to reach this node. Default: `host` when it is not a
   *  wildcard, otherwise every non-internal IPv4 address of this host. */
  advertise?: string[];
  /** ROUTER port; 0 picks a free port. Default 0. */
  routerPort?: number;
  /** PUB port; 0 picks a free port. Default 0. */
  pubPort?: number;
  /** Static peers: ROUTER endpoints such as "tcp://10.0.0.7:5555". Peers reached this
   *  way also learn this node from its hello, so one side's list is enough. */
  peers?: string[];
  /** Where peers come from: "mdns" (DNS-SD on the LAN, zero configuration), "static"
   *  (the `peers` list only, for networks without multicast), "both", or "dns"
   *  (DNS-SD over unicast DNS, the `dns` option, plus any `peers`). Peers also learn
   *  each other's peers (`$members`), so a few seeds are enough.
   *  Default: "dns" when `dns` is given, "static" when `peers` is, otherwise "mdns". */
  discovery?: DiscoveryMode;
  /** One address to bind, advertise and run mDNS on, for hosts with several
   *  interfaces. Overrides `host`, and `advertise` unless that is given too (an
   *  address translated on the way, NAT or a container's port mapping). */
  interface?: string;
  /** mDNS tuning (query and staleness periods). */
  mdns?: { queryIntervalMs?: number; staleAfterMs?: number; reproposeMs?: number };
  /** DNS-SD over unicast DNS (RFC 6763 section 10): browses `_zmesh._tcp.<domain>`
   *  (PTR, then SRV and TXT of each instance; or SRV at that name, as a Kubernetes
   *  headless service publishes it) on `servers` (default: the system's resolvers),
   *  every queryIntervalMs (default 5_000). Given, it runs whatever the discovery
   *  mode, and the mode defaults to "dns" (no mDNS). */
  dns?: { domain: string; servers?: string[]; queryIntervalMs?: number; staleAfterMs?: number; timeoutMs?: number };
  /** Extra peer sources of your own. Each proposes candidates; the hello handshake decides. */
  sources?: Discovery[];
  /** Default request deadline in ms. Default 10_000. */
  requestTimeoutMs?: number;
  /** Largest application payload in bytes. Default 1 MiB. Larger sends throw
   *  MESSAGE_TOO_LARGE; larger frames from peers are dropped and counted. */
  maxPayloadBytes?: number;
  /** Messages one socket's send queue may hold before sends throw QUEUE_FULL.
   *  Default 100_000. */
  sendQueueLimit?: number;
  /** Heartbeat period in ms. Default 500. */
  heartbeatIntervalMs?: number;
  /** Silence in ms after which a peer is suspect (not chosen while others are up).
   *  Default 1_500. */
  suspectAfterMs?: number;
  /** Silence in ms after which a peer is down. Default 2_500. */
  deadAfterMs?: number;
  /** How long close() waits for running handlers and queued sends, in ms. Default 2_000. */
  closeTimeoutMs?: number;
  /** SQLite file for the outbox, inbox and the service's own state. Required for the
   *  reliable class (send, transact, handleReliable). Created if missing; a file that
   *  is foreign, corrupt (quick_check), newer, or in use by another node (in any
   *  process; `<storePath>-lock` holds the lock) fails start() with STORE and is left
   *  alone. */
  storePath?: string;
  /** The service's own tables: ordered steps, each applied once per store, at start()
   *  before any socket is bound, so a handler never meets a store without its tables
   *  (not even one running on the first message after start). A step is SQL text or a
   *  synchronous function given the database. The steps that are new to a store run in
   *  one transaction and the count is recorded in the store; append steps, never edit
   *  one that has run. A step that fails rolls back all of that start's steps and
   *  fails start() with STORE (problem 'migration', naming the step); a store that ran
   *  more steps than given fails it with STORE ('newer'). Without it (or with none),
   *  the recorded count is neither checked nor changed. Needs `storePath`. */
  migrations?: Migration[];
  reliable?: ReliableOptions;
  /** Trust: CURVE on every socket, membership and authorization (README "Security").
   *  Without it the node runs open to anyone on the network. */
  security?: SecurityOptions;
  /** Run without security, on purpose: anyone who can reach the node can join,
   *  forge and read. Logged as a warning at start. */
  insecure?: boolean;
  /** A light client (tools such as `zmesh call`): it dials peers and may request,
   *  command and subscribe, but binds nothing, advertises nothing (mDNS only browses)
   *  and is no member: its hello names no endpoint, so no node dials it back or lists
   *  it. It cannot serve (`handle`), publish or hold a store. Default false. */
  client?: boolean;
  /** A member publishes a summary of itself (rates, latency, queues; `NodeSummary`) on
   *  the reserved topic "$zmesh/summary" this often, in ms, for `zmesh top` and
   *  `watchSummaries`. 0 turns it off; else 100..3_600_000. A light client sends none.
   *  Default 1_000 (SUMMARY_INTERVAL_MS). */
  summaryIntervalMs?: number;
  /** OpenTelemetry tracing (README "Tracing"): W3C trace context in the headers of
   *  requests, commands and events, and spans around them. Needs the optional peer
   *  @opentelemetry/api; without it the node runs untraced. Default: auto, on while an
   *  OpenTelemetry SDK is registered globally. */
  tracing?: TracingOptions;
  /** Prometheus metrics and health endpoints (README "Monitoring"). Default: none,
   *  and prom-client is not even loaded. */
  metrics?: MetricsOptions;
}

export interface TracingOptions {
  /** false: never trace, and never load the API. true: as auto, but warn at start
   *  when @opentelemetry/api cannot be loaded. Default: auto. */
  enabled?: boolean;
  /** Trace with this tracer (an @opentelemetry/api Tracer) instead of the global
   *  provider's; tracing is then on whatever is registered globally. */
  tracer?: TracerLike;
}

/** An OpenTelemetry Tracer, as far as these declarations name it: structurally, so
 *  that they type-check without the optional @opentelemetry/api installed. */
export interface TracerLike {
  startSpan(name: string, options?: object, context?: object): unknown;
}

/** How a node proves who it is and decides whom to trust. Two modes: certificates
 *  (`certificate` + `authorities`, the default for meshes) or a list of authorized
 *  keys (`authorizedKeys`, for small LANs). */
export interface SecurityOptions {
  /** This node's long-term CURVE key pair (Z85 text), e.g. loadNodeKeys(file). Its node
   *  id is derived from the public key: "<service>-<16 hex of SHA-256(key)>". */
  keys: { publicKey: string; secretKey: string };
  /** This node's membership certificate (SignedCertificate bytes, `zmesh cert issue`). */
  certificate?: Uint8Array;
  /** Raw 32-byte ed25519 public keys of the authorities whose certificates count. */
  authorities?: Uint8Array[];
  /** A signed revocation list (`zmesh cert revoke`), as bytes... */
  revocations?: Uint8Array;
  /** ...or a file holding one, re-read when it changes. */
  revocationsFile?: string;
  /** Authorized-keys mode: every member's public key (Z85) and service. Members so
   *  listed may call, publish and subscribe to anything. */
  authorizedKeys?: Array<{ publicKey: string; service: string }>;
  /** Audit events are appended to this JSON-lines file too (created 0600). */
  auditFile?: string;
}

/** Every field is a positive integer; defaults are options.ts RELIABLE_DEFAULTS. */
export interface ReliableOptions {
  /** Most messages the outbox holds; send() rejects OUTBOX_FULL beyond. Default 100_000. */
  maxOutbox?: number;
  /** How long to wait for a command's ACK before going back and resending. Default 5_000. */
  ackTimeoutMs?: number;
  /** Refusals by the receiver (HANDLER_FAILED, UNKNOWN_METHOD, BAD_MESSAGE, FORBIDDEN) before a
   *  command is dead-lettered. Connectivity failures never count: commands wait for a
   *  live instance until maxAgeMs. Default 10. */
  maxAttempts?: number;
  /** Age after which an undelivered command is dead-lettered. Default 24 h. */
  maxAgeMs?: number;
  /** Retry backoff: base * 2^attempts, capped, with 50-100 % jitter. Defaults 50 and 5_000 ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Commands sent and not yet acknowledged, per target service (one stream). The
   *  sender keeps up to this many on the wire, so throughput is not bound by round
   *  trips. Default 1_000. */
  window?: number;
  /** Reliable events are kept this long at most. Default 1 h. */
  eventRetentionMs?: number;
  /** And at most this many. Default 1_000_000. */
  maxEvents?: number;
  /** What a commit of this node's store survives, for everything the reliable class
   *  writes (outbox, inbox, event log, durable progress) and the handlers' own writes:
   *  - 'full' (default): power loss. Every commit waits for fsync (SQLite WAL with
   *    synchronous=FULL): a resolved send() or publishReliable(), and an ACK, mean
   *    the message is on the disk itself.
   *  - 'os': a crash of the process, not of the machine. Commits are in the operating
   *    system's page cache, and reach the disk at the next checkpoint (synchronous=
   *    NORMAL). Power loss can lose the last commits, but never corrupts the store.
   *    This is the trade NATS JetStream and Mosquitto make by default. */
  durability?: Durability;
}

export type Durability = 'full' | 'os';

/** The node's SQLite database (better-sqlite3), for the service's own tables. */
export type Database = import('better-sqlite3').Database;

/** One step of `migrations`: SQL text (several statements allowed), or a function that
 *  writes with the database. Synchronous: it runs inside the migration transaction. */
export type Migration = string | ((db: Database) => void);

/** What a reliable handler, or a transact() block, may do inside its transaction. */
export interface Transaction {
  /** The node's database: write the service's state here; it commits with the rest. */
  readonly db: Database;
  /** Queues a reliable command in the same transaction (the transactional outbox).
   *  Throws OUTBOX_FULL, MESSAGE_TOO_LARGE or INVALID_ARGUMENT, which rolls it back. */
  send(service: string, method: string, payload: Uint8Array, options?: SendOptions): void;
  /** The same, typed: the value is encoded with the command's codec. */
  send<T>(command: CommandDef<T>, value: T, options?: SendOptions): void;
  /** Logs a reliable event in the same transaction; it is published once committed. */
  publish(topic: string, payload: Uint8Array, options?: SendOptions): void;
  /** The same, typed; `options.suffix` completes the topic of an event family. */
  publish<T>(event: EventDef<T>, value: T, options?: PublishOptions): void;
}

export interface ReliableContext extends Transaction {
  readonly method: string;
  readonly caller: Sender;
  readonly headers: Readonly<Record<string, string>>;
}

/** Handles a reliable command inside one SQLite transaction with the inbox record.
 *  Synchronous on purpose: a transaction cannot stay open across an await. Throw to
 *  roll back; the sender retries, and dead-letters after maxAttempts. */
export type ReliableHandler = (payload: Uint8Array, ctx: ReliableContext) => void;

/** A reliable event as a durable subscriber sees it. */
export type DurableEvent = MeshEvent & { seq: number; stream: string };
export type DurableHandler = (event: DurableEvent, tx: Transaction) => void;

/** Time as the node reads it. Inject one to test ages and timeouts without waiting. */
export interface Clock {
  /** Wall clock, Unix ms: envelope timestamps, ages of stored messages. */
  now(): number;
  /** Monotonic ms, never jumps: liveness and round trips. */
  monotonic(): number;
}

/** Injected parts, kept apart from user options. All optional. */
export interface NodeComponents {
  /** pino logger. Default: silent. */
  logger?: Logger;
  /** Default: the system clock. */
  clock?: Clock;
  /** Told of what happens inside the node as it happens; metrics plug in here. */
  observer?: NodeObserver;
}

/** Hooks for metrics and tracing. Each is optional and called synchronously on the
 *  node's hot path: keep them cheap, never throw (a throw is caught and logged). */
export interface NodeObserver {
  /** An inbound frame was dropped; `from` is the sender as far as it is known. */
  dropped?(reason: DropReason, from: string): void;
  /** A request or reliable command this node sent was settled: `outcome` is "ok" or
   *  an error code; `durationMs` runs from registration to settlement. */
  requestSettled?(service: string, method: string, durationMs: number, outcome: string): void;
  /** A request or unreliable command this node's handler settled (internal methods
   *  excluded): `outcome` is "ok" or the error code its caller got; `durationMs` runs
   *  from dispatch to settlement. */
  handlerSettled?(method: string, durationMs: number, outcome: string): void;
  /** A transaction of reliable writes committed (commands received and applied,
   *  commit() blocks): how many writes it held, and ms spent, commit included. */
  batchCommitted?(writes: number, durationMs: number): void;
}

export type PeerState = 'connecting' | 'up' | 'suspect' | 'down';

export interface PeerInfo {
  nodeId: string;
  service: string;
  /** The ROUTER endpoint this node talks to. */
  endpoint: string;
  /** The PUB endpoint this node subscribes to. */
  pubEndpoint: string;
  state: PeerState;
  /** Requests sent to this peer and not yet answered. */
  outstanding: number;
  /** Last heartbeat round trip in ms, or undefined before the first. */
  rttMs: number | undefined;
  /** Unix ms when the peer was last seen up (welcome) for the first time in this run. */
  upSinceMs: number;
}

/** Typed node events. */
export type NodeEvent =
  | { type: 'peer:up'; peer: PeerInfo }
  | { type: 'peer:down'; peer: PeerInfo; reason: string }
  /** Reliable commands to `service` were acknowledged by the receiver (effect committed). */
  | { type: 'outbox:acked'; service: string; count: number }
  /** A reliable event that no subscription can ever get: its publisher's log holds
   *  its row but cannot read its payload (proto/README.md section 15.2). The
   *  subscription (a durable one's name, or undefined for a catch-up subscription)
   *  moved past it; the row is left as it is in the publisher's store. */
  | { type: 'event:lost'; subscription: string | undefined; prefix: string; publisher: { node: string; service: string }; stream: string; seq: number; topic: string; reason: string };

export type NodeEventType = NodeEvent['type'];
export type NodeEventOf<T extends NodeEventType> = Extract<NodeEvent, { type: T }>;

/** The identity of the node that sent a message. */
export interface Sender {
  node: string;
  service: string;
  /** In a secure mesh: the sender's proven key (16 hex of SHA-256), and with it
   *  `node` and `service` are proven too. Undefined in an insecure mesh, where they are
   *  only what the envelope claims. */
  fingerprint?: string;
}

export interface HandlerContext {
  /** The request's message id (16 bytes). */
  readonly id: Uint8Array;
  readonly method: string;
  readonly caller: Sender;
  readonly headers: Readonly<Record<string, string>>;
  /** Fires when the caller's deadline passes or the node aborts. Created on first use. */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/** Answers a request (the returned bytes are the reply) or handles a command (the
 *  return value is ignored). Throw a ZmeshError to send its code; anything else
 *  becomes HANDLER_FAILED with the error's message. */
export type Handler = (payload: Uint8Array, ctx: HandlerContext) => Uint8Array | void | Promise<Uint8Array | void>;

export interface RequestOptions {
  /** Deadline in ms; default the node's requestTimeoutMs. */
  timeoutMs?: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

export interface SendOptions {
  /** Application headers: lower-case keys, `zmesh-*` reserved, at most
   *  MAX_HEADERS_BYTES (15 KiB) as encoded, counted in UTF-8 bytes (else
   *  MESSAGE_TOO_LARGE before anything is sent or stored). */
  headers?: Record<string, string>;
}

export interface MeshEvent {
  topic: string;
  /** A view into the received frame, not a copy: events of one burst share a packed
   *  frame of up to 16 KiB, which stays in memory while any of their payloads is held.
   *  Copy it (`Buffer.from(payload)`) to keep a small payload for long. */
  payload: Uint8Array;
  sender: Sender;
  id: Uint8Array;
  seq: number;
  timestampMs: number;
  headers: Readonly<Record<string, string>>;
}

export type EventListener = (event: MeshEvent) => void;

export interface SubscribeOptions {
  /** Unsubscribes when it fires. */
  signal?: AbortSignal;
  /** How long to wait for publishers to confirm the subscription. Default 5_000. */
  timeoutMs?: number;
  /** Fetch the reliable events a publisher logged while this subscription was cut off
   *  from it (it restarted, its link dropped), from its event log when it is back, and
   *  deliver them in order before its later live events. For publishers this
   *  subscription has heard from; needs no store of its own (reliable/catch-up.ts).
   *  Best effort: a publisher without a log is followed live. Default false. */
  catchUp?: boolean;
}

export interface Subscription {
  readonly prefix: string;
  /** Stops delivery to this listener. Idempotent. */
  unsubscribe(): void;
}

export interface NodeEndpoints {
  /** ROUTER endpoint as bound, e.g. "tcp://0.0.0.0:41234"; "" for a light client. */
  router: string;
  /** PUB endpoint as bound; "" for a light client. */
  pub: string;
  /** 0 for a light client, which binds nothing. */
  routerPort: number;
  pubPort: number;
  /** The ROUTER endpoints peers can dial: the advertised addresses with the bound
   *  port, as the hello carries them (never a wildcard such as 0.0.0.0). What a
   *  static peer entry names. Empty for a light client. */
  advertised: string[];
  /** With `metrics.port`: the metrics server's base URL as bound, e.g.
   *  "http://127.0.0.1:9464" (append /metrics, /healthz, /readyz). */
  metrics?: string;
}

export interface MeshNode extends AsyncDisposable {
  readonly id: string;
  readonly service: string;
  readonly mesh: string;
  /** Valid after start() resolves. */
  readonly endpoints: NodeEndpoints;
  /** A secure node's CURVE public key, 64 hex characters: what a static peer entry
   *  needs after "#" (`tcp://10.0.0.7:5555#<key>`). Undefined when insecure. */
  readonly publicKey: string | undefined;

  /** Opens the store (with `storePath`) and applies `migrations`, then binds sockets and
   *  starts discovery. Idempotent; resolves when bound. Rejects BIND_FAILED, or STORE
   *  for a store it cannot use or a migration that failed; a rejected start leaves
   *  nothing bound, open or locked. */
  start(): Promise<void>;

  /** Registers the handler for `method` of this node's service. Throws
   *  INVALID_ARGUMENT for a method name starting with "$" (reserved for zmesh). */
  handle(method: string, handler: Handler): void;

  /** Calls `method` on one live instance of `service` and resolves with its reply.
   *  Rejects with a ZmeshError: NO_ROUTE, TIMEOUT, PEER_DOWN, ABORTED, QUEUE_FULL,
   *  MESSAGE_TOO_LARGE (payload or headers), INVALID_ARGUMENT (a method over 256 bytes
   *  of UTF-8), CLOSED, or a code sent by the remote handler. */
  request(service: string, method: string, payload: Uint8Array, options?: RequestOptions): Promise<Uint8Array>;

  /** One-way command to one live instance of `service` (fast class: not persisted,
   *  no acknowledgement). Returns once queued to the socket; throws synchronously
   *  with NO_ROUTE, QUEUE_FULL, MESSAGE_TOO_LARGE, INVALID_ARGUMENT or CLOSED. */
  command(service: string, method: string, payload: Uint8Array, options?: SendOptions): void;

  /** Reliable command: stored in the outbox, delivered in order to one live instance
   *  of `service`, retried until acknowledged, applied exactly once by its inbox.
   *  Resolves once the message is on disk (group commit: concurrent sends share one
   *  fsync). Rejects OUTBOX_FULL, MESSAGE_TOO_LARGE (payload or headers), CLOSED, or
   *  INVALID_ARGUMENT without a store or for a service or method name that no
   *  receiver would take (nothing is stored then). */
  send(service: string, method: string, payload: Uint8Array, options?: SendOptions): Promise<void>;
  /** The same, typed: the value is encoded with the command's codec. */
  send<T>(command: CommandDef<T>, value: T, options?: SendOptions): Promise<void>;

  /** Runs `fn` in one SQLite transaction: its database writes and its tx.send()
   *  messages commit together or not at all. Returns fn's result. */
  transact<T>(fn: (tx: Transaction) => T): T;
  /** The same, sharing its commit: `fn` runs in the transaction that the writes of
   *  this moment share (other commit() calls, reliable commands being applied), in a
   *  SAVEPOINT of its own, so one fsync serves them all. Resolves with fn's result once
   *  that transaction is durable; rejects with what fn threw (only its own writes are
   *  rolled back), or STORE_FULL and the like when the commit failed (nothing of it
   *  was written). For request handlers that write: 200 of them at once cost one
   *  fsync, not 200. `fn` runs later (within this event-loop turn or the next), so
   *  read what it decides on inside it. */
  commit<T>(fn: (tx: Transaction) => T): Promise<T>;

  /** Reliable event: logged on disk with this publisher's next sequence number, then
   *  published. Resolves once on disk (group commit). Durable subscribers that miss it
   *  get it by replay while it is within retention. */
  publishReliable(topic: string, payload: Uint8Array, options?: SendOptions): Promise<void>;
  /** The same, typed; `options.suffix` completes the topic of an event family. */
  publishReliable<T>(event: EventDef<T>, value: T, options?: PublishOptions): Promise<void>;

  /** Durable subscription `name` to reliable events under `prefix`: each event once,
   *  in each publisher's order, across restarts; the handler runs in a savepoint of
   *  the transaction that stores the subscription's progress. Events that arrive
   *  together (a live burst, a replay page) share that transaction, so one fsync; a
   *  handler that throws rolls back its own writes only, and its event (with the later
   *  ones of that publisher) is applied again by the catch-up. Resolves once
   *  subscribed (catch-up runs on). */
  subscribeDurable(name: string, prefix: string, handler: DurableHandler): Promise<{ close(): void }>;

  /** Registers the handler for reliable commands to `method`. Throws
   *  INVALID_ARGUMENT for a method name starting with "$". */
  handleReliable(method: string, handler: ReliableHandler): void;

  /** The node's database (after start, with storePath). */
  readonly db: Database | undefined;

  /** Reliable-class counters: outbox rows pending, group-commit transactions of the
   *  outbox and of the event log, ack-removal transactions, deliveries held by full
   *  receivers, and the disk-full alarm of this node's store. Undefined without a store. */
  reliableStats(): ReliableStats | undefined;

  /** Publishes an event (fast class). Returns once queued to the socket; subscribers
   *  that are not connected miss it. Throws QUEUE_FULL, MESSAGE_TOO_LARGE,
   *  INVALID_ARGUMENT (topic) or CLOSED. */
  publish(topic: string, payload: Uint8Array, options?: SendOptions): void;

  /** Subscribes to every topic starting with `prefix` ("" for all). Resolves once the
   *  subscription is in effect at every publisher that is up (no slow-joiner loss). */
  subscribe(prefix: string, listener: EventListener, options?: SubscribeOptions): Promise<Subscription>;

  /** Resolves when at least `count` instances of `service` are up. */
  waitForService(service: string, options?: { count?: number; timeoutMs?: number; signal?: AbortSignal }): Promise<void>;

  peers(): PeerInfo[];
  stats(): NodeStats;

  on<T extends NodeEventType>(type: T, listener: (event: NodeEventOf<T>) => void): () => void;

  /** Receives the members' summaries (`summaryIntervalMs`, proto/README.md section
   *  18), a light client's too: each publisher's, decoded, about once per its interval.
   *  A summary that does not decode, speaks for a node other than its sender, or
   *  names another mesh, is skipped. Resolves once subscribed at every publisher that is up, like
   *  subscribe(); `signal` unsubscribes. Rejects TIMEOUT or CLOSED. */
  watchSummaries(listener: (summary: NodeSummary) => void, options?: Pick<SubscribeOptions, 'signal' | 'timeoutMs'>): Promise<Subscription>;

  /** Stops taking work, lets running handlers finish and queued messages go out
   *  (bounded by closeTimeoutMs), says goodbye to peers, then releases every socket
   *  and timer. Idempotent. */
  close(): Promise<void>;
  /** Stops at once: pending requests reject with CLOSED, queued messages are dropped. */
  abort(): void;
  /** Resolves when the node has fully closed. Never rejects. */
  readonly closed: Promise<void>;
}
