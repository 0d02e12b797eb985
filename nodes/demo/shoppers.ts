/**
 * Simulated shoppers: each fills its own cart, checks out once, and waits for its
 * checkout's terminal state. They behave as a careful client should: a checkout that
 * fails in transit (no route, timeout, peer down) is retried with the same
 * idempotency key, so it can never make a second order, and the outcome is learned
 * from order's events or, if those were missed (a restart), by asking order.
 */
import { ErrorCode, call, isErrorCode, isEventOf, type MeshEvent, type MeshNode, type Subscription } from 'zmesh';
import {
  AddItem, Checkout, CheckoutStatus, GetCart, GetOrder, OrderConfirmed, OrderRejected, OrderStatus, type Cart, type LineItem,
} from '../commerce/api.js';
import { SCARCE_SKU } from '../product/catalog.js';

export interface ShopperOptions {
  /** Number of shoppers, one checkout each. */
  orders: number;
  /** Shoppers active at once. Default: all of them. */
  concurrency?: number;
  /** Prefix of cart ids and idempotency keys, unique per run. */
  runId: string;
  /** Give up on a shopper after this long. Default 120_000 ms. */
  deadlineMs?: number;
  signal?: AbortSignal;
  onProgress?(p: Progress): void;
}

export interface Progress {
  started: number;
  submitted: number;
  confirmed: number;
  rejected: number;
  retries: number;
}

export type Outcome = 'confirmed' | 'rejected' | 'unfinished';

export interface ShopperResult {
  index: number;
  cartId: string;
  idempotencyKey: string;
  /** Empty when cart refused the checkout before any order existed. */
  orderId: string;
  items: LineItem[];
  outcome: Outcome;
  /** Who ended it: "cart" refused it, "order" decided it. */
  decidedBy: 'cart' | 'order' | '';
  reason: string;
  /** From the first Checkout request to the terminal state, in ms. */
  latencyMs: number;
  attempts: number;
}

const TRANSIENT = new Set<string>([ErrorCode.NO_ROUTE, ErrorCode.TIMEOUT, ErrorCode.PEER_DOWN, ErrorCode.QUEUE_FULL]);
const POLL_MS = 1_000;

/** Worth another try: the mesh lost the request, or a service said its failure was
 *  transient (a downstream peer went down under it). */
function transient(err: unknown): boolean {
  const { code, retryable } = err as { code?: string; retryable?: boolean };
  return retryable === true || (code !== undefined && isErrorCode(code) && TRANSIENT.has(code));
}

/** What each shopper buys: one scarce item, and sometimes a few plentiful ones. */
export function basketOf(index: number): Array<{ sku: string; quantity: number }> {
  const basket = [{ sku: SCARCE_SKU, quantity: 1 }];
  if (index % 3 === 1) basket.push({ sku: 'sticker-pack', quantity: 2 });
  if (index % 5 === 2) basket.push({ sku: 'tshirt', quantity: 1 });
  return basket;
}

