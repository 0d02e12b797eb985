/**
 * The `metrics` option of a node (README "Monitoring"): what it exports, where, and
 * when it calls itself ready. Types only; options.ts validates and applies defaults,
 * observe/ does the work.
 */
import type { Registry } from 'prom-client';

export interface MetricsOptions {
  /** HTTP port serving `GET /metrics` (Prometheus text), `/healthz` and `/readyz`; 0
   *  picks a free one (`node.endpoints.metrics` says which, after start). Without a
   *  port no HTTP server runs, and then `registry` is required: the metrics are yours
   *  to expose. */
  port?: number;
  /** Address the HTTP server binds. Default "127.0.0.1" (loopback only: metrics and
   *  health say a lot about a node, so exposing them is a decision). "0.0.0.0" for a
   *  Prometheus on another host. */
  host?: string;
  /** A prom-client Registry to register zmesh's metrics in, beside your own. Default:
   *  a registry of the node's own. Several nodes may share one: they share the metric
   *  objects, each series carries its node's `service` label, and nodes of the same
   *  service in one registry are summed (their `zmesh_node_info` rows stay apart). */
  registry?: Registry;
  /** Also export prom-client's default process metrics (CPU, RSS, heap, GC,
   *  event-loop lag: `process_*`, `nodejs_*`). With a registry of yours they are
   *  registered in it (unless already there); nodes with registries of their own serve
   *  them from one registry per process, since they describe the process. Default true. */
  processMetrics?: boolean;
  /** What `/readyz` waits for besides a started node with a writable store. */
  readiness?: {
    /** Services this node depends on: ready only while each has an instance up.
     *  Default none. */
    services?: string[];
    /** Not ready while the outbox holds this many commands or more. Default: 90 % of
     *  reliable.maxOutbox (the point where send() is about to refuse). */
    maxOutbox?: number;
  };
}
