/**
 * The catch-up of a plain subscription (transport/reliable/catch-up.ts) fed with
 * events and peer changes by hand, with a recorded `$replay`: its decision table,
 * row by row. The real thing, on processes: test/cli-ops.test.ts ("watch catches up").
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { ReplayReply, ReplayRequest } from '../transport/codec/control.js';
import { CatchUp } from '../transport/reliable/catch-up.js';
import type { LostEvent } from '../transport/reliable/lost.js';
import type { MeshEvent } from '../transport/types.js';

const STREAM = '00112233aabbccdd';

function live(seq: number, o: { node?: string; prev?: number; stream?: string } = {}): MeshEvent {
  const headers: Record<string, string> = { 'zmesh-estream': o.stream ?? STREAM, 'zmesh-eseq': String(seq) };
  if (o.prev !== undefined) headers['zmesh-eprev'] = JSON.stringify([['ev.', o.prev]]);
  return { topic: 'ev.x', payload: Buffer.from(String(seq)), sender: { node: o.node ?? 'pub-1', service: 'pub' }, id: new Uint8Array(1), seq, timestampMs: 0, headers };
}

/** A publisher log of events 1..head, answered page by page. */
function harness(head: number, o: { fail?: boolean; damaged?: number[] } = {}) {
  const delivered: number[] = [];
  const lost: LostEvent[] = [];
  const asked: Array<{ nodeId: string; known: number; takesDamaged: boolean | undefined }> = [];
  const catchUp = new CatchUp({
    prefix: 'ev.', deliver: (e) => delivered.push(e.seq), lost: (e) => lost.push(e), log: pino({ level: 'silent' }),
    replay: async (nodeId: string, req: Omit<ReplayRequest, 'maxBytes'>): Promise<ReplayReply> => {
      const from = req.known[STREAM] ?? 0;
      asked.push({ nodeId, known: from, takesDamaged: req.takesDamaged });
      if (o.fail === true) throw new Error('no store');
      const upTo = Math.min(head, from + 2);   // pages of two
      const events = [];
      for (let s = from + 1; s <= upTo; s++) {
        const damaged = o.damaged?.includes(s) === true ? { payload: Buffer.alloc(0), damaged: `segment 0000000001.seg: event ${s} damaged (CRC mismatch)` } : { payload: Buffer.from(String(s)) };
        events.push({ seq: s, topic: 'ev.x', headers: {}, timestampMs: 0, id: new Uint8Array(1), node: nodeId, service: 'pub', ...damaged });
      }
      return { stream: STREAM, head, events, more: false, scanned: upTo } as unknown as ReplayReply;
    },
  });
  return { catchUp, delivered, asked, lost };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

describe('catch-up', () => {
  it('catch-up - a publisher that comes back: what it logged meanwhile is fetched, then the held live events, in order, once', async () => {
    const { catchUp, delivered, asked } = harness(7);
    catchUp.onEvent(live(1));
    catchUp.onEvent(live(2));
    catchUp.publisherDown('pub-1');
    // Back under another id (restarted insecure), same service, same stream; its live
    // events 6 and 7 arrive before the replay is answered, and 7 twice.
    catchUp.publisherUp('pub-2', 'pub');
    catchUp.onEvent(live(6, { node: 'pub-2' }));
    catchUp.onEvent(live(7, { node: 'pub-2' }));
    catchUp.onEvent(live(7, { node: 'pub-2' }));
    await settle();
    expect(delivered).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(asked.map((a) => a.nodeId)).toEqual(['pub-2', 'pub-2', 'pub-2']);
    expect(asked.every((a) => a.takesDamaged === true)).toBe(true);
    catchUp.onEvent(live(8, { node: 'pub-2' }));
    expect(delivered.at(-1)).toBe(8);
  });

  it('catch-up - replayed events their publisher reports damaged are reported lost, once each, delivered to nobody, and the stream goes on past them in order', async () => {
    const { catchUp, delivered, lost } = harness(7, { damaged: [3, 4] });
    catchUp.onEvent(live(1));
    catchUp.publisherDown('pub-1');
    catchUp.publisherUp('pub-1', 'pub');
    catchUp.onEvent(live(7));
    await settle();
    expect(delivered).toEqual([1, 2, 5, 6, 7]);
    expect(lost.map((e) => e.seq)).toEqual([3, 4]);
    expect(lost[0]).toMatchObject({ subscription: undefined, prefix: 'ev.', publisher: { node: 'pub-1', service: 'pub' }, stream: STREAM, topic: 'ev.x' });
    expect(lost[0]!.reason).toContain('CRC');
    catchUp.onEvent(live(8));
    expect(delivered.at(-1)).toBe(8);
    expect(lost).toHaveLength(2);
  });

  it('catch-up - a live event naming a predecessor of the prefix it never had starts a catch-up at once', async () => {
    const { catchUp, delivered, asked } = harness(5);
    catchUp.onEvent(live(1));
    catchUp.onEvent(live(5, { prev: 4 }));
    await settle();
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    expect(asked[0]).toEqual({ nodeId: 'pub-1', known: 1, takesDamaged: true });
    // A gap that is not ours (the chain says the previous event of the prefix was 5).
    catchUp.onEvent(live(9, { prev: 5 }));
    expect(delivered.at(-1)).toBe(9);
    expect(asked).toHaveLength(2);
  });

  it('catch-up - a failed replay goes on live with what it held; fast-class and unknown streams pass as they come', async () => {
    const { catchUp, delivered } = harness(9, { fail: true });
    catchUp.onEvent(live(1));
    catchUp.publisherDown('pub-1');
    catchUp.publisherUp('pub-1', 'pub');
    catchUp.onEvent(live(9));
    await settle();
    expect(delivered).toEqual([1, 9]);
    catchUp.onEvent({ ...live(0), headers: {} });
    catchUp.onEvent(live(3, { stream: 'ffeeddccbbaa0099' }));
    expect(delivered).toEqual([1, 9, 0, 3]);
    catchUp.close();
    catchUp.onEvent(live(10));
    expect(delivered).toHaveLength(4);
  });
});
