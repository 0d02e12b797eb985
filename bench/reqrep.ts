/**
 * Request/reply between two processes on 127.0.0.1: raw zeromq.js DEALER/ROUTER (the
 * floor) beside zmesh request(), same payload, same warm-up, same counts.
 *
 * - latency: one request in flight, round trip recorded in an HDR histogram (µs);
 * - throughput: `window` requests in flight, replies per second. The raw baseline
 *   sends one message per send(), as zeromq.js is normally used.
 */
import * as zmq from 'zeromq';
import { createNode, type MeshNode } from '../transport/index.js';
import { startServer } from './lib/child.js';
import { LatencyRecorder, type Latency } from './lib/stats.js';

export interface ReqRepConfig {
  payloadBytes: number;
  warmup: number;
  latencyOps: number;
  throughputOps: number;
  window: number;
}

export interface Row {
  scenario: 'reqrep-latency' | 'reqrep-throughput';
  system: 'raw-zeromq' | 'zmesh-fast';
  payloadBytes: number;
  ops: number;
  latencyUs?: Latency;
  msgPerSec?: number;
}

export const QUICK: ReqRepConfig = { payloadBytes: 100, warmup: 2_000, latencyOps: 20_000, throughputOps: 200_000, window: 1_000 };
export const FULL: ReqRepConfig = { payloadBytes: 100, warmup: 5_000, latencyOps: 100_000, throughputOps: 1_000_000, window: 1_000 };

/** A round-trip function: sends one request, resolves with the reply. */
type RoundTrip = () => Promise<unknown>;

async function measureLatency(rt: RoundTrip, c: ReqRepConfig): Promise<Latency> {
  for (let i = 0; i < c.warmup; i++) await rt();
  const rec = new LatencyRecorder();
  for (let i = 0; i < c.latencyOps; i++) {
    const t = process.hrtime.bigint();
    await rt();
    rec.since(t);
  }
  return rec.summary();
}

/** `window` workers each keep one request in flight until `ops` are done. */
async function measurePipelined(rt: RoundTrip, ops: number, window: number): Promise<number> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < ops) {
      started++;
      await rt();
    }
  };
  const t = process.hrtime.bigint();
  await Promise.all(Array.from({ length: window }, worker));
  return ops / (Number(process.hrtime.bigint() - t) / 1e9);
}

async function rawZeromq(c: ReqRepConfig, payload: Buffer): Promise<Row[]> {
  const server = await startServer('raw-echo');
  const dealer = new zmq.Dealer({ linger: 0, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000 });
  dealer.connect(server.endpoint);
  try {
    const latency = await measureLatency(async () => {
      await dealer.send(payload);
      await dealer.receive();
    }, c);

    // Pipelined: a sender keeps `window` messages outstanding, one message per
    // send(); a reader counts replies.
    const run = async (ops: number): Promise<number> => {
      let received = 0;
      let wake: (() => void) | undefined;
      const t = process.hrtime.bigint();
      const reader = (async () => {
        while (received < ops) {
          await dealer.receive();
          received++;
          if (wake !== undefined) { const w = wake; wake = undefined; w(); }
        }
      })();
      for (let sent = 0; sent < ops; sent++) {
        while (sent - received >= c.window) await new Promise<void>((r) => { wake = r; });
        await dealer.send(payload);
      }
      await reader;
      return ops / (Number(process.hrtime.bigint() - t) / 1e9);
    };
    await run(c.warmup * 10);
    const msgPerSec = await run(c.throughputOps);
    return [
      { scenario: 'reqrep-latency', system: 'raw-zeromq', payloadBytes: c.payloadBytes, ops: c.latencyOps, latencyUs: latency },
      { scenario: 'reqrep-throughput', system: 'raw-zeromq', payloadBytes: c.payloadBytes, ops: c.throughputOps, msgPerSec },
    ];
  } finally {
    dealer.close();
    await server.stop();
  }
}

async function zmeshFast(c: ReqRepConfig, payload: Buffer): Promise<Row[]> {
  const server = await startServer('zmesh-echo');
  const node: MeshNode = createNode({ service: 'bench', host: '127.0.0.1', peers: [server.endpoint], requestTimeoutMs: 60_000 });
  await node.start();
  try {
    await node.waitForService('echo');
    const rt = (): Promise<Uint8Array> => node.request('echo', 'echo', payload);
    const latency = await measureLatency(rt, c);
    await measurePipelined(rt, c.warmup * 10, c.window);
    const msgPerSec = await measurePipelined(rt, c.throughputOps, c.window);
    return [
      { scenario: 'reqrep-latency', system: 'zmesh-fast', payloadBytes: c.payloadBytes, ops: c.latencyOps, latencyUs: latency },
      { scenario: 'reqrep-throughput', system: 'zmesh-fast', payloadBytes: c.payloadBytes, ops: c.throughputOps, msgPerSec },
    ];
  } finally {
    await node.close();
    await server.stop();
  }
}

export async function runReqRep(c: ReqRepConfig, progress: (line: string) => void): Promise<Row[]> {
  const payload = Buffer.alloc(c.payloadBytes, 0x61);
  progress('request/reply: raw zeromq.js');
  const raw = await rawZeromq(c, payload);
  progress('request/reply: zmesh fast class');
  const mesh = await zmeshFast(c, payload);
  return [...raw, ...mesh];
}
