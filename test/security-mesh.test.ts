/**
 * A secure mesh on loopback: CURVE on every socket, certificates checked both ways,
 * every message bound to its sender's key, permissions enforced on what it proves.
 * Attackers are real: raw sockets with real keys, members with real (narrow)
 * certificates, strangers with none.
 *
 *   product (store) <── cart (certificate: may call product.GetProduct, publish cart.)
 *          ^  ^
 *          |  └── order (store; may send product.ReserveStock)
 *          └───── raw attacker (a cart certificate, or none, or no CURVE at all)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import * as zmq from 'zeromq';
import {
  ErrorCode, createNode, generateNodeKeys, keyBytes, openStoreAdmin, z85Encode, type MeshEvent, type MeshNode, type NodeOptions, type Permissions,
} from '../transport/index.js';
import { RawDealer, envelope, pb } from './helpers/raw-peer.js';
import { RawMember, testAuthority } from './helpers/trust.js';

const ta = testAuthority();
const dir = mkdtempSync(join(tmpdir(), 'zmesh-secure-'));
afterAll(() => { ta.cleanup(); rmSync(dir, { recursive: true, force: true }); });
const cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

let n = 0;
async function node(o: NodeOptions): Promise<MeshNode> {
  const created = createNode({ host: '127.0.0.1', discovery: 'static', ...o });
  cleanup.push(() => created.close());
  await created.start();
  return created;
}
const peerOf = (x: MeshNode): string => `${x.endpoints.router}#${x.publicKey}`;
const rules = (allow: string[]) => ({ allow, deny: [] });
const CART: Partial<Permissions> = { send: rules(['product.GetProduct']), publish: rules(['cart.']), subscribe: rules(['order.']) };
const text = (s: string): Buffer => Buffer.from(s);

/** product with a store: GetProduct, reliable ReserveStock, reliable events on product.stock. */
async function product(extra: Partial<NodeOptions> = {}) {
  const applied: string[] = [];
  const p = await node({ service: 'product', storePath: join(dir, `product-${++n}.db`), security: ta.issue('product').security, ...extra });
  p.handle('GetProduct', (b) => Buffer.concat([text('product:'), b]));
  p.handleReliable('ReserveStock', (b, tx) => {
    applied.push(Buffer.from(b).toString());
    tx.publish('product.stock.reserved', b);
  });
  return { node: p, applied };
}

function raw(service: string, security: { keys: ReturnType<typeof generateNodeKeys>; certificate?: Uint8Array }, target: MeshNode): RawMember {
  const r = new RawMember(service, security, target);
  cleanup.push(() => r.close());
  return r;
}

