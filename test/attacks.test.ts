/**
 * The attacks of the trust issue, each run against a commerce mesh: secure (every
 * node holds a certificate with the permissions nodes/commerce/permissions.ts derives),
 * where each must fail with the invariants intact, and insecure, where the same
 * attack is shown to work (what `--insecure` allows).
 *
 *   product (stock 3 of the scarce mug) <── order <── cart <── shopper (client cert)
 *        ^            ^         ^
 *        └────────────┴─────────┴── attacker: a stranger (keys, no certificate),
 *                                   or a member holding a cart certificate
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import * as zmq from 'zeromq';
import { call, createNode, generateNodeKeys, type MeshNode } from '../transport/index.js';
import {
  AddItem, Checkout, CheckoutStatus, GetCart, GetProduct, ListOrders, ListReservations, OrderConfirmed, OrderStatus, ReleaseStock, ReserveStock,
} from '../nodes/commerce/api.js';
import { SERVICE_PERMISSIONS, clientPermissions } from '../nodes/commerce/permissions.js';
import type { RunningService } from '../nodes/commerce/service.js';
import { startCart } from '../nodes/cart/service.js';
import { startOrder } from '../nodes/order/service.js';
import { startProduct } from '../nodes/product/service.js';
import { SCARCE_SKU, demoCatalog } from '../nodes/product/catalog.js';
import { RawDealer, envelope, pb } from './helpers/raw-peer.js';
import { RawMember, testAuthority } from './helpers/trust.js';

const ta = testAuthority();
const root = mkdtempSync(join(tmpdir(), 'zmesh-attacks-'));
afterAll(() => { ta.cleanup(); rmSync(root, { recursive: true, force: true }); });
const cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

type Service = 'product' | 'cart' | 'order';
const PRICE = demoCatalog()[0]!.priceCents;
let dirs = 0;
const dir = (): string => {
  const d = join(root, String(++dirs));
  mkdirSync(d);
  return d;
};
const peerOf = (n: MeshNode): string => (n.publicKey === undefined ? n.endpoints.router : `${n.endpoints.router}#${n.publicKey}`);

interface Mesh {
  product: MeshNode;
  order: MeshNode;
  cart: MeshNode;
  shopper: MeshNode;
  /** One shopper's whole checkout of `quantity` mugs; resolves with its order's final status. */
  buy(cartId: string, quantity: number): Promise<number>;
  stock(): Promise<{ stock: number; reserved: number }>;
}

async function mesh(secure: boolean): Promise<Mesh> {
  const o = (service: Service, peers: string[] = []) => ({
    host: '127.0.0.1', discovery: 'static' as const, peers,
    ...(secure ? { security: ta.issue(service, { permissions: SERVICE_PERMISSIONS[service] }).security } : { insecure: true }),
  });
  const keep = async (s: Promise<RunningService>): Promise<MeshNode> => {
    const r = await s;
    cleanup.push(() => r.close());
    return r.node;
  };
  const product = await keep(startProduct({ dataDir: dir(), ...o('product'), catalog: demoCatalog(3) }));
  const order = await keep(startOrder({ dataDir: dir(), ...o('order', [peerOf(product)]) }));
  const cart = await keep(startCart({ dataDir: dir(), ...o('cart', [peerOf(product), peerOf(order)]) }));
  const shopper = createNode({
    service: 'cli', host: '127.0.0.1', peers: [peerOf(product), peerOf(order), peerOf(cart)],
    ...(secure ? { security: ta.issue('cli', { permissions: clientPermissions() }).security } : { insecure: true }),
  });
  cleanup.push(() => shopper.close());
  await shopper.start();
  for (const s of ['product', 'order', 'cart']) await shopper.waitForService(s, { timeoutMs: 10_000 });
  await cart.waitForService('order', { timeoutMs: 10_000 });
  await order.waitForService('product', { timeoutMs: 10_000 });
  return {
    product, order, cart, shopper,
    buy: async (cartId, quantity) => {
      await call(shopper, AddItem, { cartId, sku: SCARCE_SKU, quantity });
      const reply = await call(shopper, Checkout, { cartId, idempotencyKey: `key-${cartId}` });
      if (reply.status === CheckoutStatus.CHECKOUT_STATUS_REJECTED) return OrderStatus.ORDER_STATUS_REJECTED;
      let status = OrderStatus.ORDER_STATUS_PENDING;
      await vi.waitFor(async () => {
        const orders = (await call(shopper, ListOrders, { status: OrderStatus.ORDER_STATUS_UNSPECIFIED, limit: 0 })).orders;
        status = orders.find((x) => x.orderId === reply.orderId)?.status ?? OrderStatus.ORDER_STATUS_PENDING;
        expect(status).not.toBe(OrderStatus.ORDER_STATUS_PENDING);
      }, { timeout: 10_000, interval: 50 });
      return status;
    },
    stock: async () => {
      const p = await call(shopper, GetProduct, { sku: SCARCE_SKU });
      return { stock: p.stock, reserved: p.reserved };
    },
  };
}

