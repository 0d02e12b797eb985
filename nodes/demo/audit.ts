/**
 * The invariants of the checkout saga, checked against what the three services say
 * once the run is over. Each violation is one readable line. The services converge
 * through reliable messages (a release in an outbox, an event on its way to cart), so
 * `settle` re-checks until the books agree or its deadline passes.
 */
import { call, type MeshNode } from 'zmesh';
import {
  GetCart, ListOrders, ListProducts, ListReservations, OrderStatus, ReservationState, type Order, type Product,
} from '../commerce/api.js';
import type { ShopperResult } from './shoppers.js';

export interface AuditInput {
  /** Stock of every sku before the run. */
  initialStock: ReadonlyMap<string, number>;
  results: readonly ShopperResult[];
  /** Only orders whose idempotency key starts with this belong to the run. */
  runId: string;
}

export interface AuditReport {
  ok: boolean;
  violations: string[];
  orders: { placed: number; confirmed: number; rejected: number; pending: number };
  /** Units sold (held by confirmed orders) per sku. */
  sold: Record<string, number>;
  products: Product[];
}

export async function audit(node: MeshNode, input: AuditInput): Promise<AuditReport> {
  const v: string[] = [];
  const [{ products }, { reservations }, list] = await Promise.all([
    call(node, ListProducts, {}),
    call(node, ListReservations, {}),
    call(node, ListOrders, { status: OrderStatus.ORDER_STATUS_UNSPECIFIED, limit: 0 }),
  ]);
  const orders = list.orders.filter((o) => o.idempotencyKey.startsWith(`${input.runId}-`));
  const byId = new Map<string, Order>(orders.map((o) => [o.orderId, o]));

  // Every checkout ends in exactly one terminal state, the one order recorded.
  for (const r of input.results) {
    if (r.outcome === 'unfinished') v.push(`checkout ${r.index} did not finish: ${r.reason || 'no outcome'}`);
    if (r.decidedBy !== 'order') continue;
    const o = byId.get(r.orderId);
    if (o === undefined) v.push(`checkout ${r.index}: order ${r.orderId} does not exist`);
    else if ((o.status === OrderStatus.ORDER_STATUS_CONFIRMED) !== (r.outcome === 'confirmed')) {
      v.push(`checkout ${r.index}: shopper saw ${r.outcome}, order says ${OrderStatus[o.status]}`);
    }
  }
  for (const o of orders) if (o.status === OrderStatus.ORDER_STATUS_PENDING) v.push(`order ${o.orderId} is still PENDING`);

  // A retried checkout never makes a second order.
  const perKey = new Map<string, number>();
  for (const o of orders) perKey.set(o.idempotencyKey, (perKey.get(o.idempotencyKey) ?? 0) + 1);
  for (const [key, n] of perKey) if (n > 1) v.push(`idempotency key ${key} made ${n} orders`);
  const submitted = new Set(input.results.filter((r) => r.orderId !== '').map((r) => r.orderId));
  if (orders.length !== submitted.size) v.push(`${orders.length} orders exist for ${submitted.size} submitted checkouts`);

  // Stock is never oversold or negative, and nothing is leaked.
  const sold: Record<string, number> = {};
  for (const o of orders) {
    if (o.status !== OrderStatus.ORDER_STATUS_CONFIRMED) continue;
    for (const i of o.items) sold[i.sku] = (sold[i.sku] ?? 0) + i.quantity;
  }
  for (const p of products) {
    const initial = input.initialStock.get(p.sku);
    if (p.stock < 0) v.push(`${p.sku}: stock is negative (${p.stock})`);
    if (initial !== undefined && p.stock + p.reserved !== initial) {
      v.push(`${p.sku}: stock ${p.stock} + reserved ${p.reserved} != initial ${initial}`);
    }
    if (p.reserved !== (sold[p.sku] ?? 0)) v.push(`${p.sku}: ${p.reserved} reserved but ${sold[p.sku] ?? 0} sold to confirmed orders`);
  }
  for (const r of reservations) {
    const o = byId.get(r.orderId);
    if (o === undefined) continue;
    const held = r.state === ReservationState.RESERVATION_STATE_HELD;
    const confirmed = o.status === OrderStatus.ORDER_STATUS_CONFIRMED;
    if (held && !confirmed) v.push(`reservation of ${OrderStatus[o.status]} order ${o.orderId} is leaked (still held)`);
    if (!held && confirmed) v.push(`confirmed order ${o.orderId} holds no stock`);
  }

  // The cart is cleared only on confirmation.
  const carts = await Promise.all(input.results.filter((r) => r.outcome !== 'unfinished').map(async (r) => ({ r, cart: await call(node, GetCart, { cartId: r.cartId }) })));
  for (const { r, cart } of carts) {
    const empty = cart.items.length === 0;
    if (r.outcome === 'confirmed' && !empty) v.push(`cart ${r.cartId} of a confirmed order was not cleared`);
    if (r.outcome === 'rejected' && empty) v.push(`cart ${r.cartId} of a rejected checkout was cleared`);
  }

  return {
    ok: v.length === 0,
    violations: v,
    orders: {
      placed: orders.length,
      confirmed: orders.filter((o) => o.status === OrderStatus.ORDER_STATUS_CONFIRMED).length,
      rejected: orders.filter((o) => o.status === OrderStatus.ORDER_STATUS_REJECTED).length,
      pending: orders.filter((o) => o.status === OrderStatus.ORDER_STATUS_PENDING).length,
    },
    sold,
    products,
  };
}

/** Audits until the books agree or `timeoutMs` passes; returns the last report. */
export async function settle(node: MeshNode, input: AuditInput, timeoutMs = 20_000): Promise<AuditReport> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await audit(node, input).catch((err: unknown): AuditReport => ({
      ok: false, violations: [`audit failed: ${(err as Error).message}`], orders: { placed: 0, confirmed: 0, rejected: 0, pending: 0 }, sold: {}, products: [],
    }));
    if (report.ok || Date.now() > deadline) return report;
    await new Promise((r) => setTimeout(r, 250));
  }
}
