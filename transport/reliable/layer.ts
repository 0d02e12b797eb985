/**
 * reliable/: the reliable class, a layer on top of pubsub/, peers/ and protocol/. The
 * outbox and its dispatcher (sender side), the inbox (receiver side), the event log
 * and durable subscriptions, and the `$replay`/`$ack` methods, over one SQLite store.
 * It registers itself with the protocol layer (a stream receiver for reliable
 * commands, the two `$` methods) and decides what to answer and when.
 * May import: pubsub/, peers/ (types), protocol/, codec/, store/, foundation modules.
 *
 * This file composes them. Handlers are registered in one map, before or after
 * start(); the store opens at start().
 *
 *   send() / tx.send() -> Outbox (disk) -> Dispatcher -> client.deliver -> peer ROUTER
 *   peer's reliable COMMAND -> server stream receiver -> receive() -> Inbox.apply -> ACK
 *   publishReliable() / tx.publish() -> EventLog (disk) -> Publisher (live)
 *   subscribeDurable() -> DurableSubscription <- live events + `$replay` catch-up
 */
import type { Logger } from 'pino';
import { MAX_REPLAY_ASKERS, REPLAY_BURST_BYTES, REPLAY_BYTES_PER_SECOND, REPLAY_MIN_COST_BYTES } from '../bounds.js';
import { BadMessageError, ClosedError, QueueFullError, StoreError, StoreFullError, UnknownMethodError } from '../errors.js';
import { headersOf, type Envelope } from '../codec/envelope.js';
import { HEADER_EPREV, HEADER_ESEQ, HEADER_ESTREAM, encodeEventPrevs, parseStreamPosition } from '../codec/stream-headers.js';
import { checkMethodName, type CommandDef, type EventDef } from '../defs.js';
import type { EventBus } from '../bus.js';
import type { ResolvedOptions } from '../options.js';
import type { Conduit, RequestClient } from '../protocol/client.js';
import type { EnvelopeBuilder } from '../protocol/envelopes.js';
import type { RequestServer, Responder } from '../protocol/server.js';
import type { Publisher } from '../pubsub/publisher.js';
import type { EventSubscriber } from '../pubsub/subscriber.js';
import { validatePrefix } from '../pubsub/topics.js';
import { RateLimitedLog } from '../log.js';
import { KeyedBudget } from '../rate.js';
import { openStore, type Db, type OpenedStore } from '../store/open.js';
import type { BoundsStats, Clock, DurableHandler, Migration, PeerInfo, ReliableContext, ReliableHandler, ReliableStats, Sender, Transaction } from '../types.js';
import { ACK_METHOD, REPLAY_METHOD, answerReplay, requestReplay, sendAck, takeAck, type Asker, type Publishing } from './control.js';
import { WriteBatch } from './write-batch.js';
import { Dispatcher } from './dispatcher.js';
import { DurableSubscription } from './durable.js';
import { EventLog, type LoggedEvent } from './event-log.js';
import type { ReportLost } from './lost.js';
import { eventPeer, logEvent } from '../events.js';
import { Inbox } from './inbox.js';
import { Outbox } from './outbox.js';
import { commandMessage, eventMessage, openTransaction, type OpenTransaction, type TransactionParts } from './transaction.js';

/** Most writes (reliable commands, commit() blocks) in one transaction, and how long
 *  one may take before it starts no more (write-batch.ts). Large enough that one fsync
 *  serves a whole window; the budget keeps the event loop's delay low whatever
 *  handlers do. */
export const MAX_BATCH_WRITES = 1_024;
export const BATCH_BUDGET_MS = 8;

/** How often the event log is pruned. */
export const PRUNE_INTERVAL_MS = 5_000;

