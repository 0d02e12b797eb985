/**
 * Every default and every validation of NodeOptions, in one place. createNode calls
 * resolveOptions once; everything downstream reads the ResolvedOptions it returns (or
 * the narrow part of it a module declares) and never applies a default of its own.
 *
 * A bad option, however deeply nested, fails with INVALID_ARGUMENT naming it
 * ("reliable.window must be a positive integer, got 0"). An option set to `undefined`
 * means "the default", never "undefined". Unknown keys are refused too: a typo in an
 * option name would otherwise silently leave the default in force.
 *
 * May import: errors, names, limits, types, security/ (foundation modules only).
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { InvalidArgumentError } from './errors.js';
import { MAX_HEADER_BYTES, ZMQ_MAXMSGSIZE_FACTOR } from './limits.js';
import { MESH_RE, NODE_ID_RE, SERVICE_RE, isEndpoint, parsePeer } from './names.js';
import { keyBytes, nodeIdFor, type NodeKeys } from './security/keys.js';
import type { Discovery, DiscoveryMode, Durability, MetricsOptions, Migration, NodeOptions, ReliableOptions, SecurityOptions, TracerLike } from './types.js';

export const DEFAULT_MESH = 'default';
export const REQUEST_TIMEOUT_MS = 10_000;
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
export const SEND_QUEUE_LIMIT = 100_000;
export const HEARTBEAT_INTERVAL_MS = 500;
export const SUSPECT_AFTER_MS = 1_500;
export const DEAD_AFTER_MS = 2_500;
export const CLOSE_TIMEOUT_MS = 2_000;
/** A member publishes its summary on "$zmesh/summary" this often (`zmesh top`). */
export const SUMMARY_INTERVAL_MS = 1_000;
/** The shortest and longest summary interval one may set (0 turns summaries off). */
const SUMMARY_INTERVAL_RANGE_MS = [100, 3_600_000] as const;
/** How long a subscription, or a new peer's publisher, may take to confirm. */
export const SUBSCRIBE_TIMEOUT_MS = 5_000;

/** The reliable class's defaults (types.ts documents each one). */
export const RELIABLE_DEFAULTS: Readonly<Required<ReliableOptions>> = Object.freeze({
  maxOutbox: 100_000,
  ackTimeoutMs: 5_000,
  maxAttempts: 10,
  maxAgeMs: 24 * 3_600_000,
  backoffBaseMs: 50,
  backoffMaxMs: 5_000,
  window: 1_000,
  eventRetentionMs: 3_600_000,
  maxEvents: 1_000_000,
  durability: 'full',
});
const DURABILITIES: readonly Durability[] = ['full', 'os'];

export interface MdnsSettings {
  /** IPv4 address of the interface to send and join multicast on; undefined: the OS's. */
  interface: string | undefined;
  queryIntervalMs: number;
  staleAfterMs: number;
  reproposeMs: number;
}

export const MDNS_DEFAULTS: Readonly<Omit<MdnsSettings, 'interface'>> = Object.freeze({
  queryIntervalMs: 5_000,
  staleAfterMs: 16_000,
  reproposeMs: 1_000,
});

/** DNS-SD over unicast DNS (discovery/dns.ts). */
export interface DnsSettings {
  /** Without a trailing dot, e.g. "mesh.example.org". */
  domain: string;
  /** "IP" or "IP:PORT" entries for node:dns setServers; undefined: the system's. */
  servers: string[] | undefined;
  queryIntervalMs: number;
  staleAfterMs: number;
  timeoutMs: number;
}

export const DNS_DEFAULTS: Readonly<Pick<DnsSettings, 'queryIntervalMs' | 'staleAfterMs' | 'timeoutMs'>> = Object.freeze({
  queryIntervalMs: 5_000,
  staleAfterMs: 30_000,
  timeoutMs: 2_000,
});

/** libzmq options every zmesh socket gets, resolved once per node. The trust issue's
 *  CURVE keys go here, so that no socket can be made without them. */
