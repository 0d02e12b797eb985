/**
 * Every zmesh metric, declared once: name, type, labels, help. README "Monitoring"
 * carries the same table, and test/metrics.test.ts checks that the two agree.
 *
 * One set of metric objects per registry (several nodes may share one): each series
 * carries its node's `service` label. Two kinds of metric:
 * - fed on the hot path by the NodeObserver hooks (durations, outcomes): recorded
 *   through cached children, so a hook costs a map lookup and an increment;
 * - read at scrape time (collect.ts) from what the node counts anyway: no hot-path
 *   work at all.
 * Counters never go down while a node lives: they are the node's own totals, not sums
 * over peer objects, so a peer that goes away takes nothing with it.
 */
import type * as Prom from 'prom-client';
import { SeriesMetric } from './series.js';

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDef {
  name: string;
  type: MetricType;
  labels: readonly string[];
  help: string;
  buckets?: readonly number[];
  /** Recorded on the hot path as plain numbers (series.ts), read by prom-client when scraped. */
  series?: true;
}

/** Request and handler durations: 0.1 ms .. 10 s (a loopback request is ~0.1 ms). */
const SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Writes per store transaction: up to MAX_BATCH_WRITES (1 024). */
const WRITES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

const def = (name: string, type: MetricType, labels: readonly string[], help: string, buckets?: readonly number[]): MetricDef =>
  (buckets === undefined ? { name, type, labels, help } : { name, type, labels, help, buckets });
const hot = (d: MetricDef): MetricDef => ({ ...d, series: true });

/** Fed by hooks (node-metrics.ts). */
export const HOOKED = {
  info: def('zmesh_node_info', 'gauge', ['version', 'node_id', 'service', 'mesh'], 'Always 1; the only metric that names the node'),
  requestSeconds: hot(def('zmesh_request_duration_seconds', 'histogram', ['service', 'peer_service', 'method'], 'Requests and reliable-command deliveries this node sent, from sending to settling', SECONDS)),
  requests: hot(def('zmesh_requests_total', 'counter', ['service', 'peer_service', 'method', 'outcome'], 'Requests and reliable-command deliveries this node sent, by outcome ("ok" or an error code)')),
  handlerSeconds: hot(def('zmesh_handler_duration_seconds', 'histogram', ['service', 'method'], 'Requests and commands this node handled, from dispatch to settling', SECONDS)),
  handled: hot(def('zmesh_handled_total', 'counter', ['service', 'method', 'outcome'], 'Requests and commands this node handled, by outcome ("ok" or the error code its caller got)')),
  handlerErrors: hot(def('zmesh_handler_errors_total', 'counter', ['service', 'method', 'code'], 'Handled requests and commands that failed, by error code')),
  batchWrites: hot(def('zmesh_store_batch_writes', 'histogram', ['service'], 'Writes per store transaction of reliable writes (commands received, commit() blocks; refused ones included)', WRITES)),
  commitSeconds: hot(def('zmesh_store_commit_duration_seconds', 'histogram', ['service'], 'Time per store transaction of reliable writes, commit (fsync) included', SECONDS)),
  peerChanges: def('zmesh_peer_state_changes_total', 'counter', ['service', 'peer_service', 'state'], 'Peers that came up or went down (state "up" or "down")'),
} as const;

