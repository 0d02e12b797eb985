/**
 * A mesh authority: an ed25519 key pair kept in a directory, which signs membership
 * certificates and revocation lists (certificate.ts).
 *
 *   DIR/               0700
 *   DIR/authority.key  the private key, PKCS#8 PEM, 0600; never overwritten
 *   DIR/authority.pub  the raw 32-byte public key as 64 hex characters and a newline,
 *                      0644: the file to hand to every node (trust anchor)
 *   DIR/serial         the last certificate serial issued (ledger.ts), 0600
 *   DIR/revoked.list   the current SignedRevocationList (ledger.ts), 0644
 *
 * Nodes need only authority.pub; authority.key belongs on the operator's machine.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SecurityError } from '../errors.js';
import { createExclusive, makeDirectory, readPrivate, readPublic } from './files.js';

export const AUTHORITY_KEY_FILE = 'authority.key';
export const AUTHORITY_PUB_FILE = 'authority.pub';
export const SERIAL_FILE = 'serial';
export const REVOKED_FILE = 'revoked.list';
/** Bytes of a raw ed25519 public key (RFC 8032). */
export const AUTHORITY_KEY_BYTES = 32;

/** What signs: the authority's public key and its signing function. */
export interface Authority {
  /** The raw 32-byte ed25519 public key. */
  readonly publicKey: Buffer;
  /** An ed25519 signature (64 bytes) over exactly `bytes`. */
  sign(bytes: Uint8Array): Buffer;
}

/** Creates DIR (0700, and missing parents) with a new key pair. SecurityError 'key'
 *  when DIR already holds an authority.key or authority.pub: nothing is written then;
 *  SecurityError 'config' when DIR cannot be a directory (a file, or /proc/x). */
export function createAuthority(dir: string): { publicKey: Buffer } {
  // mkdir's mode goes through the umask; set it exactly, but only on a directory made
  // here: an operator's existing directory keeps the mode they gave it.
  if (makeDirectory(dir, 0o700)) chmodSync(dir, 0o700);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  const pub = join(dir, AUTHORITY_PUB_FILE);
  createExclusive(pub, `${raw.toString('hex')}\n`, 0o644);
  try {
    createExclusive(join(dir, AUTHORITY_KEY_FILE), privateKey.export({ type: 'pkcs8', format: 'pem' }), 0o600);
  } catch (err) {
    rmSync(pub, { force: true });
    throw err;
  }
  return { publicKey: raw };
}

/** Loads DIR/authority.key. SecurityError 'key' when it is accessible to group or
 *  others, is not an ed25519 PKCS#8 key, or disagrees with DIR/authority.pub. */
export function loadAuthority(dir: string): Authority {
  const file = join(dir, AUTHORITY_KEY_FILE);
  const pem = readPrivate(file);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new SecurityError('key', `${file} is not a PEM private key`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new SecurityError('key', `${file} is a ${privateKey.asymmetricKeyType ?? 'unknown'} key, not ed25519`);
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  // A swapped authority.pub would make every node refuse every certificate with an
  // unhelpful 'authority'; say it here instead.
  const pubFile = join(dir, AUTHORITY_PUB_FILE);
  if (existsSync(pubFile) && !loadAuthorityPublicKey(pubFile).equals(publicKey)) {
    throw new SecurityError('key', `${pubFile} does not hold the public key of ${file}`);
  }
  return { publicKey, sign: (bytes) => sign(null, bytes, privateKey) };
}

/** The raw public key in an authority.pub file, or in DIR/authority.pub. */
export function loadAuthorityPublicKey(pathOrDir: string): Buffer {
  const file = isDirectory(pathOrDir) ? join(pathOrDir, AUTHORITY_PUB_FILE) : pathOrDir;
  const text = readPublic(file).toString('utf8').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new SecurityError('key', `${file} is not an authority public key (64 hex characters)`);
  return Buffer.from(text, 'hex');
}

/** A raw 32-byte ed25519 public key as a KeyObject, for verification. */
export function authorityVerifyKey(raw: Uint8Array): KeyObject {
  if (raw.length !== AUTHORITY_KEY_BYTES) throw new SecurityError('authority', `an authority key is ${AUTHORITY_KEY_BYTES} bytes, got ${raw.length}`);
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
  } catch (err) {
    throw new SecurityError('authority', 'not an ed25519 public key', { cause: err });
  }
}

function rawPublicKey(key: KeyObject): Buffer {
  const x = key.export({ format: 'jwk' }).x;
  if (x === undefined) throw new SecurityError('key', 'not an ed25519 public key');
  return Buffer.from(x, 'base64url');
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // reading it as a file then reports the real problem
  }
}
