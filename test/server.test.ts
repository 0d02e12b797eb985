/** The request server (protocol layer) fed envelopes directly, with no socket: the
 *  ROUTER send queue's send function records what would have gone on the wire. */
import { describe, expect, it } from 'vitest';
import { Kind, decodeMessage, encodeEnvelope, type Envelope } from '../transport/codec/envelope.js';
import { MAX_ACK_IDS, decodeAck, decodeErrorReply, encodeAck } from '../transport/codec/control.js';
import { systemClock } from '../transport/clock.js';
import { silentLogger } from '../transport/log.js';
import { EnvelopeBuilder } from '../transport/protocol/envelopes.js';
import { inbound } from '../transport/protocol/inbound.js';
import { RequestClient } from '../transport/protocol/client.js';
import { PendingRequests } from '../transport/protocol/pending.js';
import { RequestServer } from '../transport/protocol/server.js';
import { SendQueue } from '../transport/socket/send-queue.js';
import { Counters } from '../transport/stats.js';
import type { DropReason } from '../transport/types.js';

function harness() {
  const out: Envelope[] = [];
  const drops: DropReason[] = [];
  const counters = new Counters();
  const queue = new SendQueue({
    name: 'router', limit: 1_000, maxBatchMessages: 64, maxBatchBytes: 1 << 20,
    send: async (frames) => {
      for (let i = 1; i < frames.length; i += 2) { const d = decodeMessage(frames[i]!, frames[i + 1]!, 1 << 20); if (d.ok) out.push(d.env); }
    },
    onError: () => undefined,
  });
  const drop = (r: DropReason): void => { drops.push(r); };
  const server = new RequestServer({
    service: 'svc', maxPayloadBytes: 1_024, counters, drop, log: silentLogger(),
    builder: new EnvelopeBuilder('svc-1', 'svc', systemClock), queue,
    inbound: inbound({ maxPayloadBytes: 1_024, counters, drop }),
    localHello: () => ({ nodeId: 'svc-1', service: 'svc', mesh: 'default', pubPort: 1 }),
  });
  let n = 0;
  const request = (subject: string, payload = Buffer.alloc(0), kind: Kind = Kind.REQUEST) => {
    const id = Buffer.alloc(16, ++n);
    server.onMessage([Buffer.from('caller'), encodeEnvelope({
      version: 1, kind, id, senderNode: 'c-1', senderService: 'c', seq: n, service: 'svc', subject,
    }), payload]);
    return id;
  };
  const answer = async (id: Buffer) => {
    await queue.drained();
    return out.find((e) => Buffer.from(e.correlationId).equals(id));
  };
  return { server, counters, drops, request, answer, out };
}

describe('request server', () => {
  it('server - answers sync and async handlers, and errors with codes', async () => {
    const h = harness();
    h.server.handle('sync', (p) => Buffer.concat([Buffer.from('s:'), p]));
    h.server.handle('async', async () => Buffer.from('a'));
    h.server.handle('throws', () => { throw new Error('nope'); });
    const ids = [h.request('sync', Buffer.from('x')), h.request('async'), h.request('throws'), h.request('missing')];
    await new Promise((r) => setImmediate(r));
    const [s, a, t, m] = await Promise.all(ids.map(h.answer));
    expect(Buffer.from(s!.payload).toString()).toBe('s:x');
    expect(Buffer.from(a!.payload).toString()).toBe('a');
    expect(t!.kind).toBe(Kind.ERROR);
    expect(decodeErrorReply(t!.payload)).toEqual({ code: 'ZMESH_ERR_HANDLER_FAILED', message: 'nope', retryable: false });
    expect(decodeErrorReply(m!.payload)?.code).toBe('ZMESH_ERR_UNKNOWN_METHOD');
    expect(h.counters.handled).toEqual({ ok: 2, failed: 1, running: 0 });
  });

  it('server - commands are never answered, even when they fail', async () => {
    const h = harness();
    let ran = 0;
    h.server.handle('cmd', () => { ran++; throw new Error('ignored'); });
    h.request('cmd', Buffer.alloc(0), Kind.COMMAND);
    h.request('nothing-here', Buffer.alloc(0), Kind.COMMAND);
    await new Promise((r) => setImmediate(r));
    expect(ran).toBe(1);
    expect(h.out).toEqual([]);
  });

  it('server - closing: running handlers finish, new requests get a retryable CLOSED', async () => {
    const h = harness();
    let finish!: () => void;
    h.server.handle('slow', () => new Promise<Uint8Array>((r) => { finish = () => r(Buffer.from('done')); }));
    const slow = h.request('slow');
    h.server.stopAccepting();
    const late = h.request('slow');
    let idle = false;
    const idleP = h.server.idle().then(() => { idle = true; });
    await new Promise((r) => setImmediate(r));
    expect(idle).toBe(false);
    finish();
    await idleP;
    expect(Buffer.from((await h.answer(slow))!.payload).toString()).toBe('done');
    expect(decodeErrorReply((await h.answer(late))!.payload)).toMatchObject({ code: 'ZMESH_ERR_CLOSED', retryable: true });
  });

  it('server - the handler signal fires when the caller deadline passes', async () => {
    const h = harness();
    let signal: AbortSignal | undefined;
    h.server.handle('wait', (_p, ctx) => { signal = ctx.signal; return new Promise(() => undefined); });
    h.server.onMessage([Buffer.from('caller'), encodeEnvelope({
      version: 1, kind: Kind.REQUEST, id: Buffer.alloc(16, 1), senderNode: 'c-1', senderService: 'c', service: 'svc', subject: 'wait', ttlMs: 20,
    }), Buffer.alloc(0)]);
    expect(signal?.aborted).toBe(false);
    await new Promise((r) => signal!.addEventListener('abort', r));
    expect((signal!.reason as Error).message).toContain('deadline');
  });
});

