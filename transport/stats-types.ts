/**
 * What a node reports about itself: `node.stats()` and `node.reliableStats()`. Plain
 * data, copied out of the counters (stats.ts), so no caller holds a live reference.
 */

export type DropReason =
  | 'badFrames'
  | 'oversized'
  | 'malformed'
  | 'invalid'
  | 'unknownKind'
  | 'versionMismatch'
  | 'unexpected'
  | 'foreignMesh'
  | 'lateReply'
  /** A message whose sender_node is not the node its connection or MAC proves. */
  | 'senderMismatch'
  /** The authenticated sender has no right to this message (its certificate). */
  | 'forbidden';

export interface NodeStats {
  /** Envelopes handed to sockets, by direction. */
  sent: number;
  /** ZeroMQ messages those envelopes left in; sent / batches is the coalescing factor. */
  batches: number;
  received: number;
  /** Inbound frames dropped, by reason. */
  dropped: Record<DropReason, number>;
  /** Batches that a socket failed to send (peer gone, socket closed). */
  sendErrors: number;
  requests: { sent: number; answered: number; failed: number; timedOut: number; inFlight: number };
  handled: { ok: number; failed: number; running: number };
  /** `lost`: reliable events this node's durable and catch-up subscriptions moved
   *  past because their publisher's log cannot read them (proto/README.md 15.2). */
  events: { published: number; delivered: number; lost: number };
  /** What the node refused or rebuilt to stay within its bounds (transport/bounds.ts,
   *  proto/README.md section 10). */
  bounds: BoundsStats;
  /** Per discovery source, its own counters (e.g. mDNS records accepted and ignored). */
  discovery: Record<string, unknown>;
  /** Envelopes by kind (lower-case protocol kind: "request", "reply", "event", "ping",
   *  ...): built for sending, and received valid (dropped ones are in `dropped`). */
  messages: { sent: Record<string, number>; received: Record<string, number> };
  /** Peer candidates proposed to the peer table, by where they came from ("static",
   *  "mdns", "dns", "hello", "member", or a source's own name). */
  candidates: Record<string, number>;
  /** Messages waiting in send queues now: the ROUTER's (replies), the PUB's (events)
   *  and all peer links' DEALERs (requests, commands, heartbeats) together. */
  queued: { router: number; publisher: number; links: number };
}

export interface BoundsStats {
  /** Candidates from hellos or discovery refused: too many links pending already. */
  candidatesRefused: number;
  /** Links from hellos or discovery dropped for not coming up in time. */
  pendingExpired: number;
  /** Entries of peers' `$members` answers not proposed: malformed, past the 64 read
   *  from one answer, or past the pending links one peer's list may hold. */
  membersIgnored: number;
  /** Times a link's DEALER could not be opened (e.g. out of descriptors); retried. */
  linkOpenFailures: number;
  /** Subscriptions past the XPUB's bounds, and rebuilds of the XPUB they caused. */
  subscriptionFloods: number;
  publisherRebuilds: number;
  /** SUB connections to a publisher found dead and opened again (then resynced). */
  subscriberRebuilds: number;
  /** `$replay` requests refused for their asker's rate. */
  replaysLimited: number;
  /** Durable-subscriber names refused (too many) and forgotten (silent too long). */
  durableNamesRefused: number;
  durableNamesExpired: number;
  /** Requests refused because their caller had too many running already. */
  callerBusy: number;
  /** Messages not sent because the peer said it takes smaller payloads (the caller
   *  got MESSAGE_TOO_LARGE). */
  tooLargeForPeer: number;
}

export interface ReliableStats {
  pending: number;
  commits: number;
  ackCommits: number;
  eventCommits: number;
  /** Deliveries that receivers held because their store was full (STORE_FULL answers);
   *  none of them counted as an attempt. */
  held: number;
  /** Writes applied in shared transactions (write-batch.ts): reliable commands this
   *  node received, and commit() blocks. */
  batches: BatchStats;
  /** This node's own store. */
  store: StoreStats;
  /** Age in ms of the oldest command in the outbox (0 when it is empty). */
  oldestPendingMs: number;
  /** Deliveries of reliable commands that failed and will be sent again (refused,
   *  unanswered, no live instance, held by a full receiver), since start. */
  retries: number;
  /** Commands moved to the dead letters since start. */
  deadLettered: number;
  /** Reliable commands this node received whose handler ran and committed (not
   *  duplicates), since start. */
  applied: number;
  /** `$replay` requests: answered for others (served) and sent by this node's durable
   *  subscriptions (requested), since start. */
  replays: { served: number; requested: number };
  /** Durable subscriptions by topic prefix: events behind the publishers' heads (the
   *  highest seq seen from each publisher stream, minus the last applied), summed. */
  durableLag: Record<string, number>;
}

export interface BatchStats {
  /** Transactions that committed a batch. */
  transactions: number;
  /** Writes in those transactions that took effect (a duplicate command counts: it
   *  was acknowledged). */
  writes: number;
  /** Writes refused inside a batch (a handler threw, out of order, ...). */
  refused: number;
  /** The most writes one transaction held so far. */
  largest: number;
  /** Milliseconds spent in batch transactions, commit included. */
  ms: number;
}

export interface StoreStats {
  /** The last write failed for want of disk space, and none has committed since: the
   *  node's reliable deliveries are held (warned at warn level while it lasts). */
  diskFull: boolean;
  /** Writes that failed for want of disk space since the store was opened. */
  diskFullErrors: number;
}

/** One node's periodic summary, as `watchSummaries` delivers it (proto/observe.proto,
 *  proto/README.md section 18). Rates cover the `intervalMs` before `sentMs`. */
export interface NodeSummary {
  nodeId: string;
  service: string;
  mesh: string;
  /** The sender's zmesh version. */
  version: string;
  /** "running", or "closing" in its last summary. */
  state: string;
  uptimeMs: number;
  intervalMs: number;
  /** Requests and commands (both classes) its handlers settled, per second. */
  requestsInPerS: number;
  /** Requests and commands it sent, per second. */
  requestsOutPerS: number;
  /** Duration percentiles of the requests and unreliable commands handled in the
   *  interval, ms (0: none settled). */
  handlerP50Ms: number;
  handlerP99Ms: number;
  /** Of those handled, the ones that failed, per second. */
  errorsPerS: number;
  /** Handlers running when it was made. */
  inFlight: number;
  outboxDepth: number;
  deadLetters: number;
  /** Events its slowest durable subscriber is behind its event log's head. */
  durableLag: number;
  /** Inbound frames dropped since start, all reasons. */
  dropsTotal: number;
  rssBytes: number;
  eventLoopP99Ms: number;
  peersUp: number;
  /** Unix ms, the sender's clock. */
  sentMs: number;
  /** Reliable events its subscriptions moved past since start: damaged at their
   *  publisher (proto/README.md section 15.2). 0 from a node that predates the field. */
  eventsLost: number;
}
