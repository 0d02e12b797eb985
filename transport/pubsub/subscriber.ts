/**
 * The receiving side of events: one SUB socket per live publisher.
 *
 * One socket each, not one for all, so that a socket's messages can only come from
 * the publisher it was opened for: in a secure mesh its CURVE server key proves who
 * published (proto/README.md section 17), and a message on it that names another
 * sender is dropped (`senderMismatch`). It also keeps one publisher's sync marks off
 * the others' sockets, and a restarted publisher that reuses its predecessor's port
 * gets a socket of its own.
 *
 * Local listeners register by prefix; every socket holds one ZeroMQ subscription per
 * distinct prefix. `sync()` proves that a socket's subscriptions are in effect at its
 * publisher (see publisher.ts for the handshake).
 *
 * A connection never dies silently. libzmq reconnects a SUB by itself after most
 * failures, and sends its subscriptions again; we then resync, so that we know they
 * are in effect. But after a protocol error (a frame above ZMQ_MAXMSGSIZE, garbage)
 * libzmq gives the connection up for good. So when a socket reports a disconnect and
 * no reconnect follows within `rebuildAfterMs`, the socket is replaced by a new one
 * (counted in bounds.subscriberRebuilds), subscribed and resynced.
 */
import type { Logger } from 'pino';
import type * as zmq from 'zeromq';
import { ClosedError, TimeoutError, errorMessage } from '../errors.js';
import { Kind, SYNC_TOPIC_PREFIX, headersOf, type Envelope } from '../codec/envelope.js';
import { decodeSyncMark } from '../codec/control.js';
import { unpackPairs } from '../codec/packed.js';
import { MAX_BATCH_MESSAGES } from '../limits.js';
import type { DropFn } from '../protocol/drops.js';
import type { Inbound } from '../protocol/inbound.js';
import { RateLimitedLog } from '../log.js';
import { readLoop } from '../socket/read-loop.js';
import { closeQuietly } from '../socket/sockets.js';
import type { EventListener, MeshEvent } from '../types.js';
import { syncTopic } from './topics.js';

export interface SubscriberParts {
  /** A new SUB socket for one publisher; `serverKey` is its CURVE key when secure. */
  openSocket(serverKey: string | undefined): zmq.Subscriber;
  nodeId: string;
  inbound: Inbound;
  drop: DropFn;
  log: Logger;
  /** Whether `publisherId` may publish on `topic` (its certificate); default: yes. */
  mayPublish?(publisherId: string, topic: string): boolean;
  /** Counts an event delivered to one listener. */
  delivered(): void;
  /** A disconnect with no reconnect this long means libzmq gave the connection up. */
  rebuildAfterMs: number;
  /** How long a resync after a reconnect or rebuild may take. */
  resyncTimeoutMs: number;
  /** A socket was replaced (it had been given up). */
  rebuilt(): void;
}

interface Publisher {
  sock: zmq.Subscriber;
  endpoint: string;
  serverKey: string | undefined;
  /** Set while a disconnect waits for its reconnect. */
  watchdog: NodeJS.Timeout | undefined;
  /** The connection dropped since the last sync: the next connect resyncs. */
  dropped: boolean;
}

interface SyncWaiter {
  publisherId: string;
  /** Its $sync topic: a socket that replaces the publisher's must subscribe it too. */
  topic: string;
  settle(ok: boolean): void;
}

export class EventSubscriber {
  private readonly listeners = new Map<string, Set<EventListener>>();
  private readonly publishers = new Map<string, Publisher>();
  private readonly waiters = new Map<string, SyncWaiter>();
  private tokens = 0;
  private closed = false;
  private readonly limited: RateLimitedLog;

  constructor(private readonly p: SubscriberParts) {
    this.limited = new RateLimitedLog(p.log);
  }

  /** Connects to a publisher and resolves once our subscriptions are in effect there.
   *  Rejects with TIMEOUT (the caller retries) or CLOSED. */
  async connect(publisherId: string, endpoint: string, timeoutMs: number, serverKey?: string): Promise<void> {
    if (this.closed) throw new ClosedError('subscriber is closed');
    const known = this.publishers.get(publisherId);
    if (known !== undefined && known.endpoint !== endpoint) this.disconnect(publisherId);
    if (!this.publishers.has(publisherId)) {
      const pub: Publisher = { sock: this.open(publisherId, endpoint, serverKey), endpoint, serverKey, watchdog: undefined, dropped: false };
      this.publishers.set(publisherId, pub);
    }
    if (!(await this.sync(publisherId, timeoutMs))) {
      throw new TimeoutError(`publisher ${publisherId} did not confirm subscriptions within ${timeoutMs} ms`);
    }
  }

