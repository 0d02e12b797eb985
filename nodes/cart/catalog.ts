/**
 * cart's copy of product's catalog (prices, stock as product last said): one
 * ListProducts, shared by every AddItem and Checkout for a moment (CATALOG_MAX_AGE_MS
 * by default), and by all who ask while it is in flight.
 *
 * Why: asking product on every AddItem (GetProduct) and every Checkout (ListProducts)
 * was 2.5 requests per checkout of the demo, each a round trip through the sockets of
 * both nodes; under load that was a large share of cart's and product's CPU, which is
 * what bounds checkouts per second.
 *
 * What the age costs, and why it is safe:
 *   - a price: product sets prices only when it seeds its catalog. Should one change,
 *     a cart line keeps the old price for at most the age, and product refuses to
 *     reserve at a price that is not its own (ReserveStock checks it): the order is
 *     rejected, never sold at the wrong price.
 *   - stock: Checkout's stock check is a soft one (product decides, atomically, when
 *     it reserves); an older figure lets a few more checkouts reach order, which
 *     rejects them.
 *   - a sku the copy lacks is asked for on its own (GetProduct), so an unknown item
 *     fails as product says, and a new one is found at once.
 */
import { call, type MeshNode } from 'zmesh';
import { GetProduct, ListProducts, type Product } from '../commerce/api.js';

/** How long one ListProducts answer serves, by default. */
export const CATALOG_MAX_AGE_MS = 100;

/** Whose signal ends the wait: a handler's context. Read only when product is asked,
 *  since reading a handler's `signal` makes its AbortController (22 us a checkout). */
export interface Caller {
  readonly signal?: AbortSignal;
}

export interface Catalog {
  /** The products, at most `maxAgeMs` old. Rejects as ListProducts does, or
   *  with the caller's signal's reason. */
  products(caller?: Caller): Promise<Map<string, Product>>;
  /** One product: from the copy, or asked for (GetProduct) when the copy lacks it. */
  product(sku: string, caller?: Caller): Promise<Product>;
}

export function catalogOf(node: MeshNode, maxAgeMs: number, now: () => number = () => performance.now()): Catalog {
  let fresh: { at: number; bySku: Map<string, Product> } | undefined;
  let inFlight: Promise<Map<string, Product>> | undefined;

  const fetch = (): Promise<Map<string, Product>> => {
    // No caller's signal: others share the answer. The request has the node's timeout.
    inFlight ??= call(node, ListProducts, {}).then(
      ({ products }) => {
        const bySku = new Map(products.map((p) => [p.sku, p]));
        fresh = { at: now(), bySku };
        inFlight = undefined;
        return bySku;
      },
      (err: unknown) => {
        inFlight = undefined;
        throw err;
      },
    );
    return inFlight;
  };

  const products = (caller?: Caller): Promise<Map<string, Product>> => {
    if (fresh !== undefined && now() - fresh.at < maxAgeMs) return Promise.resolve(fresh.bySku);
    return abortable(fetch(), caller?.signal);
  };

  return {
    products,
    product: async (sku, caller) => (await products(caller)).get(sku) ?? call(node, GetProduct, { sku }, { signal: caller?.signal }),
  };
}

/** `p`, or `signal`'s reason once it aborts (the shared request goes on for others). */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
