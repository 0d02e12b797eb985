/**
 * `zmesh peers`: lists the nodes of a mesh with the endpoints to dial them at.
 *
 * With mDNS (the default) it only browses the LAN: it advertises nothing and joins no
 * mesh, so it is safe to run anywhere on the LAN. With --peer (static) it asks those
 * nodes instead, as a light client (nothing bound, no member), and lists the nodes it
 * reached; that needs the credentials a client needs (or --insecure).
 */
import type { Argv, CommandModule } from 'yargs';
import { mdnsDiscovery, type MdnsRecord, type MeshNode } from 'zmesh';
import { table } from '../format.js';
import { credentialOptions, type CredentialArgs } from '../credentials.js';
import { findService, joinMesh } from '../mesh-client.js';
import { discoveryOf, meshOptions, type MeshArgs } from '../options.js';
import { guarded } from '../run.js';

interface Args extends MeshArgs, CredentialArgs {
  timeout: number;
  json: boolean;
}

interface Row {
  nodeId: string;
  service: string;
  mesh: string;
  /** Where to dial it: what a static peer entry names. */
  endpoint: string;
  addresses: string[];
  routerPort: number;
  pubPort: number;
  seenForMs: number;
}

/** No new node for this long after the last one came up: the list is complete. */
const STATIC_QUIET_MS = 300;

async function browse(args: Args): Promise<Row[]> {
  const browser = mdnsDiscovery({ interface: args.interface });
  const stop = new AbortController();
  await browser.start(undefined, { propose: () => undefined, withdraw: () => undefined }, stop.signal);
  await new Promise((r) => setTimeout(r, args.timeout * 1000));
  const now = Date.now();
  const records = browser.records().filter((r) => args.mesh === '*' || r.mesh === args.mesh);
  await browser.close();
  stop.abort();
  return records.map((r: MdnsRecord) => ({
    nodeId: r.nodeId, service: r.service, mesh: r.mesh, endpoint: `tcp://${r.addresses[0] ?? '?'}:${r.routerPort}`, addresses: r.addresses,
    routerPort: r.routerPort, pubPort: r.pubPort, seenForMs: now - r.firstSeenMs,
  }));
}

/** Resolves once no peer came up for `quietMs`, or at `untilMs` (Date.now()). */
async function quiet(node: MeshNode, quietMs: number, untilMs: number): Promise<void> {
  let off: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve) => {
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(resolve, Math.max(0, Math.min(quietMs, untilMs - Date.now())));
      };
      off = node.on('peer:up', arm);
      arm();
    });
  } finally {
    off?.();
    clearTimeout(timer);
  }
}

async function ask(args: Args): Promise<Row[]> {
  const node = await joinMesh(args, 'peers');
  try {
    const until = Date.now() + args.timeout * 1000;
    await findService(node, undefined, { ...args, wait: args.timeout });
    await quiet(node, STATIC_QUIET_MS, until);
    const now = Date.now();
    return node.peers().filter((p) => p.state === 'up').map((p) => {
      const at = /^tcp:\/\/(.+):(\d+)$/.exec(p.endpoint);
      return {
        nodeId: p.nodeId, service: p.service, mesh: node.mesh, endpoint: p.endpoint, addresses: at === null ? [] : [at[1]!],
        routerPort: at === null ? 0 : Number(at[2]), pubPort: Number(/:(\d+)$/.exec(p.pubEndpoint)?.[1] ?? 0), seenForMs: now - p.upSinceMs,
      };
    });
  } finally {
    await node.close();
  }
}

export const peersCommand: CommandModule<object, Args> = {
  command: 'peers',
  describe: 'list the nodes of a mesh and the endpoints to dial them at (mDNS on this LAN, or ask --peer nodes)',
  builder: (y: Argv) => credentialOptions(meshOptions(y
    .option('timeout', { type: 'number', requiresArg: true, default: 3, describe: 'seconds to listen for answers' })
    .option('json', { type: 'boolean', default: false, describe: 'print a JSON array' }), { allMeshes: true }))
    .check((a) => {
      if (!Number.isFinite(a.timeout) || a.timeout <= 0 || a.timeout > 600) throw new Error('--timeout must be a number of seconds between 0 and 600');
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded(async (args: Args) => {
    const mode = discoveryOf(args);
    if (mode !== 'mdns' && args.mesh === '*') throw new Error('--mesh "*" lists every mesh mDNS finds; asking --peer nodes needs one mesh name');
    const rows = (mode === 'mdns' ? await browse(args) : await ask(args))
      .sort((a, b) => a.service.localeCompare(b.service) || a.nodeId.localeCompare(b.nodeId));
    if (args.json) {
      console.log(JSON.stringify(rows));
      return;
    }
    if (rows.length === 0) {
      console.log(`no zmesh nodes of mesh "${args.mesh}" answered within ${args.timeout} s`);
      return;
    }
    console.log(table(['NODE', 'SERVICE', 'MESH', 'ENDPOINT', 'ADDRESSES', 'ROUTER', 'PUB', 'SEEN'], rows.map((r) => [
      r.nodeId, r.service, r.mesh, r.endpoint, r.addresses.join(','), String(r.routerPort), String(r.pubPort), `${(r.seenForMs / 1000).toFixed(1)}s`,
    ])));
  }),
};