describe('secure mesh', () => {
  it('secure - two certified nodes exchange requests and events over CURVE', async () => {
    const alpha = await node({ service: 'alpha', security: ta.issue('alpha').security });
    alpha.handle('echo', (p) => p);
    const beta = await node({ service: 'beta', peers: [peerOf(alpha)], security: ta.issue('beta').security });
    await beta.waitForService('alpha', { timeoutMs: 5_000 });
    expect(Buffer.from(await beta.request('alpha', 'echo', text('hi'))).toString()).toBe('hi');
    await alpha.waitForService('beta', { timeoutMs: 5_000 });
    const got: MeshEvent[] = [];
    await alpha.subscribe('t.', (e) => got.push(e));
    beta.publish('t.x', text('event'));
    await vi.waitFor(() => expect(got.map((e) => Buffer.from(e.payload).toString())).toEqual(['event']));
    expect(got[0]!.sender).toEqual({ node: beta.id, service: 'beta' });
    expect(alpha.id).toMatch(/^alpha-[0-9a-f]{16}$/);
    expect(alpha.stats().dropped).toMatchObject({ forbidden: 0, senderMismatch: 0 });
  });

  it('secure - a cart certificate cannot send product.ReserveStock, publish order.*, or $replay product.*', async () => {
    const { node: p, applied } = await product();
    const cartCreds = ta.issue('cart', { permissions: CART }).security;
    const cart = await node({ service: 'cart', peers: [peerOf(p)], storePath: join(dir, `cart-${++n}.db`), security: cartCreds, reliable: { maxAttempts: 2, backoffBaseMs: 5, backoffMaxMs: 10 } });
    await cart.waitForService('product', { timeoutMs: 5_000 });
    await p.waitForService('cart', { timeoutMs: 5_000 });
    // What the certificate allows works...
    expect(Buffer.from(await cart.request('product', 'GetProduct', text('mug'))).toString()).toBe('product:mug');
    // ...a request it does not allow is FORBIDDEN, and a reliable command is dead-lettered.
    await expect(cart.request('product', 'ListReservations', text(''))).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    await cart.send('product', 'ReserveStock', text('cart wants it'));
    const admin = openStoreAdmin(join(dir, `cart-${n}.db`));
    cleanup.push(() => admin.close());
    await vi.waitFor(() => expect(admin.dead().map((d) => d.lastError)).toEqual([expect.stringContaining(ErrorCode.FORBIDDEN)]), { timeout: 10_000 });
    expect(applied).toEqual([]);
    // Publishing order.* is dropped by every subscriber; cart.* goes through, after it.
    const seen: string[] = [];
    await p.subscribe('', (e) => seen.push(e.topic));
    cart.publish('order.confirmed', text('forged'));
    cart.publish('cart.updated', text('fine'));
    await vi.waitFor(() => expect(seen).toEqual(['cart.updated']));
    expect(p.stats().dropped.forbidden).toBeGreaterThanOrEqual(1);
    // $replay of product's own stream is FORBIDDEN for cart; of order.* it is allowed.
    const replay = (prefix: string) => cart.request('product', '$replay', pb.ReplayRequest.encode({ known: {}, prefix, max: 10, subscriber: 'x@y' }).finish());
    await expect(replay('product.')).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    expect(pb.ReplayReply.decode(await replay('order.')).events).toEqual([]);
  });

  it('secure - a stranger gets SECURITY for its HELLO and FORBIDDEN for requests; a client without CURVE never connects', async () => {
    const { node: p } = await product();
    const stranger = raw('cart', { keys: generateNodeKeys() }, p);
    const hello = await stranger.hello();
    expect(hello.kind).toBe(pb.Kind.ERROR);
    expect(pb.ErrorReply.decode(hello.payload).code).toBe(ErrorCode.SECURITY);
    const answer = await stranger.ask({ kind: pb.Kind.REQUEST, service: 'product', subject: 'GetProduct', payload: text('mug') });
    expect(pb.ErrorReply.decode(answer.payload).code).toBe(ErrorCode.FORBIDDEN);
    // Without CURVE the handshake itself fails: nothing reaches the node at all.
    const plain = new zmq.Dealer({ linger: 0 });
    cleanup.push(() => plain.close());
    const failed = new Promise<string>((resolve) => {
      plain.events.on('handshake:error:protocol', () => resolve('protocol'));
      plain.events.on('handshake:error:other', () => resolve('other'));
    });
    plain.connect(p.endpoints.router);
    void plain.send(envelope({ kind: pb.Kind.REQUEST, service: 'product', subject: 'GetProduct' })).catch(() => undefined);
    expect(['protocol', 'other']).toContain(await failed);
  });

  it('secure - forged senders: a BYE naming another node, an unsealed request and a MAC by another key change nothing', async () => {
    const { node: p } = await product();
    const order = await node({ service: 'order', peers: [peerOf(p)], security: ta.issue('order').security });
    await p.waitForService('order', { timeoutMs: 5_000 });
    const attacker = raw('cart', ta.issue('cart', { permissions: CART }).security, p);
    expect((await attacker.hello()).kind).toBe(pb.Kind.WELCOME);
    const before = p.stats().dropped.senderMismatch;
    // A BYE that names order, sealed by the attacker's own key.
    await attacker.send({ kind: pb.Kind.BYE, senderNode: order.id, senderService: 'order' });
    // An unsealed request in its own name, and one sealed but naming order.
    const unsealed = await attacker.ask({ kind: pb.Kind.REQUEST, service: 'product', subject: 'GetProduct', payload: text('x') }, { unsealed: true });
    expect(pb.ErrorReply.decode(unsealed.payload).code).toBe(ErrorCode.FORBIDDEN);
    const asOrder = await attacker.ask({ kind: pb.Kind.REQUEST, service: 'product', subject: 'GetProduct', payload: text('x'), senderNode: order.id, senderService: 'order' });
    expect(pb.ErrorReply.decode(asOrder.payload).code).toBe(ErrorCode.FORBIDDEN);
    expect(p.stats().dropped.senderMismatch).toBe(before + 3);
    // order is still up at product, and still served.
    expect(p.peers().find((x) => x.nodeId === order.id)?.state).toBe('up');
    expect(Buffer.from(await order.request('product', 'GetProduct', text('ok'))).toString()).toBe('product:ok');
  });

  it('secure - a bound connection needs no MAC, and its binding proves only the key that made it', async () => {
    const auditFile = join(dir, `audit-${++n}.jsonl`);
    const { node: p } = await product({ security: { ...ta.issue('product').security, auditFile } });
    const order = await node({ service: 'order', peers: [peerOf(p)], security: ta.issue('order').security });
    await p.waitForService('order', { timeoutMs: 5_000 });
    const ask = (m: RawMember, fields: Parameters<RawMember['ask']>[0] = {}) =>
      m.ask({ kind: pb.Kind.REQUEST, service: 'product', subject: 'GetProduct', payload: text('x'), ...fields }, { unsealed: true });
    const code = (r: { kind: number; payload: Uint8Array }) => (r.kind === pb.Kind.ERROR ? pb.ErrorReply.decode(r.payload).code : 'REPLY');

    // Bound by its own BIND frame: an unsealed HELLO and unsealed requests are served.
    const member = raw('cart', ta.issue('cart', { permissions: CART }).security, p);
    await member.bind();
    expect((await member.helloUnsealed()).kind).toBe(pb.Kind.WELCOME);
    expect(code(await ask(member))).toBe('REPLY');
    // ...but only in its own name: naming order on its bound connection is a mismatch.
    const mismatched = p.stats().dropped.senderMismatch;
    expect(code(await ask(member, { senderNode: order.id, senderService: 'order' }))).toBe(ErrorCode.FORBIDDEN);
    expect(p.stats().dropped.senderMismatch).toBe(mismatched + 1);

    // A BIND frame naming order's key, with a tag the attacker cannot make: refused and
    // audited; the connection stays unbound, so unsealed messages in order's name fail.
    const forger = raw('cart', ta.issue('cart', { permissions: CART }).security, p);
    const forged = forger.bindFrame();
    keyBytes(z85Encode(Buffer.from(order.publicKey!, 'hex'))).copy(forged, 4);
    const refused = p.stats().dropped.forbidden;
    await forger.bind(forged);
    await vi.waitFor(() => expect(p.stats().dropped.forbidden).toBe(refused + 1));
    expect(code(await ask(forger, { senderNode: order.id, senderService: 'order' }))).toBe(ErrorCode.FORBIDDEN);
    // A frame made for another server does not bind here either.
    const elsewhere = raw('cart', ta.issue('cart', { permissions: CART }).security, order);
    const wrongServer = new RawMember('cart', elsewhere.security, p);
    cleanup.push(() => wrongServer.close());
    await wrongServer.bind(elsewhere.bindFrame());
    expect((await wrongServer.helloUnsealed()).kind).toBe(pb.Kind.ERROR);

    // Handover: a second connection that takes a bound member's routing id over is
    // announced before its first message, so it inherits nothing.
    const victim = new RawMember('cart', ta.issue('cart', { permissions: CART }).security, p, { routingId: 'victim' });
    cleanup.push(() => victim.close());
    await victim.bind();
    expect((await victim.helloUnsealed()).kind).toBe(pb.Kind.WELCOME);
    const thief = new RawMember('cart', ta.issue('cart', { permissions: CART }).security, p, { routingId: 'victim' });
    cleanup.push(() => thief.close());
    expect(code(await ask(thief, { senderNode: victim.nodeId }))).toBe(ErrorCode.FORBIDDEN);
    await thief.bind();
    expect(code(await ask(thief, { senderNode: victim.nodeId }))).toBe(ErrorCode.FORBIDDEN);
    expect((await thief.helloUnsealed()).kind).toBe(pb.Kind.WELCOME);
    expect(code(await ask(thief))).toBe('REPLY');

    // The zmesh link between order and product, bound both ways, still works.
    expect(Buffer.from(await order.request('product', 'GetProduct', text('ok'))).toString()).toBe('product:ok');
    const lines = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; reason?: string; detail?: string });
    expect(lines.some((l) => l.event === 'handshake.rejected' && l.reason === 'bad-mac' && /BIND/.test(l.detail ?? ''))).toBe(true);
  });

  it('secure - a member\'s hello naming another node\'s address does not take that node\'s link', async () => {
    const { node: p } = await product();
    const order = await node({ service: 'order', peers: [peerOf(p)], security: ta.issue('order').security });
    await p.waitForService('order', { timeoutMs: 5_000 });
    const attacker = raw('cart', ta.issue('cart', { permissions: CART }).security, p);
    // "I am reachable at order's address", with the attacker's own key.
    expect((await attacker.hello([order.endpoints.router])).kind).toBe(pb.Kind.WELCOME);
    expect(p.peers().find((x) => x.nodeId === order.id)?.state).toBe('up');
    expect(Buffer.from(await order.request('product', 'GetProduct', text('still'))).toString()).toBe('product:still');
    // product still reaches the real order over its link (order answers: no such method).
    await expect(p.request('order', 'missing', text(''))).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_METHOD, remoteNode: order.id });
  });

  it('secure - a member naming another sender\'s stream id only moves a watermark of its own', async () => {
    const { node: p, applied } = await product();
    const orderStore = join(dir, `order-${++n}.db`);
    const order = await node({ service: 'order', peers: [peerOf(p)], storePath: orderStore, security: ta.issue('order').security });
    await order.waitForService('product', { timeoutMs: 5_000 });
    await order.send('product', 'ReserveStock', text('first'));
    await vi.waitFor(() => expect(applied).toEqual(['first']));
    const orderStream = (order.db!.prepare("SELECT value FROM zmesh_meta WHERE key = 'store_id'").get() as { value: string }).value;
    // A member allowed to send ReserveStock claims order's stream at seq 2^53 - 1.
    const rogue = raw('order', ta.issue('order').security, p);
    expect((await rogue.hello()).kind).toBe(pb.Kind.WELCOME);
    const ack = await rogue.ask({
      kind: pb.Kind.COMMAND, service: 'product', subject: 'ReserveStock', payload: text('poison'),
      headers: { 'zmesh-stream': orderStream, 'zmesh-seq': String(Number.MAX_SAFE_INTEGER), 'zmesh-prev': '0' },
    });
    expect(ack.kind).toBe(pb.Kind.ACK);
    // order's next command is still applied: its watermark did not move.
    await order.send('product', 'ReserveStock', text('second'));
    await vi.waitFor(() => expect(applied).toEqual(['first', 'poison', 'second']));
  });

  it('secure - an expired or revoked certificate is refused at the handshake and audited; revoking a member evicts it', async () => {
    const auditFile = join(dir, `audit-${++n}.jsonl`);
    const revocationsFile = join(dir, `revoked-${n}.list`);
    const { node: p } = await product({ security: { ...ta.issue('product').security, auditFile, revocationsFile } });
    const expired = raw('cart', ta.issue('cart', { permissions: CART, notBeforeMs: Date.now() - 7_200_000, notAfterMs: Date.now() - 3_600_000 }).security, p);
    expect(pb.ErrorReply.decode((await expired.hello()).payload)).toMatchObject({ code: ErrorCode.SECURITY, message: expect.stringContaining('expired') });
    const revokedCreds = ta.issue('cart', { permissions: CART });
    writeFileSync(revocationsFile, ta.revoke([revokedCreds.serial]));
    const revoked = raw('cart', revokedCreds.security, p);
    await vi.waitFor(async () => {
      expect(pb.ErrorReply.decode((await revoked.hello()).payload).message).toContain('revoked');
    }, { timeout: 5_000 });
    // A member admitted first, revoked later, is evicted and refused from then on.
    const member = ta.issue('cart', { permissions: CART });
    const cart = await node({ service: 'cart', peers: [peerOf(p)], security: member.security });
    await cart.waitForService('product', { timeoutMs: 5_000 });
    writeFileSync(revocationsFile, ta.revoke([revokedCreds.serial, member.serial]));
    await vi.waitFor(() => expect(cart.peers().find((x) => x.service === 'product')?.state).not.toBe('up'), { timeout: 10_000 });
    await vi.waitFor(() => {
      const lines = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const reasons = lines.filter((l) => l['event'] === 'handshake.rejected').map((l) => l['reason']);
      expect(reasons).toEqual(expect.arrayContaining(['expired', 'revoked']));
      expect(lines.every((l) => l['schema'] === 'zmesh.audit.v1' && typeof (l['peer'] as { fingerprint?: string }).fingerprint === 'string')).toBe(true);
    }, { timeout: 5_000 });
  });

  it('secure - rotating a node\'s certificate keeps the mesh running', async () => {
    const { node: p } = await product();
    const keys = generateNodeKeys();
    const first = ta.issue('cart', { permissions: CART, keys, notAfterMs: Date.now() + 60_000 });
    const cart = createNode({ service: 'cart', host: '127.0.0.1', peers: [peerOf(p)], security: first.security });
    await cart.start();
    await cart.waitForService('product', { timeoutMs: 5_000 });
    const id = cart.id;
    await cart.close();
    // Same key, so the same node id; a new certificate with a new serial and expiry.
    const renewed = ta.issue('cart', { permissions: CART, keys, notAfterMs: Date.now() + 3_600_000 });
    const again = await node({ service: 'cart', peers: [peerOf(p)], security: renewed.security });
    expect(again.id).toBe(id);
    await again.waitForService('product', { timeoutMs: 5_000 });
    expect(Buffer.from(await again.request('product', 'GetProduct', text('again'))).toString()).toBe('product:again');
  });

  it('secure - nothing crosses the wire in clear; insecure, the same request shows its sku', async () => {
    async function capture(secure: boolean): Promise<Buffer> {
      const server = await node(secure ? { service: 'product', security: ta.issue('product').security } : { service: 'product', insecure: true });
      server.handle('GetProduct', (b) => b);
      const seen: Buffer[] = [];
      const relay: Server = createServer((client: Socket) => {
        const upstream = connect(server.endpoints.routerPort, '127.0.0.1');
        client.on('data', (d) => { seen.push(d); upstream.write(d); });
        upstream.on('data', (d) => { seen.push(d); client.write(d); });
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
      });
      await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
      cleanup.push(() => new Promise<void>((resolve) => relay.close(() => resolve())));
      const port = (relay.address() as { port: number }).port;
      const via = `tcp://127.0.0.1:${port}${secure ? `#${server.publicKey}` : ''}`;
      const client = await node(secure ? { service: 'cart', peers: [via], security: ta.issue('cart').security } : { service: 'cart', peers: [via], insecure: true });
      await client.waitForService('product', { timeoutMs: 5_000 });
      expect(Buffer.from(await client.request('product', 'GetProduct', text('sku-zmesh-secret-mug'))).toString()).toBe('sku-zmesh-secret-mug');
      return Buffer.concat(seen);
    }
    expect((await capture(true)).includes('sku-zmesh-secret-mug')).toBe(false);
    expect((await capture(false)).includes('sku-zmesh-secret-mug')).toBe(true);
  });
});

