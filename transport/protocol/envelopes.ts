/**
 * Builds this node's outgoing envelopes: stamps version, id, seq, sender and time, and
 * encodes. One builder per node; every socket's messages get their ids from it.
 */
import { PROTOCOL_VERSION, encodeEnvelope, type Kind } from '../codec/envelope.js';
import { IdSource } from '../codec/ids.js';
import type { Clock } from '../types.js';

/** One outgoing message: its id, and its two frames. */
export interface Built {
  id: Buffer;
  header: Buffer;
  body: Uint8Array;
}

/** What a caller chooses; the builder fills in the rest. */
export interface OutFields {
  service?: string;
  subject?: string;
  correlationId?: Uint8Array;
  headers?: Record<string, string> | undefined;
  payload?: Uint8Array;
  ttlMs?: number;
}

const EMPTY = new Uint8Array(0);

export class EnvelopeBuilder {
  private readonly ids = new IdSource();

  constructor(
    readonly nodeId: string,
    readonly service: string,
    private readonly clock: Pick<Clock, 'now'>,
    /** Counts by kind number (stats.ts sentByKind); one increment per message. */
    private readonly builtByKind?: number[],
  ) {}

  /** A fresh message id, for messages stored before they are built (the outbox). */
  newId(): Buffer {
    return this.ids.next().id;
  }

  build(kind: Kind, f: OutFields): Built {
    const { id, seq } = this.ids.next();
    if (this.builtByKind !== undefined && kind < this.builtByKind.length) this.builtByKind[kind]!++;
    // One object literal with every field, always in this order: the generated
    // encoder is ~10x slower on objects built by spread (measured: 0.9 µs vs 12 µs),
    // and this is on every message's path.
    const header = encodeEnvelope({
      version: PROTOCOL_VERSION,
      kind,
      id,
      senderNode: this.nodeId,
      senderService: this.service,
      seq,
      timestampMs: this.clock.now(),
      service: f.service,
      subject: f.subject,
      correlationId: f.correlationId,
      headers: f.headers,
      ttlMs: f.ttlMs,
    });
    return { id, header, body: f.payload ?? EMPTY };
  }
}