/** What the reliable class needs from the node. */
export interface ReliableParts {
  storePath: string;
  /** The application's own tables, in place before start() returns. */
  migrations: readonly Migration[];
  settings: ResolvedOptions['reliable'];
  maxPayloadBytes: number;
  subscribeTimeoutMs: number;
  nodeId: string;
  service: string;
  builder: Pick<EnvelopeBuilder, 'newId'>;
  client: Pick<RequestClient, 'deliver' | 'requestNode' | 'commandNode'>;
  peers: { pick(service: string): Conduit | undefined; byNode(nodeId: string): Conduit | undefined; upOf(service: string): string[]; list(): PeerInfo[] };
  server: Pick<RequestServer, 'handle' | 'receiveStreams'>;
  /** Publishes live (fast path) once an event is on disk. */
  publisher: Pick<Publisher, 'publish' | 'chain'>;
  subscriber: Pick<EventSubscriber, 'subscribe'>;
  bus: EventBus;
  clock: Clock;
  log: Logger;
  /** Where refusals for the sake of bounds are counted (stats().bounds). */
  bounds: BoundsStats;
  /** An event a durable subscription moved past as damaged (lost.ts). */
  reportLost: ReportLost;
  /** Told of each committed write batch: its writes and ms (NodeObserver). */
  batchCommitted?: (writes: number, durationMs: number) => void;
  /** A secure node: peers' key fingerprints and read rights (security/policy.ts). */
  trust?: { fingerprintOf(nodeId: string): string | undefined; maySubscribe(nodeId: string, prefix: string): boolean };
}

/** Everything that exists once the store is open. */
interface Open {
  store: OpenedStore;
  db: Db;
  storeId: string;
  outbox: Outbox;
  inbox: Inbox;
  writes: WriteBatch;
  /** A write's own SAVEPOINT inside the batch's transaction (a nested transaction). */
  savepoint: <T>(f: () => T) => T;
  txParts: TransactionParts;
  dispatcher: Dispatcher;
  events: EventLog;
  publishing: Publishing;
  pruneTimer: NodeJS.Timeout;
}

export class ReliableLayer {
  private readonly handlers = new Map<string, ReliableHandler>();
  private readonly durables = new Set<DurableSubscription>();
  private open: Open | undefined;
  /** `$replay` bytes per asker (bounds.ts): each answer can cost a page of the log. */
  private readonly replays: KeyedBudget;
  /** Since start: commands applied, `$replay` requests served and sent (stats()). */
  private readonly tally = { applied: 0, served: 0, requested: 0 };
  private readonly limited: RateLimitedLog;

  constructor(private readonly p: ReliableParts) {
    this.limited = new RateLimitedLog(p.log);
    this.replays = new KeyedBudget(REPLAY_BYTES_PER_SECOND, REPLAY_BURST_BYTES, MAX_REPLAY_ASKERS, () => p.clock.monotonic());
    p.server.receiveStreams((env, caller, answer) => this.receive(env, caller, answer));
    p.server.handle(REPLAY_METHOD, (body, ctx) => {
      const key = ctx.caller.fingerprint ?? ctx.caller.node;
      if (!this.replays.allows(key)) {
        p.bounds.replaysLimited++;
        throw new QueueFullError(`${ctx.caller.node} asked for more than ${REPLAY_BYTES_PER_SECOND >> 20} MiB of replays a second: retry later`);
      }
      let answer;
      try {
        answer = answerReplay(this.store().publishing, body, this.asker(ctx.caller));
      } catch (err) {
        // An asker of an earlier revision, refused a page with a damaged event: it asks
        // again every second, so this is said once in a while, not every time.
        if (err instanceof StoreError && err.problem === 'corrupt') this.limited.warn('damaged-refused', { asker: ctx.caller.node, err: err.message }, 'replay refused: a damaged event, and the asker cannot be told which');
        throw err;
      }
      const { reply, served, damaged } = answer;
      this.tally.served++;
      this.replays.spend(key, Math.max(reply.byteLength, REPLAY_MIN_COST_BYTES));
      if (served !== undefined) logEvent(p.log, { event: 'replay.served', peer: eventPeer(ctx.caller), ...served });
      // Once in a while per asker: one that asks again and again from the start must
      // not turn each answer into lines.
      const suppressed = damaged.length === 0 ? undefined : this.limited.take(`damaged:${key}`);
      if (suppressed !== undefined) logEvent(p.log, { event: 'event.damaged', peer: eventPeer(ctx.caller), ...damaged[0]!, count: damaged.length, suppressed });
      return reply;
    });
    p.server.handle(ACK_METHOD, (body, ctx) => { takeAck(this.store().publishing, body, this.asker(ctx.caller)); });
    p.bus.on('peer:up', ({ peer }) => this.onPeerUp(peer.nodeId));
  }

