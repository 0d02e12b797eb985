/**
 * A "foreign" peer that speaks the zmesh wire protocol with nothing but zeromq sockets
 * and the generated protobuf types: no transport/ code. It is how the tests hold
 * proto/README.md to its word, and how they send hostile frames.
 */
import { randomBytes } from 'node:crypto';
import * as zmq from 'zeromq';
import { zmesh } from '../../transport/gen/mesh.js';

export const pb = zmesh.v1;
export type RawEnvelope = zmesh.v1.IEnvelope;

let seq = 0;

export type Received = zmesh.v1.Envelope & { payload: Uint8Array };

/** One message as it goes on the wire: [header, body]. */
export function envelope(fields: Partial<RawEnvelope> & { payload?: Uint8Array }): Buffer[] {
  const { payload, ...header } = fields;
  return [pb.Envelope.encode({
    version: 1,
    id: randomBytes(16),
    senderNode: 'raw-peer',
    senderService: 'raw',
    seq: ++seq,
    timestampMs: Date.now(),
    ...header,
  }).finish() as Buffer, Buffer.from(payload ?? [])];
}

/** A packed frame as proto/README.md section 2 defines it, written from the spec
 *  (each part preceded by its length, 4 bytes big-endian). */
export function pack(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts.flatMap((p) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(p.byteLength);
    return [length, p];
  }));
}

/** The parts of a packed frame. */
export function unpack(frame: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let at = 0; at < frame.length;) {
    const length = frame.readUInt32BE(at);
    parts.push(frame.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return parts;
}

/** The [header, body, ...] frames of a SUB message [topic, ...], packed or not. */
export function eventParts(frames: Buffer[]): Buffer[] {
  return frames.length === 2 ? unpack(frames[1]!) : frames.slice(1);
}

/** Decodes [header, body, header, body, ...] after `skip` leading frames. */
export function decodePairs(frames: Buffer[], skip = 0): Received[] {
  const out: Received[] = [];
  for (let i = skip; i + 1 < frames.length; i += 2) {
    out.push(Object.assign(pb.Envelope.decode(frames[i]!), { payload: frames[i + 1]! }));
  }
  return out;
}

/** A DEALER connected to a node's ROUTER, collecting every envelope it receives. */
export class RawDealer {
  readonly sock: zmq.Dealer;
  readonly received: Received[] = [];
  private waiters: Array<() => void> = [];

  /** `curve`: CURVE client options (curveServerKey, curvePublicKey, curveSecretKey),
   *  to reach a secure node as a stranger or with a member's key. */
  constructor(endpoint: string, curve: Partial<zmq.Dealer> = {}) {
    const sock = new zmq.Dealer({ linger: 0, ...curve });
    this.sock = sock;
    sock.connect(endpoint);
    void (async () => {
      for await (const frames of sock) {
        this.received.push(...decodePairs(frames));
        for (const w of this.waiters.splice(0)) w();
      }
    })().catch(() => undefined);
  }

  send(frames: Buffer[] | Buffer): Promise<void> {
    return this.sock.send(frames);
  }

  /** Resolves with the first received envelope answering `id`. */
  async answerTo(id: Uint8Array, timeoutMs = 5_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.find((e) => Buffer.from(e.correlationId).equals(Buffer.from(id)));
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error('no answer');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  close(): void {
    this.sock.close();
  }
}
