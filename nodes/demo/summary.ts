/** The demo's result: counts, the stock check and checkout latency percentiles. */
import * as hdr from 'hdr-histogram-js';
import type { AuditReport } from './audit.js';
import type { ShopperResult } from './shoppers.js';

export interface DemoSummary {
  ok: boolean;
  orders: number;
  confirmed: number;
  rejected: { total: number; byCart: number; byOrder: number };
  unfinished: number;
  stock: { sku: string; initial: number; sold: number; left: number };
  /** Checkout to terminal state, in ms, over checkouts that reached one. */
  latencyMs: { p50: number; p99: number; max: number };
  checkoutsPerSecond: number;
  wallMs: number;
  retries: number;
  violations: string[];
}

export function summarize(results: ShopperResult[], report: AuditReport, scarce: { sku: string; initial: number }, wallMs: number, retries: number): DemoSummary {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  const finished = results.filter((r) => r.outcome !== 'unfinished');
  for (const r of finished) h.recordValue(Math.max(1, Math.round(r.latencyMs * 1000)));
  const ms = (us: number): number => Math.round(us / 10) / 100;
  // A percentile of the histogram is the top of its bucket, which can lie above the
  // largest sample (p99 1094.66 ms beside a max of 1094.34). The max is the exact
  // largest latency, and no percentile is reported above it: clamped.
  const max = finished.reduce((m, r) => Math.max(m, r.latencyMs), 0);
  const upTo = (p: number): number => Math.min(ms(h.getValueAtPercentile(p)), Math.round(max * 100) / 100);
  const latencyMs = { p50: upTo(50), p99: upTo(99), max: Math.round(max * 100) / 100 };
  h.destroy();
  const left = report.products.find((p) => p.sku === scarce.sku)?.stock ?? -1;
  const rejected = results.filter((r) => r.outcome === 'rejected');
  return {
    ok: report.ok,
    orders: results.length,
    confirmed: results.filter((r) => r.outcome === 'confirmed').length,
    rejected: { total: rejected.length, byCart: rejected.filter((r) => r.decidedBy === 'cart').length, byOrder: rejected.filter((r) => r.decidedBy === 'order').length },
    unfinished: results.length - finished.length,
    stock: { sku: scarce.sku, initial: scarce.initial, sold: report.sold[scarce.sku] ?? 0, left },
    latencyMs,
    checkoutsPerSecond: Math.round((finished.length / (wallMs / 1000)) * 10) / 10,
    wallMs: Math.round(wallMs),
    retries,
    violations: report.violations,
  };
}

export function formatSummary(s: DemoSummary): string {
  const lines = [
    '',
    `  orders        ${s.orders} checkouts: ${s.confirmed} confirmed, ${s.rejected.total} rejected (${s.rejected.byCart} by cart, ${s.rejected.byOrder} by order)${s.unfinished > 0 ? `, ${s.unfinished} UNFINISHED` : ''}`,
    `  stock         ${s.stock.sku}: ${s.stock.initial} in stock, ${s.stock.sold} sold, ${s.stock.left} left`,
    `  latency       checkout to outcome p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`,
    `  throughput    ${s.checkoutsPerSecond} checkouts/s over ${(s.wallMs / 1000).toFixed(1)} s (${s.retries} retries)`,
    `  invariants    ${s.ok ? 'all hold: no oversell, no negative stock, one order per key, one terminal state each, no leaked reservation' : 'VIOLATED'}`,
    ...s.violations.slice(0, 20).map((v) => `    - ${v}`),
    ...(s.violations.length > 20 ? [`    ... and ${s.violations.length - 20} more`] : []),
  ];
  return lines.join('\n');
}
