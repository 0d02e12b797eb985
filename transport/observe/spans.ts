/**
 * The spans of one node, once tracing is known to be live (tracing.ts decides that).
 * Each function starts one span, carries its context in the message's headers or reads
 * the sender's from them, runs the wrapped call, and ends the span when the call
 * settles. Names and attributes follow the OpenTelemetry messaging and RPC semantic
 * conventions; README "Tracing" lists them.
 *
 *   request()                    CLIENT   "<service>/<method>"      rpc.*, injects
 *   handle() handler             SERVER   "<service>/<method>"      rpc.*, extracted parent
 *   send(), tx.send(), command() PRODUCER "send <service>.<method>" injects; ends once stored/queued
 *   handleReliable() handler     CONSUMER "process <service>.<method>"
 *   publish(), publishReliable(),
 *   tx.publish()                 PRODUCER "publish <topic>"        injects
 *   subscribe()/subscribeDurable()
 *   listener or handler          CONSUMER "process <topic>"        extracted parent
 *
 * Inbound spans take their parent from the message alone, never from whatever context
 * happens to be active: the batch that applies a reliable command may have been
 * started from another message's handler, and AsyncLocalStorage would leak that one in.
 *
 * May import: the foundation only (errors.ts, types.ts, defs.ts) and the
 * @opentelemetry/api types; the API itself is handed in (it is an optional peer).
 */
import type * as Otel from '@opentelemetry/api';
import type { Context, Span, SpanContext, Tracer } from '@opentelemetry/api';
import type { CommandDef, EventDef, PublishOptions } from '../defs.js';
import { ErrorCode, ZmeshError } from '../errors.js';
import type { HandlerContext, MeshEvent, Transaction } from '../types.js';
import { TRACEPARENT, TRACESTATE, formatTraceparent, parseTraceContext } from './w3c.js';

export type OtelApi = typeof Otel;
type Attrs = Record<string, string | number>;
type Headers = Record<string, string>;

export const MESSAGING_SYSTEM = 'zmesh';

/** Where a command's options sit in send(service, method, payload, options) and in
 *  send(def, value, options); an event's are third in both forms. */
const optionsAt = (a: unknown): number => (typeof a === 'string' ? 3 : 2);
const EVENT_OPTIONS_AT = 2;

export class Spans {
  /** Whether the application registered a propagator (fields() lists its headers);
   *  without one zmesh writes W3C Trace Context itself (w3c.ts). Set by tracing.ts. */
  useGlobalPropagator = false;

  constructor(private readonly api: OtelApi, private readonly tracer: Tracer, private readonly service: string) {}

  /** CLIENT span around one request; `run` gets the options with the context injected. */
  request<T>(service: string, method: string, payload: Uint8Array, headers: Headers | undefined, run: (headers: Headers) => Promise<T>): Promise<T> {
    // Attribute objects are written out whole, not spread: spreading cost more than
    // the SDK's span itself (a CPU profile of bench/tracing.ts's "sdk" cell).
    const { span, ctx } = this.startLocal(`${service}/${method}`, this.api.SpanKind.CLIENT, {
      'rpc.system': MESSAGING_SYSTEM, 'rpc.service': service, 'rpc.method': method, 'messaging.system': MESSAGING_SYSTEM,
      'messaging.destination.name': `${service}.${method}`, 'messaging.message.body.size': payload.byteLength, 'peer.service': service,
    });
    return settle(this.api, span, () => run(this.inject(ctx, headers)), errorType);
  }

