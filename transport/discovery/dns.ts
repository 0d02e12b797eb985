/**
 * DNS-SD over unicast DNS (RFC 6763 section 10): discovery beyond one LAN, on the
 * DNS a site already runs.
 *
 * Every queryIntervalMs it browses `_zmesh._tcp.<domain>`:
 *   PTR  _zmesh._tcp.<domain>       -> instance names (DNS-SD, published by an admin)
 *   SRV  <instance>                 -> target host and ROUTER port
 *   TXT  <instance>                 -> v, id, svc, pub, mesh, key: what mDNS TXT carries
 *   A    <target>                   -> addresses
 * and, in the same round, SRV `_zmesh._tcp.<domain>` itself: a Kubernetes headless
 * service with a port named "zmesh" answers that name with one SRV record per ready
 * pod (no PTR, no TXT). Records only propose candidates, as mDNS's do; the hello
 * handshake decides, and liveness is ours, not DNS TTLs.
 *
 * Sharp edges handled here:
 * - "no such name" and "no data" are answers (nothing published), not failures; any
 *   other error fails the round, and what was known stays until staleAfterMs passes
 *   without a successful sighting, so one lost UDP packet withdraws nothing.
 * - an instance without TXT (Kubernetes) has no node id, no mesh and no key: it is
 *   proposed by endpoint alone, which a secure node ignores (it needs the key). Such
 *   an SRV list names this node too: an endpoint on one of our addresses with our
 *   ROUTER port is skipped.
 * - a hostile or broken zone can list anything: at most MAX_DNS_INSTANCES instances
 *   per round and MAX_DNS_ADDRESSES addresses per target are looked at (bounds.ts).
 * - rounds never overlap: the next is scheduled when one ends; close() cancels the
 *   queries in flight.
 *
 * May import only foundation modules.
 */
import { Resolver } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { MAX_DNS_ADDRESSES, MAX_DNS_INSTANCES } from '../bounds.js';
import { AbortedError, ClosedError } from '../errors.js';
import { RateLimitedLog, silentLogger } from '../log.js';
import { MESH_RE, NODE_ID_RE, SERVICE_RE } from '../names.js';
import { resolveDnsOptions, type DnsSettings } from '../options.js';
import type { Candidate, Discovery, DiscoverySink, LocalNode } from '../types.js';

/** The DNS-SD service type zmesh publishes and browses (mDNS uses the same). */
export const DNS_SERVICE_TYPE = '_zmesh._tcp';
/** Instance lookups run this many at a time. */
const LOOKUP_CONCURRENCY = 16;
/** Resolver codes that mean "nothing published there". */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

export interface DnsOptions {
  /** The domain to browse, e.g. "mesh.example.org" (PTR/SRV/TXT under
   *  `_zmesh._tcp.mesh.example.org`) or "zmesh.prod.svc.cluster.local" for a
   *  Kubernetes headless service "zmesh" in namespace "prod". */
  domain: string;
  /** Resolvers as "IP" or "IP:PORT" ("[IPv6]:PORT"). Default: the system's
   *  (/etc/resolv.conf), which is what a Kubernetes pod wants. */
  servers?: string[];
  /** Period between browses in ms. Default 5_000 (options.ts DNS_DEFAULTS). */
  queryIntervalMs?: number;
  /** A record not seen in a successful browse for this long is withdrawn. Default 30_000. */
  staleAfterMs?: number;
  /** Per query, in ms (each query is tried twice). Default 2_000. */
  timeoutMs?: number;
  logger?: Logger;
}

export interface DnsStats {
  browses: number;
  /** Rounds in which a query failed for another reason than "nothing published". */
  failures: number;
  accepted: number;
  ignored: { badTxt: number; versionMismatch: number; foreignMesh: number; self: number; noAddress: number; overLimit: number };
  withdrawn: number;
}

export interface DnsDiscovery extends Discovery {
  stats(): DnsStats;
}

/** Creates a DNS-SD discovery source. Throws INVALID_ARGUMENT for a bad option. */
export function dnsDiscovery(options: DnsOptions): DnsDiscovery {
  const { logger, ...settings } = options;
  return dnsFromSettings(resolveDnsOptions(settings), logger);
}

/** For createNode, whose options are already resolved. */
export function dnsFromSettings(settings: DnsSettings, logger: Logger | undefined): DnsDiscovery {
  return new Dns(settings, logger);
}

interface Instance {
  /** Without TXT (Kubernetes SRV) these are undefined. */
  nodeId?: string;
  publicKey?: string;
  target: string;
  port: number;
}

interface Known {
  candidate: Candidate;
  lastSeenMs: number;
}

