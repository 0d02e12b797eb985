/**
 * The inbound side of the ROUTER socket: everything peers send to this node.
 *
 *   ROUTER frames [identity, header, body, header, body, ...]
 *     HELLO   -> WELCOME (our Hello), and the peer is offered to the peer table
 *     PING    -> PONG
 *     BYE     -> the peer table marks that node down
 *     REQUEST -> handler -> REPLY | ERROR
 *     COMMAND -> handler (no answer)
 *
 * Answers go through the ROUTER's send queue, keyed by the caller's identity.
 */
import type { Logger } from 'pino';
import {
  ClosedError, ErrorCode, HandlerFailedError, NoRouteError, TimeoutError, UnknownMethodError, WIRE_CODES,
  ZmeshError, errorMessage,
} from '../errors.js';
import {
  HEADER_STREAM, Kind, PROTOCOL_VERSION, decodeHello, decodeMessage, encodeErrorReply, encodeHello, headersOf, pairsOf,
  type Envelope, type Hello, type HelloInit,
} from '../codec.js';
import { MAX_BATCH_MESSAGES } from '../options.js';
import type { SendQueue } from '../socket/send-queue.js';
import type { Counters } from '../stats.js';
import type { Handler, HandlerContext, Sender } from '../types.js';
import type { DropFn } from './drops.js';
import type { EnvelopeBuilder } from './envelopes.js';

export interface ServerDeps {
  service: string;
  maxPayloadBytes: number;
  counters: Counters;
  drop: DropFn;
  log: Logger;
  builder: EnvelopeBuilder;
  /** The ROUTER's send queue. */
  queue: SendQueue;
  /** Our Hello, sent back in WELCOME. */
  localHello(): HelloInit;
  /** A peer introduced itself; the peer table may connect back. */
  onHello(hello: Hello): void;
  /** A peer said goodbye. */
  onBye(nodeId: string): void;
  /** Applies a reliable command (has the zmesh-stream header); throws to refuse it. */
  reliable?(env: Envelope, caller: Sender): void;
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
  private readonly live = new Set<Context>();
  private running = 0;
  private accepting = true;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly d: ServerDeps) {}

  handle(method: string, handler: Handler): void {
    this.handlers.set(method, handler);
  }

  /** New requests now get CLOSED (retryable, so callers may try another instance). */
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
    const pairs = pairsOf(frames, 1, MAX_BATCH_MESSAGES);
    if (pairs === undefined) {
      this.d.drop('badFrames', `${frames.length} frames`, identity.toString('hex'));
      return;
    }
    for (let i = 1; i < frames.length; i += 2) this.onPair(identity, frames[i]!, frames[i + 1]!);
  }

  private onPair(identity: Buffer, header: Buffer, body: Buffer): void {
    const decoded = decodeMessage(header, body, this.d.maxPayloadBytes);
    if (!decoded.ok) {
      const env = decoded.env;
      this.d.drop(decoded.reason, decoded.detail, env?.senderNode || identity.toString('hex'));
      // A message that expects an answer gets one, so a foreign peer learns why.
      if (env !== undefined && env.id.byteLength > 0 && (env.kind === Kind.REQUEST || env.kind === Kind.HELLO)) {
        const [code, message] = decoded.reason === 'versionMismatch'
          ? [ErrorCode.VERSION_MISMATCH, `this node speaks protocol version ${PROTOCOL_VERSION}, got ${env.version}`]
          : decoded.reason === 'oversized'
            ? [ErrorCode.MESSAGE_TOO_LARGE, `payload of ${body.byteLength} bytes exceeds this node's limit of ${this.d.maxPayloadBytes}`]
            : [ErrorCode.BAD_MESSAGE, `bad message: ${decoded.detail}`];
        this.sendError(identity, env.id, code, message, false);
      }
      return;
    }
    const env = decoded.env;
    this.d.counters.received++;
    switch (env.kind) {
      case Kind.REQUEST:
      case Kind.COMMAND:
        this.dispatch(identity, env);
        return;
      case Kind.PING:
        this.answer(identity, Kind.PONG, env.id, env.payload);
        return;
      case Kind.HELLO: {
        const hello = decodeHello(env.payload);
        if (hello === undefined) {
          this.d.drop('invalid', 'undecodable Hello', env.senderNode);
          this.sendError(identity, env.id, ErrorCode.BAD_MESSAGE, 'bad Hello payload', false);
          return;
        }
        this.answer(identity, Kind.WELCOME, env.id, encodeHello(this.d.localHello()));
        this.d.onHello(hello);
        return;
      }
      case Kind.BYE:
        this.d.onBye(env.senderNode);
        return;
      default:
        this.d.drop('unexpected', `kind ${env.kind} on ROUTER`, env.senderNode);
    }
  }

  private dispatch(identity: Buffer, env: Envelope): void {
    if (env.kind === Kind.COMMAND && env.headers?.[HEADER_STREAM] !== undefined) return this.dispatchReliable(identity, env);
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
    const caller: Sender = { node: env.senderNode, service: env.senderService };
    const ctx = new Context(env, caller, this.d.log, this.live);
    this.running++;
    this.d.counters.handled.running++;
    const settle = (ok: boolean): void => {
      ctx.dispose();
      this.running--;
      const h = this.d.counters.handled;
      h.running--;
      if (ok) h.ok++;
      else h.failed++;
      if (this.running === 0) this.wakeIdle();
    };
    const onReply = (reply: Uint8Array | void): void => {
      settle(true);
      if (isRequest) this.answer(identity, Kind.REPLY, env.id, reply ?? EMPTY);
    };
    const onError = (err: unknown): void => {
      settle(false);
      this.d.log.debug({ err, method: env.subject, caller }, 'handler failed');
      fail(toWireError(err));
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

  /** Reliable commands are answered: ACK once applied (or a duplicate), else ERROR. */
  private dispatchReliable(identity: Buffer, env: Envelope): void {
    const refuse = (err: ZmeshError): void => this.sendError(identity, env.id, err.code, err.message, err.retryable);
    if (!this.accepting) return refuse(new ClosedError(`node of ${this.d.service} is closing`, { retryable: true }));
    if (env.service !== this.d.service) return refuse(new NoRouteError(`this node serves "${this.d.service}", not "${env.service}"`));
    if (this.d.reliable === undefined) return refuse(new UnknownMethodError(`node of "${this.d.service}" has no store for reliable commands`));
    try {
      this.d.reliable(env, { node: env.senderNode, service: env.senderService });
      this.d.counters.handled.ok++;
      this.answer(identity, Kind.ACK, env.id, EMPTY);
    } catch (err) {
      this.d.counters.handled.failed++;
      refuse(toWireError(err));
    }
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

/** Handler errors cross the wire with their own code when it is a wire code; anything
 *  else is HANDLER_FAILED carrying the message (never the stack). A local zmesh error
 *  keeps its retryable flag: a handler that failed because its own downstream call hit
 *  PEER_DOWN or TIMEOUT failed transiently, and its caller may try again. */
function toWireError(err: unknown): ZmeshError {
  if (err instanceof ZmeshError && WIRE_CODES.includes(err.code)) return err;
  return new HandlerFailedError(errorMessage(err), { retryable: err instanceof ZmeshError && err.retryable });
}
