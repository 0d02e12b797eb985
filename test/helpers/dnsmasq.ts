/**
 * A real DNS server for DNS-SD tests: dnsmasq (Debian's dnsmasq-base), serving only
 * the records a test gives it, authoritative for its domain, forwarding nothing (no
 * upstream: any other name is REFUSED), no DHCP, no system configuration read.
 *
 * It runs on 127.0.0.1 or inside a namespace of the virtual LAN (through
 * Lan.spawn, so that Lan.destroy() kills it too), and is killed by stop() or by
 * killAllDnsmasq() (call it in afterEach/afterAll), by its PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Lan, LanHost } from './vlan.js';

export interface DnsRecords {
  /** PTR name -> instance names (DNS-SD browse). */
  ptr?: Array<{ name: string; targets: string[] }>;
  srv?: Array<{ name: string; target: string; port: number }>;
  /** Each string is one key=value (RFC 6763 section 6). */
  txt?: Array<{ name: string; strings: string[] }>;
  /** A records. */
  hosts?: Array<{ name: string; address: string }>;
}

export interface Dnsmasq {
  /** "IP:PORT", as the dns discovery option takes it. */
  readonly server: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const running = new Set<ChildProcess>();

export class DnsmasqMissingError extends Error {
  constructor() {
    super('dnsmasq is not installed: apt-get install --no-install-recommends dnsmasq-base (as root)');
  }
}

/** True when the dnsmasq binary is there. */
export function haveDnsmasq(): boolean {
  try {
    execFileSync('dnsmasq', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts dnsmasq listening on `address`:`port` and resolves once it says it started
 *  (its sockets are bound before that line). */
export async function startDnsmasq(o: {
  domain: string;
  records: DnsRecords;
  address: string;
  port: number;
  on?: { lan: Lan; host: LanHost };
}): Promise<Dnsmasq> {
  if (!haveDnsmasq()) throw new DnsmasqMissingError();
  const r = o.records;
  const argv = [
    'dnsmasq', '--keep-in-foreground', '--log-facility=-', '--conf-file=/dev/null', '--pid-file=',
    '--no-resolv', '--no-hosts', '--no-poll', '--bind-interfaces', `--listen-address=${o.address}`, `--port=${o.port}`,
    // Root in a namespace: nobody to switch to in a sandbox, and nothing to protect.
    '--user=root', '--group=root', `--local=/${o.domain}/`, '--log-queries',
    ...(r.ptr ?? []).flatMap((p) => p.targets.map((t) => `--ptr-record=${p.name},${t}`)),
    ...(r.srv ?? []).map((s) => `--srv-host=${s.name},${s.target},${s.port}`),
    ...(r.txt ?? []).map((t) => `--txt-record=${t.name},${t.strings.join(',')}`),
    ...(r.hosts ?? []).map((h) => `--host-record=${h.name},${h.address}`),
  ];
  const stdio: ['ignore', 'ignore', 'pipe'] = ['ignore', 'ignore', 'pipe'];
  const child = o.on === undefined ? spawn(argv[0]!, argv.slice(1), { stdio }) : o.on.lan.spawn(o.on.host, argv, { stdio });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => { running.delete(child); resolve(); }));
  const log: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dnsmasq did not start within ${READY_TIMEOUT_MS} ms: ${log.join('\n')}`)), READY_TIMEOUT_MS);
      createInterface({ input: child.stderr! }).on('line', (line) => {
        if (log.length < 200) log.push(line);
        if (/^dnsmasq(\[\d+\])?: started/.test(line)) { clearTimeout(timer); resolve(); }
      });
      void exited.then(() => { clearTimeout(timer); reject(new Error(`dnsmasq exited before it started: ${log.join('\n')}`)); });
    });
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  return {
    server: `${o.address}:${o.port}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export async function killAllDnsmasq(): Promise<void> {
  const all = [...running];
  for (const c of all) c.kill('SIGKILL');
  await Promise.all(all.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
}

/** A node as DNS-SD publishes it (RFC 6763): what its TXT says mirrors mDNS's. */
export interface PublishedNode {
  nodeId: string;
  service: string;
  address: string;
  routerPort: number;
  pubPort: number;
  mesh?: string;
  /** A secure node's public key, 64 hex characters. */
  publicKey?: string;
}

/** PTR `_zmesh._tcp.<domain>` -> `<node id>._zmesh._tcp.<domain>`, its SRV (target
 *  `<node id>.<domain>`, the ROUTER port), TXT and A records. */
export function dnsSdRecords(domain: string, nodes: PublishedNode[]): DnsRecords {
  const type = `_zmesh._tcp.${domain}`;
  return {
    ptr: [{ name: type, targets: nodes.map((n) => `${n.nodeId}.${type}`) }],
    srv: nodes.map((n) => ({ name: `${n.nodeId}.${type}`, target: `${n.nodeId}.${domain}`, port: n.routerPort })),
    txt: nodes.map((n) => ({
      name: `${n.nodeId}.${type}`,
      strings: ['v=1', `id=${n.nodeId}`, `svc=${n.service}`, `pub=${n.pubPort}`, `mesh=${n.mesh ?? 'default'}`, ...(n.publicKey === undefined ? [] : [`key=${n.publicKey}`])],
    })),
    hosts: nodes.map((n) => ({ name: `${n.nodeId}.${domain}`, address: n.address })),
  };
}
