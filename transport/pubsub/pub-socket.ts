/**
 * The node's XPUB, as something that can be replaced. A subscription flood
 * (publisher.ts) is answered by closing the socket at once, which frees everything
 * libzmq stored for it, and binding a new one on the same port after a delay. Every
 * subscriber's SUB reconnects by itself, subscribes again and resyncs.
 *
 * The delay doubles with each flood that follows within FLOOD_MEMORY_MS of the last,
 * from PUB_REBIND_MIN_MS up to PUB_REBIND_MAX_MS: a flooder that stays connected
 * cannot make the node rebuild more than a few times a minute, and it cannot make it
 * store anything while the port is closed. Binding again is retried until it works
 * (the old listener is closed on libzmq's I/O thread, and the port may be busy a
 * moment) or the node closes.
 */
import type { Logger } from 'pino';
import type * as zmq from 'zeromq';
import { PUB_REBIND_MAX_MS, PUB_REBIND_MIN_MS } from '../bounds.js';
import { ClosedError, errorMessage } from '../errors.js';
import { RateLimitedLog } from '../log.js';
import { readLoop } from '../socket/read-loop.js';
import { bindOrFail, closeQuietly, topicCount } from '../socket/sockets.js';
import type { BoundsStats, Clock } from '../types.js';

/** A flood this long after the previous one counts as the same storm (longer delay). */
const FLOOD_MEMORY_MS = 60_000;

export interface PubSocketParts {
  make(): zmq.XPublisher;
  onMessage(frames: Buffer[]): void;
  /** The socket was replaced: it holds no subscriptions. */
  onReplaced(): void;
  log: Logger;
  bounds: BoundsStats;
  clock: Pick<Clock, 'monotonic'>;
}

export class PubSocket {
  private sock: zmq.XPublisher | undefined;
  private endpoint: string | undefined;
  private closed = false;
  private delayMs = PUB_REBIND_MIN_MS;
  private lastFloodMs = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private readonly limited: RateLimitedLog;

  constructor(private readonly p: PubSocketParts) {
    this.limited = new RateLimitedLog(p.log);
    this.sock = p.make();
  }

  /** Binds the first socket (throws BIND_FAILED) and starts reading it. */
  async bind(address: string): Promise<string> {
    const sock = this.sock!;
    await bindOrFail(sock, address, 'PUB');
    this.endpoint = sock.lastEndpoint!;
    this.read(sock);
    return this.endpoint;
  }

  send(frames: Uint8Array[]): Promise<void> {
    if (this.sock === undefined) return Promise.reject(new ClosedError('the PUB socket is being replaced'));
    return this.sock.send(frames);
  }

  /** Distinct subscriptions libzmq holds now, when it can say. */
  topics(): number | undefined {
    return this.sock === undefined ? 0 : topicCount(this.sock);
  }

  /** Past the subscription bounds: close now, bind again after the storm's delay. */
  flooded(distinct: number): void {
    if (this.closed || this.sock === undefined || this.endpoint === undefined) return;
    const now = this.p.clock.monotonic();
    this.delayMs = now - this.lastFloodMs < FLOOD_MEMORY_MS ? Math.min(this.delayMs * 2, PUB_REBIND_MAX_MS) : PUB_REBIND_MIN_MS;
    this.lastFloodMs = now;
    this.limited.warn('flood', { distinct, rebindInMs: this.delayMs }, 'subscription flood: PUB socket closed, binding a new one');
    closeQuietly(this.sock, 0);
    this.sock = undefined;
    this.p.onReplaced();
    this.schedule(this.delayMs);
  }

  close(lingerMs?: number): void {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.sock !== undefined) closeQuietly(this.sock, lingerMs);
    this.sock = undefined;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { void this.rebind(); }, ms);
  }

  private async rebind(): Promise<void> {
    if (this.closed || this.endpoint === undefined) return;
    let fresh: zmq.XPublisher;
    try {
      fresh = this.p.make();
      await bindOrFail(fresh, this.endpoint, 'PUB');
    } catch (err) {
      // Out of descriptors, or the port not free yet: try again, never give up.
      this.limited.warn('rebind', { endpoint: this.endpoint, err: errorMessage(err) }, 'cannot bind the PUB socket again yet; retrying');
      if (fresh! !== undefined) closeQuietly(fresh, 0);
      this.schedule(Math.min(Math.max(PUB_REBIND_MIN_MS, this.delayMs), PUB_REBIND_MAX_MS));
      return;
    }
    if (this.closed) {
      closeQuietly(fresh, 0);
      return;
    }
    this.sock = fresh;
    this.p.bounds.publisherRebuilds++;
    this.read(fresh);
  }

  private read(sock: zmq.XPublisher): void {
    void readLoop(sock, (f) => this.p.onMessage(f), (err) => this.p.log.error({ err }, 'xpub receive failed'));
  }
}
