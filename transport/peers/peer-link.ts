/**
 * A link to one peer's ROUTER: a DEALER, its send queue, the hello handshake and
 * liveness.
 *
 *   connecting --WELCOME + event sync--> up --silence > suspectAfterMs--> suspect
 *        ^                                 \                                  |
 *        +------- reset (new DEALER) <------ down <--silence > deadAfterMs-----+
 *
 * Heartbeats are ours, not ZMTP's: a PING every heartbeatIntervalMs, answered by a
 * PONG; anything valid from the peer counts as a sign of life. When a link goes down
 * its DEALER is replaced, so nothing queued for the old peer reaches a new one.
 */
import type { Logger } from 'pino';
import type * as zmq from 'zeromq';
import { BadMessageError, errorFromWire } from '../errors.js';
import {
  Kind, decodeErrorReply, decodeHeartbeat, decodeHello, decodeMessage, encodeHeartbeat, encodeHello, pairsOf,
  type Hello, type HelloInit,
} from '../codec.js';
import { MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, type ResolvedOptions } from '../options.js';
import type { DropFn } from '../protocol/drops.js';
import type { Built, EnvelopeBuilder } from '../protocol/envelopes.js';
import type { PendingRequests } from '../protocol/pending.js';
import { readLoop } from '../socket/read-loop.js';
import { SendQueue } from '../socket/send-queue.js';
import { closeQuietly, createDealer } from '../socket/sockets.js';
import type { Counters } from '../stats.js';
import type { PeerInfo, PeerState } from '../types.js';
import { settleWithin } from '../timers.js';

/** How often an unanswered HELLO is sent again. */
export const HELLO_RETRY_MS = 1_000;

export interface LinkDeps {
  opts: ResolvedOptions;
  counters: Counters;
  drop: DropFn;
  log: Logger;
  builder: EnvelopeBuilder;
  pending: PendingRequests;
  localHello(): HelloInit;
  /** The peer answered our HELLO. Resolves once the link may be marked up; rejects
   *  to make the link try again later. */
  onWelcome(link: PeerLink, hello: Hello): Promise<void>;
  /** The link left up/suspect. */
  onDown(link: PeerLink, reason: string): void;
}

export class PeerLink {
  state: PeerState = 'connecting';
  /** The node that answered our last HELLO. */
  peer: Hello | undefined;
  pubEndpoint = '';
  /** Requests in flight on this link (least-outstanding balancing). */
  outstanding = 0;
  rttMs: number | undefined;
  upSinceMs = 0;

  private dealer!: zmq.Dealer;
  private queue!: SendQueue;
  private lastSeenMs = 0;
  private lastPingMs = 0;
  private lastHelloMs = -Infinity;
  private helloKey: Buffer | undefined;
  private handshaking = false;
  private closed = false;

  constructor(
    readonly endpoint: string,
    /** Static peers are retried forever; discovered ones are dropped when they go down. */
    readonly persistent: boolean,
    readonly source: string,
    private readonly d: LinkDeps,
  ) {
    this.open();
  }

  get nodeId(): string | undefined {
    return this.peer?.nodeId;
  }

  get isUp(): boolean {
    return this.state === 'up' || this.state === 'suspect';
  }

  info(): PeerInfo | undefined {
    if (this.peer === undefined) return undefined;
    return {
      nodeId: this.peer.nodeId,
      service: this.peer.service,
      endpoint: this.endpoint,
      pubEndpoint: this.pubEndpoint,
      state: this.state,
      outstanding: this.outstanding,
      rttMs: this.rttMs,
      upSinceMs: this.upSinceMs,
    };
  }

  /** Queues one message; throws QUEUE_FULL. */
  send(message: Built): void {
    this.queue.push(message.header, message.body);
  }

  /** Called by the peer table on its timer. */
  tick(now: number): void {
    if (this.closed) return;
    if (this.state === 'connecting') {
      if (!this.handshaking && this.queue.idle && now - this.lastHelloMs >= HELLO_RETRY_MS) this.sendHello(now);
      return;
    }
    if (now - this.lastPingMs >= this.d.opts.heartbeatIntervalMs) {
      this.lastPingMs = now;
      this.trySend(this.d.builder.build(Kind.PING, { payload: encodeHeartbeat(performance.now()) }));
    }
    const silence = now - this.lastSeenMs;
    if (silence > this.d.opts.deadAfterMs) this.markDown(`silent for ${silence} ms`);
    else if (silence > this.d.opts.suspectAfterMs && this.state === 'up') this.state = 'suspect';
  }

  markUp(pubEndpoint: string, now: number): void {
    this.pubEndpoint = pubEndpoint;
    this.state = 'up';
    this.lastSeenMs = now;
    this.lastPingMs = now;
    this.upSinceMs = Date.now();
  }

  /** Leaves up/suspect: tells the table, then starts over with a fresh DEALER. */
  markDown(reason: string): void {
    if (!this.isUp) return;
    this.state = 'down';
    this.d.onDown(this, reason);
    this.restart();
  }

  /** Starts the handshake again at once (peer restarted, or the table asks). */
  restart(): void {
    if (this.closed) return;
    this.state = 'connecting';
    this.handshaking = false;
    this.queue.close();
    closeQuietly(this.dealer, 0);
    this.open();
    this.lastHelloMs = -Infinity;
  }

