/**
 * `zmesh status --data DIR`: a node's store at a glance. The outbox (pending, age of
 * the oldest), dead letters, the event log (head seq, rows kept), each durable
 * subscriber of that log and how far behind it is, inbox streams, the file's size and
 * the node id kept there. Read-only and safe while the node runs, like zmesh outbox:
 * where there is no store it says so and exits 1 (ZMESH_ERR_STORE), creating nothing.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { openStoreAdmin, type StoreFigures } from 'zmesh';
import { STORE_FILE } from '../../commerce/service.js';
import { table } from '../format.js';
import { checkPath } from '../options.js';
import { existingStore } from '../paths.js';
import { guarded } from '../run.js';
import { bytes, uptime } from '../top/format.js';

interface Args {
  data?: string;
  store?: string;
  json: boolean;
}

export interface StoreStatus extends Omit<StoreFigures, 'outbox'> {
  store: string;
  storeId: string;
  /** The database file and its WAL, bytes. */
  fileBytes: number;
  walBytes: number;
  /** Large payloads kept beside the store, in <store>-spill/. */
  spillBytes: number;
  outbox: { pending: number; oldestAgeMs: number | undefined };
}

const sizeOf = (path: string): number => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/** Bytes of the segment files in `dir` (none: 0). */
const dirBytes = (dir: string): number => {
  try {
    return readdirSync(dir).reduce((sum, f) => sum + sizeOf(join(dir, f)), 0);
  } catch {
    return 0;
  }
};

export function storeStatus(file: string, nowMs = Date.now()): StoreStatus {
  const admin = openStoreAdmin(file);
  try {
    const f = admin.figures();
    const oldest = f.outbox.oldestCreatedMs;
    return {
      store: file, storeId: admin.storeId, nodeId: f.nodeId, fileBytes: sizeOf(file), walBytes: sizeOf(`${file}-wal`), spillBytes: dirBytes(`${file}-spill`),
      outbox: { pending: f.outbox.pending, oldestAgeMs: oldest === undefined ? undefined : Math.max(0, nowMs - oldest) },
      deadLetters: f.deadLetters, events: f.events, durable: f.durable, inboxStreams: f.inboxStreams,
    };
  } finally {
    admin.close();
  }
}

function print(s: StoreStatus): void {
  const line = (k: string, v: string): void => console.log(`${k.padEnd(18)}${v}`);
  line('store', `${s.store} (${bytes(s.fileBytes)}, WAL ${bytes(s.walBytes)}${s.spillBytes > 0 ? `, large payloads ${bytes(s.spillBytes)}` : ''})`);
  line('store id', s.storeId);
  line('node id', s.nodeId ?? '(none kept: a secure node\'s id comes from its key)');
  line('outbox', `${s.outbox.pending} pending${s.outbox.oldestAgeMs === undefined ? '' : `, oldest ${uptime(s.outbox.oldestAgeMs)} old`}`);
  line('dead letters', String(s.deadLetters));
  line('event log', `head seq ${s.events.headSeq}, ${s.events.rows} events kept`);
  line('inbox streams', String(s.inboxStreams));
  if (s.durable.length === 0) return line('durable subs', 'none');
  console.log(`durable subscribers of this node's event log:\n${table(['SUBSCRIBER', 'ACKED', 'LAG', 'LAST ACK'], s.durable.map((d) => [
    d.subscriber, String(d.ackedSeq), String(d.lag), new Date(d.updatedMs).toISOString(),
  ])).replace(/^/gm, '  ')}`);
}

export const statusCommand: CommandModule<object, Args> = {
  command: 'status',
  describe: 'a node store at a glance: outbox, dead letters, event log, durable subscribers and their lag',
  builder: (y: Argv) => y
    .option('data', { type: 'string', requiresArg: true, describe: `the node's data directory (store: <DIR>/${STORE_FILE})` })
    .option('store', { type: 'string', requiresArg: true, describe: 'the store file itself, instead of --data' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
    .check((a) => {
      if ((a.data === undefined) === (a.store === undefined)) throw new Error('give exactly one of --data DIR or --store FILE');
      checkPath('data', a.data);
      checkPath('store', a.store);
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded((args: Args) => {
    const s = storeStatus(existingStore(args));
    if (args.json) console.log(JSON.stringify(s));
    else print(s);
  }),
};
