/**
 * The receiving side of events: one SUB socket connected to every live peer's PUB.
 *
 * Local listeners register by prefix; the SUB socket holds one ZeroMQ subscription per
 * distinct prefix (reference-counted). `sync()` proves to the caller that the SUB's
 * subscriptions are in effect at one publisher (see publisher.ts for the handshake).
 */
import type { Logger } from 'pino';
import type * as zmq from 'zeromq';
import { ClosedError, TimeoutError } from '../errors.js';
import { Kind, SYNC_TOPIC_PREFIX, headersOf, type Envelope } from '../codec/envelope.js';
import { decodeSyncMark } from '../codec/control.js';
import { unpackPairs } from '../codec/packed.js';
import { MAX_BATCH_MESSAGES } from '../limits.js';
import type { DropFn } from '../protocol/drops.js';
import type { Inbound } from '../protocol/inbound.js';
import type { Counters } from '../stats.js';
import type { EventListener, MeshEvent } from '../types.js';
import { syncTopic } from './topics.js';

export interface SubscriberParts {
  sub: zmq.Subscriber;
  nodeId: string;
  inbound: Inbound;
  counters: Counters;
  drop: DropFn;
  log: Logger;
}

interface SyncWaiter {
  publisherId: string;
  settle(ok: boolean): void;
}

export class EventSubscriber {
  private readonly listeners = new Map<string, Set<EventListener>>();
  /** Publishers we are connected to: node id -> PUB endpoint. */
  private readonly publishers = new Map<string, string>();
  /** Node ids per connected endpoint. A publisher that restarts can get the same
   *  ephemeral PUB port as its predecessor, so one endpoint may briefly belong to two
   *  node ids; libzmq must see one connect and one disconnect per endpoint (a second
   *  disconnect throws ENOENT). */
  private readonly users = new Map<string, Set<string>>();
  private readonly waiters = new Map<string, SyncWaiter>();
  private tokens = 0;
  private closed = false;

  private readonly sub: zmq.Subscriber;
  private readonly nodeId: string;
  private readonly counters: Counters;
  private readonly drop: DropFn;
  private readonly log: Logger;

  constructor(private readonly p: SubscriberParts) {
    ({ sub: this.sub, nodeId: this.nodeId, counters: this.counters, drop: this.drop, log: this.log } = p);
  }

  /** Connects to a publisher and resolves once our subscriptions are in effect there.
   *  Rejects with TIMEOUT (the caller retries) or CLOSED. */
  async connect(publisherId: string, endpoint: string, timeoutMs: number): Promise<void> {
    const previous = this.publishers.get(publisherId);
    if (previous !== undefined && previous !== endpoint) this.disconnect(publisherId);
    if (previous !== endpoint) {
      let ids = this.users.get(endpoint);
      if (ids === undefined) {
        ids = new Set();
        this.users.set(endpoint, ids);
        this.sub.connect(endpoint);
      }
      ids.add(publisherId);
      this.publishers.set(publisherId, endpoint);
    }
    if (!(await this.sync(publisherId, timeoutMs))) {
      throw new TimeoutError(`publisher ${publisherId} did not confirm subscriptions within ${timeoutMs} ms`);
    }
  }

  disconnect(publisherId: string): void {
    const endpoint = this.publishers.get(publisherId);
    if (endpoint === undefined) return;
    this.publishers.delete(publisherId);
    const ids = this.users.get(endpoint);
    ids?.delete(publisherId);
    if (ids === undefined || ids.size === 0) {
      this.users.delete(endpoint);
      try {
        if (!this.sub.closed) this.sub.disconnect(endpoint);
      } catch (err) {
        this.log.debug({ err, endpoint }, 'SUB disconnect failed');
      }
    }
    for (const [token, w] of this.waiters) {
      if (w.publisherId === publisherId) {
        this.waiters.delete(token);
        w.settle(false);
      }
    }
  }

