/**
 * What metrics cost ("metrics" scenario): request/reply p50/p99 and throughput, and
 * pub/sub throughput, with metrics on and off, in the same run, in interleaved
 * trials (the order rotating, so that no variant always goes first; see pairs.ts for
 * why single cells on this machine mean little).
 *
 *   off   this build, no `metrics` option (prom-client never loaded)
 *   on    this build, `metrics: { port: 0 }` on both nodes, each scraped over HTTP
 *         once a second (one timer for the whole run, scraping the "on" nodes that
 *         exist at its tick: cells shorter than a second still pay one scrape per
 *         second of their time on average, neither more nor less), so collection is paid
 *   base  the build of the commit before the metrics work (BASE_COMMIT), built once
 *         into a temporary directory from `git archive` and loaded in this process:
 *         "off" against it shows whether metrics cost anything when off. When it
 *         cannot be built (no git, no tsc), an A/A pair (off against off) shows the
 *         noise floor instead, and the report says so.
 *
 * Two nodes in this process on 127.0.0.1: a client and a server (request/reply), a
 * publisher and a subscriber (pub/sub). Latency: sequential requests, HDR histogram
 * (lib/stats.ts). Throughput: requests with 64 in flight; events published in bursts
 * and counted at the subscriber.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Zmesh from '../transport/index.js';
import { LatencyRecorder, type Latency } from './lib/stats.js';

/** The commit the metrics branch started from. */
export const BASE_COMMIT = '7d87388';

export const METRICS_QUICK = { trials: 5, latencyRequests: 5_000, throughputRequests: 30_000, events: 150_000, payloadBytes: 100 };
export const METRICS_FULL = { trials: 9, latencyRequests: 10_000, throughputRequests: 60_000, events: 300_000, payloadBytes: 100 };
export type MetricsCostConfig = typeof METRICS_QUICK;

type Api = Pick<typeof Zmesh, 'createNode'>;
type Variant = 'off' | 'on' | 'base' | 'off-again';

interface Cell { p50: number; p99: number; rps: number; eps: number }
export interface MetricsCostResult {
  /** How "off" was compared: with the base commit's build, or off against off (A/A). */
  reference: 'base' | 'a/a';
  referenceNote: string;
  trials: Array<Record<string, Cell>>;
  median: Record<string, Cell>;
  /** Medians of the per-trial ratios (variant / off), with their ranges. */
  ratios: Record<string, Record<keyof Cell, { median: number; min: number; max: number }>>;
  scrapes: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round2 = (x: number): number => Math.round(x * 1000) / 1000;

/** The base commit built once into a temporary directory; undefined (and why) when it cannot be. */
function baseBuild(): { dir: string } | { why: string } {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = join(tmpdir(), `zmesh-bench-base-${BASE_COMMIT}`);
  const entry = join(dir, 'dist', 'transport', 'index.js');
  if (existsSync(entry)) return { dir };
  try {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `git -C "${repo}" archive ${BASE_COMMIT} | tar -x -C "${dir}"`], { stdio: 'ignore' });
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
    execFileSync(process.execPath, ['proto/generate.mjs'], { cwd: dir, stdio: 'ignore' });
    execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir, stdio: 'ignore' });
    if (!existsSync(entry)) return { why: 'the build left no dist/transport/index.js' };
    return { dir };
  } catch (err) {
    return { why: (err as Error).message.split('\n')[0]! };
  }
}

const SERVER = { insecure: true, host: '127.0.0.1', discovery: 'static' } as const;

/** One scrape a second of whichever metrics URLs are live at the tick. */
class Scraper {
  scrapes = 0;
  private readonly urls = new Set<string>();
  private inFlight: Promise<unknown> = Promise.resolve();
  private readonly timer = setInterval(() => {
    if (this.urls.size === 0) return;
    this.inFlight = Promise.all([...this.urls].map(async (u) => {
      await (await fetch(`${u}/metrics`)).text();
      this.scrapes++;
    })).catch(() => undefined);
  }, 1_000);