/** Read at scrape time (collect.ts). */
export const SCRAPED = {
  sent: def('zmesh_messages_sent_total', 'counter', ['service', 'kind'], 'Envelopes built for sending, by protocol kind (request, reply, event, ping, ...)'),
  received: def('zmesh_messages_received_total', 'counter', ['service', 'kind'], 'Valid envelopes received, by protocol kind'),
  dropped: def('zmesh_messages_dropped_total', 'counter', ['service', 'reason'], 'Inbound frames dropped, by reason'),
  batches: def('zmesh_send_batches_total', 'counter', ['service'], 'ZeroMQ messages the sent envelopes left in (coalescing)'),
  sendErrors: def('zmesh_send_errors_total', 'counter', ['service'], 'Batches a socket failed to send'),
  requestsInFlight: def('zmesh_requests_in_flight', 'gauge', ['service'], 'Requests this node sent that are not settled yet'),
  handlersInFlight: def('zmesh_handlers_in_flight', 'gauge', ['service'], 'Handlers running now (load)'),
  published: def('zmesh_events_published_total', 'counter', ['service'], 'Events this node published'),
  delivered: def('zmesh_events_delivered_total', 'counter', ['service'], 'Events delivered to this node\'s subscriptions'),
  lost: def('zmesh_events_lost_total', 'counter', ['service'], 'Reliable events this node\'s durable and catch-up subscriptions moved past: their publisher\'s log cannot read them'),
  bounds: def('zmesh_bounds_total', 'counter', ['service', 'reason'], 'What the node refused or rebuilt to stay within its bounds, by reason'),
  peers: def('zmesh_peers', 'gauge', ['service', 'peer_service', 'state'], 'Peers known now, by state'),
  rtt: def('zmesh_peer_rtt_seconds', 'gauge', ['service', 'peer_service'], 'Last heartbeat round trip, averaged over the peers of a service that are up'),
  sendQueue: def('zmesh_send_queue_depth', 'gauge', ['service', 'queue'], 'Messages waiting in send queues (router, publisher, links)'),
  candidates: def('zmesh_discovery_candidates_total', 'counter', ['service', 'source'], 'Peer candidates proposed, by source (static, mdns, dns, hello, member, ...)'),
  outbox: def('zmesh_outbox_depth', 'gauge', ['service'], 'Reliable commands in the outbox, not yet acknowledged'),
  outboxAge: def('zmesh_outbox_oldest_age_seconds', 'gauge', ['service'], 'Age of the command first in line in the outbox (0 when empty)'),
  retries: def('zmesh_reliable_retries_total', 'counter', ['service'], 'Reliable-command deliveries that failed and go out again'),
  deadLetters: def('zmesh_dead_letters_total', 'counter', ['service'], 'Reliable commands moved to the dead letters'),
  applied: def('zmesh_inbox_applied_total', 'counter', ['service'], 'Reliable commands received whose handler ran and committed (duplicates excluded)'),
  held: def('zmesh_reliable_held_total', 'counter', ['service'], 'Deliveries held because the receiver\'s store was full'),
  diskFull: def('zmesh_store_disk_full', 'gauge', ['service'], '1 while the store\'s last write failed for want of disk space'),
  durableLag: def('zmesh_durable_lag_events', 'gauge', ['service', 'prefix'], 'Durable subscriptions: events behind the publishers\' heads, by topic prefix'),
  replays: def('zmesh_replay_requests_total', 'counter', ['service', 'role'], '$replay requests served for others and requested by this node\'s durable subscriptions'),
  elu: def('zmesh_event_loop_utilization_ratio', 'gauge', [], 'Share of time the event loop was busy since the previous scrape (perf_hooks eventLoopUtilization), 0..1'),
} as const;

export type HookedName = keyof typeof HOOKED;
export type ScrapedName = keyof typeof SCRAPED;

/** Every metric zmesh registers (besides prom-client's process metrics). */
export const ALL_METRICS: readonly MetricDef[] = [...Object.values(HOOKED), ...Object.values(SCRAPED)];

type PromMetric = Prom.Counter<string> | Prom.Gauge<string> | Prom.Histogram<string>;

/** A hot-path metric (series.ts), registered in `registry`. */
export function makeSeries(registry: Prom.Registry, d: MetricDef): SeriesMetric {
  const m = new SeriesMetric(d.name, d.help, d.type === 'histogram' ? 'histogram' : 'counter', d.labels, d.buckets);
  registry.registerMetric(m as unknown as Prom.Metric);
  return m;
}

/** Builds one metric in `registry`; `collect` (scrape-time) fills it when scraped. */
export function makeMetric(prom: typeof Prom, registry: Prom.Registry, d: MetricDef, collect?: (m: PromMetric) => void): PromMetric {
  const base = {
    name: d.name, help: d.help, labelNames: [...d.labels], registers: [registry],
    ...(collect === undefined ? {} : { collect(this: PromMetric) { collect(this); } }),
  };
  if (d.type === 'counter') return new prom.Counter(base);
  if (d.type === 'gauge') return new prom.Gauge(base);
  return new prom.Histogram({ ...base, buckets: [...d.buckets!] });
}
