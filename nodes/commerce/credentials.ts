/**
 * A node's credentials as files, turned into createNode's `security`. One directory
 * layout is shared by `zmesh node --credentials DIR`, `zmesh demo` (which writes it)
 * and the tests:
 *
 *   DIR/node.key       the node's key pair (zmesh keygen --out DIR/node.key), 0600
 *   DIR/node.key.pub   its public half
 *   DIR/node.cert      its certificate (zmesh cert issue ... --out DIR/node.cert)
 *   DIR/authority.pub  the authority it trusts (a copy of the authority's)
 *   DIR/revoked.list   optional: the authority's revocation list; re-read when it
 *                      changes, so it may be dropped in while the node runs
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AUTHORITY_PUB_FILE, REVOKED_FILE, SecurityError, loadAuthorityPublicKey, loadNodeKeys, type SecurityOptions,
} from 'zmesh';

export const KEY_FILE = 'node.key';
export const CERT_FILE = 'node.cert';
export { AUTHORITY_PUB_FILE, REVOKED_FILE };

/** Where a node's credentials are. */
export interface CredentialFiles {
  /** The node key file (zmesh keygen); refused unless private to its owner. */
  key: string;
  /** The node's certificate. */
  certificate: string;
  /** authority.pub files, or directories holding one; at least one. */
  authorities: readonly string[];
  /** A revocation list file, re-read when it changes (it need not exist yet). */
  revocations?: string;
  /** Audit events are appended here too (JSON lines, created 0600). */
  audit?: string;
}

/** The files of the layout above in `dir`. */
export function credentialFilesIn(dir: string): CredentialFiles {
  return { key: join(dir, KEY_FILE), certificate: join(dir, CERT_FILE), authorities: [join(dir, AUTHORITY_PUB_FILE)], revocations: join(dir, REVOKED_FILE) };
}

/**
 * Reads the files into createNode's `security`. Throws SecurityError, one line naming
 * the file: a key file group or others may read (with the chmod that fixes it), a
 * file that is missing or not what it should be. The certificate itself is checked by
 * the node when it is created (mesh, service, key, expiry).
 */
export function loadSecurity(files: CredentialFiles): SecurityOptions {
  if (files.authorities.length === 0) throw new SecurityError('config', 'no authority to trust: give the authority.pub of the mesh authority');
  // The secret key first: a key file others can read is the problem to hear about.
  const keys = loadNodeKeys(files.key);
  let certificate: Buffer;
  try {
    certificate = readFileSync(files.certificate);
  } catch (err) {
    throw new SecurityError('certificate', `cannot read the certificate ${files.certificate}: ${(err as Error).message}`, { cause: err });
  }
  return {
    keys,
    certificate,
    authorities: files.authorities.map((a) => loadAuthorityPublicKey(a)),
    ...(files.revocations === undefined ? {} : { revocationsFile: files.revocations }),
    ...(files.audit === undefined ? {} : { auditFile: files.audit }),
  };
}

/** loadSecurity of the layout above in `dir`. */
export function loadCredentialsDir(dir: string, o: { audit?: string } = {}): SecurityOptions {
  return loadSecurity({ ...credentialFilesIn(dir), ...o });
}
