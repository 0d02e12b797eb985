/**
 * Tracing for one node: W3C trace context across the mesh with OpenTelemetry.
 *
 * @opentelemetry/api is an optional peer dependency: it is loaded with a dynamic
 * import() at start(), and a node without it runs exactly as before, untraced. The
 * node's façade (node.ts) asks `on` before every message and does nothing more when
 * it is false; handlers and listeners are wrapped at registration (they may be
 * registered before start) by a function that asks the same boolean.
 *
 * When is tracing on (the rule, README "Tracing"):
 *   - `tracing.enabled: false`: never; the API is not even loaded, nothing is wrapped.
 *   - `tracing.tracer` given: always, with that tracer (once the API loaded).
 *   - otherwise (auto, the default, and `enabled: true`): while a real TracerProvider
 *     is registered globally (trace.setGlobalTracerProvider, as an SDK's register()
 *     does). The API alone answers with its no-op provider; that is detected by
 *     identity (the global proxy's delegate is the API's own NOOP provider), never by
 *     making a probe span. It is checked at start and again every TRACING_RECHECK_MS
 *     on an unref'd timer, so an SDK registered after the node started is picked up
 *     within that period, at no per-message cost.
 *   `enabled: true` differs from auto only in warning when the API cannot be loaded.
 *
 * Propagation: the globally registered propagator when there is one (its fields() are
 * not empty: the SDK registers W3C trace context and baggage), else zmesh's own
 * W3C traceparent/tracestate (w3c.ts), because the API alone propagates nothing.
 *
 * Context across async work needs a context manager (AsyncLocalStorage): the SDK's
 * register() sets one, and so does @opentelemetry/context-async-hooks. Without it
 * spans still link across the wire, but a handler's own calls start new traces.
 *
 * May import: the foundation (types.ts, defs.ts, errors.ts) and observe/.
 */
import type { Logger } from 'pino';
import type { Tracer } from '@opentelemetry/api';
import type { TracingSettings } from '../options.js';
import type { DurableHandler, EventListener, Handler, ReliableHandler, Transaction } from '../types.js';
import { Spans, type OtelApi } from './spans.js';

/** How often a node with the API but no provider looks again for one. */
export const TRACING_RECHECK_MS = 2_000;

/** The instrumentation scope's name, as exporters show it. */
export const TRACER_NAME = 'zmesh';

/** Loads the API; rejects when it is not installed. A seam for tests. */
export type ApiLoader = () => Promise<OtelApi>;
export const loadOtelApi: ApiLoader = () => import('@opentelemetry/api');

export class NodeTracing {
  /** The one check on the hot path: spans are made only while this is true. */
  on = false;
  private spans: Spans | undefined;
  private api: OtelApi | undefined;
  private noopProvider: unknown;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly settings: TracingSettings,
    private readonly service: string,
    private readonly log: Logger,
    private readonly load: ApiLoader = loadOtelApi,
  ) {}

  /** Loads the API (once) and decides `on`. Never rejects: without the API the node
   *  runs untraced. */
  async start(): Promise<void> {
    if (this.settings.enabled === false || this.api !== undefined || this.closed) return;
    let api: OtelApi;
    try {
      api = await this.load();
    } catch (err) {
      const level = this.settings.enabled === true || this.settings.tracer !== undefined ? 'warn' : 'debug';
      this.log[level]({ err }, 'tracing off: @opentelemetry/api cannot be loaded (it is an optional peer dependency; npm install @opentelemetry/api)');
      return;
    }
    // The node may have been aborted while the import ran.
    if (this.closed) return;
    this.api = api;
    this.noopProvider = new api.ProxyTracerProvider().getDelegate();
    // tracing.tracer was checked to have startSpan (options.ts); it is the API's Tracer.
    this.spans = new Spans(api, (this.settings.tracer as Tracer | undefined) ?? api.trace.getTracer(TRACER_NAME), this.service);
    this.recheck();
    if (this.settings.tracer === undefined) {
      this.timer = setInterval(() => this.recheck(), TRACING_RECHECK_MS);
      this.timer.unref();
    }
    this.log.debug({ tracing: this.on }, 'tracing API loaded');
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.on = false;
  }

  /** The spans while on (callers check `on` first). */
  get ops(): Spans {
    return this.spans!;
  }

  private recheck(): void {
    const api = this.api!;
    try {
      this.on = this.settings.tracer !== undefined || this.providerIsLive(api);
      this.spans!.useGlobalPropagator = api.propagation.fields().length > 0;
    } catch (err) {
      this.on = false;
      this.log.warn({ err }, 'tracing off: the OpenTelemetry API failed');
    }
  }

  /** False while the global provider is the API's no-op one (nothing registered). */
  private providerIsLive(api: OtelApi): boolean {
    const global = api.trace.getTracerProvider() as { getDelegate?: () => unknown };
    const delegate = typeof global.getDelegate === 'function' ? global.getDelegate() : global;
    return delegate !== this.noopProvider;
  }

  // ---- Wrappers applied at registration. With tracing disabled they return what they
  // were given; otherwise they ask `on` per call.

  handler(method: string, h: Handler): Handler {
    if (this.settings.enabled === false) return h;
    return (payload, ctx) => (this.on ? this.ops.serve(method, payload, ctx, () => h(payload, ctx)) : h(payload, ctx));
  }

  reliableHandler(method: string, h: ReliableHandler): ReliableHandler {
    if (this.settings.enabled === false) return h;
    const destination = `${this.service}.${method}`;
    return (payload, ctx) => {
      if (!this.on) return h(payload, ctx);
      const attrs = { 'messaging.message.body.size': payload.byteLength, 'zmesh.caller.service': ctx.caller.service, 'zmesh.caller.node': ctx.caller.node };
      return this.ops.process(destination, ctx.headers, attrs, () => h(payload, this.ops.transaction(ctx)));
    };
  }

  listener(l: EventListener): EventListener {
    if (this.settings.enabled === false) return l;
    return (e) => (this.on ? this.ops.process(e.topic, e.headers, this.ops.eventAttrs(e), () => l(e)) : l(e));
  }

  durableHandler(name: string, h: DurableHandler): DurableHandler {
    if (this.settings.enabled === false) return h;
    return (e, tx) => (this.on ? this.ops.process(e.topic, e.headers, this.ops.eventAttrs(e, name), () => h(e, this.ops.transaction(tx))) : h(e, tx));
  }

  /** transact(): the block runs now, in the caller's context. */
  transaction<T>(fn: (tx: Transaction) => T): (tx: Transaction) => T {
    return this.on ? (tx) => fn(this.ops.transaction(tx)) : fn;
  }

  /** commit(): the block runs later; it gets the caller's context back. */
  laterTransaction<T>(fn: (tx: Transaction) => T): (tx: Transaction) => T {
    return this.on ? this.ops.bindTransaction(fn) : fn;
  }
}
