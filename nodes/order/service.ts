/**
 * order: the checkout saga's coordinator. An order's life:
 *
 *   PlaceOrder ──► PENDING ── ReserveStock ──► product
 *                     │  ◄── product.stock.reserved ──  CONFIRMED  (order.confirmed)
 *                     │  ◄── product.stock.rejected ──  REJECTED   (order.rejected)
 *                     └── no answer in pendingTimeoutMs ─ REJECTED + ReleaseStock
 *
 * Every step is one transaction holding the state change, the commands it sends and
 * the events it publishes. The compensation (ReleaseStock) travels on the same ordered
 * stream as the reservation, after it, so a reservation can never outlive its order.
 */
import { randomUUID } from 'node:crypto';
import { HandlerFailedError, on, serve, serveReliable, subscribeDurable, type Database, type Transaction } from 'zmesh';
import {
  GetOrder, ListOrders, OrderConfirmed, OrderPlaced, OrderRejected, OrderService, OrderStatus, PlaceOrder, ReleaseStock,
  ReserveStock, StockRejected, StockReserved, type LineItem, type Order,
} from '../commerce/api.js';
import { InvalidRequest, now, serviceNode, serviceSchema, sql, startNode, tablesOf, type RunningService, type ServiceOptions } from '../commerce/service.js';

const schema = serviceSchema('order', [
  `CREATE TABLE order_orders (
     order_id TEXT PRIMARY KEY,
     cart_id TEXT NOT NULL,
     idempotency_key TEXT NOT NULL UNIQUE,
     items TEXT NOT NULL,
     total_cents INTEGER NOT NULL,
     status INTEGER NOT NULL,
     reason TEXT NOT NULL DEFAULT '',
     created_ms INTEGER NOT NULL,
     updated_ms INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX order_orders_pending ON order_orders (status, created_ms);`,
]);

export interface OrderOptions extends ServiceOptions {
  /** An order still PENDING after this long is rejected and its stock released.
   *  Default 60_000 ms. */
  pendingTimeoutMs?: number;
}

/** Durable subscription of order to product's stock outcomes. */
export const STOCK_SUBSCRIPTION = 'order-stock';
const MAX_LIMIT = 10_000;

interface OrderRow {
  order_id: string; cart_id: string; idempotency_key: string; items: string; total_cents: number;
  status: number; reason: string; created_ms: number; updated_ms: number;
}

const toOrder = (r: OrderRow): Order => ({
  orderId: r.order_id, cartId: r.cart_id, idempotencyKey: r.idempotency_key, items: JSON.parse(r.items) as LineItem[],
  totalCents: r.total_cents, status: r.status, reason: r.reason, createdMs: r.created_ms, updatedMs: r.updated_ms,
});

