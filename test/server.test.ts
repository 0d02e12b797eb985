/** The request server (protocol layer) fed envelopes directly, with no socket: the
 *  ROUTER send queue's send function records what would have gone on the wire. */
import { describe, expect, it } from 'vitest';
import { Kind, decodeMessage, encodeEnvelope, type Envelope } from '../transport/codec/envelope.js';
import { decodeErrorReply } from '../transport/codec/control.js';
import { systemClock } from '../transport/clock.js';
import { silentLogger } from '../transport/log.js';
import { EnvelopeBuilder } from '../transport/protocol/envelopes.js';
import { inbound } from '../transport/protocol/inbound.js';
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
