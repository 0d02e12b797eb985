/**
 * Reliable events chained by subscribed prefix (proto/README.md section 15.1): a
 * publisher whose log interleaves topics tells each subscribed prefix which earlier
 * event it follows (zmesh-eprev), so that a durable subscriber of one prefix applies
 * live events without asking for a replay of the ones it does not take.
 *
 *   pub (a.*, b.* interleaved) --EVENT + zmesh-eprev--> sub (durable, prefix "a.")
 *                              --EVENT--> raw SUB (prefix "a."): the header, as sent
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import * as zmq from 'zeromq';
import { createNode, type MeshNode, type NodeOptions } from '../transport/index.js';
import { decodePairs, eventParts } from './helpers/raw-peer.js';

const dir = mkdtempSync(join(tmpdir(), 'zmesh-durable-chain-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});
const WAIT = { timeout: 15_000, interval: 10 };

async function node(o: Partial<NodeOptions> & { service: string }): Promise<MeshNode> {
  const n = createNode({ insecure: true, host: '127.0.0.1', discovery: 'static', storePath: join(dir, `${o.service}-${randomBytes(4).toString('hex')}.db`), ...o });
  cleanup.push(() => n.close());
  await n.start();
  return n;
}

describe('reliable events chained by prefix', () => {
  it('eprev - a durable subscriber of "a." applies 300 live events interleaved with 600 it does not take, in order, with (almost) no replay', async () => {
    const pub = await node({ service: 'pub' });
    const sub = await node({ service: 'sub', peers: [pub.endpoints.router] });
    await sub.waitForService('pub');
    sub.db!.exec('CREATE TABLE effects (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
    await sub.subscribeDurable('audit', 'a.', (e, tx) => { tx.db.prepare('INSERT INTO effects (n) VALUES (?)').run(Number(Buffer.from(e.payload).toString())); });
    // Whatever the subscription's start cost in replays is behind us.
    await vi.waitFor(() => expect(sub.stats().requests.inFlight).toBe(0), WAIT);
    const before = sub.stats().requests.sent;
    for (let n = 1; n <= 300; n++) {
      // Each "a." event follows two the subscriber does not take.
      await pub.publishReliable('b.x', Buffer.from('noise'));
      await pub.publishReliable('b.y', Buffer.from('noise'));
      await pub.publishReliable('a.n', Buffer.from(String(n)));
    }
    const effects = (): number[] => sub.db!.prepare('SELECT n FROM effects ORDER BY id').pluck().all() as number[];
    await vi.waitFor(() => expect(effects()).toHaveLength(300), WAIT);
    expect(effects()).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    // Without the chain every one of the 300 would find a gap and ask for a replay;
    // what is left is the once-a-second anti-entropy poll.
    expect(sub.stats().requests.sent - before).toBeLessThan(15);
  });

  it('eprev - on the wire: the header names each subscribed prefix the event matches and the previous event it matched; none before the first', async () => {
    const pub = await node({ service: 'pub' });
    const sock = new zmq.Subscriber({ linger: 0 });
    cleanup.push(() => sock.close());
    sock.connect(`tcp://127.0.0.1:${pub.endpoints.pubPort}`);
    sock.subscribe('a.');
    // Subscriptions reach the XPUB asynchronously: publish probes until one arrives.
    const seen: Array<{ topic: string; eseq: number; eprev: string | undefined }> = [];
    const reading = (async () => {
      for await (const frames of sock) {
        for (const env of decodePairs(eventParts(frames))) {
          seen.push({ topic: env.subject, eseq: Number(env.headers['zmesh-eseq']), eprev: env.headers['zmesh-eprev'] });
        }
      }
    })().catch(() => undefined);
    // The XPUB learns of "a." a moment after libzmq starts delivering under it, so the
    // first probes name no predecessor. Probe until one does: the chain is in place.
    const chained = (e: { eprev: string | undefined }): boolean => e.eprev !== undefined && (JSON.parse(e.eprev) as Array<[string, number]>).some(([p]) => p === 'a.');
    for (let i = 0; !seen.some(chained) && i < 100; i++) {
      await pub.publishReliable('a.probe', Buffer.from('p'));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen.some(chained)).toBe(true);
    // Before the chain, no predecessor is claimed: the first event seen names none.
    expect(chained(seen[0]!)).toBe(false);
    const probes = seen.length;
    await pub.publishReliable('b.other', Buffer.from('1'));
    await pub.publishReliable('a.one', Buffer.from('2'));
    await pub.publishReliable('b.other', Buffer.from('3'));
    await pub.publishReliable('b.other', Buffer.from('4'));
    await pub.publishReliable('a.two', Buffer.from('5'));
    await vi.waitFor(() => expect(seen.length).toBe(probes + 2), WAIT);
    const [one, two] = seen.slice(probes);
    const lastProbe = seen[probes - 1]!;
    expect(one!.topic).toBe('a.one');
    expect(JSON.parse(one!.eprev!)).toEqual([['a.', lastProbe.eseq]]);
    expect(one!.eseq).toBe(lastProbe.eseq + 2);
    expect(JSON.parse(two!.eprev!)).toEqual([['a.', one!.eseq]]);
    expect(two!.eseq).toBe(one!.eseq + 3);
    sock.close();
    await reading;
  });
});
