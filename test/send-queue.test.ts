/** The per-socket send queue: bounded, ordered, coalescing. No sockets: the send
 *  function is a recorder that resolves when the test says so. */
import { describe, expect, it } from 'vitest';
import { QueueFullError } from '../transport/errors.js';
import { SendQueue } from '../transport/socket/send-queue.js';

/** Records batches as strings; each send stays pending until release(), or resolves
 *  at once after auto(). */
function recorder() {
  const sent: string[][] = [];
  let release: (() => void) | undefined;
  let automatic = false;
  const send = (frames: Uint8Array[]): Promise<void> => {
    sent.push(frames.map((f) => Buffer.from(f).toString()));
    return automatic ? Promise.resolve() : new Promise((r) => { release = r; });
  };
  return { sent, send, release: () => release?.(), auto: () => { automatic = true; release?.(); } };
}

const make = (send: (f: Uint8Array[]) => Promise<void>, limit = 100, errors: unknown[] = []) =>
  new SendQueue({ name: 't', limit, maxBatchMessages: 3, maxBatchBytes: 1_000, send, onError: (e) => errors.push(e) });

const b = (s: string): Buffer => Buffer.from(s);
/** Queues message `s` as header "s" and body "S". */
const put = (q: SendQueue, s: string, key?: string): void => q.push(b(s), b(s.toUpperCase()), key);

describe('send queue', () => {
  it('send queue - a lone message is sent in the same tick, later ones are coalesced in order', async () => {
    const r = recorder();
    const q = make(r.send);
    put(q, 'a');
    expect(r.sent).toEqual([]);
    await Promise.resolve();
    expect(r.sent).toEqual([['a', 'A']]); // in a microtask: no added latency
    for (const f of ['b', 'c', 'd', 'e']) put(q, f);
    r.release();
    await Promise.resolve(); await Promise.resolve();
    expect(r.sent[1]).toEqual(['b', 'B', 'c', 'C', 'd', 'D']); // maxBatchMessages = 3
    r.auto();
    await q.drained();
    expect(r.sent[2]).toEqual(['e', 'E']);
  });

  it('send queue - what one piece of synchronous code pushes leaves together, as one batch', async () => {
    const r = recorder();
    const q = make(r.send);
    for (const f of ['a', 'b', 'c']) put(q, f);
    r.auto();
    await q.drained();
    expect(r.sent).toEqual([['a', 'A', 'b', 'B', 'c', 'C']]);
  });

  it('send queue - batches never mix keys and put the key first', async () => {
    const r = recorder();
    const q = make(r.send);
    put(q, 'x', 'k0');
    put(q, '1', 'k1'); put(q, '2', 'k1'); put(q, '3', 'k2'); put(q, '4', 'k1');
    r.auto();
    await q.drained();
    expect(r.sent).toEqual([['k0', 'x', 'X'], ['k1', '1', '1', '2', '2'], ['k2', '3', '3'], ['k1', '4', '4']]);
  });

  it('send queue - a full queue throws QUEUE_FULL and keeps what it holds', async () => {
    const r = recorder();
    const q = make(r.send, 2);
    put(q, 'f');
    await Promise.resolve(); // 'f' is in flight: not held by the queue any more
    put(q, '1');
    put(q, '2');
    expect(() => put(q, '3')).toThrow(QueueFullError);
    expect(q.size).toBe(2);
    r.auto();
    await q.drained();
    expect(r.sent.flat()).toEqual(['f', 'F', '1', '1', '2', '2']);
  });

  it('send queue - a failing send is reported and the pump goes on', async () => {
    const errors: unknown[] = [];
    let n = 0;
    const q = make(() => (++n === 1 ? Promise.reject(new Error('EHOSTUNREACH')) : Promise.resolve()), 100, errors);
    put(q, 'a');
    await Promise.resolve(); // 'a' goes alone, and fails
    put(q, 'b');
    await q.drained();
    expect(errors).toHaveLength(1);
    expect(n).toBe(2);
  });
});
