/**
 * Defaults and validation of NodeOptions, in one place. Everything downstream reads a
 * ResolvedOptions and never applies a default of its own.
 */
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { MAX_HEADER_BYTES } from './codec.js';
import { InvalidArgumentError } from './errors.js';
import { MESH_RE, NODE_ID_RE, SERVICE_RE, isEndpoint } from './names.js';
import type { DiscoveryMode, NodeOptions } from './types.js';

export const DEFAULT_MESH = 'default';
export const REQUEST_TIMEOUT_MS = 10_000;
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
export const SEND_QUEUE_LIMIT = 100_000;
export const HEARTBEAT_INTERVAL_MS = 500;
export const SUSPECT_AFTER_MS = 1_500;
export const DEAD_AFTER_MS = 2_500;
export const CLOSE_TIMEOUT_MS = 2_000;
/** libzmq drops the connection of a peer that sends a frame above this multiple of our
 *  frame limit, before allocating it. Frames between the two are dropped by us and
 *  counted, so a misbehaving peer shows up in stats. */
export const ZMQ_MAXMSGSIZE_FACTOR = 2;
/** Envelopes coalesced into one multipart send, and their byte budget. */
export const MAX_BATCH_MESSAGES = 512;
export const MAX_BATCH_BYTES = 512 * 1024;


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
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function port(name: string, value: number | undefined): number {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new InvalidArgumentError(`${name} must be 0..65535, got ${value}`);
  return value;
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

export function validateEndpoint(endpoint: string): string {
  if (!isEndpoint(endpoint)) {
    throw new InvalidArgumentError(`peer endpoint must look like tcp://HOST:PORT with a port of 1..65535, got "${endpoint}"`);
  }
  return endpoint;
}

export function resolveOptions(o: NodeOptions): ResolvedOptions {
  if (typeof o.service !== 'string' || !SERVICE_RE.test(o.service)) {
    throw new InvalidArgumentError(`service must match ${SERVICE_RE}, got "${String(o.service)}"`);
  }
  const nodeId = o.nodeId ?? `${o.service}-${randomBytes(4).toString('hex')}`;
  if (!NODE_ID_RE.test(nodeId)) throw new InvalidArgumentError(`nodeId must match ${NODE_ID_RE}, got "${nodeId}"`);
  const mesh = o.mesh ?? DEFAULT_MESH;
  if (!MESH_RE.test(mesh)) throw new InvalidArgumentError(`mesh must match ${MESH_RE}, got "${mesh}"`);
  const host = o.interface ?? o.host ?? '0.0.0.0';
  if (o.interface !== undefined && !/^\d+\.\d+\.\d+\.\d+$/.test(o.interface)) {
    throw new InvalidArgumentError(`interface must be an IPv4 address, got "${o.interface}"`);
  }
  const peers = (o.peers ?? []).map(validateEndpoint);
  const discovery = o.discovery ?? (peers.length > 0 ? 'static' : 'mdns');
  if (!['mdns', 'static', 'both'].includes(discovery)) {
    throw new InvalidArgumentError(`discovery must be "mdns", "static" or "both", got "${String(discovery)}"`);
  }
  const heartbeatIntervalMs = positiveInt('heartbeatIntervalMs', o.heartbeatIntervalMs, HEARTBEAT_INTERVAL_MS);
  const suspectAfterMs = positiveInt('suspectAfterMs', o.suspectAfterMs, SUSPECT_AFTER_MS);
  const deadAfterMs = positiveInt('deadAfterMs', o.deadAfterMs, DEAD_AFTER_MS);
  if (!(heartbeatIntervalMs < suspectAfterMs && suspectAfterMs < deadAfterMs)) {
    throw new InvalidArgumentError('liveness timers must satisfy heartbeatIntervalMs < suspectAfterMs < deadAfterMs');
  }
  const maxPayloadBytes = positiveInt('maxPayloadBytes', o.maxPayloadBytes, MAX_PAYLOAD_BYTES);
  return {
    service: o.service,
    nodeId,
    mesh,
    host,
    advertise: o.interface !== undefined ? [o.interface] : o.advertise ?? (isWildcard(host) ? hostAddresses() : [host]),
    routerPort: port('routerPort', o.routerPort),
    pubPort: port('pubPort', o.pubPort),
    peers,
    discovery,
    requestTimeoutMs: positiveInt('requestTimeoutMs', o.requestTimeoutMs, REQUEST_TIMEOUT_MS),
    maxPayloadBytes,
    maxFrameBytes: Math.max(maxPayloadBytes, MAX_HEADER_BYTES),
    sendQueueLimit: positiveInt('sendQueueLimit', o.sendQueueLimit, SEND_QUEUE_LIMIT),
    heartbeatIntervalMs,
    suspectAfterMs,
    deadAfterMs,
    closeTimeoutMs: positiveInt('closeTimeoutMs', o.closeTimeoutMs, CLOSE_TIMEOUT_MS),
  };
}
