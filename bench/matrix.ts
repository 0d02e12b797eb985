/**
 * The comparison matrix: every scenario at every payload size for every system, in
 * one run, with the same warm-up, counts and process layout for all (client here, the
 * other side in a child process; brokers on 127.0.0.1).
 *
 *   rpc-latency       one request in flight; round trip in an HDR histogram
 *   rpc-throughput    `window` requests in flight; replies per second
 *   pubsub            one publisher, one subscriber: what arrives per second, and drops
 *   fanout            one publisher, three subscribers: deliveries per second, and drops
 *   reliable-publish  publishes that resolve once the system says the message is safe:
 *                     per second with `reliableWindow` in flight, and latency one at a time
 *
 * A system that is not running is "skipped" with the reason; a scenario a system does
 * not offer is "n/a". Nothing is ever substituted.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { LatencyRecorder, type Latency } from './lib/stats.js';
import { SYSTEMS } from './systems/index.js';
import type { Params, Publisher, System } from './systems/types.js';

export const MATRIX_SCENARIOS = ['rpc-latency', 'rpc-throughput', 'pubsub', 'fanout', 'reliable-publish'] as const;
export type MatrixScenario = (typeof MATRIX_SCENARIOS)[number];

export interface MatrixRow {
  scenario: MatrixScenario;
  system: string;
  payloadBytes: number;
  status: 'ok' | 'skipped' | 'n/a' | 'failed';
  reason?: string;
  ops?: number;
  latencyUs?: Latency;
  msgPerSec?: number;
  delivered?: number;
  dropped?: number;
}

export interface MatrixConfig {
  payloads: number[];
  /** Warm-up before each measurement: at least this many operations ... */
  warmup: number;
  /** ... and for at least this long, so every system is measured compiled and with
   *  its two processes' start-up garbage collected, however fast it is. */
  warmupMs: number;
  latencyOps: number;
  throughputOps: number;
  window: number;
  /** Events per pub/sub cell; a fan-out cell publishes this divided by its subscribers,
   *  so it delivers as many. */
  pubsubOps: number;
  /** 64 KiB cells run this many times fewer operations, so each takes about as long. */
  largeDivisor: number;
  reliableOps: number;
  reliableWindow: number;
  reliableLatencyOps: number;
}

export const MATRIX_QUICK: MatrixConfig = {
  payloads: [100, 1_024, 65_536], warmup: 500, warmupMs: 750, largeDivisor: 25, latencyOps: 2_000, throughputOps: 10_000, window: 100,
  pubsubOps: 30_000, reliableOps: 20_000, reliableWindow: 1_000, reliableLatencyOps: 300,
};
export const MATRIX_FULL: MatrixConfig = {
  payloads: [100, 1_024, 65_536], warmup: 2_000, warmupMs: 1_500, largeDivisor: 10, latencyOps: 20_000, throughputOps: 100_000, window: 100,
  pubsubOps: 200_000, reliableOps: 50_000, reliableWindow: 1_000, reliableLatencyOps: 3_000,
};

const scaled = (ops: number, payloadBytes: number, c: MatrixConfig): number =>
  (payloadBytes >= 65_536 ? Math.max(200, Math.round(ops / c.largeDivisor)) : ops);
const now = (): number => performance.timeOrigin + performance.now();
const FANOUT = 3;
/** A throughput warm-up publishes in chunks of this fraction of the measured operations. */
const WARMUP_DIVISOR = 10;

/** Runs chunks of `ops / WARMUP_DIVISOR` until the warm-up's count and time are both
 *  reached (the end-to-end scenario warms up by the same rule). */
export async function warmUp(c: Pick<MatrixConfig, 'warmup' | 'warmupMs'>, ops: number, run: (n: number) => Promise<void>): Promise<void> {
  const chunk = Math.max(1, Math.round(ops / WARMUP_DIVISOR));
  const until = now() + c.warmupMs;
  for (let done = 0; done < c.warmup || now() < until; done += chunk) await run(chunk);
}

interface Peer {
  endpoint?: string;
  probed: Promise<void>;
  /** Waits until `expected` data messages arrived, or none for idleMs; `reset` then
   *  zeroes the subscriber's count (after a warm-up). */
  count(expected: number, idleMs: number, reset?: boolean): Promise<{ count: number; lastMs: number }>;
  stop(): Promise<void>;
}

const PEER = fileURLToPath(new URL('./servers/system-peer.js', import.meta.url));

