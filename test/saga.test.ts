/**
 * The checkout saga's edge cases, with the three services in this process on
 * loopback (static peers): compensation after a timeout, a release that overtakes
 * its reservation, and concurrent retries of one checkout. Secure: each service has a
 * certificate with exactly the permissions nodes/commerce/permissions.ts derives for
 * it, so a call the derivation forgot fails here as FORBIDDEN.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { call, createNode, type MeshNode } from '../transport/index.js';
import {
  AddItem, Checkout, CheckoutStatus, GetCart, GetOrder, GetProduct, ListOrders, ListReservations, OrderStatus, PlaceOrder as PlaceOrderCmd,
  ReleaseStock as ReleaseStockCmd, ReservationState, ReserveStock as ReserveStockCmd,
} from '../nodes/commerce/api.js';
import { SERVICE_PERMISSIONS, clientPermissions } from '../nodes/commerce/permissions.js';
import type { RunningService, ServiceOptions } from '../nodes/commerce/service.js';
import { startCart } from '../nodes/cart/service.js';
import { startOrder } from '../nodes/order/service.js';
import { startProduct } from '../nodes/product/service.js';
import { SCARCE_SKU, demoCatalog } from '../nodes/product/catalog.js';
import { testAuthority } from './helpers/trust.js';

const ta = testAuthority();
afterAll(() => ta.cleanup());

const running: Array<{ close(): Promise<void> }> = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'zmesh-saga-'));
  dirs.push(d);
  return d;
}

type Service = 'product' | 'cart' | 'order';
/** Options of a service node on loopback with its certificate and these static peers. */
const at = (service: Service, peers: string[] = []): Omit<ServiceOptions, 'dataDir'> =>
  ({ host: '127.0.0.1', discovery: 'static', peers, security: ta.issue(service, { permissions: SERVICE_PERMISSIONS[service] }).security });
/** A node as a static peer entry: its ROUTER endpoint and key. */
const peer = (n: MeshNode | RunningService): string => {
  const node = 'node' in n ? n.node : n;
  return `${node.endpoints.router}#${node.publicKey!}`;
};

async function keep<T extends RunningService | MeshNode>(p: Promise<T> | T): Promise<T> {
  const r = await p;
  running.push(r);
  return r;
}

/** A node with a store that sends reliable commands as cart or order would (its
 *  certificate allows everything). */
async function sender(peers: string[]): Promise<MeshNode> {
  const node = await keep(createNode({
    service: 'tester', host: '127.0.0.1', discovery: 'static', peers, storePath: join(dir(), 'zmesh.db'), security: ta.issue('tester').security,
  }));
  await node.start();
  return node;
}

