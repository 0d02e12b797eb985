/**
 * Discovery on the virtual LAN (needs root): three namespaces ("hosts"), one process
 * per host holding several nodes, all with mDNS discovery.
 *
 * - convergence: from the moment every host process is told to start its nodes
 *   until every node has every other node up (hello + event sync done), N = 3, 10, 30;
 * - join: a new node in a fourth host joins a converged 10-node mesh; time from its
 *   start to the reply of its first request;
 * - dead: one node's process is killed with SIGKILL; time until every other node has
 *   marked it down.
 */
import type { ChildProcess } from 'node:child_process';
import { dist } from '../test/helpers/paths.js';
import { createLan, type Lan, type LanHost } from '../test/helpers/vlan.js';

export interface DiscoveryRow {
  scenario: 'discovery-converge' | 'discovery-join' | 'discovery-dead';
  nodes: number;
  ms: number;
  layout: string;
}

interface HostProc {
  child: ChildProcess;
  next<T>(key: string, timeoutMs: number): Promise<T>;
}

function spawnHost(lan: Lan, host: LanHost): Promise<HostProc> {
  const child = lan.spawn(host, [process.execPath, dist('bench/servers/mesh-host.js')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T>(key: string, timeoutMs: number): Promise<T> => new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { child.off('message', on); reject(new Error(`no "${key}" from ${host.ns} within ${timeoutMs} ms`)); }, timeoutMs);
    const on = (m: Record<string, unknown>): void => {
      if ('error' in m) { clearTimeout(timer); child.off('message', on); reject(new Error(String(m['error']))); }
      if (!(key in m)) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m[key] as T);
    };
    child.on('message', on);
  });
  return next<unknown>('loaded', 10_000).then(() => ({ child, next }));
}

/** Splits n nodes over the hosts as evenly as possible. */
function split(n: number, hosts: number): number[] {
  return Array.from({ length: hosts }, (_, i) => Math.floor(n / hosts) + (i < n % hosts ? 1 : 0));
}

async function converge(lan: Lan, n: number): Promise<{ ms: number; procs: HostProc[]; names: string[] }> {
  const counts = split(n, 3);
  const procs = await Promise.all(lan.hosts.slice(0, 3).map((h) => spawnHost(lan, h)));
  const names = Array.from({ length: n }, (_, i) => `n${i}`);
  let offset = 0;
  const t0 = Date.now();
  const done = procs.map((p, i) => {
    const mine = names.slice(offset, offset + counts[i]!);
    offset += counts[i]!;
    p.child.send({ start: { names: mine, expect: n - 1, address: lan.hosts[i]!.address } });
    return p.next<{ at: number }>('converged', 30_000);
  });
  const ends = await Promise.all(done);
  return { ms: Math.max(...ends.map((e) => e.at)) - t0, procs, names };
}

async function stopAll(procs: HostProc[]): Promise<void> {
  await Promise.all(procs.map((p) => new Promise<void>((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
    const t = setTimeout(() => p.child.kill('SIGKILL'), 3_000);
    p.child.once('exit', () => { clearTimeout(t); resolve(); });
    p.child.kill('SIGTERM');
  })));
}

export async function runDiscovery(sizes: number[], progress: (l: string) => void): Promise<DiscoveryRow[] | { skipped: string }> {
  if (process.getuid?.() !== 0) return { skipped: 'needs root for network namespaces' };
  const rows: DiscoveryRow[] = [];
  for (const n of sizes) {
    progress(`discovery: ${n} nodes converging on the virtual LAN`);
    const lan = createLan({ hosts: 3 });
    try {
      const { ms, procs } = await converge(lan, n);
      rows.push({ scenario: 'discovery-converge', nodes: n, ms, layout: `${split(n, 3).join('+')} nodes in 3 processes, one per namespace` });
      await stopAll(procs);
    } finally {
      lan.destroy();
    }
  }

  progress('discovery: a node joins a 10-node mesh; then a node is killed');
  const lan = createLan({ hosts: 5 });
  try {
    const { procs } = await converge(lan, 10);
    const joiner = await spawnHost(lan, lan.hosts[3]!);
    const t0 = Date.now();
    joiner.child.send({ join: { name: 'joiner', target: 'n0', address: lan.hosts[3]!.address } });
    const joined = await joiner.next<{ at: number }>('joined', 10_000);
    rows.push({ scenario: 'discovery-join', nodes: 11, ms: joined.at - t0, layout: 'new process in a 4th namespace, start -> first reply' });

    // The victim runs alone in a 5th namespace so SIGKILL takes exactly one node.
    const victim = await spawnHost(lan, lan.hosts[4]!);
    victim.child.send({ start: { names: ['victim'], expect: 11, address: lan.hosts[4]!.address } });
    await victim.next('converged', 15_000);
    const watching = procs.map((p) => { const w = p.next('watching', 10_000); p.child.send({ watch: { nodeId: 'victim' } }); return w; });
    await Promise.all(watching);
    const downs = procs.map((p) => p.next<{ at: number }>('down', 10_000));
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    const marked = await Promise.all(downs);
    rows.push({ scenario: 'discovery-dead', nodes: 12, ms: Math.max(...marked.map((m) => m.at)) - killedAt, layout: 'SIGKILL -> every other node reports peer:down' });
    await stopAll([...procs, joiner]);
  } finally {
    lan.destroy();
  }
  return rows;
}