describe('batched ACKs, sending side', () => {
  /** A client whose commands "go" nowhere: only the pending table matters here. */
  function client() {
    const counters = new Counters();
    const drops: DropReason[] = [];
    const pending = new PendingRequests(counters);
    const builder = new EnvelopeBuilder('me-1', 'me', systemClock);
    const c = new RequestClient({ routes: { pick: () => undefined, byNode: () => undefined }, builder, pending, drop: (r) => { drops.push(r); }, requestTimeoutMs: 5_000 });
    const deliver = (to: string) => {
      let id!: Uint8Array;
      const p = c.deliver({ nodeId: to, service: 'svc', send: (m) => { id = m.id; } }, 'note', Buffer.alloc(0), {}, 5_000);
      return { id, settled: p.then(() => 'acked', (e: { code: string }) => e.code) };
    };
    return { c, pending, drops, deliver };
  }
  const envOf = (from: string, correlationId: Uint8Array, body: Uint8Array): Envelope => {
    const d = decodeMessage(encodeEnvelope({ version: 1, kind: Kind.ACK, id: Buffer.alloc(16, 9), senderNode: from, senderService: 'svc', correlationId }), body, 1 << 20);
    if (!d.ok) throw new Error(d.detail);
    return d.env;
  };

  it('batched acks - an ACK settles its correlation_id and every id of its Ack body, but only commands sent to the node that acknowledges them', async () => {
    const h = client();
    const [a1, a2, a3] = [h.deliver('a-1'), h.deliver('a-1'), h.deliver('a-1')];
    const b1 = h.deliver('b-1');
    // a-1 acknowledges its own three, and names b-1's command too: that one stays.
    h.c.onAnswer(envOf('a-1', a1.id, encodeAck([a2.id, a3.id, b1.id])));
    expect(await Promise.all([a1.settled, a2.settled, a3.settled])).toEqual(['acked', 'acked', 'acked']);
    expect(h.pending.size).toBe(1);
    expect(h.drops).toEqual(['lateReply']);
    h.c.onAnswer(envOf('b-1', b1.id, new Uint8Array(0)));
    expect(await b1.settled).toBe('acked');
  });

  it('batched acks - an Ack body that does not decode, lists no id, too many ids or a 65-byte id settles nothing and is counted', async () => {
    const h = client();
    const a = h.deliver('a-1');
    const b = h.deliver('a-1');
    // (An Ack with no ids encodes to zero bytes, which is a plain ACK; one that lists none
    // but is not empty carries only a field Ack does not have.)
    const bodies = [Buffer.from([0xff, 0xff, 0xff]), Buffer.from([0x10, 0x01]), encodeAck(Array.from({ length: MAX_ACK_IDS + 1 }, () => b.id)), encodeAck([Buffer.alloc(65, 1)])];
    for (const body of bodies) h.c.onAnswer(envOf('a-1', a.id, body));
    expect(h.pending.size).toBe(2);
    expect(h.drops).toEqual(['invalid', 'invalid', 'invalid', 'invalid']);
    expect(decodeAck(encodeAck([b.id]))).toEqual([b.id]);
    h.c.onAnswer(envOf('a-1', a.id, encodeAck([b.id])));
    expect(await Promise.all([a.settled, b.settled])).toEqual(['acked', 'acked']);
  });
});
