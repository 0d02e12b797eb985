/**
 * `zmesh status`: a real process reading the store of a node that runs in this
 * process, written by real traffic.
 *
 *   pub (store) --2 commands to "ghost" (pending), 1 refused by sub (dead letter)-->
 *   sub (store) --durable "audit" on "ev.": acks 10 events, then closes--> pub logs 5 more
 *   sub --1 reliable command "Take"--> pub (one inbox stream)
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createNode, openStoreAdmin, storedNodeId, type MeshNode, type NodeOptions } from '../transport/index.js';
import type { StoreStatus } from '../nodes/cli/commands/status.js';

const CLI = fileURLToPath(new URL('../dist/nodes/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'zmesh-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nodes: MeshNode[] = [];
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.close())); });

function zmesh(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += String(d); });
  child.stderr.on('data', (d) => { stderr += String(d); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); }));
}

async function node(o: Partial<NodeOptions> & { service: string }): Promise<MeshNode> {
  const n = createNode({ insecure: true, host: '127.0.0.1', discovery: 'static', ...o } as NodeOptions);
  nodes.push(n);
  await n.start();
  return n;
}

describe('status', () => {
  it('status - reads a running node\'s store: outbox and its oldest, dead letters, event log head, durable lag, inbox streams, node id', async () => {
    const data = join(dir, 'pub');
    mkdirSync(data);
    const storePath = join(data, 'zmesh.db');
    const pub = await node({ service: 'pub', storePath, nodeId: storedNodeId(storePath, 'pub'), reliable: { maxAttempts: 1 } });
    pub.handleReliable('Take', () => undefined);
    const sub = await node({ service: 'sub', storePath: join(dir, 'sub.db'), peers: [pub.endpoints.router] });
    sub.handleReliable('Refuse', () => { throw new Error('no'); });
    await pub.waitForService('sub');
    const t0 = Date.now();
    await pub.send('ghost', 'Do', Buffer.from('a'));
    await pub.send('ghost', 'Do', Buffer.from('b'));
    await pub.send('sub', 'Refuse', Buffer.from('c'));
    await sub.send('pub', 'Take', Buffer.from('d'));
    for (let i = 1; i <= 10; i++) await pub.publishReliable(`ev.${i}`, Buffer.from(String(i)));
    const applied: number[] = [];
    const durable = await sub.subscribeDurable('audit', 'ev.', (e) => { applied.push(e.seq); });
    // Its progress reaches pub's store; then it goes, and 5 more events wait for it.
    const admin = openStoreAdmin(storePath);
    try {
      await vi.waitFor(() => {
        const f = admin.figures();
        expect(f.durable.map((d) => d.ackedSeq)).toEqual([10]);
        expect(f.deadLetters).toBe(1);
        expect(f.inboxStreams).toBe(1);
      }, { timeout: 10_000 });
    } finally {
      admin.close();
    }
    durable.close();
    await sub.close();
    for (let i = 11; i <= 15; i++) await pub.publishReliable(`ev.${i}`, Buffer.from(String(i)));

    const r = await zmesh(['status', '--data', data, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as StoreStatus;
    expect(s).toMatchObject({
      store: storePath, nodeId: pub.id, deadLetters: 1, inboxStreams: 1,
      outbox: { pending: 2 }, events: { headSeq: 15 },
    });
    expect(s.durable).toEqual([expect.objectContaining({ ackedSeq: 10, lag: 5 })]);
    expect(s.durable[0]!.subscriber).toContain('audit');
    // The oldest pending command was written after t0, and is younger than the test.
    expect(s.outbox.oldestAgeMs).toBeGreaterThanOrEqual(0);
    expect(s.outbox.oldestAgeMs).toBeLessThanOrEqual(Date.now() - t0);
    // Events 11..15 at least are kept for the subscriber that has not read them.
    expect(s.events.rows).toBeGreaterThanOrEqual(5);
    expect(s.events.rows).toBeLessThanOrEqual(15);
    expect(s.fileBytes + s.walBytes).toBeGreaterThan(0);
    expect(s.storeId).toMatch(/^[0-9a-f]+$/);

    const t = await zmesh(['status', '--store', storePath]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain(`node id           ${pub.id}`);
    expect(t.stdout).toMatch(/^outbox {12}2 pending, oldest \d+s old$/m);
    expect(t.stdout).toMatch(/^dead letters {6}1$/m);
    expect(t.stdout).toMatch(/^event log {9}head seq 15, \d+ events kept$/m);
    expect(t.stdout).toMatch(/^ {2}audit@\S+ +10 +5 +\d{4}-/m);
    // The node ran on through all of it, and its store is still its own to write.
    await pub.send('ghost', 'Do', Buffer.from('e'));
    expect(pub.reliableStats()!.pending).toBe(3);
  });

  it('status - where there is no store it says so, exits 1 and creates nothing', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const r = await zmesh(['status', '--data', empty]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^zmesh: no zmesh store in .*empty: it holds no zmesh\.db .*\(ZMESH_ERR_STORE\)$/m);
    expect(readdirSync(empty)).toEqual([]);
    const usage = await zmesh(['status']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('give exactly one of --data DIR or --store FILE');
  });
});
