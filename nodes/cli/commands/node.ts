/**
 * `zmesh node <service>`: runs one commerce service until SIGINT or SIGTERM, then
 * closes it cleanly (running handlers finish, queued messages go out, goodbye is
 * said). A second signal stops at once; the store keeps whatever was committed.
 */
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { startService } from '../../commerce/services.js';
import { STORE_FILE } from '../../commerce/service.js';
import { SERVICES, type ServiceName } from '../../commerce/api.js';
import { meshOptions, stderrLogger, type MeshArgs } from '../options.js';
import { guarded } from '../run.js';

interface Args extends MeshArgs {
  service: ServiceName;
  data?: string;
  json: boolean;
  discovery?: 'mdns' | 'static' | 'both';
  stock?: number;
  'pending-timeout': number;
}

export const nodeCommand: CommandModule<object, Args> = {
  command: 'node <service>',
  describe: 'run one commerce service (product, cart or order) until SIGINT/SIGTERM',
  builder: (y: Argv) => meshOptions(y
    .positional('service', { type: 'string', choices: SERVICES, demandOption: true, describe: 'the service to run' })
    .option('data', { type: 'string', describe: 'directory of the node\'s store (default ./zmesh-data/<service>)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the ready and closed lines as JSON' })
    .option('discovery', { type: 'string', choices: ['mdns', 'static', 'both'], describe: 'where peers come from (default: static with --peer, else mdns)' })
    .option('stock', { type: 'number', describe: 'product: stock of the scarce demo item when the catalog is first seeded (default 50)' })
    .option('pending-timeout', { type: 'number', default: 60_000, describe: 'order: ms before a PENDING order is rejected and its stock released' }))
    .check((a) => {
      if (a.stock !== undefined && (!Number.isSafeInteger(a.stock) || a.stock < 0)) throw new Error('--stock must be a whole number, 0 or more');
      if (!Number.isSafeInteger(a['pending-timeout']) || a['pending-timeout'] < 100) throw new Error('--pending-timeout must be at least 100 ms');
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded(async (args: Args) => {
    const dataDir = resolve(args.data ?? join('zmesh-data', args.service));
    const peers = args.peer ?? [];
    const running = await startService(args.service, {
      dataDir,
      mesh: args.mesh,
      interface: args.interface,
      peers,
      discovery: args.discovery ?? (peers.length === 0 ? 'mdns' : 'static'),
      logger: stderrLogger(args['log-level']),
      scarceStock: args.stock,
      pendingTimeoutMs: args['pending-timeout'],
    });
    const { node } = running;
    const ready = {
      event: 'ready', service: node.service, nodeId: node.id, mesh: node.mesh, pid: process.pid,
      router: node.endpoints.router, pub: node.endpoints.pub, store: join(dataDir, STORE_FILE),
    };
    if (args.json) console.log(JSON.stringify(ready));
    else console.log(`${node.service} node ${node.id} up: router ${ready.router}, pub ${ready.pub}, mesh "${node.mesh}", store ${ready.store}`);

    await new Promise<void>((done) => {
      const stop = (signal: NodeJS.Signals): void => {
        process.once(signal, () => { node.abort(); process.exit(130); });
        done();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await running.close();
    if (args.json) console.log(JSON.stringify({ event: 'closed', nodeId: node.id }));
    else console.log(`${node.service} node ${node.id} closed`);
  }),
};
