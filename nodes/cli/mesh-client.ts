/** A short-lived node for the CLI commands that talk to a mesh (call, watch). */
import { randomBytes } from 'node:crypto';
import { createNode, type MeshNode } from 'zmesh';
import { stderrLogger, type MeshArgs } from './options.js';

export async function joinMesh(args: MeshArgs, role: string): Promise<MeshNode> {
  const peers = args.peer ?? [];
  const node = createNode({
    service: role,
    nodeId: `${role}-${randomBytes(4).toString('hex')}`,
    mesh: args.mesh,
    interface: args.interface,
    peers,
    discovery: peers.length === 0 ? 'mdns' : 'static',
  }, { logger: stderrLogger(args['log-level']) });
  await node.start();
  return node;
}