  /** A SUB for one publisher, subscribed, connected, read, and watched. */
  private open(publisherId: string, endpoint: string, serverKey: string | undefined): zmq.Subscriber {
    const sock = this.p.openSocket(serverKey);
    for (const prefix of this.listeners.keys()) sock.subscribe(prefix);
    sock.events.on('disconnect', () => this.onDropped(publisherId, sock));
    sock.events.on('connect', () => this.onReconnected(publisherId, sock));
    // libzmq is still trying (the publisher is away): not given up.
    sock.events.on('connect:retry', () => this.onRetrying(publisherId, sock));
    sock.connect(endpoint);
    void readLoop(sock, (frames) => this.onMessage(publisherId, frames), (err) => this.p.log.error({ err, publisherId }, 'SUB receive failed'));
    return sock;
  }

  private onDropped(publisherId: string, sock: zmq.Subscriber): void {
    const pub = this.publishers.get(publisherId);
    if (pub === undefined || pub.sock !== sock || this.closed || pub.watchdog !== undefined) return;
    pub.dropped = true;
    this.armWatchdog(publisherId, pub);
  }

  private armWatchdog(publisherId: string, pub: Publisher): void {
    pub.watchdog = setTimeout(() => {
      pub.watchdog = undefined;
      if (this.publishers.get(publisherId) !== pub || this.closed) return;
      // No reconnect came: libzmq gave this connection up. Start over with a new socket.
      let sock: zmq.Subscriber;
      try {
        sock = this.open(publisherId, pub.endpoint, pub.serverKey);
      } catch (err) {
        // Out of descriptors, say: keep the old one and try again later.
        this.limited.warn(`rebuild:${publisherId}`, { publisherId, err: errorMessage(err) }, 'cannot open a SUB socket again yet; retrying');
        this.armWatchdog(publisherId, pub);
        return;
      }
      closeQuietly(pub.sock, 0);
      pub.sock = sock;
      pub.dropped = true;
      // Syncs still waiting were subscribed on the old socket: subscribe them here.
      for (const w of this.waiters.values()) if (w.publisherId === publisherId) sock.subscribe(w.topic);
      this.p.rebuilt();
      this.limited.warn(`rebuilt:${publisherId}`, { publisherId, endpoint: pub.endpoint }, 'SUB connection was given up; opened it again');
    }, this.p.rebuildAfterMs);
  }

  private onRetrying(publisherId: string, sock: zmq.Subscriber): void {
    const pub = this.publishers.get(publisherId);
    if (pub === undefined || pub.sock !== sock) return;
    clearTimeout(pub.watchdog);
    pub.watchdog = undefined;
  }

  /** libzmq connected again (by itself, or on a new socket): its subscriptions go out
   *  with the handshake; a sync proves they are in effect. */
  private onReconnected(publisherId: string, sock: zmq.Subscriber): void {
    const pub = this.publishers.get(publisherId);
    if (pub === undefined || pub.sock !== sock || this.closed) return;
    clearTimeout(pub.watchdog);
    pub.watchdog = undefined;
    if (!pub.dropped) return; // the first connect: connect() syncs itself
    pub.dropped = false;
    void this.sync(publisherId, this.p.resyncTimeoutMs).then(
      (ok) => this.p.log.debug({ publisherId, ok }, 'SUB resynced after a reconnect'),
      () => undefined,
    );
  }

