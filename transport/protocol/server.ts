/**
 * The inbound side of the ROUTER socket: everything peers send to this node.
 *
 *   ROUTER frames [identity, header, body, header, body, ...]
 *     HELLO   -> WELCOME (our Hello), and the hello goes up to whoever listens (peers/)
 *     PING    -> PONG
 *     BYE     -> up to whoever listens (peers/ marks that node down)
 *     REQUEST -> handler -> REPLY | ERROR
 *     COMMAND -> handler (no answer)
 *     COMMAND with a zmesh-stream header (a reliable command)
 *             -> the stream receiver a layer above registered; it answers ACK or
 *                ERROR through the Responder it is given, when it decides to
 *
 * Answers go through the ROUTER's send queue, keyed by the caller's identity.
 *
 * Bounds (bounds.ts): one caller has at most MAX_IN_FLIGHT_PER_CALLER handlers
 * running here (more get QUEUE_FULL, retryable), and no REPLY is sent that is larger
 * than its caller said it takes (Hello.max_payload_bytes): the caller gets
 * MESSAGE_TOO_LARGE instead of a frame that would cost it the connection.
 */
import type { Logger } from 'pino';
import { MAX_IN_FLIGHT_PER_CALLER, MAX_KNOWN_CALLERS } from '../bounds.js';
import {
  ClosedError, ErrorCode, HandlerFailedError, MessageTooLargeError, NoRouteError, QueueFullError, TimeoutError, UnknownMethodError, WIRE_CODES,
  ZmeshError, errorMessage,
} from '../errors.js';
import { Kind, PROTOCOL_VERSION, headersOf, type Envelope } from '../codec/envelope.js';
import { decodeHello, encodeErrorReply, encodeHello, type Hello, type HelloInit } from '../codec/control.js';
import { HEADER_STREAM } from '../codec/stream-headers.js';
import { RateLimitedLog } from '../log.js';
import { MAX_ID_BYTES } from '../limits.js';
import type { SendQueue } from '../socket/send-queue.js';
import type { Counters } from '../stats.js';
import type { Handler, HandlerContext, Sender } from '../types.js';
import { AckBatcher } from './acks.js';
import type { DropFn } from './drops.js';
import type { EnvelopeBuilder } from './envelopes.js';
import type { Guard } from './guard.js';
import type { Inbound, Rejected } from './inbound.js';

export interface ServerParts {
  service: string;
  maxPayloadBytes: number;
  counters: Counters;
  drop: DropFn;
  log: Logger;
  builder: EnvelopeBuilder;
  inbound: Inbound;
  /** The ROUTER's send queue. */
  queue: SendQueue;
  /** Our Hello, sent back in WELCOME. */
  localHello(): HelloInit;
  /** A secure node's admission and authorization (guard.ts); absent: insecure. */
  guard?: Guard;
  /** Told of every application request or command this node handled (not internal
   *  methods): NodeObserver.handlerSettled. Absent: no clock is read. */
  settled?: (method: string, durationMs: number, outcome: string) => void;
}

/** How a stream receiver answers one reliable command, now or later. Exactly one of
 *  the two is used per command; a second call is ignored. */
export interface Responder {
  /** The command's effect is committed (or it was a duplicate): ACK. */
  ack(): void;
  /** The command was refused: ERROR with the error's code. */
  fail(err: unknown): void;
}

/** What a caller said about itself in the HELLO of one connection. */
interface CallerTerms {
  /** The largest payload it takes; 0 = not said. */
  maxPayloadBytes: number;
  /** It reads batched ACKs. */
  batchedAcks: boolean;
}

/** Takes reliable commands (COMMAND envelopes with a zmesh-stream header). */
export type StreamReceiver = (env: Envelope, caller: Sender, answer: Responder) => void;

/** What the ROUTER hears about peers, for the peers layer. */
export interface ServerListener {
  /** A peer introduced itself (already answered with WELCOME). */
  onHello(hello: Hello): void;
  /** A peer said goodbye. */
  onBye(nodeId: string): void;
}

/** Lazily creates the AbortController: most handlers never read `signal`. */
class Context implements HandlerContext {
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly env: Envelope,
    readonly caller: Sender,
    readonly log: Logger,
    private readonly live: Set<Context>,
  ) {}

  get id(): Uint8Array { return this.env.id; }
  get method(): string { return this.env.subject; }
  get headers(): Readonly<Record<string, string>> { return headersOf(this.env); }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      const ttl = this.env.ttlMs;
      if (ttl > 0) {
        this.timer = setTimeout(() => this.abort(new TimeoutError(`caller's deadline of ${ttl} ms passed`)), ttl);
      }
      this.live.add(this);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    this.controller?.abort(reason);
  }

  dispose(): void {
    if (this.controller === undefined) return;
    clearTimeout(this.timer);
    this.live.delete(this);
  }
}

