/**
 * A durable subscription: a named subscriber that processes every reliable event of
 * every publisher exactly once and in each publisher's order, across its own restarts
 * and partitions (the zguide's Clone pattern, DDS transient-local durability).
 *
 * Per publisher stream (its store id) the last processed seq is stored in the same
 * transaction as the handler's effects. Live events arrive over PUB/SUB; one that is
 * not the next expected starts a catch-up: `$replay` requests to that publisher fetch
 * the missing events from its log while later live events wait in a buffer. On every
 * peer:up the subscriber also asks that peer for anything it missed while away.
 * Progress is acknowledged to publishers (`$ack`), which lets them prune.
 * An event that cannot be applied for want of disk space is left for the catch-up to
 * replay: the store raises the alarm, and this subscription waits quietly.
 */
import type { Logger } from 'pino';
import { ErrorCode, StoreFullError } from '../errors.js';
import { RateLimitedLog } from '../log.js';
import type { ReplayReply, ReplayRequest } from '../codec/control.js';
import { HEADER_ESEQ, HEADER_ESTREAM, parseDecimal } from '../codec/stream-headers.js';
import type { Db } from '../store/open.js';
import type { StoreSpace } from '../store/space.js';
import type { DurableEvent, DurableHandler, MeshEvent } from '../types.js';
import { MAX_REPLAY_EVENTS } from './control.js';
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

interface StreamState {
  /** Where its progress is stored: scope + raw. */
  key: string;
  /** The publisher's stream id (its store id). */
  raw: string;
  last: number;
  unacked: number;
  /** The publisher's service, to find it again after it restarts with a new node id. */
  service: string | undefined;
  catchingUp: boolean;
  buffer: DurableEvent[];
  publisher: string | undefined;
}

export interface DurableDeps {
  db: Db;
  space: Pick<StoreSpace, 'write'>;
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
  log: Logger;
}

/** The publisher's own stream id of a progress key ("<scope><stream id>"). */
const rawOf = (key: string): string => key.slice(key.lastIndexOf('/') + 1);

