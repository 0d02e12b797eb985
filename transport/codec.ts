/**
 * The envelope codec: frames <-> validated envelopes. This is the only module that
 * turns untrusted frames into objects; everything above it sees envelopes that passed
 * `decodeMessage`. Rules are those of proto/README.md ("Validation").
 *
 * A message is two frames, [header, body]: the Envelope protobuf, then the payload.
 * Decoded, the body is attached to the envelope as `payload`.
 */
import { randomBytes } from 'node:crypto';
import { zmesh } from './gen/mesh.js';
import { MESH_RE, NODE_ID_RE, SERVICE_RE } from './names.js';
import type { DropReason } from './types.js';

const pb = zmesh.v1;
export const Kind = pb.Kind;
export type Kind = zmesh.v1.Kind;
/** A decoded header with its body frame attached. */
export type Envelope = zmesh.v1.Envelope & { payload: Uint8Array };
export type EnvelopeInit = zmesh.v1.IEnvelope;
export type Hello = zmesh.v1.Hello;
export type HelloInit = zmesh.v1.IHello;

export const PROTOCOL_VERSION = 1;
export const ID_BYTES = 16;
const MAX_ID_BYTES = 64;
export const MAX_SUBJECT_BYTES = 256;
/** Largest header frame; headers maps beyond this are refused before decoding. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Frames per envelope on the wire: header, body. */
export const FRAMES_PER_MESSAGE = 2;

/** Envelope header keys of the reliable class (proto/README.md sections 14 and 15). */
export const HEADER_STREAM = 'zmesh-stream';
export const HEADER_SEQ = 'zmesh-seq';
export const HEADER_PREV = 'zmesh-prev';
export const HEADER_ESTREAM = 'zmesh-estream';
export const HEADER_ESEQ = 'zmesh-eseq';
export const SYNC_TOPIC_PREFIX = '$sync/';

const KNOWN_KINDS = new Set<number>(Object.values(pb.Kind).filter((v): v is number => typeof v === 'number' && v !== 0));
const NEEDS_CORRELATION = new Set<number>([Kind.REPLY, Kind.WELCOME, Kind.PONG, Kind.ERROR]);
const NEEDS_TARGET = new Set<number>([Kind.REQUEST, Kind.COMMAND]);

/**
 * Issues message ids: an 8-byte random epoch chosen at start, then the 8-byte
 * big-endian seq. Unique per node for all time without coordination, and cheap: no
 * randomness per message.
 */
export class IdSource {
  private readonly epoch = randomBytes(8);
  private seq = 0;

  next(): { id: Buffer; seq: number } {
    const seq = ++this.seq;
    const id = Buffer.allocUnsafe(ID_BYTES);
    this.epoch.copy(id, 0);
    id.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), 8);
    id.writeUInt32BE(seq >>> 0, 12);
    return { id, seq };
  }
}

/** Map key for an id or correlation id. latin1 keeps one char per byte. */
export function idKey(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
}

/**
 * protobufjs decodes uint64 to a Long object whenever long.js is present, whatever
 * pbjs was told (--force-number only changes the typings). Our uint64 fields (seq,
 * times) stay far below 2^53, so they become plain numbers here, once, at the edge.
 */
function toNumber(v: number | { toNumber(): number }): number {
  return typeof v === 'number' ? v : v.toNumber();
}

export function encodeEnvelope(env: EnvelopeInit): Buffer {
  return pb.Envelope.encode(env).finish() as Buffer;
}

export type Decoded =
  | { ok: true; env: Envelope }
  | { ok: false; reason: DropReason; detail: string; env?: Envelope };

function fail(reason: DropReason, detail: string, env?: Envelope): Decoded {
  return env === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, env };
}

/**
 * Decodes and validates one message (header and body frames). Never throws: hostile
 * input is a value, not an exception. Once the header decodes, failures still return
 * the envelope, so that the caller can answer (VERSION_MISMATCH, MESSAGE_TOO_LARGE)
 * when the message expects a reply.
 */
