/**
 * One node's metrics: the observer node.ts fans in with the user's, and start/close.
 *
 * prom-client is imported in start(), never before: a node without `metrics` does not
 * load it. The observer exists from createNode on (compose wires hooks then) and is a
 * no-op until start() attaches it; it stays cheap after: a cached child per label set.
 *
 * Registries: one set of metric objects per registry (a WeakMap, no global state), so
 * nodes sharing a registry never register a name twice. A node that closes leaves its
 * counters at their last values (a total never drops) and takes its gauges and its
 * zmesh_node_info row away.
 */
import { performance } from 'node:perf_hooks';
import type * as Prom from 'prom-client';
import type { Logger } from 'pino';
import type { MetricsSettings } from '../options.js';
import type { MeshNode, NodeObserver, NodeStats } from '../types.js';
import { FILLS, type Snapshot } from './collect.js';
import { liveness, readiness, type HealthView } from './health.js';
import { startMetricsServer } from './http.js';
import { HOOKED, SCRAPED, makeMetric, makeSeries, type ScrapedName } from './instruments.js';
import type { Series, SeriesMetric } from './series.js';
import { ChildCache, LabelBudget } from './labels.js';
import { zmeshVersion } from './version.js';

/** What metrics read of a node. */
export interface MetricsView extends HealthView {
  readonly id: string;
  readonly service: string;
  readonly mesh: string;
  stats(): NodeStats;
  on: MeshNode['on'];
}

/** Records one node's hook calls into its registry's metrics. */
interface Recorder {
  request(service: string, method: string, ms: number, outcome: string): void;
  handler(method: string, ms: number, outcome: string): void;
  batch(writes: number, ms: number): void;
}

/** The hooks node.ts fans in (observe.ts fanOut); they do nothing until start(). */
export class MetricsObserver implements NodeObserver {
  target: Recorder | undefined;

  requestSettled(service: string, method: string, durationMs: number, outcome: string): void {
    this.target?.request(service, method, durationMs, outcome);
  }

  handlerSettled(method: string, durationMs: number, outcome: string): void {
    this.target?.handler(method, durationMs, outcome);
  }

  batchCommitted(writes: number, durationMs: number): void {
    this.target?.batch(writes, durationMs);
  }
}

export interface NodeMetrics {
  /** The server's base URL, when a port was given. */
  readonly url: string | undefined;
  /** Detaches at once (counters frozen, gauges gone), then closes the server. */
  close(): Promise<void>;
}

interface Entry {
  view: MetricsView;
  live: boolean;
  /** A closed node's last snapshot: its counters still count. */
  frozen: Snapshot | undefined;
  cached: Snapshot | undefined;
}

type Counter = Prom.Counter<string>;

/** Every zmesh metric of one registry, and the nodes that report into it. */
class RegistryMetrics {
  readonly entries = new Set<Entry>();
  /** Names from the network, bounded (labels.ts). */
  readonly methods = new LabelBudget();
  readonly peerServices = new LabelBudget();
  readonly codes = new LabelBudget();
  readonly info: Prom.Gauge<string>;
  readonly peerChanges: Counter;
  readonly hot: Record<'requestSeconds' | 'requests' | 'handlerSeconds' | 'handled' | 'handlerErrors' | 'batchWrites' | 'commitSeconds', SeriesMetric>;
  private elu = performance.eventLoopUtilization();

  constructor(prom: typeof Prom, readonly registry: Prom.Registry, log: Logger) {
    this.info = makeMetric(prom, registry, HOOKED.info) as Prom.Gauge<string>;
    this.peerChanges = makeMetric(prom, registry, HOOKED.peerChanges) as Counter;
    const hot = {} as Record<string, SeriesMetric>;
    for (const [k, d] of Object.entries(HOOKED)) if (d.series === true) hot[k] = makeSeries(registry, d);
    this.hot = hot as RegistryMetrics['hot'];
    for (const [k, d] of Object.entries(SCRAPED) as Array<[ScrapedName, (typeof SCRAPED)[ScrapedName]]>) {
      if (k === 'elu') {
        makeMetric(prom, registry, d, (m) => {
          const now = performance.eventLoopUtilization();
          (m as Prom.Gauge<string>).set(performance.eventLoopUtilization(now, this.elu).utilization);
          this.elu = now;
        });
        continue;
      }
      const fill = FILLS[k];
      const fold = (s: string): string => this.peerServices.fold(s);
      makeMetric(prom, registry, d, (m) => {
        m.reset();
        const add = (labels: Record<string, string>, v: number): void => (m as Counter).inc(labels, v);
        for (const e of this.entries) {
          // Gauges are now: a closed node has none. Counters are totals: it keeps them.
          const s = e.live ? this.snapshot(e, log) : d.type === 'gauge' ? undefined : e.frozen;
          if (s !== undefined) fill(s, add, fold);
        }
      });
    }
  }

  /** One snapshot per node per scrape: the collects of one scrape run in one turn. */
  snapshot(e: Entry, log: Logger): Snapshot {
    if (e.cached !== undefined) return e.cached;
    const v = e.view;
    let reliable;
    try {
      reliable = v.reliableStats();
    } catch (err) {
      // A store closing under the scrape: report the node without it this time.
      log.debug({ err }, 'reliable stats unavailable for metrics');
    }
    e.cached = { service: v.service, stats: v.stats(), reliable, peers: v.peers() };
    queueMicrotask(() => { e.cached = undefined; });
    return e.cached;
  }
}

