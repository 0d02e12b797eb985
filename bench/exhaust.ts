/**
 * `npm run exhaust [-- --json]`: a bounded resource-exhaustion run. A node in its own
 * process is attacked, one attack after another, by a peer that speaks the wire by
 * hand, while a legitimate member calls it every 2 ms. For each attack: the target's
 * RSS and open descriptors before, at the end of the attack, and after the attacker
 * left (and the node's bounds let go of what it held); the member's request latency
 * during the attack (HDR histogram, clock = the member's round trip); and requests
 * that failed. Targets (the bounds issue): RSS back within 20 % of its baseline after
 * each attack, no legitimate request fails, request p99 under 50 ms during attacks.
 *
 *   attacks (raw sockets) ─────────────┐
 *   a member: echo every 2 ms ─────────┴──> target (insecure, with a store, own process)
 *
 * Every attack is bounded in count and in time, and the run stops by itself.
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as zmq from 'zeromq';
import { PENDING_LINK_TTL_MS, createNode, type BoundsStats } from '../transport/index.js';
// The protobuf types and envelope builder a foreign peer uses (the attacks speak the wire by hand).
import { envelope, pb } from '../test/helpers/raw-peer.js';
import { textTable } from './lib/report.js';
import { LatencyRecorder, type Latency } from './lib/stats.js';

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false } } });
const log = (s: string): void => { process.stderr.write(`exhaust: ${s}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MiB = 2 ** 20;

interface Resources { stats: { bounds: BoundsStats; dropped: Record<string, number> }; rssBytes: number; heapTotalBytes: number; heapUsedBytes: number; fds: number }

const target = fork(fileURLToPath(new URL('./servers/exhaust-target.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc'] });
let crashed: string | undefined;
target.on('exit', (code, signal) => { crashed = `target exited (code ${code}, signal ${signal})`; });
const ready = await new Promise<{ router: string; pub: string; nodeId: string }>((resolve) => target.once('message', resolve as never));
const resources = (): Promise<Resources> => new Promise((resolve) => {
  target.once('message', resolve as never);
  target.send({ type: 'resources' });
});

// The legitimate member: one echo every 2 ms, all along.
const member = createNode({ insecure: true, service: 'member', host: '127.0.0.1', discovery: 'static', peers: [ready.router], requestTimeoutMs: 5_000 });
await member.start();
await member.waitForService('target', { timeoutMs: 10_000 });
let recorder = new LatencyRecorder();
let failed = 0;
let lastError = '';
let stopping = false;
const caller = (async () => {
  while (!stopping && crashed === undefined) {
    const t = process.hrtime.bigint();
    try {
      await member.request('target', 'echo', Buffer.from('ping'));
      recorder.since(t);
    } catch (err) {
      failed++;
      lastError = (err as Error).message;
    }
    await sleep(2);
  }
})();

/** Raw DEALERs and XSUBs an attack opened, closed when it ends. */
const opened: zmq.Socket[] = [];
function dealer(o: Partial<zmq.Dealer> = {}): zmq.Dealer {
  const d = new zmq.Dealer({ linger: 0, sendHighWaterMark: 0, ...o });
  d.connect(ready.router);
  void (async () => { for await (const _ of d) { /* answers are not the point */ } })().catch(() => undefined);
  opened.push(d);
  return d;
}
function xsub(): zmq.XSubscriber {
  const s = new zmq.XSubscriber({ linger: 0 });
  s.connect(ready.pub);
  opened.push(s);
  return s;
}
const subscribe = (s: zmq.XSubscriber, topic: string): Promise<void> => s.send(Buffer.concat([Buffer.of(1), Buffer.from(topic)]));

interface Attack {
  name: string;
  /** Runs the attack (bounded), the sockets it opens left in `opened`. */
  run(): Promise<void>;
  /** How long the node may take to let go once the attacker left. */
  settleMs: number;
}

