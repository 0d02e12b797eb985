/**
 * `zmesh node <service>`: runs one commerce service until SIGINT or SIGTERM, then
 * closes it cleanly (running handlers finish, queued messages go out, goodbye is
 * said). A second signal stops at once; the store keeps whatever was committed.
 *
 * Secure by default: the node needs its credentials (--credentials DIR, or --key,
 * --cert and --authority), or --insecure, which it warns about. Without either it
 * exits 1 with the commands that make credentials. The ready line carries the node's
 * public key: what other nodes' static peer entries need after "#".
 *
 * Identity that survives a restart: --port and --pub-port pin the ports, and an
 * insecure node keeps its id in its store (storedNodeId) unless --node-id says
 * otherwise for this run. A secure node's id is derived from its key, so it is as
 * stable as the key; --node-id may only repeat it. The ready line names the endpoint
 * others dial (the advertised address, never the 0.0.0.0 bound).
 */
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { storedNodeId } from 'zmesh';
import { startService } from '../../commerce/services.js';
import { STORE_FILE } from '../../commerce/service.js';
import { SERVICES, type ServiceName } from '../../commerce/api.js';
import { SERVICE_PERMISSIONS } from '../../commerce/permissions.js';
import { credentialOptions, credentialsHowTo, insecureWarning, resolveTrust, type CredentialArgs } from '../credentials.js';
import { checkDns, checkPath, discoveryOf, meshOptions, stderrLogger, type MeshArgs } from '../options.js';
import { makeDataDirectory } from '../paths.js';
import { guarded } from '../run.js';

interface Args extends MeshArgs, CredentialArgs {
  service: ServiceName;
  data?: string;
  json: boolean;
  'node-id'?: string;
  port?: number;
  'pub-port'?: number;
  advertise?: string[];
  'dns-domain'?: string;
  'dns-server'?: string[];
  stock?: number;
  'pending-timeout': number;
  'metrics-port'?: number;
  'metrics-host'?: string;
  'summary-interval'?: number;
}

