/**
 * The node under fuzz, in its own process so that a crash is seen as an exit, not as
 * the fuzzer dying with it: a secure node ("target") with a store, an echo method, a
 * reliable handler and a publisher of events. Its credentials come from the authority
 * directory the fuzzer made (argv). Reports {endpoint, publicKey, pubPort} over IPC,
 * then its drop counters on request.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode } from '../../transport/index.js';
import { fullCredentials } from '../lib/trust.js';

const { authorityDir } = JSON.parse(process.argv[2]!) as { authorityDir: string };
const node = createNode({
  service: 'target', host: '127.0.0.1', discovery: 'static', storePath: join(mkdtempSync(join(tmpdir(), 'zmesh-fuzz-')), 'zmesh.db'),
  maxPayloadBytes: 4_096, security: fullCredentials(authorityDir, 'target'),
});
node.handle('echo', (p) => p);
node.handleReliable('note', () => undefined);
await node.start();
// Events from the fuzzer's own publisher, once it has joined (bench/fuzz-publisher.ts).
let fuzzEvents = 0;
await node.subscribe('fuzzsub.', () => { fuzzEvents++; });
const ticker = setInterval(() => { try { node.publish('fuzz.tick', Buffer.from('t')); } catch { /* queue full: fine */ } }, 20);
process.on('message', (m: { type: string }) => {
  if (m.type === 'stats') process.send?.({ type: 'stats', stats: node.stats(), rssBytes: process.memoryUsage().rss, fuzzEvents });
});
process.on('SIGTERM', () => {
  clearInterval(ticker);
  void node.close().then(() => process.exit(0));
});
process.send?.({ type: 'ready', endpoint: node.endpoints.router, pubPort: node.endpoints.pubPort, publicKey: node.publicKey });