export class RequestServer {
  private readonly handlers = new Map<string, Handler>();
  private readonly internalMethods = new Set<string>();
  private readonly live = new Set<Context>();
  private running = 0;
  private accepting = true;
  private idleWaiters: Array<() => void> = [];
  private streams: StreamReceiver | undefined;
  private listener: ServerListener = { onHello: () => undefined, onBye: () => undefined };
  private readonly limited: RateLimitedLog;
  /** Caller node id -> handlers of its running here (entries leave at zero). */
  private readonly runningBy = new Map<string, number>();
  /** Connection (routing id, hex) -> what its caller said in the HELLO it sent on that
   *  connection (bounded): a HELLO on another connection, forged or not, cannot
   *  change what this one is sent. */
  private readonly callerTerms = new Map<string, CallerTerms>();
  private readonly acks = new AckBatcher((identity, correlationId, body) => this.answer(identity, Kind.ACK, correlationId, body));

  constructor(private readonly d: ServerParts) {
    this.limited = new RateLimitedLog(d.log);
  }

  /** Registers a handler. No checks: the node's façade refuses reserved names.
   *  `internal`: membership traffic of the peers layer (`$members`), which, like
   *  heartbeats, is not counted in stats().handled. */
  handle(method: string, handler: Handler, o: { internal?: boolean } = {}): void {
    this.handlers.set(method, handler);
    if (o.internal === true) this.internalMethods.add(method);
    else this.internalMethods.delete(method);
  }

  /** The reliable layer registers here; without one, reliable commands get
   *  UNKNOWN_METHOD (the node has no store). */
  receiveStreams(receiver: StreamReceiver): void {
    this.streams = receiver;
  }

  listen(listener: ServerListener): void {
    this.listener = listener;
  }

  /** New requests now get CLOSED (retryable, so callers may try another instance),
   *  and HELLOs no answer (onHello). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Resolves when no handler is running. */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Fires every running handler's signal (node abort). */
  abortAll(reason: unknown): void {
    for (const ctx of [...this.live]) ctx.abort(reason);
  }

  onMessage(frames: Buffer[]): void {
    const identity = frames[0]!;
    // [id, one frame]: a connection notification or a BIND frame (guard.ts).
    if (frames.length === 2 && this.d.guard !== undefined) return this.d.guard.connection(identity.toString('hex'), frames[1]!);
    this.d.inbound(frames, 1, identity.toString('hex'), (env, header) => this.onEnvelope(identity, env, header), (r) => this.onRejected(identity, r));
  }

  /** A message that expects an answer gets one, so a foreign peer learns why. Reliable
   *  commands expect one too (ACK or ERROR), so they are answered here as well. */
  private onRejected(identity: Buffer, r: Rejected): void {
    const env = r.env;
    if (env.id.byteLength === 0 || env.id.byteLength > MAX_ID_BYTES || !(expectsAnswer(env) || env.kind === Kind.HELLO)) return;
    const [code, message] = r.reason === 'versionMismatch'
      ? [ErrorCode.VERSION_MISMATCH, `this node speaks protocol version ${PROTOCOL_VERSION}, got ${env.version}`]
      : r.reason === 'oversized'
        ? [ErrorCode.MESSAGE_TOO_LARGE, `payload of ${r.body.byteLength} bytes exceeds this node's limit of ${this.d.maxPayloadBytes}`]
        : [ErrorCode.BAD_MESSAGE, `bad message: ${r.detail}`];
    this.sendError(identity, env.id, code, message, false);
  }

  private onEnvelope(identity: Buffer, env: Envelope, header: Buffer): void {
    if (env.kind === Kind.HELLO) return this.onHello(identity, env, header);
    let fingerprint: string | undefined;
    const guard = this.d.guard;
    if (guard !== undefined) {
      // Secure: nothing is read before its sender is proven (guard.ts).
      const v = guard.sender(env, header, identity.toString('hex'));
      if (!v.ok) {
        if (expectsAnswer(env)) this.sendError(identity, env.id, v.error.code, v.error.message, false);
        return;
      }
      if ((env.kind === Kind.REQUEST || env.kind === Kind.COMMAND) && !guard.mayCall(v.member, env)) {
        if (expectsAnswer(env)) this.sendError(identity, env.id, ErrorCode.FORBIDDEN, `${v.member.service} may not call ${env.service}.${env.subject}`, false);
        return;
      }
      fingerprint = v.member.fingerprint;
    }
    switch (env.kind) {
      case Kind.REQUEST:
      case Kind.COMMAND:
        this.dispatch(identity, env, fingerprint);
        return;
      case Kind.PING:
        this.answer(identity, Kind.PONG, env.id, env.payload);
        return;
      case Kind.BYE:
        this.listener.onBye(env.senderNode);
        return;
      default:
        this.d.drop('unexpected', `kind ${env.kind} on ROUTER`, env.senderNode);
    }
  }

