/**
 * A durable subscription made while its publishers are up already: nothing else will
 * tell it about events they logged before it existed (no peer:up comes, no live event
 * shows a gap, and the poll knows no stream yet), so it asks every peer that is up,
 * once, when it starts.
 *
 *   pub (10 events logged) ... sub up, linked ... then sub.subscribeDurable("ev.")
 *   no further event is published: the 10 must arrive from the replay alone
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createNode, openStoreAdmin, type MeshNode, type NodeOptions } from '../transport/index.js';

const dir = mkdtempSync(join(tmpdir(), 'zmesh-durable-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nodes: MeshNode[] = [];
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.close())); });

async function node(o: Partial<NodeOptions> & { service: string }): Promise<MeshNode> {
  const n = createNode({ insecure: true, host: '127.0.0.1', discovery: 'static', storePath: join(dir, `${o.service}.db`), ...o } as NodeOptions);
  nodes.push(n);
  await n.start();
  return n;
}

describe('durable subscription start', () => {
  it('durable start - a subscription made after its publisher is up and has logged events gets them all, in order, with nothing published after it', async () => {
    const pub = await node({ service: 'pub' });
    const other = await node({ service: 'other', peers: [pub.endpoints.router] }); // up, no events: an empty page
    const sub = await node({ service: 'sub', peers: [pub.endpoints.router, other.endpoints.router] });
    await sub.waitForService('pub');
    await sub.waitForService('other');
    for (let i = 1; i <= 10; i++) await pub.publishReliable(`ev.${i}`, Buffer.from(String(i)));
    // Every one of them has left pub's publisher queue while nobody subscribed to "ev.":
    // the XPUB dropped them, so none can reach the subscription live.
    await vi.waitFor(() => {
      expect(pub.stats().events.published).toBe(10);
      expect(pub.stats().queued.publisher).toBe(0);
    });
    const applied: string[] = [];
    await sub.subscribeDurable('audit', 'ev.', (e) => { applied.push(Buffer.from(e.payload).toString()); });
    await vi.waitFor(() => expect(applied).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']), { timeout: 10_000 });
    // And the publisher hears of its progress (its log may be pruned up to there).
    const admin = openStoreAdmin(join(dir, 'pub.db'));
    try {
      await vi.waitFor(() => expect(admin.figures().durable.map((d) => d.ackedSeq)).toEqual([10]), { timeout: 10_000 });
    } finally {
      admin.close();
    }
  });
});
