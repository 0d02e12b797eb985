/**
 * Node counters. Plain numbers incremented on the hot path; `snapshot()` copies them
 * for callers (and, later, a metrics exporter) so nobody holds a live reference.
 */
import { zmesh } from './gen/mesh.js';
import type { BoundsStats, DropReason, NodeStats } from './types.js';

/** Protocol kinds by number, lower case ("request", "pong"); index 0 is unused. */
const KINDS = zmesh.v1.Kind as unknown as Record<number, string | undefined>;
const KIND_SLOTS = 32;

/** Counts by kind number (one array slot each: no lookup on the hot path), copied
 *  out by name; kinds never seen are left out. */
function byKind(counts: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let k = 1; k < counts.length; k++) {
    if (counts[k]! > 0) out[(KINDS[k] ?? `kind${k}`).toLowerCase()] = counts[k]!;
  }
  return out;
}

export const DROP_REASONS: readonly DropReason[] = [
  'badFrames', 'oversized', 'malformed', 'invalid', 'unknownKind', 'versionMismatch', 'unexpected', 'foreignMesh', 'lateReply',
  'senderMismatch', 'forbidden',
];

export class Counters {
  sent = 0;
  batches = 0;
  received = 0;
  sendErrors = 0;
  readonly dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  readonly requests = { sent: 0, answered: 0, failed: 0, timedOut: 0, inFlight: 0 };
  readonly handled = { ok: 0, failed: 0, running: 0 };
  readonly events = { published: 0, delivered: 0, lost: 0 };
  /** Envelopes by kind number: built for sending, received valid. A kind outside the
   *  array is not counted (the protocol has 17). */
  readonly sentByKind: number[] = new Array<number>(KIND_SLOTS).fill(0);
  readonly receivedByKind: number[] = new Array<number>(KIND_SLOTS).fill(0);
  /** Peer candidates by source. */
  readonly candidates: Record<string, number> = {};
  readonly bounds: BoundsStats = {
    candidatesRefused: 0, pendingExpired: 0, membersIgnored: 0, linkOpenFailures: 0, subscriptionFloods: 0, publisherRebuilds: 0, subscriberRebuilds: 0,
    replaysLimited: 0, durableNamesRefused: 0, durableNamesExpired: 0, callerBusy: 0, tooLargeForPeer: 0,
  };

  snapshot(): NodeStats {
    return {
      sent: this.sent,
      batches: this.batches,
      received: this.received,
      dropped: { ...this.dropped },
      sendErrors: this.sendErrors,
      requests: { ...this.requests },
      handled: { ...this.handled },
      events: { ...this.events },
      bounds: { ...this.bounds },
      discovery: {},
      messages: { sent: byKind(this.sentByKind), received: byKind(this.receivedByKind) },
      candidates: { ...this.candidates },
      queued: { router: 0, publisher: 0, links: 0 },
    };
  }
}