async function startPeer(system: string, role: 'rpc' | 'sub', params: Params): Promise<Peer> {
  const child: ChildProcess = fork(PEER, [JSON.stringify({ system, role, params })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let probedResolve!: () => void;
  const probed = new Promise<void>((r) => { probedResolve = r; });
  let counted: ((c: { count: number; lastMs: number }) => void) | undefined;
  const ready = await new Promise<{ endpoint?: string }>((resolve, reject) => {
    child.on('message', (m: { type: string; endpoint?: string; count: number; lastMs: number }) => {
      if (m.type === 'ready') resolve(m);
      else if (m.type === 'probe') probedResolve();
      else if (m.type === 'count') counted?.(m);
    });
    child.once('exit', (code) => reject(new Error(`${system} ${role} peer exited (${code})`)));
  });
  return {
    endpoint: ready.endpoint,
    probed,
    count: (expected, idleMs, reset = false) => new Promise((resolve) => {
      counted = resolve;
      child.send({ type: 'wait', expected, idleMs, reset });
    }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(t);
  }
}

/** Latency of `ops` operations, one in flight, in an HDR histogram (µs). */
async function oneAtATime(ops: number, op: () => Promise<void>): Promise<Latency> {
  const rec = new LatencyRecorder();
  for (let i = 0; i < ops; i++) {
    const t = process.hrtime.bigint();
    await op();
    rec.since(t);
  }
  return rec.summary();
}

async function rpc(sys: System, size: number, c: MatrixConfig): Promise<MatrixRow[]> {
  const params: Params = { payloadBytes: size, id: randomBytes(4).toString('hex') };
  const server = await startPeer(sys.name, 'rpc', params);
  const client = await sys.rpcClient!({ ...params, endpoint: server.endpoint });
  try {
    const payload = Buffer.alloc(size, 0x61);
    const warmUntil = now() + c.warmupMs;
    for (let i = 0; i < c.warmup || now() < warmUntil; i++) await client.request(payload);
    const latencyOps = scaled(c.latencyOps, size, c);
    const latencyUs = await oneAtATime(latencyOps, () => client.request(payload));
    const ops = scaled(c.throughputOps, size, c);
    let started = 0;
    const t0 = now();
    await Promise.all(Array.from({ length: c.window }, async () => {
      while (started < ops) {
        started++;
        await client.request(payload);
      }
    }));
    const msgPerSec = Math.round(ops / ((now() - t0) / 1000));
    return [
      { scenario: 'rpc-latency', system: sys.name, payloadBytes: size, status: 'ok', ops: latencyOps, latencyUs },
      { scenario: 'rpc-throughput', system: sys.name, payloadBytes: size, status: 'ok', ops, msgPerSec },
    ];
  } finally {
    await client.close().catch(() => undefined);
    await server.stop();
  }
}

/** Every system's publisher yields to the event loop this often, as a service that
 *  publishes from its handlers does; a synchronous loop of 30 000 publishes would let
 *  no client library write anything until it ended. */
export const YIELD_EVERY = 256;
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Publishes `ops` messages, at most `window` unresolved at once. */
async function publishAll(pub: Publisher, payload: Buffer, ops: number, window: number): Promise<void> {
  let inflight = 0;
  let failure: unknown;
  let slot: (() => void) | undefined;
  let idle: (() => void) | undefined;
  const settled = (err?: unknown): void => {
    if (err !== undefined) failure ??= err;
    inflight--;
    slot?.();
    slot = undefined;
    if (inflight === 0) idle?.();
  };
  for (let i = 0; i < ops; i++) {
    if (failure !== undefined) throw failure;
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await tick();
    const r = pub.publish(payload);
    if (r === undefined) continue;
    if (window <= 1) {
      await r;
      continue;
    }
    inflight++;
    r.then(() => settled(), settled);
    if (inflight >= window) await new Promise<void>((resolve) => { slot = resolve; });
  }
  if (inflight > 0) await new Promise<void>((resolve) => { idle = resolve; });
  if (failure !== undefined) throw failure;
  await pub.flush();
}

export async function pubsub(sys: System, size: number, subscribers: number, c: MatrixConfig): Promise<MatrixRow> {
  const params: Params = { payloadBytes: size, id: randomBytes(4).toString('hex') };
  const pub = await sys.publisher!(params);
  const peers: Peer[] = [];
  try {
    peers.push(...await Promise.all(Array.from({ length: subscribers }, () => startPeer(sys.name, 'sub', { ...params, endpoint: pub.endpoint }))));
    // Every subscription is live once a probe got through to each subscriber.
    const probe = Buffer.alloc(size === 1 ? 2 : 1, 0x50);
    const probing = setInterval(() => { void Promise.resolve(pub.publish(probe)).catch(() => undefined); }, 20);
    try {
      await withTimeout(Promise.all(peers.map((p) => p.probed)), 20_000, 'subscribing');
    } finally {
      clearInterval(probing);
    }
    // Fan-out counts deliveries: each subscriber gets its share of the same total.
    const ops = Math.round(scaled(c.pubsubOps, size, c) / subscribers);
    const payload = Buffer.alloc(size, 0x61);
    // Warm-up through the same path, untimed and uncounted, so no system is measured
    // while its code is still being compiled or its buffers grown. Each chunk waits
    // for its delivery, so no backlog is left to drain into the measurement (a
    // publisher can queue far faster than a subscriber reads).
    let warm = 0;
    await warmUp(c, ops, async (n) => {
      await publishAll(pub, payload, n, pub.window ?? 1_000);
      warm += n;
      await Promise.all(peers.map((p) => p.count(warm, 1_000)));
    });
    await Promise.all(peers.map((p) => p.count(warm, 1_000, true)));
    const t0 = now();
    await publishAll(pub, payload, ops, pub.window ?? 1_000);
    const counts = await Promise.all(peers.map((p) => p.count(ops, 2_000)));
    const delivered = counts.reduce((s, x) => s + x.count, 0);
    const last = Math.max(...counts.map((x) => x.lastMs));
    return {
      scenario: subscribers === 1 ? 'pubsub' : 'fanout', system: sys.name, payloadBytes: size, status: delivered === 0 ? 'failed' : 'ok',
      ...(delivered === 0 ? { reason: 'nothing arrived' } : {}),
      ops, delivered, dropped: ops * subscribers - delivered, msgPerSec: delivered === 0 ? 0 : Math.round(delivered / ((last - t0) / 1000)),
    };
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
    await pub.close().catch(() => undefined);
  }
}

async function reliable(sys: System, size: number, c: MatrixConfig): Promise<MatrixRow> {
  const params: Params = { payloadBytes: size, id: randomBytes(4).toString('hex') };
  const pub = await sys.reliablePublisher!(params);
  // The same layout as the other scenarios: a subscriber takes the messages away.
  const peer = await startPeer(sys.name, 'sub', { ...params, endpoint: pub.endpoint });
  try {
    const payload = Buffer.alloc(size, 0x61);
    const ops = scaled(c.reliableOps, size, c);
    await warmUp(c, ops, (n) => publishAll(pub, payload, n, c.reliableWindow));
    const latencyUs = await oneAtATime(scaled(c.reliableLatencyOps, size, c), async () => { await pub.publish(payload); });
    const t0 = now();
    await publishAll(pub, payload, ops, c.reliableWindow);
    const msgPerSec = Math.round(ops / ((now() - t0) / 1000));
    return { scenario: 'reliable-publish', system: sys.name, payloadBytes: size, status: 'ok', ops, msgPerSec, latencyUs };
  } finally {
    await peer.stop();
    await pub.close().catch(() => undefined);
  }
}

export interface MatrixResult {
  rows: MatrixRow[];
  versions: Record<string, string>;
  settings: Record<string, string>;
}

export async function runMatrix(c: MatrixConfig, o: { systems?: string[]; scenarios?: MatrixScenario[]; progress(line: string): void }): Promise<MatrixResult> {
  const systems = SYSTEMS.filter((s) => o.systems === undefined || o.systems.includes(s.name));
  const scenarios = o.scenarios ?? [...MATRIX_SCENARIOS];
  const rows: MatrixRow[] = [];
  const versions: Record<string, string> = {};
  const settings: Record<string, string> = {};
  const cells = systems.length * c.payloads.length * scenarios.length;
  let done = 0;
  for (const sys of systems) {
    settings[sys.name] = sys.settings;
    const missing = await sys.unavailable();
    if (missing === undefined) versions[sys.name] = await sys.version().catch((e: Error) => `unknown (${e.message})`);
    for (const size of c.payloads) {
      const want = (s: MatrixScenario): boolean => scenarios.includes(s);
      const row = (scenario: MatrixScenario, status: MatrixRow['status'], reason: string): MatrixRow => ({ scenario, system: sys.name, payloadBytes: size, status, reason });
      const cell = async (list: MatrixScenario[], offered: boolean, run: () => Promise<MatrixRow[]>): Promise<void> => {
        const wanted = list.filter(want);
        if (wanted.length === 0) return;
        done += wanted.length;
        if (missing !== undefined) return void rows.push(...wanted.map((s) => row(s, 'skipped', missing)));
        if (!offered) return void rows.push(...wanted.map((s) => row(s, 'n/a', `${sys.name} does not offer this`)));
        o.progress(`[${done}/${cells}] ${wanted.join(' + ')}  ${sys.name}  ${size} B`);
        // Every cell starts with a clean heap, so no system pays for the garbage of the
        // one measured before it (node --expose-gc, as npm run bench does).
        (globalThis as { gc?: () => void }).gc?.();
        try {
          const got = await withTimeout(run(), 60_000, `${wanted.join('+')} on ${sys.name}`);
          rows.push(...got.filter((r) => wanted.includes(r.scenario)));
        } catch (err) {
          rows.push(...wanted.map((s) => row(s, 'failed', (err as Error).message)));
        }
      };
      await cell(['rpc-latency', 'rpc-throughput'], sys.serveRpc !== undefined && sys.rpcClient !== undefined, () => rpc(sys, size, c));
      await cell(['pubsub'], sys.publisher !== undefined && sys.subscribe !== undefined, async () => [await pubsub(sys, size, 1, c)]);
      await cell(['fanout'], sys.publisher !== undefined && sys.subscribe !== undefined, async () => [await pubsub(sys, size, FANOUT, c)]);
      await cell(['reliable-publish'], sys.reliablePublisher !== undefined, async () => [await reliable(sys, size, c)]);
    }
  }
  return { rows, versions, settings };
}
