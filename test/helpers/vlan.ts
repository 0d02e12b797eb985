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
 * With `subnets: n` (n > 1) there are n such switches, subnet k being 10.77.k.0/24,
 * and a router namespace with one leg on each (10.77.k.254, forwarding on) that is
 * every host's default gateway. Unicast crosses it; multicast does not (the router
 * runs no multicast routing, and mDNS is link-local anyway), so mDNS stays per subnet:
 *
 *     ns <lan>-sw:  br0 ── v1 ── v2 ── r          ns <lan>-sw1: br0 ── v3 ── r
 *                          │     │     │                               │     │
 *                10.77.0.1   10.77.0.2  └─ s0 10.77.0.254  <lan>-rt  s1 10.77.1.254 ─┘
 *                                                                    10.77.1.1
 *
 * Every LAN is torn down by destroy(), on process exit, and, if a process died
 * without cleaning up, by the next createLan() (names carry the owner's pid).
 * Requires root (CI has it).
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export const LAN_SUBNET = '10.77.0';
/** The first three octets of subnet k (subnet 0 is LAN_SUBNET). */
export const subnetOf = (k: number): string => `10.77.${k}`;
/** The router's address on every subnet (host part). */
export const ROUTER_HOST = 254;
const PREFIX = 'zm';
const MAX_SUBNETS = 16;

export interface LanHost {
  readonly index: number;
  /** Network namespace name. */
  readonly ns: string;
  /** IPv4 address of eth0. */
  readonly address: string;
  /** Interface name on the switch side (for cut/restore). */
  readonly port: string;
  /** Which subnet the host is on (0 unless the LAN has several). */
  readonly subnet: number;
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
  /** Adds one more host to the running LAN, on `subnet` (default 0). */
  addHost(subnet?: number): LanHost;
  /** The router namespace, when the LAN has several subnets. */
  readonly router: { ns: string; addresses: string[] } | undefined;
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

/** `hosts` hosts on subnet 0, or with `subnets` > 1 and `hosts` as a list, hosts[k]
 *  hosts on subnet k, joined by a router. */
export function createLan(options: { hosts: number | number[]; subnets?: number }): Lan {
  if (process.getuid?.() !== 0) throw new NotRootError();
  sweepStale();
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => { for (const lan of live) lan.destroy(); });
  }
  const subnets = options.subnets ?? 1;
  if (!Number.isInteger(subnets) || subnets < 1 || subnets > MAX_SUBNETS) throw new Error(`a virtual LAN has 1 to ${MAX_SUBNETS} subnets`);
  const perSubnet = typeof options.hosts === 'number' ? [options.hosts] : options.hosts;
  if (perSubnet.length > subnets) throw new Error('more host counts than subnets');
  const name = `${PREFIX}${process.pid}x${++lanCounter}`;
  // Subnet 0's switch keeps its historical name.
  const switchOf = (k: number): string => (k === 0 ? `${name}-sw` : `${name}-sw${k}`);
  const rt = subnets > 1 ? `${name}-rt` : undefined;
  const onSubnet = new Array<number>(subnets).fill(0);
  const namespaces: string[] = [];
  const children = new Set<ChildProcess>();
  const hosts: LanHost[] = [];

  const addNs = (ns: string): void => {
    ip('netns', 'add', ns);
    namespaces.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  };

  const addHost = (subnet = 0): LanHost => {
    const index = hosts.length + 1;
    if (!Number.isInteger(subnet) || subnet < 0 || subnet >= subnets) throw new Error(`no subnet ${subnet} on this LAN`);
    const local = ++onSubnet[subnet]!;
    if (local > 250 || index > 250 * subnets) throw new Error('a virtual LAN subnet holds at most 250 hosts');
    const sw = switchOf(subnet);
    const ns = `${name}-h${index}`;
    const port = `v${index}`;
    const address = `${subnetOf(subnet)}.${local}`;
    addNs(ns);
    ip('-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', sw, 'link', 'set', port, 'master', 'br0');
    ip('-n', sw, 'link', 'set', port, 'up');
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    // Multicast (mDNS) leaves through eth0; there is no other route out.
    ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0');
    if (rt !== undefined) ip('-n', ns, 'route', 'add', 'default', 'via', `${subnetOf(subnet)}.${ROUTER_HOST}`);
    const host = { index, ns, address, port, subnet };
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
    cut: (host) => { ip('-n', switchOf(host.subnet), 'link', 'set', host.port, 'down'); },
    restore: (host) => { ip('-n', switchOf(host.subnet), 'link', 'set', host.port, 'up'); },
    addHost,
    router: rt === undefined ? undefined : { ns: rt, addresses: Array.from({ length: subnets }, (_, k) => `${subnetOf(k)}.${ROUTER_HOST}`) },
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
    for (let k = 0; k < subnets; k++) {
      const sw = switchOf(k);
      addNs(sw);
      ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
      // Flood multicast to every port: no IGMP snooping surprises for mDNS.
      ip('-n', sw, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
      ip('-n', sw, 'link', 'set', 'br0', 'up');
    }
    if (rt !== undefined) {
      addNs(rt);
      for (let k = 0; k < subnets; k++) {
        const sw = switchOf(k);
        ip('-n', sw, 'link', 'add', 'r', 'type', 'veth', 'peer', 'name', `s${k}`, 'netns', rt);
        ip('-n', sw, 'link', 'set', 'r', 'master', 'br0');
        ip('-n', sw, 'link', 'set', 'r', 'up');
        ip('-n', rt, 'addr', 'add', `${subnetOf(k)}.${ROUTER_HOST}/24`, 'dev', `s${k}`);
        ip('-n', rt, 'link', 'set', `s${k}`, 'up');
      }
      // Per-namespace sysctl: forwarding in the router only, never on the host.
      ip('netns', 'exec', rt, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    }
    perSubnet.forEach((count, k) => { for (let i = 0; i < count; i++) addHost(k); });
  } catch (err) {
    lan.destroy();
    throw err;
  }
  return lan;
}
