/**
 * Naming rules shared by options, the codec, discovery and the CLI (proto/README.md,
 * section 3), and the byte limits of the strings a message carries (section 10). The
 * one place they are written down: nodes/ imports these through the public index
 * instead of copying the patterns.
 *
 * Limits of wire strings are in UTF-8 bytes, never in characters: "€" is one UTF-16
 * unit and three bytes, so a `.length` check would let 768 bytes through a 256-byte
 * limit. The name patterns below are ASCII only, so for them characters are bytes.
 */
import { isIPv4 } from 'node:net';
import { MAX_SUBJECT_BYTES } from './limits.js';

export const SERVICE_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const NODE_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const MESH_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** A ROUTER endpoint as peers exchange them: tcp://HOST:PORT. */
const ENDPOINT_RE = /^tcp:\/\/([^:/]+):(\d{1,5})$/;
/** Longest host name DNS can carry (RFC 1035: 255 bytes on the wire, 253 as text). */
const MAX_HOST_BYTES = 253;
/** A host name of labels: letters, digits, "-" inside, and "_" (which /etc/hosts and
 *  container networks use although RFC 1123 does not). */
const HOST_NAME_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

export const isServiceName = (s: unknown): s is string => typeof s === 'string' && SERVICE_RE.test(s);
export const isNodeId = (s: unknown): s is string => typeof s === 'string' && NODE_ID_RE.test(s);
export const isMeshName = (s: unknown): s is string => typeof s === 'string' && MESH_RE.test(s);

/** True when `s` is more than `maxBytes` bytes of UTF-8. It encodes nothing when the
 *  UTF-16 length settles the question: one UTF-16 unit is 1 to 3 bytes. */
export function utf8Over(s: string, maxBytes: number): boolean {
  if (s.length * 3 <= maxBytes) return false;
  return s.length > maxBytes || Buffer.byteLength(s, 'utf8') > maxBytes;
}

/** A method name or topic as the envelope's `subject` carries it: 1 to
 *  MAX_SUBJECT_BYTES bytes of UTF-8. */
export const isSubject = (s: unknown): s is string => typeof s === 'string' && s !== '' && !utf8Over(s, MAX_SUBJECT_BYTES);

/** Bytes of a varint (protobuf) holding `n`. */
const varintBytes = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : n < 0x1000_0000 ? 4 : 5);

/**
 * Bytes that `headers` take in an encoded envelope (field 11, one map entry per key,
 * keys and values in UTF-8), or undefined when it is not a map of strings to strings.
 * Every sender compares it with MAX_HEADERS_BYTES (limits.ts) before a message is
 * queued or stored.
 */
export function headersBytes(headers: unknown): number | undefined {
  if (headers === undefined) return 0;
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return undefined;
  let total = 0;
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== 'string') return undefined;
    const kb = Buffer.byteLength(k, 'utf8');
    const vb = Buffer.byteLength(v, 'utf8');
    // Entry: key (tag, length, bytes) and value (tag, length, bytes); then the entry's
    // own tag and length in the envelope.
    const entry = 1 + varintBytes(kb) + kb + 1 + varintBytes(vb) + vb;
    total += 1 + varintBytes(entry) + entry;
  }
  return total;
}

/** An IPv4 address, or a DNS name of at most 253 bytes: what libzmq can dial. Four
 *  numbers that are no IPv4 address (999.1.1.1) are neither. */
export function isHost(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  if (isIPv4(s)) return true;
  return s.length <= MAX_HOST_BYTES && HOST_NAME_RE.test(s) && !/^[\d.]+$/.test(s);
}

/** Host and port of "tcp://HOST:PORT" with a host isHost takes and a port of
 *  1..65535, or undefined. */
export function parseEndpoint(s: unknown): { host: string; port: number } | undefined {
  const m = typeof s === 'string' ? ENDPOINT_RE.exec(s) : null;
  if (m === null || !isHost(m[1])) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1], port } : undefined;
}

export const isEndpoint = (s: unknown): s is string => parseEndpoint(s) !== undefined;

/** A static peer: "tcp://HOST:PORT", optionally followed by "#" and the node's CURVE
 *  public key as 64 hex characters (needed to reach a secure node). */
export function parsePeer(s: unknown): { endpoint: string; publicKey: string | undefined } | undefined {
  if (typeof s !== 'string') return undefined;
  const hash = s.indexOf('#');
  const endpoint = hash < 0 ? s : s.slice(0, hash);
  const publicKey = hash < 0 ? undefined : s.slice(hash + 1);
  if (!isEndpoint(endpoint) || (publicKey !== undefined && !/^[0-9a-f]{64}$/.test(publicKey))) return undefined;
  return { endpoint, publicKey };
}

/** The reserved topic of node summaries (proto/README.md section 18). "$" topics are
 *  zmesh's: publish() and subscribe() refuse them, so only the node itself sends and
 *  `watchSummaries` receives on it. */
export const SUMMARY_TOPIC = '$zmesh/summary';
