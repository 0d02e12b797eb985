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
import { createEventBus } from '../transport/bus.js';
import { lostReporter } from '../transport/reliable/lost.js';

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

  it('events - lost events: each one counted and on the bus, at most one error line per stream per interval, a peer\'s reason kept to one short line', () => {
    const log = capture();
    const bus = createEventBus();
    const counters = { events: { lost: 0 } };
    const seen: Array<{ seq: number; reason: string }> = [];
    bus.on('event:lost', (e) => seen.push(e));
    const report = lostReporter(bus, counters, log.logger);
    const lost = (stream: string, seq: number): void => report({
      subscription: 'audit', prefix: 'a.', publisher: { node: 'pub-1', service: 'pub' }, stream, seq, topic: 'a.x', reason: `damaged\nsegment ${'x'.repeat(1_000)}`,
    });
    for (let seq = 1; seq <= 100; seq++) lost('s1', seq);
    lost('s2', 1);
    expect(counters.events.lost).toBe(101);
    expect(seen.map((e) => e.seq)).toEqual([...Array.from({ length: 100 }, (_, i) => i + 1), 1]);
    const lines = log.events('event.lost');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 50, schema: 'zmesh.audit.v1', stream: 's1', seq: 1, suppressed: 0, subscription: 'audit', peer: { nodeId: 'pub-1', service: 'pub' } });
    expect(lines[1]).toMatchObject({ stream: 's2', seq: 1 });
    for (const r of [lines[0]!['reason'] as string, seen[0]!.reason]) {
      expect(r).not.toContain('\n');
      expect(r.length).toBeLessThanOrEqual(301);
    }
  });
});
