/**
 * Delivers the outbox: one stream per target service, sent in stream order to one
 * live instance (pinned while it stays up), up to `window` commands in flight. The
 * receiver answers ACK once the command's effect committed (or was a duplicate).
 *
 * Any failure (ERROR, no ACK in time, peer down) sends the stream back to its oldest
 * unacknowledged command after a backoff with jitter; the receiver's inbox discards
 * what it already applied, so going back is always safe. A command the receiver
 * refused `maxAttempts` times (PERMANENT below), or older than `maxAgeMs`, moves to
 * the dead-letter table. Connectivity failures (TIMEOUT, PEER_DOWN, CLOSED, ...) are
 * never counted as attempts: a command waits through any number of outages.
 *
 * STORE_FULL (the receiver's disk is full) holds the stream: the same backoff, but no
 * attempt is counted, since nothing is wrong with the command; it still ages. A held
 * stream sends one command at a time, as a probe, until one is acknowledged.
 * This side's own bookkeeping writes (acks, attempt counts, dead letters) may fail
 * too, its disk being full: then nothing is lost, the write is only late. Acked rows
 * stay in memory until their deletion commits, and an attempt not recorded is one
 * not counted.
 */
import type { Logger } from 'pino';
import { ErrorCode, errorMessage, type ZmeshError } from '../errors.js';
import { RateLimitedLog } from '../log.js';
import { HEADER_PREV, HEADER_SEQ, HEADER_STREAM } from '../codec/stream-headers.js';
import type { ResolvedOptions } from '../options.js';
import type { Conduit, RequestClient } from '../protocol/client.js';
import type { Clock } from '../types.js';
import type { Outbox, OutboxRow } from './outbox.js';
import { logEvent } from '../events.js';

/** Rows can also appear from outside this process (`zmesh outbox retry`); look again
 *  this often even when nothing happened here. */
export const OUTBOX_POLL_MS = 1_000;

/** Refusals that sending again will not change: they count towards maxAttempts. A
 *  FORBIDDEN command stays forbidden until the sender's certificate changes. */
const PERMANENT = new Set<string>([ErrorCode.HANDLER_FAILED, ErrorCode.UNKNOWN_METHOD, ErrorCode.BAD_MESSAGE, ErrorCode.FORBIDDEN, ErrorCode.MESSAGE_TOO_LARGE]);

export type ReliableSettings = Pick<ResolvedOptions['reliable'], 'ackTimeoutMs' | 'maxAttempts' | 'maxAgeMs' | 'backoffBaseMs' | 'backoffMaxMs' | 'window'>;

interface Stream {
  service: string;
  /** Next stream_seq to send. */
  next: number;
  inFlight: number;
  pinned: string | undefined;
  blockedUntil: number;
  /** Acknowledged; removed from the outbox at the next pass that manages to. */
  acked: number[];
  /** Rounds answered STORE_FULL since the last acknowledgement: the backoff of a
   *  held stream. */
  held: number;
  /** Rounds of connectivity failures since the last acknowledgement: the backoff of a
   *  stream whose receiver is unreachable (never counted as attempts). */
  failures: number;
}

export interface DispatcherParts {
  storeId: string;
  outbox: Outbox;
  /** Sends each command and settles it on its ACK or ERROR. */
  client: Pick<RequestClient, 'deliver'>;
  /** A live instance of `service`, preferring `pinned`. */
  route(service: string, pinned: string | undefined): Conduit | undefined;
  settings: ReliableSettings;
  clock: Pick<Clock, 'now'>;
  log: Logger;
  /** Commands acknowledged by the receiver (their rows are removed shortly after). */
  onAcked(service: string, count: number): void;
}

export class Dispatcher {
  private readonly streams = new Map<string, Stream>();
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly poll: NodeJS.Timeout;
  private closed = false;
  private readonly warn: RateLimitedLog;
  /** Deliveries that a receiver held (STORE_FULL) so far. */
  heldCount = 0;
  /** Failed deliveries that go out again, and commands dead-lettered, so far. */
  retries = 0;
  deadLettered = 0;

