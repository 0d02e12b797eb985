/**
 * A durable subscription: a named subscriber that processes every reliable event of
 * every publisher exactly once and in each publisher's order, across its own restarts
 * and partitions (the zguide's Clone pattern, DDS transient-local durability).
 *
 * Per publisher stream (its store id) the last processed seq is stored in the same
 * transaction as the handler's effects. Events are applied in batches (event-batch.ts):
 * a live burst, a replay page or a drained buffer in one transaction, each event in a
 * savepoint of its own. Live events arrive over PUB/SUB; one that is not the next
 * expected starts a catch-up: `$replay` requests to that publisher fetch the missing
 * events from its log while later live events wait in a buffer. On every peer:up the
 * subscriber also asks that peer for anything it missed while away.
 *
 * A replay answer says how far the publisher looked (`scanned`, control.ts reachOf):
 * progress moves there with the page's effects, past events that were not ours. So a
 * subscriber whose prefix matches nothing a publisher logs still acknowledges its head
 * and lets it prune, and the next live event applies directly.
 * Progress is acknowledged to publishers (`$ack`) after it committed.
 * An event that cannot be applied for want of disk space, or whose handler throws, is
 * left for the catch-up to replay: the store raises the disk-full alarm, the batch
 * warns about a handler.
 */
import type { Logger } from 'pino';
import { ErrorCode } from '../errors.js';
import { RateLimitedLog } from '../log.js';
import type { ReplayReply, ReplayRequest } from '../codec/control.js';
import { HEADER_EPREV, HEADER_ESEQ, HEADER_ESTREAM, eventPrevFor, parseDecimal } from '../codec/stream-headers.js';
import type { Db } from '../store/open.js';
import type { StoreSpace } from '../store/space.js';
import type { DurableEvent, DurableHandler, MeshEvent } from '../types.js';
import { MAX_REPLAY_EVENTS, reachOf } from './control.js';
import { EventBatch, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, type BatchDeps, type BatchItem } from './event-batch.js';
import type { ReportLost } from './lost.js';
import type { OpenTransaction } from './transaction.js';

export const REPLAY_BATCH = MAX_REPLAY_EVENTS;
/** Live events held while catching up; beyond it they are dropped and replayed later. */
export const MAX_BUFFERED = 100_000;
/** Streams one publisher may have here. A publisher has one stream per store it ever
 *  had (a new store id when its store was made again); more is a publisher inventing
 *  stream ids, and each would cost state and a row. Its events on more are dropped. */
export const MAX_STREAMS_PER_PUBLISHER = 16;

/** Acknowledge progress to the publisher every this many live events. */
export const ACK_EVERY = 500;
/** Anti-entropy: ask each known publisher this often whether we missed anything.
 *  Triggers (a gap, peer:up) do most of the work; this catches what no trigger shows:
 *  a lost tail with no later event, or a trigger that came while the link was down. */
export const DURABLE_POLL_MS = 1_000;
/** One catch-up asks for at most this many pages (a full log of 1 000 000 events is
 *  1 000 pages, more when cut by size) and goes round (replay, drain) at most this
 *  often; then the next trigger or poll takes over. A publisher that logs faster than
 *  we replay so never keeps one catch-up running for good. */
export const MAX_PAGES_PER_CATCH_UP = 10_000;
export const MAX_CATCH_UP_ROUNDS = 100;
/** A drain applies at most this many batches before it goes round again: the whole
 *  buffer, and as much again of what arrives meanwhile. */
const MAX_DRAIN_BATCHES = 2 * Math.ceil(MAX_BUFFERED / MAX_BATCH_EVENTS);

interface StreamState {
  /** Where its progress is stored: scope + raw. */
  readonly key: string;
  /** The publisher's stream id (its store id). */
  readonly raw: string;
  /** The last seq applied and committed. */
  last: number;
  /** The last seq applied whose commit is on disk (acknowledged to the publisher). */
  durable: number;
  /** The highest seq heard of from the publisher (live events, replay heads): with
   *  `last`, how far behind this subscription is (lag()). */
  head: number;
  unacked: number;
  /** The publisher's service, to find it again after it restarts with a new node id. */
  service: string | undefined;
  catchingUp: boolean;
  buffer: DurableEvent[];
  publisher: string | undefined;
}