const registries = new WeakMap<Prom.Registry, RegistryMetrics>();

function registryMetrics(prom: typeof Prom, registry: Prom.Registry, log: Logger): RegistryMetrics {
  let r = registries.get(registry);
  if (r === undefined) {
    r = new RegistryMetrics(prom, registry, log);
    registries.set(registry, r);
  }
  return r;
}

/** prom-client's process metrics in `registry`, unless there already (the user may
 *  have registered them). Each collectDefaultMetrics call starts a GC observer and an
 *  event-loop-delay monitor that are never stopped, hence once per registry. */
function addProcessMetrics(prom: typeof Prom, registry: Prom.Registry): void {
  if (registry.getSingleMetric('process_cpu_user_seconds_total') === undefined) prom.collectDefaultMetrics({ register: registry });
}

/** Nodes with registries of their own share one registry of process metrics: they
 *  describe the process, whatever the number of nodes in it, and each registry of them
 *  would add monitors that outlive its node (above). Made on first use. */
let processRegistry: Prom.Registry | undefined;
function sharedProcessMetrics(prom: typeof Prom): Prom.Registry {
  if (processRegistry === undefined) {
    processRegistry = new prom.Registry();
    addProcessMetrics(prom, processRegistry);
  }
  return processRegistry;
}

function recorder(r: RegistryMetrics, service: string): Recorder {
  const h = r.hot;
  const requests = new ChildCache<{ seconds: Series; count: Series }>();
  const handled = new ChildCache<{ seconds: Series; count: Series; error: Series | undefined }>();
  const batchWrites = h.batchWrites.series([service]);
  const commitSeconds = h.commitSeconds.series([service]);
  return {
    request: (to, method, ms, outcome) => {
      const c = requests.get(to, method, outcome, () => {
        const peer = r.peerServices.fold(to);
        const m = r.methods.fold(method);
        return { seconds: h.requestSeconds.series([service, peer, m]), count: h.requests.series([service, peer, m, r.codes.fold(outcome)]) };
      });
      h.requestSeconds.observe(c.seconds, ms / 1_000);
      h.requests.observe(c.count);
    },
    handler: (method, ms, outcome) => {
      const c = handled.get(method, outcome, '', () => {
        const m = r.methods.fold(method);
        const code = r.codes.fold(outcome);
        return {
          seconds: h.handlerSeconds.series([service, m]),
          count: h.handled.series([service, m, code]),
          error: outcome === 'ok' ? undefined : h.handlerErrors.series([service, m, code]),
        };
      });
      h.handlerSeconds.observe(c.seconds, ms / 1_000);
      h.handled.observe(c.count);
      if (c.error !== undefined) h.handlerErrors.observe(c.error);
    },
    batch: (writes, ms) => {
      h.batchWrites.observe(batchWrites, writes);
      h.commitSeconds.observe(commitSeconds, ms / 1_000);
    },
  };
}

/** Attaches a node to its registry (made here unless given) and, with a port, serves
 *  it. Rejects BIND_FAILED when the port is taken. */
export async function startMetrics(s: MetricsSettings, view: MetricsView, observer: MetricsObserver, log: Logger): Promise<NodeMetrics> {
  const prom = await import('prom-client');
  const registry = s.registry ?? new prom.Registry();
  const r = registryMetrics(prom, registry, log);
  let processExtra: Prom.Registry | undefined;
  if (s.processMetrics && s.registry !== undefined) addProcessMetrics(prom, registry);
  else if (s.processMetrics) processExtra = sharedProcessMetrics(prom);
  const entry: Entry = { view, live: true, frozen: undefined, cached: undefined };
  r.entries.add(entry);
  const info = { version: zmeshVersion(), node_id: view.id, service: view.service, mesh: view.mesh };
  r.info.set(info, 1);
  const changes = r.peerChanges;
  const offs = [
    view.on('peer:up', ({ peer }) => changes.inc({ service: view.service, peer_service: r.peerServices.fold(peer.service), state: 'up' })),
    view.on('peer:down', ({ peer }) => changes.inc({ service: view.service, peer_service: r.peerServices.fold(peer.service), state: 'down' })),
  ];
  observer.target = recorder(r, view.service);
  const detach = (): void => {
    if (!entry.live) return;
    observer.target = undefined;
    for (const off of offs) off();
    entry.frozen = r.snapshot(entry, log);
    entry.live = false;
    r.info.remove(info);
  };
  let server;
  try {
    server = s.port === undefined ? undefined : await startMetricsServer(s.host, s.port, {
      metrics: async () => ({
        body: processExtra === undefined ? await registry.metrics() : `${await registry.metrics()}\n${await processExtra.metrics()}`,
        contentType: registry.contentType,
      }),
      live: () => liveness(view),
      ready: () => readiness(view, s.readiness),
    }, log);
  } catch (err) {
    detach();
    r.entries.delete(entry);
    throw err;
  }
  if (server !== undefined) log.info({ url: server.url }, 'metrics server listening');
  return {
    url: server?.url,
    close: async () => {
      detach();
      await server?.close();
    },
  };
}