export interface SocketSettings {
  /** ZMQ_MAXMSGSIZE of the ROUTER: a frame above it closes the sender's connection in
   *  libzmq. Peers learn our limit from the hello and never send such a frame. */
  maxMessageSize: number;
  /** ZMQ_MAXMSGSIZE of DEALERs and SUBs, which read what peers send at *their* limits:
   *  twice the larger of MAX_PAYLOAD_BYTES (the default limit) and our own, so that a
   *  peer with a larger limit than ours never makes libzmq end the connection for good
   *  (it does not reconnect after that protocol error). What exceeds our own limit is
   *  dropped by us instead, and counted (`oversized`). Nodes configured above 1 MiB
   *  should agree on their limit; a SUB cut off anyway is rebuilt (subscriber.ts). */
  peerFrameCeiling: number;
  /** ZMQ_SNDHWM and ZMQ_RCVHWM, in messages (a coalesced batch counts once). */
  highWaterMark: number;
  /** ZMQ_LINGER on close(); close() flushes our own queues first. */
  lingerMs: number;
  reconnectIntervalMs: number;
  reconnectMaxIntervalMs: number;
}

const SOCKET_HWM = 10_000;
const CLOSE_LINGER_MS = 200;
const RECONNECT_INTERVAL_MS = 100;
const RECONNECT_MAX_INTERVAL_MS = 1_000;

/** SecurityOptions, checked for shape; the credentials themselves are verified by
 *  the trust policy (security/policy.ts) when the node is built. */
export interface SecuritySettings {
  keys: NodeKeys;
  mode: 'certificates' | 'keys';
  certificate: Uint8Array | undefined;
  authorities: Buffer[];
  revocations: Uint8Array | undefined;
  revocationsFile: string | undefined;
  /** Z85 keys. */
  authorizedKeys: Array<{ publicKey: string; service: string }>;
  auditFile: string | undefined;
}

export interface ResolvedOptions {
  service: string;
  nodeId: string;
  mesh: string;
  host: string;
  advertise: string[];
  routerPort: number;
  pubPort: number;
  peers: string[];
  discovery: DiscoveryMode;
  requestTimeoutMs: number;
  maxPayloadBytes: number;
  /** Largest inbound frame we accept: the bigger of the payload and header limits. */
  maxFrameBytes: number;
  sendQueueLimit: number;
  heartbeatIntervalMs: number;
  suspectAfterMs: number;
  deadAfterMs: number;
  closeTimeoutMs: number;
  subscribeTimeoutMs: number;
  /** 0: this node publishes no summaries (off, or a light client). */
  summaryIntervalMs: number;
  storePath: string | undefined;
  /** The application's migration steps, in order; empty without a store. */
  migrations: readonly Migration[];
  reliable: Readonly<Required<ReliableOptions>>;
  /** Undefined when discovery is "static" or "dns" (no mDNS source runs). */
  mdns: MdnsSettings | undefined;
  /** Defined when the `dns` option is given: a DNS-SD source runs. */
  dns: DnsSettings | undefined;
  sockets: SocketSettings;
  sources: Discovery[];
  /** Undefined when the node runs insecure. */
  security: SecuritySettings | undefined;
  /** The user asked for no security (and is warned at start). */
  insecure: boolean;
  /** A light client: binds nothing, advertises nothing, is no member (types.ts). */
  client: boolean;
  tracing: TracingSettings;
  /** Undefined without the `metrics` option (nothing is loaded). */
  metrics: MetricsSettings | undefined;
}

/** The `metrics` option resolved (metrics-types.ts documents each field). */
export interface MetricsSettings {
  /** Undefined: no HTTP server (a registry was given). */
  port: number | undefined;
  host: string;
  registry: MetricsOptions['registry'];
  processMetrics: boolean;
  readiness: { services: string[]; maxOutbox: number };
}

/** Where the metrics server binds unless told otherwise: loopback, on purpose. */
export const METRICS_HOST = '127.0.0.1';

/** NodeOptions.tracing, resolved; observe/tracing.ts applies the rule. */
export interface TracingSettings {
  /** undefined: auto. */
  enabled: boolean | undefined;
  tracer: TracerLike | undefined;
}