async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('checkout saga', () => {
  it('saga - an order that times out is rejected and its late reservation is released (compensation)', async () => {
    const productDir = dir();
    // No product yet: order waits, then gives up and queues ReleaseStock behind ReserveStock.
    const order = await keep(startOrder({ dataDir: dir(), ...at('order'), pendingTimeoutMs: 300 }));
    const cartLike = await sender([peer(order)]);
    await cartLike.waitForService('order');
    const items = [{ sku: SCARCE_SKU, quantity: 3, unitPriceCents: demoCatalog()[0]!.priceCents }];
    await cartLike.send('order', PlaceOrderCmd.method, PlaceOrderCmd.codec.encode({ orderId: 'o-late', cartId: 'c', idempotencyKey: 'k-late', items }));
    await until(async () => (await call(cartLike, GetOrder, { orderId: 'o-late' }).catch(() => undefined))?.status === OrderStatus.ORDER_STATUS_REJECTED);
    const rejected = await call(cartLike, GetOrder, { orderId: 'o-late' });
    expect(rejected.reason).toBe('timed out waiting for stock');

    // Product arrives: it applies the reservation, then the release, in that order.
    const product = await keep(startProduct({ dataDir: productDir, ...at('product', [peer(order)]), catalog: demoCatalog(10) }));
    const auditor = await sender([peer(product)]);
    await auditor.waitForService('product');
    await until(async () => (await call(auditor, ListReservations, {})).reservations.some((r) => r.orderId === 'o-late' && r.state === ReservationState.RESERVATION_STATE_RELEASED));
    const mug = await call(auditor, GetProduct, { sku: SCARCE_SKU });
    expect({ stock: mug.stock, reserved: mug.reserved }).toEqual({ stock: 10, reserved: 0 });
    // The order stays rejected: a reservation that arrives late does not revive it.
    expect((await call(cartLike, GetOrder, { orderId: 'o-late' })).status).toBe(OrderStatus.ORDER_STATUS_REJECTED);
  });

  it('saga - a release that overtakes its reservation refuses the reservation: nothing is held', async () => {
    const product = await keep(startProduct({ dataDir: dir(), ...at('product'), catalog: demoCatalog(5) }));
    const other = await sender([peer(product)]);
    await other.waitForService('product');
    const items = [{ sku: SCARCE_SKU, quantity: 2, unitPriceCents: demoCatalog()[0]!.priceCents }];
    await other.send('product', ReleaseStockCmd.method, ReleaseStockCmd.codec.encode({ orderId: 'o-x', reason: 'abandoned' }));
    await other.send('product', ReserveStockCmd.method, ReserveStockCmd.codec.encode({ orderId: 'o-x', items }));
    await other.send('product', ReserveStockCmd.method, ReserveStockCmd.codec.encode({ orderId: 'o-y', items }));
    // o-y is a later command on the same stream: once it is held, o-x was decided.
    await until(async () => (await call(other, ListReservations, {})).reservations.some((r) => r.orderId === 'o-y'));
    const states = Object.fromEntries((await call(other, ListReservations, {})).reservations.map((r) => [r.orderId, r.state]));
    expect(states).toEqual({ 'o-x': ReservationState.RESERVATION_STATE_REFUSED, 'o-y': ReservationState.RESERVATION_STATE_HELD });
    const mug = await call(other, GetProduct, { sku: SCARCE_SKU });
    expect({ stock: mug.stock, reserved: mug.reserved }).toEqual({ stock: 3, reserved: 2 });
  });

  it('saga - twenty concurrent retries of one checkout make one order, and the cart clears on confirmation', async () => {
    const product = await keep(startProduct({ dataDir: dir(), ...at('product'), catalog: demoCatalog(5) }));
    const order = await keep(startOrder({ dataDir: dir(), ...at('order', [peer(product)]) }));
    const cart = await keep(startCart({ dataDir: dir(), ...at('cart', [peer(product), peer(order)]) }));
    // The shopper holds the client's certificate: shopper-facing requests, no commands.
    const shopper = await keep(createNode({
      service: 'shopper', host: '127.0.0.1', discovery: 'static', peers: [peer(product), peer(order), peer(cart)],
      security: ta.issue('shopper', { permissions: clientPermissions() }).security,
    }));
    await shopper.start();
    await Promise.all([
      ...['product', 'order', 'cart'].map((s) => shopper.waitForService(s)),
      // cart calls product and hears order: both up at cart too.
      cart.node.waitForService('product'), cart.node.waitForService('order'),
    ]);

    await call(shopper, AddItem, { cartId: 'c1', sku: SCARCE_SKU, quantity: 2 });
    const replies = await Promise.all(Array.from({ length: 20 }, () => call(shopper, Checkout, { cartId: 'c1', idempotencyKey: 'same-key' })));
    const ids = new Set(replies.map((r) => r.orderId));
    expect(ids.size).toBe(1);
    expect([...ids][0]).not.toBe('');

    await until(async () => (await call(shopper, Checkout, { cartId: 'c1', idempotencyKey: 'same-key' })).status === CheckoutStatus.CHECKOUT_STATUS_CONFIRMED);
    const list = await call(shopper, ListOrders, { status: OrderStatus.ORDER_STATUS_UNSPECIFIED, limit: 0 });
    expect(list.orders.map((o) => o.idempotencyKey)).toEqual(['same-key']);
    expect(list.confirmed).toBe(1);
    const mug = await call(shopper, GetProduct, { sku: SCARCE_SKU });
    expect({ stock: mug.stock, reserved: mug.reserved }).toEqual({ stock: 3, reserved: 2 });
    // Cleared on confirmation, by cart's durable subscription to order's events.
    await until(async () => (await call(shopper, GetCart, { cartId: 'c1' })).items.length === 0);

    // A second checkout of the (now empty) cart with a new key is refused by cart.
    const again = await call(shopper, Checkout, { cartId: 'c1', idempotencyKey: 'other-key' });
    expect(again).toEqual({ orderId: '', status: CheckoutStatus.CHECKOUT_STATUS_REJECTED, reason: 'cart is empty' });
    // The derived permissions were enough: no node refused anything.
    for (const n of [product.node, order.node, cart.node, shopper]) expect(n.stats().dropped).toMatchObject({ forbidden: 0, senderMismatch: 0 });
  });
});