const ATTACKS: Attack[] = [
  {
    name: 'hello flood: 1 100 hellos naming closed endpoints',
    settleMs: PENDING_LINK_TTL_MS + 2_000,
    run: async () => {
      const d = dealer();
      for (let i = 0; i < 1_100; i++) {
        const nodeId = `ghost-${i}`;
        const payload = pb.Hello.encode({ nodeId, service: 'ghost', mesh: 'default', pubPort: 1, protocolVersion: 1, routerEndpoints: [`tcp://127.0.0.1:${i + 1}`] }).finish();
        await d.send(envelope({ kind: pb.Kind.HELLO, senderNode: nodeId, senderService: 'ghost', payload }));
      }
      await sleep(1_000);
    },
  },
  ...[1, 2].map((round): Attack => ({
    name: `subscription flood, round ${round}: 100 x 1 MiB, a 256 KiB sync token, 100 000 x 100 B`,
    settleMs: 2_000,
    run: async () => {
      const huge = xsub();
      for (let i = 0; i < 100; i++) await subscribe(huge, `${'h'.repeat(MiB)}${i}`);
      await subscribe(xsub(), `$sync/${ready.nodeId}/${'t'.repeat(256 * 1024)}`);
      const many = xsub();
      for (let i = 0; i < 100_000; i++) await subscribe(many, `m${String(i).padStart(99, '0')}`);
      await sleep(2_000);
    },
  })),
  {
    name: 'oversized frames: 200 connections, each sends 4 MiB',
    settleMs: 2_000,
    run: async () => {
      const big = Buffer.alloc(4 * MiB, 1);
      for (let i = 0; i < 200; i++) {
        const d = dealer();
        await d.send([big, Buffer.alloc(0)]);
        if (i % 20 === 19) {
          await sleep(50);
          opened.splice(0).forEach((s) => s.close());
        }
      }
    },
  },
  {
    name: 'replay flood: 2 000 pipelined $replay, max 1e9',
    settleMs: 2_000,
    run: async () => {
      const d = dealer();
      const ask = pb.ReplayRequest.encode({ prefix: '', max: 1_000_000_000 }).finish();
      for (let i = 0; i < 2_000; i++) await d.send(envelope({ kind: pb.Kind.REQUEST, service: 'target', subject: '$replay', payload: ask }));
      await sleep(2_000);
    },
  },
  {
    name: 'ack names: 5 000 made-up durable subscribers',
    settleMs: 2_000,
    run: async () => {
      const d = dealer();
      // The stream id is readable through $replay: ask once.
      const answers: Buffer[][] = [];
      const probe = new zmq.Dealer({ linger: 0 });
      probe.connect(ready.router);
      opened.push(probe);
      await probe.send(envelope({ kind: pb.Kind.REQUEST, service: 'target', subject: '$replay', payload: pb.ReplayRequest.encode({ prefix: 'log.', max: 1 }).finish() }));
      answers.push(await probe.receive());
      const stream = pb.ReplayReply.decode(answers[0]![1]!).stream;
      for (let i = 0; i < 5_000; i++) {
        await d.send(envelope({ kind: pb.Kind.COMMAND, service: 'target', subject: '$ack', payload: pb.DurableAck.encode({ stream, subscriber: `fake-${i}`, seq: 1 }).finish() }));
      }
      await sleep(1_000);
    },
  },
  {
    name: 'request flood from one caller: 5 000 pipelined slow requests',
    settleMs: 2_000,
    run: async () => {
      const d = dealer();
      for (let i = 0; i < 5_000; i++) await d.send(envelope({ kind: pb.Kind.REQUEST, service: 'target', subject: 'slow', ttlMs: 10_000 }));
      await sleep(2_000);
    },
  },
];

