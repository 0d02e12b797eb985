/**
 * Reliable end to end (`--only reliable-e2e`): N messages, W in flight, from a sender
 * in this process to a receiver in a child process (bench/servers/e2e-receiver.ts),
 * for zmesh's reliable class (durability 'full' and 'os') and for the brokers'
 * durable equivalents (bench/e2e/*.ts say what each one runs).
 *
 * The clock of a row (msg/s = N / that time) starts at the first send and stops when
 * the last message is done end to end: applied by the receiver's handler (zmesh: one
 * INSERT in the command's transaction, committed), its acknowledgement accepted, and
 * the sender's own confirmation in (zmesh: outbox:acked has counted N, each ACK sent
 * once the receiver committed; the outbox drops the acknowledged rows in its next
 * pass, off the clock; brokers: every publisher confirm / PubAck arrived,
 * and the consumer's handler saw the N-th message and the broker accepted its acks).
 * The sender keeps W sends unresolved (zmesh: not yet on its disk; brokers: not yet
 * confirmed); the store between them holds the backlog and hands the receiver at most
 * W at once (zmesh reliable.window, RabbitMQ prefetch, JetStream max_ack_pending).
 *
 * Beside the rate, each row reports:
 * - the receiver's event-loop delay p99 over the timed pass (monitorEventLoopDelay in
 *   the receiving process, sampled every 1 ms, the sampling period taken off);
 * - fsyncs per message on each side (sender, receiver, broker), from a separate,
 *   untimed, shorter pass of the same kind in which strace counts the fsync family of
 *   calls of each of those processes by PID (bench/lib/fsyncs.ts);
 * - the check that makes the row count: the receiver applied exactly N distinct
 *   messages in every pass (zmesh: rows in its table), and once it closed, the system
 *   holds nothing (outbox empty, queue empty, stream empty). Otherwise the row fails.
 * Warm-up: the same rule as the matrix (matrix.ts warmUp), through the same path.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { E2E_SYSTEMS, loadE2e } from './e2e/index.js';
import { SEQ_BYTES, message, type E2eParams, type E2eSender, type E2eSystem } from './e2e/types.js';
import { countSyncs, stracesUnavailable, totalSyncs, type Counter, type SyncCounts } from './lib/fsyncs.js';
import { YIELD_EVERY, tick, warmUp, withTimeout } from './matrix.js';

export interface E2eConfig {
  payloads: number[];
  ops: number;
  window: number;
  warmup: number;
  warmupMs: number;
  /** 64 KiB rows run this many times fewer messages (at least 200), as in the matrix. */
  largeDivisor: number;
  /** Messages in the fsync-counting pass (scaled the same way at 64 KiB). */
  fsyncOps: number;
}

export const E2E_QUICK: E2eConfig = { payloads: [100, 1_024, 65_536], ops: 10_000, window: 1_000, warmup: 500, warmupMs: 750, largeDivisor: 25, fsyncOps: 2_000 };
export const E2E_FULL: E2eConfig = { payloads: [100, 1_024, 65_536], ops: 50_000, window: 1_000, warmup: 2_000, warmupMs: 1_500, largeDivisor: 10, fsyncOps: 5_000 };

/** One pass may take this long at most (a row that would be slower fails). */
const PASS_TIMEOUT_MS = 120_000;
/** How long the counting pass and the row's final check wait, after the last message
 *  is done, for the system to hold nothing more (zmesh's outbox bookkeeping). */
const DRAIN_WAIT_MS = 5_000;

type Side = 'sender' | 'receiver' | 'broker';

export interface E2eRow {
  scenario: 'reliable-e2e';
  system: string;
  payloadBytes: number;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  durability?: string;
  ops?: number;
  window?: number;
  /** N / (last message done end to end - first send). */
  msgPerSec?: number;
  /** N / (last send resolved - first send): zmesh on the sender's disk, brokers on
   *  their confirms; the rate the sender alone sees. */
  sendsResolvedPerSec?: number;
  /** The receiving process's event-loop delay over the timed pass: p99 and max of the
   *  1 ms samples (the period taken off), and how many samples there were (a loop
   *  blocked for a second yields one sample for that second). */
  receiverEldP99Ms?: number;
  receiverEld?: { maxMs: number; samples: number };
  /** From the counting pass: calls per message, per process of the row. */
  fsyncsPerMsg?: Partial<Record<Side, number>>;
  fsyncs?: { ops: number; pids: Partial<Record<Side, number>>; processes: Partial<Record<Side, string>>; calls: Partial<Record<Side, SyncCounts>> } | { skipped: string };
}

const now = (): number => performance.now();
const scaled = (ops: number, size: number, c: E2eConfig): number => (size >= 65_536 ? Math.max(200, Math.round(ops / c.largeDivisor)) : ops);

interface Report { rows: number; distinct: number; calls: number; eldP99Ms?: number; eldMaxMs?: number; eldSamples?: number }

