/**
 * What tracing costs request/reply, in interleaved trials (as bench/pairs.ts, for the
 * same reason: this machine's speed drifts by more than the effect measured).
 *
 *   off     tracing: { enabled: false }: the API is never loaded, nothing is wrapped
 *   no-op   the default (auto) with @opentelemetry/api loaded and no SDK registered:
 *           the "zero cost" claim; a message pays one boolean check per side
 *   sdk     an explicit tracer from a BasicTracerProvider whose processor exports
 *           nothing (tracing.tracer): the cost of making the spans and the headers,
 *           without a context manager (which would slow the other two cells down too:
 *           AsyncLocalStorage hooks every promise in the process)
 *
 * Each cell: one client and one server node in this process on 127.0.0.1, one request
 * in flight, 100-byte payloads, p50 of the round trip. Each trial runs the three in
 * rotating order; the result is the median of the per-trial ratios to `off`.
 */
import { ProxyTracerProvider, trace } from '@opentelemetry/api';
import { BasicTracerProvider, NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createNode, type MeshNode, type NodeOptions } from '../transport/index.js';
import { LatencyRecorder } from './lib/stats.js';

export interface TracingTrial { off: number; noop: number; sdk: number }
export interface TracingRow {
  scenario: 'rpc-latency-tracing';
  payloadBytes: number;
  requestsPerCell: number;
  /** p50 round trip in µs, per trial. */
  trials: TracingTrial[];
  median: TracingTrial;
  /** Medians of the per-trial ratios to `off`, with their ranges. */
  noopRatio: { median: number; min: number; max: number };
  sdkRatio: { median: number; min: number; max: number };
}

export const TRACING_QUICK = { trials: 7, requests: 2_000, payloadBytes: 100 };
export const TRACING_FULL = { trials: 15, requests: 5_000, payloadBytes: 100 };
const WARMUP_REQUESTS = 500;

type Cell = keyof TracingTrial;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number): number => Math.round(x * 1000) / 1000;

interface CellNodes { client: MeshNode; nodes: MeshNode[]; traced(): boolean }

async function cell(tracing: NodeOptions['tracing']): Promise<CellNodes> {
  const base = { host: '127.0.0.1', discovery: 'static' as const, insecure: true, tracing };
  const server = createNode({ ...base, service: 'echo' });
  let traced = false;
  server.handle('echo', (payload, ctx) => {
    traced = ctx.headers['traceparent'] !== undefined;
    return payload;
  });
  await server.start();
  const client = createNode({ ...base, service: 'caller', peers: [server.endpoints.advertised[0]!] });
  await client.start();
  await client.waitForService('echo');
  return { client, nodes: [client, server], traced: () => traced };
}

async function p50(client: MeshNode, payload: Buffer, n: number): Promise<number> {
  const rec = new LatencyRecorder();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await client.request('echo', 'echo', payload);
    rec.since(t0);
  }
  return rec.summary().p50;
}

export async function runTracing(o: { trials: number; requests: number; payloadBytes: number }, progress: (line: string) => void): Promise<TracingRow[]> {
  // The "no-op" cell needs the API with nothing registered: say so, rather than
  // measure something else.
  const global = trace.getTracerProvider() as { getDelegate?: () => unknown };
  if (global.getDelegate?.() !== new ProxyTracerProvider().getDelegate()) throw new Error('tracing bench: a global TracerProvider is registered; the no-op cell would not be one');
  const provider = new BasicTracerProvider({ spanProcessors: [new NoopSpanProcessor()] });
  const cells: Record<Cell, CellNodes> = {
    off: await cell({ enabled: false }),
    noop: await cell(undefined),
    sdk: await cell({ tracer: provider.getTracer('bench') }),
  };
  const payload = Buffer.alloc(o.payloadBytes, 7);
  const order: Cell[] = ['off', 'noop', 'sdk'];
  try {
    for (const c of order) await p50(cells[c].client, payload, WARMUP_REQUESTS);
    // Each cell is what it claims: only the SDK cell carries trace context.
    for (const c of order) if (cells[c].traced() !== (c === 'sdk')) throw new Error(`tracing bench: the ${c} cell is ${cells[c].traced() ? '' : 'not '}traced`);
    const trials: TracingTrial[] = [];
    for (let i = 0; i < o.trials; i++) {
      progress(`tracing: request/reply p50, off / no-op API / SDK, trial ${i + 1}/${o.trials}`);
      const t = {} as TracingTrial;
      for (let k = 0; k < order.length; k++) {
        const c = order[(i + k) % order.length]!;
        (globalThis as { gc?: () => void }).gc?.();
        t[c] = await p50(cells[c].client, payload, o.requests);
      }
      trials.push(t);
    }
    const ratio = (c: Cell): TracingRow['noopRatio'] => {
      const r = trials.map((t) => t[c] / t.off);
      return { median: round(median(r)), min: round(Math.min(...r)), max: round(Math.max(...r)) };
    };
    return [{
      scenario: 'rpc-latency-tracing', payloadBytes: o.payloadBytes, requestsPerCell: o.requests, trials,
      median: { off: median(trials.map((t) => t.off)), noop: median(trials.map((t) => t.noop)), sdk: median(trials.map((t) => t.sdk)) },
      noopRatio: ratio('noop'), sdkRatio: ratio('sdk'),
    }];
  } finally {
    for (const c of order) for (const n of cells[c].nodes) await n.close();
    await provider.shutdown();
  }
}

export function tracingTable(rows: TracingRow[]): string {
  const lines = ['request/reply p50 with tracing, interleaved trials (µs; ratio = cell p50 / off p50 of the same trial)'];
  for (const r of rows) {
    lines.push(`  off    ${r.trials.map((t) => t.off).join(', ')}   median ${r.median.off}`);
    lines.push(`  no-op  ${r.trials.map((t) => t.noop).join(', ')}   median ${r.median.noop}; ratio ${r.noopRatio.median} (range ${r.noopRatio.min} to ${r.noopRatio.max})`);
    lines.push(`  sdk    ${r.trials.map((t) => t.sdk).join(', ')}   median ${r.median.sdk}; ratio ${r.sdkRatio.median} (range ${r.sdkRatio.min} to ${r.sdkRatio.max})`);
  }
  return lines.join('\n');
}
