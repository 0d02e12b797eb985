/**
 * Bodies of the control kinds and of the reliable class's `$` methods (control.proto).
 * Every decoder returns undefined for bytes it cannot use and never throws: these
 * bodies come from peers.
 */
import { zmesh } from '../gen/mesh.js';
import { MAX_ID_BYTES, MAX_SUBJECT_BYTES } from '../limits.js';
import { MAX_MEMBERS_LISTED, MAX_MEMBER_ENDPOINTS } from '../bounds.js';
import { MESH_RE, NODE_ID_RE, SERVICE_RE, isEndpoint, isSubject, utf8Over } from '../names.js';
import { toNumber } from './numbers.js';

const pb = zmesh.v1;
export type Hello = zmesh.v1.Hello;
export type HelloInit = zmesh.v1.IHello;

export function encodeHello(h: HelloInit): Buffer {
  return pb.Hello.encode(h).finish() as Buffer;
}

/** A light client's hello (proto/README.md section 6): it bound nothing, so it names
 *  no port and no endpoint. */
export function isClientHello(h: Hello): boolean {
  return h.routerPort === 0 && h.pubPort === 0 && h.routerEndpoints.length === 0;
}

/** Decodes a Hello payload; undefined when it is not one we can use (control.proto).
 *  `fromCaller`: a HELLO that came to our ROUTER, which a light client may send; a
 *  WELCOME always comes from a node that binds, so it must name its PUB port. */
export function decodeHello(payload: Uint8Array, o: { fromCaller?: boolean } = {}): Hello | undefined {
  try {
    const h = pb.Hello.decode(payload);
    h.startedMs = toNumber(h.startedMs);
    if (!NODE_ID_RE.test(h.nodeId) || !SERVICE_RE.test(h.service) || !MESH_RE.test(h.mesh)) return undefined;
    const client = o.fromCaller === true && isClientHello(h);
    if (h.routerPort > 65535 || (h.pubPort === 0 && !client) || h.pubPort > 65535) return undefined;
    return h;
  } catch {
    return undefined;
  }
}

export function encodeHeartbeat(sentMs: number): Buffer {
  return pb.Heartbeat.encode({ sentMs }).finish() as Buffer;
}

export function decodeHeartbeat(payload: Uint8Array): number | undefined {
  try {
    return toNumber(pb.Heartbeat.decode(payload).sentMs);
  } catch {
    return undefined;
  }
}

export interface ErrorReplyInit {
  code: string;
  message: string;
  retryable: boolean;
}

export function encodeErrorReply(e: ErrorReplyInit): Buffer {
  return pb.ErrorReply.encode(e).finish() as Buffer;
}

export function decodeErrorReply(payload: Uint8Array): ErrorReplyInit | undefined {
  try {
    const e = pb.ErrorReply.decode(payload);
    return e.code === '' ? undefined : { code: e.code, message: e.message, retryable: e.retryable };
  } catch {
    return undefined;
  }
}

export function encodeSyncMark(token: string): Buffer {
  return pb.SyncMark.encode({ token }).finish() as Buffer;
}

export function decodeSyncMark(payload: Uint8Array): string | undefined {
  try {
    return pb.SyncMark.decode(payload).token || undefined;
  } catch {
    return undefined;
  }
}

/** `$replay` request, as plain values. */
export interface ReplayRequest {
  known: Record<string, number>;
  prefix: string;
  max: number;
  subscriber: string;
  /** Largest answer the asker takes, in bytes of events; 0 = the publisher's cap. */
  maxBytes: number;
  /** The asker continues from ReplayReply.scanned, so the publisher may bound its
   *  scan of the log. Absent or false: the unbounded scan of earlier revisions. */
  boundedScan?: boolean;
  /** The asker reads ReplayedEvent.damaged (an event the publisher cannot read is
   *  answered as such). Absent or false: such a page is refused, as in earlier
   *  revisions. */
  takesDamaged?: boolean;
}

export interface ReplayedEvent {
  seq: number;
  topic: string;
  payload: Uint8Array;
  headers: Record<string, string>;
  timestampMs: number;
  id: Uint8Array;
  node: string;
  service: string;
  /** The publisher cannot read this event's payload (why): `payload` is empty. Only
   *  sent to askers with takesDamaged. */
  damaged?: string;
}

export interface ReplayReply {
  stream: string;
  head: number;
  events: ReplayedEvent[];
  /** The page was cut short by size: more follow. */
  more: boolean;
  /** How far the publisher looked: the events are all there are after the asker's
   *  progress up to here. 0 (or absent) from a publisher that predates the field,
   *  or with head 0. */
  scanned?: number;
}

export interface DurableAck {
  stream: string;
  subscriber: string;
  seq: number;
}

export function encodeReplayRequest(r: ReplayRequest): Buffer {
  return pb.ReplayRequest.encode(r).finish() as Buffer;
}

