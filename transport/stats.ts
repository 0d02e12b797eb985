/**
 * Node counters. Plain numbers incremented on the hot path; `snapshot()` copies them
 * for callers (and, later, a metrics exporter) so nobody holds a live reference.
 */
import type { BoundsStats, DropReason, NodeStats } from './types.js';

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
  readonly events = { published: 0, delivered: 0 };
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
    };
  }
}