  /** Adds a listener. Resolves once the prefix is in effect at every connected
   *  publisher (publishers that go away meanwhile are not waited for). */
  async subscribe(prefix: string, listener: EventListener, timeoutMs: number): Promise<() => void> {
    let set = this.listeners.get(prefix);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(prefix, set);
      this.sub.subscribe(prefix);
    }
    set.add(listener);
    const remove = (): void => {
      const s = this.listeners.get(prefix);
      if (s === undefined || !s.delete(listener) || s.size > 0) return;
      this.listeners.delete(prefix);
      if (!this.sub.closed) this.sub.unsubscribe(prefix);
    };
    const ids = [...this.publishers.keys()];
    const results = await Promise.all(ids.map((id) => this.sync(id, timeoutMs)));
    // false means the publisher left, or it timed out; only a timeout with the
    // publisher still connected is an error the caller must hear about.
    const stuck = ids.filter((id, i) => results[i] === false && this.publishers.has(id));
    if (stuck.length > 0) {
      remove();
      throw new TimeoutError(`publishers ${stuck.join(', ')} did not confirm "${prefix}" within ${timeoutMs} ms`);
    }
    return remove;
  }

  /** True once `publisherId` answered; false if it timed out or went away. */
  private sync(publisherId: string, timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.reject(new ClosedError('subscriber is closed'));
    const token = `${this.nodeId}.${++this.tokens}`;
    const topic = syncTopic(publisherId, token);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(token);
        waiter.settle(false);
      }, timeoutMs);
      const waiter: SyncWaiter = {
        publisherId,
        settle: (ok) => {
          clearTimeout(timer);
          if (!this.sub.closed) this.sub.unsubscribe(topic);
          resolve(ok);
        },
      };
      this.waiters.set(token, waiter);
      this.sub.subscribe(topic);
    });
  }

  /** One message from some publisher: [topic, packed] or [topic, h1, b1, ..., hn, bn]. */
  onMessage(frames: Buffer[]): void {
    let parts: Buffer[] | undefined = frames;
    let skip = 1;
    if (frames.length === 2) {
      parts = unpackPairs(frames[1]!, MAX_BATCH_MESSAGES);
      skip = 0;
      if (parts === undefined) {
        this.drop('badFrames', 'bad packed frame on SUB', 'sub');
        return;
      }
    }
    const topic = frames[0]!.toString();
    if (topic.startsWith(SYNC_TOPIC_PREFIX)) this.p.inbound(parts, skip, 'sub', (env) => this.onSync(topic, env));
    else this.p.inbound(parts, skip, 'sub', (env) => this.onEvent(topic, env));
  }

  private onEvent(topic: string, env: Envelope): void {
    if (env.kind !== Kind.EVENT) {
      this.drop('unexpected', `kind ${env.kind} on SUB`, env.senderNode);
      return;
    }
    if (env.subject !== topic) {
      this.drop('invalid', 'topic frame and envelope subject differ', env.senderNode);
      return;
    }
    this.deliver({
      topic,
      payload: env.payload,
      sender: { node: env.senderNode, service: env.senderService },
      id: env.id,
      seq: env.seq,
      timestampMs: env.timestampMs,
      headers: headersOf(env),
    });
  }

  /** A SYNC mark (proto/README.md section 6). It counts only when it is a SYNC, on
   *  its own topic, from the publisher that topic names, for a token we issued. */
  private onSync(topic: string, env: Envelope): void {
    if (env.kind !== Kind.SYNC) {
      this.drop('unexpected', `kind ${env.kind} on a $sync topic`, env.senderNode);
      return;
    }
    if (env.subject !== topic || !topic.startsWith(syncTopic(env.senderNode, ''))) {
      this.drop('invalid', 'SYNC subject, topic and sender disagree', env.senderNode);
      return;
    }
    const token = decodeSyncMark(env.payload);
    // Marks for other subscribers reach us when we subscribe to "" (everything).
    const waiter = token === undefined ? undefined : this.waiters.get(token);
    if (waiter === undefined || waiter.publisherId !== env.senderNode || topic !== syncTopic(env.senderNode, token!)) return;
    this.waiters.delete(token!);
    waiter.settle(true);
  }

  private deliver(event: MeshEvent): void {
    for (const [prefix, set] of this.listeners) {
      if (!event.topic.startsWith(prefix)) continue;
      for (const listener of set) {
        this.counters.events.delivered++;
        try {
          listener(event);
        } catch (err) {
          this.log.error({ err, topic: event.topic }, 'event listener threw');
        }
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.values()) w.settle(false);
    this.waiters.clear();
  }
}
