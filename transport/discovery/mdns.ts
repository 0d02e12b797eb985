/**
 * mDNS/DNS-SD discovery with bonjour-service.
 *
 * Advertises the node as `<node id>._zmesh._tcp.local` (SRV port = ROUTER port) with TXT
 * v (protocol version), id, svc, pub (PUB port), mesh and, for a secure node, key (its
 * CURVE public key, 64 hex characters), and browses
 * for the same type. Records only propose candidates to the peer table; a peer is up
 * when the hello handshake over ZeroMQ succeeds, and liveness is ours, not mDNS TTLs.
 *
 * Sharp edges handled here:
 * - multicast-dns binds its socket to `interface` when given, and a UDP socket bound to
 *   a unicast address receives no multicast on Linux: we bind 0.0.0.0 and pick the
 *   interface for membership and sending only.
 * - an A-record-less answer: fall back to the packet's source address.
 * - a peer that restarts with new ports: SRV/TXT updates re-propose the new endpoint
 *   (the peer table retires the old one).
 * - stale records with no goodbye: bonjour-service keeps them for the PTR TTL (8 h)
 *   and never refreshes lastSeen, so we re-query periodically, track answers
 *   ourselves and withdraw what stops answering.
 * - port 5353 held by another responder: shared with SO_REUSEADDR; a bind failure
 *   rejects start() with a clear error.
 * - errors that bonjour-service would throw from the event loop: its handlers run
 *   inside our guard and errors are counted and logged.
 */
import { Bonjour, type Browser, type Service } from 'bonjour-service';
import type { Logger } from 'pino';
import { AbortedError, BindFailedError, InvalidArgumentError, errorMessage } from '../errors.js';
import { RateLimitedLog, silentLogger } from '../log.js';
import { MESH_RE, NODE_ID_RE, SERVICE_RE } from '../names.js';
import { resolveMdnsOptions, type MdnsSettings } from '../options.js';
import type { Candidate, Discovery, DiscoverySink, LocalNode } from '../types.js';
import { inNamedNetns } from './netns.js';

export const MDNS_SERVICE_TYPE = 'zmesh';
/** Set by tests and benchmarks: mDNS may then run only inside a namespace made with
 *  `ip netns add` (the virtual LAN), never on the host's real interfaces. */
export const FORBID_ROOT_NETNS_ENV = 'ZMESH_MDNS_FORBID_ROOT_NETNS';

export interface MdnsOptions {
  /** IPv4 address of the interface to send and join multicast on. Default: the OS's. */
  interface?: string;
  /** Re-query period in ms. Default 5_000 (options.ts MDNS_DEFAULTS). */
  queryIntervalMs?: number;
  /** A record not heard of for this long is withdrawn. Default 16_000. */
  staleAfterMs?: number;
  /** How often known records are offered to the peer table again. Default 1_000. */
  reproposeMs?: number;
  logger?: Logger;
}

export interface MdnsStats {
  accepted: number;
  ignored: { badTxt: number; versionMismatch: number; foreignMesh: number; self: number; noAddress: number };
  withdrawn: number;
  errors: number;
}

/** A peer as mDNS describes it, for `zmesh peers`. */
export interface MdnsRecord {
  nodeId: string;
  service: string;
  mesh: string;
  addresses: string[];
  routerPort: number;
  pubPort: number;
  protocolVersion: string;
  firstSeenMs: number;
  lastSeenMs: number;
}

interface MdnsSocket {
  on(event: 'response', fn: (packet: { answers: Array<{ type: string; name: string }>; additionals: Array<{ type: string; name: string }> }) => void): void;
  on(event: 'error' | 'warning', fn: (err: Error) => void): void;
  on(event: 'ready', fn: () => void): void;
  removeListener(event: string, fn: (...a: never[]) => void): void;
  listeners(event: string): Array<(...a: unknown[]) => void>;
}

/** Reaches the multicast-dns socket inside bonjour-service (not in its typings). */
function socketOf(bonjour: Bonjour): MdnsSocket {
  return (bonjour as unknown as { server: { mdns: MdnsSocket } }).server.mdns;
}

export interface MdnsDiscovery extends Discovery {
  stats(): MdnsStats;
  records(): MdnsRecord[];
}

/** Creates an mDNS discovery source. `local` may be omitted for browse-only use.
 *  Throws INVALID_ARGUMENT for a bad option. */
export function mdnsDiscovery(options: MdnsOptions = {}): MdnsDiscovery {
  const { logger, interface: iface, ...timers } = options;
  return mdnsFromSettings(resolveMdnsOptions(timers, iface), logger);
}

/** For createNode, whose options are already resolved. */
export function mdnsFromSettings(settings: MdnsSettings, logger: Logger | undefined): MdnsDiscovery {
  return new Mdns(settings, logger);
}

