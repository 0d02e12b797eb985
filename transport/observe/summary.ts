/**
 * observe/: what a node tells about itself (metrics, health, tracing, mesh summaries).
 * May import: foundation modules only (types, stats-types, names, log, gen/); node.ts
 * and compose.ts feed it what the node knows.
 *
 * This file: the periodic node summary on "$zmesh/summary" (proto/README.md section
 * 18), which `zmesh top` shows for the whole mesh.
 *
 * Cost. The hot path pays one histogram record per handled request (handlerSettled).
 * Everything else is read once per interval: a copy of the node's counters, the peer
 * list, two small queries on the store (gauges.ts) and the process's RSS, and the
 * rates are differences of counters between two summaries. The event-loop delay comes
 * from perf_hooks' sampler (a libuv timer every EVENT_LOOP_RESOLUTION_MS).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Clock, NodeObserver, NodeStats, NodeSummary } from '../types.js';
import { LatencyBuckets } from './latency-buckets.js';
import { encodeSummary } from './summary-codec.js';
import { zmeshVersion } from './version.js';

/** perf_hooks samples the event loop this often, ms. */
const EVENT_LOOP_RESOLUTION_MS = 20;

/** What the node reports at the moment a summary is made. */
export interface SummaryReading {
  stats: NodeStats;
  peersUp: number;
  /** Undefined without a store. */
  store: { outboxDepth: number; deadLetters: number; durableLag: number } | undefined;
}

export interface SummaryParts {
  nodeId: string;
  service: string;
  mesh: string;
  intervalMs: number;
  clock: Clock;
  log: Logger;
  read(): SummaryReading;
  /** Sends the encoded summary on the reserved topic (fire and forget; may throw
   *  QUEUE_FULL, which skips this one). */
  publish(payload: Uint8Array): void;
}

interface Mark {
  atMs: number;
  handled: number;
  failed: number;
  sent: number;
}

export class NodeSummaries {
  /** Given to the node's observer fan-out: one histogram record per handled request. */
  readonly observer: NodeObserver;
  private readonly durations = new LatencyBuckets();
  private loop: IntervalHistogram | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last: Mark | undefined;
  private readonly createdMs: number;
  private stopped = false;

  constructor(private readonly p: SummaryParts) {
    this.createdMs = p.clock.monotonic();
    const durations = this.durations;
    this.observer = {
      handlerSettled: (_method, durationMs) => {
        durations.record(durationMs * 1_000);
      },
    };
  }

  /** Starts the interval (the node is running). Idempotent. */
  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.loop = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
    this.loop.enable();
    this.last = this.mark(this.p.read().stats);
    // A timer callback must never take the process down: log and keep ticking.
    this.timer = setInterval(() => this.send('running'), this.p.intervalMs);
  }

  /** Stops the interval and the sampler. With `closing`, sends one last summary saying
   *  so first, so viewers learn at once that the node is going. Idempotent. */
  stop(closing = false): void {
    if (this.stopped) return;
    if (closing && this.timer !== undefined) this.send('closing');
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.loop?.disable();
  }

  /** The summary of the interval that ends now; resets the interval's histograms. */
  make(state: string): NodeSummary {
    const r = this.p.read();
    const now = this.mark(r.stats);
    const prev = this.last ?? now;
    this.last = now;
    const seconds = Math.max(0.001, (now.atMs - prev.atMs) / 1_000);
    const rate = (n: number): number => Math.round((n / seconds) * 100) / 100;
    const d = this.durations;
    const pct = (q: number): number => d.percentile(q) / 1_000;
    // perf_hooks reports the time between its timer's ticks, resolution included: the
    // delay is what exceeds it.
    const loopP99 = this.loop === undefined || this.loop.count === 0 ? 0 : Math.max(0, this.loop.percentile(99) / 1e6 - EVENT_LOOP_RESOLUTION_MS);
    const summary: NodeSummary = {
      nodeId: this.p.nodeId, service: this.p.service, mesh: this.p.mesh, version: zmeshVersion(), state,
      uptimeMs: Math.round(now.atMs - this.createdMs), intervalMs: Math.round(now.atMs - prev.atMs),
      requestsInPerS: rate(now.handled - prev.handled), requestsOutPerS: rate(now.sent - prev.sent),
      handlerP50Ms: pct(50), handlerP99Ms: pct(99), errorsPerS: rate(now.failed - prev.failed),
      inFlight: r.stats.handled.running,
      outboxDepth: r.store?.outboxDepth ?? 0, deadLetters: r.store?.deadLetters ?? 0, durableLag: r.store?.durableLag ?? 0,
      dropsTotal: Object.values(r.stats.dropped).reduce((a, b) => a + b, 0),
      rssBytes: process.memoryUsage.rss(), eventLoopP99Ms: Math.round(loopP99 * 1_000) / 1_000, peersUp: r.peersUp,
      sentMs: this.p.clock.now(), eventsLost: r.stats.events.lost,
    };
    d.reset();
    this.loop?.reset();
    return summary;
  }

  private send(state: string): void {
    try {
      this.p.publish(encodeSummary(this.make(state)));
    } catch (err) {
      this.p.log.debug({ err }, 'node summary not sent');
    }
  }

  private mark(s: NodeStats): Mark {
    return { atMs: this.p.clock.monotonic(), handled: s.handled.ok + s.handled.failed, failed: s.handled.failed, sent: s.requests.sent };
  }
}
