/**
 * cart: shoppers' carts and the start of the checkout saga. Checkout checks the cart
 * against product (prices, availability, as product said a moment ago: catalog.ts),
 * then records the checkout and queues PlaceOrder to order in one transaction: the
 * checkout exists if and only if its order is on its way. The idempotency key makes a retried checkout answer with the
 * order it already made. The cart learns the outcome from order's events (a durable
 * subscription) and is cleared of the ordered items only on confirmation.
 */
import { randomUUID } from 'node:crypto';
import { on, serve, subscribeDurable, type Database, type Transaction } from 'zmesh';
import {
  AddItem, CartService, Checkout, CheckoutStatus, GetCart, OrderConfirmed, OrderRejected, PlaceOrder,
  RemoveItem, type Cart, type CheckoutReply, type LineItem, type Product,
} from '../commerce/api.js';
import { InvalidRequest, now, serviceNode, serviceSchema, sql, startNode, tablesOf, type RunningService, type ServiceOptions } from '../commerce/service.js';
import { CATALOG_MAX_AGE_MS, catalogOf } from './catalog.js';

const schema = serviceSchema('cart', [
  `CREATE TABLE cart_lines (
     cart_id TEXT NOT NULL,
     sku TEXT NOT NULL,
     quantity INTEGER NOT NULL CHECK (quantity > 0),
     unit_price_cents INTEGER NOT NULL,
     added_ms INTEGER NOT NULL,
     PRIMARY KEY (cart_id, sku)
   ) STRICT;
   CREATE TABLE cart_checkouts (
     idempotency_key TEXT PRIMARY KEY,
     cart_id TEXT NOT NULL,
     order_id TEXT NOT NULL,
     items TEXT NOT NULL,
     status INTEGER NOT NULL,
     reason TEXT NOT NULL DEFAULT '',
     created_ms INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX cart_checkouts_order ON cart_checkouts (order_id);
   CREATE INDEX cart_checkouts_cart ON cart_checkouts (cart_id, status);`,
]);

/** Durable subscription of cart to order outcomes. */
export const ORDER_SUBSCRIPTION = 'cart-orders';
const MAX_ID = 128;
const MAX_QUANTITY = 1_000;
const MAX_LINES = 100;

interface CheckoutRow { idempotency_key: string; cart_id: string; order_id: string; items: string; status: number; reason: string }

function checkId(name: string, value: string): void {
  if (value === '' || value.length > MAX_ID) throw new InvalidRequest(`${name} must be 1 to ${MAX_ID} characters`);
}

export interface CartOptions extends ServiceOptions {
  /** How long one answer of product's ListProducts serves AddItem and Checkout
   *  (catalog.ts). Default CATALOG_MAX_AGE_MS; 0 asks product every time. */
  catalogMaxAgeMs?: number;
}

