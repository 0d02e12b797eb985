/**
 * Naming rules shared by options, the codec, discovery and the CLI (proto/README.md,
 * section 3). The one place they are written down: nodes/ imports these through the
 * public index instead of copying the patterns.
 */
export const SERVICE_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const NODE_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const MESH_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** A ROUTER endpoint as peers exchange them: tcp://HOST:PORT, no wildcard host. */
const ENDPOINT_RE = /^tcp:\/\/([^\s:/*]+):(\d{1,5})$/;

export const isServiceName = (s: unknown): s is string => typeof s === 'string' && SERVICE_RE.test(s);
export const isNodeId = (s: unknown): s is string => typeof s === 'string' && NODE_ID_RE.test(s);
export const isMeshName = (s: unknown): s is string => typeof s === 'string' && MESH_RE.test(s);

/** Host and port of "tcp://HOST:PORT" with a port of 1..65535, or undefined. */
export function parseEndpoint(s: unknown): { host: string; port: number } | undefined {
  const m = typeof s === 'string' ? ENDPOINT_RE.exec(s) : null;
  if (m === null) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!, port } : undefined;
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
