/**
 * `zmesh demo`: the out-of-the-box experience. Three services as separate processes
 * find each other over mDNS, N shoppers compete for scarce stock, and the run ends
 * with the books audited. Exit 0 only when every invariant holds. Secure: the demo
 * makes its own authority and certificates in its data directory; --insecure runs
 * every node without security, and says so loudly.
 */
import type { Argv, CommandModule } from 'yargs';
import { DemoInterrupted, defaultStock, runDemo } from '../../demo/run.js';
import { formatSummary } from '../../demo/summary.js';
import type { Progress } from '../../demo/shoppers.js';
import { insecureWarning } from '../credentials.js';
import { checkInterface, checkPath, configOption, LOG_LEVELS } from '../options.js';
import { makeDataDirectory } from '../paths.js';
import { EXIT_FAILED, guarded } from '../run.js';

interface Args {
  orders: number;
  stock?: number;
  concurrency?: number;
  data?: string;
  json: boolean;
  static: boolean;
  interface?: string;
  insecure: boolean;
  metrics: boolean;
  'log-level': string;
}

const MAX_ORDERS = 5_000;

export const demoCommand: CommandModule<object, Args> = {
  command: 'demo',
  describe: 'run product, cart and order as processes and N concurrent shoppers; audit the result',
  builder: (y: Argv) => configOption(y)
    .option('orders', { type: 'number', requiresArg: true, default: 100, describe: `concurrent shoppers, one checkout each (1 to ${MAX_ORDERS})` })
    .option('stock', { type: 'number', requiresArg: true, describe: 'stock of the scarce item (default: a quarter of --orders)' })
    .option('concurrency', { type: 'number', requiresArg: true, describe: 'shoppers at once (default: all)' })
    .option('data', { type: 'string', requiresArg: true, describe: 'keep the stores in this directory (default: a temporary one)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the summary as one JSON line (the last line of stdout)' })
    .option('static', { type: 'boolean', default: false, describe: 'skip mDNS: wire the nodes with static endpoints on 127.0.0.1' })
    .option('interface', { type: 'string', requiresArg: true, describe: 'IPv4 address to bind, advertise and run mDNS on' })
    .option('insecure', { type: 'boolean', default: false, describe: 'run every node WITHOUT security (default: secure, with an authority of the demo\'s own)' })
    .option('metrics', { type: 'boolean', default: false, describe: 'give each service a Prometheus metrics port (/metrics, /healthz, /readyz on 127.0.0.1) and print the URLs' })
    .option('log-level', { type: 'string', requiresArg: true, choices: LOG_LEVELS, describe: 'service log level (service logs go to stderr; default warn; ZMESH_LOG_LEVEL)' })
    .check((a) => {
      if (!Number.isSafeInteger(a.orders) || a.orders < 1 || a.orders > MAX_ORDERS) throw new Error(`--orders must be a whole number from 1 to ${MAX_ORDERS}`);
      if (a.stock !== undefined && (!Number.isSafeInteger(a.stock) || a.stock < 0)) throw new Error('--stock must be a whole number, 0 or more');
      if (a.concurrency !== undefined && (!Number.isSafeInteger(a.concurrency) || a.concurrency < 1)) throw new Error('--concurrency must be a whole number, 1 or more');
      checkInterface(a.interface);
      checkPath('data', a.data);
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded(async (args: Args) => {
    // Before anything starts: the services would each fail on it, less clearly.
    if (args.data !== undefined) makeDataDirectory(args.data);
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const live = progressLine(args.orders);
    if (args.insecure) console.error(insecureWarning('zmesh demo'));
    try {
      const result = await runDemo({
        orders: args.orders,
        stock: args.stock ?? defaultStock(args.orders),
        concurrency: args.concurrency,
        dataDir: args.data,
        discovery: args.static ? 'static' : 'mdns',
        interface: args.interface,
        insecure: args.insecure,
        metrics: args.metrics,
        signal: stop.signal,
        stderr: args['log-level'] === 'silent' ? 'ignore' : 'inherit',
        logLevel: args['log-level'],
        onPhase: (p) => { live.end(); console.error(`zmesh demo: ${p}`); },
        onProgress: (p) => live.update(p),
      });
      live.end();
      if (args.json) console.log(JSON.stringify(result));
      else {
        console.log(formatSummary(result));
        console.log(`  security      ${result.authority === undefined ? 'INSECURE (--insecure)' : `secure (own authority at ${result.authority})`}`);
        if (result.dataDir !== undefined) console.log(`  stores        kept in ${result.dataDir}`);
        for (const [service, url] of Object.entries(result.metrics ?? {})) console.log(`  metrics       ${service} ${url} (stopped with the demo)`);
      }
      if (!result.ok || result.unfinished > 0) process.exitCode = EXIT_FAILED;
    } catch (err) {
      // Ctrl-C is the operator's decision, not a failure: say where things were left,
      // exit 0. (Whatever failed on its own still fails, with exit 1.)
      if (!stop.signal.aborted) throw err;
      live.end();
      console.error(`zmesh demo: ${err instanceof DemoInterrupted ? err.message : `interrupted (${(err as Error).message})`}`);
    } finally {
      live.end();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }),
};

/** A live progress line on stderr: redrawn in place on a terminal, else every second. */
function progressLine(total: number): { update(p: Progress): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let drawn = false;
  const text = (p: Progress): string => {
    const done = p.confirmed + p.rejected;
    const width = 30;
    const filled = Math.round((done / total) * width);
    return `  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} done: ${p.confirmed} confirmed, ${p.rejected} rejected, ${p.started - done} in flight`;
  };
  return {
    update(p) {
      const now = Date.now();
      const done = p.confirmed + p.rejected === total;
      if (tty) {
        if (now - last < 50 && !done) return;
        process.stderr.write(`\r${text(p)}\x1b[K`);
        drawn = true;
      } else if (now - last >= 1_000 || done) {
        process.stderr.write(`${text(p)}\n`);
      }
      last = now;
    },
    end() {
      if (drawn) process.stderr.write('\n');
      drawn = false;
    },
  };
}
