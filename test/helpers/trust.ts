/**
 * Real credentials for tests: a mesh authority in a temp dir, node keys and
 * certificates issued by it, exactly as `zmesh authority init` / `keygen` /
 * `cert issue` make them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createAuthority, generateNodeKeys, issueCertificate, issueRevocationList, loadAuthority,
  type Authority, type NodeKeys, type Permissions, type SecurityOptions,
} from '../../transport/index.js';

export interface TestAuthority {
  dir: string;
  authority: Authority;
  /** Credentials for one node of `service`. */
  issue(service: string, o?: IssueOptions): Issued;
  revoke(serials: number[]): Buffer;
  cleanup(): void;
}

export interface IssueOptions {
  permissions?: Partial<Permissions>;
  mesh?: string;
  notBeforeMs?: number;
  notAfterMs?: number;
  keys?: NodeKeys;
  serial?: number;
}

/** `security` goes straight into createNode's options. */
export interface Issued {
  security: SecurityOptions & { keys: NodeKeys; certificate: Uint8Array };
  serial: number;
}

const ALL: Permissions = { send: { allow: ['*'], deny: [] }, publish: { allow: ['*'], deny: [] }, subscribe: { allow: ['*'], deny: [] } };

export function testAuthority(): TestAuthority {
  const root = mkdtempSync(join(tmpdir(), 'zmesh-trust-'));
  const dir = join(root, 'authority');
  createAuthority(dir);
  const authority = loadAuthority(dir);
  let serial = 0;
  return {
    dir,
    authority,
    issue(service, o = {}) {
      const keys = o.keys ?? generateNodeKeys();
      const s = o.serial ?? ++serial;
      const now = Date.now();
      const certificate = issueCertificate(authority, {
        mesh: o.mesh ?? 'default', service, nodeKey: keys.publicKey, serial: s,
        notBeforeMs: o.notBeforeMs ?? now - 60_000, notAfterMs: o.notAfterMs ?? now + 3_600_000,
        permissions: { ...ALL, ...o.permissions },
      });
      return { security: { keys, certificate, authorities: [authority.publicKey] }, serial: s };
    },
    revoke: (serials) => issueRevocationList(authority, serials),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
