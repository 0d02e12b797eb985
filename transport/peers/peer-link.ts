/**
 * peers/: who is in the mesh right now. One link per peer (its DEALER, the hello
 * handshake, liveness) and the peer table that balances work across them. No
 * decoding (protocol/'s inbound helper does it) and no reply routing (answers go to
 * protocol/'s RequestClient).
 * May import: protocol/, codec/, socket/, foundation modules.
 *
 * This file: a link to one peer's ROUTER.
 *
 *   connecting --WELCOME + peerReady()--> up --silence > suspectAfterMs--> suspect
 *        ^                                 \                                  |
 *        +------- reset (new DEALER) <------ down <--silence > deadAfterMs-----+
 *
 * Heartbeats are ours, not ZMTP's: a PING every heartbeatIntervalMs, answered by a
 * PONG; anything valid from the peer counts as a sign of life. When a link goes down
 * its DEALER is replaced, so nothing queued for the old peer reaches a new one. A
 * connection libzmq gave up on under us (a protocol error ends it for good) is found
 * the same way: the peer falls silent, and the link starts over.
 *
 * Opening a DEALER can fail (out of descriptors). The link then has no socket and
 * tries again from tick(), with backoff: it never stays dead.
 */
import type { Logger } from 'pino';
import type * as zmq from 'zeromq';
import { LINK_REOPEN_MIN_MS } from '../bounds.js';
import { Kind, type Envelope } from '../codec/envelope.js';
import { ClosedError, MessageTooLargeError } from '../errors.js';
import { decodeErrorReply, decodeHeartbeat, decodeHello, encodeHeartbeat, encodeHello, type Hello, type HelloInit } from '../codec/control.js';
import type { SocketSettings } from '../options.js';
import type { Conduit } from '../protocol/client.js';
import type { DropFn } from '../protocol/drops.js';
import type { Built, EnvelopeBuilder } from '../protocol/envelopes.js';
import type { Inbound } from '../protocol/inbound.js';
import { readLoop } from '../socket/read-loop.js';
import type { SendQueue } from '../socket/send-queue.js';
import { closeQuietly, createDealer, sendQueue, type QueueReport, type SocketSecurity } from '../socket/sockets.js';
import type { Clock, PeerInfo, PeerState } from '../types.js';
import { settleWithin } from '../timers.js';

/** How often an unanswered HELLO is sent again. */
export const HELLO_RETRY_MS = 1_000;

/** What a link needs from the node. */
export interface LinkParts {
  heartbeatIntervalMs: number;
  suspectAfterMs: number;
  deadAfterMs: number;
  sendQueueLimit: number;
  sockets: SocketSettings;
  report: QueueReport;
  inbound: Inbound;
  /** Where REPLY, ACK and ERROR envelopes go (protocol/'s RequestClient). */
  answers: { onAnswer(env: Envelope): void };
  builder: EnvelopeBuilder;
  drop: DropFn;
  log: Logger;
  clock: Pick<Clock, 'monotonic'>;
  localHello(): HelloInit;
  /** The peer answered our HELLO. Resolves once the link may be marked up; rejects
   *  to make the link try again later. */
  onWelcome(link: PeerLink, hello: Hello): Promise<void>;
  /** The link left up/suspect. */
  onDown(link: PeerLink, reason: string): void;
  /** Opening the DEALER failed; the link retries from tick(). */
  onOpenFailed(link: PeerLink, err: unknown): void;
  /** A message was not sent: the peer takes smaller payloads. */
  onTooLarge(link: PeerLink, bytes: number, limit: number): void;
  /** A secure node: its sockets' CURVE settings, how to seal what we send, and the
   *  BIND frame that opens each connection to a peer's key (section 17.4). */
  security?: {
    sockets: SocketSecurity;
    macKeyFor(publicKey: string): Buffer;
    seal(macKey: Buffer, header: Uint8Array, body: Uint8Array): Buffer;
    bindFrameFor(publicKey: string): Buffer;
  };
}

export class PeerLink implements Conduit {
  state: PeerState = 'connecting';
  /** The node that answered our last HELLO. */
  peer: Hello | undefined;
  pubEndpoint = '';
  rttMs: number | undefined;
  upSinceMs = 0;

  /** Monotonic ms since this link last started connecting. */
  connectingSinceMs: number;

  /** Messages waiting in this link's send queue. */
  get queued(): number {
    return this.queue?.size ?? 0;
  }

