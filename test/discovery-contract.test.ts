/**
 * The discovery contract (test/helpers/discovery-contract.ts), run by every Discovery
 * implementation, plus what is particular to each.
 *
 * static: in this process; the remote node is only an endpoint (nothing is bound).
 * mdns: two child processes on two hosts of the virtual LAN, one source each; the
 * one on h1 is under test, the one on h2 is the remote node it must find.
 *
 *   ns h1: discovery-proc (local) ─┐
 *                                  ├── br0 (ns sw)
 *   ns h2: discovery-proc (remote) ┘
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { staticDiscovery } from '../transport/discovery/static.js';
import type { Candidate, LocalNode } from '../transport/types.js';
import type { DiscoveryProcConfig, DiscoveryProcMessage } from './fixtures/discovery-proc.js';
import { discoveryContract, inProcessHarness, type DiscoveryHarness, type SinkCall } from './helpers/discovery-contract.js';
import { dist } from './helpers/paths.js';
import { createLan, type Lan, type LanHost } from './helpers/vlan.js';
import { requireRoot } from './helpers/root.js';

const FIXTURE = dist('test/fixtures/discovery-proc.js');
/** Fast mDNS periods, so that finding, re-proposing and quiet windows take ms. */
const REPROPOSE_MS = 100;
const QUERY_INTERVAL_MS = 300;
const FIND_TIMEOUT_MS = 5_000;
const REPLY_TIMEOUT_MS = 5_000;

/** The wire protocol version; mDNS accepts only records with TXT v=1. */
const PROTOCOL_VERSION = 1;
let harnesses = 0;
const localNode = (nodeId: string, routerPort: number): LocalNode => ({
  nodeId, service: 'contract', mesh: 'default', routerPort, pubPort: routerPort + 1, protocolVersion: PROTOCOL_VERSION,
});

// ---------------------------------------------------------------- static

discoveryContract('static', async () => {
  const n = ++harnesses;
  // Distinct ports per harness, though nothing listens on them: only names matter.
  const remote = { host: '127.0.0.1', routerPort: 40_000 + 2 * n };
  return inProcessHarness({
    source: staticDiscovery({ peers: [`tcp://${remote.host}:${remote.routerPort}`] }),
    local: localNode(`static-local-${n}`, 41_000 + 2 * n),
    localHost: '127.0.0.1',
    remote,
    periodMs: 0,
  });
});

describe('static discovery', () => {
  it('static discovery - an endpoint that is not tcp://HOST:PORT is refused at construction, by name', () => {
    for (const bad of ['tcp://*:5555', 'tcp://10.0.0.7:0', 'tcp://10.0.0.7:65536', 'udp://10.0.0.7:5555', 'tcp://10.0.0.7', '']) {
      const make = () => staticDiscovery({ peers: ['tcp://10.0.0.1:5555', bad] });
      expect(make).toThrow(expect.objectContaining({ code: 'ZMESH_ERR_INVALID_ARGUMENT', message: expect.stringContaining(JSON.stringify(bad)) }));
    }
  });

  it('static discovery - each peer is proposed once per start, persistent, and counted', async () => {
    const peers = ['tcp://10.0.0.1:5555', 'tcp://peer.example:6000'];
    const d = staticDiscovery({ peers });
    peers.push('tcp://10.0.0.9:1'); // the caller's array is not ours
    const seen: Candidate[] = [];
    await d.start(undefined, { propose: (c) => seen.push(c), withdraw: () => { throw new Error('static never withdraws'); } }, new AbortController().signal);
    expect(seen).toEqual([
      { endpoints: ['tcp://10.0.0.1:5555'], source: 'static', persistent: true },
      { endpoints: ['tcp://peer.example:6000'], source: 'static', persistent: true },
    ]);
    expect(d.stats()).toEqual({ proposed: 2 });
    await d.close();
  });

  it('static discovery - start after close is refused with CLOSED', async () => {
    const d = staticDiscovery({ peers: ['tcp://10.0.0.1:5555'] });
    await d.close();
    const sink = { propose: () => { throw new Error('no proposal after close'); }, withdraw: () => undefined };
    await expect(d.start(undefined, sink, new AbortController().signal)).rejects.toMatchObject({ code: 'ZMESH_ERR_CLOSED' });
  });
});

