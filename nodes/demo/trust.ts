/**
 * The demo's own trust: a mesh authority and, for every identity the demo runs, a
 * key pair and a certificate with that identity's permissions (commerce/permissions.ts),
 * written exactly as `zmesh authority init`, `zmesh keygen` and `zmesh cert issue`
 * would, in the layout `zmesh node --credentials DIR` reads (commerce/credentials.ts):
 *
 *   DIR/authority/             the authority (authority.key stays here)
 *   DIR/<identity>/node.key    product, cart, order: the services;
 *   DIR/<identity>/node.cert   shopper: the demo's shoppers; cli: for zmesh call and
 *   DIR/<identity>/authority.pub    watch against a demo that keeps its data (--data)
 *
 * Run again on the same DIR, it keeps the authority and the keys (so node ids, which
 * come from the keys, stay those the stores know) and issues fresh certificates: the
 * mesh name is in the certificate, and a demo picks a new mesh per run.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AUTHORITY_KEY_FILE, AUTHORITY_PUB_FILE, createAuthority, generateNodeKeys, issueCertificate, loadAuthority, loadNodeKeys,
  nextSerial, saveNodeKeys, type Permissions, type SecurityOptions,
} from 'zmesh';
import { SERVICES, type ServiceName } from '../commerce/api.js';
import { CERT_FILE, KEY_FILE, loadCredentialsDir } from '../commerce/credentials.js';
import { CLIENT_SERVICE, SERVICE_PERMISSIONS, clientPermissions } from '../commerce/permissions.js';

/** The demo's shoppers, a client like `zmesh call`, under an identity of their own. */
export const SHOPPER_SERVICE = 'shopper';
export type DemoIdentity = ServiceName | typeof SHOPPER_SERVICE | typeof CLIENT_SERVICE;
export const DEMO_IDENTITIES: readonly DemoIdentity[] = [...SERVICES, SHOPPER_SERVICE, CLIENT_SERVICE];

/** Long enough that no node warns of an expiring certificate (it does inside 7 days). */
const DEMO_CERT_VALID_MS = 30 * 24 * 3_600_000;
/** not_before is set back this far, as `zmesh cert issue` does, for clock skew. */
const CLOCK_SKEW_MS = 5 * 60_000;

export interface DemoTrust {
  /** DIR itself. */
  readonly dir: string;
  /** The authority directory, DIR/authority. */
  readonly authorityDir: string;
  /** The credentials directory of `identity` (for `zmesh node --credentials`). */
  credentialsDir(identity: DemoIdentity): string;
  /** The loaded credentials of `identity`, for createNode's `security`. */
  security(identity: DemoIdentity): SecurityOptions;
}

const permissionsOf = (identity: DemoIdentity): Permissions =>
  (SERVICE_PERMISSIONS as Partial<Record<string, Permissions>>)[identity] ?? clientPermissions();

/** Creates (or renews, see above) the demo's trust in `dir` for mesh `mesh`. */
export function demoTrust(dir: string, mesh: string, nowMs: number = Date.now()): DemoTrust {
  const authorityDir = join(dir, 'authority');
  if (!existsSync(join(authorityDir, AUTHORITY_KEY_FILE))) createAuthority(authorityDir);
  const authority = loadAuthority(authorityDir);
  const credentialsDir = (identity: DemoIdentity): string => join(dir, identity);
  for (const identity of DEMO_IDENTITIES) {
    const d = credentialsDir(identity);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    const keyFile = join(d, KEY_FILE);
    let keys;
    if (existsSync(keyFile)) keys = loadNodeKeys(keyFile);
    else {
      keys = generateNodeKeys();
      saveNodeKeys(keyFile, keys);
    }
    const certificate = issueCertificate(authority, {
      mesh, service: identity, nodeKey: keys.publicKey, serial: nextSerial(authorityDir),
      notBeforeMs: nowMs - CLOCK_SKEW_MS, notAfterMs: nowMs + DEMO_CERT_VALID_MS, permissions: permissionsOf(identity),
    });
    writeFileSync(join(d, CERT_FILE), certificate, { mode: 0o644 });
    copyFileSync(join(authorityDir, AUTHORITY_PUB_FILE), join(d, AUTHORITY_PUB_FILE));
  }
  return { dir, authorityDir, credentialsDir, security: (identity) => loadCredentialsDir(credentialsDir(identity)) };
}
