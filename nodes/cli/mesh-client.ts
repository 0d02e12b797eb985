/**
 * The CLI commands that talk to a mesh (call, watch, peers) run as light clients
 * (createNode's `client: true`): they dial the nodes they find and bind nothing, so
 * nothing can dial them, mDNS only browses, and no node counts them as a member.
 */
import { randomBytes } from 'node:crypto';
import { NoRouteError, TimeoutError, createNode, type MeshNode } from 'zmesh';
import { CLIENT_SERVICE, clientPermissions } from '../commerce/permissions.js';
import { credentialsHowTo, insecureWarning, resolveTrust, type CredentialArgs } from './credentials.js';
import { discoveryOf, stderrLogger, type MeshArgs } from './options.js';

/** Quiet time after the last peer came up before a missing service is called
 *  missing: static peers answer within a round trip, and members they name (seeds)
 *  a moment later. mDNS answers arrive over a longer spread. */
const STATIC_SETTLE_MS = 300;
const MDNS_SETTLE_MS = 1_000;

/**
 * Joins the mesh as the client identity "cli", with the credentials the options name
 * (a certificate for service "cli"), or insecure when told. Throws, before anything
 * starts, when there are no credentials: the message says how to make them.
 */
export async function joinMesh(args: MeshArgs & CredentialArgs, command: string): Promise<MeshNode> {
  const trust = resolveTrust(args, () => credentialsHowTo(`zmesh ${command}`, CLIENT_SERVICE, args.mesh, clientPermissions()));
  if ('insecure' in trust) console.error(insecureWarning(`zmesh ${command}`));
  const node = createNode({
    service: CLIENT_SERVICE,
    client: true,
    // A secure node's id comes from its key.
    ...('insecure' in trust ? { insecure: true, nodeId: `${CLIENT_SERVICE}-${randomBytes(4).toString('hex')}` } : trust),
    mesh: args.mesh,
    interface: args.interface,
    peers: args.peer ?? [],
    discovery: discoveryOf(args),
  }, { logger: stderrLogger(args['log-level']) });
  await node.start();
  return node;
}

/** "discovery static, peers tcp://a:1, tcp://b:2" or "discovery mdns": how we looked. */
export function howWeLooked(args: MeshArgs): string {
  const peers = (args.peer ?? []).map((p) => p.split('#')[0]!);
  const mode = discoveryOf(args);
  return `mesh "${args.mesh}", discovery ${mode}${peers.length > 0 ? `, peers ${peers.join(', ')}` : ''}${mode !== 'static' && args.interface !== undefined ? ` on ${args.interface}` : ''}`;
}

/**
 * Resolves once `service` (or, for undefined, any node) has an instance up. Decides as
 * soon as the answer is known rather than at the deadline: once every static peer is
 * up (or, with mDNS, some node is) and no new peer came up for a settle period, a
 * service still missing is NO_ROUTE, naming the mesh, the discovery mode and what was
 * found. TIMEOUT only when nobody answered within `args.wait` seconds (`because` ends
 * its message). Every listener and timer is released on every exit.
 */
export async function findService(node: MeshNode, service: string | undefined, args: MeshArgs & { wait: number }, because = ''): Promise<void> {
  const has = (): boolean => node.peers().some((p) => p.state === 'up' && (service === undefined || p.service === service));
  if (has()) return;
  const staticPeers = (args.peer ?? []).map((p) => p.split('#')[0]!);
  const mode = discoveryOf(args);
  const settleMs = mode === 'static' ? STATIC_SETTLE_MS : MDNS_SETTLE_MS;
  const up = (): string[] => node.peers().filter((p) => p.state === 'up').map((p) => `${p.service} (${p.nodeId} at ${p.endpoint})`);
  const allStaticUp = (): boolean => staticPeers.every((e) => node.peers().some((p) => p.state === 'up' && p.endpoint === e));
  const canSettle = (): boolean => up().length > 0 && (mode !== 'static' || allStaticUp());
  const missing = (): Error => new NoRouteError(
    `no instance of "${service}" on ${howWeLooked(args)}; found ${up().join(', ')}${mode === 'static' && !allStaticUp() ? `; not answering: ${staticPeers.filter((e) => !node.peers().some((p) => p.state === 'up' && p.endpoint === e)).join(', ')}` : ''}`
    + `. Check the service name, --mesh${mode === 'static' ? ' and --peer' : ', --discovery and --peer (without multicast, name a node with --peer)'}`,
  );
  let off: (() => void) | undefined;
  let settle: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const arm = (): void => {
        clearTimeout(settle);
        if (service !== undefined && canSettle()) settle = setTimeout(() => reject(missing()), settleMs);
      };
      off = node.on('peer:up', () => (has() ? resolve() : arm()));
      deadline = setTimeout(() => {
        if (up().length > 0 && service !== undefined) return reject(missing());
        const who = staticPeers.length > 0 ? `none of the --peer nodes (${staticPeers.join(', ')}) answered` : `no node of mesh "${args.mesh}" was found (${howWeLooked(args)})`;
        reject(new TimeoutError(`${who} within ${args.wait} s${because}`));
      }, Math.max(1, args.wait * 1000));
      arm();
    });
  } finally {
    off?.();
    clearTimeout(settle);
    clearTimeout(deadline);
  }
}