// ---------------------------------------------------------------- mdns

let lan: Lan | undefined;
const procs = new Set<SourceProc>();
afterAll(async () => {
  await Promise.all([...procs].map((p) => p.kill()));
  lan?.destroy();
});

/** One discovery-proc child, seen through the JSON lines it prints. */
class SourceProc {
  readonly messages: DiscoveryProcMessage[] = [];
  readonly calls: SinkCall[] = [];
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private wake: Array<() => void> = [];

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let m: DiscoveryProcMessage;
      try {
        m = JSON.parse(line) as DiscoveryProcMessage;
      } catch {
        m = { type: 'error', message: `not a JSON line: ${line}` };
      }
      this.messages.push(m);
      if (m.type === 'propose' || m.type === 'withdraw') this.calls.push({ type: m.type, candidate: m.candidate });
      this.bump();
    });
    // A write to a child that died is reported by its exit, not as a crash of ours.
    child.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) => child.once('exit', (code) => {
      this.exitCode = code;
      procs.delete(this);
      this.bump();
      resolve(code);
    }));
  }

  static async spawn(on: { lan: Lan; host: LanHost }, config: DiscoveryProcConfig): Promise<SourceProc> {
    const p = new SourceProc(on.lan.spawn(on.host, [process.execPath, FIXTURE, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] }));
    procs.add(p);
    try {
      await p.next(['ready'], 0);
    } catch (err) {
      await p.kill();
      throw err;
    }
    return p;
  }

  private bump(): void {
    const woken = this.wake;
    this.wake = [];
    for (const f of woken) f();
  }

  /** The first message of one of `types` at index `from` or later. */
  async next<T extends DiscoveryProcMessage['type']>(types: T[], from: number, timeoutMs = REPLY_TIMEOUT_MS): Promise<Extract<DiscoveryProcMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find((m) => (types as string[]).includes(m.type));
      if (found !== undefined) return found as Extract<DiscoveryProcMessage, { type: T }>;
      if (this.exitCode !== undefined) throw new Error(`discovery-proc exited (${this.exitCode}) before ${types.join('|')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`discovery-proc: no ${types.join('|')} within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(from))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Sends a command and returns the first reply of one of `types`. */
  ask<T extends DiscoveryProcMessage['type']>(line: string, types: T[]): Promise<Extract<DiscoveryProcMessage, { type: T }>> {
    const from = this.messages.length;
    this.send(line);
    return this.next(types, from);
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exitCode === undefined) this.child.kill(signal);
  }

  /** SIGKILL by pid (the child's own, not a name) and wait for it. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }
}

const mdnsConfig = (host: LanHost, local: LocalNode): DiscoveryProcConfig => ({
  interface: host.address, local, queryIntervalMs: QUERY_INTERVAL_MS, reproposeMs: REPROPOSE_MS,
});

async function mdnsPair(): Promise<{ local: LocalNode; remote: LocalNode; a: SourceProc; b: SourceProc; hosts: [LanHost, LanHost] }> {
  lan ??= createLan({ hosts: 2 });
  const hosts: [LanHost, LanHost] = [lan.hosts[0]!, lan.hosts[1]!];
  const n = ++harnesses;
  // New ids every time, so that a record from an earlier test can never pass for this one.
  const local = localNode(`mdns-local-${n}`, 41_000 + 2 * n);
  const remote = localNode(`mdns-remote-${n}`, 40_000 + 2 * n);
  const spawned = await Promise.allSettled([
    SourceProc.spawn({ lan, host: hosts[0] }, mdnsConfig(hosts[0], local)),
    SourceProc.spawn({ lan, host: hosts[1] }, mdnsConfig(hosts[1], remote)),
  ]);
  const [a, b] = spawned.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
  if (a === undefined || b === undefined) {
    await Promise.all([a?.kill(), b?.kill()]);
    throw (spawned.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason;
  }
  return { local, remote, a, b, hosts };
}

async function mdnsHarness(): Promise<DiscoveryHarness> {
  const { local, remote, a, b, hosts } = await mdnsPair();
  let onAbort: (() => void) | undefined;
  let signal: AbortSignal | undefined;
  try {
    const started = await b.ask('start', ['started', 'error']);
    if (started.type === 'error') throw new Error(`remote source failed to start: ${started.message}`);
  } catch (err) {
    await Promise.all([a.kill(), b.kill()]);
    throw err;
  }
  return {
    local,
    localHost: hosts[0].address,
    remote: { host: hosts[1].address, routerPort: remote.routerPort, nodeId: remote.nodeId },
    findTimeoutMs: FIND_TIMEOUT_MS,
    calls: a.calls,
    start: async (s) => {
      signal = s;
      const aborted = s.aborted;
      if (!aborted) {
        onAbort = () => a.send('abort');
        s.addEventListener('abort', onAbort, { once: true });
      }
      const reply = await a.ask(aborted ? 'start-aborted' : 'start', ['started', 'error']);
      if (reply.type === 'error') throw Object.assign(new Error(reply.message), { code: reply.code });
    },
    close: async () => {
      const reply = await a.ask('close', ['closed', 'error']);
      if (reply.type === 'error') throw new Error(reply.message);
    },
    stats: async () => {
      const reply = await a.ask('stats', ['stats']);
      if (!reply.lossless) throw new Error(`stats() does not survive JSON: ${String(reply.value)}`);
      return reply.value;
    },
    quiet: () => new Promise((resolve) => setTimeout(resolve, 4 * REPROPOSE_MS)),
    resources: async () => (await a.ask('resources', ['resources'])).resources,
    dispose: async () => {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      await Promise.all([a.kill(), b.kill()]);
    },
  };
}

discoveryContract('mdns', mdnsHarness, { needsRoot: 'the virtual LAN (network namespaces)' });

describe('mdns discovery', () => {
  it('mdns discovery - two sources on two LAN hosts find each other, and one stopped by SIGTERM says goodbye and exits', async (ctx) => {
    requireRoot(ctx, 'the virtual LAN (network namespaces)');
    const { local, remote, a, b, hosts } = await mdnsPair();
    try {
      await Promise.all([a.ask('start', ['started']), b.ask('start', ['started'])]);
      const finds = (p: SourceProc, host: LanHost, node: LocalNode) => p.calls.some((c) => c.type === 'propose'
        && c.candidate.nodeId === node.nodeId && c.candidate.endpoints.includes(`tcp://${host.address}:${node.routerPort}`));
      await vi.waitFor(() => {
        expect(finds(a, hosts[1], remote), JSON.stringify(a.calls)).toBe(true);
        expect(finds(b, hosts[0], local), JSON.stringify(b.calls)).toBe(true);
      }, { timeout: FIND_TIMEOUT_MS, interval: 20 });
      // Each also heard its own record and dropped it: the contract's "never names
      // the local node" was put to the test, not passed for want of a chance.
      for (const p of [a, b]) {
        await vi.waitFor(async () => {
          const { value } = await p.ask('stats', ['stats']);
          expect((value as { ignored: { self: number } }).ignored.self).toBeGreaterThan(0);
        }, { timeout: FIND_TIMEOUT_MS, interval: 50 });
      }

      b.signal('SIGTERM');
      await b.next(['closed'], 0);
      // Exiting on its own proves close() released every socket and timer.
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([b.exited, new Promise<'hung'>((r) => { timer = setTimeout(() => r('hung'), 3_000); })]);
      clearTimeout(timer);
      expect(exit).toBe(0);
      // Stale expiry is 16 s by default here: a withdrawal this soon is the goodbye.
      await vi.waitFor(() => {
        expect(a.calls.some((c) => c.type === 'withdraw' && c.candidate.nodeId === remote.nodeId)).toBe(true);
      }, { timeout: 3_000, interval: 20 });
    } finally {
      await Promise.all([a.kill(), b.kill()]);
    }
  });
});
