/**
 * One bounded FIFO in front of one zeromq socket.
 *
 * zeromq.js allows a single pending send() per socket ("Socket is busy"), on purpose.
 * Application code may fire thousands of sends at once, so they all go through this
 * queue, and one pump drains it. While a send is in flight, new messages pile up; the
 * next send takes as many queued messages as fit one batch (MAX_BATCH_MESSAGES/BYTES) and
 * ships them as one multipart message. That coalescing is what lets a pipelined
 * workload beat one-message-per-send() throughput.
 *
 * Each queued message is a [header, body] frame pair. Messages may carry a key
 * (ROUTER: the peer identity; PUB: the topic). A batch holds consecutive messages with
 * the same key and is sent as [key, h1, b1, h2, b2, ...], so per-key order is the
 * enqueue order and cross-key order is kept too.
 */
import { QueueFullError } from '../errors.js';

export type SendFn = (frames: Uint8Array[]) => Promise<void>;
export type Key = Buffer | string | undefined;

export interface SendQueueOptions {
  /** Most messages held; a push beyond it throws QUEUE_FULL. */
  limit: number;
  /** Most messages (frame pairs) in one batch. */
  maxBatchMessages: number;
  maxBatchBytes: number;
  send: SendFn;
  /** A batch could not be sent (socket closed, peer gone); `messages` were dropped. */
  onError: (err: unknown, messages: number) => void;
  /** Counts messages handed to the socket, per batch. */
  onSent?: (messages: number) => void;
  /** For error messages. */
  name: string;
}

function sameKey(a: Key, b: Key): boolean {
  if (a === b) return true;
  return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
}

export class SendQueue {
  private keys: Key[] = [];
  private headers: Uint8Array[] = [];
  private bodies: Uint8Array[] = [];
  private head = 0;
  private busy = false;
  private closed = false;
  private waiters: Array<() => void> = [];

  constructor(private readonly o: SendQueueOptions) {}

  get size(): number {
    return this.headers.length - this.head;
  }

  /** Nothing queued and no send in flight. */
  get idle(): boolean {
    return this.size === 0 && !this.busy;
  }

  /** Queues one message. Returns at once; the pump sends it in order. */
  push(header: Uint8Array, body: Uint8Array, key?: Key): void {
    if (this.closed) return;
    if (this.size >= this.o.limit) {
      throw new QueueFullError(`send queue of ${this.o.name} is full (${this.o.limit} messages)`);
    }
    this.keys.push(key);
    this.headers.push(header);
    this.bodies.push(body);
    if (!this.busy) {
      this.busy = true;
      queueMicrotask(() => void this.pump());
    }
  }

  /** Resolves once everything queued so far has been handed to the socket. */
  drained(): Promise<void> {
    if (this.size === 0 && !this.busy) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Drops every queued message; returns how many. The in-flight batch is not recalled. */
  clear(): number {
    const n = this.size;
    this.reset();
    if (!this.busy) this.wake();
    return n;
  }

  /** Stops the pump for good and drops what is queued. */
  close(): void {
    this.closed = true;
    this.clear();
  }

  // Starts in a microtask after the first push: a lone message still leaves in the
  // same tick it was queued (no added latency when nothing is waiting), and a burst
  // pushed by one piece of synchronous code (a dispatcher filling its window, a
  // batch of answers) leaves together, as one batch, instead of one message and then
  // the rest. The receiver then reads it in one go, and applies it in one transaction.
  private async pump(): Promise<void> {
    this.busy = true;
    try {
      while (this.size > 0 && !this.closed) {
        const batch = this.takeBatch();
        const count = (batch.length - (batch.key === undefined ? 0 : 1)) / 2;
        try {
          await this.o.send(batch);
          this.o.onSent?.(count);
        } catch (err) {
          this.o.onError(err, count);
        }
      }
    } finally {
      this.busy = false;
      this.wake();
    }
  }

  private takeBatch(): Uint8Array[] & { key?: Key } {
    const key = this.keys[this.head];
    const batch: Uint8Array[] & { key?: Key } = [];
    if (key !== undefined) {
      batch.push(typeof key === 'string' ? Buffer.from(key) : key);
      batch.key = key;
    }
    let bytes = 0;
    let n = 0;
    while (this.head < this.headers.length && n < this.o.maxBatchMessages) {
      const header = this.headers[this.head]!;
      const body = this.bodies[this.head]!;
      const size = header.byteLength + body.byteLength;
      if (n > 0 && (bytes + size > this.o.maxBatchBytes || !sameKey(this.keys[this.head], key))) break;
      batch.push(header, body);
      bytes += size;
      this.head++;
      n++;
    }
    this.compact();
    return batch;
  }

  private compact(): void {
    if (this.head === this.headers.length) {
      this.reset();
    } else if (this.head > 4096 && this.head * 2 > this.headers.length) {
      this.keys = this.keys.slice(this.head);
      this.headers = this.headers.slice(this.head);
      this.bodies = this.bodies.slice(this.head);
      this.head = 0;
    }
  }

  private reset(): void {
    this.keys = [];
    this.headers = [];
    this.bodies = [];
    this.head = 0;
  }

  private wake(): void {
    if (this.size !== 0 || this.busy) return;
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}
