/**
 * `zmesh peers`: lists the nodes mDNS can see on this LAN. It only browses: it
 * advertises nothing and joins no mesh, so it is safe to run anywhere on the LAN.
 */
import type { Argv, CommandModule } from 'yargs';
import { mdnsDiscovery, type MdnsRecord } from 'zmesh';
import { table } from '../format.js';
import { checkInterface, checkMesh } from '../options.js';
import { guarded } from '../run.js';

interface Args {
  timeout: number;
  json: boolean;
  mesh: string;
  interface?: string;
}

export const peersCommand: CommandModule<object, Args> = {
  command: 'peers',
  describe: 'list the zmesh nodes discoverable on this LAN (mDNS)',
  builder: (y: Argv) => y
    .option('timeout', { type: 'number', requiresArg: true, default: 3, describe: 'seconds to listen for answers' })
    .option('json', { type: 'boolean', default: false, describe: 'print a JSON array' })
    .option('mesh', { type: 'string', requiresArg: true, default: 'default', describe: 'only nodes of this mesh ("*" for all)' })
    .option('interface', { type: 'string', requiresArg: true, describe: 'IPv4 address of the interface to browse on' })
    .check((a) => {
      if (!Number.isFinite(a.timeout) || a.timeout <= 0 || a.timeout > 600) throw new Error('--timeout must be a number of seconds between 0 and 600');
      checkMesh(a.mesh, true);
      checkInterface(a.interface);
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded(async (args: Args) => {
    const browser = mdnsDiscovery({ interface: args.interface });
    const stop = new AbortController();
    await browser.start(undefined, { propose: () => undefined, withdraw: () => undefined }, stop.signal);
    await new Promise((r) => setTimeout(r, args.timeout * 1000));
    const now = Date.now();
    const records = browser.records().filter((r) => args.mesh === '*' || r.mesh === args.mesh);
    await browser.close();
    stop.abort();
    const rows = records
      .sort((a, b) => a.service.localeCompare(b.service) || a.nodeId.localeCompare(b.nodeId))
      .map((r: MdnsRecord) => ({
        nodeId: r.nodeId, service: r.service, mesh: r.mesh, addresses: r.addresses,
        routerPort: r.routerPort, pubPort: r.pubPort, seenForMs: now - r.firstSeenMs,
      }));
    if (args.json) {
      console.log(JSON.stringify(rows));
      return;
    }
    if (rows.length === 0) {
      console.log(`no zmesh nodes of mesh "${args.mesh}" answered within ${args.timeout} s`);
      return;
    }
    console.log(table(['NODE', 'SERVICE', 'MESH', 'ADDRESSES', 'ROUTER', 'PUB', 'SEEN'], rows.map((r) => [
      r.nodeId, r.service, r.mesh, r.addresses.join(','), String(r.routerPort), String(r.pubPort), `${(r.seenForMs / 1000).toFixed(1)}s`,
    ])));
  }),
};