  constructor(private readonly d: DispatcherParts) {
    this.warn = new RateLimitedLog(d.log);
    this.poll = setInterval(() => {
      // What `zmesh outbox retry` may have changed from another process.
      this.bookkeeping('looking for rows added elsewhere', '*', () => {
        d.outbox.forgetDead();
        d.outbox.verify();
      });
      this.kick();
    }, OUTBOX_POLL_MS);
  }

  /** Something changed (new rows, a peer came up, an ack): deliver soon. */
  kick(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** New rows just committed: deliver in this turn. One call per group commit, so
   *  batching is kept, and a lone command does not wait for another event-loop turn. */
  deliverNow(): void {
    if (this.scheduled || this.closed || this.pumping) return;
    this.pump();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.poll);
  }

  private stream(service: string): Stream {
    let s = this.streams.get(service);
    if (s === undefined) {
      s = { service, next: 0, inFlight: 0, pinned: undefined, blockedUntil: 0, acked: [], held: 0, failures: 0 };
      this.streams.set(service, s);
    }
    return s;
  }

  private pumping = false;

  private pump(): void {
    if (this.closed || this.pumping) return;
    this.pumping = true;
    try {
      this.pumpStreams();
    } finally {
      this.pumping = false;
    }
  }

  private pumpStreams(): void {
    const now = this.d.clock.now();
    let wakeAt = Infinity;
    for (const service of this.d.outbox.services()) {
      const s = this.stream(service);
      this.flushAcks(s);
      if (s.blockedUntil > now) {
        wakeAt = Math.min(wakeAt, s.blockedUntil);
        continue;
      }
      const room = (s.held > 0 ? 1 : this.d.settings.window) - s.inFlight;
      if (room <= 0) continue;
      const link = this.d.route(service, s.pinned);
      if (link === undefined) continue; // resumes on peer:up
      if (link.nodeId !== s.pinned) {
        // New instance: start from the oldest unacknowledged command.
        s.pinned = link.nodeId;
        s.next = 0;
      }
      const ackedAlready = s.acked.length === 0 ? undefined : new Set(s.acked);
      for (const row of this.d.outbox.due(service, s.next, room)) {
        if (ackedAlready?.has(row.stream_seq)) {
          s.next = row.stream_seq + 1;
          continue;
        }
        if (now - row.created_ms > this.d.settings.maxAgeMs) {
          this.bury(row, 'older than maxAgeMs');
          continue;
        }
        if (row.damaged !== undefined) {
          // Its bytes are not what was sent: never deliver them. The row and its
          // reference stay, in the dead letters, for the operator.
          this.bury(row, row.damaged, row.damaged);
          continue;
        }
        this.deliver(s, link, row);
        s.next = row.stream_seq + 1;
      }
    }
    if (wakeAt !== Infinity) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.kick(), wakeAt - now);
    }
  }

  private deliver(s: Stream, to: Conduit, row: OutboxRow): void {
    const headers: Record<string, string> = row.headers === null ? {} : JSON.parse(row.headers) as Record<string, string>;
    headers[HEADER_STREAM] = this.d.storeId;
    headers[HEADER_SEQ] = String(row.stream_seq);
    headers[HEADER_PREV] = String(this.d.outbox.previousLive(row.service, row.stream_seq));
    s.inFlight++;
    // A fresh envelope id per attempt; the inbox deduplicates on (stream, seq).
    this.d.client.deliver(to, row.method, row.payload, headers, this.d.settings.ackTimeoutMs).finally(() => { s.inFlight--; }).then(
      () => {
        // Acknowledged means the receiver committed the effect; tell the application
        // now. Removing the row is bookkeeping, batched into the next pass (were it
        // lost in a crash, the redelivery would be a duplicate the inbox discards).
        s.acked.push(row.stream_seq);
        s.held = 0;
        s.failures = 0;
        this.d.onAcked(row.service, 1);
        this.kick();
      },
      (err: ZmeshError) => this.onFailure(s, row, err),
    );
  }

  private flushAcks(s: Stream): void {
    if (s.acked.length === 0) return;
    const acked = s.acked;
    s.acked = [];
    if (!this.bookkeeping('removing acknowledged commands', s.service, () => this.d.outbox.acked(s.service, acked))) {
      // Kept for the next pass; meanwhile those rows are skipped, not resent.
      s.acked = acked.concat(s.acked);
    }
  }

  private onFailure(s: Stream, row: OutboxRow, err: ZmeshError): void {
    if (this.closed) return;
    const why = `${err.code}: ${errorMessage(err)}`;
    const buried = PERMANENT.has(err.code) && row.attempts + 1 >= this.d.settings.maxAttempts;
    if (!buried) this.retries++;
    if (err.code === ErrorCode.STORE_FULL) {
      this.hold(s, row, err);
    } else if (PERMANENT.has(err.code)) {
      // The receiver refused this very command: an attempt.
      const attempts = row.attempts + 1;
      this.bookkeeping('counting a failed attempt', row.service, () => this.d.outbox.failed(row, why));
      if (attempts >= this.d.settings.maxAttempts) this.bury({ ...row, attempts }, why);
      else this.backOff(s, attempts);
    } else if (err.code !== ErrorCode.OUT_OF_ORDER) {
      // No answer, no instance, a node closing: nothing is wrong with the command, so
      // nothing is counted (types.ts, maxAttempts); it waits for a live instance
      // until maxAgeMs, backing off per stream. Out-of-order answers only mean an
      // earlier command is being resent: not this command's fault either.
      // Rounds count, not commands: a window of 1 000 timing out together is one
      // failure of the stream, and one note, not one write per command in flight.
      if (s.blockedUntil <= this.d.clock.now()) {
        s.failures++;
        this.backOff(s, s.failures);
        this.bookkeeping('noting a failed delivery', row.service, () => this.d.outbox.held(row, why));
      }
      if (err.code === ErrorCode.PEER_DOWN || err.code === ErrorCode.TIMEOUT || err.code === ErrorCode.CLOSED) s.pinned = undefined;
    }
    // Go back: resend from the oldest unacknowledged command of the stream.
    s.next = 0;
    this.kick();
  }

  private backOff(s: Stream, failures: number): void {
    const backoff = Math.min(this.d.settings.backoffMaxMs, this.d.settings.backoffBaseMs * 2 ** Math.min(failures, 20));
    s.blockedUntil = Math.max(s.blockedUntil, this.d.clock.now() + backoff * (0.5 + Math.random() / 2));
  }

  /** The receiver cannot store anything now: wait and send again, counting nothing. */
  private hold(s: Stream, row: OutboxRow, err: ZmeshError): void {
    this.heldCount++;
    // The other commands in flight of a round that is already held.
    if (s.blockedUntil > this.d.clock.now()) return;
    s.held++;
    const backoff = Math.min(this.d.settings.backoffMaxMs, this.d.settings.backoffBaseMs * 2 ** Math.min(s.held, 20));
    s.blockedUntil = Math.max(s.blockedUntil, this.d.clock.now() + backoff * (0.5 + Math.random() / 2));
    this.warn.warn(`held:${row.service}`, { service: row.service, node: err.remoteNode, held: this.heldCount }, 'reliable commands held: the receiving node\'s store is full; they are sent again without counting attempts');
    this.bookkeeping('noting a held command', row.service, () => this.d.outbox.held(row, `${err.code}: ${errorMessage(err)}`));
  }

  private bury(row: OutboxRow, why: string, lastError?: string): void {
    if (!this.bookkeeping('dead-lettering a command', row.service, () => this.d.outbox.deadLetter(row, lastError))) return; // stays; buried on a later pass
    logEvent(this.d.log, { event: 'message.dead-lettered', service: row.service, method: row.method, streamSeq: row.stream_seq, attempts: row.attempts, reason: why });
    this.deadLettered++;
    this.d.log.warn({ service: row.service, method: row.method, streamSeq: row.stream_seq, attempts: row.attempts, why }, 'reliable command dead-lettered');
  }

  /** A write of the outbox's own bookkeeping. A failure (this store's disk full, say)
   *  must not escape into a timer or a promise callback; it is logged (a full disk is
   *  also alarmed by the store) and the write is tried again when it comes up next. */
  private bookkeeping(what: string, service: string, write: () => void): boolean {
    try {
      write();
      return true;
    } catch (err) {
      this.warn.warn(`bookkeeping:${what}`, { err, service }, `outbox: ${what} failed; it is tried again later`);
      return false;
    }
  }
}
