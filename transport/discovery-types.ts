/**
 * The discovery seam: what a source of peer candidates implements (mDNS, the static
 * list, or a user's own) and what it is handed. Sources only propose; the peer table
 * decides (peers/peer-table.ts).
 */

/** "dns": DNS-SD over unicast DNS (the `dns` option), with the static peers if any;
 *  no mDNS. */
export type DiscoveryMode = 'mdns' | 'static' | 'both' | 'dns';

/** What a discovery source may advertise about the local node. */
export interface LocalNode {
  nodeId: string;
  service: string;
  mesh: string;
  routerPort: number;
  pubPort: number;
  protocolVersion: number;
  /** A secure node's CURVE public key, 64 hex characters (mDNS and DNS-SD TXT `key`). */
  publicKey?: string;
}

/** A source of peer candidates. Implementations: mDNS; the static list is built in. */
export interface Discovery {
  /** Starts advertising `local` (when given) and proposing candidates; resolves when
   *  the source is running, rejects with a clear error when it cannot start. */
  start(local: LocalNode | undefined, sink: DiscoverySink, signal: AbortSignal): Promise<void>;
  /** Stops the source (saying goodbye where the protocol has one) and releases its
   *  sockets and timers. Idempotent. */
  close(): Promise<void>;
  /** Counters for node.stats(). */
  stats?(): unknown;
}

export interface Candidate {
  /** ROUTER endpoints to try, best first, e.g. "tcp://10.0.0.7:5555". */
  endpoints: string[];
  /** Node id when the source knows it (mDNS does); used to skip known peers. */
  nodeId?: string;
  /** Where the candidate came from, for logs and `zmesh peers`. */
  source: string;
  /** Keep a link to it and retry for as long as the node runs, even while it is
   *  down (a configured peer). Otherwise the link is dropped when the peer goes down
   *  and the source proposes it again when it sees it. Default false. */
  persistent?: boolean;
  /** The node's CURVE public key, 64 hex characters, when the source knows it (mDNS TXT
   *  `key`, a static peer's `#<key>`, a hello). A secure node ignores candidates
   *  without one: it could not authenticate the connection. */
  publicKey?: string;
}

export interface DiscoverySink {
  /** A candidate appeared or changed its endpoints. */
  propose(candidate: Candidate): void;
  /** A candidate withdrew (goodbye or expiry). Liveness still decides "down". */
  withdraw(candidate: Candidate): void;
}