/** A member with a cart certificate, or a stranger with keys only, speaking by hand. */
function attacker(target: MeshNode, kind: 'member' | 'stranger'): RawMember {
  const security = kind === 'member' ? ta.issue('cart', { permissions: SERVICE_PERMISSIONS.cart }).security : { keys: generateNodeKeys() };
  const a = new RawMember('cart', security, target);
  cleanup.push(() => a.close());
  return a;
}
/** A reliable command as the wire spec writes it (section 14). */
const reliable = (service: string, method: string, payload: Uint8Array, stream: string, seq: number) => ({
  kind: pb.Kind.COMMAND, service, subject: method, payload,
  headers: { 'zmesh-stream': stream, 'zmesh-seq': String(seq), 'zmesh-prev': String(seq - 1) },
});
const code = (e: { kind: number; payload: Uint8Array }): string => (e.kind === pb.Kind.ERROR ? pb.ErrorReply.decode(e.payload).code : pb.Kind[e.kind]!);
const storeId = (n: MeshNode): string => (n.db!.prepare("SELECT value FROM zmesh_meta WHERE key = 'store_id'").get() as { value: string }).value;

describe('attacks on a secure commerce mesh', () => {
  it('attack - a forged ReleaseStock for a confirmed order: refused, no oversell', async () => {
    const m = await mesh(true);
    expect(await m.buy('c-1', 3)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    const orderId = (await call(m.shopper, ListOrders, { status: OrderStatus.ORDER_STATUS_CONFIRMED, limit: 0 })).orders[0]!.orderId;
    const release = ReleaseStock.codec.encode({ orderId, reason: 'forged' });
    const stranger = attacker(m.product, 'stranger');
    expect(code(await stranger.hello())).toBe('ZMESH_ERR_SECURITY');
    expect(code(await stranger.ask(reliable('product', 'ReleaseStock', release, storeId(m.order), 1_000)))).toBe('ZMESH_ERR_FORBIDDEN');
    const member = attacker(m.product, 'member');
    expect(code(await member.hello())).toBe('WELCOME');
    expect(code(await member.ask(reliable('product', 'ReleaseStock', release, 'abcdef0123456789', 1)))).toBe('ZMESH_ERR_FORBIDDEN');
    expect(await m.stock()).toEqual({ stock: 0, reserved: 3 });
    expect(await m.buy('c-2', 3)).toBe(OrderStatus.ORDER_STATUS_REJECTED);
  });

  it('attack - watermark poisoning with order\'s store id and seq 2^53-1: refused, checkouts go on', async () => {
    const m = await mesh(true);
    const poison = ReserveStock.codec.encode({ orderId: 'poison', items: [{ sku: SCARCE_SKU, quantity: 1, unitPriceCents: PRICE }] });
    for (const kind of ['stranger', 'member'] as const) {
      const a = attacker(m.product, kind);
      await a.hello();
      expect(code(await a.ask(reliable('product', 'ReserveStock', poison, storeId(m.order), Number.MAX_SAFE_INTEGER)))).toBe('ZMESH_ERR_FORBIDDEN');
    }
    expect(await m.buy('c-1', 1)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    expect(await m.buy('c-2', 2)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
  });

  it('attack - a forged $ack with seq 1e15: refused from a stranger, kept apart and bounded from a member', async () => {
    const m = await mesh(true);
    expect(await m.buy('c-1', 1)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    const ack = pb.DurableAck.encode({ stream: storeId(m.product), subscriber: `order-stock@${storeId(m.order)}`, seq: 1e15 }).finish();
    const stranger = attacker(m.product, 'stranger');
    await stranger.hello();
    const forbiddenBefore = m.product.stats().dropped.forbidden;
    await stranger.send({ kind: pb.Kind.COMMAND, service: 'product', subject: '$ack', payload: ack });
    await vi.waitFor(() => expect(m.product.stats().dropped.forbidden).toBeGreaterThan(forbiddenBefore));
    const member = attacker(m.product, 'member');
    await member.hello();
    await member.send({ kind: pb.Kind.COMMAND, service: 'product', subject: '$ack', payload: ack });
    // The member's ack is filed under its own key and cannot pass the log's head, so
    // order's own progress (what pruning keeps for) is untouched.
    await vi.waitFor(() => {
      const acks = m.product.db!.prepare('SELECT subscriber, seq FROM zmesh_event_acks').all() as Array<{ subscriber: string; seq: number }>;
      const head = m.product.db!.prepare('SELECT max(seq) AS h FROM zmesh_events').get() as { h: number };
      const forged = acks.filter((a) => a.subscriber.endsWith(`order-stock@${storeId(m.order)}`) && a.subscriber.startsWith(`${member.nodeId.split('-')[1]}/`));
      expect(forged).toHaveLength(1);
      expect(forged[0]!.seq).toBeLessThanOrEqual(head.h);
    });
    expect(await m.buy('c-2', 1)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
  });

  it('attack - a forged BYE naming order: cart keeps its link, checkouts go on', async () => {
    const m = await mesh(true);
    for (const kind of ['stranger', 'member'] as const) {
      const a = attacker(m.cart, kind);
      await a.hello();
      await a.send({ kind: pb.Kind.BYE, senderNode: m.order.id, senderService: 'order' });
    }
    await vi.waitFor(() => expect(m.cart.stats().dropped.senderMismatch + m.cart.stats().dropped.forbidden).toBeGreaterThanOrEqual(2));
    expect(m.cart.peers().find((p) => p.nodeId === m.order.id)?.state).toBe('up');
    expect(await m.buy('c-1', 1)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
  });

  it('attack - an impostor "product" (certified by another authority) never gets order\'s reservations', async () => {
    const m = await mesh(true);
    const rogue = testAuthority();
    cleanup.push(() => rogue.cleanup());
    const impostor = createNode({ service: 'product', host: '127.0.0.1', peers: [peerOf(m.order)], storePath: join(dir(), 'zmesh.db'), security: rogue.issue('product').security });
    cleanup.push(() => impostor.close());
    let reserved = 0;
    impostor.handleReliable('ReserveStock', () => { reserved++; });
    await impostor.start();
    // It introduces itself to order, and also says BYE in the real product's name.
    const fake = new RawMember('product', rogue.issue('product').security, m.order);
    cleanup.push(() => fake.close());
    expect(code(await fake.hello())).toBe('ZMESH_ERR_SECURITY');
    await fake.send({ kind: pb.Kind.BYE, senderNode: m.product.id, senderService: 'product' });
    for (let i = 0; i < 3; i++) expect(await m.buy(`c-${i}`, 1)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    expect(reserved).toBe(0);
    expect(m.order.peers().filter((p) => p.service === 'product' && p.state === 'up').map((p) => p.nodeId)).toEqual([m.product.id]);
    expect(await m.stock()).toEqual({ stock: 0, reserved: 3 });
  });

  it('attack - a forged order.confirmed from a member that may not publish it: dropped, the cart is not cleared', async () => {
    const m = await mesh(true);
    await call(m.shopper, AddItem, { cartId: 'victim', sku: SCARCE_SKU, quantity: 1 });
    // A second "cart" node (a real member with a cart certificate) publishes as if order.
    const rogueCart = createNode({ service: 'cart', host: '127.0.0.1', peers: [peerOf(m.cart)], security: ta.issue('cart', { permissions: SERVICE_PERMISSIONS.cart }).security });
    cleanup.push(() => rogueCart.close());
    await rogueCart.start();
    await m.cart.waitForService('cart', { count: 1, timeoutMs: 10_000 });
    const before = m.cart.stats().dropped.forbidden;
    rogueCart.publish('order.confirmed', OrderConfirmed.codec.encode({ order: { orderId: 'o-fake', cartId: 'victim', idempotencyKey: 'k', items: [], totalCents: 0, status: 2, reason: '', createdMs: 0, updatedMs: 0 } }), { headers: { 'zmesh-estream': storeId(m.order), 'zmesh-eseq': '1' } });
    await vi.waitFor(() => expect(m.cart.stats().dropped.forbidden).toBeGreaterThan(before));
    expect((await call(m.shopper, GetCart, { cartId: 'victim' })).items).toHaveLength(1);
  });

  it('attack - requests from a process that holds no certificate: FORBIDDEN; without CURVE: no connection at all', async () => {
    const m = await mesh(true);
    const stranger = attacker(m.order, 'stranger');
    const list = { kind: pb.Kind.REQUEST, service: 'order', subject: 'ListOrders', payload: new Uint8Array(0), ttlMs: 2_000 };
    expect(code(await stranger.ask(list))).toBe('ZMESH_ERR_FORBIDDEN');
    const plain = new zmq.Dealer({ linger: 0 });
    cleanup.push(() => plain.close());
    const failed = new Promise<void>((resolve) => {
      plain.events.on('handshake:error:protocol', () => resolve());
      plain.events.on('handshake:error:other', () => resolve());
    });
    plain.connect(m.order.endpoints.router);
    void plain.send(envelope({ ...list })).catch(() => undefined);
    await failed;
  });
});

describe('the same attacks on an insecure mesh (what --insecure allows)', () => {
  it('insecure - a forged ReleaseStock gives confirmed stock back: oversell', async () => {
    const m = await mesh(false);
    expect(await m.buy('c-1', 3)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    const orderId = (await call(m.shopper, ListOrders, { status: OrderStatus.ORDER_STATUS_CONFIRMED, limit: 0 })).orders[0]!.orderId;
    const raw = new RawDealer(m.product.endpoints.router);
    cleanup.push(() => raw.close());
    const id = Buffer.alloc(16, 7);
    await raw.send(envelope({ id, ...reliable('product', 'ReleaseStock', ReleaseStock.codec.encode({ orderId, reason: 'forged' }), 'f0f0f0f0f0f0f0f0', 1) }));
    expect(code(await raw.answerTo(id))).toBe('ACK');
    expect(await m.stock()).toEqual({ stock: 3, reserved: 0 });
    expect(await m.buy('c-2', 3)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED); // 6 sold of 3
  });

  it('insecure - watermark poisoning with order\'s store id and seq 2^53-1 stalls every later reservation', async () => {
    const m = await mesh(false);
    expect(await m.buy('c-1', 1)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    const raw = new RawDealer(m.product.endpoints.router);
    cleanup.push(() => raw.close());
    const id = Buffer.alloc(16, 8);
    const poison = ReserveStock.codec.encode({ orderId: 'poison', items: [{ sku: SCARCE_SKU, quantity: 1, unitPriceCents: PRICE }] });
    // prev 0: "follows nothing", so the inbox applies it and moves the watermark.
    const forged = reliable('product', 'ReserveStock', poison, storeId(m.order), Number.MAX_SAFE_INTEGER);
    await raw.send(envelope({ id, ...forged, headers: { ...forged.headers, 'zmesh-prev': '0' } }));
    expect(code(await raw.answerTo(id))).toBe('ACK');
    const watermark = m.product.db!.prepare('SELECT last_seq FROM zmesh_inbox WHERE sender = ?').pluck().get(storeId(m.order));
    expect(watermark).toBe(Number.MAX_SAFE_INTEGER);
    // order's next reservation is now a "duplicate" below the watermark: ACKed, never applied.
    await call(m.shopper, AddItem, { cartId: 'c-2', sku: SCARCE_SKU, quantity: 1 });
    const reply = await call(m.shopper, Checkout, { cartId: 'c-2', idempotencyKey: 'key-c-2' });
    await vi.waitFor(() => {
      const sent = m.order.db!.prepare('SELECT count(*) FROM order_orders WHERE order_id = ?').pluck().get(reply.orderId);
      expect(sent).toBe(1);
      expect(m.order.reliableStats()!.pending).toBe(0);
    }, { timeout: 10_000 });
    const held = (await call(m.shopper, ListReservations, {})).reservations.map((r) => r.orderId);
    expect(held).not.toContain(reply.orderId);
  });

  it('insecure - anyone reads every order', async () => {
    const m = await mesh(false);
    expect(await m.buy('c-1', 1)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    const raw = new RawDealer(m.order.endpoints.router);
    cleanup.push(() => raw.close());
    const id = Buffer.alloc(16, 6);
    await raw.send(envelope({ id, kind: pb.Kind.REQUEST, service: 'order', subject: 'ListOrders', senderNode: 'anyone', senderService: 'anyone' }));
    expect((await raw.answerTo(id)).kind).toBe(pb.Kind.REPLY);
  });

  it('insecure - anyone acknowledges in another subscriber\'s name, up to the head of the log', async () => {
    const m = await mesh(false);
    expect(await m.buy('c-1', 1)).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    const victim = `order-stock@${storeId(m.order)}`;
    const raw = new RawDealer(m.product.endpoints.router);
    cleanup.push(() => raw.close());
    await raw.send(envelope({ kind: pb.Kind.COMMAND, service: 'product', subject: '$ack', senderNode: 'anyone', senderService: 'anyone',
      payload: pb.DurableAck.encode({ stream: storeId(m.product), subscriber: victim, seq: 1e15 }).finish() }));
    const head = (m.product.db!.prepare('SELECT max(seq) AS h FROM zmesh_events').get() as { h: number }).h;
    // Filed under the real subscriber's own name: pruning trusts it.
    await vi.waitFor(() => expect(m.product.db!.prepare('SELECT seq FROM zmesh_event_acks WHERE subscriber = ?').pluck().get(victim)).toBe(head));
  });

  it('insecure - an impostor "product" that introduces itself becomes one of order\'s product instances', async () => {
    const m = await mesh(false);
    const impostor = createNode({ service: 'product', host: '127.0.0.1', peers: [m.order.endpoints.router], storePath: join(dir(), 'zmesh.db'), insecure: true });
    cleanup.push(() => impostor.close());
    await impostor.start();
    await vi.waitFor(() => expect(m.order.peers().filter((p) => p.service === 'product' && p.state === 'up').map((p) => p.nodeId)).toContain(impostor.id), { timeout: 10_000 });
  });

  it('insecure - an order.* event from any publisher reaches cart\'s durable subscription', async () => {
    const m = await mesh(false);
    const rogue = createNode({ service: 'rogue', host: '127.0.0.1', peers: [m.cart.endpoints.router], storePath: join(dir(), 'zmesh.db'), insecure: true });
    cleanup.push(() => rogue.close());
    await rogue.start();
    await m.cart.waitForService('rogue', { timeoutMs: 10_000 });
    await rogue.publishReliable('order.confirmed', OrderConfirmed.codec.encode({ order: { orderId: 'o-fake', cartId: 'victim', idempotencyKey: 'k', items: [], totalCents: 0, status: 2, reason: '', createdMs: 0, updatedMs: 0 } }));
    // cart applied it as an order event: its durable progress now has the rogue's stream.
    await vi.waitFor(() => expect(m.cart.db!.prepare('SELECT count(*) FROM zmesh_durable WHERE stream = ?').pluck().get(storeId(rogue))).toBe(1), { timeout: 10_000 });
    expect(m.cart.stats().dropped.forbidden).toBe(0);
  });

  it('insecure - a forged BYE cuts cart off from order', async () => {
    const m = await mesh(false);
    const raw = new RawDealer(m.cart.endpoints.router);
    cleanup.push(() => raw.close());
    const cut = new Promise<string>((resolve) => m.cart.on('peer:down', (e) => { if (e.peer.nodeId === m.order.id) resolve(e.reason); }));
    await raw.send(envelope({ kind: pb.Kind.BYE, senderNode: m.order.id, senderService: 'order' }));
    // The link is rebuilt by the next hello, but everything in flight on it failed.
    expect(await cut).toBe('said goodbye');
  });
});
