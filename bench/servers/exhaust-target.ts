/**
 * The node under attack in `npm run exhaust`, in its own process so that its memory
 * and descriptors are its own: an insecure node with a store (so that `$replay` and
 * `$ack` have a log to work on), an echo method and a slow one. Reports its endpoints
 * over IPC, then {stats, rssBytes, heap, fds} on request (after a GC: the process runs with
 * --expose-gc, so RSS compared with a baseline is not garbage).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode } from '../../transport/index.js';

const dir = mkdtempSync(join(tmpdir(), 'zmesh-exhaust-'));
const node = createNode({ insecure: true, service: 'target', host: '127.0.0.1', discovery: 'static', storePath: join(dir, 'zmesh.db') });
node.handle('echo', (p) => p);
node.handle('slow', () => new Promise<Uint8Array>((resolve) => setTimeout(() => resolve(new Uint8Array(0)), 50)));
await node.start();
// A log for $replay to page through: 3 000 events of 1 KiB.
const payload = Buffer.alloc(1024, 0x65);
await Promise.all(Array.from({ length: 3_000 }, (_, i) => node.publishReliable(`log.${i % 10}`, payload)));

process.on('message', (m: { type: string }) => {
  if (m.type !== 'resources') return;
  globalThis.gc?.();
  const mem = process.memoryUsage();
  process.send?.({ type: 'resources', stats: node.stats(), rssBytes: mem.rss, heapTotalBytes: mem.heapTotal, heapUsedBytes: mem.heapUsed, fds: readdirSync('/proc/self/fd').length });
});
process.on('SIGTERM', () => {
  void node.close().then(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
process.send?.({ type: 'ready', router: node.endpoints.router, pub: node.endpoints.pub, nodeId: node.id });
