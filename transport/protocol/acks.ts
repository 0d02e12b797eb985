/**
 * Batched ACKs (proto/README.md section 14.2), the ROUTER side: reliable commands
 * acknowledged to one connection in one turn leave as ONE ACK, its correlation_id the
 * first command's id and its Ack body the others (at most MAX_ACK_IDS). A receiver that
 * applied a batch in one transaction acknowledges it all at once, and the caller
 * settles it in one read. Sent when the turn's synchronous work is done (a microtask),
 * or at once when an ACK is full.
 */
import { MAX_ACK_IDS, encodeAck } from '../codec/control.js';

const EMPTY = new Uint8Array(0);

export class AckBatcher {
  private readonly pending = new Map<string, { identity: Buffer; ids: Uint8Array[] }>();
  private scheduled = false;

  /** `send` puts one ACK (correlation id, body) on the wire to `identity`. */
  constructor(private readonly send: (identity: Buffer, correlationId: Uint8Array, body: Uint8Array) => void) {}

  /** Acknowledges command `id` to the caller on `connection` (the identity as hex). */
  add(identity: Buffer, connection: string, id: Uint8Array): void {
    let p = this.pending.get(connection);
    if (p === undefined) {
      p = { identity, ids: [] };
      this.pending.set(connection, p);
    }
    p.ids.push(id);
    if (p.ids.length > MAX_ACK_IDS) {
      this.pending.delete(connection);
      this.emit(p.identity, p.ids);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    for (const { identity, ids } of this.pending.values()) this.emit(identity, ids);
    this.pending.clear();
  }

  private emit(identity: Buffer, ids: Uint8Array[]): void {
    this.send(identity, ids[0]!, ids.length === 1 ? EMPTY : encodeAck(ids.slice(1)));
  }
}