export const nodeCommand: CommandModule<object, Args> = {
  command: 'node <service>',
  describe: 'run one commerce service (product, cart or order) until SIGINT/SIGTERM',
  builder: (y: Argv) => credentialOptions(meshOptions(y
    .positional('service', { type: 'string', choices: SERVICES, demandOption: true, describe: 'the service to run' })
    .option('data', { type: 'string', requiresArg: true, describe: 'directory of the node\'s store (default ./zmesh-data/<service>; ZMESH_DATA)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the ready and closed lines as JSON' })
    .option('node-id', { type: 'string', requiresArg: true, describe: 'node id for this run (default: the one kept in the store; a secure node\'s is derived from its key; ZMESH_NODE_ID)' })
    // Strings, so that config.ts can say "got \"x\"" rather than "got NaN".
    .option('port', { type: 'string', requiresArg: true, describe: 'ROUTER port, the one peers dial (default: any free port; ZMESH_PORT)' })
    .option('pub-port', { type: 'string', requiresArg: true, describe: 'PUB port (default: any free port; ZMESH_PUB_PORT)' })
    .option('advertise', { type: 'string', array: true, requiresArg: true, describe: 'address peers dial this node at, when not the bound one (NAT, containers; repeatable; default: the --interface address, or every non-internal IPv4 address; ZMESH_ADVERTISE)' })
    // dns joins the discovery modes meshOptions offers (light clients do not browse DNS).
    .option('discovery', { type: 'string', requiresArg: true, choices: ['mdns', 'static', 'both', 'dns'], describe: 'where peers come from (default: dns with --dns-domain, static with --peer, else mdns; ZMESH_DISCOVERY)' })
    .option('dns-domain', { type: 'string', requiresArg: true, describe: 'DNS-SD over unicast DNS: browse _zmesh._tcp.<domain> (PTR, SRV, TXT); for a Kubernetes headless service, <svc>.<namespace>.svc.cluster.local' })
    .option('dns-server', { type: 'string', array: true, requiresArg: true, describe: 'DNS server for --dns-domain, IP[:PORT] (repeatable; default: the system\'s resolvers)' })
    .option('metrics-port', { type: 'string', requiresArg: true, describe: 'serve Prometheus /metrics and the /healthz, /readyz probes on this port (0: any free port; ZMESH_METRICS_PORT)' })
    .option('metrics-host', { type: 'string', requiresArg: true, describe: 'address the metrics server binds (default 127.0.0.1: loopback only; ZMESH_METRICS_HOST)' })
    .option('summary-interval', { type: 'string', requiresArg: true, describe: 'ms between the summaries this node publishes for zmesh top (0: none; default 1000; ZMESH_SUMMARY_INTERVAL_MS)' })
    .option('stock', { type: 'number', requiresArg: true, describe: 'product: stock of the scarce demo item when the catalog is first seeded (default 50)' })
    .option('pending-timeout', { type: 'number', requiresArg: true, default: 60_000, describe: 'order: ms before a PENDING order is rejected and its stock released' })))
    .check((a) => {
      checkPath('data', a.data);
      checkDns(a.discovery, a['dns-domain'], a['dns-server']);
      if (a.stock !== undefined && (!Number.isSafeInteger(a.stock) || a.stock < 0)) throw new Error('--stock must be a whole number, 0 or more');
      if (!Number.isSafeInteger(a['pending-timeout']) || a['pending-timeout'] < 100) throw new Error('--pending-timeout must be at least 100 ms');
      // A host without a port would bind nothing: say so rather than ignore it.
      if (a['metrics-host'] !== undefined && a['metrics-port'] === undefined) throw new Error('--metrics-host needs --metrics-port (or ZMESH_METRICS_PORT)');
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded(async (args: Args) => {
    const what = `zmesh node ${args.service}`;
    const trust = resolveTrust(args, () => credentialsHowTo(what, args.service, args.mesh, SERVICE_PERMISSIONS[args.service]));
    if ('insecure' in trust) console.error(insecureWarning(what));
    const dataDir = resolve(args.data ?? join('zmesh-data', args.service));
    // Here, after the credentials were read: a node refused for those leaves nothing.
    makeDataDirectory(dataDir);
    const peers = args.peer ?? [];
    // Insecure: the id the store keeps (made on the first start), unless overridden.
    const nodeId = args['node-id'] ?? ('insecure' in trust ? storedNodeId(join(dataDir, STORE_FILE), args.service) : undefined);
    // Signal handlers before the ready line: whoever reads it may signal at once, and a
    // SIGTERM that beat the handlers would kill the process instead of closing it.
    let aborting: (() => void) | undefined;
    const stopped = new Promise<void>((done) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals): void => {
        process.once(signal, () => { aborting?.(); process.exit(130); });
        // Whoever started us (zmesh demo) learns that we are on our way out, so that it
        // does not signal us again: a SIGTERM that arrives while the process exits,
        // after Node has let go of its handlers, kills it with the signal.
        if (args.json && !stopping) console.log(JSON.stringify({ event: 'stopping', signal }));
        stopping = true;
        done();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    const running = await startService(args.service, {
      ...trust,
      dataDir,
      mesh: args.mesh,
      interface: args.interface,
      peers,
      discovery: args['dns-domain'] !== undefined && args.discovery === undefined ? 'dns' : discoveryOf(args),
      ...(args['dns-domain'] === undefined ? {} : { dns: { domain: args['dns-domain'], ...(args['dns-server'] === undefined ? {} : { servers: args['dns-server'] }) } }),
      nodeId,
      routerPort: args.port,
      pubPort: args['pub-port'],
      advertise: args.advertise,
      logger: stderrLogger(args['log-level']),
      scarceStock: args.stock,
      pendingTimeoutMs: args['pending-timeout'],
      ...(args['summary-interval'] === undefined ? {} : { summaryIntervalMs: Number(args['summary-interval']) }),
      ...(args['metrics-port'] === undefined ? {} : { metrics: { port: Number(args['metrics-port']), ...(args['metrics-host'] === undefined ? {} : { host: args['metrics-host'] }) } }),
    });
    const { node } = running;
    aborting = () => node.abort();
    // What peers dial: the advertised endpoints, never the wildcard that was bound.
    const { advertised } = node.endpoints;
    const ready = {
      event: 'ready', service: node.service, nodeId: node.id, mesh: node.mesh, pid: process.pid,
      router: advertised[0] ?? node.endpoints.router, endpoints: advertised, bound: node.endpoints.router,
      pub: node.endpoints.pub, routerPort: node.endpoints.routerPort, pubPort: node.endpoints.pubPort, store: join(dataDir, STORE_FILE),
      secure: node.publicKey !== undefined, ...(node.publicKey === undefined ? {} : { publicKey: node.publicKey }),
      ...(node.endpoints.metrics === undefined ? {} : { metrics: `${node.endpoints.metrics}/metrics` }),
    };
    if (args.json) console.log(JSON.stringify(ready));
    else {
      const key = node.publicKey === undefined ? 'INSECURE' : `key ${node.publicKey} (peers list it as ${ready.router}#<key>)`;
      console.log(`${node.service} node ${node.id} up: router ${advertised.join(', ')} (pub port ${ready.pubPort}), mesh "${node.mesh}", store ${ready.store}, ${key}`);
      // A line of its own: the ready line above keeps its format.
      if (ready.metrics !== undefined) console.log(`${node.service} metrics at ${ready.metrics} (health: ${node.endpoints.metrics}/healthz, /readyz)`);
    }

    await stopped;
    await running.close();
    if (args.json) console.log(JSON.stringify({ event: 'closed', nodeId: node.id }));
    else console.log(`${node.service} node ${node.id} closed`);
  }),
};
