/** Receiver for the reliable benchmark: reliable "apply" writes one effect row per
 *  command in the inbox transaction; fast "apply" only counts; "count" reports it. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode } from '../../transport/index.js';
import { credentials } from '../systems/zmesh.js';

const { secure } = JSON.parse(process.argv[2] ?? '{}') as { secure?: boolean };
const dir = mkdtempSync(join(tmpdir(), 'zmesh-bench-sink-'));
const node = createNode({
  ...(secure === true ? { security: credentials('sink') } : { insecure: true }),
  service: 'sink', host: '127.0.0.1', discovery: 'static', storePath: join(dir, 'zmesh.db'),
});
let fast = 0;
node.handleReliable('apply', (p, ctx) => { ctx.db.prepare('INSERT INTO effects (bytes) VALUES (?)').run(p.byteLength); });
node.handle('apply', () => { fast++; });
node.handle('count', () => Buffer.from(String(fast)));
await node.start();
node.db!.exec('CREATE TABLE IF NOT EXISTS effects (rowid INTEGER PRIMARY KEY, bytes INTEGER NOT NULL)');
// A secure node is reached with its key: tcp://HOST:PORT#<hex>.
process.send?.({ endpoint: node.publicKey === undefined ? node.endpoints.router : `${node.endpoints.router}#${node.publicKey}` });
// Its store is a scratch one: removed once closed (each run left one in the temp dir).
process.on('SIGTERM', () => {
  void node.close().then(() => {
    rmSync(dir, { recursive: true, force: true });
    process.disconnect?.();
  });
});