describe('authorized keys and audit', () => {
  it('secure - authorized-keys mode: listed keys join, an unlisted one fails the CURVE handshake itself', async () => {
    const a = generateNodeKeys();
    const b = generateNodeKeys();
    const listed = [{ publicKey: a.publicKey, service: 'alpha' }, { publicKey: b.publicKey, service: 'beta' }];
    const alpha = await node({ service: 'alpha', security: { keys: a, authorizedKeys: listed } });
    alpha.handle('echo', (p) => p);
    const beta = await node({ service: 'beta', peers: [peerOf(alpha)], security: { keys: b, authorizedKeys: listed } });
    await beta.waitForService('alpha', { timeoutMs: 5_000 });
    expect(Buffer.from(await beta.request('alpha', 'echo', text('listed'))).toString()).toBe('listed');
    const outsider = generateNodeKeys();
    const d = new zmq.Dealer({ linger: 0, curveServerKey: outsider.publicKey, curvePublicKey: outsider.publicKey, curveSecretKey: outsider.secretKey });
    cleanup.push(() => d.close());
    d.curveServerKey = z85Encode(Buffer.from(alpha.publicKey!, 'hex'));
    const refused = new Promise<void>((resolve) => d.events.on('handshake:error:auth', () => resolve()));
    d.connect(alpha.endpoints.router);
    await refused;
  });

  it('secure - audit: a certificate that runs out within a week warns; a known address answering with another key is recorded', async () => {
    const auditFile = join(dir, `audit-${++n}.jsonl`);
    const soon = ta.issue('product', { notAfterMs: Date.now() + 24 * 3_600_000 }).security;
    const p = await node({ service: 'product', security: { ...soon, auditFile } });
    // A discovery source of our own proposes p's endpoint, then the same endpoint with another key.
    const other = generateNodeKeys();
    const source = {
      async start(_l: unknown, sink: { propose(c: { endpoints: string[]; source: string; publicKey?: string }): void }) {
        sink.propose({ endpoints: [p.endpoints.router], source: 'test', publicKey: p.publicKey! });
        sink.propose({ endpoints: [p.endpoints.router], source: 'test', publicKey: keyBytes(other.publicKey).toString('hex') });
      },
      async close() { /* nothing held */ },
    };
    const watcherAudit = join(dir, `audit-${++n}.jsonl`);
    await node({ service: 'watcher', sources: [source], security: { ...ta.issue('watcher').security, auditFile: watcherAudit } });
    const events = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; remainingMs?: number }) : []);
    await vi.waitFor(() => expect(events(auditFile).find((e) => e.event === 'certificate.expiring')?.remainingMs).toBeLessThan(24 * 3_600_000 + 1), { timeout: 5_000 });
    await vi.waitFor(() => expect(events(watcherAudit).map((e) => e.event)).toContain('peer.key-changed'), { timeout: 5_000 });
  });
});

describe('insecure mesh (what it allows)', () => {
  it('insecure - anyone can forge a BYE that cuts a link, and call anything', async () => {
    const p = await node({ service: 'product', insecure: true });
    p.handle('ListReservations', () => text('everything'));
    const order = await node({ service: 'order', peers: [p.endpoints.router], insecure: true });
    await p.waitForService('order', { timeoutMs: 5_000 });
    const rawPeer = new RawDealer(p.endpoints.router);
    cleanup.push(() => rawPeer.close());
    const id = Buffer.alloc(16, 9);
    await rawPeer.send(envelope({ id, kind: pb.Kind.REQUEST, service: 'product', subject: 'ListReservations', senderNode: 'anyone', senderService: 'anyone' }));
    expect(Buffer.from((await rawPeer.answerTo(id)).payload).toString()).toBe('everything');
    await rawPeer.send(envelope({ kind: pb.Kind.BYE, senderNode: order.id, senderService: 'order' }));
    await vi.waitFor(() => expect(p.peers().find((x) => x.nodeId === order.id)?.state ?? 'down').not.toBe('up'));
    expect(existsSync(dir)).toBe(true);
  });
});
