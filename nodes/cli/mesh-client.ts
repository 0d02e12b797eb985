/** A short-lived node for the CLI commands that talk to a mesh (call, watch). */
import { randomBytes } from 'node:crypto';
import { createNode, type MeshNode } from 'zmesh';
import { CLIENT_SERVICE, clientPermissions } from '../commerce/permissions.js';
import { credentialsHowTo, insecureWarning, resolveTrust, type CredentialArgs } from './credentials.js';
import { stderrLogger, type MeshArgs } from './options.js';

/**
 * Joins the mesh as the client identity "cli", with the credentials the options name
 * (a certificate for service "cli"), or insecure when told. Throws, before anything
 * starts, when there are no credentials: the message says how to make them.
 */
export async function joinMesh(args: MeshArgs & CredentialArgs, command: string): Promise<MeshNode> {
  const trust = resolveTrust(args, () => credentialsHowTo(`zmesh ${command}`, CLIENT_SERVICE, args.mesh, clientPermissions()));
  if ('insecure' in trust) console.error(insecureWarning(`zmesh ${command}`));
  const peers = args.peer ?? [];
  const node = createNode({
    service: CLIENT_SERVICE,
    // A secure node's id comes from its key.
    ...('insecure' in trust ? { insecure: true, nodeId: `${CLIENT_SERVICE}-${randomBytes(4).toString('hex')}` } : trust),
    mesh: args.mesh,
    interface: args.interface,
    peers,
    discovery: peers.length === 0 ? 'mdns' : 'static',
  }, { logger: stderrLogger(args['log-level']) });
  await node.start();
  return node;
}