  disconnect(publisherId: string): void {
    const pub = this.publishers.get(publisherId);
    if (pub === undefined) return;
    this.publishers.delete(publisherId);
    clearTimeout(pub.watchdog);
    closeQuietly(pub.sock, 0);
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
      for (const { sock } of this.publishers.values()) sock.subscribe(prefix);
    }
    set.add(listener);
    const remove = (): void => {
      const s = this.listeners.get(prefix);
      if (s === undefined || !s.delete(listener) || s.size > 0) return;
      this.listeners.delete(prefix);
      for (const { sock } of this.publishers.values()) if (!sock.closed) sock.unsubscribe(prefix);
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

  close(): void {
    this.closed = true;
    for (const w of this.waiters.values()) w.settle(false);
    this.waiters.clear();
    for (const id of [...this.publishers.keys()]) this.disconnect(id);
  }

  /** True once `publisherId` answered; false if it timed out or went away. */
  private sync(publisherId: string, timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.reject(new ClosedError('subscriber is closed'));
    const pub = this.publishers.get(publisherId);
    if (pub === undefined) return Promise.resolve(false);
    const sock = pub.sock;
    const token = `${this.p.nodeId}.${++this.tokens}`;
    const topic = syncTopic(publisherId, token);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(token);
        waiter.settle(false);
      }, timeoutMs);
      const waiter: SyncWaiter = {
        publisherId,
        topic,
        settle: (ok) => {
          clearTimeout(timer);
          // The socket that holds the topic now: it may have been replaced meanwhile.
          if (!pub.sock.closed) pub.sock.unsubscribe(topic);
          resolve(ok);
        },
      };
      this.waiters.set(token, waiter);
      sock.subscribe(topic);
    });
  }

  /** One message from `publisherId`'s socket: [topic, packed] or [topic, h1, b1, ...]. */
  private onMessage(publisherId: string, frames: Buffer[]): void {
    let parts: Buffer[] | undefined = frames;
    let skip = 1;
    if (frames.length === 2) {
      parts = unpackPairs(frames[1]!, MAX_BATCH_MESSAGES);
      skip = 0;
      if (parts === undefined) {
        this.p.drop('badFrames', 'bad packed frame on SUB', publisherId);
        return;
      }
    }
    const topic = frames[0]!.toString();
    const sync = topic.startsWith(SYNC_TOPIC_PREFIX);
    // Every event a message carries is on its topic (onEvent drops any whose subject
    // differs), so the publisher's right to publish there is one decision per message:
    // asked once here, not once per event (a packed message carries about 80).
    const allowed = sync || this.p.mayPublish === undefined || this.p.mayPublish(publisherId, topic);
    this.p.inbound(parts, skip, publisherId, (env) => {
      if (env.senderNode !== publisherId) {
        this.p.drop('senderMismatch', `event from ${env.senderNode} on the socket of ${publisherId}`, publisherId);
        return;
      }
      if (sync) this.onSync(topic, env);
      else this.onEvent(publisherId, topic, env, allowed);
    });
  }

  /** `allowed`: whether `publisherId` may publish on `topic` (its certificate). */
  private onEvent(publisherId: string, topic: string, env: Envelope, allowed: boolean): void {
    if (env.kind !== Kind.EVENT) {
      this.p.drop('unexpected', `kind ${env.kind} on SUB`, env.senderNode);
      return;
    }
    if (env.subject !== topic) {
      this.p.drop('invalid', 'topic frame and envelope subject differ', env.senderNode);
      return;
    }
    if (!allowed) {
      this.p.drop('forbidden', `publishing "${topic}" is not in its certificate`, publisherId);
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
      this.p.drop('unexpected', `kind ${env.kind} on a $sync topic`, env.senderNode);
      return;
    }
    if (env.subject !== topic || !topic.startsWith(syncTopic(env.senderNode, ''))) {
      this.p.drop('invalid', 'SYNC subject, topic and sender disagree', env.senderNode);
      return;
    }
    const token = decodeSyncMark(env.payload);
    const waiter = token === undefined ? undefined : this.waiters.get(token);
    if (waiter === undefined || waiter.publisherId !== env.senderNode || topic !== syncTopic(env.senderNode, token!)) return;
    this.waiters.delete(token!);
    waiter.settle(true);
  }

  private deliver(event: MeshEvent): void {
    // A "$" topic (a node summary) reaches only listeners of "$" prefixes: ZeroMQ
    // hands it to a SUB subscribed to "" too, but "" means every application topic.
    const reserved = event.topic.charCodeAt(0) === 0x24;
    for (const [prefix, set] of this.listeners) {
      if (!event.topic.startsWith(prefix) || (reserved && prefix.charCodeAt(0) !== 0x24)) continue;
      for (const listener of set) {
        this.p.delivered();
        try {
          listener(event);
        } catch (err) {
          this.p.log.error({ err, topic: event.topic }, 'event listener threw');
        }
      }
    }
  }
}
