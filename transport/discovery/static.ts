/**
 * Static discovery: a fixed list of ROUTER endpoints, for networks without multicast.
 *
 * Each configured endpoint is proposed once, as persistent: the peer table keeps
 * retrying it for as long as the node runs, so there is nothing to re-propose and
 * nothing ever to withdraw (a configured peer stays configured, even while down).
 *
 * May import only ../errors.js, ../names.js and ../types.js.
 */
import { AbortedError, ClosedError, InvalidArgumentError } from '../errors.js';
import { parsePeer } from '../names.js';
import type { Discovery, DiscoverySink, LocalNode } from '../types.js';

export interface StaticOptions {
  /** ROUTER endpoints such as "tcp://10.0.0.7:5555" (no wildcard host, port 1..65535),
   *  each optionally with "#<public key, 64 hex>" for a secure node. */
  peers: string[];
}

export interface StaticDiscovery extends Discovery {
  /** Candidates handed to the sink since creation. */
  stats(): { proposed: number };
}

/** Throws INVALID_ARGUMENT naming the first endpoint that is not tcp://HOST:PORT. */
export function staticDiscovery(options: StaticOptions): StaticDiscovery {
  // Parsed (and so copied) now: a caller mutating its array later changes nothing.
  const peers = options.peers.map((p) => {
    const peer = parsePeer(p);
    if (peer === undefined) {
      throw new InvalidArgumentError(`static peer ${JSON.stringify(p)} is not a ROUTER endpoint tcp://HOST:PORT (port 1..65535, no wildcard host), optionally followed by #<its public key in 64 hex characters>`);
    }
    return peer;
  });
  let proposed = 0;
  let closed = false;

  return {
    // `local` is unused: a static list advertises nothing, and a list naming this
    // node itself is harmless (the hello handshake recognises its own id).
    async start(_local: LocalNode | undefined, sink: DiscoverySink, signal: AbortSignal): Promise<void> {
      if (closed) throw new ClosedError('static discovery is closed');
      if (signal.aborted) throw new AbortedError('static discovery start aborted', { cause: signal.reason });
      for (const { endpoint, publicKey } of peers) {
        sink.propose({ endpoints: [endpoint], source: 'static', persistent: true, ...(publicKey === undefined ? {} : { publicKey }) });
        proposed++;
      }
    },
    // Holds no sockets or timers; closing only refuses later starts.
    async close(): Promise<void> {
      closed = true;
    },
    stats: () => ({ proposed }),
  };
}
