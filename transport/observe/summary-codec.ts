/**
 * NodeSummary <-> bytes (proto/observe.proto). The decoder never throws and returns
 * undefined for a summary it cannot use: these bytes come from peers. Unknown fields
 * are skipped by protobuf itself, so a newer sender's summary still decodes.
 */
import { zmesh } from '../gen/observe.js';
import { MESH_RE, NODE_ID_RE, SERVICE_RE } from '../names.js';
import type { NodeSummary } from '../stats-types.js';
import type { MeshEvent } from '../types.js';

const pb = zmesh.v1.NodeSummary;
/** Longest version or state string kept: anything longer is not one of ours. */
const MAX_LABEL_CHARS = 64;

export function encodeSummary(s: NodeSummary): Uint8Array {
  return pb.encode(s).finish();
}

const num = (v: unknown): number => {
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : 0;
};

export function decodeSummary(bytes: Uint8Array): NodeSummary | undefined {
  let m: zmesh.v1.NodeSummary;
  try {
    m = pb.decode(bytes);
  } catch {
    return undefined;
  }
  if (!NODE_ID_RE.test(m.nodeId) || !SERVICE_RE.test(m.service) || !MESH_RE.test(m.mesh)) return undefined;
  if (m.version.length > MAX_LABEL_CHARS || m.state.length > MAX_LABEL_CHARS) return undefined;
  return {
    nodeId: m.nodeId, service: m.service, mesh: m.mesh, version: m.version, state: m.state,
    uptimeMs: num(m.uptimeMs), intervalMs: num(m.intervalMs),
    requestsInPerS: num(m.requestsInPerS), requestsOutPerS: num(m.requestsOutPerS),
    handlerP50Ms: num(m.handlerP50Ms), handlerP99Ms: num(m.handlerP99Ms), errorsPerS: num(m.errorsPerS),
    inFlight: num(m.inFlight), outboxDepth: num(m.outboxDepth), deadLetters: num(m.deadLetters), durableLag: num(m.durableLag),
    dropsTotal: num(m.dropsTotal), rssBytes: num(m.rssBytes), eventLoopP99Ms: num(m.eventLoopP99Ms), peersUp: num(m.peersUp),
    sentMs: num(m.sentMs), eventsLost: num(m.eventsLost),
  };
}

/** An event listener that hands on the summaries it can decode, each only from the
 *  node it speaks for and of the receiver's `mesh`: a node cannot report for another. */
export function summaryListener(mesh: string, listener: (summary: NodeSummary) => void): (event: MeshEvent) => void {
  return (event) => {
    const s = decodeSummary(event.payload);
    if (s !== undefined && s.nodeId === event.sender.node && s.mesh === mesh) listener(s);
  };
}
