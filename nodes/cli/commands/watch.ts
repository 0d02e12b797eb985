/**
 * `zmesh watch [topic-prefix]`: prints events as they happen, decoded to JSON with
 * the commerce schemas (unknown topics print their payload as text). Runs until
 * SIGINT/SIGTERM, or until --count events or --timeout seconds. Joins the mesh as the
 * client identity "cli", like zmesh call.
 *
 * It first waits up to --wait seconds for a node of the mesh to come up (one of the
 * --peer nodes, or one mDNS finds). When none does it exits 1 (ZMESH_ERR_TIMEOUT):
 * watching nobody would print nothing and end as if the mesh had been quiet.
 */
import type { Argv, CommandModule } from 'yargs';
import { MAX_SUBJECT_BYTES, isSubject, type MeshEvent } from 'zmesh';
import { eventTypeOf } from '../registry.js';
import { toJson } from '../../commerce/codec.js';
import { credentialOptions, type CredentialArgs } from '../credentials.js';
import { findService, joinMesh } from '../mesh-client.js';
import { meshOptions, type MeshArgs } from '../options.js';
import { guarded } from '../run.js';

interface Args extends MeshArgs, CredentialArgs {
  prefix: string;
  json: boolean;
  count?: number;
  timeout?: number;
  wait: number;
}

export const watchCommand: CommandModule<object, Args> = {
  command: 'watch [prefix]',
  describe: 'print events as they happen, decoded to JSON',
  builder: (y: Argv) => credentialOptions(meshOptions(y
    .positional('prefix', { type: 'string', default: '', describe: 'topic prefix, e.g. order. (default: every topic)' })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object per line' })
    .option('count', { type: 'number', requiresArg: true, describe: 'stop after this many events' })
    .option('timeout', { type: 'number', requiresArg: true, describe: 'stop after this many seconds' })
    .option('wait', { type: 'number', requiresArg: true, default: 5, describe: 'seconds to wait for a first node of the mesh; none: exit 1' })))
    .check((a) => {
      if (a.count !== undefined && (!Number.isSafeInteger(a.count) || a.count < 1)) throw new Error('--count must be a whole number, 1 or more');
      if (a.timeout !== undefined && (!Number.isFinite(a.timeout) || a.timeout <= 0 || a.timeout > 86_400)) throw new Error('--timeout must be a number of seconds between 0 and 86400');
      if (!Number.isFinite(a.wait) || a.wait <= 0 || a.wait > 600) throw new Error('--wait must be a number of seconds between 0 and 600');
      if ((a.prefix !== '' && !isSubject(a.prefix)) || /[\s\0]/.test(a.prefix)) throw new Error(`the topic prefix must be at most ${MAX_SUBJECT_BYTES} bytes of UTF-8 with no spaces`);
      if (a.prefix.startsWith('$')) throw new Error('the topic prefix must not start with "$": those topics are zmesh\'s own');
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded(async (args: Args) => {
    const node = await joinMesh(args, 'watch');
    const stop = new AbortController();
    let seen = 0;
    const print = (e: MeshEvent): void => {
      const type = eventTypeOf(e.topic);
      let body: unknown;
      try {
        body = type === undefined ? Buffer.from(e.payload).toString() : toJson(type, e.payload);
      } catch (err) {
        body = { undecodable: (err as Error).message, bytes: Buffer.from(e.payload).toString('base64') };
      }
      const from = `${e.sender.service}/${e.sender.node}`;
      if (args.json) console.log(JSON.stringify({ topic: e.topic, from, timestampMs: e.timestampMs, event: body }));
      else console.log(`${new Date(e.timestampMs).toISOString()}  ${e.topic}  ${from}  ${JSON.stringify(body)}`);
      if (args.count !== undefined && ++seen >= args.count) stop.abort();
    };
    try {
      await findService(node, undefined, args, ': nothing to watch');
      // catchUp: a publisher that restarts has its first events fetched from its log.
      await node.subscribe(args.prefix, print, { signal: stop.signal, catchUp: true });
      // Handlers before the "watching" line: whoever waits for it may signal at once.
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      console.error(`zmesh watch: watching "${args.prefix}" on mesh "${args.mesh}"; Ctrl-C to stop`);
      const timer = args.timeout === undefined ? undefined : setTimeout(() => stop.abort(), args.timeout * 1000);
      // --count may be reached already, by events that came while subscribing.
      if (!stop.signal.aborted) await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    } finally {
      await node.close();
    }
  }),
};