class Dns implements DnsDiscovery {
  private readonly resolver: Resolver;
  private readonly known = new Map<string, Known>();
  private readonly counters: DnsStats = {
    browses: 0, failures: 0, accepted: 0, withdrawn: 0,
    ignored: { badTxt: 0, versionMismatch: 0, foreignMesh: 0, self: 0, noAddress: 0, overLimit: 0 },
  };
  private readonly log: Logger;
  private readonly warn: RateLimitedLog;
  private readonly serviceName: string;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private signal: AbortSignal | undefined;
  private onAbort: (() => void) | undefined;

  constructor(private readonly o: DnsSettings, logger: Logger | undefined) {
    this.log = (logger ?? silentLogger()).child({ component: 'dns' });
    this.warn = new RateLimitedLog(this.log);
    this.resolver = new Resolver({ timeout: o.timeoutMs, tries: 2 });
    if (o.servers !== undefined) this.resolver.setServers(o.servers);
    this.serviceName = `${DNS_SERVICE_TYPE}.${o.domain}`;
  }

  async start(local: LocalNode | undefined, sink: DiscoverySink, signal: AbortSignal): Promise<void> {
    if (this.closed) throw new ClosedError('DNS discovery is closed');
    if (signal.aborted) throw new AbortedError('DNS discovery start aborted', { cause: signal.reason });
    if (this.started) return;
    this.started = true;
    // Removed in close(): a long-lived signal must not collect listeners.
    this.onAbort = () => void this.close();
    this.signal = signal;
    signal.addEventListener('abort', this.onAbort);
    const round = (): void => {
      // A sink that throws must not become an unhandled rejection: count, log, go on.
      void this.browse(local, sink).catch((err: unknown) => {
        this.counters.failures++;
        this.warn.warn('round', { err }, 'DNS-SD round failed');
      }).finally(() => {
        if (!this.closed) this.timer = setTimeout(round, this.o.queryIntervalMs);
      });
    };
    round();
  }

  stats(): DnsStats {
    return { ...this.counters, ignored: { ...this.counters.ignored } };
  }

  async close(): Promise<void> {
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
    this.onAbort = undefined;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.resolver.cancel();
  }

  /** One round: browse, propose what answers, withdraw what went stale. Queries never
   *  reject (query() turns errors into "nothing"); only the sink could throw. */
  private async browse(local: LocalNode | undefined, sink: DiscoverySink): Promise<void> {
    this.counters.browses++;
    let failed = false;
    const query = async <T>(what: string, f: () => Promise<T[]>): Promise<T[]> => {
      try {
        return await f();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (!NO_RECORDS.has(code) && !this.closed) {
          failed = true;
          this.warn.warn(`query:${code}`, { query: what, code, servers: this.resolver.getServers() }, 'DNS query failed');
        }
        return [];
      }
    };
    const [names, direct] = await Promise.all([
      query(`PTR ${this.serviceName}`, () => this.resolver.resolvePtr(this.serviceName)),
      query(`SRV ${this.serviceName}`, () => this.resolver.resolveSrv(this.serviceName)),
    ]);
    const found: Array<[string, Instance]> = direct.map((s) => [`srv:${s.name.toLowerCase()}:${s.port}`, { target: s.name, port: s.port }]);
    const instances = [...new Set(names.map((n) => n.toLowerCase()))];
    if (instances.length + found.length > MAX_DNS_INSTANCES) {
      this.counters.ignored.overLimit += instances.length + found.length - MAX_DNS_INSTANCES;
      this.warn.warn('overLimit', { listed: instances.length + found.length, limit: MAX_DNS_INSTANCES }, 'DNS lists more zmesh instances than a round looks at');
    }
    found.splice(MAX_DNS_INSTANCES);
    const wanted = instances.slice(0, MAX_DNS_INSTANCES - found.length);
    for (let i = 0; i < wanted.length; i += LOOKUP_CONCURRENCY) {
      const batch = await Promise.all(wanted.slice(i, i + LOOKUP_CONCURRENCY).map(async (name) => {
        const [srv, txt] = await Promise.all([
          query(`SRV ${name}`, () => this.resolver.resolveSrv(name)),
          query(`TXT ${name}`, () => this.resolver.resolveTxt(name)),
        ]);
        return [name, srv[0], txt] as const;
      }));
      for (const [name, srv, txt] of batch) {
        if (srv === undefined) continue; // published without SRV: nothing to dial
        const instance = this.fromTxt(name, txt, local);
        if (instance !== undefined) found.push([name, { ...instance, target: srv.name, port: srv.port }]);
      }
    }
    const addressed: Array<[string, Instance, string[]]> = [];
    for (let i = 0; i < found.length; i += LOOKUP_CONCURRENCY) {
      addressed.push(...await Promise.all(found.slice(i, i + LOOKUP_CONCURRENCY).map(async ([key, instance]): Promise<[string, Instance, string[]]> => {
        const addresses = isIPv4(instance.target) ? [instance.target]
          : validSrv(instance) ? await query(`A ${instance.target}`, () => this.resolver.resolve4(instance.target)) : [];
        return [key, instance, addresses.slice(0, MAX_DNS_ADDRESSES)];
      })));
    }
    if (this.closed) return;
    const now = Date.now();
    for (const [key, instance, addresses] of addressed) this.offer(key, instance, addresses, local, sink, now);
    if (failed) this.counters.failures++;
    for (const [key, k] of [...this.known]) {
      if (now - k.lastSeenMs <= this.o.staleAfterMs) continue;
      this.known.delete(key);
      this.counters.withdrawn++;
      sink.withdraw(k.candidate);
    }
  }