const NODE_KEYS: ReadonlyArray<keyof NodeOptions> = [
  'service', 'nodeId', 'mesh', 'host', 'advertise', 'routerPort', 'pubPort', 'peers', 'discovery', 'interface', 'mdns',
  'dns', 'sources', 'requestTimeoutMs', 'maxPayloadBytes', 'sendQueueLimit', 'heartbeatIntervalMs', 'suspectAfterMs',
  'deadAfterMs', 'closeTimeoutMs', 'storePath', 'migrations', 'reliable', 'security', 'insecure', 'client', 'metrics',
  'summaryIntervalMs',
  'tracing',
];
const SECURITY_KEYS: ReadonlyArray<keyof SecurityOptions> = [
  'keys', 'certificate', 'authorities', 'revocations', 'revocationsFile', 'authorizedKeys', 'auditFile',
];
const MDNS_KEYS = ['queryIntervalMs', 'staleAfterMs', 'reproposeMs'] as const;
const DNS_KEYS = ['domain', 'servers', 'queryIntervalMs', 'staleAfterMs', 'timeoutMs'] as const;
/** A DNS name as a zone holds it: labels of letters, digits, "-" and "_", 1..63 bytes
 *  each, 253 in all, an optional trailing dot. */
const DOMAIN_RE = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

const show = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : String(v));

function bad(name: string, rule: string, value: unknown): never {
  throw new InvalidArgumentError(`${name} must be ${rule}, got ${show(value)}`);
}

