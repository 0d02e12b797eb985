/**
 * The reliable class of a node: its store, outbox, inbox and dispatcher, composed.
 * node.ts delegates send/transact/handleReliable here and hands inbound reliable
 * commands to `receive`.
 */
import type { Logger } from 'pino';
import { BadMessageError, InvalidArgumentError, MessageTooLargeError, UnknownMethodError } from '../errors.js';
import { headersOf, type Envelope } from '../codec.js';
import type { EnvelopeBuilder } from '../protocol/envelopes.js';
import type { PendingRequests } from '../protocol/pending.js';
import type { PeerLink } from '../peers/peer-link.js';
import { openStore, type Db } from '../store/open.js';
import type { ReliableContext, ReliableHandler, ReliableOptions, Sender, SendOptions, Transaction } from '../types.js';
import { Dispatcher, HEADER_PREV, HEADER_SEQ, HEADER_STREAM, RELIABLE_DEFAULTS } from './dispatcher.js';
import { Inbox } from './inbox.js';
import { Outbox } from './outbox.js';

export const MAX_OUTBOX = 100_000;

export interface LayerDeps {
  storePath: string;
  options: ReliableOptions;
  maxPayloadBytes: number;
  builder: EnvelopeBuilder;
  pending: PendingRequests;
  route(service: string, pinned: string | undefined): PeerLink | undefined;
  log: Logger;
  onAcked(service: string, count: number): void;
}

export class ReliableLayer {
  readonly db: Db;
  private readonly outbox: Outbox;
  private readonly inbox: Inbox;
  private readonly dispatcher: Dispatcher;
  private readonly handlers = new Map<string, ReliableHandler>();

  constructor(private readonly d: LayerDeps) {
    const store = openStore(d.storePath);
    this.db = store.db;
    const { maxOutbox = MAX_OUTBOX, ...rest } = d.options;
    this.outbox = new Outbox(this.db, maxOutbox, () => this.dispatcher.kick());
    this.inbox = new Inbox(this.db);
    this.dispatcher = new Dispatcher({
      storeId: store.storeId,
      outbox: this.outbox,
      builder: d.builder,
      pending: d.pending,
      route: d.route,
      settings: { ...RELIABLE_DEFAULTS, ...rest },
      log: d.log,
      onAcked: d.onAcked,
    });
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

  transact<T>(fn: (tx: Transaction) => T): T {
    let queued = 0;
    const tx: Transaction = {
      db: this.db,
      send: (service, method, payload, o = {}) => {
        this.check(service, method, payload);
        this.outbox.insert({ id: this.d.builder.newId(), service, method, payload, headers: o.headers });
        queued++;
      },
    };
    const result = this.db.transaction(() => fn(tx)).immediate();
    if (queued > 0) this.dispatcher.kick();
    return result;
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
    let queued = 0;
    const ctx: ReliableContext = {
      db: this.db,
      method: env.subject,
      caller,
      headers,
      send: (service, method, payload, o = {}) => {
        this.check(service, method, payload);
        this.outbox.insert({ id: this.d.builder.newId(), service, method, payload, headers: o.headers });
        queued++;
      },
    };
    this.inbox.apply(stream, seq, prev, () => handler(env.payload, ctx));
    if (queued > 0) this.dispatcher.kick();
  }

  /** A peer came up: a stream waiting for an instance may go. */
  kick(): void {
    this.dispatcher.kick();
  }

  stats(): { pending: number; commits: number; ackCommits: number } {
    return { pending: this.outbox.size, commits: this.outbox.commits, ackCommits: this.outbox.ackCommits };
  }

  /** The outbox, for the CLI's list/dead/retry. */
  get box(): Outbox {
    return this.outbox;
  }

  close(): void {
    this.dispatcher.close();
    if (this.db.open) this.db.close();
  }

  private check(service: string, method: string, payload: Uint8Array): void {
    if (typeof service !== 'string' || service === '' || typeof method !== 'string' || method === '') {
      throw new InvalidArgumentError('reliable send needs a service and a method');
    }
    if (payload.byteLength > this.d.maxPayloadBytes) {
      throw new MessageTooLargeError(`payload of ${payload.byteLength} bytes exceeds maxPayloadBytes ${this.d.maxPayloadBytes}`);
    }
  }
}
