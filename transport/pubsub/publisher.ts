/**
 * pubsub/: events. The publisher behind the node's XPUB (packing, the sync handshake)
 * and the subscriber behind its SUB (prefix listeners, sync with each publisher).
 * May import: protocol/, codec/, socket/, foundation modules (not peers/: the node
 * tells the subscriber which publishers to connect to).
 *
 * This file: the event side of a node, one XPUB socket.
 *
 * Outgoing events go through a send queue keyed by topic, so a run of events on one
 * topic leaves together: small ones packed, as [topic, packed] messages of up to
 * 16 KiB each, large ones as [topic, header, body, header, body, ...] (see `toWire`).
 *
 * Incoming frames on an XPUB are subscription messages (0x01 + prefix, or 0x00 to
 * unsubscribe). When one names "$sync/<this node>/<token>", every subscription that
 * subscriber sent before it is in effect (libzmq applies them in order per
 * connection), so we answer with a SYNC mark on that very topic. The subscriber knows
 * it will miss nothing published from then on: the slow-joiner fix, with no sleep.
 *
 * Bounds (bounds.ts). libzmq stores every subscription in its XPUB and does not say
 * which connection sent it, so no per-connection quota can be kept here. What can:
 * after each subscription message we ask libzmq how many distinct subscriptions the
 * socket holds (ZMQ_TOPICS_COUNT; without the draft API, we count its first-subscribe
 * and last-unsubscribe notices, which a subscriber can skew). Past MAX_SUBSCRIPTIONS
 * the node closes the socket (`flooded`, pub-socket.ts). Each frame is also capped
 * (MAX_SUBSCRIPTION_FRAME_BYTES, in libzmq, before it is stored).
 */
import { Kind } from '../codec/envelope.js';
import { encodeSyncMark } from '../codec/control.js';
import { packPairs } from '../codec/packed.js';
import { MAX_SUBSCRIPTIONS } from '../bounds.js';
import { MAX_PACKED_BYTES, PACK_LENGTH_BYTES } from '../limits.js';
import type { EnvelopeBuilder } from '../protocol/envelopes.js';
import type { DropFn } from '../protocol/drops.js';
import type { SendQueue } from '../socket/send-queue.js';
import type { Counters } from '../stats.js';
import { syncTopic, validateTopic } from './topics.js';

/**
 * The ZeroMQ messages that carry one queued batch [topic, h1, b1, ..., hn, bn], in
 * order. Runs of small events become [topic, packed] messages of at most
 * MAX_PACKED_BYTES; an event too big to share a packed frame (or a run of one) leaves
 * as [topic, h, b, ...], batched as before: copying it would cost more than it saves.
 */
export function toWire(batch: Uint8Array[]): Uint8Array[][] {
  const topic = batch[0]!;
  const out: Uint8Array[][] = [];
  let classic: Uint8Array[] | undefined;
  let runFrom = 1;
  let runBytes = 0;
  const flushRun = (to: number): void => {
    if (to - runFrom >= 4) out.push([topic, packPairs(batch, runFrom, to)]);
    else if (to > runFrom) out.push([topic, ...batch.slice(runFrom, to)]);
    runFrom = to;
    runBytes = 0;
  };
  for (let i = 1; i < batch.length; i += 2) {
    const size = 2 * PACK_LENGTH_BYTES + batch[i]!.byteLength + batch[i + 1]!.byteLength;
    if (size > MAX_PACKED_BYTES / 2) {
      flushRun(i);
      if (classic === undefined) out.push((classic = [topic]));
      classic.push(batch[i]!, batch[i + 1]!);
      runFrom = i + 2;
      continue;
    }
    classic = undefined;
    if (runBytes + size > MAX_PACKED_BYTES) flushRun(i);
    runBytes += size;
  }
  flushRun(batch.length);
  return out;
}

/** What the publisher needs from the node. */
export interface PublisherParts {
  builder: EnvelopeBuilder;
  /** The XPUB's send queue, keyed by topic. */
  queue: SendQueue;
  counters: Counters;
  drop: DropFn;
  /** Distinct subscriptions the XPUB holds, if libzmq can say. */
  topics(): number | undefined;
  /** The XPUB holds more subscriptions than bounds.ts allows: replace it. Called once
   *  until `reset()`. */
  flooded(distinct: number): void;
}

/** Subscribed prefixes whose reliable events are chained (zmesh-eprev), at most. */
export const MAX_CHAINED_PREFIXES = 64;