export function decodeReplayRequest(payload: Uint8Array): ReplayRequest | undefined {
  try {
    const r = pb.ReplayRequest.decode(payload);
    // A prefix no topic can start with is a bad request, not an empty answer.
    if (utf8Over(r.prefix, MAX_SUBJECT_BYTES)) return undefined;
    const known: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.known ?? {})) known[k] = toNumber(v);
    return { known, prefix: r.prefix, max: r.max, subscriber: r.subscriber, maxBytes: r.maxBytes, boundedScan: r.boundedScan, takesDamaged: r.takesDamaged };
  } catch {
    return undefined;
  }
}

export function encodeReplayReply(r: ReplayReply): Buffer {
  return pb.ReplayReply.encode(r).finish() as Buffer;
}

export function decodeReplayReply(payload: Uint8Array): ReplayReply | undefined {
  try {
    const r = pb.ReplayReply.decode(payload);
    // Replayed events reach durable handlers without passing decodeMessage: the same
    // rules for their topic and publisher, or the whole answer is refused.
    const events = r.events as zmesh.v1.ReplayedEvent[];
    if (!events.every((e) => isSubject(e.topic) && NODE_ID_RE.test(e.node) && SERVICE_RE.test(e.service))) return undefined;
    return {
      stream: r.stream,
      head: toNumber(r.head),
      events: events.map((e) => ({
        seq: toNumber(e.seq), topic: e.topic, payload: e.payload, headers: e.headers ?? {},
        timestampMs: toNumber(e.timestampMs), id: e.id, node: e.node, service: e.service,
        ...(e.damaged === '' ? {} : { damaged: e.damaged }),
      })),
      more: r.more,
      scanned: toNumber(r.scanned),
    };
  } catch {
    return undefined;
  }
}

export function encodeDurableAck(a: DurableAck): Buffer {
  return pb.DurableAck.encode(a).finish() as Buffer;
}

export function decodeDurableAck(payload: Uint8Array): DurableAck | undefined {
  try {
    const a = pb.DurableAck.decode(payload);
    return { stream: a.stream, subscriber: a.subscriber, seq: toNumber(a.seq) };
  } catch {
    return undefined;
  }
}

/** Most ids one batched ACK lists (control.proto Ack). */
export const MAX_ACK_IDS = 1_024;

export function encodeAck(ids: readonly Uint8Array[]): Buffer {
  return pb.Ack.encode({ ids: ids as Uint8Array[] }).finish() as Buffer;
}

/** The ids of a batched ACK's body; undefined when it is not a valid Ack (empty, too
 *  many ids, or an id of a length no envelope id has). */
export function decodeAck(payload: Uint8Array): Uint8Array[] | undefined {
  try {
    const { ids } = pb.Ack.decode(payload);
    if (ids.length === 0 || ids.length > MAX_ACK_IDS) return undefined;
    for (const id of ids) if (id.byteLength === 0 || id.byteLength > MAX_ID_BYTES) return undefined;
    return ids;
  } catch {
    return undefined;
  }
}

/** One entry of a `$members` answer (control.proto Member). */
export interface Member {
  nodeId: string;
  service: string;
  /** Best first, 1..MAX_MEMBER_ENDPOINTS valid tcp://HOST:PORT endpoints. */
  routerEndpoints: string[];
  /** 64 lowercase hex characters, or '' in an insecure mesh. */
  publicKey: string;
}

export function encodeMembers(members: readonly Member[]): Buffer {
  return pb.Members.encode({ members: members.slice(0, MAX_MEMBERS_LISTED) as Member[] }).finish() as Buffer;
}

/** The usable entries of a `$members` answer: at most MAX_MEMBERS_LISTED are read
 *  (the rest count as ignored), an entry that breaks a rule of control.proto is
 *  ignored, and of its endpoints only the first MAX_MEMBER_ENDPOINTS valid ones are
 *  kept. Undefined when the body is no Members message. */
export function decodeMembers(payload: Uint8Array): { members: Member[]; ignored: number } | undefined {
  let list: zmesh.v1.Member[];
  try {
    list = pb.Members.decode(payload).members as zmesh.v1.Member[];
  } catch {
    return undefined;
  }
  const members: Member[] = [];
  let ignored = Math.max(0, list.length - MAX_MEMBERS_LISTED);
  for (const m of list.slice(0, MAX_MEMBERS_LISTED)) {
    const routerEndpoints = m.routerEndpoints.filter(isEndpoint).slice(0, MAX_MEMBER_ENDPOINTS);
    if (!NODE_ID_RE.test(m.nodeId) || !SERVICE_RE.test(m.service) || routerEndpoints.length === 0
      || (m.publicKey !== '' && !/^[0-9a-f]{64}$/.test(m.publicKey))) {
      ignored++;
      continue;
    }
    members.push({ nodeId: m.nodeId, service: m.service, routerEndpoints, publicKey: m.publicKey });
  }
  return { members, ignored };
}
