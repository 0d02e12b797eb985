/**
 * Metrics and health endpoints (README "Monitoring"): real nodes on 127.0.0.1, real
 * HTTP scrapes, exact counts after a known workload.
 *
 *   front (metrics, store) --requests, reliable commands--> back (metrics, store)
 *        \--requests--> extra (a child process, SIGKILLed halfway)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { BadMessageError, createNode, ErrorCode, type MeshNode, type NodeOptions } from '../transport/index.js';
import { killAll, NodeProc } from './helpers/proc.js';
import { dist, ROOT } from './helpers/paths.js';
import { matching, parseProm, scrape, total, value, type Scrape } from './helpers/prom-text.js';

const dir = mkdtempSync(join(tmpdir(), 'zmesh-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nodes: MeshNode[] = [];
afterEach(async () => {
  await killAll();
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

const base = { insecure: true, host: '127.0.0.1', discovery: 'static' } as const;

async function started(o: Omit<NodeOptions, 'insecure'>): Promise<MeshNode> {
  const node = createNode({ ...base, ...o } as NodeOptions);
  nodes.push(node);
  await node.start();
  return node;
}

const url = (n: MeshNode): string => n.endpoints.metrics!;

async function get(path: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(path);
  return { status: res.status, headers: res.headers, body: await res.json() as Record<string, unknown> };
}

describe('metrics', () => {
  it('metrics - after a known workload /metrics has the exact counts, and they stay when a peer is killed', async () => {
    const N_OK = 7;
    const N_FAIL = 3;
    const M = 5;
    const K = 4;
    const back = await started({ service: 'back', storePath: join(dir, 'back.db'), metrics: { port: 0 } });
    back.handle('echo', (p) => p);
    back.handle('deny', () => { throw new BadMessageError('denied on purpose'); });
    let applied = 0;
    back.handleReliable('Record', () => { applied++; });
    back.handleReliable('Poison', () => { throw new Error('never applies'); });
    const front = await started({
      service: 'front', storePath: join(dir, 'front.db'), peers: [back.endpoints.advertised[0]!],
      reliable: { maxAttempts: 2, backoffBaseMs: 10, backoffMaxMs: 20 }, metrics: { port: 0 },
    });
    const extra = await NodeProc.start({ service: 'extra', peers: [front.endpoints.advertised[0]!] });
    await front.waitForService('back');
    await front.waitForService('extra');

    for (let i = 0; i < N_OK; i++) await front.request('back', 'echo', Buffer.from('x'));
    for (let i = 0; i < N_FAIL; i++) await expect(front.request('back', 'deny', Buffer.from('x'))).rejects.toMatchObject({ code: ErrorCode.BAD_MESSAGE });
    for (let i = 0; i < K; i++) await front.request('extra', 'echo', Buffer.from('x'));
    for (let i = 0; i < M; i++) await front.send('back', 'Record', Buffer.from(String(i)));
    await vi.waitFor(() => expect(front.reliableStats()!.pending).toBe(0), { timeout: 10_000 });
    await front.send('back', 'Poison', Buffer.from('p'));
    await vi.waitFor(() => expect(front.reliableStats()!.deadLettered).toBe(1), { timeout: 10_000 });
    expect(applied).toBe(M);

    const f1 = await scrape(url(front));
    const svc = { service: 'front' };
    expect(value(f1, 'zmesh_requests_total', { ...svc, peer_service: 'back', method: 'echo', outcome: 'ok' })).toBe(N_OK);
    expect(value(f1, 'zmesh_requests_total', { ...svc, peer_service: 'back', method: 'deny', outcome: ErrorCode.BAD_MESSAGE })).toBe(N_FAIL);
    expect(value(f1, 'zmesh_requests_total', { ...svc, peer_service: 'extra', method: 'echo', outcome: 'ok' })).toBe(K);
    expect(value(f1, 'zmesh_request_duration_seconds_count', { ...svc, peer_service: 'back', method: 'echo' })).toBe(N_OK);
    expect(value(f1, 'zmesh_requests_total', { ...svc, peer_service: 'back', method: 'Record', outcome: 'ok' })).toBe(M);
    // Two refusals (maxAttempts 2), then the dead letter.
    expect(value(f1, 'zmesh_requests_total', { ...svc, peer_service: 'back', method: 'Poison', outcome: ErrorCode.HANDLER_FAILED })).toBe(2);
    expect(value(f1, 'zmesh_dead_letters_total', svc)).toBe(1);
    expect(value(f1, 'zmesh_reliable_retries_total', svc)).toBe(1);
    expect(value(f1, 'zmesh_outbox_depth', svc)).toBe(0);
    expect(value(f1, 'zmesh_peer_state_changes_total', { ...svc, peer_service: 'extra', state: 'up' })).toBe(1);
    expect(matching(f1, 'zmesh_peer_state_changes_total', { ...svc, state: 'down' })).toHaveLength(0);
    expect(value(f1, 'zmesh_peers', { ...svc, peer_service: 'extra', state: 'up' })).toBe(1);
    expect(value(f1, 'zmesh_node_info', { node_id: front.id })).toBe(1);
    // Every request went out as a REQUEST envelope; $members asks are requests too.
    expect(value(f1, 'zmesh_messages_sent_total', { ...svc, kind: 'request' })).toBeGreaterThanOrEqual(N_OK + N_FAIL + K);

    const b = await scrape(url(back));
    const bs = { service: 'back' };
    expect(value(b, 'zmesh_handled_total', { ...bs, method: 'echo', outcome: 'ok' })).toBe(N_OK);
    expect(value(b, 'zmesh_handled_total', { ...bs, method: 'deny', outcome: ErrorCode.BAD_MESSAGE })).toBe(N_FAIL);
    expect(value(b, 'zmesh_handler_errors_total', { ...bs, method: 'deny', code: ErrorCode.BAD_MESSAGE })).toBe(N_FAIL);
    expect(matching(b, 'zmesh_handler_errors_total', { ...bs, method: 'echo' })).toHaveLength(0);
    expect(value(b, 'zmesh_handler_duration_seconds_count', { ...bs, method: 'echo' })).toBe(N_OK);
    expect(value(b, 'zmesh_inbox_applied_total', bs)).toBe(M);
    // Writes per transaction count the refused ones too: the two Poison attempts.
    expect(value(b, 'zmesh_store_batch_writes_sum', bs)).toBe(M + 2);
    expect(value(b, 'zmesh_messages_received_total', { ...bs, kind: 'request' })).toBeGreaterThanOrEqual(N_OK + N_FAIL);

    // The peer dies without a goodbye.
    const down = new Promise<void>((resolve) => {
      const off = front.on('peer:down', ({ peer }) => { if (peer.service === 'extra') { off(); resolve(); } });
    });
    extra.kill('SIGKILL');
    await down;
    const f2 = await scrape(url(front));
    expect(value(f2, 'zmesh_peer_state_changes_total', { ...svc, peer_service: 'extra', state: 'down' })).toBe(1);
    expect(matching(f2, 'zmesh_peers', { ...svc, peer_service: 'extra', state: 'up' })).toHaveLength(0);
    // Totals: unchanged by the peer's going, and never lower.
    for (const name of ['zmesh_requests_total', 'zmesh_request_duration_seconds_count', 'zmesh_dead_letters_total', 'zmesh_peer_state_changes_total']) {
      for (const s of matching(f1, name, svc)) expect(value(f2, name, s.labels), `${name}${JSON.stringify(s.labels)}`).toBe(s.value);
    }
    for (const name of ['zmesh_messages_sent_total', 'zmesh_messages_received_total']) {
      for (const s of matching(f1, name, svc)) expect(value(f2, name, s.labels)).toBeGreaterThanOrEqual(s.value);
    }
  });

  it('metrics - /metrics speaks the Prometheus text format, with process metrics and nothing cached', async () => {
    const node = await started({ service: 'solo', metrics: { port: 0 } });
    const res = await fetch(`${url(node)}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const s = parseProm(await res.text());
    expect(s.types.get('zmesh_requests_total')).toBe('counter');
    expect(s.types.get('zmesh_request_duration_seconds')).toBe('histogram');
    expect(total(s, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    const elu = value(s, 'zmesh_event_loop_utilization_ratio');
    expect(elu).toBeGreaterThanOrEqual(0);
    expect(elu).toBeLessThanOrEqual(1);
    expect(node.endpoints.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${url(node)}/nope`)).status).toBe(404);
    expect((await fetch(`${url(node)}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});

describe('metrics reliable', () => {
  it('metrics reliable - durable lag counts the events a subscription has not applied, and falls to 0 once it has; replays are counted', async () => {
    const R = 6;
    const pub = await started({ service: 'pub', storePath: join(dir, 'pub.db'), metrics: { port: 0 } });
    const sub = await started({ service: 'sub', storePath: join(dir, 'sub.db'), peers: [pub.endpoints.advertised[0]!], metrics: { port: 0 } });
    await sub.waitForService('pub');
    let failing = true;
    let applied = 0;
    await sub.subscribeDurable('audit', 'ev.', () => {
      if (failing) throw new Error('not yet');
      applied++;
    });
    for (let i = 0; i < R; i++) await pub.publishReliable('ev.x', Buffer.from(String(i)));
    const lag = async (): Promise<number> => value(await scrape(url(sub)), 'zmesh_durable_lag_events', { service: 'sub', prefix: 'ev.' });
    await vi.waitFor(async () => expect(await lag()).toBe(R), { timeout: 10_000 });
    failing = false;
    await vi.waitFor(async () => expect(await lag()).toBe(0), { timeout: 10_000 });
    expect(applied).toBe(R);
    const s = await scrape(url(sub));
    expect(value(s, 'zmesh_replay_requests_total', { service: 'sub', role: 'requested' })).toBeGreaterThan(0);
    expect(value(await scrape(url(pub)), 'zmesh_replay_requests_total', { service: 'pub', role: 'served' })).toBeGreaterThan(0);
    // Heartbeats have run meanwhile: the round trip to pub is known.
    await vi.waitFor(() => expect(sub.peers().find((p) => p.service === 'pub')?.rttMs).toBeDefined(), { timeout: 5_000 });
    expect(value(await scrape(url(sub)), 'zmesh_peer_rtt_seconds', { service: 'sub', peer_service: 'pub' })).toBeGreaterThan(0);
    expect(total(s, 'zmesh_messages_received_total', { service: 'sub', kind: 'event' })).toBeGreaterThanOrEqual(R);
  });
});

describe('health', () => {
  it('health - /readyz is 503 naming the missing dependency until it is up, then 200; /healthz is 200 throughout', async () => {
    const node = await started({ service: 'cart', metrics: { port: 0, readiness: { services: ['product'] } } });
    const before = await get(`${url(node)}/readyz`);
    expect(before.status).toBe(503);
    expect(before.headers.get('content-type')).toBe('application/json');
    expect(before.body).toMatchObject({ status: 'not ready', failed: ['service:product'] });
    expect((await get(`${url(node)}/healthz`)).status).toBe(200);
    await started({ service: 'product', peers: [node.endpoints.advertised[0]!] });
    await node.waitForService('product');
    const after = await get(`${url(node)}/readyz`);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ status: 'ready' });
    expect((await get(`${url(node)}/healthz`)).body).toMatchObject({ status: 'ok' });
  });

  it('health - /readyz is 503 naming the outbox once it holds maxOutbox commands', async () => {
    const node = await started({ service: 'order', storePath: join(dir, 'outbox.db'), metrics: { port: 0, readiness: { maxOutbox: 3 } } });
    expect((await get(`${url(node)}/readyz`)).status).toBe(200);
    // Nobody serves "nowhere": the commands wait in the outbox.
    for (let i = 0; i < 3; i++) await node.send('nowhere', 'Take', Buffer.from('x'));
    const r = await get(`${url(node)}/readyz`);
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ status: 'not ready', failed: ['outbox'] });
    const s = await scrape(url(node));
    expect(value(s, 'zmesh_outbox_depth', { service: 'order' })).toBe(3);
    expect(value(s, 'zmesh_outbox_oldest_age_seconds', { service: 'order' })).toBeGreaterThanOrEqual(0);
  });

  it('health - while close() waits for a running handler, /healthz and /readyz answer 503', async () => {
    const node = createNode({ ...base, service: 'slow', metrics: { port: 0 } });
    await node.start();
    const caller = await started({ service: 'caller', peers: [node.endpoints.advertised[0]!] });
    let release: () => void = () => undefined;
    let entered: () => void = () => undefined;
    const inHandler = new Promise<void>((r) => { entered = r; });
    node.handle('wait', () => new Promise<Uint8Array>((r) => { entered(); release = () => r(Buffer.from('done')); }));
    await caller.waitForService('slow');
    const reply = caller.request('slow', 'wait', Buffer.alloc(0));
    await inHandler;
    const at = url(node);
    const closing = node.close();
    const live = await get(`${at}/healthz`);
    expect(live.status).toBe(503);
    expect(live.body).toMatchObject({ status: 'not live', failed: ['live'] });
    expect(await get(`${at}/readyz`)).toMatchObject({ status: 503, body: { failed: ['started'] } });
    release();
    // Not asserted here: whether that reply still reaches the caller is close()'s
    // business (at 7d87388 it sometimes does not: the caller sees PEER_DOWN instead).
    await reply.catch(() => undefined);
    await closing;
  });

  it('health - the server is gone once close() resolves', async () => {
    const node = createNode({ ...base, service: 'gone', metrics: { port: 0 } });
    await node.start();
    const at = url(node);
    expect((await fetch(`${at}/healthz`)).status).toBe(200);
    await node.close();
    await expect(fetch(`${at}/healthz`)).rejects.toThrow();
  });
});

describe('metrics registry', () => {
  it('metrics registry - a registry of the user\'s own gets the metrics, beside the user\'s, with no server', async () => {
    const registry = new Registry();
    const { Counter } = await import('prom-client');
    new Counter({ name: 'app_orders_total', help: 'mine', registers: [registry] });
    const node = await started({ service: 'mine', metrics: { registry } });
    expect(node.endpoints.metrics).toBeUndefined();
    const s = parseProm(await registry.metrics());
    expect(value(s, 'zmesh_node_info', { node_id: node.id, service: 'mine' })).toBe(1);
    expect(value(s, 'app_orders_total')).toBe(0);
  });

  it('metrics registry - two nodes in one process share a registry without a clash; a closed one keeps its counters', async () => {
    const registry = new Registry();
    const a = await started({ service: 'alpha', metrics: { registry, port: 0 } });
    const b = await started({ service: 'beta', peers: [a.endpoints.advertised[0]!], metrics: { registry, port: 0 } });
    a.handle('ping', () => Buffer.from('pong'));
    await b.waitForService('alpha');
    for (let i = 0; i < 3; i++) await b.request('alpha', 'ping', Buffer.alloc(0));
    const s = await scrape(url(a));
    expect(matching(s, 'zmesh_node_info')).toHaveLength(2);
    expect(value(s, 'zmesh_handled_total', { service: 'alpha', method: 'ping', outcome: 'ok' })).toBe(3);
    expect(value(s, 'zmesh_requests_total', { service: 'beta', peer_service: 'alpha', method: 'ping', outcome: 'ok' })).toBe(3);
    await b.close();
    const after = await scrape(url(a));
    expect(matching(after, 'zmesh_node_info')).toHaveLength(1);
    expect(value(after, 'zmesh_requests_total', { service: 'beta', peer_service: 'alpha', method: 'ping', outcome: 'ok' })).toBe(3);
    expect(value(after, 'zmesh_messages_sent_total', { service: 'beta', kind: 'request' })).toBe(value(s, 'zmesh_messages_sent_total', { service: 'beta', kind: 'request' }));
    expect(matching(after, 'zmesh_peers', { service: 'beta' })).toHaveLength(0);
  });

  it('metrics registry - bad metrics options fail createNode with INVALID_ARGUMENT', () => {
    const make = (metrics: unknown) => () => createNode({ ...base, service: 'bad', metrics } as NodeOptions);
    for (const m of [{}, { port: -1 }, { port: 70_000 }, { registry: {} }, { port: 0, colour: 'red' }, { port: 0, host: '' }, { port: 0, readiness: { services: ['Not A Service'] } }, { port: 0, readiness: { maxOutbox: 0 } }]) {
      expect(make(m), JSON.stringify(m)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    }
    expect(make({ port: 0 })).not.toThrow();
  });

  it('metrics registry - method names past the label budget are reported as "other", and still counted', async () => {
    const node = await started({ service: 'target', metrics: { port: 0 } });
    const names = Array.from({ length: 120 }, (_, i) => `m${i}`);
    for (const m of names) node.handle(m, () => Buffer.alloc(0));
    const caller = await started({ service: 'caller', peers: [node.endpoints.advertised[0]!] });
    await caller.waitForService('target');
    await Promise.all(names.map((m) => caller.request('target', m, Buffer.alloc(0))));
    const s = await scrape(url(node));
    const methods = new Set(matching(s, 'zmesh_handled_total', { service: 'target' }).map((x) => x.labels.method));
    expect(methods.size).toBe(101);
    expect(methods.has('other')).toBe(true);
    expect(value(s, 'zmesh_handled_total', { service: 'target', method: 'other', outcome: 'ok' })).toBe(20);
    expect(total(s, 'zmesh_handled_total', { service: 'target' })).toBe(names.length);
  });
});

describe('metrics laziness', () => {
  it('metrics laziness - a node without the option never loads prom-client; one with it does', () => {
    // A resolve hook that reports every import of prom-client, in a process of its own.
    const script = join(dir, 'lazy.mjs');
    writeFileSync(script, [
      "import { register } from 'node:module';",
      'register(\'data:text/javascript,export async function resolve(s, c, n) { if (s === "prom-client") process.stderr.write("PROM-CLIENT LOADED\\\\n"); return n(s, c); }\');',
      `const { createNode } = await import(${JSON.stringify(dist('transport/index.js'))});`,
      "const node = createNode({ service: 'lazy', insecure: true, host: '127.0.0.1', discovery: 'static', ...(process.argv[2] === 'on' ? { metrics: { port: 0 } } : {}) });",
      'await node.start();',
      'await node.request(\'lazy\', \'x\', Buffer.alloc(0)).catch(() => undefined);',
      'await node.close();',
      "process.stderr.write('closed\\n');",
    ].join('\n'));
    const run = (mode: string) => spawnSync(process.execPath, [script, mode], { encoding: 'utf8', timeout: 20_000 });
    const off = run('off');
    expect(off.stderr).toContain('closed');
    expect(off.stderr).not.toContain('PROM-CLIENT LOADED');
    const on = run('on');
    expect(on.stderr).toContain('closed');
    expect(on.stderr).toContain('PROM-CLIENT LOADED');
  });
});

describe('metrics table', () => {
  it('metrics table - the README table lists exactly the metrics, types and labels the registry exposes', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('### Metrics');
    expect(start).toBeGreaterThan(0);
    const section = readme.slice(start, readme.indexOf('\n### ', start + 1));
    const rows = section.split('\n').filter((l) => /^\| `/.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
    const documented = new Map<string, { type: string; labels: string[] }>();
    let processRow = false;
    for (const [name, type, labels] of rows) {
      const n = name!.replace(/`/g, '');
      if (n.startsWith('process_')) {
        processRow = true;
        continue;
      }
      expect(documented.has(n), `${n} documented twice`).toBe(false);
      documented.set(n, { type: type!, labels: labels === '' || labels === '-' ? [] : labels!.replace(/`/g, '').split(',').map((x) => x.trim()).sort() });
    }
    expect(processRow).toBe(true);

    const registry = new Registry();
    // A store, so that the reliable metrics exist too (they all do, registered at start).
    await started({ service: 'table', storePath: join(dir, 'table.db'), metrics: { registry } });
    const exposed = new Map<string, { type: string; labels: string[] }>();
    const others: string[] = [];
    for (const m of await registry.getMetricsAsJSON()) {
      if (!m.name.startsWith('zmesh_')) {
        others.push(m.name);
        continue;
      }
      const metric = registry.getSingleMetric(m.name) as unknown as { labelNames: string[] };
      exposed.set(m.name, { type: String(m.type), labels: [...metric.labelNames].sort() });
    }
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(exposed));
    expect(others.filter((n) => !/^(process|nodejs)_/.test(n))).toEqual([]);
  });
});
