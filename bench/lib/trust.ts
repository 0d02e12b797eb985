/** Credentials for benchmark and fuzz nodes: fresh keys and a certificate with every
 *  right, from the authority in `authorityDir` (shared by the processes of one run). */
import { generateNodeKeys, issueCertificate, loadAuthority, type NodeKeys, type SecurityOptions } from '../../transport/index.js';

const ALL = { allow: ['*'], deny: [] };

export function fullCredentials(authorityDir: string, service: string): SecurityOptions & { keys: NodeKeys; certificate: Uint8Array } {
  const authority = loadAuthority(authorityDir);
  const keys = generateNodeKeys();
  const certificate = issueCertificate(authority, {
    // Random serials: several processes issue from one authority without a shared counter.
    mesh: 'default', service, nodeKey: keys.publicKey, serial: Math.floor(Math.random() * 2 ** 48) + 1,
    notBeforeMs: Date.now() - 60_000, notAfterMs: Date.now() + 24 * 3_600_000, permissions: { send: ALL, publish: ALL, subscribe: ALL },
  });
  return { keys, certificate, authorities: [authority.publicKey] };
}
