/**
 * W3C trace context across the mesh with OpenTelemetry (observe/tracing.ts). The SDK's
 * in-memory exporter sees every span of this process, so the nodes of a test all live
 * here, on loopback with static peers. The checkout runs the three commerce services
 * on a secure mesh (certificates with the permissions commerce derives), as the saga
 * tests do.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type TextMapPropagator } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, call, createNode, type MeshNode, type NodeOptions } from '../transport/index.js';
import { NodeTracing, TRACING_RECHECK_MS } from '../transport/observe/tracing.js';
import { formatTraceparent, parseTraceContext } from '../transport/observe/w3c.js';
import { AddItem, Checkout, CheckoutStatus, GetCart } from '../nodes/commerce/api.js';
import { SERVICE_PERMISSIONS } from '../nodes/commerce/permissions.js';
import type { RunningService, ServiceOptions } from '../nodes/commerce/service.js';
import { startCart } from '../nodes/cart/service.js';
import { startOrder } from '../nodes/order/service.js';
import { startProduct } from '../nodes/product/service.js';
import { SCARCE_SKU, demoCatalog } from '../nodes/product/catalog.js';
import { dist } from './helpers/paths.js';
import { testAuthority } from './helpers/trust.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const register = (): void => {
  trace.setGlobalTracerProvider(provider);
};

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  register();
});
afterAll(async () => {
  trace.disable();
  context.disable();
  propagation.disable();
  await provider.shutdown();
  ta.cleanup();
});

const ta = testAuthority();
const running: Array<{ close(): Promise<void> }> = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  exporter.reset();
});

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'zmesh-tracing-'));
  dirs.push(d);
  return d;
}

async function keep<T extends { close(): Promise<void> }>(p: Promise<T> | T): Promise<T> {
  const r = await p;
  running.push(r);
  return r;
}

/**
 *   cli ──static peer──► srv
 * Two insecure nodes on loopback, each with a store, started and up to each other.
 * `setup` registers srv's handlers before it starts.
 */
async function pair(setup: (srv: MeshNode) => void, o: Partial<NodeOptions> = {}): Promise<{ srv: MeshNode; cli: MeshNode }> {
  const base = { host: '127.0.0.1', discovery: 'static' as const, insecure: true, ...o };
  const srv = await keep(createNode({ ...base, service: 'srv', storePath: join(dir(), 'zmesh.db') }));
  setup(srv);
  await srv.start();
  const cli = await keep(createNode({ ...base, service: 'cli', storePath: join(dir(), 'zmesh.db'), peers: [srv.endpoints.advertised[0]!] }));
  await cli.start();
  await cli.waitForService('srv');
  await srv.waitForService('cli');
  return { srv, cli };
}

/** Finished spans by name (each name once: the test asserts that too). */
const byName = (spans: ReadableSpan[]): Map<string, ReadableSpan> => new Map(spans.map((s) => [s.name, s]));
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

