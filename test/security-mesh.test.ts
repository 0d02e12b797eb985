/**
 * A secure mesh on loopback: CURVE on every socket, certificates checked both ways,
 * every message bound to its sender's key, permissions enforced on what it proves.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createNode, type MeshEvent, type MeshNode, type NodeOptions } from '../transport/index.js';
import { testAuthority } from './helpers/trust.js';

const ta = testAuthority();
afterAll(() => ta.cleanup());
const nodes: MeshNode[] = [];
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.close())); });

async function node(o: NodeOptions): Promise<MeshNode> {
  const n = createNode({ host: '127.0.0.1', discovery: 'static', ...o });
  nodes.push(n);
  await n.start();
  return n;
}
const peerOf = (n: MeshNode): string => `${n.endpoints.router}#${n.publicKey}`;

describe('secure mesh', () => {
  it('secure - two certified nodes exchange requests and events over CURVE', async () => {
    const alpha = await node({ service: 'alpha', security: ta.issue('alpha').security });
    alpha.handle('echo', (p) => p);
    const beta = await node({ service: 'beta', peers: [peerOf(alpha)], security: ta.issue('beta').security });
    await beta.waitForService('alpha', { timeoutMs: 5_000 });
    expect(Buffer.from(await beta.request('alpha', 'echo', Buffer.from('hi'))).toString()).toBe('hi');
    await alpha.waitForService('beta', { timeoutMs: 5_000 });
    const got: MeshEvent[] = [];
    await alpha.subscribe('t.', (e) => got.push(e));
    beta.publish('t.x', Buffer.from('event'));
    await vi.waitFor(() => expect(got.map((e) => Buffer.from(e.payload).toString())).toEqual(['event']));
    expect(alpha.id).toMatch(/^alpha-[0-9a-f]{16}$/);
    expect(alpha.stats().dropped).toMatchObject({ forbidden: 0, senderMismatch: 0 });
  });
});
