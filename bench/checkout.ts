/**
 * Checkout end to end through the three commerce nodes, each its own process on
 * 127.0.0.1 (static peers: no mDNS on the host), shoppers in this process:
 *
 * - latency: one shopper at a time, so each checkout sees an idle mesh; checkout
 *   request -> cart -> order (PlaceOrder, reliable) -> product (ReserveStock,
 *   reliable) -> StockReserved (reliable event) -> order -> OrderConfirmed -> shopper.
 * - throughput: many shoppers at once; checkouts per second over the whole run
 *   (filling the carts included), and latency under that load.
 * Stock covers every order, so each checkout runs the full saga to CONFIRMED. Every
 * run is audited; a row whose invariants failed says so.
 */
import { runDemo } from '../nodes/demo/run.js';
import { textTable } from './lib/report.js';
import { barChart } from './lib/svg.js';

export interface CheckoutRow {
  scenario: 'checkout-latency' | 'checkout-throughput';
  orders: number;
  concurrency: number;
  confirmed: number;
  p50Ms: number;
  p99Ms: number;
  checkoutsPerSec: number;
  invariantsHold: boolean;
}

export interface CheckoutConfig { latencyOrders: number; throughputOrders: number; concurrency: number }
export const CHECKOUT_QUICK: CheckoutConfig = { latencyOrders: 150, throughputOrders: 600, concurrency: 100 };
export const CHECKOUT_FULL: CheckoutConfig = { latencyOrders: 1_000, throughputOrders: 5_000, concurrency: 200 };

export async function runCheckout(c: CheckoutConfig, progress: (l: string) => void): Promise<CheckoutRow[]> {
  const rows: CheckoutRow[] = [];
  for (const [scenario, orders, concurrency] of [
    ['checkout-latency', c.latencyOrders, 1],
    ['checkout-throughput', c.throughputOrders, c.concurrency],
  ] as const) {
    progress(`${scenario}: ${orders} checkouts, ${concurrency} at a time, through product, order and cart`);
    const r = await runDemo({ orders, stock: orders, concurrency, discovery: 'static', stderr: 'ignore' });
    rows.push({
      scenario, orders, concurrency, confirmed: r.confirmed, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99,
      checkoutsPerSec: r.checkoutsPerSecond, invariantsHold: r.ok && r.unfinished === 0,
    });
  }
  return rows;
}

/** Checkout latency as a chart: p50 bars with p99 whiskers, idle and under load. */
export function checkoutChart(rows: CheckoutRow[], subtitle: string): string {
  return barChart({
    title: 'Checkout end to end through product, order and cart (bar p50, whisker p99)',
    subtitle,
    unit: 'ms',
    groups: rows.map((r) => ({
      label: r.concurrency === 1 ? 'one at a time' : `${r.concurrency} at a time (${r.checkoutsPerSec}/s)`,
      bars: [{ system: 'zmesh', value: r.p50Ms, whisker: r.p99Ms }],
    })),
  });
}

export function checkoutTable(rows: CheckoutRow[]): string {
  const head = ['scenario', 'orders', 'at once', 'confirmed', 'p50 ms', 'p99 ms', 'checkouts/s', 'invariants'];
  const body = rows.map((r) => [r.scenario, String(r.orders), String(r.concurrency), String(r.confirmed), String(r.p50Ms), String(r.p99Ms), String(r.checkoutsPerSec), r.invariantsHold ? 'hold' : 'VIOLATED']);
  return textTable(head, body);
}