/** The spans of one trace as a tree of "KIND name" lines, children sorted. */
function tree(spans: ReadableSpan[]): string[] {
  const children = new Map<string | undefined, ReadableSpan[]>();
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  for (const s of spans) {
    const p = parentOf(s) !== undefined && ids.has(parentOf(s)!) ? parentOf(s) : undefined;
    children.set(p, [...(children.get(p) ?? []), s]);
  }
  const out: string[] = [];
  const walk = (parent: string | undefined, depth: number): void => {
    const list = (children.get(parent) ?? []).map((s) => ({ s, line: `${'  '.repeat(depth)}${SpanKind[s.kind]} ${s.name}` }));
    list.sort((a, b) => a.line.localeCompare(b.line));
    for (const { s, line } of list) {
      out.push(line);
      walk(s.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return out;
}

describe('tracing', () => {
  it('tracing - one checkout is one trace across cart, order and product, with the right parents', async () => {
    type Service = 'product' | 'cart' | 'order';
    const at = (service: Service, peers: string[] = []): Omit<ServiceOptions, 'dataDir'> =>
      ({ host: '127.0.0.1', discovery: 'static', peers, security: ta.issue(service, { permissions: SERVICE_PERMISSIONS[service] }).security });
    const peer = (n: MeshNode | RunningService): string => {
      const node = 'node' in n ? n.node : n;
      return `${node.endpoints.router}#${node.publicKey!}`;
    };
    //   shop ──► cart ──► product
    //             │  ▲       ▲
    //             ▼  │       │
    //            order ──────┘
    const product = await keep(startProduct({ dataDir: dir(), ...at('product'), catalog: demoCatalog(10) }));
    const order = await keep(startOrder({ dataDir: dir(), ...at('order', [peer(product)]) }));
    // Max age 0: the checkout asks product itself, rather than use the AddItem's answer.
    const cart = await keep(startCart({ dataDir: dir(), ...at('cart', [peer(product), peer(order)]), catalogMaxAgeMs: 0 }));
    const shop = await keep(createNode({ service: 'tester', host: '127.0.0.1', discovery: 'static', peers: [peer(cart)], security: ta.issue('tester').security }));
    await shop.start();
    await shop.waitForService('cart');
    await cart.node.waitForService('order');
    await cart.node.waitForService('product');
    await order.node.waitForService('product');
    await order.node.waitForService('cart');
    await call(shop, AddItem, { cartId: 'c1', sku: SCARCE_SKU, quantity: 2 });
    exporter.reset();

    const reply = await call(shop, Checkout, { cartId: 'c1', idempotencyKey: 'k1' });
    expect(reply.status).toBe(CheckoutStatus.CHECKOUT_STATUS_SUBMITTED);
    const expected = [
      'CLIENT cart/Checkout',
      '  SERVER cart/Checkout',
      '    CLIENT product/ListProducts',
      '      SERVER product/ListProducts',
      '    PRODUCER send order.PlaceOrder',
      '      CONSUMER process order.PlaceOrder',
      '        PRODUCER publish order.placed',
      '          CONSUMER process order.placed',
      '        PRODUCER send product.ReserveStock',
      '          CONSUMER process product.ReserveStock',
      `            PRODUCER publish product.changed.${SCARCE_SKU}`,
      '            PRODUCER publish product.stock.reserved',
      '              CONSUMER process product.stock.reserved',
      '                PRODUCER publish order.confirmed',
      '                  CONSUMER process order.confirmed',
    ];
    // Every span of the checkout, and nothing else, in one trace with these links.
    await expect.poll(() => tree(exporter.getFinishedSpans()), { timeout: 20_000, interval: 50 }).toEqual(expected);
    const spans = exporter.getFinishedSpans();
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(spans).toHaveLength(expected.length);
    // The cart took the outcome (the last consumer span is its durable handler).
    expect((await call(shop, GetCart, { cartId: 'c1' })).items).toEqual([]);

    const client = spans.find((s) => s.name === 'cart/Checkout' && s.kind === SpanKind.CLIENT)!;
    expect(client.parentSpanContext).toBeUndefined();
    expect(client.attributes).toMatchObject({ 'rpc.system': 'zmesh', 'rpc.service': 'cart', 'rpc.method': 'Checkout', 'messaging.system': 'zmesh', 'peer.service': 'cart' });
    const server = spans.find((s) => s.name === 'cart/Checkout' && s.kind === SpanKind.SERVER)!;
    expect(server.attributes).toMatchObject({ 'rpc.service': 'cart', 'rpc.method': 'Checkout', 'zmesh.caller.service': 'tester', 'zmesh.caller.node': shop.id });
    expect(server.attributes['messaging.message.id']).toMatch(/^[0-9a-f]{32}$/);
    const named = byName(spans.filter((s) => s.kind !== SpanKind.CLIENT && s.kind !== SpanKind.SERVER));
    expect(named.get('send order.PlaceOrder')!.attributes).toMatchObject({
      'messaging.system': 'zmesh', 'messaging.operation.type': 'send', 'messaging.operation.name': 'send',
      'messaging.destination.name': 'order.PlaceOrder', 'peer.service': 'order',
    });
    expect(named.get('process order.PlaceOrder')!.attributes).toMatchObject({
      'messaging.system': 'zmesh', 'messaging.operation.type': 'process', 'messaging.operation.name': 'process',
      'messaging.destination.name': 'order.PlaceOrder', 'zmesh.caller.service': 'cart', 'zmesh.caller.node': cart.node.id,
    });
    expect(named.get('publish order.confirmed')!.attributes).toMatchObject({
      'messaging.operation.type': 'send', 'messaging.operation.name': 'publish', 'messaging.destination.name': 'order.confirmed',
    });
    const confirmed = named.get('process order.confirmed')!;
    expect(confirmed.attributes).toMatchObject({
      'messaging.operation.type': 'process', 'messaging.destination.name': 'order.confirmed', 'messaging.consumer.group.name': 'cart-orders',
      'zmesh.caller.service': 'order',
    });
    expect(confirmed.attributes['messaging.message.id']).toMatch(/^[0-9a-f]{32}$/);
    expect(confirmed.attributes['messaging.message.body.size']).toBeGreaterThan(0);
    expect(named.get('process product.stock.reserved')!.attributes['messaging.consumer.group.name']).toBe('order-stock');
    // Nothing failed.
    expect(spans.filter((s) => s.status.code === SpanStatusCode.ERROR).map((s) => s.name)).toEqual([]);
  }, 60_000);

  it('tracing - a failed request ends its client and server spans with status ERROR and error.type', async () => {
    const { cli } = await pair((srv) => srv.handle('boom', () => { throw new Error('it broke'); }));
    await expect(cli.request('srv', 'boom', Buffer.from('x'))).rejects.toMatchObject({ code: ErrorCode.HANDLER_FAILED });
    await expect(cli.request('srv', 'nothing-here', Buffer.from('x'))).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_METHOD });
    await expect.poll(() => exporter.getFinishedSpans().length).toBe(3);
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
    const client = spans.find((s) => s.kind === SpanKind.CLIENT && s.name === 'srv/boom')!;
    const unknown = spans.find((s) => s.kind === SpanKind.CLIENT && s.name === 'srv/nothing-here')!;
    for (const s of [server, client]) {
      expect(s.status).toEqual({ code: SpanStatusCode.ERROR, message: expect.stringContaining('it broke') });
      expect(s.attributes['error.type']).toBe(ErrorCode.HANDLER_FAILED);
    }
    expect(parentOf(server)).toBe(client.spanContext().spanId);
    expect(server.spanContext().traceId).toBe(client.spanContext().traceId);
    expect(unknown.status.code).toBe(SpanStatusCode.ERROR);
    expect(unknown.attributes['error.type']).toBe(ErrorCode.UNKNOWN_METHOD);
  });

  it('tracing - a fast command and a fast event link their producer span to the handler and the listener', async () => {
    let handled!: () => void;
    const commanded = new Promise<void>((r) => { handled = r; });
    const { srv, cli } = await pair((s) => s.handle('poke', () => { handled(); }));
    const got: string[] = [];
    await cli.subscribe('news.', (e) => { got.push(e.topic); });
    cli.command('srv', 'poke', Buffer.from('abc'));
    await commanded;
    srv.publish('news.today', Buffer.from('e'));
    await expect.poll(() => exporter.getFinishedSpans().length).toBe(4);
    const spans = exporter.getFinishedSpans();
    const find = (kind: SpanKind, name: string): ReadableSpan => spans.find((s) => s.kind === kind && s.name === name)!;
    const send = find(SpanKind.PRODUCER, 'send srv.poke');
    expect(send.attributes).toMatchObject({ 'messaging.operation.type': 'send', 'messaging.message.body.size': 3, 'peer.service': 'srv' });
    expect(parentOf(find(SpanKind.SERVER, 'srv/poke'))).toBe(send.spanContext().spanId);
    const publish = find(SpanKind.PRODUCER, 'publish news.today');
    const processed = find(SpanKind.CONSUMER, 'process news.today');
    expect(parentOf(processed)).toBe(publish.spanContext().spanId);
    expect(processed.attributes).toMatchObject({ 'messaging.destination.name': 'news.today', 'zmesh.caller.service': 'srv', 'messaging.message.body.size': 1 });
    expect(processed.attributes['messaging.consumer.group.name']).toBeUndefined();
    expect(got).toEqual(['news.today']);
  });

  it('tracing - a retried reliable command keeps its one producer span as the parent of every attempt', async () => {
    let attempts = 0;
    const { cli } = await pair((srv) => srv.handleReliable('note', () => {
      if (++attempts === 1) throw new Error('not yet');
    }), { reliable: { backoffBaseMs: 10, backoffMaxMs: 50 } });
    await cli.send('srv', 'note', Buffer.from('n'));
    await expect.poll(() => exporter.getFinishedSpans().filter((s) => s.name === 'process srv.note').length, { timeout: 10_000 }).toBe(2);
    const spans = exporter.getFinishedSpans();
    const producers = spans.filter((s) => s.name === 'send srv.note');
    expect(producers).toHaveLength(1);
    expect(producers[0]!.kind).toBe(SpanKind.PRODUCER);
    expect(producers[0]!.attributes['messaging.message.body.size']).toBe(1);
    const [first, second] = spans.filter((s) => s.name === 'process srv.note');
    for (const s of [first!, second!]) {
      expect(s.kind).toBe(SpanKind.CONSUMER);
      expect(parentOf(s)).toBe(producers[0]!.spanContext().spanId);
    }
    expect(first!.status.code).toBe(SpanStatusCode.ERROR);
    expect(first!.attributes['error.type']).toBe(ErrorCode.HANDLER_FAILED);
    expect(second!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('tracing - a reliable command stored before its sender restarted is processed in the original trace', async () => {
    const store = join(dir(), 'zmesh.db');
    const base = { host: '127.0.0.1', discovery: 'static' as const, insecure: true };
    // No receiver yet: the command waits in the outbox, with its headers, across a restart.
    const before = createNode({ ...base, service: 'cli', storePath: store });
    await before.start();
    await before.send('srv', 'note', Buffer.from('n'));
    await before.close();
    const srv = await keep(createNode({ ...base, service: 'srv', storePath: join(dir(), 'zmesh.db') }));
    srv.handleReliable('note', () => undefined);
    await srv.start();
    const after = await keep(createNode({ ...base, service: 'cli', storePath: store, peers: [srv.endpoints.advertised[0]!] }));
    await after.start();
    await expect.poll(() => exporter.getFinishedSpans().filter((s) => s.name === 'process srv.note').length, { timeout: 10_000 }).toBe(1);
    const [producer] = exporter.getFinishedSpans().filter((s) => s.name === 'send srv.note');
    const consumer = exporter.getFinishedSpans().find((s) => s.name === 'process srv.note')!;
    expect(parentOf(consumer)).toBe(producer!.spanContext().spanId);
    expect(consumer.spanContext().traceId).toBe(producer!.spanContext().traceId);
  });

  it('tracing - a reliable event replayed to a restarted durable subscriber is processed in its publisher\'s trace', async () => {
    const base = { host: '127.0.0.1', discovery: 'static' as const, insecure: true };
    const srv = await keep(createNode({ ...base, service: 'srv', storePath: join(dir(), 'zmesh.db') }));
    await srv.start();
    const store = join(dir(), 'zmesh.db');
    const got: string[] = [];
    const subscriber = async (): Promise<MeshNode> => {
      const n = createNode({ ...base, service: 'cli', storePath: store, peers: [srv.endpoints.advertised[0]!] });
      await n.start();
      await n.waitForService('srv');
      await n.subscribeDurable('late', 'log.', (e) => { got.push(e.topic); });
      return n;
    };
    const first = await subscriber();
    await srv.publishReliable('log.a', Buffer.from('a'));
    await expect.poll(() => got).toEqual(['log.a']);
    await first.close();
    // Published while the subscriber is away: it comes by replay from the publisher's log.
    await srv.publishReliable('log.b', Buffer.from('b'));
    await keep(subscriber());
    // The next live event shows the gap; the catch-up replays log.b before it.
    await srv.publishReliable('log.c', Buffer.from('c'));
    await expect.poll(() => got, { timeout: 10_000 }).toEqual(['log.a', 'log.b', 'log.c']);
    await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === 'process log.b')).toBe(true);
    const producer = exporter.getFinishedSpans().find((s) => s.name === 'publish log.b')!;
    const consumer = exporter.getFinishedSpans().find((s) => s.name === 'process log.b')!;
    expect(parentOf(consumer)).toBe(producer.spanContext().spanId);
    expect(consumer.attributes['messaging.consumer.group.name']).toBe('late');
  });

  it('tracing - commit() blocks of two traces sharing one batch each send in their own trace', async () => {
    const { cli } = await pair((srv) => srv.handleReliable('note', () => undefined));
    const tracer = trace.getTracer('test');
    const roots = [tracer.startSpan('a'), tracer.startSpan('b')];
    // Both blocks join the transaction the first one opens, which runs later, in the
    // context the first caller had: only the captured context keeps b's send in b.
    await Promise.all(roots.map((root, i) => context.with(trace.setSpan(ROOT_CONTEXT, root), () =>
      cli.commit((tx) => tx.send('srv', 'note', Buffer.from([i]))))));
    for (const r of roots) r.end();
    await expect.poll(() => exporter.getFinishedSpans().filter((s) => s.name === 'process srv.note').length).toBe(2);
    const sends = exporter.getFinishedSpans().filter((s) => s.name === 'send srv.note');
    expect(sends.map((s) => [s.attributes['messaging.message.body.size'], parentOf(s)]).sort())
      .toEqual(roots.map((r) => [1, r.spanContext().spanId]).sort());
    expect(new Set(sends.map((s) => s.spanContext().traceId))).toEqual(new Set(roots.map((r) => r.spanContext().traceId)));
  });

  it('tracing - with no provider there are no spans and no trace headers; an SDK registered later is picked up', async () => {
    trace.disable();
    try {
      const seen: Array<Readonly<Record<string, string>>> = [];
      const events: Array<Readonly<Record<string, string>>> = [];
      const { srv, cli } = await pair((s) => s.handle('echo', (payload, ctx) => { seen.push(ctx.headers); return payload; }));
      await cli.subscribe('news.', (e) => events.push(e.headers));
      await cli.request('srv', 'echo', Buffer.from('x'), { headers: { 'x-app': '1' } });
      srv.publish('news.a', Buffer.from('e'));
      await expect.poll(() => events.length).toBe(1);
      expect(seen).toEqual([{ 'x-app': '1' }]);
      expect(events[0]!['traceparent']).toBeUndefined();
      expect(exporter.getFinishedSpans()).toEqual([]);

      // An SDK registered now: the nodes see it at their next re-check.
      register();
      const started = Date.now();
      await expect.poll(async () => {
        await cli.request('srv', 'echo', Buffer.from('x'));
        return seen.at(-1)!['traceparent'];
      }, { timeout: TRACING_RECHECK_MS * 3, interval: 100 }).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(Date.now() - started).toBeLessThan(TRACING_RECHECK_MS * 3);
      expect(exporter.getFinishedSpans().some((s) => s.name === 'srv/echo' && s.kind === SpanKind.SERVER)).toBe(true);
    } finally {
      trace.disable();
      register();
    }
  });

  it('tracing - enabled: false makes no spans and adds no headers while an SDK is registered', async () => {
    const seen: Array<Readonly<Record<string, string>>> = [];
    const { cli } = await pair((srv) => {
      srv.handle('echo', (payload, ctx) => { seen.push(ctx.headers); return payload; });
      srv.handleReliable('note', (_p, ctx) => { seen.push(ctx.headers); });
    }, { tracing: { enabled: false } });
    await cli.request('srv', 'echo', Buffer.from('x'));
    await cli.send('srv', 'note', Buffer.from('x'));
    await expect.poll(() => seen.length).toBe(2);
    expect(seen[0]).toEqual({});
    expect(Object.keys(seen[1]!).filter((k) => !k.startsWith('zmesh-'))).toEqual([]);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('tracing - a propagator the application registered carries the context instead of the built-in W3C codec', async () => {
    // A propagator of its own, so it cannot be mistaken for the built-in one.
    const KEY = 'x-test-trace';
    const custom: TextMapPropagator = {
      inject(ctx, carrier: Record<string, string>) {
        const sc = trace.getSpanContext(ctx);
        if (sc !== undefined) carrier[KEY] = `${sc.traceId}:${sc.spanId}`;
      },
      extract(ctx, carrier: Record<string, string>) {
        const v = carrier[KEY];
        if (v === undefined) return ctx;
        const [traceId, spanId] = v.split(':') as [string, string];
        return trace.setSpanContext(ctx, { traceId, spanId, traceFlags: 1, isRemote: true });
      },
      fields: () => [KEY],
    };
    propagation.setGlobalPropagator(custom);
    try {
      const seen: Array<Readonly<Record<string, string>>> = [];
      const { cli } = await pair((srv) => srv.handle('echo', (payload, ctx) => { seen.push(ctx.headers); return payload; }));
      await cli.request('srv', 'echo', Buffer.from('x'));
      expect(seen[0]![KEY]).toMatch(/^[0-9a-f]{32}:[0-9a-f]{16}$/);
      expect(seen[0]!['traceparent']).toBeUndefined();
      await expect.poll(() => exporter.getFinishedSpans().length).toBe(2);
      const [server, client] = [SpanKind.SERVER, SpanKind.CLIENT].map((k) => exporter.getFinishedSpans().find((s) => s.kind === k)!);
      expect(parentOf(server!)).toBe(client!.spanContext().spanId);
    } finally {
      propagation.disable();
    }
  });

  it('tracing - a tracer given in the options traces with no global provider', async () => {
    trace.disable();
    try {
      const { cli } = await pair((srv) => srv.handle('echo', (payload) => payload), { tracing: { tracer: provider.getTracer('mine') } });
      await cli.request('srv', 'echo', Buffer.from('x'));
      await expect.poll(() => exporter.getFinishedSpans().map((s) => `${SpanKind[s.kind]} ${s.name}`).sort()).toEqual(['CLIENT srv/echo', 'SERVER srv/echo']);
      expect(exporter.getFinishedSpans()[0]!.instrumentationScope.name).toBe('mine');
    } finally {
      register();
    }
  });

  it('tracing - without @opentelemetry/api installed the node runs untraced (child process, import hidden)', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [dist('test/fixtures/no-otel-proc.js')], { timeout: 30_000 });
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      importError: string; reply: string; seen: Record<string, Record<string, string>>; warnings: string[];
    };
    // The import really failed, as for a package that is not installed.
    expect(out.importError).toBe('ERR_MODULE_NOT_FOUND');
    expect(out.reply).toBe('hi');
    expect(out.seen['request']).toEqual({ 'x-app': '1' });
    for (const kind of ['event', 'command']) {
      expect(Object.keys(out.seen[kind]!).filter((k) => !k.startsWith('zmesh-'))).toEqual([]);
    }
    // enabled: true says why there is no tracing (once per node).
    expect(out.warnings.filter((w) => w.includes('@opentelemetry/api'))).toHaveLength(2);
  });

  it('tracing - an API that fails to load leaves tracing off, wrappers passing straight through, and says so only when asked to trace', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const log = pino({ level: 'debug' }, { write: (l: string) => { lines.push(JSON.parse(l) as { level: number; msg: string }); } });
    const missing = (): Promise<never> => Promise.reject(Object.assign(new Error('Cannot find package'), { code: 'ERR_MODULE_NOT_FOUND' }));
    const auto = new NodeTracing({ enabled: undefined, tracer: undefined }, 'svc', log, missing);
    const asked = new NodeTracing({ enabled: true, tracer: undefined }, 'svc', log, missing);
    await auto.start();
    await asked.start();
    expect([auto.on, asked.on]).toEqual([false, false]);
    expect(lines.filter((l) => l.msg.includes('@opentelemetry/api')).map((l) => l.level)).toEqual([20, 40]);
    const handler = (p: Uint8Array): Uint8Array => p;
    const reply = auto.handler('m', handler)(Buffer.from('x'), {} as never);
    expect(Buffer.from(reply as Uint8Array).toString()).toBe('x');
    const fn = (): number => 1;
    expect(auto.transaction(fn)).toBe(fn);
    // Disabled: nothing is even wrapped, and nothing is loaded.
    let loads = 0;
    const off = new NodeTracing({ enabled: false, tracer: undefined }, 'svc', log, () => { loads++; return missing(); });
    await off.start();
    expect(loads).toBe(0);
    expect(off.handler('m', handler)).toBe(handler);
    auto.close();
    asked.close();
  });

  it('tracing - options are validated', () => {
    const o = { service: 's', insecure: true };
    expect(() => createNode({ ...o, tracing: { enabled: 'yes' as unknown as boolean } })).toThrow(/tracing.enabled must be a boolean/);
    expect(() => createNode({ ...o, tracing: { tracer: {} as never } })).toThrow(/tracing.tracer must be an OpenTelemetry Tracer/);
    expect(() => createNode({ ...o, tracing: { sampler: 1 } as never })).toThrow(/unknown option tracing.sampler/);
    expect(() => createNode({ ...o, tracing: { enabled: false, tracer: provider.getTracer('x') } })).toThrow(/contradicts/);
  });

  it('tracing - the W3C traceparent codec follows the spec (versions, zeros, case, tracestate)', () => {
    const id = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
    expect(formatTraceparent({ ...id, traceFlags: 1 })).toBe(`00-${id.traceId}-${id.spanId}-01`);
    expect(formatTraceparent({ ...id, traceFlags: 0 })).toBe(`00-${id.traceId}-${id.spanId}-00`);
    expect(parseTraceContext(`00-${id.traceId}-${id.spanId}-01`, 'congo=t61rcWkgMzE')).toEqual({ ...id, traceFlags: 1, traceState: 'congo=t61rcWkgMzE' });
    // A later version may carry more; version 00 may not.
    expect(parseTraceContext(`cc-${id.traceId}-${id.spanId}-01-what-the-future-holds`, undefined)).toEqual({ ...id, traceFlags: 1 });
    expect(parseTraceContext(`00-${id.traceId}-${id.spanId}-01-extra`, undefined)).toBeUndefined();
    expect(parseTraceContext(`ff-${id.traceId}-${id.spanId}-01`, undefined)).toBeUndefined();
    expect(parseTraceContext(`00-${id.traceId.toUpperCase()}-${id.spanId}-01`, undefined)).toBeUndefined();
    expect(parseTraceContext(`00-${'0'.repeat(32)}-${id.spanId}-01`, undefined)).toBeUndefined();
    expect(parseTraceContext(`00-${id.traceId}-${'0'.repeat(16)}-01`, undefined)).toBeUndefined();
    expect(parseTraceContext(undefined, 'a=b')).toBeUndefined();
    expect(parseTraceContext(`00-${id.traceId}-${id.spanId}-01`, 'x'.repeat(513))).toEqual({ ...id, traceFlags: 1 });
  });
});

