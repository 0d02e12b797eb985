/**
 * The scrape-time metrics: each read from one node snapshot (stats(), reliableStats(),
 * peers()) taken once per scrape. Nothing here runs between scrapes.
 */
import type { NodeStats, PeerInfo, ReliableStats } from '../types.js';
import type { ScrapedName } from './instruments.js';

/** One node as one scrape sees it. */
export interface Snapshot {
  service: string;
  stats: NodeStats;
  reliable: ReliableStats | undefined;
  peers: PeerInfo[];
}

export type Add = (labels: Record<string, string>, value: number) => void;
/** Folds a network-supplied peer service name (labels.ts). */
export type Fold = (peerService: string) => string;
type Fill = (s: Snapshot, add: Add, fold: Fold) => void;

const each = (record: Record<string, number>, label: string, service: string, add: Add): void => {
  for (const [k, v] of Object.entries(record)) add({ service, [label]: k }, v);
};

/** Only with a store: without one, the reliable metrics are absent rather than 0. */
const reliable = (f: (r: ReliableStats, service: string, add: Add) => void): Fill => (s, add) => {
  if (s.reliable !== undefined) f(s.reliable, s.service, add);
};

const one = (f: (st: NodeStats) => number): Fill => (s, add) => add({ service: s.service }, f(s.stats));

export const FILLS: Record<Exclude<ScrapedName, 'elu'>, Fill> = {
  sent: (s, add) => each(s.stats.messages.sent, 'kind', s.service, add),
  received: (s, add) => each(s.stats.messages.received, 'kind', s.service, add),
  dropped: (s, add) => each(s.stats.dropped, 'reason', s.service, add),
  batches: one((st) => st.batches),
  sendErrors: one((st) => st.sendErrors),
  requestsInFlight: one((st) => st.requests.inFlight),
  handlersInFlight: one((st) => st.handled.running),
  published: one((st) => st.events.published),
  delivered: one((st) => st.events.delivered),
  lost: one((st) => st.events.lost),
  bounds: (s, add) => each(s.stats.bounds as unknown as Record<string, number>, 'reason', s.service, add),
  peers: (s, add, fold) => {
    for (const p of s.peers) add({ service: s.service, peer_service: fold(p.service), state: p.state }, 1);
  },
  rtt: (s, add, fold) => {
    const sums = new Map<string, { ms: number; n: number }>();
    for (const p of s.peers) {
      if (p.state !== 'up' || p.rttMs === undefined) continue;
      const key = fold(p.service);
      const t = sums.get(key) ?? { ms: 0, n: 0 };
      t.ms += p.rttMs;
      t.n++;
      sums.set(key, t);
    }
    for (const [peer, t] of sums) add({ service: s.service, peer_service: peer }, t.ms / t.n / 1_000);
  },
  sendQueue: (s, add) => each(s.stats.queued, 'queue', s.service, add),
  candidates: (s, add) => each(s.stats.candidates, 'source', s.service, add),
  outbox: reliable((r, service, add) => add({ service }, r.pending)),
  outboxAge: reliable((r, service, add) => add({ service }, r.oldestPendingMs / 1_000)),
  retries: reliable((r, service, add) => add({ service }, r.retries)),
  deadLetters: reliable((r, service, add) => add({ service }, r.deadLettered)),
  applied: reliable((r, service, add) => add({ service }, r.applied)),
  held: reliable((r, service, add) => add({ service }, r.held)),
  diskFull: reliable((r, service, add) => add({ service }, r.store.diskFull ? 1 : 0)),
  durableLag: reliable((r, service, add) => each(r.durableLag, 'prefix', service, add)),
  replays: reliable((r, service, add) => {
    add({ service, role: 'served' }, r.replays.served);
    add({ service, role: 'requested' }, r.replays.requested);
  }),
};