export async function runShoppers(node: MeshNode, o: ShopperOptions): Promise<ShopperResult[]> {
  const deadline = Date.now() + (o.deadlineMs ?? 120_000);
  const progress: Progress = { started: 0, submitted: 0, confirmed: 0, rejected: 0, retries: 0 };
  const report = (): void => o.onProgress?.({ ...progress });

  // Outcomes seen on the wire, kept even when they arrive before the shopper asks.
  const outcomes = new Map<string, { status: number; reason: string }>();
  const waiters = new Map<string, () => void>();
  const settle = (orderId: string, status: number, reason: string): void => {
    if (!outcomes.has(orderId)) outcomes.set(orderId, { status, reason });
    waiters.get(orderId)?.();
  };
  // The two outcome topics, each on its own: a subscription to "order." would also
  // bring every order.placed, which order then sends to this node for nothing.
  const onOutcome = (e: MeshEvent): void => {
    if (isEventOf(OrderConfirmed, e.topic)) settle(OrderConfirmed.codec.decode(e.payload).order.orderId, OrderStatus.ORDER_STATUS_CONFIRMED, '');
    else if (isEventOf(OrderRejected, e.topic)) {
      const { order, reason } = OrderRejected.codec.decode(e.payload);
      settle(order.orderId, OrderStatus.ORDER_STATUS_REJECTED, reason);
    }
  };
  const subs: Subscription[] = [];

  /** Runs `fn` until it succeeds, retrying transient mesh errors with backoff. */
  async function persist<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!transient(err) || Date.now() > deadline || o.signal?.aborted) throw err;
        progress.retries++;
        await pause(Math.min(1_000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2), o.signal);
      }
    }
  }

  async function waitForOutcome(orderId: string): Promise<{ status: number; reason: string } | undefined> {
    while (Date.now() < deadline && o.signal?.aborted !== true) {
      const seen = outcomes.get(orderId);
      if (seen !== undefined) return seen;
      const woke = await new Promise<boolean>((resolve) => {
        const end = (answer: boolean): void => {
          clearTimeout(t);
          waiters.delete(orderId);
          o.signal?.removeEventListener('abort', stopped);
          resolve(answer);
        };
        // A stopped run stops waiting at once (the loop then sees the signal).
        const stopped = (): void => end(true);
        const t = setTimeout(() => end(false), POLL_MS);
        waiters.set(orderId, () => end(true));
        o.signal?.addEventListener('abort', stopped, { once: true });
      });
      if (woke) continue;
      // No event within POLL_MS: it may have been published while we were not
      // connected (order restarting). Ask.
      try {
        const order = await call(node, GetOrder, { orderId }, { timeoutMs: 2_000 });
        if (order.status !== OrderStatus.ORDER_STATUS_PENDING) settle(orderId, order.status, order.reason);
      } catch {
        // Not placed yet (PlaceOrder still in cart's outbox), or order is down: wait on.
      }
    }
    return outcomes.get(orderId);
  }

  async function shop(index: number): Promise<ShopperResult> {
    const cartId = `${o.runId}-cart-${index}`;
    const idempotencyKey = `${o.runId}-checkout-${index}`;
    const result: ShopperResult = {
      index, cartId, idempotencyKey, orderId: '', items: [], outcome: 'unfinished', decidedBy: '', reason: '', latencyMs: 0, attempts: 0,
    };
    progress.started++;
    // The cart as its last answer showed it (AddItem answers with the cart).
    let cart: Cart | undefined;
    for (const line of basketOf(index)) {
      // AddItem adds: after a lost reply, look before adding again. A first attempt
      // has nothing to look for (each shopper's cart is its own and new).
      let retry = false;
      cart = await persist(async () => {
        if (retry) {
          const seen = await call(node, GetCart, { cartId });
          if ((seen.items.find((i) => i.sku === line.sku)?.quantity ?? 0) >= line.quantity) return seen;
        }
        retry = true;
        return call(node, AddItem, { cartId, sku: line.sku, quantity: line.quantity });
      });
    }
    result.items = (cart ?? await persist(() => call(node, GetCart, { cartId }))).items;
    const t0 = performance.now();
    const reply = await persist(() => { result.attempts++; return call(node, Checkout, { cartId, idempotencyKey }); });
    result.orderId = reply.orderId;
    if (reply.status === CheckoutStatus.CHECKOUT_STATUS_REJECTED && reply.orderId === '') {
      Object.assign(result, { outcome: 'rejected', decidedBy: 'cart', reason: reply.reason, latencyMs: performance.now() - t0 });
      progress.rejected++;
      report();
      return result;
    }
    progress.submitted++;
    report();
    const end = await waitForOutcome(reply.orderId);
    result.latencyMs = performance.now() - t0;
    if (end !== undefined) {
      const confirmed = end.status === OrderStatus.ORDER_STATUS_CONFIRMED;
      Object.assign(result, { outcome: confirmed ? 'confirmed' : 'rejected', decidedBy: 'order', reason: end.reason });
      if (confirmed) progress.confirmed++;
      else progress.rejected++;
    }
    report();
    return result;
  }

  try {
    for (const def of [OrderConfirmed, OrderRejected]) subs.push(await node.subscribe(def.topic, onOutcome, { signal: o.signal }));
    const results: ShopperResult[] = new Array(o.orders);
    const unfinished = (i: number, reason: string): ShopperResult => ({
      index: i, cartId: `${o.runId}-cart-${i}`, idempotencyKey: `${o.runId}-checkout-${i}`, orderId: '', items: [],
      outcome: 'unfinished', decidedBy: '', reason, latencyMs: 0, attempts: 0,
    });
    let next = 0;
    const lane = async (): Promise<void> => {
      // Stopped (Ctrl-C): no new shopper starts. Before, the lanes went on placing
      // every remaining order, only no longer waiting for outcomes, for seconds.
      while (next < o.orders && o.signal?.aborted !== true) {
        const i = next++;
        results[i] = await shop(i).catch((err: unknown) => unfinished(i, (err as Error).message));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? o.orders, o.orders)) }, lane));
    // Shoppers that never started (the run was stopped) are unfinished too.
    for (let i = next; i < o.orders; i++) results[i] = unfinished(i, 'not started: the run was stopped');
    return results;
  } finally {
    for (const sub of subs) sub.unsubscribe();
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