class Mdns implements MdnsDiscovery {
  private bonjour: Bonjour | undefined;
  private browser: Browser | undefined;
  private published: Service | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly known = new Map<string, { record: MdnsRecord; candidate: Candidate }>();
  private readonly counters: MdnsStats = {
    accepted: 0, ignored: { badTxt: 0, versionMismatch: 0, foreignMesh: 0, self: 0, noAddress: 0 }, withdrawn: 0, errors: 0,
  };
  private readonly log: Logger;
  private readonly warn: RateLimitedLog;
  private lastQueryMs = 0;
  private signal: AbortSignal | undefined;
  private onAbort: (() => void) | undefined;

  constructor(private readonly o: MdnsSettings, logger: Logger | undefined) {
    this.log = (logger ?? silentLogger()).child({ component: 'mdns' });
    this.warn = new RateLimitedLog(this.log);
  }

  async start(local: LocalNode | undefined, sink: DiscoverySink, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new AbortedError('mDNS discovery start aborted', { cause: signal.reason });
    if (process.env[FORBID_ROOT_NETNS_ENV] === '1' && !inNamedNetns()) {
      throw new InvalidArgumentError(`mDNS refused outside a named network namespace (${FORBID_ROOT_NETNS_ENV}=1): run it inside the virtual LAN`);
    }
    const bonjour = new Bonjour(
      // multicast-dns options; see the header comment for why bind is explicit.
      { interface: this.o.interface, bind: '0.0.0.0', reuseAddr: true } as never,
      (err: Error) => this.onError(err),
    );
    this.bonjour = bonjour;
    const sock = socketOf(bonjour);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new BindFailedError(`mDNS socket: ${errorMessage(err)} (is UDP 5353 held by a responder that refuses sharing?)`, { cause: err }));
      sock.on('error', onError);
      sock.on('ready', () => { sock.removeListener('error', onError as never); resolve(); });
    }).catch((err: unknown) => {
      this.destroy();
      throw err;
    });
    // Aborted while the socket came up: nothing may be left running.
    if (signal.aborted) {
      this.destroy();
      throw new AbortedError('mDNS discovery start aborted', { cause: signal.reason });
    }
    sock.on('error', (err) => this.onError(err));
    sock.on('warning', (err) => this.onError(err));
    this.guardHandlers(sock);

    if (local !== undefined) {
      this.published = bonjour.publish({
        name: local.nodeId,
        type: MDNS_SERVICE_TYPE,
        protocol: 'tcp',
        port: local.routerPort,
        host: `${local.nodeId}.local`,
        txt: {
          v: String(local.protocolVersion), id: local.nodeId, svc: local.service, pub: String(local.pubPort), mesh: local.mesh,
          // A secure node's key: a dialler needs it to set curveServerKey before connecting.
          ...(local.publicKey === undefined ? {} : { key: local.publicKey }),
        },
        // Instance names carry the unique node id: probing would only add ~750 ms.
        probe: false,
        disableIPv6: true,
      });
      this.published.on('error', (err: Error) => this.onError(err));
    }

    const browser = bonjour.find({ type: MDNS_SERVICE_TYPE, protocol: 'tcp' });
    this.browser = browser;
    this.guardHandlers(sock);
    const offer = (s: Service): void => this.onRecord(s, local, sink);
    browser.on('up', offer);
    browser.on('srv-update', offer);
    browser.on('txt-update', offer);
    browser.on('down', (s: Service) => this.forget(s.fqdn, sink));
    // Every answer that names a known instance refreshes it (bonjour-service does not).
    sock.on('response', (packet) => {
      const now = Date.now();
      for (const rr of [...packet.answers, ...packet.additionals]) {
        if (rr.type !== 'SRV') continue;
        const k = this.known.get(rr.name.toLowerCase());
        if (k !== undefined) k.record.lastSeenMs = now;
      }
    });
    this.timer = setInterval(() => this.maintain(sink), this.o.reproposeMs);
    // Removed in close(): a long-lived signal must not collect listeners.
    this.onAbort = () => void this.close();
    this.signal = signal;
    signal.addEventListener('abort', this.onAbort);
  }

  stats(): MdnsStats {
    return { ...this.counters, ignored: { ...this.counters.ignored } };
  }

  records(): MdnsRecord[] {
    return [...this.known.values()].map((k) => ({ ...k.record }));
  }

  async close(): Promise<void> {
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
    this.onAbort = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    const bonjour = this.bonjour;
    if (bonjour === undefined) return;
    this.browser?.stop();
    // Goodbye packets (TTL 0) let peers' browsers drop us at once; bounded wait.
    if (this.published !== undefined) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500);
        bonjour.unpublishAll(() => { clearTimeout(t); resolve(); });
      });
    }
    this.destroy();
  }

  private destroy(): void {
    const bonjour = this.bonjour;
    this.bonjour = undefined;
    try {
      bonjour?.destroy();
    } catch (err) {
      this.onError(err as Error);
    }
  }

  /** Wraps bonjour-service's own socket listeners so a throw is counted, not fatal. */
  private guardHandlers(sock: MdnsSocket): void {
    for (const event of ['response', 'query']) {
      for (const fn of sock.listeners(event)) {
        if ((fn as { guarded?: boolean }).guarded) continue;
        sock.removeListener(event, fn as never);
        const guarded = Object.assign((...args: unknown[]) => {
          try {
            fn(...args);
          } catch (err) {
            this.onError(err as Error);
          }
        }, { guarded: true });
        (sock as unknown as { on(e: string, f: (...a: unknown[]) => void): void }).on(event, guarded);
      }
    }
  }

  private onRecord(s: Service, local: LocalNode | undefined, sink: DiscoverySink): void {
    const txt = (s.txt ?? {}) as Record<string, unknown>;
    const str = (k: string): string => (typeof txt[k] === 'string' ? (txt[k] as string) : '');
    const nodeId = str('id');
    const service = str('svc');
    const mesh = str('mesh');
    const pubPort = Number(str('pub'));
    const ignore = (reason: keyof MdnsStats['ignored']): void => {
      this.counters.ignored[reason]++;
      if (reason !== 'self' && reason !== 'foreignMesh') this.warn.warn(reason, { instance: s.name, reason }, 'ignored mDNS record');
    };
    if (str('v') !== '1') return ignore(str('v') === '' ? 'badTxt' : 'versionMismatch');
    if (!NODE_ID_RE.test(nodeId) || !SERVICE_RE.test(service) || !MESH_RE.test(mesh)
      || !Number.isInteger(pubPort) || pubPort < 1 || pubPort > 65535
      || !Number.isInteger(s.port) || s.port < 1 || s.port > 65535) {
      return ignore('badTxt');
    }
    if (local !== undefined && nodeId === local.nodeId) return ignore('self');
    if (local !== undefined && mesh !== local.mesh) return ignore('foreignMesh');
    const v4 = (s.addresses ?? []).filter((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a) && !a.startsWith('169.254.'));
    const addresses = v4.length > 0 ? v4 : s.referer?.address !== undefined ? [s.referer.address] : [];
    if (addresses.length === 0) return ignore('noAddress');
    const now = Date.now();
    const key = s.fqdn.toLowerCase();
    const previous = this.known.get(key);
    const keyHex = str('key');
    const candidate: Candidate = {
      endpoints: addresses.map((a) => `tcp://${a}:${s.port}`), nodeId, source: 'mdns',
      // Only a proposal: the handshake checks that the node holds this key and that its
      // certificate is for it (a record can say anything).
      ...(/^[0-9a-f]{64}$/.test(keyHex) ? { publicKey: keyHex } : {}),
    };
    if (previous !== undefined && previous.candidate.endpoints.join() !== candidate.endpoints.join()) {
      sink.withdraw(previous.candidate);
    }
    this.known.set(key, {
      candidate,
      record: {
        nodeId, service, mesh, addresses, routerPort: s.port, pubPort, protocolVersion: str('v'),
        firstSeenMs: previous?.record.firstSeenMs ?? now, lastSeenMs: now,
      },
    });
    this.counters.accepted++;
    sink.propose(candidate);
  }

  private forget(fqdn: string, sink: DiscoverySink): void {
    const k = this.known.get(fqdn.toLowerCase());
    if (k === undefined) return;
    this.known.delete(fqdn.toLowerCase());
    this.counters.withdrawn++;
    sink.withdraw(k.candidate);
  }

  /** Re-query, withdraw what went stale, and offer the rest again. */
  private maintain(sink: DiscoverySink): void {
    const now = Date.now();
    try {
      if (now - this.lastQueryMs >= this.o.queryIntervalMs) {
        this.lastQueryMs = now;
        this.browser?.update();
      }
      const staleAfter = this.o.staleAfterMs;
      for (const [fqdn, k] of [...this.known]) {
        if (now - k.record.lastSeenMs > staleAfter) {
          this.forget(fqdn, sink);
          // Let bonjour-service report it as new if it ever answers again.
          (this.browser as unknown as { removeService?(f: string): void } | undefined)?.removeService?.(fqdn);
        } else {
          sink.propose(k.candidate);
        }
      }
    } catch (err) {
      this.onError(err as Error);
    }
  }

  private onError(err: Error): void {
    this.counters.errors++;
    this.warn.warn('error', { err }, 'mDNS error');
  }
}
