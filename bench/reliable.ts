/**
 * The reliable class beside the fast class, same run, sender and receiver in separate
 * processes on 127.0.0.1, 100-byte payloads:
 *
 * - reliable publish: publishReliable() resolves when the event is in the publisher's
 *   log on disk (WAL, synchronous=FULL); `window` publishes in flight, so concurrent
 *   ones share a group commit; fsyncs per message = commits / events.
 * - reliable send, resolved on the sender's disk: the same for commands (send()); the
 *   clock stops when the last send() resolved, which is when the command is in the
 *   sender's outbox on disk, not when it was delivered (the sink receives them
 *   meanwhile, off the clock; delivery end to end is bench/e2e.ts);
 *   fsyncs per message on the sender = (group commits + ack removals) / commands.
 * - fast commands: command() handed to the socket, counted when handled.
 * - reliable command end to end, one in flight: send -> persisted -> delivered ->
 *   handled and committed by the receiver -> ACK back (the outbox:acked event); and
 *   the same in a secure mesh (CurveZMQ, certificates, per-message MAC).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, type MeshNode } from '../transport/index.js';
import { startServer } from './lib/child.js';
import { credentials } from './systems/zmesh.js';
import { LatencyRecorder, type Latency } from './lib/stats.js';

export interface ReliableRow {
  scenario: 'reliable-publish' | 'reliable-send-on-sender-disk' | 'fast-command' | 'reliable-e2e-latency' | 'reliable-e2e-latency-secure';
  /** Where this row's clock stops for each message. */
  clock: string;
  payloadBytes: number;
  ops: number;
  msgPerSec?: number;
  fsyncsPerMsg?: number;
  latencyUs?: Latency;
}

const CLOCK = {
  e2e: 'acknowledged by the receiver (applied and committed there)',
  publish: 'resolved on the publisher\'s disk',
  send: 'resolved on the sender\'s disk (not delivered)',
  fast: 'handled by the receiver (counted there)',
} as const;

export interface ReliableConfig { ops: number; window: number; latencyOps: number; payloadBytes: number }
export const RELIABLE_QUICK: ReliableConfig = { ops: 30_000, window: 2_000, latencyOps: 1_000, payloadBytes: 100 };
export const RELIABLE_FULL: ReliableConfig = { ops: 200_000, window: 2_000, latencyOps: 10_000, payloadBytes: 100 };

/** Reliable commands one at a time, sent until acknowledged (receiver committed). */
async function endToEnd(node: MeshNode, payload: Buffer, ops: number): Promise<Latency> {
  const rec = new LatencyRecorder();
  for (let i = 0; i < ops + 200; i++) {
    const acked = new Promise<void>((resolve) => { const off = node.on('outbox:acked', () => { off(); resolve(); }); });
    const t0 = process.hrtime.bigint();
    await node.send('sink', 'apply', payload);
    await acked;
    if (i >= 200) rec.since(t0);
  }
  return rec.summary();
}

/** The same measurement between a secure sender and a secure sink. */
async function secureEndToEnd(c: ReliableConfig): Promise<Latency> {
  const server = await startServer('zmesh-sink', { secure: true });
  const dir = mkdtempSync(join(tmpdir(), 'zmesh-bench-'));
  const node = createNode({ security: credentials('bench'), service: 'bench', host: '127.0.0.1', peers: [server.endpoint], storePath: join(dir, 'zmesh.db'), requestTimeoutMs: 60_000 });
  try {
    await node.start();
    await node.waitForService('sink', { timeoutMs: 10_000 });
    return await endToEnd(node, Buffer.alloc(c.payloadBytes, 0x61), c.latencyOps);
  } finally {
    await node.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runReliable(c: ReliableConfig, progress: (l: string) => void): Promise<ReliableRow[]> {
  const server = await startServer('zmesh-sink');
  const dir = mkdtempSync(join(tmpdir(), 'zmesh-bench-'));
  const node = createNode({ insecure: true, service: 'bench', host: '127.0.0.1', peers: [server.endpoint], storePath: join(dir, 'zmesh.db'), requestTimeoutMs: 60_000, reliable: { maxOutbox: c.ops * 2 } });
  await node.start();
  const payload = Buffer.alloc(c.payloadBytes, 0x61);
  const rows: ReliableRow[] = [];
  try {
    await node.waitForService('sink');
    const drained = async (): Promise<void> => {
      while (node.reliableStats()!.pending > 0) await new Promise((r) => setTimeout(r, 20));
    };

    // Latency first, on fresh stores: later phases leave large WAL files whose
    // checkpoints would land on this path.
    progress('reliable: command end-to-end latency, one in flight');
    rows.push({ scenario: 'reliable-e2e-latency', clock: CLOCK.e2e, payloadBytes: c.payloadBytes, ops: c.latencyOps, latencyUs: await endToEnd(node, payload, c.latencyOps) });
    progress('reliable: command end-to-end latency, one in flight, secure mesh');
    rows.push({ scenario: 'reliable-e2e-latency-secure', clock: CLOCK.e2e, payloadBytes: c.payloadBytes, ops: c.latencyOps, latencyUs: await secureEndToEnd(c) });

    progress('reliable: event publish throughput (resolved = on disk)');
    {
      const before = node.reliableStats()!.eventCommits;
      let published = 0;
      const tp = process.hrtime.bigint();
      await Promise.all(Array.from({ length: c.window }, async () => {
        while (published < c.ops) {
          published++;
          await node.publishReliable('bench.events', payload);
        }
      }));
      const secs = Number(process.hrtime.bigint() - tp) / 1e9;
      const commits = node.reliableStats()!.eventCommits - before;
      rows.push({ scenario: 'reliable-publish', clock: CLOCK.publish, payloadBytes: c.payloadBytes, ops: c.ops, msgPerSec: c.ops / secs, fsyncsPerMsg: commits / c.ops });
    }

    progress('reliable: command send throughput, resolved on the sender\'s disk (not delivery)');
    const before = node.reliableStats()!;
    let started = 0;
    const t = process.hrtime.bigint();
    await Promise.all(Array.from({ length: c.window }, async () => {
      while (started < c.ops) {
        started++;
        await node.send('sink', 'apply', payload);
      }
    }));
    const secs = Number(process.hrtime.bigint() - t) / 1e9;
    await drained();
    const after = node.reliableStats()!;
    rows.push({
      scenario: 'reliable-send-on-sender-disk', clock: CLOCK.send, payloadBytes: c.payloadBytes, ops: c.ops, msgPerSec: c.ops / secs,
      fsyncsPerMsg: ((after.commits - before.commits) + (after.ackCommits - before.ackCommits)) / c.ops,
    });

    progress('reliable: fast commands beside it');
    const counted = async (): Promise<number> => Number(Buffer.from(await node.request('sink', 'count', Buffer.alloc(0))).toString());
    const base = await counted();
    const tf = process.hrtime.bigint();
    for (let i = 0; i < c.ops; i++) {
      node.command('sink', 'apply', payload);
      if (i % 1_000 === 999) await new Promise((r) => setImmediate(r)); // let the socket drain
    }
    while ((await counted()) < base + c.ops) await new Promise((r) => setTimeout(r, 5));
    rows.push({ scenario: 'fast-command', clock: CLOCK.fast, payloadBytes: c.payloadBytes, ops: c.ops, msgPerSec: c.ops / (Number(process.hrtime.bigint() - tf) / 1e9) });

  } finally {
    await node.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
