/**
 * What `zmesh top` knows about the mesh: the last summary of each node, judged by its
 * age, and the mesh's totals. Pure data and functions, no I/O and no clock of its own
 * (every call is given `nowMs`), so the view and the JSON snapshot share it and tests
 * drive it with made-up times.
 *
 * A node's summaries come every intervalMs (its own, in each summary). One missing
 * for STALE_INTERVALS of them marks the node stale (shown, dimmed, out of the totals);
 * after GONE_INTERVALS it is removed. With the 1 s default: stale after 3 s, gone
 * after 10 s. A node that says it is closing is removed after STALE_INTERVALS.
 */
import type { NodeSummary } from 'zmesh';

export const STALE_INTERVALS = 3;
export const GONE_INTERVALS = 10;

export const SORT_KEYS = ['service', 'rate', 'latency', 'outbox', 'errors'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
/** The key that picks each sort in the live view. */
export const SORT_BY_KEY: Readonly<Record<string, SortKey>> = { s: 'service', r: 'rate', l: 'latency', o: 'outbox', e: 'errors' };

export interface NodeRow extends NodeSummary {
  /** ms since its last summary arrived. */
  ageMs: number;
  stale: boolean;
}

export interface Totals {
  /** Nodes that are not stale. */
  nodes: number;
  services: number;
  requestsInPerS: number;
  requestsOutPerS: number;
  errorsPerS: number;
  outboxDepth: number;
  deadLetters: number;
}

export interface Snapshot {
  mesh: string;
  takenAtMs: number;
  totals: Totals;
  nodes: NodeRow[];
}

export class MeshView {
  private readonly last = new Map<string, { summary: NodeSummary; atMs: number }>();

  constructor(readonly mesh: string) {}

  /** A summary arrived at `nowMs` (this machine's clock: nodes' clocks may disagree). */
  add(summary: NodeSummary, nowMs: number): void {
    this.last.set(summary.nodeId, { summary, atMs: nowMs });
  }

  has(nodeId: string): boolean {
    return this.last.has(nodeId);
  }

  get size(): number {
    return this.last.size;
  }

  /** The longest interval any node reported, ms (0 before the first summary). */
  longestIntervalMs(): number {
    let max = 0;
    for (const { summary } of this.last.values()) max = Math.max(max, summary.intervalMs);
    return max;
  }

  /** Drops the nodes gone for good, then returns the mesh as it stands, sorted. */
  snapshot(nowMs: number, sort: SortKey = 'service'): Snapshot {
    const nodes: NodeRow[] = [];
    for (const [id, { summary, atMs }] of this.last) {
      const ageMs = nowMs - atMs;
      const every = Math.max(1, summary.intervalMs);
      if (ageMs > (summary.state === 'closing' ? STALE_INTERVALS : GONE_INTERVALS) * every) {
        this.last.delete(id);
        continue;
      }
      nodes.push({ ...summary, ageMs, stale: ageMs > STALE_INTERVALS * every });
    }
    nodes.sort(ORDER[sort]);
    return { mesh: this.mesh, takenAtMs: nowMs, totals: totalsOf(nodes), nodes };
  }
}

const round = (n: number): number => Math.round(n * 100) / 100;

export function totalsOf(rows: readonly NodeRow[]): Totals {
  const live = rows.filter((r) => !r.stale);
  const sum = (f: (r: NodeRow) => number): number => live.reduce((a, r) => a + f(r), 0);
  return {
    nodes: live.length,
    services: new Set(live.map((r) => r.service)).size,
    requestsInPerS: round(sum((r) => r.requestsInPerS)),
    requestsOutPerS: round(sum((r) => r.requestsOutPerS)),
    errorsPerS: round(sum((r) => r.errorsPerS)),
    outboxDepth: sum((r) => r.outboxDepth),
    deadLetters: sum((r) => r.deadLetters),
  };
}

type Order = (a: NodeRow, b: NodeRow) => number;
const byName: Order = (a, b) => a.service.localeCompare(b.service) || a.nodeId.localeCompare(b.nodeId);
const desc = (f: (r: NodeRow) => number): Order => (a, b) => f(b) - f(a) || byName(a, b);
const ORDER: Record<SortKey, Order> = {
  service: byName,
  rate: desc((r) => r.requestsInPerS + r.requestsOutPerS),
  latency: desc((r) => r.handlerP99Ms),
  outbox: desc((r) => r.outboxDepth),
  errors: desc((r) => r.errorsPerS),
};
