/**
 * product: the catalog and its stock. Stock moves only through reservations, each
 * keyed by order id, so every change is idempotent and auditable:
 *
 *   ReserveStock(order)  HELD     stock -= q, reserved += q   (all items or none)
 *                        REFUSED  nothing moves (out of stock, unknown item, price)
 *   ReleaseStock(order)  HELD → RELEASED  stock += q, reserved -= q
 *                        none → REFUSED tombstone, so a late reservation is refused
 *
 * `stock >= 0` and `reserved >= 0` are CHECK constraints: an oversell cannot commit.
 * Outcomes are reliable events in the same transaction as the stock change.
 */
import { HandlerFailedError, serve, serveReliable, type Database, type ReliableContext } from 'zmesh';
import {
  GetProduct, ListProducts, ListReservations, ProductChanged, ProductService, ReleaseStock, ReservationState, ReserveStock,
  StockRejected, StockReserved, type LineItem, type Product, type Reservation,
} from '../commerce/api.js';
import { InvalidRequest, now, serviceNode, serviceSchema, sql, startNode, tablesOf, type RunningService, type ServiceOptions } from '../commerce/service.js';
import { demoCatalog, type SeedProduct } from './catalog.js';

const schema = serviceSchema('product', [
  `CREATE TABLE product_items (
     sku TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
     stock INTEGER NOT NULL CHECK (stock >= 0),
     reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0)
   ) STRICT;
   CREATE TABLE product_reservations (
     order_id TEXT PRIMARY KEY,
     items TEXT NOT NULL,
     state INTEGER NOT NULL,
     reason TEXT NOT NULL DEFAULT '',
     updated_ms INTEGER NOT NULL
   ) STRICT;`,
]);

export interface ProductOptions extends ServiceOptions {
  /** Seeded into an empty catalog on first start. Default: the demo catalog. */
  catalog?: SeedProduct[];
}

interface ItemRow { sku: string; name: string; price_cents: number; stock: number; reserved: number }

const toProduct = (r: ItemRow): Product => ({ sku: r.sku, name: r.name, priceCents: r.price_cents, stock: r.stock, reserved: r.reserved });

export const MAX_SKU_LENGTH = 64;

