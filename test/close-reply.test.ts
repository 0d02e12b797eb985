/**
 * close() finishes what the node owes: a handler still running when close() is called
 * gets to answer, and its caller gets that answer, every time. Before, about one time
 * in five (measured with this loop), the reply was lost: the node closed its sockets
 * right after handing the reply to libzmq, which then never sent it, linger
 * notwithstanding. Now close() lets what was sent while closing leave first.
 *
 *   client --REQUEST "wait"--> server (handler sleeps 200 ms); server.close() meanwhile
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createNode, type MeshNode } from '../transport/index.js';

const nodes: MeshNode[] = [];
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.close())); });

describe('close', () => {
  it('close - a request whose handler is still running when its node closes gets its reply, 15 times out of 15', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 15; i++) {
      const server = createNode({ insecure: true, service: 'slow', host: '127.0.0.1', discovery: 'static' });
      nodes.push(server);
      await server.start();
      let running!: () => void;
      const arrived = new Promise<void>((resolve) => { running = resolve; });
      server.handle('wait', async () => {
        running();
        await new Promise((resolve) => setTimeout(resolve, 200));
        return Buffer.from('done');
      });
      const client = createNode({ insecure: true, service: 'client', host: '127.0.0.1', peers: [server.endpoints.router] });
      nodes.push(client);
      await client.start();
      await client.waitForService('slow');
      const answer = client.request('slow', 'wait', Buffer.alloc(0), { timeoutMs: 5_000 })
        .then((b) => Buffer.from(b).toString(), (err: { code?: string }) => String(err.code));
      await arrived;
      const closing = server.close();
      outcomes.push(await answer);
      await closing;
      await client.close();
    }
    expect(outcomes).toEqual(Array.from({ length: 15 }, () => 'done'));
  });
});