  /** What an instance's TXT says; undefined (counted) when it rules the instance out.
   *  No TXT at all is allowed: the instance is then known by its endpoint only. */
  private fromTxt(name: string, txt: string[][], local: LocalNode | undefined): Omit<Instance, 'target' | 'port'> | undefined {
    if (txt.length === 0) return {};
    const pairs = new Map<string, string>();
    for (const chunk of txt.flat()) {
      const eq = chunk.indexOf('=');
      const k = (eq < 0 ? chunk : chunk.slice(0, eq)).toLowerCase();
      // RFC 6763 6.4: the first occurrence of a key wins.
      if (!pairs.has(k)) pairs.set(k, eq < 0 ? '' : chunk.slice(eq + 1));
    }
    const str = (k: string): string => pairs.get(k) ?? '';
    const ignore = (reason: keyof DnsStats['ignored']): undefined => {
      this.counters.ignored[reason]++;
      if (reason !== 'self' && reason !== 'foreignMesh') this.warn.warn(reason, { instance: name, reason }, 'ignored DNS-SD instance');
      return undefined;
    };
    if (str('v') !== '1') return ignore(str('v') === '' ? 'badTxt' : 'versionMismatch');
    const nodeId = str('id');
    const pub = Number(str('pub'));
    if (!NODE_ID_RE.test(nodeId) || !SERVICE_RE.test(str('svc')) || !MESH_RE.test(str('mesh')) || !Number.isInteger(pub) || pub < 1 || pub > 65535) {
      return ignore('badTxt');
    }
    if (local !== undefined && nodeId === local.nodeId) return ignore('self');
    if (local !== undefined && str('mesh') !== local.mesh) return ignore('foreignMesh');
    const key = str('key');
    return { nodeId, ...(/^[0-9a-f]{64}$/.test(key) ? { publicKey: key } : {}) };
  }

  private offer(key: string, instance: Instance, addresses: string[], local: LocalNode | undefined, sink: DiscoverySink, now: number): void {
    if (!validSrv(instance)) {
      this.counters.ignored.badTxt++;
      return;
    }
    const own = local === undefined || instance.nodeId !== undefined ? [] : ownAddresses();
    const usable = addresses.filter((a) => !(local !== undefined && instance.port === local.routerPort && own.includes(a)));
    if (usable.length === 0) {
      this.counters.ignored[addresses.length === 0 ? 'noAddress' : 'self']++;
      return;
    }
    const candidate: Candidate = {
      endpoints: usable.map((a) => `tcp://${a}:${instance.port}`), source: 'dns',
      ...(instance.nodeId === undefined ? {} : { nodeId: instance.nodeId }),
      // Only a proposal: the handshake checks that the node holds this key.
      ...(instance.publicKey === undefined ? {} : { publicKey: instance.publicKey }),
    };
    const previous = this.known.get(key);
    if (previous !== undefined && previous.candidate.endpoints.join() !== candidate.endpoints.join()) sink.withdraw(previous.candidate);
    this.known.set(key, { candidate, lastSeenMs: now });
    this.counters.accepted++;
    sink.propose(candidate);
  }
}

/** An SRV record that names something to dial (target "." means "no service here"). */
function validSrv(i: Instance): boolean {
  return Number.isInteger(i.port) && i.port >= 1 && i.port <= 65535 && i.target !== '' && i.target !== '.';
}

/** This host's IPv4 addresses (loopback included): an SRV list of every pod names us too. */
function ownAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((i) => i.family === 'IPv4').map((i) => i.address));
}
