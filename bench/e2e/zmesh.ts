/**
 * zmesh's reliable class end to end: the sender node send()s reliable commands to the
 * receiver's service; the receiver's reliable handler INSERTs one row into a table of
 * its own in the command's transaction (ctx.db), which commits with the inbox record;
 * the receiver then ACKs, and the sender removes the command from its outbox and emits
 * outbox:acked. Both nodes use the row's durability mode (README "Reliable delivery").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { createNode, type Durability, type MeshNode } from '../../transport/index.js';
import { readSeq, type E2eSystem } from './types.js';

const SERVICE = 'e2e-sink';
const METHOD = 'apply';

function node(service: string, storePath: string, durability: Durability, window: number, peers: string[] = []): MeshNode {
  return createNode({
    insecure: true, service, host: '127.0.0.1', discovery: 'static', peers, storePath, maxPayloadBytes: 1 << 20,
    // The outbox takes a whole row's backlog; the wire window is the row's W.
    reliable: { durability, window, maxOutbox: 1_000_000 },
  });
}

function tempStore(): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'zmesh-bench-e2e-'));
  return { path: join(dir, 'zmesh.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function zmeshE2e(durability: Durability): E2eSystem {
  const sync = durability === 'full' ? 'synchronous=FULL' : 'synchronous=NORMAL';
  return {
    name: durability === 'full' ? 'zmesh-reliable' : 'zmesh-reliable-os',
    durability,
    settings: `reliable class, durability '${durability}' on both nodes (SQLite WAL, ${sync}); send() with W unresolved, reliable.window W; the receiver's handler INSERTs one row in the command's transaction; done = outbox:acked`,
    unavailable: async () => undefined,
    version: async () => `zmesh 0.1.0, libzmq ${zmq.version}`,
    sender: async (p) => {
      const store = tempStore();
      const n = node('bench-e2e', store.path, durability, p.window, [p.endpoint!]);
      let acked = 0;
      const waiting: Array<{ total: number; resolve(at: number): void }> = [];
      n.on('outbox:acked', (e) => {
        if (e.service !== SERVICE) return;
        acked += e.count;
        const at = performance.now();
        for (let i = waiting.length - 1; i >= 0; i--) if (acked >= waiting[i]!.total) waiting.splice(i, 1)[0]!.resolve(at);
      });
      try {
        await n.start();
        await n.waitForService(SERVICE, { timeoutMs: 10_000 });
      } catch (err) {
        await n.close();
        store.remove();
        throw err;
      }
      return {
        send: (payload) => n.send(SERVICE, METHOD, payload),
        acked: () => acked,
        ackedAt: (total) => (acked >= total ? Promise.resolve(performance.now()) : new Promise((resolve) => { waiting.push({ total, resolve }); })),
        leftover: async () => n.reliableStats()!.pending,
        close: async () => { await n.close(); store.remove(); },
      };
    },
    receiver: async (p, handle) => {
      const store = tempStore();
      const n = node(SERVICE, store.path, durability, p.window);
      type Insert = { run(seq: number, bytes: number): unknown };
      let insert: Insert | undefined;
      n.handleReliable(METHOD, (payload, ctx) => {
        // Prepared once, on the node's own database: what a service would do.
        insert ??= ctx.db.prepare('INSERT INTO effects (seq, bytes) VALUES (?, ?)') as unknown as Insert;
        insert.run(readSeq(payload), payload.byteLength);
        handle(payload);
      });
      await n.start();
      n.db!.exec('CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, bytes INTEGER NOT NULL)');
      const count = n.db!.prepare('SELECT COUNT(*) AS rows, COUNT(DISTINCT seq) AS distinct_ FROM effects WHERE seq >= ? AND seq < ?');
      return {
        endpoint: n.endpoints.router,
        applied: (from, to) => {
          const r = count.get(from, to) as { rows: number; distinct_: number };
          return { rows: r.rows, distinct: r.distinct_ };
        },
        close: async () => { await n.close(); store.remove(); },
      };
    },
  };
}