interface Receiver {
  pid: number;
  endpoint?: string;
  /** Starts a pass over [from, to); the returned promise resolves at the moment a
   *  broker's consumer reported the pass settled (never, for zmesh). */
  arm(from: number, to: number, eld: boolean): Promise<{ settled: Promise<number> }>;
  report(): Promise<Report>;
  stop(): Promise<void>;
}

const RECEIVER = fileURLToPath(new URL('./servers/e2e-receiver.js', import.meta.url));

async function startReceiver(system: string, params: E2eParams): Promise<Receiver> {
  const child: ChildProcess = fork(RECEIVER, [JSON.stringify({ system, params })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const waiters = new Map<string, (m: Record<string, unknown>) => void>();
  const next = (type: string): Promise<Record<string, unknown>> => new Promise((resolve) => { waiters.set(type, resolve); });
  child.on('message', (m: Record<string, unknown> & { type: string }) => {
    const w = waiters.get(m.type);
    waiters.delete(m.type);
    w?.(m);
  });
  const ready = await Promise.race([
    next('ready'),
    exited.then(() => { throw new Error(`${system} receiver exited (${child.exitCode ?? child.signalCode})`); }),
  ]);
  return {
    pid: child.pid!,
    endpoint: ready['endpoint'] as string | undefined,
    arm: async (from, to, eld) => {
      const armed = next('armed');
      const settled = next('settled').then(() => now());
      child.send({ type: 'arm', from, to, eld });
      await armed;
      return { settled };
    },
    report: async () => {
      const r = next('report');
      child.send({ type: 'report' });
      return (await r) as unknown as Report;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Sends [from, from + n) with at most `window` sends unresolved; resolves at the
 *  moment the last one resolved. */
async function sendAll(sender: E2eSender, template: Buffer, from: number, n: number, window: number): Promise<number> {
  let inflight = 0;
  let failure: unknown;
  let slot: (() => void) | undefined;
  let idle: (() => void) | undefined;
  const settle = (err?: unknown): void => {
    if (err !== undefined) failure ??= err;
    inflight--;
    slot?.();
    slot = undefined;
    if (inflight === 0) idle?.();
  };
  for (let i = 0; i < n; i++) {
    if (failure !== undefined) throw failure;
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await tick();
    inflight++;
    sender.send(message(template, from + i)).then(() => settle(), settle);
    if (inflight >= window) await new Promise<void>((resolve) => { slot = resolve; });
  }
  if (inflight > 0) await new Promise<void>((resolve) => { idle = resolve; });
  if (failure !== undefined) throw failure;
  return now();
}

interface Pass { ms: number; sentMs: number; report: Report }

/** One pass of n messages; throws unless the receiver applied exactly those n. */
async function pass(sender: E2eSender, receiver: Receiver, template: Buffer, from: number, n: number, window: number, o: { eld: boolean; counting?: () => Promise<void> }): Promise<Pass> {
  const { settled } = await receiver.arm(from, from + n, o.eld);
  const ackedTotal = (sender.acked?.() ?? 0) + n;
  const t0 = now();
  const sentAt = await sendAll(sender, template, from, n, window);
  const doneAt = sender.ackedAt !== undefined ? await sender.ackedAt(ackedTotal) : Math.max(sentAt, await settled);
  await o.counting?.();
  const report = await receiver.report();
  if (report.rows !== n || report.distinct !== n) {
    throw new Error(`the receiver applied ${report.rows} messages (${report.distinct} distinct) of the ${n} sent in [${from}, ${from + n})`);
  }
  return { ms: doneAt - t0, sentMs: sentAt - t0, report };
}

/** What the system still holds, once it held nothing or DRAIN_WAIT_MS passed. */
async function drained(sender: E2eSender): Promise<number> {
  const until = now() + DRAIN_WAIT_MS;
  for (;;) {
    const left = await sender.leftover();
    if (left === 0 || now() >= until) return left;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The counting pass: strace on every process of the row, by PID. */
async function countingPass(sys: E2eSystem, sender: E2eSender, receiver: Receiver, template: Buffer, from: number, n: number, window: number): Promise<E2eRow['fsyncs']> {
  const missing = stracesUnavailable();
  if (missing !== undefined) return { skipped: missing };
  const pids: Partial<Record<Side, number>> = { sender: process.pid, receiver: receiver.pid };
  if (sys.brokerPid !== undefined) {
    const pid = sys.brokerPid();
    if (pid === undefined || !existsSync(`/proc/${pid}`)) return { skipped: `no pid file of the ${sys.name} broker that bench/brokers.sh started` };
    pids.broker = pid;
  }
  const sides = Object.keys(pids) as Side[];
  const counters: Counter[] = [];
  try {
    for (const side of sides) counters.push(await countSyncs(pids[side]!));
  } catch (err) {
    await Promise.all(counters.map((c) => c.stop().catch(() => undefined)));
    return { skipped: (err as Error).message };
  }
  let calls: SyncCounts[] | undefined;
  const stop = async (): Promise<void> => { calls ??= await Promise.all(counters.map((c) => c.stop())); };
  // The bookkeeping that follows the last ACK is part of the cost too (zmesh removes
  // acknowledged rows from the outbox in its next pass): counted until it is done.
  const drainedThenStop = async (): Promise<void> => {
    await drained(sender);
    await stop();
  };
  try {
    await withTimeout(pass(sender, receiver, template, from, n, window, { eld: false, counting: drainedThenStop }), PASS_TIMEOUT_MS, `the ${sys.name} counting pass`);
  } finally {
    await stop();
  }
  const processes = Object.fromEntries(sides.map((s) => [s, processName(pids[s]!) ?? '?']));
  return { ops: n, pids, processes, calls: Object.fromEntries(sides.map((s, i) => [s, calls![i]!])) };
}

async function row(sys: E2eSystem, size: number, c: E2eConfig): Promise<E2eRow> {
  const params: E2eParams = { id: randomBytes(4).toString('hex'), payloadBytes: size, window: c.window };
  const template = Buffer.alloc(Math.max(size, SEQ_BYTES), 0x61);
  const ops = scaled(c.ops, size, c);
  let next = 0;
  const run = async (n: number, o: { eld: boolean }): Promise<Pass> => {
    const from = next;
    next += n;
    return withTimeout(pass(sender, receiver, template, from, n, c.window, o), PASS_TIMEOUT_MS, `${n} messages through ${sys.name}`);
  };
  const receiver = await startReceiver(sys.name, params);
  let sender!: E2eSender;
  try {
    sender = await sys.sender({ ...params, endpoint: receiver.endpoint });
    await warmUp(c, ops, async (n) => { await run(n, { eld: false }); });
    const timed = await run(ops, { eld: true });
    const countOps = scaled(c.fsyncOps, size, c);
    const from = next;
    next += countOps;
    const fsyncs = await countingPass(sys, sender, receiver, template, from, countOps, c.window);
    await receiver.stop();
    const left = await drained(sender);
    if (left !== 0) throw new Error(`${left} messages were still held by ${sys.name} after the receiver closed`);
    return {
      scenario: 'reliable-e2e', system: sys.name, payloadBytes: size, status: 'ok', ...(sys.durability === undefined ? {} : { durability: sys.durability }),
      ops, window: c.window, msgPerSec: Math.round(ops / (timed.ms / 1000)), sendsResolvedPerSec: Math.round(ops / (timed.sentMs / 1000)),
      ...(timed.report.eldP99Ms === undefined ? {} : {
        receiverEldP99Ms: Math.round(timed.report.eldP99Ms * 100) / 100,
        receiverEld: { maxMs: Math.round(timed.report.eldMaxMs! * 100) / 100, samples: timed.report.eldSamples! },
      }),
      ...(fsyncs !== undefined && 'calls' in fsyncs ? { fsyncsPerMsg: Object.fromEntries(Object.entries(fsyncs.calls).map(([s, k]) => [s, Math.round((totalSyncs(k) / fsyncs.ops) * 10_000) / 10_000])) } : {}),
      fsyncs,
    };
  } finally {
    await receiver.stop();
    await sender?.close().catch(() => undefined);
  }
}

/** A process's name, recorded beside its counts (a pid file can go stale). */
function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export interface E2eResult { rows: E2eRow[]; versions: Record<string, string>; settings: Record<string, string> }

export async function runE2e(c: E2eConfig, o: { systems?: string[]; progress(line: string): void }): Promise<E2eResult> {
  const names = E2E_SYSTEMS.filter((s) => o.systems === undefined || o.systems.includes(s));
  const rows: E2eRow[] = [];
  const versions: Record<string, string> = {};
  const settings: Record<string, string> = {};
  let done = 0;
  for (const name of names) {
    const sys = await loadE2e(name);
    settings[name] = sys.settings;
    const missing = await sys.unavailable();
    if (missing === undefined) versions[name] = await sys.version().catch((e: Error) => `unknown (${e.message})`);
    for (const size of c.payloads) {
      o.progress(`[${++done}/${names.length * c.payloads.length}] reliable-e2e  ${name}  ${size} B`);
      if (missing !== undefined) {
        rows.push({ scenario: 'reliable-e2e', system: name, payloadBytes: size, status: 'skipped', reason: missing });
        continue;
      }
      // A clean heap for every row, as in the matrix.
      (globalThis as { gc?: () => void }).gc?.();
      try {
        rows.push(await row(sys, size, c));
      } catch (err) {
        rows.push({ scenario: 'reliable-e2e', system: name, payloadBytes: size, status: 'failed', reason: (err as Error).message });
      }
    }
  }
  return { rows, versions, settings };
}
