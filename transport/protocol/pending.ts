/**
 * Requests this node sent and is waiting on, keyed by message id. Every entry settles
 * exactly once: by a REPLY or ERROR, by its deadline, by the caller's AbortSignal, or
 * when its peer goes down or the node closes. All of its listeners and its timer are
 * released on that single exit path.
 */
import { AbortedError, TimeoutError, type ZmeshError } from '../errors.js';
import { idKey } from '../codec/ids.js';
import type { Counters } from '../stats.js';

interface Entry {
  resolve(payload: Uint8Array): void;
  reject(err: ZmeshError): void;
  /** The peer the request went to, for PEER_DOWN and least-outstanding balancing. */
  peerId: string;
}

export interface AddOptions {
  peerId: string;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  service: string;
  method: string;
  /** Called once when the entry settles, however it settles. */
  onSettle?: () => void;
  /** Membership traffic of the peers layer (`$members`): like heartbeats, not counted
   *  in stats().requests, not told to the observer and not part of the peer's
   *  outstanding requests (the balancer's measure of its load). */
  internal?: boolean;
}

export class PendingRequests {
  private readonly entries = new Map<string, Entry>();
  /** Entries per peer: the balancer's "least outstanding" and PeerInfo.outstanding. */
  private readonly perPeer = new Map<string, number>();

  constructor(
    private readonly counters: Counters,
    /** Told of every settlement (NodeObserver.requestSettled). */
    private readonly settled?: (service: string, method: string, durationMs: number, outcome: string) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Requests (and reliable commands) sent to `peerId` and not yet settled. */
  inFlightTo(peerId: string): number {
    return this.perPeer.get(peerId) ?? 0;
  }

  /** Registers a request before it is sent. The returned promise settles exactly once. */
  add(id: Uint8Array, o: AddOptions): Promise<Uint8Array> {
    const key = idKey(id);
    const counted = o.internal !== true;
    // Internal requests count into a scratch record nobody reads.
    const c = counted ? this.counters.requests : { sent: 0, answered: 0, failed: 0, timedOut: 0, inFlight: 0 };
    const what = `${o.service}.${o.method}`;
    const startedMs = this.settled === undefined ? 0 : performance.now();
    const report = (outcome: string): void => {
      if (this.settled !== undefined && counted) this.settled(o.service, o.method, performance.now() - startedMs, outcome);
    };
    return new Promise<Uint8Array>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        entry.reject(new AbortedError(`${what} aborted`, { cause: o.signal?.reason }));
      };
      const done = (): boolean => {
        if (!this.entries.delete(key)) return false;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        c.inFlight--;
        if (counted) {
          const left = this.inFlightTo(o.peerId) - 1;
          if (left === 0) this.perPeer.delete(o.peerId);
          else this.perPeer.set(o.peerId, left);
        }
        o.onSettle?.();
        return true;
      };
      const entry: Entry = {
        peerId: o.peerId,
        resolve: (payload) => {
          if (!done()) return;
          c.answered++;
          report('ok');
          resolve(payload);
        },
        reject: (err) => {
          if (!done()) return;
          if (err instanceof TimeoutError) c.timedOut++;
          else c.failed++;
          report(err.code);
          reject(err);
        },
      };
      this.entries.set(key, entry);
      if (counted) this.perPeer.set(o.peerId, this.inFlightTo(o.peerId) + 1);
      c.sent++;
      c.inFlight++;
      timer = setTimeout(() => entry.reject(new TimeoutError(`${what} got no reply within ${o.timeoutMs} ms`)), o.timeoutMs);
      o.signal?.addEventListener('abort', onAbort);
    });
  }

  /** Settles the request `correlationId` answers. False when none is waiting (late or foreign). */
  resolve(correlationId: Uint8Array, payload: Uint8Array): boolean {
    const e = this.entries.get(idKey(correlationId));
    if (e === undefined) return false;
    e.resolve(payload);
    return true;
  }

  /** Like resolve(), but only a request that went to `peerId`. */
  resolveFrom(peerId: string, correlationId: Uint8Array, payload: Uint8Array): boolean {
    const e = this.entries.get(idKey(correlationId));
    if (e === undefined || e.peerId !== peerId) return false;
    e.resolve(payload);
    return true;
  }

  reject(correlationId: Uint8Array, err: ZmeshError): boolean {
    const e = this.entries.get(idKey(correlationId));
    if (e === undefined) return false;
    e.reject(err);
    return true;
  }

  /** Fails every request that went to `peerId`; returns how many. */
  rejectPeer(peerId: string, err: () => ZmeshError): number {
    let n = 0;
    for (const e of [...this.entries.values()]) {
      if (e.peerId === peerId) {
        e.reject(err());
        n++;
      }
    }
    return n;
  }

  rejectAll(err: () => ZmeshError): void {
    for (const e of [...this.entries.values()]) e.reject(err());
  }
}
