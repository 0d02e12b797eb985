// examples/device.js: a node embedded in a small device program. It samples a sensor,
// keeps each reading in its store and forwards it reliably upstream. It stops after
// READINGS readings (default 20), or at SIGTERM or SIGINT, and then closes cleanly.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNode } from 'zmesh';

const dataDir = process.env['DATA_DIR'] ?? join(process.cwd(), 'device-data');
const readings = Number(process.env['READINGS'] ?? 20);
const SAMPLE_EVERY_MS = 50;
mkdirSync(dataDir, { recursive: true });

const local = { insecure: true, host: '127.0.0.1', discovery: /** @type {const} */ ('static') };
// The upstream service. On a real device it runs elsewhere, and `peers` names it.
const collector = createNode({
  ...local, service: 'collector', storePath: join(dataDir, 'collector.db'),
  migrations: ['CREATE TABLE received (device_seq INTEGER PRIMARY KEY, celsius REAL NOT NULL) STRICT'],
});
collector.handleReliable('record', (payload, ctx) => {
  const { seq, celsius } = JSON.parse(Buffer.from(payload).toString());
  ctx.db.prepare('INSERT INTO received (device_seq, celsius) VALUES (?, ?)').run(seq, celsius);
});
await collector.start();

const device = createNode({
  ...local, service: 'thermometer', storePath: join(dataDir, 'thermometer.db'), peers: [collector.endpoints.router],
  migrations: ['CREATE TABLE readings (seq INTEGER PRIMARY KEY, celsius REAL NOT NULL, at_ms INTEGER NOT NULL) STRICT'],
  // 'full', the default: a commit resolves once it is on the disk itself (fsync).
  reliable: { durability: 'full' },
});
await device.start();

// Signals belong to the program, not to the library: stop sampling, then close.
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
process.once('SIGINT', () => stop.abort());
console.log(`ready: sampling every ${SAMPLE_EVERY_MS} ms, store in ${dataDir}`);

for (let i = 0; i < readings && !stop.signal.aborted; i++) {
  const celsius = Math.round((20 + Math.random() * 2) * 10) / 10;
  // One commit: the reading and the command that forwards it, or neither.
  await device.commit((tx) => {
    const { lastInsertRowid } = tx.db.prepare('INSERT INTO readings (celsius, at_ms) VALUES (?, ?)').run(celsius, Date.now());
    tx.send('collector', 'record', Buffer.from(JSON.stringify({ seq: Number(lastInsertRowid), celsius })));
  });
  await sleep(SAMPLE_EVERY_MS, undefined, { signal: stop.signal }).catch(() => undefined);
}

// What is not acknowledged yet stays in the outbox, and goes out after the next start.
if (!stop.signal.aborted) await delivered(device, 5_000);
const stored = device.db?.prepare('SELECT count(*) FROM readings').pluck().get();
const received = collector.db?.prepare('SELECT count(*) FROM received').pluck().get();
const waiting = device.reliableStats()?.pending;
await Promise.all([device.close(), collector.close()]);
console.log(`stopped${stop.signal.aborted ? ' by signal' : ''}: ${stored} readings stored, ${received} received upstream, ${waiting} waiting in the outbox`);

/**
 * Resolves once the outbox is empty (every reading acknowledged), or after `ms`.
 * @param {import('zmesh').MeshNode} node
 * @param {number} ms
 * @returns {Promise<void>}
 */
function delivered(node, ms) {
  return new Promise((resolve) => {
    const finish = () => { off(); clearTimeout(timer); resolve(); };
    const off = node.on('outbox:acked', () => { if (node.reliableStats()?.pending === 0) finish(); });
    const timer = setTimeout(finish, ms);
    if (node.reliableStats()?.pending === 0) finish();
  });
}
