/**
 * Injected parts beside the options: a clock the node reads its time from, and an
 * observer it tells of drops and settled requests (where metrics plug in).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createNode, fanOut, openStoreAdmin, QueueFullError, type Clock, type DropReason, type MeshNode } from '../transport/index.js';
import { RawDealer } from './helpers/raw-peer.js';

const dir = mkdtempSync(join(tmpdir(), 'zmesh-components-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nodes: MeshNode[] = [];
const raws: RawDealer[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

async function started(node: MeshNode): Promise<MeshNode> {
  nodes.push(node);
  await node.start();
  return node;
}

describe('components', () => {
  it('components - an injected clock judges ages: commands older than maxAgeMs by its time are dead-lettered, not delivered', async () => {
    let offsetMs = 0;
    const clock: Clock = { now: () => Date.now() + offsetMs, monotonic: () => performance.now() };
    const store = join(dir, 'aged.db');
    const sender = await started(createNode(
      { insecure: true, service: 'sender', host: '127.0.0.1', discovery: 'static', storePath: store, reliable: { maxAgeMs: 60_000 } },
      { clock },
    ));
    await sender.send('sink', 'Take', Buffer.from('old'));
    // A day passes by the node's clock; then the receiver appears.
    offsetMs = 24 * 3_600_000;
    const sink = await started(createNode({ insecure: true, service: 'sink', host: '127.0.0.1', peers: [sender.endpoints.router], storePath: join(dir, 'sink.db') }));
    let applied = 0;
    sink.handleReliable('Take', () => { applied++; });
    const admin = openStoreAdmin(store);
    try {
      await vi.waitFor(() => expect(admin.dead()).toHaveLength(1), { timeout: 10_000 });
      expect(admin.pending()).toHaveLength(0);
    } finally {
      admin.close();
    }
    expect(applied).toBe(0);
  });

  it('components - the observer hears of drops and of every settled request, and one that throws breaks nothing', async () => {
    const drops: Array<[DropReason, string]> = [];
    const settled: Array<[string, string, string]> = [];
    const handled: Array<[string, string]> = [];
    const server = await started(createNode({ insecure: true, service: 'echo', host: '127.0.0.1', discovery: 'static' }, {
      observer: fanOut([
        { dropped: (reason, from) => { drops.push([reason, from]); throw new Error('observer bug'); } },
        {
          dropped: (reason) => { drops.push([reason, 'second observer']); },
          handlerSettled: (method, ms, outcome) => {
            expect(ms).toBeGreaterThanOrEqual(0);
            handled.push([method, outcome]);
            throw new Error('observer bug');
          },
        },
      ]),
    }));
    server.handle('say', (p) => p);
    server.handle('refuse', async () => { throw new QueueFullError('not now'); });
    const client = await started(createNode({ insecure: true, service: 'client', host: '127.0.0.1', peers: [server.endpoints.router] }, {
      observer: {
        requestSettled: (service, method, ms, outcome) => {
          expect(ms).toBeGreaterThanOrEqual(0);
          settled.push([service, method, outcome]);
          throw new Error('observer bug');
        },
      },
    }));
    await client.waitForService('echo');
    expect(Buffer.from(await client.request('echo', 'say', Buffer.from('hi'))).toString()).toBe('hi');
    await expect(client.request('echo', 'missing', Buffer.alloc(0))).rejects.toMatchObject({ code: 'ZMESH_ERR_UNKNOWN_METHOD' });
    await expect(client.request('echo', 'refuse', Buffer.alloc(0))).rejects.toMatchObject({ code: 'ZMESH_ERR_QUEUE_FULL' });
    expect(settled).toEqual([['echo', 'say', 'ok'], ['echo', 'missing', 'ZMESH_ERR_UNKNOWN_METHOD'], ['echo', 'refuse', 'ZMESH_ERR_QUEUE_FULL']]);
    // Server side: only methods that reached a handler; the internal ones are not told.
    expect(handled).toEqual([['say', 'ok'], ['refuse', 'ZMESH_ERR_QUEUE_FULL']]);

    const raw = new RawDealer(server.endpoints.router);
    raws.push(raw);
    await raw.send([Buffer.from([0xff, 0xff, 0xff]), Buffer.alloc(0)]);
    await vi.waitFor(() => expect(drops.map(([r]) => r)).toContain('malformed'));
    // The first observer threw; the second heard of it all the same.
    expect(drops).toContainEqual(['malformed', 'second observer']);
    // Still serving after the observer threw.
    expect(Buffer.from(await client.request('echo', 'say', Buffer.from('again'))).toString()).toBe('again');
  });
});
