/**
 * The project's virtual LAN: network namespaces joined by a bridge, for tests,
 * benchmarks and demos that use mDNS or several hosts. Nothing here touches the
 * host's own interfaces: the bridge lives in a "switch" namespace of its own, and
 * every simulated host is a namespace with one veth (eth0) plugged into it.
 *
 *          ns <lan>-sw:  br0 ── v1 ── v2 ── ... ── vN
 *                               │     │            │
 *          ns <lan>-h1: eth0 10.77.0.1   <lan>-h2: eth0 10.77.0.2   ...
 *
 * Every LAN is torn down by destroy(), on process exit, and, if a process died
 * without cleaning up, by the next createLan() (names carry the owner's pid).
 * Requires root (CI has it).
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export const LAN_SUBNET = '10.77.0';
const PREFIX = 'zm';

export interface LanHost {
  readonly index: number;
  /** Network namespace name. */
  readonly ns: string;
  /** IPv4 address of eth0. */
  readonly address: string;
  /** Interface name on the switch side (for cut/restore). */
  readonly port: string;
}

export interface Lan {
  readonly name: string;
  readonly hosts: LanHost[];
  /** Runs a command inside a host's namespace (argv[0] is the program). */
  spawn(host: LanHost, argv: string[], options?: SpawnOptions): ChildProcess;
  /** Runs a command to completion inside a host's namespace; returns stdout. */
  run(host: LanHost, argv: string[]): string;
  /** Unplugs a host from the switch (link down) and plugs it back. */
  cut(host: LanHost): void;
  restore(host: LanHost): void;
  /** Adds one more host to the running LAN. */
  addHost(): LanHost;
  /** Kills what was spawned, deletes every namespace. Idempotent. */
  destroy(): void;
}

export class NotRootError extends Error {
  constructor() {
    super('the virtual LAN needs root (network namespaces); run the tests as root, as CI does');
  }
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes namespaces left by processes that died without cleaning up. */
export function sweepStale(): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = ip('netns', 'list').split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
  } catch {
    return removed;
  }
  for (const ns of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)x\\d+-`).exec(ns);
    if (m === null || alive(Number(m[1]))) continue;
    try {
      ip('netns', 'del', ns);
      removed.push(ns);
    } catch {
      // already gone
    }
  }
  return removed;
}

let lanCounter = 0;
const live = new Set<Lan>();
let exitHookInstalled = false;

export function createLan(options: { hosts: number }): Lan {
  if (process.getuid?.() !== 0) throw new NotRootError();
  sweepStale();
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => { for (const lan of live) lan.destroy(); });
  }
  const name = `${PREFIX}${process.pid}x${++lanCounter}`;
  const sw = `${name}-sw`;
  const namespaces: string[] = [];
  const children = new Set<ChildProcess>();
  const hosts: LanHost[] = [];

  const addNs = (ns: string): void => {
    ip('netns', 'add', ns);
    namespaces.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  };

  const addHost = (): LanHost => {
    const index = hosts.length + 1;
    if (index > 250) throw new Error('a virtual LAN holds at most 250 hosts');
    const ns = `${name}-h${index}`;
    const port = `v${index}`;
    const address = `${LAN_SUBNET}.${index}`;
    addNs(ns);
    ip('-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', sw, 'link', 'set', port, 'master', 'br0');
    ip('-n', sw, 'link', 'set', port, 'up');
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    // Multicast (mDNS) leaves through eth0; there is no other route out.
    ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0');
    const host = { index, ns, address, port };
    hosts.push(host);
    return host;
  };

  let destroyed = false;
  const lan: Lan = {
    name,
    hosts,
    spawn: (host, argv, opts = {}) => {
      const child = spawn('ip', ['netns', 'exec', host.ns, ...argv], opts);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    run: (host, argv) => ip('netns', 'exec', host.ns, ...argv),
    cut: (host) => { ip('-n', sw, 'link', 'set', host.port, 'down'); },
    restore: (host) => { ip('-n', sw, 'link', 'set', host.port, 'up'); },
    addHost,
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      live.delete(lan);
      for (const c of children) c.kill('SIGKILL');
      for (const ns of namespaces.reverse()) {
        try {
          ip('netns', 'del', ns);
        } catch {
          // already gone
        }
      }
    },
  };

  live.add(lan);
  try {
    addNs(sw);
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    // Flood multicast to every port: no IGMP snooping surprises for mDNS.
    ip('-n', sw, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    for (let i = 0; i < options.hosts; i++) addHost();
  } catch (err) {
    lan.destroy();
    throw err;
  }
  return lan;
}
