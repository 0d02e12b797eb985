/**
 * Operational events (transport/events.ts): the log lines a pipeline alerts on, read
 * back from a real pino logger as JSON. Real nodes on 127.0.0.1, real stores:
 *
 *   pub (event log) --publishReliable--> durable subscriber "audit" on sub: replay.served on pub
 *   sender --send("sink", "Take")--> sink whose handler always throws: message.dead-lettered on sender
 *   sub closes: peer.left on pub
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createNode, type MeshNode } from '../transport/index.js';

const dir = mkdtempSync(join(tmpdir(), 'zmesh-events-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nodes: MeshNode[] = [];
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.close())); });

/** A logger whose lines are kept, parsed. */
function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>>; events(name: string): Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  const logger = pino({ level: 'info' }, sink);
  return { logger, lines, events: (name) => lines.filter((l) => l['event'] === name) };
}

async function started(node: MeshNode): Promise<MeshNode> {
  nodes.push(node);
  await node.start();
  return node;
}

describe('events', () => {
  it('events - store opened, replay served, peer joined and left: one line each, at info, with the audit schema and stable fields', async () => {
    const pubLog = capture();
    const pub = await started(createNode({ insecure: true, service: 'pub', host: '127.0.0.1', discovery: 'static', storePath: join(dir, 'pub.db') }, { logger: pubLog.logger }));
    expect(pubLog.events('store.opened')).toEqual([expect.objectContaining({
      level: 30, msg: 'store.opened', schema: 'zmesh.audit.v1', store: join(dir, 'pub.db'), storeId: expect.any(String), pending: 0, eventHead: 0,
    })]);
    for (let i = 1; i <= 3; i++) await pub.publishReliable('audit.entry', Buffer.from(String(i)));

    const sub = await started(createNode({ insecure: true, service: 'sub', host: '127.0.0.1', peers: [pub.endpoints.router], storePath: join(dir, 'sub.db') }));
    const seen: string[] = [];
    await sub.subscribeDurable('audit', 'audit.', (e) => { seen.push(Buffer.from(e.payload).toString()); });
    await vi.waitFor(() => expect(seen).toEqual(['1', '2', '3']), { timeout: 10_000 });
    // The three logged before sub came were replayed, in one answer; empty polls log nothing.
    await vi.waitFor(() => expect(pubLog.events('replay.served')).toHaveLength(1), { timeout: 10_000 });
    expect(pubLog.events('replay.served')[0]).toMatchObject({
      level: 30, schema: 'zmesh.audit.v1', peer: { nodeId: sub.id, service: 'sub' }, prefix: 'audit.', events: 3, fromSeq: 1, toSeq: 3,
    });
    await vi.waitFor(() => expect(pubLog.events('peer.joined').map((l) => l['peer'])).toContainEqual(expect.objectContaining({ nodeId: sub.id, service: 'sub' })));

    await sub.close();
    await vi.waitFor(() => expect(pubLog.events('peer.left')).toEqual([expect.objectContaining({
      level: 30, schema: 'zmesh.audit.v1', peer: expect.objectContaining({ nodeId: sub.id, service: 'sub' }), reason: expect.any(String),
    })]), { timeout: 10_000 });
    expect(pubLog.events('replay.served')).toHaveLength(1);
  });

  it('events - a dead letter is one warn line naming the command, its attempts and why', async () => {
    const senderLog = capture();
    const sender = await started(createNode(
      { insecure: true, service: 'sender', host: '127.0.0.1', discovery: 'static', storePath: join(dir, 'sender.db'), reliable: { maxAttempts: 2, backoffBaseMs: 10 } },
      { logger: senderLog.logger },
    ));
    const sink = await started(createNode({ insecure: true, service: 'sink', host: '127.0.0.1', peers: [sender.endpoints.router], storePath: join(dir, 'sink.db') }));
    sink.handleReliable('Take', () => { throw new Error('never takes it'); });
    await sender.send('sink', 'Take', Buffer.from('x'));
    await vi.waitFor(() => expect(senderLog.events('message.dead-lettered')).toHaveLength(1), { timeout: 10_000 });
    expect(senderLog.events('message.dead-lettered')[0]).toMatchObject({
      level: 40, schema: 'zmesh.audit.v1', service: 'sink', method: 'Take', streamSeq: 1, attempts: 2, reason: expect.stringContaining('never takes it'),
    });
  });
});