  /** Says BYE if up, lets queued frames leave (bounded), and releases the socket. */
  async close(bye: boolean, timeoutMs: number): Promise<void> {
    if (this.closed) return;
    if (bye && this.isUp) {
      this.trySend(this.d.builder.build(Kind.BYE, {}));
    }
    this.closed = true;
    await settleWithin(this.queue.drained(), timeoutMs);
    this.queue.close();
    closeQuietly(this.dealer);
  }

  abort(): void {
    this.closed = true;
    this.queue.close();
    closeQuietly(this.dealer, 0);
  }

  private open(): void {
    const dealer = createDealer({ maxFrameBytes: this.d.opts.maxFrameBytes });
    dealer.connect(this.endpoint);
    this.dealer = dealer;
    this.queue = new SendQueue({
      name: `link ${this.endpoint}`,
      limit: this.d.opts.sendQueueLimit,
      maxBatchMessages: MAX_BATCH_MESSAGES,
      maxBatchBytes: MAX_BATCH_BYTES,
      send: (frames) => dealer.send(frames),
      onSent: (n) => { this.d.counters.sent += n; this.d.counters.batches++; },
      onError: (err, n) => {
        if (!dealer.closed) this.d.log.debug({ err, endpoint: this.endpoint, frames: n }, 'send failed');
        this.d.counters.sendErrors++;
      },
    });
    void readLoop(dealer, (frames) => this.onMessage(frames), (err) => this.d.log.error({ err }, 'dealer receive failed'));
  }

  private sendHello(now: number): void {
    this.lastHelloMs = now;
    const hello = this.d.builder.build(Kind.HELLO, { payload: encodeHello(this.d.localHello()) });
    this.helloKey = hello.id;
    this.trySend(hello);
  }

  private trySend(message: Built): void {
    try {
      this.send(message);
    } catch {
      // Queue full: data traffic is backed up, and the next tick tries again.
    }
  }

  private onMessage(frames: Buffer[]): void {
    if (pairsOf(frames, 0, MAX_BATCH_MESSAGES) === undefined) {
      this.d.drop('badFrames', `${frames.length} frames on DEALER`, this.endpoint);
      return;
    }
    for (let i = 0; i < frames.length; i += 2) {
      const decoded = decodeMessage(frames[i]!, frames[i + 1]!, this.d.opts.maxPayloadBytes);
      if (!decoded.ok) {
        this.d.drop(decoded.reason, decoded.detail, decoded.env?.senderNode || this.endpoint);
        continue;
      }
      const env = decoded.env;
      this.d.counters.received++;
      if (this.peer !== undefined && this.isUp && env.senderNode !== this.peer.nodeId) {
        // Another process answers on this endpoint: the peer restarted faster than
        // liveness noticed. Its predecessor is gone.
        this.markDown(`replaced by ${env.senderNode}`);
        return;
      }
      this.lastSeenMs = performance.now();
      switch (env.kind) {
        case Kind.REPLY:
        case Kind.ACK:
          if (!this.d.pending.resolve(env.correlationId, env.payload)) this.d.drop('lateReply', 'no waiting request', env.senderNode);
          break;
        case Kind.ERROR:
          this.onError(env.correlationId, env.payload, env.senderNode);
          break;
        case Kind.WELCOME:
          this.onWelcome(env.correlationId, env.payload, env.senderNode);
          break;
        case Kind.PONG: {
          const sent = decodeHeartbeat(env.payload);
          if (sent !== undefined && sent > 0) this.rttMs = performance.now() - sent;
          break;
        }
        default:
          this.d.drop('unexpected', `kind ${env.kind} on DEALER`, env.senderNode);
      }
    }
  }

  private onError(correlationId: Uint8Array, payload: Uint8Array, from: string): void {
    const reply = decodeErrorReply(payload);
    if (reply === undefined) {
      this.d.pending.reject(correlationId, new BadMessageError(`undecodable error reply from ${from}`, { remoteNode: from }));
      return;
    }
    const err = errorFromWire(reply.code, reply.message, reply.retryable, from);
    if (this.helloKey !== undefined && Buffer.compare(this.helloKey, correlationId) === 0) {
      this.d.log.warn({ err, endpoint: this.endpoint }, 'peer refused our hello');
      return;
    }
    if (!this.d.pending.reject(correlationId, err)) this.d.drop('lateReply', 'no waiting request', from);
  }

  private onWelcome(correlationId: Uint8Array, payload: Uint8Array, from: string): void {
    if (this.handshaking || this.isUp || this.helloKey === undefined || Buffer.compare(this.helloKey, correlationId) !== 0) {
      return; // an answer to an older HELLO
    }
    const hello = decodeHello(payload);
    if (hello === undefined || hello.nodeId !== from) {
      this.d.drop('invalid', 'bad WELCOME', from);
      return;
    }
    this.peer = hello;
    this.handshaking = true;
    this.d.onWelcome(this, hello).then(
      () => { this.handshaking = false; },
      (err: unknown) => {
        this.handshaking = false;
        this.d.log.debug({ err, endpoint: this.endpoint }, 'handshake not completed');
      },
    );
  }
}
