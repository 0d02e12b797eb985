/**
 * Message ids: an 8-byte random epoch chosen at start, then the 8-byte big-endian
 * seq. Unique per node for all time without coordination, and cheap: no randomness
 * per message.
 */
import { randomBytes } from 'node:crypto';
import { ID_BYTES } from '../limits.js';

export class IdSource {
  private readonly epoch = randomBytes(8);
  private seq = 0;

  next(): { id: Buffer; seq: number } {
    const seq = ++this.seq;
    const id = Buffer.allocUnsafe(ID_BYTES);
    this.epoch.copy(id, 0);
    id.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), 8);
    id.writeUInt32BE(seq >>> 0, 12);
    return { id, seq };
  }
}

/** Map key for an id or correlation id. latin1 keeps one char per byte. */
export function idKey(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
}