export function decodeMessage(header: Uint8Array, body: Uint8Array, maxPayloadBytes: number): Decoded {
  // Size first: never hand an oversized frame to the decoder.
  if (header.byteLength > MAX_HEADER_BYTES) return fail('oversized', `header of ${header.byteLength} bytes > ${MAX_HEADER_BYTES}`);
  let env: Envelope;
  try {
    env = pb.Envelope.decode(header) as Envelope;
    env.seq = toNumber(env.seq);
    env.timestampMs = toNumber(env.timestampMs);
  } catch (err) {
    return fail('malformed', err instanceof Error ? err.message : 'undecodable');
  }
  env.payload = body;
  if (env.version === 0) return fail('invalid', 'missing version');
  if (env.version !== PROTOCOL_VERSION) return fail('versionMismatch', `version ${env.version}`, env);
  if (!KNOWN_KINDS.has(env.kind)) return fail('unknownKind', `kind ${env.kind}`, env);
  if (env.id.byteLength === 0 || env.id.byteLength > MAX_ID_BYTES) return fail('invalid', 'id must be 1..64 bytes', env);
  if (!NODE_ID_RE.test(env.senderNode)) return fail('invalid', 'bad sender_node', env);
  if (!SERVICE_RE.test(env.senderService)) return fail('invalid', 'bad sender_service', env);
  if (NEEDS_CORRELATION.has(env.kind) && env.correlationId.byteLength === 0) return fail('invalid', 'missing correlation_id', env);
  if (NEEDS_TARGET.has(env.kind) && (env.service === '' || env.subject === '')) return fail('invalid', 'missing service or subject', env);
  if (env.kind === Kind.EVENT && env.subject === '') return fail('invalid', 'event without topic', env);
  if (env.subject.length > MAX_SUBJECT_BYTES) return fail('invalid', 'subject too long', env);
  if (body.byteLength > maxPayloadBytes) return fail('oversized', `payload of ${body.byteLength} bytes > ${maxPayloadBytes}`, env);
  return { ok: true, env };
}

/**
 * Splits a multipart message into [header, body] pairs after `skip` leading frames
 * (identity or topic). Undefined when the count is wrong: no pair, an odd frame, or
 * more than `maxPairs`.
 */
export function pairsOf(frames: Buffer[], skip: number, maxPairs: number): number | undefined {
  const n = frames.length - skip;
  if (n < FRAMES_PER_MESSAGE || n % FRAMES_PER_MESSAGE !== 0 || n / FRAMES_PER_MESSAGE > maxPairs) return undefined;
  return n / FRAMES_PER_MESSAGE;
}

/**
 * Packed frames (proto/README.md section 2): on the XPUB -> SUB path, a run of small
 * events may travel as [topic, packed], where `packed` is every header and body of the
 * run, each preceded by its length as a 4-byte big-endian unsigned integer. Receiving
 * one frame costs about as much as receiving one small frame, so this takes the per-
 * frame cost of zeromq.js (a Buffer and a native call per frame) off each event.
 */
export const PACK_LENGTH_BYTES = 4;
/** Largest packed frame. Every zmesh receiver accepts frames of MAX_HEADER_BYTES
 *  whatever its payload limit, so a packed frame never trips a peer's ZMQ_MAXMSGSIZE. */
export const MAX_PACKED_BYTES = MAX_HEADER_BYTES;

/** Packs frames[from..to) ([h1, b1, ..., hn, bn]) into one frame. */
export function packPairs(frames: readonly Uint8Array[], from: number, to: number): Buffer {
  let size = 0;
  for (let i = from; i < to; i++) size += PACK_LENGTH_BYTES + frames[i]!.byteLength;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = from; i < to; i++) {
    const f = frames[i]!;
    out.writeUInt32BE(f.byteLength, at);
    out.set(f, at + PACK_LENGTH_BYTES);
    at += PACK_LENGTH_BYTES + f.byteLength;
  }
  return out;
}

/**
 * The parts of a packed frame, [h1, b1, ..., hn, bn], as views into it (no copy: an
 * event payload delivered from a packed frame keeps that frame alive while it is held).
 * Undefined unless the frame is exactly 1..maxPairs length-prefixed pairs.
 */
export function unpackPairs(frame: Buffer, maxPairs: number): Buffer[] | undefined {
  if (frame.byteLength > MAX_PACKED_BYTES) return undefined;
  const parts: Buffer[] = [];
  let at = 0;
  while (at < frame.byteLength) {
    if (frame.byteLength - at < PACK_LENGTH_BYTES || parts.length === maxPairs * FRAMES_PER_MESSAGE) return undefined;
    const length = frame.readUInt32BE(at);
    at += PACK_LENGTH_BYTES;
    if (length > frame.byteLength - at) return undefined;
    parts.push(frame.subarray(at, at + length));
    at += length;
  }
  return parts.length > 0 && parts.length % FRAMES_PER_MESSAGE === 0 ? parts : undefined;
}

export function encodeHello(h: HelloInit): Buffer {
  return pb.Hello.encode(h).finish() as Buffer;
}

/** Decodes a Hello payload; undefined when it is not one we can use. */
export function decodeHello(payload: Uint8Array): Hello | undefined {
  try {
    const h = pb.Hello.decode(payload);
    h.startedMs = toNumber(h.startedMs);
    if (!NODE_ID_RE.test(h.nodeId) || !SERVICE_RE.test(h.service) || !MESH_RE.test(h.mesh)) return undefined;
    if (h.routerPort > 65535 || h.pubPort === 0 || h.pubPort > 65535) return undefined;
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

/** Envelope headers as a plain record (protobufjs decodes maps to objects). */
export function headersOf(env: Envelope): Readonly<Record<string, string>> {
  return env.headers ?? {};
}
