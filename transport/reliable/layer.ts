/**
 * The reliable class of a node: its store, outbox, inbox and dispatcher, composed.
 * node.ts delegates send/transact/handleReliable here and hands inbound reliable
 * commands to `receive`.
 */
import type { Logger } from 'pino';
import { BadMessageError, InvalidArgumentError, MessageTooLargeError, UnknownMethodError } from '../errors.js';
import { HEADER_ESEQ, HEADER_ESTREAM, HEADER_PREV, HEADER_SEQ, HEADER_STREAM, headersOf, type Envelope } from '../codec.js';
import type { EnvelopeBuilder } from '../protocol/envelopes.js';
import type { PendingRequests } from '../protocol/pending.js';
import type { PeerTable } from '../peers/peer-table.js';
import type { RequestClient } from '../protocol/client.js';
import type { RequestServer } from '../protocol/server.js';
import type { Publisher } from '../pubsub/publisher.js';
import { openStore, type Db } from '../store/open.js';
import { validatePrefix, validateTopic } from '../pubsub/topics.js';
import type {
  DurableHandler, MeshEvent, ReliableContext, ReliableHandler, ReliableOptions, ReliableStats, Sender, SendOptions, Transaction,
} from '../types.js';
import { ACK_METHOD, DurableSubscription, REPLAY_METHOD, type ReplayReply, type ReplayRequest } from './durable.js';
import { EVENT_RETENTION, EventLog, type LoggedEvent } from './event-log.js';
import { Dispatcher, RELIABLE_DEFAULTS } from './dispatcher.js';
import { Inbox } from './inbox.js';
import { Outbox } from './outbox.js';

export const MAX_OUTBOX = 100_000;

/** The parts of a node the reliable class works through. */
export interface LayerDeps {
  storePath: string;
  options: ReliableOptions;
  maxPayloadBytes: number;
  nodeId: string;
  service: string;
  builder: EnvelopeBuilder;
  pending: PendingRequests;
  table: PeerTable;
  client: RequestClient;
  /** Publishes live (fast path) once an event is on disk. */
  publisher: Publisher;
  /** Registers the internal `$replay` and `$ack` methods. */
  server: RequestServer;
  subscribe(prefix: string, listener: (e: MeshEvent) => void): Promise<{ unsubscribe(): void }>;
  log: Logger;
}

/** How often the event log is pruned. */
export const PRUNE_INTERVAL_MS = 5_000;

export class ReliableLayer {
  readonly db: Db;
  private readonly outbox: Outbox;
  private readonly inbox: Inbox;
  private readonly dispatcher: Dispatcher;
  private readonly handlers = new Map<string, ReliableHandler>();
  private readonly events: EventLog;
  private readonly durables: DurableSubscription[] = [];
  private readonly storeId: string;
  private readonly pruneTimer: NodeJS.Timeout;

  constructor(private readonly d: LayerDeps) {
    const store = openStore(d.storePath);
    this.db = store.db;
    this.storeId = store.storeId;
    const { maxOutbox = MAX_OUTBOX, eventRetentionMs = EVENT_RETENTION.maxAgeMs, maxEvents = EVENT_RETENTION.maxEvents, ...rest } = d.options;
    this.events = new EventLog(this.db, { maxAgeMs: eventRetentionMs, maxEvents }, (events) => this.goLive(events));
    this.pruneTimer = setInterval(() => {
      try {
        this.events.prune();
      } catch (err) {
        d.log.warn({ err }, 'event log pruning failed');
      }
    }, PRUNE_INTERVAL_MS);
    this.outbox = new Outbox(this.db, maxOutbox, () => this.dispatcher.deliverNow());
    this.inbox = new Inbox(this.db);
    this.dispatcher = new Dispatcher({
      storeId: store.storeId,
      outbox: this.outbox,
      builder: d.builder,
      pending: d.pending,
      // Keep a stream on its pinned instance while it is up; otherwise balance.
      route: (service, pinned) => {
        const link = pinned === undefined ? undefined : d.table.byNode(pinned);
        return link !== undefined && link.isUp && link.peer?.service === service ? link : d.table.pick(service);
      },
      settings: { ...RELIABLE_DEFAULTS, ...rest },
      log: d.log,
      onAcked: (service, count) => d.table.emit({ type: 'outbox:acked', service, count }),
    });
    // Internal methods of the reliable class; "$" names are reserved for zmesh.
    d.server.handle(REPLAY_METHOD, (p) => this.replay(p));
    d.server.handle(ACK_METHOD, (p) => { this.acknowledged(p); });
    d.table.on('peer:up', ({ peer }) => this.onPeerUp(peer.nodeId));
  }

