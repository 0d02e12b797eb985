/**
 * Membership that spreads (proto/README.md section 5.1): nodes given one common seed
 * learn each other from it, and what a peer lists is bounded. Real processes on
 * 127.0.0.1, static discovery only (no mDNS anywhere).
 *
 *          seed
 *         /    \          alpha and beta are given the seed's endpoint only;
 *     alpha ---- beta     the link between them comes from `$members`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AddItem, Checkout, CheckoutStatus, GetOrder, OrderStatus } from '../nodes/commerce/api.js';
import { startCluster, type Cluster } from '../nodes/demo/cluster.js';
import { SCARCE_SKU } from '../nodes/product/catalog.js';
import { call, createNode, type MeshNode } from '../transport/index.js';
import { MAX_MEMBERS_LISTED, MAX_PENDING_PER_INFORMANT } from '../transport/bounds.js';
import { ForeignPeer } from './helpers/foreign-peer.js';
import { killAll, NodeProc } from './helpers/proc.js';
import { envelope, pb, RawDealer } from './helpers/raw-peer.js';
import { testAuthority } from './helpers/trust.js';

const FAST = { heartbeatIntervalMs: 200, suspectAfterMs: 600, deadAfterMs: 1_000 };
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'zmesh-members-'));
  dirs.push(d);
  return d;
};
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await killAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('membership', () => {
  it('membership - three nodes seeded with one common seed all see each other and deliver reliable commands both ways', async () => {
    const dir = tempDir();
    const seed = await NodeProc.start({ service: 'seed', storePath: join(dir, 'seed.db'), ...FAST });
    const seedPeer = seed.endpoints.router;
    const alpha = await NodeProc.start({ service: 'alpha', peers: [seedPeer], storePath: join(dir, 'alpha.db'), ...FAST });
    const beta = await NodeProc.start({ service: 'beta', peers: [seedPeer], storePath: join(dir, 'beta.db'), ...FAST });

    await vi.waitFor(() => {
      expect([...alpha.peersUp].sort()).toEqual([beta.nodeId, seed.nodeId].sort());
      expect([...beta.peersUp].sort()).toEqual([alpha.nodeId, seed.nodeId].sort());
      expect([...seed.peersUp].sort()).toEqual([alpha.nodeId, beta.nodeId].sort());
    }, { timeout: 15_000, interval: 100 });

    for (let i = 1; i <= 3; i++) {
      await alpha.send('beta', 'record', `a${i}`);
      await beta.send('alpha', 'record', `b${i}`);
    }
    await vi.waitFor(async () => {
      expect((await beta.records())[alpha.nodeId]).toEqual(['a1', 'a2', 'a3']);
      expect((await alpha.records())[beta.nodeId]).toEqual(['b1', 'b2', 'b3']);
    }, { timeout: 15_000, interval: 100 });
    // The commands went straight to each other, not through the seed.
    expect(await seed.records()).toEqual({});
  });

  it('membership - a secure mesh spreads from seeds given with their keys; learned members prove theirs in the handshake', async () => {
    const authority = testAuthority();
    cleanups.push(() => authority.cleanup());
    const node = (service: string, peers: string[] = []): MeshNode => {
      const n = createNode({ service, host: '127.0.0.1', discovery: 'static', peers, security: authority.issue(service).security, ...FAST });
      cleanups.push(() => n.close());
      return n;
    };
    const seed = node('seed');
    await seed.start();
    const seedPeer = `${seed.endpoints.router}#${seed.publicKey!}`;
    const alpha = node('alpha', [seedPeer]);
    const beta = node('beta', [seedPeer]);
    await Promise.all([alpha.start(), beta.start()]);
    await alpha.waitForService('beta', { timeoutMs: 15_000 });
    await beta.waitForService('alpha', { timeoutMs: 15_000 });
    beta.handle('whoami', () => Buffer.from(beta.id));
    expect(Buffer.from(await alpha.request('beta', 'whoami', new Uint8Array(0))).toString()).toBe(beta.id);
    // alpha reached beta on the endpoint and key the seed listed.
    expect(alpha.peers().find((p) => p.nodeId === beta.id)?.endpoint).toBe(beta.endpoints.router);
  });

  it('membership - $members as the spec says: a foreign client reads the list, and a peer whose hello does not offer it is never asked', async () => {
    const seed = await NodeProc.start({ service: 'seed', ...FAST });
    const alpha = await NodeProc.start({ service: 'alpha', peers: [seed.endpoints.router], ...FAST });
    await vi.waitFor(() => expect(seed.peersUp.has(alpha.nodeId)).toBe(true), { timeout: 10_000, interval: 50 });
    // A REQUEST needs no prior HELLO (section 5).
    const raw = new RawDealer(seed.endpoints.router);
    cleanups.push(() => raw.close());
    const ask = envelope({ kind: pb.Kind.REQUEST, service: 'seed', subject: '$members', ttlMs: 5_000 });
    await raw.send(ask);
    const answer = await raw.answerTo(pb.Envelope.decode(ask[0]!).id);
    expect(answer.kind).toBe(pb.Kind.REPLY);
    const listed = pb.Members.decode(answer.payload).members;
    expect(listed.map((m) => ({ nodeId: m.nodeId, service: m.service, first: m.routerEndpoints?.[0], publicKey: m.publicKey })))
      .toEqual([{ nodeId: alpha.nodeId, service: 'alpha', first: alpha.endpoints.router, publicKey: '' }]);

    // An older peer: its hello says nothing of lists_members.
    const old = new ForeignPeer();
    const asked: string[] = [];
    old.onEnvelope = (e) => {
      if (e.kind === pb.Kind.REQUEST) asked.push(e.subject);
      return undefined;
    };
    await old.start();
    cleanups.push(() => old.close());
    const node = await NodeProc.start({ service: 'gamma', peers: [old.routerEndpoint], ...FAST });
    await vi.waitFor(() => expect(node.peersUp.has('foreign-1')).toBe(true), { timeout: 10_000, interval: 50 });
    // A node asks a peer as soon as it is up: a request sent after that on the same
    // link arrives after any $members would have.
    expect(await node.request('foreign', 'greet', 'old peer')).toBe('hello old peer');
    expect(asked).toEqual([]);
  });

  it('membership - the commerce checkout confirms with cart and order seeded with product only', async () => {
    const dataDir = tempDir();
    const mesh = `seeded-${process.pid}`;
    const loopback = ['--interface', '127.0.0.1'];
    const cluster: Cluster = await startCluster({
      dataDir, mesh, stock: 5, discovery: 'seed', insecure: true,
      extraArgs: { product: loopback, order: loopback, cart: loopback },
    });
    cleanups.push(async () => { await cluster.stop(); });
    // The shopper is given all three, as before: what is tested is cart <-> order.
    const shopper: MeshNode = createNode({
      service: 'shopper', mesh, insecure: true, host: '127.0.0.1', discovery: 'static',
      peers: [...cluster.procs.values()].map((p) => p.peer),
    });
    cleanups.push(() => shopper.close());
    await shopper.start();
    await shopper.waitForService('cart', { timeoutMs: 10_000 });
    await shopper.waitForService('order', { timeoutMs: 10_000 });

    const cartId = 'cart-seeded-1';
    await call(shopper, AddItem, { cartId, sku: SCARCE_SKU, quantity: 1 });
    const reply = await call(shopper, Checkout, { cartId, idempotencyKey: 'seeded-1' });
    expect(reply.status).toBe(CheckoutStatus.CHECKOUT_STATUS_SUBMITTED);
    await vi.waitFor(async () => {
      const order = await call(shopper, GetOrder, { orderId: reply.orderId }, { timeoutMs: 2_000 });
      expect(order.status).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    }, { timeout: 20_000, interval: 250 });
  });

  it('membership - a peer listing 10 000 made-up members gets a few dialled at a time, dropped when it goes', async () => {
    // Listeners that accept TCP and never speak ZMTP: what the node dials, counted.
    const open = new Set<Socket>();
    const dialled = new Set<number>();
    const servers: Server[] = [];
    for (let i = 0; i < 2 * MAX_PENDING_PER_INFORMANT; i++) {
      const server = createServer((s) => {
        dialled.add(i);
        open.add(s);
        s.on('close', () => open.delete(s));
        s.on('error', () => undefined);
        // Read (and drop) the ZMTP greeting: a paused socket never sees the FIN.
        s.resume();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
    }
    cleanups.push(() => {
      for (const s of open) s.destroy();
      return Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined);
    });
    const port = (s: Server): number => (s.address() as { port: number }).port;

    const members = Array.from({ length: 10_000 }, (_, i) => ({
      nodeId: `fake-${i}`, service: 'fake',
      routerEndpoints: [i < servers.length ? `tcp://127.0.0.1:${port(servers[i]!)}` : `tcp://127.0.${(i >> 8) & 255}.${(i & 255) || 1}:9`],
    }));
    const hostile = new ForeignPeer();
    hostile.helloExtra = { listsMembers: true };
    let asked = 0;
    hostile.onEnvelope = (e) => {
      if (e.kind !== pb.Kind.REQUEST || e.subject !== '$members') return undefined;
      asked++;
      return envelope({ senderNode: 'foreign-1', senderService: 'foreign', kind: pb.Kind.REPLY, correlationId: e.id, payload: pb.Members.encode({ members }).finish() });
    };
    await hostile.start();
    cleanups.push(() => hostile.close());

    const node = await NodeProc.start({ service: 'victim', peers: [hostile.routerEndpoint], ...FAST });
    await vi.waitFor(async () => {
      expect(asked).toBeGreaterThanOrEqual(1);
      expect((await node.stats()).bounds.membersIgnored).toBeGreaterThanOrEqual(10_000 - MAX_PENDING_PER_INFORMANT);
    }, { timeout: 10_000, interval: 50 });
    // Past the 64 read, and past the 8 pending one peer's list may hold: ignored.
    expect(MAX_MEMBERS_LISTED).toBeLessThan(10_000);
    await vi.waitFor(() => expect(dialled.size).toBe(MAX_PENDING_PER_INFORMANT), { timeout: 5_000, interval: 50 });
    expect([...dialled].every((i) => i < MAX_PENDING_PER_INFORMANT)).toBe(true);

    // The informant goes (silent, then down): what it listed goes with it.
    hostile.close();
    await vi.waitFor(() => expect(open.size).toBe(0), { timeout: 10_000, interval: 50 });
    expect(dialled.size).toBe(MAX_PENDING_PER_INFORMANT);
    expect((await node.stats()).bounds.candidatesRefused).toBe(0);
  });
});
