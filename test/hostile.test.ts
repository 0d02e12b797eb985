/**
 * A storm of malformed frames at a node's ROUTER while a well-behaved client keeps
 * calling it. Every kind of bad input is dropped and counted; no valid request fails.
 *
 *   raw hostile DEALERs --garbage--> child node <--2,000 requests-- client node
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createNode, type MeshNode } from '../transport/index.js';
import { NodeProc, killAll } from './helpers/proc.js';
import { RawDealer, envelope, pb } from './helpers/raw-peer.js';

const raws: RawDealer[] = [];
const nodes: MeshNode[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await killAll();
});

const ROUNDS = 200;

describe('hostile input', () => {
  it('hostile - a malformed-frame storm is dropped and counted while valid traffic continues', async () => {
    // Payload limit 1 KiB, header limit 16 KiB; libzmq's hard cap is twice the larger.
    const server = await NodeProc.start({ service: 'svc', maxPayloadBytes: 1_024 });
    const client = createNode({ insecure: true, service: 'client', host: '127.0.0.1', peers: [server.endpoints.router] });
    nodes.push(client);
    await client.start();
    await client.waitForService('svc');

    const hostile = new RawDealer(server.endpoints.router);
    const giant = new RawDealer(server.endpoints.router);
    raws.push(hostile, giant);
    const valid = envelope({ kind: pb.Kind.REQUEST, service: 'svc', subject: 'echo', payload: Buffer.from('ok') });

    const storm = (async () => {
      for (let i = 0; i < ROUNDS; i++) {
        // Noise header. The leading 0x07 (field 0, wire type 7) can never parse, so random bytes
        // cannot by chance decode into an envelope and land in another counter.
        await hostile.send([Buffer.concat([Buffer.of(0x07), randomBytes(i % 64)]), Buffer.alloc(0)]);
        await hostile.send([valid[0]!.subarray(0, valid[0]!.length - 3), valid[1]!]);       // truncated protobuf
        await hostile.send([valid[0]!]);                                                  // header without body
        await hostile.send(Array.from({ length: 600 }, () => valid).flat());              // too many messages
        await hostile.send(envelope({ kind: 42 as never, service: 'svc', subject: 'x' })); // unknown kind
        await hostile.send(envelope({ version: 7, kind: pb.Kind.COMMAND, service: 'svc', subject: 'count' }));
        await hostile.send(envelope({ kind: pb.Kind.COMMAND, senderNode: 'bad node id!', service: 'svc', subject: 'count' }));
        await hostile.send(envelope({ kind: pb.Kind.REPLY, correlationId: Buffer.alloc(16) })); // kind for a DEALER
        await hostile.send([Buffer.alloc(20_000, 1), Buffer.alloc(0)]);                   // header over 16 KiB
        await hostile.send(envelope({ kind: pb.Kind.COMMAND, service: 'svc', subject: 'count', payload: Buffer.alloc(2_000) })); // body over 1 KiB
        if (i % 50 === 0) await giant.send(Buffer.alloc(100_000, 2));                     // over ZMQ_MAXMSGSIZE
      }
    })();
    const traffic = Promise.all(Array.from({ length: 2_000 }, (_, i) =>
      client.request('svc', 'echo', Buffer.from(`v${i}`)).then((r) => Buffer.from(r).toString())));

    const [replies] = await Promise.all([traffic, storm]);
    replies.forEach((r, i) => expect(r).toBe(`v${i}`));

    // The storm is over when a request sent after it is answered (frames are handled in order).
    const after = new RawDealer(server.endpoints.router);
    raws.push(after);
    const id = Buffer.alloc(16, 9);
    await hostile.send(envelope({ id, kind: pb.Kind.REQUEST, service: 'svc', subject: 'echo', payload: Buffer.from('still here') }));
    expect(Buffer.from((await hostile.answerTo(id)).payload).toString()).toBe('still here');

    const { dropped } = await server.stats();
    expect(dropped.badFrames).toBe(2 * ROUNDS);
    expect(dropped.unknownKind).toBe(ROUNDS);
    expect(dropped.versionMismatch).toBe(ROUNDS);
    expect(dropped.unexpected).toBe(ROUNDS);
    expect(dropped.oversized).toBe(2 * ROUNDS);
    // Noise and truncation land in malformed or invalid depending on the bytes.
    expect(dropped.malformed + dropped.invalid).toBeGreaterThanOrEqual(2 * ROUNDS);
    // No hostile COMMAND reached a handler.
    expect(await server.counts()).toEqual({});
  });
});
