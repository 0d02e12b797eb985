/**
 * Builds this node's outgoing envelopes: stamps version, id, seq, sender and time, and
 * encodes. One builder per node; every socket's messages get their ids from it.
 */
import { IdSource, PROTOCOL_VERSION, encodeEnvelope, type EnvelopeInit, type Kind } from '../codec.js';

export interface Built {
  id: Buffer;
  frame: Buffer;
}

export class EnvelopeBuilder {
  private readonly ids = new IdSource();

  constructor(
    readonly nodeId: string,
    readonly service: string,
  ) {}

  build(kind: Kind, fields: Omit<EnvelopeInit, 'version' | 'kind' | 'id' | 'seq' | 'senderNode' | 'senderService' | 'timestampMs'>): Built {
    const { id, seq } = this.ids.next();
    const frame = encodeEnvelope({
      ...fields,
      version: PROTOCOL_VERSION,
      kind,
      id,
      seq,
      senderNode: this.nodeId,
      senderService: this.service,
      timestampMs: Date.now(),
    });
    return { id, frame };
  }
}