  /** Scrapes these URLs while the returned function has not been called. */
  watch(urls: string[]): () => Promise<void> {
    for (const u of urls) this.urls.add(u);
    return async () => {
      for (const u of urls) this.urls.delete(u);
      // A scrape under way finishes before its nodes close.
      await this.inFlight;
    };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

async function pair(api: Api, metrics: boolean, kind: string): Promise<[Zmesh.MeshNode, Zmesh.MeshNode]> {
  const m = metrics ? { metrics: { port: 0 } } : {};
  const a = api.createNode({ ...SERVER, service: `${kind}-a`, ...m } as Zmesh.NodeOptions);
  await a.start();
  const b = api.createNode({ ...SERVER, service: `${kind}-b`, peers: [a.endpoints.advertised[0]!], ...m } as Zmesh.NodeOptions);
  await b.start();
  await b.waitForService(`${kind}-a`);
  await a.waitForService(`${kind}-b`);
  return [a, b];
}

async function cell(api: Api, metrics: boolean, c: MetricsCostConfig, scraper: Scraper): Promise<Cell> {
  const payload = Buffer.alloc(c.payloadBytes, 0x61);
  // Request/reply: b asks a.
  const [server, client] = await pair(api, metrics, 'rpc');
  server.handle('echo', (p) => p);
  let stop = metrics ? scraper.watch([server.endpoints.metrics!, client.endpoints.metrics!]) : async () => undefined;
  let latency: Latency;
  let rps: number;
  try {
    for (let i = 0; i < 500; i++) await client.request('rpc-a', 'echo', payload);
    const rec = new LatencyRecorder();
    for (let i = 0; i < c.latencyRequests; i++) {
      const t = process.hrtime.bigint();
      await client.request('rpc-a', 'echo', payload);
      rec.since(t);
    }
    latency = rec.summary();
    const inFlight = 64;
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next++ < c.throughputRequests) await client.request('rpc-a', 'echo', payload);
    }));
    rps = c.throughputRequests / ((performance.now() - t0) / 1_000);
  } finally {
    await stop();
    await client.close();
    await server.close();
  }
  // Pub/sub: a publishes, b counts.
  const [pub, sub] = await pair(api, metrics, 'ps');
  stop = metrics ? scraper.watch([pub.endpoints.metrics!, sub.endpoints.metrics!]) : async () => undefined;
  let eps: number;
  try {
    let got = 0;
    let done: () => void = () => undefined;
    const all = new Promise<void>((r) => { done = r; });
    await sub.subscribe('bench.', () => { if (++got === c.events) done(); });
    const t0 = performance.now();
    // Bursts of 1 000 with a turn between, so the send queue never overflows.
    for (let sent = 0; sent < c.events;) {
      for (let i = 0; i < 1_000 && sent < c.events; i++, sent++) pub.publish('bench.x', payload);
      await new Promise((r) => setImmediate(r));
    }
    const timeout = setTimeout(() => done(), 30_000);
    await all;
    clearTimeout(timeout);
    if (got < c.events) throw new Error(`pub/sub: ${got} of ${c.events} events arrived`);
    eps = c.events / ((performance.now() - t0) / 1_000);
  } finally {
    await stop();
    await sub.close();
    await pub.close();
  }
  return { p50: latency.p50, p99: latency.p99, rps: Math.round(rps), eps: Math.round(eps) };
}

export async function runMetricsCost(c: MetricsCostConfig, progress: (line: string) => void): Promise<MetricsCostResult> {
  const current: Api = await import('../transport/index.js');
  progress(`metrics: building ${BASE_COMMIT} for the "off" reference (once, cached in ${tmpdir()})`);
  const built = baseBuild();
  const base: Api | undefined = 'dir' in built ? await import(pathToFileURL(join(built.dir, 'dist', 'transport', 'index.js')).href) as Api : undefined;
  const reference = base === undefined ? 'a/a' : 'base';
  const variants: Variant[] = base === undefined ? ['off', 'on', 'off-again'] : ['off', 'on', 'base'];
  const scraper = new Scraper();
  const trials: Array<Record<string, Cell>> = [];
  try {
    for (let t = 0; t < c.trials; t++) {
      const order = variants.map((_, i) => variants[(i + t) % variants.length]!);
      const row: Record<string, Cell> = {};
      for (const v of order) {
        progress(`metrics: trial ${t + 1}/${c.trials}, ${v}`);
        (globalThis as { gc?: () => void }).gc?.();
        row[v] = await cell(v === 'base' ? base! : current, v === 'on', c, scraper);
      }
      trials.push(row);
    }
  } finally {
    scraper.stop();
  }
  const keys: Array<keyof Cell> = ['p50', 'p99', 'rps', 'eps'];
  const med: Record<string, Cell> = {};
  for (const v of variants) med[v] = Object.fromEntries(keys.map((k) => [k, median(trials.map((r) => r[v]![k]))])) as unknown as Cell;
  const ratios: MetricsCostResult['ratios'] = {};
  for (const v of variants.filter((x) => x !== 'off')) {
    ratios[`${v}/off`] = Object.fromEntries(keys.map((k) => {
      const rs = trials.map((r) => r[v]![k] / r['off']![k]);
      return [k, { median: round2(median(rs)), min: round2(Math.min(...rs)), max: round2(Math.max(...rs)) }];
    })) as MetricsCostResult['ratios'][string];
  }
  return {
    reference,
    referenceNote: 'dir' in built ? `base = ${BASE_COMMIT} built from git archive in ${built.dir}` : `A/A (off against off): the base build failed: ${built.why}`,
    trials, median: med, ratios, scrapes: scraper.scrapes,
  };
}

export function metricsCostTable(r: MetricsCostResult): string {
  const lines = [`metrics cost, ${r.trials.length} interleaved trials (${r.referenceNote}; ${r.scrapes} scrapes during "on")`];
  lines.push('  variant     rpc p50 µs  rpc p99 µs  rpc req/s  pub/sub msg/s');
  for (const [v, m] of Object.entries(r.median)) lines.push(`  ${v.padEnd(10)}  ${String(m.p50).padStart(10)}  ${String(m.p99).padStart(10)}  ${String(m.rps).padStart(9)}  ${String(m.eps).padStart(13)}`);
  lines.push('  ratios (median of per-trial ratios, range):');
  for (const [name, x] of Object.entries(r.ratios)) {
    lines.push(`    ${name.padEnd(13)} p50 ${x.p50.median} (${x.p50.min}-${x.p50.max}), p99 ${x.p99.median} (${x.p99.min}-${x.p99.max}), req/s ${x.rps.median} (${x.rps.min}-${x.rps.max}), msg/s ${x.eps.median} (${x.eps.min}-${x.eps.max})`);
  }
  return lines.join('\n');
}
