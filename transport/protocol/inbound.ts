/**
 * protocol/: what envelopes mean between two nodes. The envelope builder, the one
 * inbound decode helper every read loop uses, the request server (ROUTER side), the
 * request client and its reply routing (DEALER side), and the pending-request table.
 * It knows nothing of peers, subscriptions or stores: it is handed places to send to.
 * May import: codec/, socket/, foundation modules.
 *
 * This file: frames -> validated envelopes, for the ROUTER, every DEALER and the SUB.
 * A frame count that is wrong drops the whole ZeroMQ message; each pair is then
 * decoded on its own, so one bad message never costs its neighbours.
 */
import { decodeMessage, pairsOf, type Envelope } from '../codec/envelope.js';
import { MAX_BATCH_MESSAGES } from '../limits.js';
import type { Counters } from '../stats.js';
import type { DropReason } from '../types.js';
import type { DropFn } from './drops.js';

/** What decoding needs from the node. */
export interface InboundParts {
  maxPayloadBytes: number;
  counters: Counters;
  drop: DropFn;
}

/** A message that failed validation but whose header decoded: the caller may answer. */
export interface Rejected {
  reason: DropReason;
  detail: string;
  env: Envelope;
  body: Uint8Array;
}

export type Inbound = (
  frames: readonly Buffer[],
  skip: number,
  /** Who sent these frames when the envelope does not say: identity, endpoint, socket. */
  from: string,
  /** A valid envelope, with the header frame it came in (a MAC covers its bytes). */
  onEnvelope: (env: Envelope, header: Buffer) => void,
  onRejected?: (r: Rejected) => void,
) => void;

export function inbound(p: InboundParts): Inbound {
  return (frames, skip, from, onEnvelope, onRejected) => {
    if (pairsOf(frames, skip, MAX_BATCH_MESSAGES) === undefined) {
      p.drop('badFrames', `${frames.length - skip} frames`, from);
      return;
    }
    for (let i = skip; i < frames.length; i += 2) {
      const header = frames[i]!;
      const body = frames[i + 1]!;
      const decoded = decodeMessage(header, body, p.maxPayloadBytes);
      if (!decoded.ok) {
        p.drop(decoded.reason, decoded.detail, decoded.env?.senderNode || from);
        if (decoded.env !== undefined) onRejected?.({ reason: decoded.reason, detail: decoded.detail, env: decoded.env, body });
        continue;
      }
      p.counters.received++;
      // Kinds past the array (unknown ones were dropped above) just go uncounted.
      if (decoded.env.kind < p.counters.receivedByKind.length) p.counters.receivedByKind[decoded.env.kind]!++;
      onEnvelope(decoded.env, header);
    }
  };
}