export class DurableSubscription {
  private readonly streams = new Map<string, StreamState>();
  private readonly limited: RateLimitedLog;
  private readonly load;
  private readonly save;
  private readonly catchingUpWith = new Set<string>();
  private readonly poll: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly d: DurableDeps) {
    this.limited = new RateLimitedLog(d.log);
    this.load = d.db.prepare('SELECT stream, last_seq FROM zmesh_durable WHERE name = ?');
    this.save = d.db.prepare('INSERT INTO zmesh_durable (name, stream, last_seq) VALUES (?, ?, ?) ON CONFLICT (name, stream) DO UPDATE SET last_seq = excluded.last_seq');
    for (const r of this.load.all(d.name) as Array<{ stream: string; last_seq: number }>) {
      this.streams.set(r.stream, { key: r.stream, raw: rawOf(r.stream), last: r.last_seq, unacked: 0, service: undefined, catchingUp: false, buffer: [], publisher: undefined });
    }
    this.poll = setInterval(() => this.antiEntropy(), DURABLE_POLL_MS);
  }

  private antiEntropy(): void {
    for (const s of this.streams.values()) {
      if (s.publisher !== undefined && this.d.isUp(s.publisher)) void this.catchUp(s.publisher);
      else if (s.service !== undefined) for (const nodeId of this.d.upOf(s.service)) void this.catchUp(nodeId);
    }
  }

  /** A live event from SUB. */
  onLive(e: MeshEvent): void {
    const stream = e.headers[HEADER_ESTREAM];
    const seq = parseDecimal(e.headers[HEADER_ESEQ]);
    if (stream === undefined || seq === undefined || seq < 1) return; // fast-class event
    const scope = this.d.scope(e.sender.node);
    if (!this.streams.has(scope + stream) && this.streamsOf(e.sender.node) >= MAX_STREAMS_PER_PUBLISHER) {
      this.limited.warn(`streams:${e.sender.node}`, { publisher: e.sender.node, stream }, 'publisher has too many event streams here: event dropped');
      return;
    }
    const s = this.state(scope, stream);
    s.publisher = e.sender.node;
    s.service = e.sender.service;
    const event: DurableEvent = { ...e, seq, stream };
    if (s.catchingUp) {
      if (s.buffer.length < MAX_BUFFERED) s.buffer.push(event);
      return;
    }
    if (seq <= s.last) return;
    if (seq === s.last + 1) {
      try {
        this.apply(s, event);
      } catch (err) {
        // Not applied; the next event shows the gap, or anti-entropy finds it.
        if (err instanceof StoreFullError) return;
        throw err;
      }
      return;
    }
    if (s.buffer.length < MAX_BUFFERED) s.buffer.push(event);
    void this.catchUp(e.sender.node);
  }

  private streamsOf(publisher: string): number {
    let n = 0;
    for (const s of this.streams.values()) if (s.publisher === publisher) n++;
    return n;
  }

  /** A peer came up: it may hold events we missed. */
  onPeerUp(nodeId: string): void {
    void this.catchUp(nodeId);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
  }

  private state(scope: string, raw: string): StreamState {
    const key = scope + raw;
    let s = this.streams.get(key);
    if (s === undefined) {
      s = { key, raw, last: 0, unacked: 0, service: undefined, catchingUp: false, buffer: [], publisher: undefined };
      this.streams.set(key, s);
    }
    return s;
  }

  private apply(s: StreamState, e: DurableEvent): void {
    const { tx, committed, rolledBack } = this.d.tx();
    try {
      this.d.space.write(() => this.d.db.transaction(() => {
        this.d.handler(e, tx);
        this.save.run(this.d.name, s.key, e.seq);
      })());
    } catch (err) {
      rolledBack();
      throw err;
    }
    committed();
    s.last = e.seq;
    if (++s.unacked >= ACK_EVERY && s.publisher !== undefined) {
      s.unacked = 0;
      this.d.ack(s.publisher, s.raw, s.last);
    }
  }

  /** Replays from `nodeId` until its log has nothing newer for us, then drains the
   *  buffer; goes round again while the buffer still has a hole. One at a time per node. */
  private async catchUp(nodeId: string): Promise<void> {
    if (this.catchingUpWith.has(nodeId) || this.closed) return;
    this.catchingUpWith.add(nodeId);
    const scope = this.d.scope(nodeId);
    let stream: string | undefined;
    try {
      for (let more = true; more && !this.closed;) {
        for (;;) {
          // Only this publisher's progress, by its own stream ids.
          const known = Object.fromEntries([...this.streams.values()].filter((v) => v.key.startsWith(scope)).map((v) => [v.raw, v.last]));
          const reply = await this.d.replay(nodeId, { known, prefix: this.d.prefix, max: REPLAY_BATCH, subscriber: this.d.name, maxBytes: 0 });
          if (this.closed) return;
          stream = reply.stream;
          const s = this.state(scope, stream);
          s.publisher = nodeId;
          s.service = reply.events[0]?.service ?? s.service;
          s.catchingUp = true;
          for (const r of reply.events) {
            if (r.seq <= s.last) continue;
            this.apply(s, {
              topic: r.topic, payload: r.payload, sender: { node: r.node, service: r.service },
              id: r.id, seq: r.seq, stream, timestampMs: r.timestampMs, headers: r.headers,
            });
          }
          // A page cut short by size says so; otherwise a short page means caught up.
          if (reply.events.length < REPLAY_BATCH && !reply.more) break;
        }
        const s = this.state(scope, stream!);
        // Live events that arrived meanwhile: apply what continues the stream; a hole
        // left means more was published while we replayed.
        s.buffer.sort((a, b) => a.seq - b.seq);
        const rest: DurableEvent[] = [];
        for (const e of s.buffer) {
          if (e.seq <= s.last) continue;
          if (e.seq === s.last + 1) this.apply(s, e);
          else rest.push(e);
        }
        s.buffer = rest;
        more = rest.length > 0;
        if (!more) s.catchingUp = false;
        this.d.ack(nodeId, stream!, s.last);
      }
    } catch (err) {
      // A peer without reliable events (no store) or one that went away: nothing to do.
      // An event larger than we take can never be replayed to us: that an operator must see.
      if ((err as { code?: string }).code === ErrorCode.MESSAGE_TOO_LARGE) this.limited.warn(`large:${nodeId}`, { err, nodeId }, 'replay refused: an event is larger than this node takes (maxPayloadBytes)');
      else this.d.log.debug({ err, nodeId }, 'replay failed');
      if (stream !== undefined) this.state(scope, stream).catchingUp = false;
    } finally {
      this.catchingUpWith.delete(nodeId);
    }
  }
}