interface Row {
  attack: string;
  rssMb: { before: number; end: number; after: number };
  /** V8's heap after the attack: what is live (used) and what V8 keeps reserved (total). */
  heapMb: { usedBefore: number; usedAfter: number; totalBefore: number; totalAfter: number };
  fds: { before: number; end: number; after: number };
  latencyUs: Latency;
  failed: number;
  bounds: Partial<BoundsStats>;
}
const rows: Row[] = [];
const mb = (b: number): number => Math.round((b / MiB) * 10) / 10;
const started = Date.now();
for (const attack of ATTACKS) {
  if (crashed !== undefined) break;
  await sleep(500);
  const before = await resources();
  recorder = new LatencyRecorder();
  const failedBefore = failed;
  log(attack.name);
  await attack.run();
  const end = await resources();
  const latencyUs = recorder.summary();
  recorder = new LatencyRecorder();
  opened.splice(0).forEach((s) => s.close());
  await sleep(attack.settleMs);
  const after = await resources();
  const bounds = Object.fromEntries(Object.entries(after.stats.bounds)
    .map(([k, v]) => [k, v - before.stats.bounds[k as keyof BoundsStats]] as const).filter(([, v]) => v > 0));
  rows.push({
    attack: attack.name,
    rssMb: { before: mb(before.rssBytes), end: mb(end.rssBytes), after: mb(after.rssBytes) },
    heapMb: { usedBefore: mb(before.heapUsedBytes), usedAfter: mb(after.heapUsedBytes), totalBefore: mb(before.heapTotalBytes), totalAfter: mb(after.heapTotalBytes) },
    fds: { before: before.fds, end: end.fds, after: after.fds },
    latencyUs, failed: failed - failedBefore, bounds,
  });
}
stopping = true;
await caller;
await member.close();
target.removeAllListeners('exit');
target.kill('SIGTERM');
await new Promise((r) => { if (target.exitCode !== null) r(undefined); else target.once('exit', r); });

const checks = rows.flatMap((r) => [
  { what: `${r.attack}: RSS back within 20 % of baseline`, ok: r.rssMb.after <= r.rssMb.before * 1.2, detail: `${r.rssMb.before} -> ${r.rssMb.after} MB` },
  { what: `${r.attack}: no legitimate request failed`, ok: r.failed === 0, detail: `${r.failed} failed${r.failed > 0 ? ` (${lastError})` : ''}` },
  { what: `${r.attack}: request p99 under 50 ms`, ok: r.latencyUs.p99 < 50_000, detail: `p99 ${(r.latencyUs.p99 / 1000).toFixed(1)} ms` },
]);
const result = { seconds: Math.round((Date.now() - started) / 1000), crashed: crashed ?? null, rows, checks };
// Compiled to dist/bench/exhaust.js; results belong in the source tree's bench/results/.
const resultsDir = new URL('../../bench/results/', import.meta.url);
mkdirSync(resultsDir, { recursive: true });
writeFileSync(new URL('exhaust.json', resultsDir), `${JSON.stringify(result, null, 2)}\n`);
if (values.json) console.log(JSON.stringify(result));
else {
  console.log(textTable(
    ['attack', 'RSS MB before/end/after', 'V8 heap used / total MB before -> after', 'fds before/end/after', 'p50 ms', 'p99 ms', 'calls', 'failed', 'bounds hit'],
    rows.map((r) => [
      r.attack, `${r.rssMb.before} / ${r.rssMb.end} / ${r.rssMb.after}`,
      `${r.heapMb.usedBefore} / ${r.heapMb.totalBefore} -> ${r.heapMb.usedAfter} / ${r.heapMb.totalAfter}`, `${r.fds.before} / ${r.fds.end} / ${r.fds.after}`,
      (r.latencyUs.p50 / 1000).toFixed(2), (r.latencyUs.p99 / 1000).toFixed(2), String(r.latencyUs.count), String(r.failed),
      Object.entries(r.bounds).map(([k, v]) => `${k} ${v}`).join(', '),
    ]),
  ));
  for (const c of checks) console.log(`  ${c.ok ? 'met   ' : 'MISSED'}  ${c.what}: ${c.detail}`);
  if (crashed !== undefined) console.log(`  target crashed: ${crashed}`);
}
process.exit(crashed === undefined ? 0 : 1);