  /** Undefined while opening failed and a retry is due at reopenAtMs. */
  private dealer: zmq.Dealer | undefined;
  private queue: SendQueue | undefined;
  private reopenAtMs = 0;
  private reopenDelayMs = LINK_REOPEN_MIN_MS;
  private lastSeenMs = 0;
  private lastPingMs = 0;
  private lastHelloMs = -Infinity;
  private helloKey: Buffer | undefined;
  private handshaking = false;
  private closed = false;
  /** Secure: the MAC key shared with the peer's key. */
  private readonly macKey: Buffer | undefined;
  /** Secure, when our DEALERs bind their connections: the frame that does it. */
  private readonly bind: Buffer | undefined;
  /** Secure: seal every message. Off once a peer that binds connections has welcomed
   *  us: our BIND frame then proves each of our connections, so no MAC is needed. */
  private sealing = true;

  constructor(
    readonly endpoint: string,
    /** Static peers are retried forever; discovered ones are dropped when they go down. */
    readonly persistent: boolean,
    readonly source: string,
    private readonly p: LinkParts,
    /** Secure: the peer's CURVE public key (Z85); the DEALER only completes its
     *  handshake with the holder of it. */
    readonly serverKey?: string,
  ) {
    this.macKey = serverKey === undefined ? undefined : p.security?.macKeyFor(serverKey);
    this.bind = serverKey !== undefined && p.security?.sockets.bindConnections === true ? p.security.bindFrameFor(serverKey) : undefined;
    this.connectingSinceMs = p.clock.monotonic();
    this.open();
  }

  get nodeId(): string {
    return this.peer?.nodeId ?? '';
  }

  get service(): string {
    return this.peer?.service ?? '';
  }

  get isUp(): boolean {
    return this.state === 'up' || this.state === 'suspect';
  }

  /** A WELCOME came and the event sync with the peer is under way. */
  get isHandshaking(): boolean {
    return this.handshaking;
  }

  info(outstanding: number): PeerInfo | undefined {
    if (this.peer === undefined) return undefined;
    return {
      nodeId: this.peer.nodeId,
      service: this.peer.service,
      endpoint: this.endpoint,
      pubEndpoint: this.pubEndpoint,
      state: this.state,
      outstanding,
      rttMs: this.rttMs,
      upSinceMs: this.upSinceMs,
    };
  }

  /** Queues one message, sealed with our MAC when it must be. Throws QUEUE_FULL,
   *  CLOSED while the link has no socket, and MESSAGE_TOO_LARGE when the peer said
   *  (Hello.max_payload_bytes) that it takes smaller payloads: libzmq would drop the
   *  connection for the frame, and everything queued behind it. */
  send(message: Built): void {
    const limit = this.peer?.maxPayloadBytes ?? 0;
    if (limit > 0 && message.body.byteLength > limit) {
      this.p.onTooLarge(this, message.body.byteLength, limit);
      throw new MessageTooLargeError(`payload of ${message.body.byteLength} bytes exceeds the limit of ${this.nodeId} (${limit} bytes)`);
    }
    if (this.queue === undefined) throw new ClosedError(`link to ${this.endpoint} has no socket yet`);
    const header = this.macKey === undefined || !this.sealing ? message.header : this.p.security!.seal(this.macKey, message.header, message.body);
    this.queue.push(header, message.body);
  }

  /** Called by the peer table on its timer, with the monotonic clock. */
  tick(now: number): void {
    if (this.closed) return;
    if (this.dealer === undefined) {
      if (now >= this.reopenAtMs) this.open();
      return;
    }
    if (this.state === 'connecting') {
      if (!this.handshaking && this.queue!.idle && now - this.lastHelloMs >= HELLO_RETRY_MS) this.sendHello(now);
      return;
    }
    if (now - this.lastPingMs >= this.p.heartbeatIntervalMs) {
      this.lastPingMs = now;
      this.trySend(this.p.builder.build(Kind.PING, { payload: encodeHeartbeat(this.p.clock.monotonic()) }));
    }
    const silence = now - this.lastSeenMs;
    if (silence > this.p.deadAfterMs) this.markDown(`silent for ${silence} ms`);
    else if (silence > this.p.suspectAfterMs && this.state === 'up') this.state = 'suspect';
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
    this.p.onDown(this, reason);
    this.restart();
  }

  /** Starts the handshake again at once (peer restarted, or the table asks). */
  restart(): void {
    if (this.closed) return;
    this.state = 'connecting';
    this.handshaking = false;
    this.release(0);
    this.connectingSinceMs = this.p.clock.monotonic();
    this.reopenDelayMs = LINK_REOPEN_MIN_MS;
    this.open();
    this.lastHelloMs = -Infinity;
  }