  /** Starts delivering what earlier runs left in the outbox. */
  start(): void {
    this.dispatcher.kick();
  }

  send(service: string, method: string, payload: Uint8Array, o: SendOptions = {}): Promise<void> {
    try {
      this.check(service, method, payload);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.outbox.send({ id: this.d.builder.newId(), service, method, payload, headers: o.headers });
  }

  publishReliable(topic: string, payload: Uint8Array, o: SendOptions = {}): Promise<void> {
    try {
      validateTopic(topic);
      this.checkSize(payload);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.events.publish(topic, this.d.builder.newId(), payload, o.headers);
  }

  transact<T>(fn: (tx: Transaction) => T): T {
    const { tx, committed } = this.transaction();
    const result = this.db.transaction(() => fn(tx)).immediate();
    committed();
    return result;
  }

  /** A Transaction whose sends and publishes take effect after `committed()`. */
  private transaction(): { tx: Transaction; committed(): void } {
    let sent = 0;
    const logged: LoggedEvent[] = [];
    const tx: Transaction = {
      db: this.db,
      send: (service, method, payload, o = {}) => {
        this.check(service, method, payload);
        this.outbox.insert({ id: this.d.builder.newId(), service, method, payload, headers: o.headers });
        sent++;
      },
      publish: (topic, payload, o = {}) => {
        validateTopic(topic);
        this.checkSize(payload);
        logged.push(this.events.insert(topic, this.d.builder.newId(), payload, o.headers));
      },
    };
    return {
      tx,
      committed: () => {
        if (sent > 0) this.dispatcher.kick();
        if (logged.length > 0) this.goLive(logged);
      },
    };
  }

  private goLive(events: LoggedEvent[]): void {
    for (const e of events) {
      try {
        this.d.publisher.publish(e.topic, e.payload, { ...e.headers, [HEADER_ESTREAM]: this.storeId, [HEADER_ESEQ]: String(e.seq) });
      } catch (err) {
        // Queue full: subscribers find the gap and replay it from the log.
        this.d.log.debug({ err, seq: e.seq }, 'live publish of a logged event failed');
      }
    }
  }

  /** `$replay`: the events a subscriber is missing, from our log. */
  replay(payload: Uint8Array): Uint8Array {
    const req = JSON.parse(Buffer.from(payload).toString()) as ReplayRequest;
    const last = Number(req.known?.[this.storeId] ?? 0);
    if (typeof req.subscriber === 'string' && req.subscriber !== '' && last > 0) this.events.acknowledge(req.subscriber, last);
    const events = this.events.range(last + 1, String(req.prefix ?? ''), Math.min(Number(req.max) || 1, 1_000));
    const reply: ReplayReply = {
      stream: this.storeId,
      head: this.events.head(),
      events: events.map((e) => ({
        seq: e.seq, topic: e.topic, payload: e.payload.toString('base64'), headers: e.headers, timestampMs: e.createdMs,
        id: e.id.toString('hex'), node: this.d.nodeId, service: this.d.service,
      })),
    };
    return Buffer.from(JSON.stringify(reply));
  }

  /** `$ack`: a durable subscriber's progress on our stream. */
  acknowledged(payload: Uint8Array): void {
    const a = JSON.parse(Buffer.from(payload).toString()) as { stream: string; subscriber: string; seq: number };
    if (a.stream === this.storeId && typeof a.subscriber === 'string' && Number.isSafeInteger(a.seq)) this.events.acknowledge(a.subscriber, a.seq);
  }

  async subscribeDurable(name: string, prefix: string, handler: DurableHandler): Promise<{ close(): void }> {
    validatePrefix(prefix);
    const subscriber = `${name}@${this.storeId}`;
    const durable = new DurableSubscription({
      db: this.db,
      name,
      prefix,
      handler,
      tx: () => this.transaction(),
      replay: async (nodeId, request: ReplayRequest) => JSON.parse(Buffer.from(
        await this.d.client.requestNode(nodeId, REPLAY_METHOD, Buffer.from(JSON.stringify({ ...request, subscriber }))),
      ).toString()) as ReplayReply,
      ack: (nodeId, stream, seq) => {
        try {
          this.d.client.commandNode(nodeId, ACK_METHOD, Buffer.from(JSON.stringify({ stream, subscriber, seq })));
        } catch {
          // The next ack carries the same progress.
        }
      },
      isUp: (nodeId) => this.d.table.byNode(nodeId)?.isUp === true,
      upOf: (service) => this.d.table.list().filter((p) => p.service === service && (p.state === 'up' || p.state === 'suspect')).map((p) => p.nodeId),
      log: this.d.log,
    });
    this.durables.push(durable);
    const sub = await this.d.subscribe(prefix, (e) => durable.onLive(e));
    return {
      close: () => {
        durable.close();
        sub.unsubscribe();
        this.durables.splice(this.durables.indexOf(durable), 1);
      },
    };
  }

  /** A peer came up: deliver waiting commands, and let durable subscriptions catch up. */
  private onPeerUp(nodeId: string): void {
    this.dispatcher.kick();
    for (const d of this.durables) d.onPeerUp(nodeId);
  }

  handle(method: string, handler: ReliableHandler): void {
    this.handlers.set(method, handler);
  }

  /** Applies one inbound reliable command exactly once; throws to refuse it. */
  receive(env: Envelope, caller: Sender): void {
    const handler = this.handlers.get(env.subject);
    if (handler === undefined) throw new UnknownMethodError(`no reliable handler for "${env.subject}"`);
    const headers = headersOf(env);
    const stream = headers[HEADER_STREAM] ?? '';
    const seq = Number(headers[HEADER_SEQ]);
    const prev = Number(headers[HEADER_PREV]);
    if (stream === '' || !Number.isSafeInteger(seq) || seq < 1 || !Number.isSafeInteger(prev) || prev < 0 || prev >= seq) {
      throw new BadMessageError('reliable command with bad zmesh-stream/seq/prev headers');
    }
    const { tx, committed } = this.transaction();
    const ctx: ReliableContext = { ...tx, method: env.subject, caller, headers };
    this.inbox.apply(stream, seq, prev, () => handler(env.payload, ctx));
    committed();
  }

  stats(): ReliableStats {
    return { pending: this.outbox.size, commits: this.outbox.commits, ackCommits: this.outbox.ackCommits, eventCommits: this.events.commits };
  }

  /** The outbox, for the CLI's list/dead/retry. */
  get box(): Outbox {
    return this.outbox;
  }

  close(): void {
    clearInterval(this.pruneTimer);
    for (const d of this.durables) d.close();
    this.dispatcher.close();
    if (this.db.open) this.db.close();
  }

  private check(service: string, method: string, payload: Uint8Array): void {
    if (typeof service !== 'string' || service === '' || typeof method !== 'string' || method === '') {
      throw new InvalidArgumentError('reliable send needs a service and a method');
    }
    this.checkSize(payload);
  }

  private checkSize(payload: Uint8Array): void {
    if (payload.byteLength > this.d.maxPayloadBytes) {
      throw new MessageTooLargeError(`payload of ${payload.byteLength} bytes exceeds maxPayloadBytes ${this.d.maxPayloadBytes}`);
    }
  }
}