export interface DurableDeps {
  db: Db;
  space: Pick<StoreSpace, 'write' | 'classify'>;
  /** Batches commit without blocking on the fsync (store/wal-sync.ts); absent: inside COMMIT. */
  sync?: BatchDeps<StreamState>['sync'];
  name: string;
  prefix: string;
  handler: DurableHandler;
  /** A transaction object for the handler, and what to do once it committed or not. */
  tx(): OpenTransaction;
  /** Asks publisher node `nodeId` for a replay; resolves with its reply. */
  replay(nodeId: string, request: ReplayRequest): Promise<ReplayReply>;
  /** Tells publisher `nodeId` our progress (fire and forget). */
  ack(nodeId: string, stream: string, seq: number): void;
  /** Up peers: is this node up; which nodes of this service are up. */
  isUp(nodeId: string): boolean;
  upOf(service: string): string[];
  /** Where progress on node `nodeId`'s streams is kept: "" in an insecure mesh, the
   *  publisher's key fingerprint and "/" in a secure one, so that no member can move
   *  the progress of another's stream by naming its store id. */
  scope(nodeId: string): string;
  /** An event its publisher reported damaged, once progress moved past it (lost.ts). */
  lost: ReportLost;
  log: Logger;
}

/** The publisher's own stream id of a progress key ("<scope><stream id>"). */
const rawOf = (key: string): string => key.slice(key.lastIndexOf('/') + 1);

type Drained = 'caught up' | 'more' | 'stopped';

