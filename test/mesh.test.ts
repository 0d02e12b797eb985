/**
 * Core mesh over real ZeroMQ sockets, with nodes in separate OS processes on 127.0.0.1.
 *
 *   this process: client node ----DEALER/ROUTER----> child node(s)
 *                              <---PUB/SUB--------->
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createNode, type MeshNode } from '../transport/index.js';
import { NodeProc, killAll } from './helpers/proc.js';

const text = (s: string): Buffer => Buffer.from(s);
const str = (b: Uint8Array): string => Buffer.from(b).toString();

const nodes: MeshNode[] = [];
async function clientNode(options: Partial<Parameters<typeof createNode>[0]> = {}): Promise<MeshNode> {
  const node = createNode({ insecure: true, service: 'client', host: '127.0.0.1', discovery: 'static', ...options });
  nodes.push(node);
  await node.start();
  return node;
}

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await killAll();
});

describe('mesh', () => {
  it('mesh - request/reply reaches a handler in another process and returns its answer', async () => {
    const server = await NodeProc.start({ service: 'echo' });
    const client = await clientNode({ peers: [server.endpoints.router] });
    await client.waitForService('echo');
    expect(str(await client.request('echo', 'echo', text('hello')))).toBe('hello');
    expect(str(await client.request('echo', 'whoami', text('')))).toBe(server.nodeId);
    // The peer learned us from our hello and can call back with no configuration.
    await vi.waitFor(() => expect(server.peersUp.has(client.id)).toBe(true));
    client.handle('echo', (p) => Buffer.concat([text('client:'), p]));
    expect(await server.request('client', 'echo', 'ping')).toBe('client:ping');
  });

  it('mesh - one-way commands run the handler without a reply', async () => {
    const server = await NodeProc.start({ service: 'counter' });
    const client = await clientNode({ peers: [server.endpoints.router] });
    await client.waitForService('counter');
    for (let i = 0; i < 100; i++) client.command('counter', 'count', text('k'));
    await vi.waitFor(async () => expect((await server.counts())['k']).toBe(100));
  });

  it('mesh - events reach subscribers by topic prefix, in order, and nothing else', async () => {
    const pub = await NodeProc.start({ service: 'pub' });
    const client = await clientNode({ peers: [pub.endpoints.router] });
    await client.waitForService('pub');
    const orders: string[] = [];
    const all: string[] = [];
    await client.subscribe('orders.', (e) => orders.push(`${e.topic}#${str(e.payload)}`));
    await client.subscribe('', (e) => all.push(e.topic));
    const topics = ['orders.placed', 'stock.low', 'orders.confirmed', 'ordersX', 'orders.placed'];
    await client.request('pub', 'publish', text(JSON.stringify({ topics })));
    await vi.waitFor(() => expect(all).toHaveLength(5));
    expect(orders).toEqual(['orders.placed#0', 'orders.confirmed#2', 'orders.placed#4']);
    expect(all).toEqual(topics);
  });

  it('mesh - a subscription is live when subscribe() resolves: no slow-joiner loss', async () => {
    const pub = await NodeProc.start({ service: 'pub' });
    const client = await clientNode({ peers: [pub.endpoints.router] });
    await client.waitForService('pub');
    for (let round = 0; round < 10; round++) {
      const got: string[] = [];
      await client.subscribe(`r${round}.`, (e) => got.push(e.topic));
      const topics = Array.from({ length: 10 }, (_, i) => `r${round}.${i}`);
      await client.request('pub', 'publish', text(JSON.stringify({ topics })));
      await vi.waitFor(() => expect(got).toEqual(topics));
    }
  });

  it('mesh - events published the moment a peer is up are not lost (slow joiner)', async () => {
    const client = await clientNode();
    const got = new Map<string, string[]>();
    await client.subscribe('boot.', (e) => got.set(e.sender.service, [...(got.get(e.sender.service) ?? []), e.topic]));
    const topics = Array.from({ length: 20 }, (_, i) => `boot.${i}`);
    // On peer:up, in the same tick, ask the new peer to publish. Its SUB connection
    // was opened moments ago; only the sync handshake makes this safe.
    client.on('peer:up', ({ peer }) => client.command(peer.service, 'publish', text(JSON.stringify({ topics }))));
    const services = ['pub0', 'pub1', 'pub2', 'pub3'];
    await Promise.all(services.map((service) => NodeProc.start({ service, peers: [client.endpoints.router] })));
    await vi.waitFor(() => {
      for (const s of services) expect(got.get(s)).toEqual(topics);
    });
  });

  it('mesh - events flow the other way: a child subscribes to this node', async () => {
    const sub = await NodeProc.start({ service: 'sub' });
    const client = await clientNode({ peers: [sub.endpoints.router] });
    await client.waitForService('sub');
    await vi.waitFor(() => expect(sub.peersUp.has(client.id)).toBe(true));
    await sub.subscribe('metrics.');
    for (let i = 0; i < 50; i++) client.publish(i % 2 === 0 ? 'metrics.cpu' : 'logs.line', text(String(i)));
    await vi.waitFor(() => expect(sub.events).toHaveLength(25));
    expect(sub.events.map((e) => Number(e.payload))).toEqual(Array.from({ length: 25 }, (_, i) => i * 2));
  });

  it('mesh - load is balanced across two instances of a service, checked by counts', async () => {
    const a = await NodeProc.start({ service: 'worker' });
    const b = await NodeProc.start({ service: 'worker' });
    const client = await clientNode({ peers: [a.endpoints.router, b.endpoints.router] });
    await client.waitForService('worker', { count: 2 });
    // One at a time, every instance has 0 outstanding: strict round-robin.
    const sequential: Record<string, number> = {};
    for (let i = 0; i < 100; i++) {
      const who = str(await client.request('worker', 'whoami', text('')));
      sequential[who] = (sequential[who] ?? 0) + 1;
    }
    expect(sequential).toEqual({ [a.nodeId]: 50, [b.nodeId]: 50 });
    // Many in flight: least-outstanding keeps both busy.
    const replies = await Promise.all(Array.from({ length: 2000 }, () => client.request('worker', 'whoami', text(''))));
    const concurrent: Record<string, number> = {};
    for (const r of replies) concurrent[str(r)] = (concurrent[str(r)] ?? 0) + 1;
    expect(concurrent[a.nodeId]).toBeGreaterThan(600);
    expect(concurrent[b.nodeId]).toBeGreaterThan(600);
    // Commands are balanced too.
    for (let i = 0; i < 10; i++) client.command('worker', 'count', text('c'));
    await vi.waitFor(async () => {
      const [ca, cb] = [await a.counts(), await b.counts()];
      expect([ca['c'], cb['c']]).toEqual([5, 5]);
    });
  });

  it('mesh - a wildcard-bound peer reached over loopback keeps its link when its hello lists other addresses', async () => {
    // The server binds 0.0.0.0 and advertises the host's own addresses; the client
    // reaches it at 127.0.0.1. The server's hello (sent when it connects back) lists
    // addresses without 127.0.0.1: that must not tear down the client's live link.
    const server = createNode({ insecure: true, service: 'srv', host: '0.0.0.0', discovery: 'static' });
    nodes.push(server);
    server.handle('echo', (p) => p);
    await server.start();
    const client = createNode({ insecure: true, service: 'client', host: '127.0.0.1', discovery: 'static', peers: [`tcp://127.0.0.1:${server.endpoints.routerPort}`] });
    nodes.push(client);
    const downs: string[] = [];
    client.on('peer:down', ({ reason }) => downs.push(reason));
    await client.start();
    await client.waitForService('srv');
    const inFlight = Promise.allSettled(Array.from({ length: 200 }, (_, i) => client.request('srv', 'echo', Buffer.from(String(i)))));
    await server.waitForService('client');
    const results = await inFlight;
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(downs).toEqual([]);
  });

  it('mesh - 10,000 concurrent requests from one node are all answered and correlated', async () => {
    const server = await NodeProc.start({ service: 'echo' });
    const client = await clientNode({ peers: [server.endpoints.router] });
    await client.waitForService('echo');
    const n = 10_000;
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => client.request('echo', 'echo', text(`req-${i}`), { timeoutMs: 30_000 })));
    replies.forEach((r, i) => expect(str(r)).toBe(`req-${i}`));
    const s = client.stats();
    expect(s.requests).toMatchObject({ sent: n, answered: n, failed: 0, inFlight: 0 });
  });

  it('mesh - close() releases everything so the process exits by itself', async () => {
    const peer = await NodeProc.start({ service: 'echo' });
    const child = await NodeProc.start({ service: 'leaver', peers: [peer.endpoints.router] });
    await vi.waitFor(() => expect(child.peersUp.has(peer.nodeId)).toBe(true));
    // Both ways: the peer must have the leaver up, or its going down proves nothing.
    await vi.waitFor(() => expect(peer.peersUp.has(child.nodeId)).toBe(true));
    expect(await child.request('echo', 'echo', 'x')).toBe('x');
    await child.subscribe('anything.');
    await child.close();
    // The fixture drops its IPC channel after close() and never calls process.exit().
    const exit = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
    expect(exit).toEqual({ code: 0, signal: null });
    // Its goodbye told the peer, and for good: "silent for N ms" here means the peer
    // took it for up again (a closing node once welcomed the HELLO the peer sends
    // right after a BYE, which CI caught under load) or never got the BYE.
    await vi.waitFor(() => expect(peer.peersUp.has(child.nodeId)).toBe(false), { timeout: 15_000 });
    expect(peer.downReason.get(child.nodeId)).toBe('said goodbye');
  });
});