  private onHello(identity: Buffer, env: Envelope, header: Buffer): void {
    // A closing node welcomes nobody. Its BYE makes each peer mark it down and say
    // HELLO again at once; a WELCOME now would bring it back up there, and the peer
    // would then wait out liveness (deadAfterMs) to learn that it left after all.
    if (!this.accepting) return;
    const hello = decodeHello(env.payload, { fromCaller: true });
    if (hello === undefined) {
      this.d.drop('invalid', 'undecodable Hello', env.senderNode);
      this.sendError(identity, env.id, ErrorCode.BAD_MESSAGE, 'bad Hello payload', false);
      return;
    }
    if (this.d.guard !== undefined) {
      try {
        this.d.guard.hello(env, header, hello, identity.toString('hex'));
      } catch (err) {
        // The peer learns why (a misconfigured member needs to); the audit trail has it too.
        this.d.drop('forbidden', 'HELLO refused', env.senderNode);
        this.sendError(identity, env.id, ErrorCode.SECURITY, errorMessage(err), false);
        return;
      }
    }
    const connection = identity.toString('hex');
    this.callerTerms.delete(connection);
    if (hello.maxPayloadBytes > 0 || hello.batchedAcks) {
      this.callerTerms.set(connection, { maxPayloadBytes: hello.maxPayloadBytes, batchedAcks: hello.batchedAcks });
      if (this.callerTerms.size > MAX_KNOWN_CALLERS) this.callerTerms.delete(this.callerTerms.keys().next().value!);
    }
    this.answer(identity, Kind.WELCOME, env.id, encodeHello(this.d.localHello()));
    this.listener.onHello(hello);
  }

  private dispatch(identity: Buffer, env: Envelope, fingerprint: string | undefined): void {
    if (env.kind === Kind.COMMAND && env.headers?.[HEADER_STREAM] !== undefined) return this.dispatchReliable(identity, env, fingerprint);
    const isRequest = env.kind === Kind.REQUEST;
    const fail = (err: ZmeshError): void => {
      if (isRequest) this.sendError(identity, env.id, err.code, err.message, err.retryable);
    };
    if (!this.accepting) return fail(new ClosedError(`node of ${this.d.service} is closing`, { retryable: true }));
    if (env.service !== this.d.service) {
      return fail(new NoRouteError(`this node serves "${this.d.service}", not "${env.service}"`));
    }
    const handler = this.handlers.get(env.subject);
    if (handler === undefined) {
      return fail(new UnknownMethodError(`service "${this.d.service}" has no method "${env.subject}"`));
    }
    const mine = this.runningBy.get(env.senderNode) ?? 0;
    if (mine >= MAX_IN_FLIGHT_PER_CALLER) {
      this.d.counters.bounds.callerBusy++;
      return fail(new QueueFullError(`${env.senderNode} has ${mine} requests running here already`));
    }
    const caller: Sender = fingerprint === undefined
      ? { node: env.senderNode, service: env.senderService }
      : { node: env.senderNode, service: env.senderService, fingerprint };
    const ctx = new Context(env, caller, this.d.log, this.live);
    this.running++;
    this.runningBy.set(env.senderNode, mine + 1);
    // Internal methods count into a scratch record nobody reads.
    const internal = this.internalMethods.has(env.subject);
    const h = internal ? { ok: 0, failed: 0, running: 0 } : this.d.counters.handled;
    h.running++;
    const told = internal ? undefined : this.d.settled;
    const startedMs = told === undefined ? 0 : performance.now();
    const settle = (ok: boolean, outcome = 'ok'): void => {
      told?.(env.subject, performance.now() - startedMs, outcome);
      ctx.dispose();
      this.running--;
      const left = (this.runningBy.get(env.senderNode) ?? 1) - 1;
      if (left === 0) this.runningBy.delete(env.senderNode);
      else this.runningBy.set(env.senderNode, left);
      h.running--;
      if (ok) h.ok++;
      else h.failed++;
      if (this.running === 0) this.wakeIdle();
    };
    const onReply = (reply: Uint8Array | void): void => {
      const body = reply ?? EMPTY;
      const limit = isRequest ? this.callerTerms.get(identity.toString('hex'))?.maxPayloadBytes ?? 0 : 0;
      if (limit > 0 && body.byteLength > limit) {
        const err = new MessageTooLargeError(`reply of ${body.byteLength} bytes exceeds the caller's limit of ${limit} bytes`);
        settle(false, err.code);
        this.d.counters.bounds.tooLargeForPeer++;
        return fail(err);
      }
      settle(true);
      if (isRequest) this.answer(identity, Kind.REPLY, env.id, body);
    };
    const onError = (err: unknown): void => {
      const wire = toWireError(err);
      settle(false, wire.code);
      // A handler that failed on its store (corrupt, full, unreadable) is the node's
      // problem, not the caller's: an operator must see it.
      const sqlite = (err as { code?: unknown }).code;
      if (typeof sqlite === 'string' && sqlite.startsWith('SQLITE_')) this.limited.warn(`store:${sqlite}`, { err, method: env.subject }, 'a handler failed on its store');
      else this.d.log.debug({ err, method: env.subject, caller }, 'handler failed');
      fail(wire);
    };
    // Call synchronous handlers without an extra promise turn: it is measurable on the
    // request/reply hot path.
    try {
      const result = handler(env.payload, ctx);
      if (result instanceof Promise) result.then(onReply, onError);
      else onReply(result);
    } catch (err) {
      onError(err);
    }
  }