export class DurableSubscription {
  private readonly streams = new Map<string, StreamState>();
  private readonly limited: RateLimitedLog;
  private readonly batch: EventBatch<StreamState>;
  private readonly catchingUpWith = new Set<string>();
  private readonly poll: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly d: DurableDeps) {
    this.limited = new RateLimitedLog(d.log);
    this.batch = new EventBatch<StreamState>({
      db: d.db, space: d.space, name: d.name, handler: d.handler, tx: d.tx, log: d.log, ...(d.sync === undefined ? {} : { sync: d.sync }),
      onCommitted: (s, applied) => this.onCommitted(s, applied),
    });
    const load = d.db.prepare('SELECT stream, last_seq FROM zmesh_durable WHERE name = ?');
    for (const r of load.all(d.name) as Array<{ stream: string; last_seq: number }>) {
      this.streams.set(r.stream, { key: r.stream, raw: rawOf(r.stream), last: r.last_seq, durable: r.last_seq, head: r.last_seq, unacked: 0, service: undefined, catchingUp: false, buffer: [], publisher: undefined });
    }
    this.poll = setInterval(() => this.antiEntropy(), DURABLE_POLL_MS);
  }

  get prefix(): string {
    return this.d.prefix;
  }

  /** Events behind the publishers' heads, summed over its streams: what it has heard
   *  of and not applied yet (events of other topics the publisher logged count until
   *  a replay moves past them). */
  lag(): number {
    let n = 0;
    for (const s of this.streams.values()) if (s.head > s.last) n += s.head - s.last;
    return n;
  }

  /** Transactions this subscription committed (one per batch). */
  get commits(): number {
    return this.batch.commits;
  }

  private antiEntropy(): void {
    for (const s of this.streams.values()) {
      if (s.publisher !== undefined && this.d.isUp(s.publisher)) void this.catchUp(s.publisher);
      else if (s.service !== undefined) for (const nodeId of this.d.upOf(s.service)) void this.catchUp(nodeId);
    }
  }

  /** A live event from SUB. The next expected one of its stream is queued for the
   *  next batch; an older one is a duplicate; a newer one starts a catch-up. */
  onLive(e: MeshEvent): void {
    const stream = e.headers[HEADER_ESTREAM];
    const seq = parseDecimal(e.headers[HEADER_ESEQ]);
    if (stream === undefined || seq === undefined || seq < 1) return; // fast-class event
    const s = this.streamOf(e.sender.node, stream);
    if (s === undefined) return;
    s.service = e.sender.service;
    if (seq > s.head) s.head = seq;
    const event: DurableEvent = { ...e, seq, stream };
    if (s.catchingUp) {
      if (s.buffer.length < MAX_BUFFERED) s.buffer.push(event);
      return;
    }
    const next = this.batch.nextLive(s);
    if (seq < next) return;
    // Not the next number: the events between may be ones we do not take (other
    // topics). The publisher says which earlier event under our prefix this one
    // follows (zmesh-eprev); when we have that one, nothing we want lies between.
    const prev = seq === next ? seq - 1 : this.follows(event);
    if (prev !== undefined && prev < next) return this.batch.add(s, event, prev);
    if (s.buffer.length < MAX_BUFFERED) s.buffer.push(event);
    void this.catchUp(e.sender.node);
  }

  /** The seq of the previous event under this subscription's prefix, as the event's
   *  publisher states it (proto/README.md section 15.1), or undefined. */
  private follows(e: DurableEvent): number | undefined {
    return eventPrevFor(e.headers[HEADER_EPREV], this.d.prefix, e.seq);
  }

  /** A peer came up: it may hold events we missed. */
  onPeerUp(nodeId: string): void {
    void this.catchUp(nodeId);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    this.batch.close();
  }

  /** The state of publisher `nodeId`'s stream `raw`, made if new; undefined when that
   *  publisher has MAX_STREAMS_PER_PUBLISHER here already. */
  private streamOf(nodeId: string, raw: string): StreamState | undefined {
    const key = this.d.scope(nodeId) + raw;
    let s = this.streams.get(key);
    if (s === undefined) {
      let n = 0;
      for (const v of this.streams.values()) if (v.publisher === nodeId) n++;
      if (n >= MAX_STREAMS_PER_PUBLISHER) {
        this.limited.warn(`streams:${nodeId}`, { publisher: nodeId, stream: raw }, 'publisher has too many event streams here: event dropped');
        return undefined;
      }
      s = { key, raw, last: 0, durable: 0, head: 0, unacked: 0, service: undefined, catchingUp: false, buffer: [], publisher: undefined };
      this.streams.set(key, s);
    }
    s.publisher = nodeId;
    return s;
  }

  /** After a commit: acknowledge every ACK_EVERY events, so a long run lets the
   *  publisher prune before it ends. */
  private onCommitted(s: StreamState, applied: number): void {
    s.unacked += applied;
    if (s.unacked >= ACK_EVERY && s.publisher !== undefined) {
      s.unacked = 0;
      this.d.ack(s.publisher, s.raw, s.durable);
    }
  }

  /** Replays from `nodeId` until its log has nothing newer for us, then drains the
   *  buffer; goes round again while the buffer still has a hole. One at a time per
   *  node. Whatever ends it, what committed is acknowledged, and a catch-up that did
   *  not finish is taken up again by the next trigger (a live gap, the poll). */
  private async catchUp(nodeId: string): Promise<void> {
    if (this.catchingUpWith.has(nodeId) || this.closed) return;
    this.catchingUpWith.add(nodeId);
    const scope = this.d.scope(nodeId);
    let s: StreamState | undefined;
    try {
      let pages = 0;
      for (let round = 0; round < MAX_CATCH_UP_ROUNDS; round++) {
        for (let done = false; !done;) {
          if (++pages > MAX_PAGES_PER_CATCH_UP || this.closed) return;
          // Only this publisher's progress, by its own stream ids.
          const known = Object.fromEntries([...this.streams.values()].filter((v) => v.key.startsWith(scope)).map((v) => [v.raw, v.last]));
          const reply = await this.d.replay(nodeId, { known, prefix: this.d.prefix, max: REPLAY_BATCH, subscriber: this.d.name, maxBytes: 0, boundedScan: true, takesDamaged: true });
          if (this.closed) return;
          s = this.streamOf(nodeId, reply.stream);
          if (s === undefined) return;
          s.service = reply.events[0]?.service ?? s.service;
          if (reply.head > s.head) s.head = reply.head;
          s.catchingUp = true;
          const from = known[reply.stream] ?? 0;
          const reach = reachOf(reply, from, REPLAY_BATCH);
          // One transaction for the page, with progress moved to `through`.
          const stopped = this.batch.apply(this.pageItems(s, reply, from, reach.through)).has(s);
          this.reportDamaged(s, reply);
          if (stopped) return;
          done = reach.done;
        }
        if (await this.drain(s!) !== 'more') return;
      }
    } catch (err) {
      // A peer without reliable events (no store) or one that went away: nothing to do.
      // An event larger than we take can never be replayed to us: that an operator must see.
      if ((err as { code?: string }).code === ErrorCode.MESSAGE_TOO_LARGE) this.limited.warn(`large:${nodeId}`, { err, nodeId }, 'replay refused: an event is larger than this node takes (maxPayloadBytes)');
      else this.d.log.debug({ err, nodeId }, 'replay failed');
    } finally {
      this.catchingUpWith.delete(nodeId);
      if (s !== undefined && !this.closed) {
        s.catchingUp = false;
        s.unacked = 0;
        this.d.ack(nodeId, s.raw, s.durable);
      }
    }
  }

  /** A page as batch items: each event follows the one before it in the page (the
   *  first follows `from`), and a last item moves progress on to `through`. An event
   *  its publisher cannot read (damaged) only moves progress past it: nobody can
   *  deliver it, and waiting for it would stall the stream for good (lost.ts). */
  private pageItems(s: StreamState, reply: ReplayReply, from: number, through: number): Array<BatchItem<StreamState>> {
    const items: Array<BatchItem<StreamState>> = [];
    let prev = from;
    for (const r of reply.events) {
      if (r.damaged !== undefined) {
        items.push({ stream: s, seq: r.seq, prev });
        prev = Math.max(prev, r.seq);
        continue;
      }
      items.push({
        stream: s, seq: r.seq, prev,
        event: { topic: r.topic, payload: r.payload, sender: { node: r.node, service: r.service }, id: r.id, seq: r.seq, stream: s.raw, timestampMs: r.timestampMs, headers: r.headers },
      });
      prev = Math.max(prev, r.seq);
    }
    if (through > prev) items.push({ stream: s, seq: through, prev });
    return items;
  }

  /** Reports the page's damaged events that progress has now moved past (a batch
   *  that stopped short of one reports it when a later page gets there). */
  private reportDamaged(s: StreamState, reply: ReplayReply): void {
    for (const r of reply.events) {
      if (r.damaged === undefined || r.seq > s.last) continue;
      this.d.lost({ subscription: this.d.name, prefix: this.d.prefix, publisher: { node: r.node, service: r.service }, stream: s.raw, seq: r.seq, topic: r.topic, reason: r.damaged });
    }
  }

  /** Live events that arrived meanwhile: applies what continues the stream, a batch
   *  per turn of the event loop. 'caught up' when none is left: catchingUp ends in the
   *  same turn, so no live event can slip into the buffer unseen. 'more' when a hole is
   *  left (more was published while we replayed) or the bound was reached; 'stopped'
   *  when a handler threw. */
  private async drain(s: StreamState): Promise<Drained> {
    for (let n = 0; n < MAX_DRAIN_BATCHES && !this.closed; n++) {
      s.buffer.sort((a, b) => a.seq - b.seq);
      const items: Array<BatchItem<StreamState>> = [];
      let bytes = 0;
      let next = s.last + 1;
      let i = 0;
      for (; i < s.buffer.length; i++) {
        const e = s.buffer[i]!;
        if (e.seq < next) continue; // applied already
        const prev = e.seq === next ? e.seq - 1 : this.follows(e);
        if (prev === undefined || prev >= next || items.length >= MAX_BATCH_EVENTS || (items.length > 0 && bytes + e.payload.byteLength > MAX_BATCH_BYTES)) break;
        items.push({ stream: s, seq: e.seq, prev, event: e });
        bytes += e.payload.byteLength;
        next = e.seq + 1;
      }
      s.buffer = s.buffer.slice(i);
      if (items.length === 0) {
        if (s.buffer.length > 0) return 'more';
        s.catchingUp = false;
        return 'caught up';
      }
      if (this.batch.apply(items).has(s)) return 'stopped';
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return 'more';
  }
}
