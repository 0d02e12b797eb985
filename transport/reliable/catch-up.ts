/**
 * Catch-up for a plain (non-durable) subscription: `subscribe(prefix, fn, { catchUp:
 * true })`. Live PUB/SUB loses what a publisher sends while the subscriber is not
 * connected to it: a publisher that restarts publishes its first events before the
 * subscriber has reconnected and synced (the issue's `zmesh watch`, which saw
 * order.confirmed but not the order.placed 33 ms before it). Reliable events are in
 * the publisher's event log, so they can be fetched again.
 *
 * No store: the position per publisher stream (its store id) is held in memory, from
 * the first reliable event heard from that stream. So it covers publishers this
 * subscription has heard from; the events of a publisher it never heard from before
 * it came up are not fetched (that would mean reading its whole retained log).
 *
 * Decision table, per stream:
 *   its publisher goes down           -> hold its live events (a buffer) from now on
 *   its publisher comes up again      -> `$replay` from the position, deliver what
 *                                        is newer, in order; then the held events
 *   a live event names a predecessor   -> the same catch-up at once (zmesh-eprev:
 *     of our prefix that we never had     something of ours was lost while connected)
 *   a live event at or below the       -> a duplicate (replayed already): dropped
 *     position
 *   a replayed event is damaged (its   -> reported lost (lost.ts) and passed:
 *     publisher cannot read it)           nobody can ever deliver it
 *   a replay fails (the publisher has  -> deliver what is held and go on live: a
 *     no log, left again, refused)        catch-up is best effort, never a stall
 * Fast-class events carry no stream and are delivered as they come.
 *
 * May import: codec/, reliable/control (the `$replay` client side), types.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { ReplayReply, ReplayRequest } from '../codec/control.js';
import { HEADER_EPREV, HEADER_ESEQ, HEADER_ESTREAM, eventPrevFor, parseDecimal } from '../codec/stream-headers.js';
import type { EventListener, MeshEvent } from '../types.js';
import { MAX_REPLAY_EVENTS, reachOf } from './control.js';
import type { ReportLost } from './lost.js';

/** Live events held per stream while it catches up; beyond, the oldest are dropped
 *  (they are in the publisher's log, and the next catch-up fetches them). */
export const MAX_HELD_EVENTS = 10_000;
/** Pages one catch-up may ask for: a publisher that logs faster than we read does
 *  not keep it running for good. */
export const MAX_CATCH_UP_PAGES = 100;

export interface CatchUpParts {
  prefix: string;
  deliver: EventListener;
  /** `$replay` to one node (reliable/control.ts requestReplay). */
  replay(nodeId: string, request: Omit<ReplayRequest, 'maxBytes'>): Promise<ReplayReply>;
  /** An event its publisher reported damaged: delivered to nobody (lost.ts). */
  lost: ReportLost;
  log: Logger;
}

interface Stream {
  id: string;
  /** The last seq delivered (or known to hold nothing of our prefix). */
  last: number;
  publisher: string;
  service: string;
  holding: boolean;
  held: MeshEvent[];
  running: boolean;
}

export class CatchUp {
  private readonly streams = new Map<string, Stream>();
  private closed = false;

  constructor(private readonly d: CatchUpParts) {}

  /** The listener to subscribe with. */
  readonly onEvent = (e: MeshEvent): void => {
    if (this.closed) return;
    const id = e.headers[HEADER_ESTREAM];
    const seq = parseDecimal(e.headers[HEADER_ESEQ]);
    if (id === undefined || seq === undefined) return this.d.deliver(e);
    let s = this.streams.get(id);
    if (s === undefined) {
      this.streams.set(id, s = { id, last: seq, publisher: e.sender.node, service: e.sender.service, holding: false, held: [], running: false });
      return this.d.deliver(e);
    }
    s.publisher = e.sender.node;
    if (seq <= s.last) return;
    if (s.holding) return this.hold(s, e);
    const prev = eventPrevFor(e.headers[HEADER_EPREV], this.d.prefix, seq);
    if (prev !== undefined && prev > s.last) {
      // Lost on the way while connected: fetch the gap first, this one after it.
      this.hold(s, e);
      void this.catchUp(s);
      return;
    }
    s.last = seq;
    this.d.deliver(e);
  };

  /** A peer went down: hold its streams' live events until it is back. */
  publisherDown(nodeId: string): void {
    for (const s of this.streams.values()) if (s.publisher === nodeId) s.holding = true;
  }

  /** A peer is up: catch up on its streams (a restarted node may come back under
   *  another id, as the same service, with the same store and so the same stream). */
  publisherUp(nodeId: string, service: string): void {
    for (const s of this.streams.values()) {
      if (s.publisher === nodeId || (s.holding && s.service === service)) {
        s.publisher = nodeId;
        s.holding = true;
        void this.catchUp(s);
      }
    }
  }

  close(): void {
    this.closed = true;
    this.streams.clear();
  }

  private hold(s: Stream, e: MeshEvent): void {
    s.held.push(e);
    if (s.held.length > MAX_HELD_EVENTS) s.held.shift();
  }

  private async catchUp(s: Stream): Promise<void> {
    if (s.running) return;
    s.running = true;
    s.holding = true;
    try {
      for (let page = 0; page < MAX_CATCH_UP_PAGES && !this.closed; page++) {
        const from = s.last;
        const reply = await this.d.replay(s.publisher, { known: { [s.id]: from }, prefix: this.d.prefix, max: MAX_REPLAY_EVENTS, subscriber: '', boundedScan: true, takesDamaged: true });
        if (this.closed || reply.stream !== s.id) break;
        for (const r of reply.events) {
          if (r.seq <= s.last) continue;
          s.last = r.seq;
          if (r.damaged !== undefined) {
            this.d.lost({ subscription: undefined, prefix: this.d.prefix, publisher: { node: r.node, service: r.service }, stream: s.id, seq: r.seq, topic: r.topic, reason: r.damaged });
            continue;
          }
          this.d.deliver({
            topic: r.topic, payload: r.payload, sender: { node: r.node, service: r.service }, id: r.id, seq: r.seq, timestampMs: r.timestampMs,
            headers: { ...r.headers, [HEADER_ESTREAM]: s.id, [HEADER_ESEQ]: String(r.seq) },
          });
        }
        const reach = reachOf(reply, from, MAX_REPLAY_EVENTS);
        s.last = Math.max(s.last, reach.through);
        if (reach.done) break;
      }
    } catch (err) {
      this.d.log.debug({ err: errorMessage(err), stream: s.id, publisher: s.publisher }, 'catch-up replay failed; going on live');
    } finally {
      s.running = false;
      this.drain(s);
    }
  }

  /** Delivers the held events that are newer than the position, in order. */
  private drain(s: Stream): void {
    if (this.closed) return;
    const held = s.held.splice(0).sort((a, b) => (parseDecimal(a.headers[HEADER_ESEQ]) ?? 0) - (parseDecimal(b.headers[HEADER_ESEQ]) ?? 0));
    s.holding = false;
    for (const e of held) {
      const seq = parseDecimal(e.headers[HEADER_ESEQ]) ?? 0;
      if (seq <= s.last) continue;
      s.last = seq;
      this.d.deliver(e);
    }
  }
}
