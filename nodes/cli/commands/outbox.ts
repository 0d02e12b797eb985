/**
 * `zmesh outbox <list|dead|retry> --data DIR`: the reliable commands a node's store
 * still holds (pending), the ones that gave up (dead), and requeueing dead ones. Works
 * while the node runs; the store is <DIR>/zmesh.db unless --store names a file. Where
 * there is no store it says so and exits 1 (ZMESH_ERR_STORE): opening one would make
 * an empty store there, and an admin command never creates one.
 */
import type { Argv, CommandModule } from 'yargs';
import { openStoreAdmin, type OutboxEntry } from 'zmesh';
import { STORE_FILE } from '../../commerce/service.js';
import { table } from '../format.js';
import { checkPath } from '../options.js';
import { existingStore } from '../paths.js';
import { guarded } from '../run.js';

interface Args {
  action: 'list' | 'dead' | 'retry';
  data?: string;
  store?: string;
  json: boolean;
  limit: number;
  seq?: number[];
  all: boolean;
}

const show = (rows: OutboxEntry[], json: boolean, what: string): void => {
  if (json) return console.log(JSON.stringify(rows));
  if (rows.length === 0) return console.log(`no ${what} messages`);
  console.log(table(['SEQ', 'SERVICE', 'METHOD', 'STREAM#', 'BYTES', 'ATTEMPTS', 'AGE', 'LAST ERROR'], rows.map((r) => [
    String(r.seq), r.service, r.method, String(r.streamSeq), String(r.bytes), String(r.attempts),
    `${Math.round((Date.now() - r.createdMs) / 1000)}s`, r.lastError ?? '',
  ])));
};

export const outboxCommand: CommandModule<object, Args> = {
  command: 'outbox <action>',
  describe: 'pending and dead-lettered reliable commands of a node store',
  builder: (y: Argv) => y
    .positional('action', { choices: ['list', 'dead', 'retry'] as const, describe: 'list pending, list dead letters, or requeue dead letters' })
    .option('data', { type: 'string', requiresArg: true, describe: `the node's data directory (store: <DIR>/${STORE_FILE})` })
    .option('store', { type: 'string', requiresArg: true, describe: 'the store file itself, instead of --data' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
    .option('limit', { type: 'number', requiresArg: true, default: 100, describe: 'most rows to list' })
    .option('seq', { type: 'number', array: true, requiresArg: true, describe: 'retry: these dead letters (by SEQ)' })
    .option('all', { type: 'boolean', default: false, describe: 'retry: every dead letter' })
    .check((a) => {
      if ((a.data === undefined) === (a.store === undefined)) throw new Error('give exactly one of --data DIR or --store FILE');
      checkPath('data', a.data);
      checkPath('store', a.store);
      if (!Number.isSafeInteger(a.limit) || a.limit < 1) throw new Error('--limit must be a positive integer');
      if (a.action === 'retry' && !a.all && (a.seq === undefined || a.seq.length === 0)) throw new Error('retry needs --seq N... or --all');
      if (a.seq?.some((s) => !Number.isSafeInteger(s) || s < 1)) throw new Error('--seq takes positive integers');
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded((args: Args) => {
    const admin = openStoreAdmin(existingStore(args));
    try {
      if (args.action === 'list') show(admin.pending(args.limit), args.json, 'pending');
      else if (args.action === 'dead') show(admin.dead(args.limit), args.json, 'dead');
      else {
        const n = admin.retry(args.all ? 'all' : args.seq!);
        console.log(args.json ? JSON.stringify({ requeued: n }) : `requeued ${n} message(s)`);
      }
    } finally {
      admin.close();
    }
  }),
};
