/**
 * Spawns and drives test/fixtures/node-proc in a child process. Every child is
 * registered so that `killAll()` (call it in afterEach) reaps it even when a test fails.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { FixtureConfig } from '../fixtures/node-proc.js';
import { dist } from './paths.js';
import type { Lan, LanHost } from './vlan.js';
import type { NodeEndpoints } from '../../transport/index.js';

export const FIXTURE = dist('test/fixtures/node-proc.js');

export type { FixtureConfig };

type FromChild =
  | { type: 'ready'; nodeId: string; endpoints: NodeEndpoints }
  | { type: 'result'; id: number; ok: boolean; value: unknown }
  | { type: 'event'; topic: string; payload: string; from: string }
  | { type: 'peer:up' | 'peer:down'; nodeId: string; service?: string; reason?: string }
  | { type: 'error'; message: string };

const children = new Set<ChildProcess>();

export class NodeProc {
  readonly events: Array<{ topic: string; payload: string; from: string }> = [];
  readonly peersUp = new Set<string>();
  /** When (Date.now()) this node reported each peer down, latest first wins. */
  readonly downAt = new Map<string, number>();
  /** Why this node last reported each peer down (the peer:down event's reason). */
  readonly downReason = new Map<string, string>();
  nodeId = '';
  endpoints!: NodeEndpoints;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); }));
    child.on('message', (m: FromChild) => {
      if (m.type === 'result') {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.ok) w?.resolve(m.value);
        else {
          const v = m.value as { code?: string; message?: string };
          w?.reject(Object.assign(new Error(v.message ?? 'failed'), { code: v.code }));
        }
      } else if (m.type === 'event') this.events.push({ topic: m.topic, payload: m.payload, from: m.from });
      else if (m.type === 'peer:up') this.peersUp.add(m.nodeId);
      else if (m.type === 'peer:down') {
        this.peersUp.delete(m.nodeId);
        this.downAt.set(m.nodeId, Date.now());
        this.downReason.set(m.nodeId, m.reason ?? '');
      }
    });
  }

  /** Starts a fixture node on 127.0.0.1, or on a host of a virtual LAN. */
  static async start(config: FixtureConfig, on?: { lan: Lan; host: LanHost }): Promise<NodeProc> {
    const stdio: ['ignore', 'inherit', 'inherit', 'ipc'] = ['ignore', 'inherit', 'inherit', 'ipc'];
    const child = on === undefined
      ? fork(FIXTURE, [JSON.stringify(config)], { stdio, execArgv: ['--expose-gc'] })
      : on.lan.spawn(on.host, [process.execPath, FIXTURE, JSON.stringify(config)], { stdio });
    children.add(child);
    const proc = new NodeProc(child);
    const ready = await new Promise<FromChild>((resolve, reject) => {
      const onMessage = (m: FromChild): void => {
        if (m.type !== 'ready' && m.type !== 'error') return;
        child.off('message', onMessage);
        resolve(m);
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`fixture exited with ${code} before ready`)));
    });
    if (ready.type !== 'ready') throw new Error(`fixture failed: ${JSON.stringify(ready)}`);
    proc.nodeId = ready.nodeId;
    proc.endpoints = ready.endpoints;
    return proc;
  }

  private call<T>(msg: Record<string, unknown>): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...msg, id });
    });
  }

  request(service: string, method: string, payload: string, timeoutMs?: number): Promise<string> {
    return this.call({ type: 'request', service, method, payload, timeoutMs });
  }
  publish(topic: string, payload: string): Promise<void> { return this.call({ type: 'publish', topic, payload }); }
  subscribe(prefix: string): Promise<void> { return this.call({ type: 'subscribe', prefix }); }
  stats(): Promise<import('../../transport/index.js').NodeStats> { return this.call({ type: 'stats' }); }
  counts(): Promise<Record<string, number>> { return this.call({ type: 'counts' }); }
  /** A reliable command (the node needs a storePath); resolves once on disk. */
  send(service: string, method: string, payload: string): Promise<void> { return this.call({ type: 'send', service, method, payload }); }
  /** Reliable `record` commands applied, by sender node. */
  records(): Promise<Record<string, string[]>> { return this.call({ type: 'records' }); }
  peers(): Promise<import('../../transport/index.js').PeerInfo[]> { return this.call({ type: 'peers' }); }
  /** The child's RSS (after a GC when it runs with --expose-gc) and open descriptors. */
  resources(): Promise<{ rssBytes: number; fds: number }> { return this.call({ type: 'resources' }); }
  close(): Promise<void> { return this.call({ type: 'close' }); }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }
}

export async function killAll(): Promise<void> {
  const all = [...children];
  for (const c of all) c.kill('SIGKILL');
  await Promise.all(all.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
}