export async function startOrder(o: OrderOptions): Promise<RunningService> {
  const pendingTimeoutMs = o.pendingTimeoutMs ?? 60_000;
  const node = serviceNode(OrderService, o);
  const db = (): Database => tablesOf(node, schema);
  const find = (d: Database, orderId: string): OrderRow | undefined =>
    sql(d, 'SELECT * FROM order_orders WHERE order_id = ?').get(orderId) as OrderRow | undefined;

  serve(node, GetOrder, ({ orderId }) => {
    if (orderId === '') throw new InvalidRequest('orderId is required');
    const row = find(db(), orderId);
    if (row === undefined) throw new HandlerFailedError(`unknown order "${orderId}"`);
    return toOrder(row);
  });
  serve(node, ListOrders, ({ status, limit }) => {
    const d = db();
    const n = limit === 0 ? MAX_LIMIT : Math.min(limit, MAX_LIMIT);
    const rows = (status === OrderStatus.ORDER_STATUS_UNSPECIFIED
      ? sql(d, 'SELECT * FROM order_orders ORDER BY created_ms DESC LIMIT ?').all(n)
      : sql(d, 'SELECT * FROM order_orders WHERE status = ? ORDER BY created_ms DESC LIMIT ?').all(status, n)) as OrderRow[];
    const counts = new Map((sql(d, 'SELECT status, count(*) AS n FROM order_orders GROUP BY status').all() as
      Array<{ status: number; n: number }>).map((r) => [r.status, r.n]));
    return {
      orders: rows.map(toOrder),
      pending: counts.get(OrderStatus.ORDER_STATUS_PENDING) ?? 0,
      confirmed: counts.get(OrderStatus.ORDER_STATUS_CONFIRMED) ?? 0,
      rejected: counts.get(OrderStatus.ORDER_STATUS_REJECTED) ?? 0,
    };
  });

  serveReliable(node, PlaceOrder, place);

  function place(cmd: PlaceOrder, tx: Transaction): void {
    const d = schema(tx.db);
    const orderId = cmd.orderId === '' ? randomUUID() : cmd.orderId;
    // Idempotent twice over: the inbox drops a redelivered command, and a second
    // PlaceOrder for an order id or idempotency key (a retried checkout that took
    // another path) finds its order already there.
    const known = sql(d, 'SELECT 1 FROM order_orders WHERE order_id = ? OR idempotency_key = ?')
      .get(orderId, cmd.idempotencyKey === '' ? orderId : cmd.idempotencyKey);
    if (known !== undefined) return;
    const t = now();
    const problem = validate(cmd);
    const row: OrderRow = {
      order_id: orderId, cart_id: cmd.cartId, idempotency_key: cmd.idempotencyKey === '' ? orderId : cmd.idempotencyKey,
      items: JSON.stringify(cmd.items), total_cents: cmd.items.reduce((s, i) => s + i.quantity * i.unitPriceCents, 0),
      status: problem === undefined ? OrderStatus.ORDER_STATUS_PENDING : OrderStatus.ORDER_STATUS_REJECTED,
      reason: problem ?? '', created_ms: t, updated_ms: t,
    };
    sql(d, `INSERT INTO order_orders VALUES (@order_id, @cart_id, @idempotency_key, @items, @total_cents, @status, @reason, @created_ms, @updated_ms)`).run(row);
    const order = toOrder(row);
    tx.publish(OrderPlaced, { order });
    if (problem !== undefined) {
      tx.publish(OrderRejected, { order, reason: problem });
      return;
    }
    tx.send(ReserveStock, { orderId, items: cmd.items });
  }

  /** Moves a PENDING order to its terminal state; false when it was not pending. */
  function settle(tx: Transaction, orderId: string, status: number, reason: string): boolean {
    const d = schema(tx.db);
    const changed = sql(d, 'UPDATE order_orders SET status = ?, reason = ?, updated_ms = ? WHERE order_id = ? AND status = ?')
      .run(status, reason, now(), orderId, OrderStatus.ORDER_STATUS_PENDING).changes === 1;
    if (!changed) return false;
    const order = toOrder(find(d, orderId)!);
    if (status === OrderStatus.ORDER_STATUS_CONFIRMED) tx.publish(OrderConfirmed, { order });
    else tx.publish(OrderRejected, { order, reason });
    return true;
  }

  /** product holds stock for `orderId`: the order is confirmed, or the stock goes back. */
  function onReserved(tx: Transaction, orderId: string): void {
    if (!settle(tx, orderId, OrderStatus.ORDER_STATUS_CONFIRMED, '')) {
      // The order already ended (timed out) or is not ours: its release is already
      // queued behind the reservation, or this sends one so nothing stays held.
      if (find(schema(tx.db), orderId) === undefined) release(tx, orderId, 'no such order');
    }
  }

  function release(tx: Transaction, orderId: string, reason: string): void {
    tx.send(ReleaseStock, { orderId, reason });
  }

  /** Rejects orders that waited too long, releasing whatever they may hold. */
  function expire(): void {
    const stale = sql(db(), 'SELECT order_id FROM order_orders WHERE status = ? AND created_ms < ? LIMIT 500')
      .all(OrderStatus.ORDER_STATUS_PENDING, now() - pendingTimeoutMs) as Array<{ order_id: string }>;
    for (const { order_id } of stale) {
      node.transact((tx) => {
        if (settle(tx, order_id, OrderStatus.ORDER_STATUS_REJECTED, 'timed out waiting for stock')) release(tx, order_id, 'order timed out');
      });
    }
  }

  await startNode(node, async () => {
    db();
    await subscribeDurable(node, STOCK_SUBSCRIPTION, [
      on(StockReserved, ({ orderId }, _event, tx) => onReserved(tx, orderId)),
      on(StockRejected, ({ orderId, reason }, _event, tx) => { settle(tx, orderId, OrderStatus.ORDER_STATUS_REJECTED, reason); }),
    ], { logger: o.logger });
  });
  const sweeper = setInterval(() => {
    try {
      expire();
    } catch (err) {
      o.logger?.warn({ err }, 'order: expiring pending orders failed');
    }
  }, Math.min(1_000, pendingTimeoutMs));
  sweeper.unref();
  return {
    node,
    close: async () => {
      clearInterval(sweeper);
      await node.close();
    },
  };
}

function validate(cmd: PlaceOrder): string | undefined {
  if (cmd.items.length === 0) return 'no items';
  for (const i of cmd.items) {
    if (i.sku === '') return 'an item has no sku';
    if (!Number.isSafeInteger(i.quantity) || i.quantity <= 0) return `bad quantity ${i.quantity} of "${i.sku}"`;
    if (!Number.isSafeInteger(i.unitPriceCents) || i.unitPriceCents < 0) return `bad price of "${i.sku}"`;
  }
  return undefined;
}