  /** Opens the store with the application's tables in place (throws STORE) and starts
   *  delivering what earlier runs left. */
  start(): void {
    if (this.open !== undefined) return;
    const { settings, log } = this.p;
    const store = openStore(this.p.storePath, { log, durability: settings.durability, migrations: this.p.migrations });
    const { db, storeId, space } = store;
    const events = new EventLog(db, space, store, { maxAgeMs: settings.eventRetentionMs, maxEvents: settings.maxEvents }, (logged) => this.goLive(logged), this.p.bounds);
    const outbox = new Outbox(db, space, store, settings.maxOutbox, () => dispatcher.deliverNow(), () => this.p.clock.now());
    const dispatcher = new Dispatcher({
      storeId, outbox, client: this.p.client, settings, clock: this.p.clock, log,
      // Keep a stream on its pinned instance while it is up; otherwise balance.
      route: (service, pinned) => {
        const to = pinned === undefined ? undefined : this.p.peers.byNode(pinned);
        return to !== undefined && to.service === service ? to : this.p.peers.pick(service);
      },
      onAcked: (service, count) => this.p.bus.emit({ type: 'outbox:acked', service, count }),
    });
    const pruneTimer = setInterval(() => {
      try {
        events.prune();
      } catch (err) {
        // A full disk is alarmed by the store itself, once per interval.
        if (!(err instanceof StoreFullError)) log.warn({ err }, 'event log pruning failed');
      }
    }, PRUNE_INTERVAL_MS);
    const publishing = { storeId, nodeId: this.p.nodeId, service: this.p.service, events };
    // What every transaction writes through, made once: a batch opens one per command.
    const txParts: TransactionParts = {
      ...this.txParts(),
      db,
      insertCommand: (m) => outbox.insert(m),
      insertEvent: (topic, id, payload, headers) => events.insert(topic, id, payload, headers),
      sent: (rows) => {
        outbox.committed(rows);
        dispatcher.kick();
      },
      unsent: (rows) => outbox.uncount(rows.length),
      logged: (logged) => this.goLive(logged),
    };
    const inbox = new Inbox(db, space);
    const writes = new WriteBatch({ db, space, hooks: inbox, transaction: () => this.transaction(), sync: store.walSync, maxWrites: MAX_BATCH_WRITES, budgetMs: BATCH_BUDGET_MS,
      ...(this.p.batchCommitted === undefined ? {} : { committed: this.p.batchCommitted }),
    });
    const nested = db.transaction((f: () => unknown) => f());
    const savepoint = <T>(f: () => T): T => nested(f) as T;
    this.open = { store, db, storeId, outbox, inbox, writes, savepoint, dispatcher, events, publishing, pruneTimer, txParts };
    // Segments an earlier run left behind with no row pointing into them.
    events.collectSpill();
    logEvent(log, { event: 'store.opened', store: this.p.storePath, storeId, pending: outbox.size, eventHead: events.head() });
    dispatcher.kick();
  }

  handle(method: string, handler: ReliableHandler): void {
    checkMethodName(method);
    this.handlers.set(method, handler);
  }