  /** SERVER span around a request or command handler, in the caller's trace. */
  serve<T>(method: string, payload: Uint8Array, hc: HandlerContext, run: () => T): T {
    const parent = this.extract(hc.headers);
    const span = this.tracer.startSpan(`${this.service}/${method}`, {
      kind: this.api.SpanKind.SERVER,
      attributes: {
        'rpc.system': MESSAGING_SYSTEM, 'rpc.service': this.service, 'rpc.method': method, 'messaging.system': MESSAGING_SYSTEM,
        'messaging.destination.name': `${this.service}.${method}`, 'messaging.message.id': hex(hc.id),
        'messaging.message.body.size': payload.byteLength, 'zmesh.caller.service': hc.caller.service, 'zmesh.caller.node': hc.caller.node,
      },
    }, parent);
    return settle(this.api, span, () => this.api.context.with(this.api.trace.setSpan(parent, span), run), handlerErrorType);
  }

  /** PRODUCER span "send <service>.<method>" around a command's send (any of the two
   *  argument forms); the stored or queued command carries the span's context. */
  send<T>(args: unknown[], run: (args: unknown[]) => T): T {
    const [a, b, c] = args;
    const def = typeof a === 'string' ? undefined : a as CommandDef<unknown> | undefined;
    const service = def?.service ?? String(a);
    const method = def?.method ?? String(b);
    const attrs = messaging('send', 'send', `${service}.${method}`);
    attrs['peer.service'] = service;
    if (def === undefined && c instanceof Uint8Array) attrs['messaging.message.body.size'] = c.byteLength;
    return this.produce(`send ${service}.${method}`, attrs, args, optionsAt(a), run);
  }

  /** PRODUCER span "publish <topic>" around an event's publish (either form). */
  publish<T>(args: unknown[], run: (args: unknown[]) => T): T {
    const [a, b] = args;
    const topic = typeof a === 'string' ? a : topicOf(a as EventDef<unknown>, args[EVENT_OPTIONS_AT] as PublishOptions | undefined);
    const attrs = messaging('send', 'publish', topic);
    if (typeof a === 'string' && b instanceof Uint8Array) attrs['messaging.message.body.size'] = b.byteLength;
    return this.produce(`publish ${topic}`, attrs, args, EVENT_OPTIONS_AT, run);
  }

  /** CONSUMER span "process <destination>" around a reliable command's handler or an
   *  event's listener, in the sender's trace. */
  process<T>(destination: string, headers: Readonly<Headers>, attrs: Attrs, run: () => T): T {
    const parent = this.extract(headers);
    const attributes = messaging('process', 'process', destination);
    for (const k in attrs) attributes[k] = attrs[k]!;
    const span = this.tracer.startSpan(`process ${destination}`, { kind: this.api.SpanKind.CONSUMER, attributes }, parent);
    return settle(this.api, span, () => this.api.context.with(this.api.trace.setSpan(parent, span), run), handlerErrorType);
  }

  /** Attributes of a received event. */
  eventAttrs(e: MeshEvent, group?: string): Attrs {
    const attrs: Attrs = {
      'messaging.message.id': hex(e.id), 'messaging.message.body.size': e.payload.byteLength,
      'zmesh.caller.service': e.sender.service, 'zmesh.caller.node': e.sender.node,
    };
    if (group !== undefined) attrs['messaging.consumer.group.name'] = group;
    return attrs;
  }

  /** The same transaction, whose send() and publish() make PRODUCER spans in the active
   *  context: a handler's commands and events are children of its span. Other fields
   *  (a reliable context's method, caller, headers) are copied as they are. */
  transaction<X extends Transaction>(tx: X): X {
    return {
      ...tx,
      send: (...args: unknown[]) => this.send(args, (a) => (tx.send as (...x: unknown[]) => void)(...a)),
      publish: (...args: unknown[]) => this.publish(args, (a) => (tx.publish as (...x: unknown[]) => void)(...a)),
    };
  }

  /** `fn` bound to the context active now: commit() runs its block later, in whatever
   *  context the batch that takes it was started from. */
  bindTransaction<T>(fn: (tx: Transaction) => T): (tx: Transaction) => T {
    const captured = this.api.context.active();
    return (tx) => this.api.context.with(captured, () => fn(this.transaction(tx)));
  }

