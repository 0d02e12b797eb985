/**
 * A foreign peer written from proto/README.md alone: raw zeromq sockets and the
 * generated protobuf types, no transport/ code. It binds a ROUTER (HELLO -> WELCOME,
 * PING -> PONG, REQUEST "greet" -> REPLY, anything else to `onEnvelope`) and an XPUB
 * that answers $sync subscriptions with a SYNC mark.
 */
import * as zmq from 'zeromq';
import type { zmesh } from '../../transport/gen/mesh.js';
import { decodePairs, envelope, pack, pb, type Received } from './raw-peer.js';

export const FOREIGN_ID = 'foreign-1';
const text = (s: string): Buffer => Buffer.from(s);

export class ForeignPeer {
  readonly router = new zmq.Router({ linger: 0 });
  readonly xpub = new zmq.XPublisher({ linger: 0 });
  routerEndpoint = '';
  pubPort = 0;
  helloFrom: string[] = [];
  /** Replaces the correct SYNC answer when set (to test what a subscriber accepts). */
  onSync: ((topic: string, token: string) => Promise<void>) | undefined;
  /** Answers any other envelope on the ROUTER: the frames to send back, if any. */
  onEnvelope: ((e: Received) => Buffer[] | undefined) | undefined;
  /** Fields the Hello it sends carries on top of the required ones. */
  helloExtra: Partial<zmesh.v1.IHello> = {};

  async start(): Promise<void> {
    await this.router.bind('tcp://127.0.0.1:0');
    await this.xpub.bind('tcp://127.0.0.1:0');
    this.routerEndpoint = this.router.lastEndpoint!;
    this.pubPort = Number(/:(\d+)$/.exec(this.xpub.lastEndpoint!)![1]);
    void this.serveRouter();
    void this.serveSubscriptions();
  }

  hello(): Uint8Array {
    return pb.Hello.encode({
      nodeId: FOREIGN_ID, service: 'foreign', mesh: 'default', routerPort: Number(/:(\d+)$/.exec(this.routerEndpoint)![1]),
      pubPort: this.pubPort, routerEndpoints: [this.routerEndpoint], protocolVersion: 1, heartbeatIntervalMs: 500,
      ...this.helloExtra,
    }).finish();
  }

  answer(kind: number, correlationId: Uint8Array, payload: Uint8Array): Buffer[] {
    return envelope({ senderNode: FOREIGN_ID, senderService: 'foreign', kind, correlationId, payload });
  }

  private async serveRouter(): Promise<void> {
    for await (const frames of this.router) {
      const identity = frames[0]!;
      const out: Buffer[] = [];
      for (const e of decodePairs(frames, 1)) {
        if (e.kind === pb.Kind.HELLO) {
          this.helloFrom.push(pb.Hello.decode(e.payload).nodeId);
          out.push(...this.answer(pb.Kind.WELCOME, e.id, this.hello()));
        } else if (e.kind === pb.Kind.PING) {
          out.push(...this.answer(pb.Kind.PONG, e.id, e.payload));
        } else if (e.kind === pb.Kind.REQUEST && e.subject === 'greet') {
          out.push(...this.answer(pb.Kind.REPLY, e.id, text(`hello ${Buffer.from(e.payload).toString()}`)));
        } else {
          out.push(...(this.onEnvelope?.(e) ?? []));
        }
      }
      if (out.length > 0) await this.router.send([identity!, ...out]);
    }
  }

  private async serveSubscriptions(): Promise<void> {
    const prefix = `$sync/${FOREIGN_ID}/`;
    for await (const [msg] of this.xpub) {
      if (msg![0] !== 1) continue;
      const topic = msg!.subarray(1).toString();
      if (!topic.startsWith(prefix)) continue;
      if (this.onSync !== undefined) {
        await this.onSync(topic, topic.slice(prefix.length));
        continue;
      }
      await this.xpub.send(this.syncMark(topic, topic.slice(prefix.length)));
    }
  }

  /** A SYNC answering `token` on `topic`; `fields` bend it for hostile cases. */
  syncMark(topic: string, token: string, fields: Partial<{ subject: string; senderNode: string }> = {}): Buffer[] {
    const mark = pb.SyncMark.encode({ token }).finish();
    return [topic, ...envelope({ senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.SYNC, subject: topic, payload: mark, ...fields })] as Buffer[];
  }

  publish(topic: string, messages: Buffer[][]): Promise<void> {
    return this.xpub.send([topic, ...messages.flat()]);
  }

  publishPacked(topic: string, messages: Buffer[][]): Promise<void> {
    return this.xpub.send([topic, pack(messages.flat())]);
  }

  event(topic: string, payload: string): Buffer[] {
    return envelope({ senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.EVENT, subject: topic, payload: text(payload) });
  }

  close(): void {
    this.router.close();
    this.xpub.close();
  }
}
