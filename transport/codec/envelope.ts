/**
 * The envelope codec: frames <-> validated envelopes. This is the only module that
 * turns untrusted header frames into objects; everything above it sees envelopes that
 * passed `decodeMessage`. Rules are those of proto/README.md section 3 ("Validation").
 *
 * A message is two frames, [header, body]: the Envelope protobuf, then the payload.
 * Decoded, the body is attached to the envelope as `payload`.
 */
import { zmesh } from '../gen/mesh.js';
import { FRAMES_PER_MESSAGE, MAX_HEADER_BYTES, MAX_ID_BYTES, MAX_SUBJECT_BYTES } from '../limits.js';
import { NODE_ID_RE, SERVICE_RE, utf8Over } from '../names.js';
import type { DropReason } from '../types.js';
import { toNumber } from './numbers.js';
import { headerReader } from './reader.js';

const pb = zmesh.v1;
export const Kind = pb.Kind;
export type Kind = zmesh.v1.Kind;
/** A decoded header with its body frame attached. */
export type Envelope = zmesh.v1.Envelope & { payload: Uint8Array };
export type EnvelopeInit = zmesh.v1.IEnvelope;

export const PROTOCOL_VERSION = 1;
export const SYNC_TOPIC_PREFIX = '$sync/';

const KNOWN_KINDS = new Set<number>(Object.values(pb.Kind).filter((v): v is number => typeof v === 'number' && v !== 0));
/** Kind-specific required fields (proto/README.md section 3, table "Required by kind"). */
const NEEDS_CORRELATION = new Set<number>([Kind.REPLY, Kind.WELCOME, Kind.PONG, Kind.ERROR, Kind.ACK]);
const NEEDS_SERVICE = new Set<number>([Kind.REQUEST, Kind.COMMAND]);
const NEEDS_SUBJECT = new Set<number>([Kind.REQUEST, Kind.COMMAND, Kind.EVENT, Kind.SYNC]);

export function encodeEnvelope(env: EnvelopeInit): Buffer {
  return pb.Envelope.encode(env).finish() as Buffer;
}

export type Decoded =
  | { ok: true; env: Envelope }
  | { ok: false; reason: DropReason; detail: string; env?: Envelope };

function fail(reason: DropReason, detail: string, env?: Envelope): Decoded {
  return env === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, env };
}

// The byte-limit helper lives with the naming rules; it is re-exported here for the
// layers that already take it from the codec.
export { utf8Over };

/**
 * Decodes and validates one message (header and body frames). Never throws: hostile
 * input is a value, not an exception. Once the header decodes, failures still return
 * the envelope, so that the caller can answer (VERSION_MISMATCH, BAD_MESSAGE,
 * MESSAGE_TOO_LARGE) when the message expects a reply.
 */
export function decodeMessage(header: Uint8Array, body: Uint8Array, maxPayloadBytes: number): Decoded {
  // Size first: never hand an oversized frame to the decoder.
  if (header.byteLength > MAX_HEADER_BYTES) return fail('oversized', `header of ${header.byteLength} bytes > ${MAX_HEADER_BYTES}`);
  let env: Envelope;
  try {
    env = pb.Envelope.decode(headerReader(header)) as Envelope;
    env.seq = toNumber(env.seq);
    env.timestampMs = toNumber(env.timestampMs);
  } catch (err) {
    return fail('malformed', err instanceof Error ? err.message : 'undecodable');
  }
  env.payload = body;
  if (env.version === 0) return fail('invalid', 'missing version', env);
  if (env.version !== PROTOCOL_VERSION) return fail('versionMismatch', `version ${env.version}`, env);
  if (!KNOWN_KINDS.has(env.kind)) return fail('unknownKind', `kind ${env.kind}`, env);
  if (env.id.byteLength === 0 || env.id.byteLength > MAX_ID_BYTES) return fail('invalid', `id must be 1..${MAX_ID_BYTES} bytes`, env);
  if (!NODE_ID_RE.test(env.senderNode)) return fail('invalid', 'bad sender_node', env);
  if (!SERVICE_RE.test(env.senderService)) return fail('invalid', 'bad sender_service', env);
  if (NEEDS_CORRELATION.has(env.kind) && env.correlationId.byteLength === 0) return fail('invalid', 'missing correlation_id', env);
  if (NEEDS_SERVICE.has(env.kind) && env.service === '') return fail('invalid', 'missing service', env);
  if (NEEDS_SUBJECT.has(env.kind) && env.subject === '') return fail('invalid', 'missing subject', env);
  if (utf8Over(env.subject, MAX_SUBJECT_BYTES)) return fail('invalid', `subject over ${MAX_SUBJECT_BYTES} bytes`, env);
  if (body.byteLength > maxPayloadBytes) return fail('oversized', `payload of ${body.byteLength} bytes > ${maxPayloadBytes}`, env);
  return { ok: true, env };
}

/**
 * Splits a multipart message into [header, body] pairs after `skip` leading frames
 * (identity or topic). Undefined when the count is wrong: no pair, an odd frame, or
 * more than `maxPairs`.
 */
export function pairsOf(frames: readonly Uint8Array[], skip: number, maxPairs: number): number | undefined {
  const n = frames.length - skip;
  if (n < FRAMES_PER_MESSAGE || n % FRAMES_PER_MESSAGE !== 0 || n / FRAMES_PER_MESSAGE > maxPairs) return undefined;
  return n / FRAMES_PER_MESSAGE;
}

/** Envelope headers as a plain record (protobufjs decodes maps to objects). */
export function headersOf(env: Envelope): Readonly<Record<string, string>> {
  return env.headers ?? {};
}