export async function startProduct(o: ProductOptions): Promise<RunningService> {
  const node = serviceNode(ProductService, o);
  const db = (): Database => tablesOf(node, schema);
  const item = (sku: string): ItemRow | undefined =>
    sql(db(), 'SELECT * FROM product_items WHERE sku = ?').get(sku) as ItemRow | undefined;

  serve(node, GetProduct, ({ sku }) => {
    if (sku === '' || sku.length > MAX_SKU_LENGTH) throw new InvalidRequest('sku must be 1 to 64 characters');
    const row = item(sku);
    if (row === undefined) throw new HandlerFailedError(`unknown product "${sku}"`);
    return toProduct(row);
  });
  serve(node, ListProducts, () => ({
    products: (sql(db(), 'SELECT * FROM product_items ORDER BY sku').all() as ItemRow[]).map(toProduct),
  }));
  serve(node, ListReservations, () => ({
    reservations: (sql(db(), 'SELECT order_id, items, state FROM product_reservations ORDER BY updated_ms').all() as
      Array<{ order_id: string; items: string; state: number }>)
      .map((r): Reservation => ({ orderId: r.order_id, items: JSON.parse(r.items) as LineItem[], state: r.state })),
  }));

  serveReliable(node, ReserveStock, reserve);
  serveReliable(node, ReleaseStock, release);

  function reserve({ orderId, items }: ReserveStock, ctx: ReliableContext): void {
    const d = schema(ctx.db);
    if (orderId === '') return; // nothing to key a reservation on; nothing can be reserved
    // Idempotent: a reservation, a refusal or a tombstone for this order already decided.
    if (sql(d, 'SELECT 1 FROM product_reservations WHERE order_id = ?').get(orderId) !== undefined) return;

    const wanted = mergeLines(items);
    const refusal = checkReservation(wanted, item);
    if (refusal !== undefined) {
      insertReservation(d, orderId, wanted, ReservationState.RESERVATION_STATE_REFUSED, refusal.reason);
      ctx.publish(StockRejected, { orderId, reason: refusal.reason, sku: refusal.sku });
      return;
    }
    const take = sql(d, 'UPDATE product_items SET stock = stock - ?, reserved = reserved + ? WHERE sku = ?');
    for (const line of wanted) take.run(line.quantity, line.quantity, line.sku);
    insertReservation(d, orderId, wanted, ReservationState.RESERVATION_STATE_HELD, '');
    ctx.publish(StockReserved, { orderId, items: wanted });
    for (const line of wanted) announce(line.sku, ctx);
  }

  function release({ orderId, reason }: ReleaseStock, ctx: ReliableContext): void {
    const d = schema(ctx.db);
    if (orderId === '') return;
    const row = sql(d, 'SELECT items, state FROM product_reservations WHERE order_id = ?').get(orderId) as
      { items: string; state: number } | undefined;
    if (row === undefined) {
      // The release overtook its reservation (another sender, a failover): refuse the
      // reservation in advance so no stock can leak to an order that is already over.
      insertReservation(d, orderId, [], ReservationState.RESERVATION_STATE_REFUSED, `released before reserved: ${reason}`);
      return;
    }
    if (row.state !== ReservationState.RESERVATION_STATE_HELD) return;
    const lines = JSON.parse(row.items) as LineItem[];
    const give = sql(d, 'UPDATE product_items SET stock = stock + ?, reserved = reserved - ? WHERE sku = ?');
    for (const line of lines) give.run(line.quantity, line.quantity, line.sku);
    sql(d, 'UPDATE product_reservations SET state = ?, reason = ?, updated_ms = ? WHERE order_id = ?')
      .run(ReservationState.RESERVATION_STATE_RELEASED, reason, now(), orderId);
    for (const line of lines) announce(line.sku, ctx);
  }

  function announce(sku: string, ctx: ReliableContext): void {
    const row = item(sku);
    if (row !== undefined) ctx.publish(ProductChanged, { product: toProduct(row) }, { suffix: sku });
  }

  await startNode(node, () => seed(db(), o.catalog ?? demoCatalog()));
  return { node, close: () => node.close() };
}

/** One line per sku, quantities added up; order of first appearance kept. */
function mergeLines(items: LineItem[]): LineItem[] {
  const bySku = new Map<string, LineItem>();
  for (const it of items) {
    const seen = bySku.get(it.sku);
    if (seen === undefined) bySku.set(it.sku, { ...it });
    else seen.quantity += it.quantity;
  }
  return [...bySku.values()];
}

/** Why a reservation cannot be made, or undefined when it can. */
function checkReservation(lines: LineItem[], item: (sku: string) => ItemRow | undefined): { reason: string; sku: string } | undefined {
  if (lines.length === 0) return { reason: 'no items', sku: '' };
  for (const line of lines) {
    const row = item(line.sku);
    if (row === undefined) return { reason: `unknown product "${line.sku}"`, sku: line.sku };
    if (!Number.isSafeInteger(line.quantity) || line.quantity <= 0) return { reason: `bad quantity ${line.quantity} of "${line.sku}"`, sku: line.sku };
    if (line.unitPriceCents !== row.price_cents) return { reason: `price of "${line.sku}" changed`, sku: line.sku };
    if (row.stock < line.quantity) return { reason: `out of stock: "${line.sku}"`, sku: line.sku };
  }
  return undefined;
}

function insertReservation(db: Database, orderId: string, items: LineItem[], state: number, reason: string): void {
  sql(db, 'INSERT INTO product_reservations (order_id, items, state, reason, updated_ms) VALUES (?, ?, ?, ?, ?)')
    .run(orderId, JSON.stringify(items), state, reason, now());
}

function seed(db: Database, catalog: SeedProduct[]): void {
  db.transaction(() => {
    if (sql(db, 'SELECT 1 FROM product_items LIMIT 1').get() !== undefined) return;
    const add = sql(db, 'INSERT INTO product_items (sku, name, price_cents, stock) VALUES (?, ?, ?, ?)');
    for (const p of catalog) add.run(p.sku, p.name, p.priceCents, p.stock);
  }).immediate();
}