export async function startCart(o: CartOptions): Promise<RunningService> {
  const node = serviceNode(CartService, o);
  const db = (): Database => tablesOf(node, schema);
  // Prices and stock as product said at most a moment ago (catalog.ts says why that is safe).
  const catalog = catalogOf(node, o.catalogMaxAgeMs ?? CATALOG_MAX_AGE_MS);
  const cartOf = (d: Database, cartId: string): Cart => {
    const items = (sql(d, 'SELECT sku, quantity, unit_price_cents FROM cart_lines WHERE cart_id = ? ORDER BY added_ms, sku').all(cartId) as
      Array<{ sku: string; quantity: number; unit_price_cents: number }>)
      .map((r): LineItem => ({ sku: r.sku, quantity: r.quantity, unitPriceCents: r.unit_price_cents }));
    return { cartId, items, totalCents: items.reduce((s, i) => s + i.quantity * i.unitPriceCents, 0) };
  };

  serve(node, AddItem, async ({ cartId, sku, quantity }, ctx) => {
    checkId('cartId', cartId);
    checkId('sku', sku);
    if (!Number.isSafeInteger(quantity) || quantity <= 0 || quantity > MAX_QUANTITY) throw new InvalidRequest(`quantity must be 1 to ${MAX_QUANTITY}`);
    // The price comes from product, never from the shopper.
    const product = await catalog.product(sku, ctx);
    return node.commit(({ db: d }) => {
      schema(d);
      const lines = (sql(d, 'SELECT count(*) AS n FROM cart_lines WHERE cart_id = ?').get(cartId) as { n: number }).n;
      const existing = sql(d, 'SELECT quantity FROM cart_lines WHERE cart_id = ? AND sku = ?').get(cartId, sku) as { quantity: number } | undefined;
      if (existing === undefined && lines >= MAX_LINES) throw new InvalidRequest(`a cart holds at most ${MAX_LINES} lines`);
      if ((existing?.quantity ?? 0) + quantity > MAX_QUANTITY) throw new InvalidRequest(`at most ${MAX_QUANTITY} of one item`);
      sql(d, `INSERT INTO cart_lines (cart_id, sku, quantity, unit_price_cents, added_ms) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (cart_id, sku) DO UPDATE SET quantity = quantity + excluded.quantity, unit_price_cents = excluded.unit_price_cents`)
        .run(cartId, sku, quantity, product.priceCents, now());
      return cartOf(d, cartId);
    });
  });

  serve(node, RemoveItem, ({ cartId, sku, quantity }) => {
    checkId('cartId', cartId);
    checkId('sku', sku);
    if (!Number.isSafeInteger(quantity) || quantity < 0) throw new InvalidRequest('quantity must be 0 (the whole line) or more');
    return node.commit(({ db: d }) => {
      schema(d);
      if (quantity === 0) sql(d, 'DELETE FROM cart_lines WHERE cart_id = ? AND sku = ?').run(cartId, sku);
      else takeFromCart(d, cartId, [{ sku, quantity, unitPriceCents: 0 }]);
      return cartOf(d, cartId);
    });
  });

  serve(node, GetCart, ({ cartId }) => {
    checkId('cartId', cartId);
    return cartOf(db(), cartId);
  });

  serve(node, Checkout, async ({ cartId, idempotencyKey }, ctx) => {
    checkId('cartId', cartId);
    checkId('idempotencyKey', idempotencyKey);
    const earlier = checkoutByKey(db(), idempotencyKey);
    if (earlier !== undefined) return replyOf(earlier);
    const cart = cartOf(db(), cartId);
    const refusal = cart.items.length === 0
      ? 'cart is empty'
      : validate(cart.items, await catalog.products(ctx));
    return node.commit((tx) => submit(tx, cartId, idempotencyKey, cart.items, refusal));
  });

  /** Records the checkout (and queues its order) unless one with this key exists. */
  function submit(tx: Transaction, cartId: string, key: string, items: LineItem[], refusal: string | undefined): CheckoutReply {
    const d = schema(tx.db);
    // A concurrent checkout with the same key may have won while we asked product.
    const earlier = checkoutByKey(d, key);
    if (earlier !== undefined) return replyOf(earlier);
    // One checkout in flight per cart: a second one (another key) would order the same
    // items twice.
    const inFlight = sql(d, 'SELECT order_id FROM cart_checkouts WHERE cart_id = ? AND status = ?')
      .get(cartId, CheckoutStatus.CHECKOUT_STATUS_SUBMITTED) as { order_id: string } | undefined;
    const reason = refusal ?? (inFlight === undefined ? undefined : `checkout already in progress (order ${inFlight.order_id})`);
    const row: CheckoutRow = {
      idempotency_key: key, cart_id: cartId, order_id: reason === undefined ? randomUUID() : '', items: JSON.stringify(items),
      status: reason === undefined ? CheckoutStatus.CHECKOUT_STATUS_SUBMITTED : CheckoutStatus.CHECKOUT_STATUS_REJECTED,
      reason: reason ?? '',
    };
    sql(d, `INSERT INTO cart_checkouts (idempotency_key, cart_id, order_id, items, status, reason, created_ms)
               VALUES (@idempotency_key, @cart_id, @order_id, @items, @status, @reason, @created_ms)`).run({ ...row, created_ms: now() });
    if (reason === undefined) tx.send(PlaceOrder, { orderId: row.order_id, cartId, idempotencyKey: key, items });
    return replyOf(row);
  }

  /** An order ended: the checkout still waiting for it, if any, takes its outcome. */
  function onOrderOutcome(tx: Transaction, orderId: string, confirmed: boolean, reason: string): void {
    const d = schema(tx.db);
    const row = sql(d, 'SELECT * FROM cart_checkouts WHERE order_id = ? AND status = ?')
      .get(orderId, CheckoutStatus.CHECKOUT_STATUS_SUBMITTED) as CheckoutRow | undefined;
    if (row === undefined) return; // not ours, or already settled
    sql(d, 'UPDATE cart_checkouts SET status = ?, reason = ? WHERE idempotency_key = ?')
      .run(confirmed ? CheckoutStatus.CHECKOUT_STATUS_CONFIRMED : CheckoutStatus.CHECKOUT_STATUS_REJECTED, reason, row.idempotency_key);
    // Only what was ordered leaves the cart: items added since stay.
    if (confirmed) takeFromCart(d, row.cart_id, JSON.parse(row.items) as LineItem[]);
  }

  await startNode(node, async () => {
    db();
    // Subscribes to "order.", the prefix the two topics share; order.placed is skipped.
    await subscribeDurable(node, ORDER_SUBSCRIPTION, [
      on(OrderConfirmed, ({ order }, _event, tx) => onOrderOutcome(tx, order.orderId, true, '')),
      on(OrderRejected, ({ order, reason }, _event, tx) => onOrderOutcome(tx, order.orderId, false, reason)),
    ], { logger: o.logger });
  });
  return { node, close: () => node.close() };
}

function checkoutByKey(d: Database, key: string): CheckoutRow | undefined {
  return sql(d, 'SELECT * FROM cart_checkouts WHERE idempotency_key = ?').get(key) as CheckoutRow | undefined;
}

const replyOf = (r: CheckoutRow): CheckoutReply => ({ orderId: r.order_id, status: r.status, reason: r.reason });

function takeFromCart(d: Database, cartId: string, items: LineItem[]): void {
  const take = sql(d, 'UPDATE cart_lines SET quantity = quantity - ? WHERE cart_id = ? AND sku = ? AND quantity > ?');
  const drop = sql(d, 'DELETE FROM cart_lines WHERE cart_id = ? AND sku = ? AND quantity <= ?');
  for (const i of items) {
    if (take.run(i.quantity, cartId, i.sku, i.quantity).changes === 0) drop.run(cartId, i.sku, i.quantity);
  }
}

/** Why the cart cannot be checked out as it is, or undefined. Prices are compared to
 *  what the shopper saw; stock is checked softly here (product decides for real). */
function validate(items: LineItem[], bySku: ReadonlyMap<string, Product>): string | undefined {
  for (const i of items) {
    const p = bySku.get(i.sku);
    if (p === undefined) return `unknown product "${i.sku}"`;
    if (p.priceCents !== i.unitPriceCents) return `price of "${i.sku}" changed from ${i.unitPriceCents} to ${p.priceCents} cents`;
    if (p.stock < i.quantity) return `out of stock: "${i.sku}"`;
  }
  return undefined;
}
