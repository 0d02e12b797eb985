/**
 * What any one peer can make a node spend (proto/README.md section 10). These are not
 * facts of the protocol (limits.ts has those): they are this implementation's
 * ceilings, chosen so that a buggy or compromised member, or a flood of hellos or
 * records, costs a bounded amount of memory, descriptors and time. Past a bound the
 * node drops, counts (stats().bounds), logs at most once per interval, and keeps
 * serving everyone else.
 */

/** Links that are not up yet and came from hellos or discovery (static peers are the
 *  operator's and do not count). Each holds a DEALER, so a descriptor. */
export const MAX_PENDING_LINKS = 64;
/** A link from a hello or a record that got no answer at all in this long is dropped;
 *  the next hello or record proposes it again. */
export const PENDING_LINK_TTL_MS = 30_000;
/** Peer exchange (`$members`, proto/README.md section 5.1): entries a node lists in
 *  one answer and reads from one, and endpoints it keeps per entry. */
export const MAX_MEMBERS_LISTED = 64;
export const MAX_MEMBER_ENDPOINTS = 4;
/** Pending links that the members one peer listed may hold at once, within
 *  MAX_PENDING_LINKS: a peer that lists thousands of made-up members gets this many
 *  dialled at a time (each dropped after PENDING_LINK_TTL_MS), and leaves room for
 *  what everyone else proposes. */
export const MAX_PENDING_PER_INFORMANT = 8;
/** How often a node asks each peer that lists members for its members again. It
 *  also asks as soon as the peer is up, and once more MEMBERS_SECOND_ASK_MS later. */
export const MEMBERS_REFRESH_MS = 5_000;
export const MEMBERS_SECOND_ASK_MS = 1_000;

/** DNS-SD (discovery/dns.ts): instances one browse looks at, and addresses kept per
 *  SRV target. A zone that lists more is read in part (`ignored.overLimit`). */
export const MAX_DNS_INSTANCES = 256;
export const MAX_DNS_ADDRESSES = 4;

/** First wait before opening a link's DEALER again after opening it failed (for
 *  example EMFILE); doubles up to the socket's reconnect maximum. */
export const LINK_REOPEN_MIN_MS = 100;

/** Distinct subscriptions one XPUB holds, all subscribers together (ZeroMQ does not
 *  tell which connection sent one). Past it the publisher closes its socket, with the
 *  flood's memory, and binds a new one: every subscriber reconnects and subscribes
 *  again. Each is at most MAX_SUBSCRIPTION_FRAME_BYTES, so this also bounds their
 *  bytes (2 MiB). A mesh whose subscribers need more distinct prefixes at one
 *  publisher than this is not what zmesh is built for. */
export const MAX_SUBSCRIPTIONS = 4_096;
/** Largest subscription frame an XPUB reads (0x00/0x01, then the prefix): a topic of
 *  256 bytes or a sync topic ("$sync/" + node id of at most 64 bytes + "/" + token of
 *  at most 64). libzmq drops the connection of a peer that sends a bigger frame. */
export const MAX_SUBSCRIPTION_FRAME_BYTES = 1 + 512;
/** How long a closed XPUB stays closed before a new one is bound: doubling, while
 *  floods follow each other, from the first to the second. */
export const PUB_REBIND_MIN_MS = 100;
export const PUB_REBIND_MAX_MS = 30_000;

/** A SUB that reported a disconnect, and neither reconnected nor retried in this
 *  long, was given up by libzmq (after a protocol error it does not reconnect): it is
 *  replaced by a new socket. */
export const SUB_REBUILD_AFTER_MS = 2_000;

/** `$replay`: bytes of events in one answer (its event count is MAX_REPLAY_EVENTS),
 *  and bytes of answers per second per asker, with a burst. Each answer costs at least
 *  REPLAY_MIN_COST_BYTES, so that a flood of empty ones is bounded too. A catching-up
 *  subscriber gets its backlog at this rate; one that polls idle costs almost nothing. */
export const MAX_REPLAY_BYTES = 256 * 1024;
export const REPLAY_BYTES_PER_SECOND = 8 * 1024 * 1024;
export const REPLAY_BURST_BYTES = 2 * 1024 * 1024;
export const REPLAY_MIN_COST_BYTES = 4 * 1024;
/** `$replay`: log rows one answer looks at, for an asker that continues from where the
 *  answer says it stopped (ReplayRequest.bounded_scan). Without it, an asker whose
 *  prefix matches nothing made every poll read the whole log (up to 1 000 000 rows):
 *  10 000 rows cost about 2 ms. */
export const MAX_REPLAY_SCAN_ROWS = 10_000;
/** Askers whose replay budget is remembered; the least recent are forgotten. */
export const MAX_REPLAY_ASKERS = 4_096;

/** Durable-subscriber names a publisher keeps acknowledgements for: per asker (its key
 *  fingerprint in a secure mesh; everyone shares one scope otherwise) and in all. An
 *  acknowledgement for a new name past either is ignored. Names silent for longer than
 *  the log's retention age are forgotten and stop holding pruning back. */
export const MAX_DURABLE_NAMES_PER_ASKER = 32;
export const MAX_DURABLE_NAMES = 1_024;

/** Requests one caller may have running in our handlers at once; more get ERROR
 *  QUEUE_FULL (retryable). */
export const MAX_IN_FLIGHT_PER_CALLER = 1_024;
/** Callers whose limits (from their hellos) a ROUTER remembers. */
export const MAX_KNOWN_CALLERS = 4_096;