  private produce<T>(name: string, attrs: Attrs, args: unknown[], at: number, run: (args: unknown[]) => T): T {
    const { span, ctx } = this.startLocal(name, this.api.SpanKind.PRODUCER, attrs);
    return settle(this.api, span, () => {
      const given = args[at] as { headers?: Headers } | undefined;
      const next = [...args];
      next[at] = { ...given, headers: this.inject(ctx, given?.headers) };
      return run(next);
    }, errorType);
  }

  private startLocal(name: string, kind: Otel.SpanKind, attributes: Attrs): { span: Span; ctx: Context } {
    const active = this.api.context.active();
    const span = this.tracer.startSpan(name, { kind, attributes }, active);
    return { span, ctx: this.api.trace.setSpan(active, span) };
  }

  /** A copy of `headers` with `ctx`'s trace context in it. */
  private inject(ctx: Context, headers: Headers | undefined): Headers {
    const out: Headers = { ...headers };
    if (this.useGlobalPropagator) {
      this.api.propagation.inject(ctx, out);
      return out;
    }
    const sc = this.api.trace.getSpanContext(ctx);
    if (sc === undefined || !this.api.isSpanContextValid(sc)) return out;
    out[TRACEPARENT] = formatTraceparent(sc);
    const state = sc.traceState?.serialize();
    if (state !== undefined && state !== '') out[TRACESTATE] = state;
    return out;
  }

  /** The sender's context, on the root: nothing active here may leak in. */
  private extract(headers: Readonly<Headers>): Context {
    const root = this.api.ROOT_CONTEXT;
    if (this.useGlobalPropagator) return this.api.propagation.extract(root, headers);
    const w = parseTraceContext(headers[TRACEPARENT], headers[TRACESTATE]);
    if (w === undefined) return root;
    const sc: SpanContext = {
      traceId: w.traceId, spanId: w.spanId, traceFlags: w.traceFlags, isRemote: true,
      ...(w.traceState === undefined ? {} : { traceState: this.api.createTraceState(w.traceState) }),
    };
    return this.api.trace.setSpanContext(root, sc);
  }
}

/** Runs `f` and ends `span` when it settles (synchronously or as a promise); a failure
 *  sets status ERROR and error.type, and goes on unchanged. */
function settle<T>(api: OtelApi, span: Span, f: () => T, type: (err: unknown) => string): T {
  const fail = (err: unknown): void => {
    span.setAttribute('error.type', type(err));
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    span.end();
  };
  let r: T;
  try {
    r = f();
  } catch (err) {
    fail(err);
    throw err;
  }
  if (r instanceof Promise) {
    return r.then((v: unknown) => { span.end(); return v; }, (err: unknown) => { fail(err); throw err; }) as T;
  }
  span.end();
  return r;
}

/** The caller's side: a zmesh code, else the error's class. */
function errorType(err: unknown): string {
  if (err instanceof ZmeshError) return err.code;
  return err instanceof Error ? err.name : '_OTHER';
}

/** A handler's side: what its caller gets, HANDLER_FAILED for anything but a zmesh
 *  error (README "Errors"). */
function handlerErrorType(err: unknown): string {
  return err instanceof ZmeshError ? err.code : ErrorCode.HANDLER_FAILED;
}

function messaging(type: string, name: string, destination: string): Attrs {
  return { 'messaging.system': MESSAGING_SYSTEM, 'messaging.operation.type': type, 'messaging.operation.name': name, 'messaging.destination.name': destination };
}

const hex = (id: Uint8Array): string => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');

/** The topic a typed publish goes to; a family's prefix when the suffix is missing
 *  (the publish itself then fails with INVALID_ARGUMENT, in the span). */
function topicOf(def: EventDef<unknown> | undefined, o: PublishOptions | undefined): string {
  if (def === undefined || typeof def.topic !== 'string') return 'unknown';
  return def.family && typeof o?.suffix === 'string' ? def.topic + o.suffix : def.topic;
}