  /** Says BYE if up, lets queued frames leave (bounded), and releases the socket. */
  async close(bye: boolean, timeoutMs: number): Promise<void> {
    if (this.closed) return;
    if (bye && this.isUp) this.trySend(this.p.builder.build(Kind.BYE, {}));
    const up = this.isUp;
    this.closed = true;
    // Only an up link carries traffic worth waiting for; a pending one holds at most
    // its own HELLO, which would keep close() waiting the full timeout for a peer that
    // is not there.
    if (up && this.queue !== undefined) await settleWithin(this.queue.drained(), timeoutMs);
    this.release();
  }

  abort(): void {
    this.closed = true;
    this.release(0);
  }

  private release(lingerMs?: number): void {
    this.queue?.close();
    if (this.dealer !== undefined) closeQuietly(this.dealer, lingerMs);
    this.queue = undefined;
    this.dealer = undefined;
  }

  /** A fresh DEALER and its queue; on failure, none, and a retry from tick(). */
  private open(): void {
    this.sealing = true;
    let dealer: zmq.Dealer;
    try {
      dealer = createDealer(this.p.sockets, this.p.security?.sockets, this.serverKey, this.bind);
      try {
        dealer.connect(this.endpoint);
      } catch (err) {
        closeQuietly(dealer, 0);
        throw err;
      }
    } catch (err) {
      const now = this.p.clock.monotonic();
      this.reopenAtMs = now + this.reopenDelayMs;
      this.reopenDelayMs = Math.min(this.reopenDelayMs * 2, Math.max(this.p.sockets.reconnectMaxIntervalMs, LINK_REOPEN_MIN_MS));
      this.p.onOpenFailed(this, err);
      return;
    }
    this.reopenDelayMs = LINK_REOPEN_MIN_MS;
    this.dealer = dealer;
    this.queue = sendQueue(`link ${this.endpoint}`, this.p.sendQueueLimit, (frames) => dealer.send(frames), {
      sent: (n) => this.p.report.sent(n),
      // A send that fails because we closed the DEALER ourselves is no news.
      failed: (err, n, name) => { if (!dealer.closed) this.p.report.failed(err, n, name); },
    });
    void readLoop(dealer, (frames) => this.onMessage(frames), (err) => this.p.log.error({ err }, 'dealer receive failed'));
  }

  private sendHello(now: number): void {
    this.lastHelloMs = now;
    const hello = this.p.builder.build(Kind.HELLO, { payload: encodeHello(this.p.localHello()) });
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
    this.p.inbound(frames, 0, this.endpoint, (env) => this.onEnvelope(env));
  }

  private onEnvelope(env: Envelope): void {
    if (this.peer !== undefined && this.isUp && env.senderNode !== this.peer.nodeId) {
      // Another process answers on this endpoint: the peer restarted faster than
      // liveness noticed. Its predecessor is gone.
      this.markDown(`replaced by ${env.senderNode}`);
      return;
    }
    this.lastSeenMs = this.p.clock.monotonic();
    switch (env.kind) {
      case Kind.REPLY:
      case Kind.ACK:
        this.p.answers.onAnswer(env);
        return;
      case Kind.ERROR:
        if (this.isHelloAnswer(env)) {
          this.p.log.warn({ endpoint: this.endpoint, error: decodeErrorReply(env.payload) }, 'peer refused our hello');
          return;
        }
        this.p.answers.onAnswer(env);
        return;
      case Kind.WELCOME:
        this.onWelcome(env);
        return;
      case Kind.PONG: {
        const sent = decodeHeartbeat(env.payload);
        if (sent !== undefined && sent > 0) this.rttMs = this.p.clock.monotonic() - sent;
        return;
      }
      default:
        this.p.drop('unexpected', `kind ${env.kind} on DEALER`, env.senderNode);
    }
  }

  private isHelloAnswer(env: Envelope): boolean {
    return this.helloKey !== undefined && Buffer.compare(this.helloKey, env.correlationId) === 0;
  }

  private onWelcome(env: Envelope): void {
    if (this.handshaking || this.isUp || !this.isHelloAnswer(env)) return; // an answer to an older HELLO
    const hello = decodeHello(env.payload);
    if (hello === undefined || hello.nodeId !== env.senderNode) {
      this.p.drop('invalid', 'bad WELCOME', env.senderNode);
      return;
    }
    this.peer = hello;
    this.handshaking = true;
    this.p.onWelcome(this, hello).then(
      () => {
        this.handshaking = false;
        if (this.bind !== undefined && hello.bindsConnections) this.sealing = false;
      },
      (err: unknown) => {
        this.handshaking = false;
        this.p.log.debug({ err, endpoint: this.endpoint }, 'handshake not completed');
      },
    );
  }
}
