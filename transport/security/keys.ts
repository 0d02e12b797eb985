/**
 * A node's long-term CURVE key pair (X25519, written in Z85) and its files.
 *
 * Files:
 *   FILE      {"type":"zmesh-node-key","publicKey":"<z85>","secretKey":"<z85>"}, mode 0600
 *   FILE.pub  {"type":"zmesh-node-public-key","publicKey":"<z85>"}, mode 0644
 *
 * A node's id is derived from its key (`nodeIdFor`), so an id cannot be claimed
 * without the secret key behind it.
 *
 * The secret file is never overwritten and is refused when group or others may access
 * it (files.ts says how).
 *
 * Sharp edge: node:crypto accepts an X25519 JWK whose `x` does not belong to `d`, and
 * quietly uses `d`. `curvePrivateKey` compares them, so a mismatched pair fails here
 * and not later as MACs that never verify.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as zmq from 'zeromq';
import { InvalidArgumentError, SecurityError } from '../errors.js';
import { isServiceName } from '../names.js';
import { createExclusive, readPrivate, readPublic } from './files.js';
import { z85Decode, z85Encode } from './z85.js';

/** A CURVE key pair, each key as 40 characters of Z85 (32 bytes). */
export interface NodeKeys {
  publicKey: string;
  secretKey: string;
}

export const KEY_BYTES = 32;
export const KEY_Z85_CHARS = 40;
export const NODE_KEY_TYPE = 'zmesh-node-key';
export const NODE_PUBLIC_KEY_TYPE = 'zmesh-node-public-key';
/** Hex characters of a key fingerprint (64 bits: ids collide only by intent). */
export const FINGERPRINT_HEX_CHARS = 16;

export function generateNodeKeys(): NodeKeys {
  const { publicKey, secretKey } = zmq.curveKeyPair();
  return { publicKey, secretKey };
}

/** The 32 raw bytes of a Z85 key. SecurityError 'key' for anything else. The message
 *  never repeats the text: it may be a secret key. */
export function keyBytes(z85: string): Buffer {
  if (typeof z85 !== 'string' || z85.length !== KEY_Z85_CHARS) {
    throw new SecurityError('key', `a CURVE key is ${KEY_Z85_CHARS} characters of Z85`);
  }
  try {
    return z85Decode(z85);
  } catch (err) {
    throw new SecurityError('key', 'a CURVE key is 40 characters of Z85: this text does not decode', { cause: err });
  }
}

/** A 32-byte raw key as Z85. */
export function keyText(bytes: Uint8Array): string {
  if (bytes.length !== KEY_BYTES) throw new SecurityError('key', `a CURVE key is ${KEY_BYTES} bytes, got ${bytes.length}`);
  return z85Encode(bytes);
}

/** First 16 hex characters of SHA-256 over the key's 32 raw bytes. */
export function keyFingerprint(publicKey: string): string {
  return createHash('sha256').update(keyBytes(publicKey)).digest('hex').slice(0, FINGERPRINT_HEX_CHARS);
}

/** The node id a node of `service` with this key must use: "<service>-<fingerprint>". */
export function nodeIdFor(service: string, publicKey: string): string {
  if (!isServiceName(service)) throw new InvalidArgumentError(`not a service name: ${JSON.stringify(service)}`);
  return `${service}-${keyFingerprint(publicKey)}`;
}

/** The X25519 private key of a pair, after checking that the public key is its own.
 *  Used by the MAC key derivation and by loadNodeKeys. */
export function curvePrivateKey(keys: NodeKeys): KeyObject {
  const d = keyBytes(keys.secretKey);
  const x = keyBytes(keys.publicKey);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: d.toString('base64url'), x: x.toString('base64url') }, format: 'jwk' });
  } catch (err) {
    throw new SecurityError('key', 'not a usable X25519 secret key', { cause: err });
  }
  const derived = createPublicKey(key).export({ format: 'jwk' }).x;
  if (derived !== x.toString('base64url')) throw new SecurityError('key', 'the secret key does not belong to the public key');
  return key;
}

/** Writes FILE (0600) and FILE.pub (0644). Refuses, with SecurityError 'key', when
 *  either exists; nothing is written then. */
export function saveNodeKeys(path: string, keys: NodeKeys): void {
  curvePrivateKey(keys);
  const pub = `${path}.pub`;
  // The public file first, removed again if the secret one is in the way: either both
  // files are new, or nothing changed.
  createExclusive(pub, `${JSON.stringify({ type: NODE_PUBLIC_KEY_TYPE, publicKey: keys.publicKey })}\n`, 0o644);
  try {
    createExclusive(path, `${JSON.stringify({ type: NODE_KEY_TYPE, publicKey: keys.publicKey, secretKey: keys.secretKey })}\n`, 0o600);
  } catch (err) {
    rmSync(pub, { force: true });
    throw err;
  }
}

/** Reads a node key file. SecurityError 'key' when the file is readable or writable by
 *  group or others, unreadable, not a node key file, or a mismatched pair. */
export function loadNodeKeys(path: string): NodeKeys {
  const doc = readJson(path, true);
  if (doc.type !== NODE_KEY_TYPE) throw new SecurityError('key', `${path} is not a zmesh node key file (type ${JSON.stringify(doc.type)})`);
  const keys = { publicKey: doc.publicKey, secretKey: doc.secretKey };
  if (typeof keys.publicKey !== 'string' || typeof keys.secretKey !== 'string') {
    throw new SecurityError('key', `${path} lacks a publicKey or secretKey string`);
  }
  try {
    curvePrivateKey(keys as NodeKeys);
  } catch (err) {
    throw new SecurityError('key', `${path}: ${(err as Error).message}`, { cause: err });
  }
  return keys as NodeKeys;
}

/** The public key in a FILE.pub or in a node key file. No permission check: only the
 *  public half is used. */
export function loadPublicKey(path: string): string {
  const doc = readJson(path, false);
  if (doc.type !== NODE_PUBLIC_KEY_TYPE && doc.type !== NODE_KEY_TYPE) {
    throw new SecurityError('key', `${path} is not a zmesh node key or public key file (type ${JSON.stringify(doc.type)})`);
  }
  try {
    keyBytes(doc.publicKey as string);
  } catch (err) {
    throw new SecurityError('key', `${path}: the publicKey is not 40 characters of Z85`, { cause: err });
  }
  return doc.publicKey as string;
}

function readJson(path: string, secret: boolean): Record<string, unknown> {
  const text = (secret ? readPrivate(path) : readPublic(path)).toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new SecurityError('key', `${path} is not JSON: not a zmesh key file`, { cause: err });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new SecurityError('key', `${path} is not a zmesh key file`);
  return doc as Record<string, unknown>;
}