  /** Reliable commands always get an answer: ACK or ERROR, from the receiver. */
  private dispatchReliable(identity: Buffer, env: Envelope, fingerprint: string | undefined): void {
    const refuse = (err: ZmeshError): void => this.sendError(identity, env.id, err.code, err.message, err.retryable);
    if (!this.accepting) return refuse(new ClosedError(`node of ${this.d.service} is closing`, { retryable: true }));
    if (env.service !== this.d.service) return refuse(new NoRouteError(`this node serves "${this.d.service}", not "${env.service}"`));
    if (this.streams === undefined) return refuse(new UnknownMethodError(`node of "${this.d.service}" has no store for reliable commands`));
    let answered = false;
    const handled = this.d.counters.handled;
    const answer: Responder = {
      ack: () => {
        if (answered) return;
        answered = true;
        handled.ok++;
        this.acknowledge(identity, env.id);
      },
      fail: (err) => {
        if (answered) return;
        answered = true;
        handled.failed++;
        refuse(toWireError(err));
      },
    };
    try {
      this.streams(env, fingerprint === undefined ? { node: env.senderNode, service: env.senderService } : { node: env.senderNode, service: env.senderService, fingerprint }, answer);
    } catch (err) {
      answer.fail(err);
    }
  }

  /** ACK for one reliable command: batched (acks.ts) for a caller that reads them. */
  private acknowledge(identity: Buffer, id: Uint8Array): void {
    const connection = identity.toString('hex');
    if (this.callerTerms.get(connection)?.batchedAcks !== true) return this.answer(identity, Kind.ACK, id, EMPTY);
    this.acks.add(identity, connection, id);
  }

  private answer(identity: Buffer, kind: Kind, correlationId: Uint8Array, payload: Uint8Array): void {
    const { header, body } = this.d.builder.build(kind, { correlationId, payload });
    try {
      this.d.queue.push(header, body, identity);
    } catch (err) {
      // The ROUTER queue is full: the caller will time out. Count it; never throw
      // into the read loop.
      this.d.counters.sendErrors++;
      this.d.log.debug({ err }, 'answer dropped');
    }
  }

  private sendError(identity: Buffer, correlationId: Uint8Array, code: string, message: string, retryable: boolean): void {
    this.answer(identity, Kind.ERROR, correlationId, encodeErrorReply({ code, message, retryable }));
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of w) resolve();
  }
}

const EMPTY = new Uint8Array(0);

/** REQUESTs and reliable COMMANDs are always answered; other kinds never are. */
function expectsAnswer(env: Envelope): boolean {
  return env.kind === Kind.REQUEST || (env.kind === Kind.COMMAND && env.headers?.[HEADER_STREAM] !== undefined);
}

/** Handler errors cross the wire with their own code when it is a wire code; anything
 *  else is HANDLER_FAILED carrying the message (never the stack). A local zmesh error
 *  keeps its retryable flag: a handler that failed because its own downstream call hit
 *  PEER_DOWN or TIMEOUT failed transiently, and its caller may try again. */
function toWireError(err: unknown): ZmeshError {
  if (err instanceof ZmeshError && WIRE_CODES.includes(err.code)) return err;
  return new HandlerFailedError(errorMessage(err), { retryable: err instanceof ZmeshError && err.retryable });
}