export class Publisher {
  /** Subscribed prefix -> seq of the last reliable event published that matched it,
   *  since the prefix was subscribed (undefined: none yet). See chain(). */
  private readonly chains = new Map<string, number | undefined>();
  /** Without ZMQ_TOPICS_COUNT: distinct subscriptions from libzmq's notices (latin1
   *  keys keep bytes exact). */
  private readonly held = new Set<string>();
  private overflowing = false;
  private readonly flooded: PublisherParts['flooded'];
  private readonly topics: PublisherParts['topics'];
  private readonly syncPrefix: string;
  private readonly builder: EnvelopeBuilder;
  private readonly queue: SendQueue;
  private readonly counters: Counters;
  private readonly drop: DropFn;

  constructor(p: PublisherParts) {
    ({ builder: this.builder, queue: this.queue, counters: this.counters, drop: this.drop, flooded: this.flooded, topics: this.topics } = p);
    this.syncPrefix = syncTopic(p.builder.nodeId, '');
  }

  publish(topic: string, payload: Uint8Array, headers: Record<string, string> | undefined): void {
    validateTopic(topic);
    const { header, body } = this.builder.build(Kind.EVENT, { subject: topic, payload, headers });
    this.queue.push(header, body, topic);
    this.counters.events.published++;
  }

  /** An event on one of zmesh's own "$" topics (a node summary): the application's
   *  publish() refuses those. Not counted in events.published. */
  publishReserved(topic: string, payload: Uint8Array): void {
    const { header, body } = this.builder.build(Kind.EVENT, { subject: topic, payload });
    this.queue.push(header, body, topic);
  }

  /** One XPUB message: a subscription change from some subscriber. */
  onSubscription(frames: Buffer[]): void {
    const msg = frames[0];
    if (frames.length !== 1 || msg === undefined || msg.length === 0) {
      this.drop('badFrames', `${frames.length} frames on XPUB`, 'xpub');
      return;
    }
    if (!this.track(msg)) return;
    const topic = msg.subarray(1).toString();
    if (msg[0] !== 1) {
      this.chains.delete(topic);
      return; // unsubscribe: nothing to answer
    }
    // The first subscription to a prefix (libzmq reports each prefix once, until the
    // last subscriber drops it): chain its reliable events from now on.
    if (!topic.startsWith('$') && !this.chains.has(topic) && this.chains.size < MAX_CHAINED_PREFIXES) this.chains.set(topic, undefined);
    if (!topic.startsWith(this.syncPrefix)) return;
    const token = topic.slice(this.syncPrefix.length);
    const { header, body } = this.builder.build(Kind.SYNC, { subject: topic, payload: encodeSyncMark(token) });
    try {
      this.queue.push(header, body, topic);
    } catch {
      // Queue full: the subscriber's sync times out and it retries.
      this.counters.sendErrors++;
    }
  }

  /**
   * For the reliable event numbered `seq` on `topic`, going out live: each subscribed
   * prefix it matches, with the number of the previous reliable event that matched
   * that prefix, when known (a prefix subscribed since then). A durable subscriber of
   * that prefix then knows that no event it wants lies between the two, and applies
   * this one without asking for a replay (proto/README.md section 15.1). Events must be
   * passed in seq order, each once, whether or not they reach the socket.
   */
  chain(topic: string, seq: number): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [prefix, last] of this.chains) {
      if (!topic.startsWith(prefix)) continue;
      if (last !== undefined) out.push([prefix, last]);
      this.chains.set(prefix, seq);
    }
    return out;
  }

  /** The XPUB was replaced: it holds nothing yet. */
  reset(): void {
    this.chains.clear();
    this.held.clear();
    this.overflowing = false;
  }

  /** False once past the bounds: the socket is being replaced, so nothing more is
   *  answered on it. */
  private track(msg: Buffer): boolean {
    if (this.overflowing) return false;
    let distinct = this.topics();
    if (distinct === undefined) {
      const key = msg.toString('latin1', 1);
      if (msg[0] === 1) this.held.add(key);
      else if (msg[0] === 0) this.held.delete(key);
      distinct = this.held.size;
    }
    if (distinct <= MAX_SUBSCRIPTIONS) return true;
    this.overflowing = true;
    this.counters.bounds.subscriptionFloods++;
    this.flooded(distinct);
    return false;
  }
}