/** A plain object whose keys are all known; undefined stays undefined. */
function record(name: string, value: unknown, known: readonly string[]): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(name, 'an object', value);
  const unknown = Object.keys(value).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown option ${unknown.map((k) => (name === '' ? k : `${name}.${k}`)).join(', ')}`);
  return value as Record<string, unknown>;
}

function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) <= 0) bad(name, 'a positive integer', value);
  return value as number;
}

function summaryInterval(value: unknown): number {
  if (value === undefined) return SUMMARY_INTERVAL_MS;
  const [min, max] = SUMMARY_INTERVAL_RANGE_MS;
  if (value !== 0 && (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max)) {
    bad('summaryIntervalMs', `0 (off) or an integer ${min}..${max}`, value);
  }
  return value as number;
}

function port(name: string, value: unknown): number {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535) bad(name, 'an integer 0..65535 (0: any free port)', value);
  return value as number;
}

function stringList(name: string, value: unknown, check: (s: string) => boolean, rule: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) bad(name, `an array of ${rule}`, value);
  value.forEach((s: unknown, i) => { if (typeof s !== 'string' || !check(s)) bad(`${name}[${i}]`, rule, s); });
  return [...(value as string[])];
}

export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '*' || host === '::';
}

/** Non-internal IPv4 addresses of this host, the default advertise list for wildcard binds. */
export function hostAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  }
  return out.length > 0 ? out : ['127.0.0.1'];
}

export function validateEndpoint(endpoint: string, name = 'peer endpoint'): string {
  if (!isEndpoint(endpoint)) bad(name, 'tcp://HOST:PORT with a port of 1..65535', endpoint);
  return endpoint;
}

/** The reliable class's settings; also used by tools that open a store offline. */
export function resolveReliableOptions(value: unknown, name = 'reliable'): Readonly<Required<ReliableOptions>> {
  const o = record(name, value, Object.keys(RELIABLE_DEFAULTS)) ?? {};
  const numbers = Object.entries(RELIABLE_DEFAULTS).filter(([, d]) => typeof d === 'number') as Array<[string, number]>;
  const durability = o['durability'] ?? RELIABLE_DEFAULTS.durability;
  if (!DURABILITIES.includes(durability as Durability)) bad(`${name}.durability`, `one of ${DURABILITIES.map((d) => `'${d}'`).join(', ')}`, durability);
  const r = { ...Object.fromEntries(numbers.map(([k, d]) => [k, positiveInt(`${name}.${k}`, o[k], d)])), durability } as Required<ReliableOptions>;
  if (r.backoffBaseMs > r.backoffMaxMs) bad(`${name}.backoffBaseMs`, `at most ${name}.backoffMaxMs (${r.backoffMaxMs})`, r.backoffBaseMs);
  return Object.freeze(r);
}

/** mDNS settings, for createNode and for mdnsDiscovery() used on its own. */
export function resolveMdnsOptions(value: unknown, iface: string | undefined, name = 'mdns'): MdnsSettings {
  const o = record(name, value, MDNS_KEYS) ?? {};
  if (iface !== undefined && (typeof iface !== 'string' || !IPV4_RE.test(iface))) bad('interface', 'an IPv4 address', iface);
  return {
    interface: iface,
    queryIntervalMs: positiveInt(`${name}.queryIntervalMs`, o['queryIntervalMs'], MDNS_DEFAULTS.queryIntervalMs),
    staleAfterMs: positiveInt(`${name}.staleAfterMs`, o['staleAfterMs'], MDNS_DEFAULTS.staleAfterMs),
    reproposeMs: positiveInt(`${name}.reproposeMs`, o['reproposeMs'], MDNS_DEFAULTS.reproposeMs),
  };
}

/** A resolver address as node:dns setServers takes it: "IP", "IP:PORT" or "[IPv6]:PORT". */
export function isDnsServer(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s) ?? /^([\d.]+)(?::(\d{1,5}))?$/.exec(s) ?? /^([0-9A-Fa-f:]+)()$/.exec(s);
  if (m === null) return false;
  const port = m[2] === undefined || m[2] === '' ? 53 : Number(m[2]);
  return isIP(m[1]!) !== 0 && port >= 1 && port <= 65535;
}

/** A domain the dns option takes, e.g. "mesh.example.org" (a trailing dot is fine). */
export function isDnsDomain(s: unknown): s is string {
  return typeof s === 'string' && DOMAIN_RE.test(s);
}

/** DNS-SD settings, for createNode and for dnsDiscovery() used on its own. */
export function resolveDnsOptions(value: unknown, name = 'dns'): DnsSettings {
  const o = record(name, value, DNS_KEYS) ?? bad(name, 'an object with a domain', value);
  const domain = o['domain'];
  if (!isDnsDomain(domain)) bad(`${name}.domain`, 'a DNS domain such as "mesh.example.org"', domain);
  const servers = stringList(`${name}.servers`, o['servers'], isDnsServer, 'resolver addresses "IP" or "IP:PORT"');
  if (servers !== undefined && servers.length === 0) bad(`${name}.servers`, 'a non-empty list (leave it out for the system\'s resolvers)', '[]');
  const r = {
    domain: domain.replace(/\.$/, ''),
    servers,
    queryIntervalMs: positiveInt(`${name}.queryIntervalMs`, o['queryIntervalMs'], DNS_DEFAULTS.queryIntervalMs),
    staleAfterMs: positiveInt(`${name}.staleAfterMs`, o['staleAfterMs'], DNS_DEFAULTS.staleAfterMs),
    timeoutMs: positiveInt(`${name}.timeoutMs`, o['timeoutMs'], DNS_DEFAULTS.timeoutMs),
  };
  if (r.staleAfterMs <= r.queryIntervalMs) bad(`${name}.staleAfterMs`, `more than ${name}.queryIntervalMs (${r.queryIntervalMs})`, r.staleAfterMs);
  return r;
}

function sources(value: unknown): Discovery[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) bad('sources', 'an array of Discovery objects', value);
  value.forEach((s: unknown, i) => {
    const d = s as Partial<Discovery> | null;
    if (typeof d !== 'object' || d === null || typeof d.start !== 'function' || typeof d.close !== 'function') {
      bad(`sources[${i}]`, 'a Discovery (an object with start() and close())', s);
    }
  });
  return [...(value as Discovery[])];
}

function migrations(value: unknown, storePath: string | undefined): Migration[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) bad('migrations', 'an array of steps (SQL text or (db) => void)', value);
  value.forEach((s: unknown, i) => {
    if (typeof s === 'function') return;
    if (typeof s !== 'string' || s.trim() === '') bad(`migrations[${i}]`, 'SQL text or a function (db) => void', typeof s === 'string' ? s : typeof s);
  });
  if (value.length > 0 && storePath === undefined) throw new InvalidArgumentError('migrations need a store: set storePath');
  return [...(value as Migration[])];
}

function bytes(name: string, value: unknown): Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Uint8Array) || value.byteLength === 0) bad(name, 'non-empty bytes (a Uint8Array)', value);
  return value as Uint8Array;
}

function z85Key(name: string, value: unknown): string {
  if (typeof value !== 'string') bad(name, 'a CURVE key: 40 characters of Z85', typeof value);
  try {
    keyBytes(value as string);
  } catch {
    // The message never repeats the value: it may be a secret key.
    throw new InvalidArgumentError(`${name} must be a CURVE key: 40 characters of Z85`);
  }
  return value as string;
}

function security(value: unknown): SecuritySettings | undefined {
  const o = record('security', value, SECURITY_KEYS as string[]);
  if (o === undefined) return undefined;
  const keys = record('security.keys', o['keys'], ['publicKey', 'secretKey']);
  if (keys === undefined) throw new InvalidArgumentError('security.keys is required: the node\'s CURVE key pair (loadNodeKeys)');
  const certificate = bytes('security.certificate', o['certificate']);
  const authorities = o['authorities'] === undefined ? [] : (Array.isArray(o['authorities']) ? o['authorities'] : bad('security.authorities', 'an array of 32-byte ed25519 public keys', o['authorities']));
  authorities.forEach((a: unknown, i) => { if (!(a instanceof Uint8Array) || a.byteLength !== 32) bad(`security.authorities[${i}]`, 'a 32-byte ed25519 public key', a); });
  const listed = o['authorizedKeys'];
  if (listed !== undefined && !Array.isArray(listed)) bad('security.authorizedKeys', 'an array of { publicKey, service }', listed);
  const authorizedKeys = ((listed ?? []) as unknown[]).map((k, i) => {
    const e = record(`security.authorizedKeys[${i}]`, k, ['publicKey', 'service'])!;
    if (!SERVICE_RE.test(String(e['service']))) bad(`security.authorizedKeys[${i}].service`, 'a service name', e['service']);
    return { publicKey: z85Key(`security.authorizedKeys[${i}].publicKey`, e['publicKey']), service: e['service'] as string };
  });
  const certMode = certificate !== undefined || authorities.length > 0;
  if (certMode === (listed !== undefined)) {
    throw new InvalidArgumentError('security needs either certificate and authorities (certificate mode) or authorizedKeys (authorized-keys mode), not both');
  }
  if (certMode && (certificate === undefined || authorities.length === 0)) {
    throw new InvalidArgumentError('certificate mode needs security.certificate and at least one of security.authorities');
  }
  for (const f of ['revocationsFile', 'auditFile'] as const) {
    if (o[f] !== undefined && (typeof o[f] !== 'string' || o[f] === '')) bad(`security.${f}`, 'a file path', o[f]);
  }
  return {
    keys: { publicKey: z85Key('security.keys.publicKey', keys['publicKey']), secretKey: z85Key('security.keys.secretKey', keys['secretKey']) },
    mode: certMode ? 'certificates' : 'keys',
    certificate,
    authorities: authorities.map((a: Uint8Array) => Buffer.from(a)),
    revocations: bytes('security.revocations', o['revocations']),
    revocationsFile: o['revocationsFile'] as string | undefined,
    authorizedKeys,
    auditFile: o['auditFile'] as string | undefined,
  };
}

export function resolveOptions(input: NodeOptions): ResolvedOptions {
  const o = record('', input, NODE_KEYS as string[]) as NodeOptions | undefined;
  if (o === undefined) throw new InvalidArgumentError('createNode needs options with at least a service name');
  if (typeof o.service !== 'string' || !SERVICE_RE.test(o.service)) bad('service', `a name matching ${SERVICE_RE}`, o.service);
  const secure = security(o.security);
  if (o.insecure !== undefined && typeof o.insecure !== 'boolean') bad('insecure', 'a boolean', o.insecure);
  if (secure !== undefined && o.insecure === true) throw new InvalidArgumentError('security and insecure: true contradict each other');
  if (secure === undefined && o.insecure !== true) {
    // Secure by default: running open must be a decision, never an omission.
    throw new InvalidArgumentError('a node needs security: { keys, certificate, authorities } (or authorizedKeys), or insecure: true to run open; see README "Security"');
  }
  // A secure node's id is its key's: nobody can claim it without the secret key.
  const keyed = secure === undefined ? undefined : nodeIdFor(o.service, secure.keys.publicKey);
  if (keyed !== undefined && o.nodeId !== undefined && o.nodeId !== keyed) bad('nodeId', `"${keyed}" (derived from security.keys) or left out`, o.nodeId);
  const nodeId = keyed ?? o.nodeId ?? `${o.service}-${randomBytes(4).toString('hex')}`;
  if (typeof nodeId !== 'string' || !NODE_ID_RE.test(nodeId)) bad('nodeId', `an id matching ${NODE_ID_RE}`, nodeId);
  const mesh = o.mesh ?? DEFAULT_MESH;
  if (typeof mesh !== 'string' || !MESH_RE.test(mesh)) bad('mesh', `a name matching ${MESH_RE}`, mesh);
  if (o.interface !== undefined && (typeof o.interface !== 'string' || !IPV4_RE.test(o.interface))) bad('interface', 'an IPv4 address', o.interface);
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host === '' || /[\s/]/.test(o.host))) bad('host', 'a host name or address to bind', o.host);
  const host = o.interface ?? o.host ?? '0.0.0.0';
  const advertise = stringList('advertise', o.advertise, (s) => s !== '' && !/[\s/:]/.test(s) && !isWildcard(s), 'addresses peers can reach (no wildcard)');
  const peers = stringList('peers', o.peers, (p) => parsePeer(p) !== undefined, 'endpoints tcp://HOST:PORT with a port of 1..65535, optionally #<public key hex>') ?? [];
  const dns = o.dns === undefined ? undefined : resolveDnsOptions(o.dns);
  const discovery = o.discovery ?? (dns !== undefined ? 'dns' : peers.length > 0 ? 'static' : 'mdns');
  if (!['mdns', 'static', 'both', 'dns'].includes(discovery)) bad('discovery', '"mdns", "static", "both" or "dns"', discovery);
  if (discovery === 'dns' && dns === undefined) bad('dns', 'an object with a domain when discovery is "dns"', undefined);
  const heartbeatIntervalMs = positiveInt('heartbeatIntervalMs', o.heartbeatIntervalMs, HEARTBEAT_INTERVAL_MS);
  const suspectAfterMs = positiveInt('suspectAfterMs', o.suspectAfterMs, SUSPECT_AFTER_MS);
  const deadAfterMs = positiveInt('deadAfterMs', o.deadAfterMs, DEAD_AFTER_MS);
  if (!(heartbeatIntervalMs < suspectAfterMs && suspectAfterMs < deadAfterMs)) {
    throw new InvalidArgumentError(`liveness timers must satisfy heartbeatIntervalMs < suspectAfterMs < deadAfterMs, got ${heartbeatIntervalMs}, ${suspectAfterMs}, ${deadAfterMs}`);
  }
  if (o.storePath !== undefined && (typeof o.storePath !== 'string' || o.storePath === '')) bad('storePath', 'a file path', o.storePath);
  const maxPayloadBytes = positiveInt('maxPayloadBytes', o.maxPayloadBytes, MAX_PAYLOAD_BYTES);
  const maxFrameBytes = Math.max(maxPayloadBytes, MAX_HEADER_BYTES);
  // Validated whatever the discovery mode, so that a bad value never waits to be found.
  const mdns = resolveMdnsOptions(o.mdns, o.interface);
  if (o.client !== undefined && typeof o.client !== 'boolean') bad('client', 'a boolean', o.client);
  if (o.client === true) {
    // What a light client would never use: saying so beats ignoring it.
    const serving = (['routerPort', 'pubPort', 'advertise', 'storePath'] as const).find((k) => o[k] !== undefined && o[k] !== 0);
    if (serving !== undefined) throw new InvalidArgumentError(`${serving} contradicts client: true (a light client binds nothing, advertises nothing and keeps no store)`);
  }
  const reliable = resolveReliableOptions(o.reliable);
  return {
    service: o.service,
    nodeId,
    mesh,
    host,
    // Given addresses win (NAT, containers); else the interface's, the host's, or every one.
    advertise: advertise ?? (o.interface !== undefined ? [o.interface] : isWildcard(host) ? hostAddresses() : [host]),
    routerPort: port('routerPort', o.routerPort),
    pubPort: port('pubPort', o.pubPort),
    peers,
    discovery,
    requestTimeoutMs: positiveInt('requestTimeoutMs', o.requestTimeoutMs, REQUEST_TIMEOUT_MS),
    maxPayloadBytes,
    maxFrameBytes,
    sendQueueLimit: positiveInt('sendQueueLimit', o.sendQueueLimit, SEND_QUEUE_LIMIT),
    heartbeatIntervalMs,
    suspectAfterMs,
    deadAfterMs,
    closeTimeoutMs: positiveInt('closeTimeoutMs', o.closeTimeoutMs, CLOSE_TIMEOUT_MS),
    subscribeTimeoutMs: SUBSCRIBE_TIMEOUT_MS,
    summaryIntervalMs: o.client === true ? 0 : summaryInterval(o.summaryIntervalMs),
    storePath: o.storePath,
    migrations: migrations(o.migrations, o.storePath),
    reliable,
    mdns: discovery === 'static' || discovery === 'dns' ? undefined : mdns,
    dns,
    sockets: {
      maxMessageSize: maxFrameBytes * ZMQ_MAXMSGSIZE_FACTOR,
      peerFrameCeiling: Math.max(MAX_PAYLOAD_BYTES, maxFrameBytes) * ZMQ_MAXMSGSIZE_FACTOR,
      highWaterMark: SOCKET_HWM,
      lingerMs: CLOSE_LINGER_MS,
      reconnectIntervalMs: RECONNECT_INTERVAL_MS,
      reconnectMaxIntervalMs: RECONNECT_MAX_INTERVAL_MS,
    },
    sources: sources(o.sources),
    security: secure,
    insecure: o.insecure === true,
    client: o.client === true,
    tracing: resolveTracingOptions(o.tracing),
    metrics: resolveMetricsOptions(o.metrics, reliable.maxOutbox),
  };
}

/** NodeOptions.tracing: enabled undefined means auto (observe/tracing.ts). */
function resolveMetricsOptions(value: unknown, maxOutbox: number): MetricsSettings | undefined {
  const m = record('metrics', value, ['port', 'host', 'registry', 'processMetrics', 'readiness']) as MetricsOptions | undefined;
  if (m === undefined) return undefined;
  const registry = m.registry as unknown as { registerMetric?: unknown; metrics?: unknown } | undefined;
  if (registry !== undefined && (typeof registry !== 'object' || registry === null || typeof registry.registerMetric !== 'function' || typeof registry.metrics !== 'function')) {
    bad('metrics.registry', 'a prom-client Registry', m.registry);
  }
  if (m.port === undefined && m.registry === undefined) throw new InvalidArgumentError('metrics needs a port (0: any free one) or a registry of yours, or both');
  if (m.host !== undefined && (typeof m.host !== 'string' || m.host === '' || /[\s/]/.test(m.host))) bad('metrics.host', 'a host name or address to bind', m.host);
  if (m.processMetrics !== undefined && typeof m.processMetrics !== 'boolean') bad('metrics.processMetrics', 'a boolean', m.processMetrics);
  const r = record('metrics.readiness', m.readiness, ['services', 'maxOutbox']) as MetricsOptions['readiness'];
  const services = stringList('metrics.readiness.services', r?.services, (x) => SERVICE_RE.test(x), `service names matching ${SERVICE_RE}`) ?? [];
  return {
    port: m.port === undefined ? undefined : port('metrics.port', m.port),
    host: m.host ?? METRICS_HOST,
    registry: m.registry,
    processMetrics: m.processMetrics ?? true,
    readiness: { services, maxOutbox: positiveInt('metrics.readiness.maxOutbox', r?.maxOutbox, Math.max(1, Math.floor(maxOutbox * 0.9))) },
  };

}

function resolveTracingOptions(value: unknown): TracingSettings {
  const t = record('tracing', value, ['enabled', 'tracer']);
  if (t?.['enabled'] !== undefined && typeof t['enabled'] !== 'boolean') bad('tracing.enabled', 'a boolean', t['enabled']);
  const tracer = t?.['tracer'];
  if (tracer !== undefined && (typeof tracer !== 'object' || tracer === null || typeof (tracer as { startSpan?: unknown }).startSpan !== 'function')) {
    bad('tracing.tracer', 'an OpenTelemetry Tracer (with startSpan)', tracer);
  }
  if (tracer !== undefined && t?.['enabled'] === false) throw new InvalidArgumentError('tracing.tracer contradicts tracing.enabled: false');
  return { enabled: t?.['enabled'] as boolean | undefined, tracer: tracer as TracingSettings['tracer'] };
}

/**
 * Checks options as createNode would, without building anything: throws the same
 * INVALID_ARGUMENT (the message starts with the option's name). For tools that take
 * options from elsewhere (the CLI's flags, environment and config file) and want to
 * refuse a bad value before anything runs. `service` and the security choice default
 * to placeholders, so a partial set can be checked.
 */
export function checkNodeOptions(o: Partial<NodeOptions>): void {
  resolveOptions({ service: 'check', ...(o.security === undefined ? { insecure: true } : {}), ...o } as NodeOptions);
}