  /** Stores a command in the outbox; resolves once on disk (group commit). */
  send(a: string | CommandDef<unknown>, b: unknown, c?: unknown, d?: unknown): Promise<void> {
    try {
      return this.store().outbox.send(commandMessage(this.txParts(), a, b, c, d));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Logs an event; resolves once on disk, after which it is published live. */
  publishReliable(a: string | EventDef<unknown>, b: unknown, c?: unknown): Promise<void> {
    try {
      const e = eventMessage(this.txParts(), a, b, c);
      return this.store().events.publish(e.topic, this.p.builder.newId(), e.payload, e.headers);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Throws what `fn` throws, or STORE_FULL when the disk is full; either way nothing
   *  of it was written. */
  transact<T>(fn: (tx: Transaction) => T): T {
    const { db, store } = this.store();
    const { tx, committed, rolledBack } = this.transaction();
    let result: T;
    try {
      result = store.space.write(() => db.transaction(() => fn(tx)).immediate());
    } catch (err) {
      rolledBack();
      throw err;
    }
    committed();
    return result;
  }

  /** Like transact(), but in the transaction the writes of this moment share (reliable
   *  commands being applied, other commit() calls): one commit, one fsync for all.
   *  Resolves with what `fn` returned once that transaction committed; rejects with
   *  what `fn` threw (its own writes rolled back, nobody else's), or with the
   *  commit's failure (STORE_FULL for a full disk), in which case nothing was written. */
  commit<T>(fn: (tx: Transaction) => T): Promise<T> {
    let o: Open;
    try {
      o = this.store();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => {
      let result: T;
      o.writes.add({
        apply: ({ tx }) => { result = o.savepoint(() => fn(tx)); },
        done: () => resolve(result),
        fail: reject,
      });
    });
  }

  async subscribeDurable(name: string, prefix: string, handler: DurableHandler): Promise<{ close(): void }> {
    validatePrefix(prefix);
    const { db, storeId } = this.store();
    // The publisher keeps progress per subscriber store, so the name is made unique.
    const subscriber = `${name}@${storeId}`;
    const durable = new DurableSubscription({
      db,
      space: this.store().store.space,
      sync: this.store().store.walSync,
      name,
      prefix,
      handler,
      tx: () => this.transaction(),
      // Pages no larger than we take (less room for the reply's own fields).
      replay: (nodeId, request) => (this.tally.requested++, requestReplay(this.p.client, nodeId, { ...request, subscriber, maxBytes: Math.max(1_024, this.p.maxPayloadBytes - 1_024) })),
      ack: (nodeId, stream, seq) => {
        try {
          sendAck(this.p.client, nodeId, stream, subscriber, seq);
        } catch {
          // The next ack carries the same progress.
        }
      },
      isUp: (nodeId) => this.p.peers.byNode(nodeId) !== undefined,
      upOf: (service) => this.p.peers.upOf(service),
      scope: (nodeId) => this.scope(nodeId),
      lost: this.p.reportLost,
      log: this.p.log,
    });
    this.durables.add(durable);
    const remove = await this.p.subscriber.subscribe(prefix, (e) => durable.onLive(e), this.p.subscribeTimeoutMs);
    // Peers up already will bring no peer:up, and events they logged before this
    // subscription no live gap: ask each of them once now. One without a store, or
    // without events under the prefix, answers an empty page.
    for (const peer of this.p.peers.list()) if (peer.state === 'up') durable.onPeerUp(peer.nodeId);
    return {
      close: () => {
        durable.close();
        remove();
        this.durables.delete(durable);
      },
    };
  }

  get db(): Db | undefined {
    return this.open?.db;
  }

  stats(): ReliableStats | undefined {
    const o = this.open;
    return o === undefined ? undefined : {
      pending: o.outbox.size, commits: o.outbox.commits, ackCommits: o.outbox.ackCommits, eventCommits: o.events.commits,
      held: o.dispatcher.heldCount, batches: { ...o.writes.stats }, store: o.store.space.stats(),
      oldestPendingMs: o.outbox.oldestAgeMs(), retries: o.dispatcher.retries, deadLettered: o.dispatcher.deadLettered,
      applied: this.tally.applied, replays: { served: this.tally.served, requested: this.tally.requested }, durableLag: this.durableLag(),
    };
  }

  private durableLag(): Record<string, number> {
    const lag: Record<string, number> = {};
    for (const d of this.durables) lag[d.prefix] = (lag[d.prefix] ?? 0) + d.lag();
    return lag;
  }

  close(): void {
    for (const d of this.durables) d.close();
    this.durables.clear();
    const o = this.open;
    if (o === undefined) return;
    clearInterval(o.pruneTimer);
    o.writes.close();
    // What waits for its fsync (ACKs, resolved sends) settles now, as it would have
    // at its COMMIT.
    o.store.walSync.flushSync();
    o.dispatcher.close();
    o.store.close();
  }

  /** A reliable command arrived: queue it for the next batch (command-batch.ts), which
   *  applies it exactly once (inbox) and answers. ACK is sent after the commit; a
   *  refusal or a handler's throw rolls back its own writes and answers ERROR with its
   *  code (proto/README.md section 14); a full disk answers STORE_FULL, which the
   *  sender does not count as an attempt. */
  private receive(env: Envelope, caller: Sender, answer: Responder): void {
    const handler = this.handlers.get(env.subject);
    if (handler === undefined) return answer.fail(new UnknownMethodError(`no reliable handler for "${env.subject}"`));
    const headers = headersOf(env);
    const at = parseStreamPosition(headers);
    if (at === undefined) return answer.fail(new BadMessageError('reliable command with bad zmesh-stream/zmesh-seq/zmesh-prev headers (proto/README.md section 14)'));
    let o: Open;
    try {
      o = this.store();
    } catch (err) {
      return answer.fail(err);
    }
    // Watermarks are per proven sender too: no member can advance another's stream.
    const stream = caller.fingerprint === undefined ? at.stream : `${caller.fingerprint}/${at.stream}`;
    let ran = false;
    o.writes.add({
      apply: ({ tx }) => {
        ran = false;
        o.inbox.applyInBatch(stream, at.seq, at.prev, () => {
          handler(env.payload, { db: tx.db, send: tx.send, publish: tx.publish, method: env.subject, caller, headers });
          ran = true;
        });
      },
      done: () => {
        if (ran) this.tally.applied++;
        answer.ack();
      },
      fail: (err) => answer.fail(err),
    });
  }

  private transaction(): OpenTransaction {
    return openTransaction(this.store().txParts);
  }

  /** Where a peer's streams are kept ("" insecure; "<fingerprint>/" secure). */
  private scope(nodeId: string): string {
    if (this.p.trust === undefined) return '';
    return `${this.p.trust.fingerprintOf(nodeId) ?? 'unknown'}/`;
  }

  private asker(caller: Sender): Asker | undefined {
    const trust = this.p.trust;
    if (trust === undefined || caller.fingerprint === undefined) return undefined;
    return { scope: `${caller.fingerprint}/`, maySubscribe: (prefix) => trust.maySubscribe(caller.node, prefix) };
  }

  private txParts(): { newId(): Buffer; maxPayloadBytes: number } {
    return { newId: () => this.p.builder.newId(), maxPayloadBytes: this.p.maxPayloadBytes };
  }

  private store(): Open {
    if (this.open === undefined) throw new ClosedError('the reliable class is not started');
    return this.open;
  }

  /** Logged events whose commit is on disk: `$replay` may serve them, and they go out. */
  private goLive(events: LoggedEvent[]): void {
    const { storeId, events: log } = this.store();
    if (events.length > 0) log.confirm(events.at(-1)!.seq);
    for (const e of events) {
      const headers: Record<string, string> = { ...e.headers, [HEADER_ESTREAM]: storeId, [HEADER_ESEQ]: String(e.seq) };
      const prevs = encodeEventPrevs(this.p.publisher.chain(e.topic, e.seq));
      if (prevs !== undefined) headers[HEADER_EPREV] = prevs;
      try {
        this.p.publisher.publish(e.topic, e.payload, headers);
      } catch (err) {
        // Queue full: subscribers find the gap and replay it from the log.
        this.p.log.debug({ err, seq: e.seq }, 'live publish of a logged event failed');
      }
    }
  }

  /** A peer came up: deliver waiting commands, and let durable subscriptions catch up. */
  private onPeerUp(nodeId: string): void {
    if (this.open === undefined) return;
    this.open.dispatcher.kick();
    for (const d of this.durables) d.onPeerUp(nodeId);
  }
}
