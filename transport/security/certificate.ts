/**
 * Membership certificates and revocation lists: issuing (with an Authority) and
 * verifying (with trusted authority public keys). proto/security.proto is the spec;
 * verifyCertificate runs its checks in the spec's order, one SecurityError problem per
 * step, so a test (or an operator) can tell a forged certificate from an expired one.
 *
 * Trust model: a verifier trusts a set of raw ed25519 authority keys. A certificate
 * names its issuer (authority_key), which selects the key; an unknown issuer is
 * refused without trying the others. Signatures cover the exact encoded bytes carried
 * in the signed wrapper; nothing is re-encoded before verification.
 *
 * Sharp edges:
 * - Serials are unique per authority. `revoked` is one authority's set: a verifier that
 *   trusts several authorities must pass the set of the certificate's own issuer.
 * - protobufjs decodes uint64 to a Long object whenever long.js is installed, whatever
 *   the typings say (--force-number only changes those). `u64` turns each into a
 *   number once, at decode; values above 2^53 - 1 come out unsafe and are refused as
 *   malformed rather than compared imprecisely.
 */
import { verify } from 'node:crypto';
import { zmesh } from '../gen/security.js';
import { InvalidArgumentError, SecurityError } from '../errors.js';
import { isMeshName, isServiceName } from '../names.js';
import { AUTHORITY_KEY_BYTES, authorityVerifyKey, type Authority } from './authority.js';
import { KEY_BYTES, keyBytes, keyText } from './keys.js';
import { isRule, type Permissions, type RuleSet } from './permissions.js';

export type { Permissions, RuleSet } from './permissions.js';

const pb = zmesh.security.v1;

export const CERTIFICATE_VERSION = 1;
/** Largest SignedCertificate accepted, checked before decoding. */
export const MAX_CERTIFICATE_BYTES = 16 * 1024;
/** Largest SignedRevocationList accepted (about 100,000 serials). */
export const MAX_REVOCATION_LIST_BYTES = 1024 * 1024;
const SIGNATURE_BYTES = 64;

/** What the issuer decides; version and authority key are filled in. */
export interface CertificateFields {
  mesh: string;
  service: string;
  /** The node's CURVE public key, Z85. */
  nodeKey: string;
  /** Unique per authority, 1 .. 2^53 - 1 (authority.ts nextSerial). */
  serial: number;
  /** Valid from this instant (inclusive), ms since the Unix epoch. */
  notBeforeMs: number;
  /** Valid until this instant (exclusive), ms since the Unix epoch. */
  notAfterMs: number;
  permissions: Permissions;
}

/** A decoded certificate: the issuer's fields plus what signing added. Returned by
 *  verifyCertificate only once every check passed; by readCertificate with no trust
 *  decision at all. */
export interface CertificateInfo extends CertificateFields {
  version: number;
  /** The issuer's raw ed25519 public key, 64 hex characters. */
  authorityKey: string;
}

export interface VerifyOptions {
  /** Raw 32-byte ed25519 keys of the trusted authorities. */
  authorityKeys: readonly Uint8Array[];
  /** The verifier's mesh: the certificate's must be equal. */
  mesh: string;
  /** The verifier's wall clock, ms since the Unix epoch. */
  nowMs: number;
  /** Revoked serials of the certificate's authority (verifyRevocationList). */
  revoked?: ReadonlySet<number>;
}

/** Signs a certificate. InvalidArgumentError for fields a verifier would refuse. */
export function issueCertificate(authority: Authority, fields: CertificateFields): Buffer {
  const problem = fieldProblem(fields) ?? (isKeyText(fields.nodeKey) ? undefined : 'the node key is not 40 characters of Z85');
  if (problem !== undefined) throw new InvalidArgumentError(`cannot issue the certificate: ${problem}`);
  const certificate = pb.Certificate.encode({
    version: CERTIFICATE_VERSION,
    mesh: fields.mesh,
    service: fields.service,
    nodeKey: keyBytes(fields.nodeKey),
    serial: fields.serial,
    notBeforeMs: fields.notBeforeMs,
    notAfterMs: fields.notAfterMs,
    permissions: fields.permissions,
    authorityKey: authority.publicKey,
  }).finish();
  return Buffer.from(pb.SignedCertificate.encode({ certificate, signature: authority.sign(certificate) }).finish());
}

/** Decodes a SignedCertificate without any trust decision (for display). SecurityError
 *  'certificate' when it does not decode or its node key is not 32 bytes. */
export function readCertificate(bytes: Uint8Array): CertificateInfo {
  const { cert } = decodeCertificate(bytes);
  if (cert.nodeKey.length !== KEY_BYTES) throw new SecurityError('certificate', `the certificate's node key is ${cert.nodeKey.length} bytes, not ${KEY_BYTES}`);
  return toInfo(cert);
}

/** Verifies a SignedCertificate; the order of checks is proto/security.proto's. */
export function verifyCertificate(bytes: Uint8Array, options: VerifyOptions): CertificateInfo {
  const { signed, cert } = decodeCertificate(bytes);
  if (cert.version !== CERTIFICATE_VERSION) throw new SecurityError('certificate', `certificate version ${cert.version}; this node reads version ${CERTIFICATE_VERSION}`);
  checkSignature(cert.authorityKey, signed.certificate, signed.signature, options.authorityKeys, 'certificate');
  if (cert.mesh !== options.mesh) throw new SecurityError('mesh', `the certificate is for mesh ${JSON.stringify(cert.mesh)}, not ${JSON.stringify(options.mesh)}`);
  if (!(cert.notBeforeMs <= options.nowMs)) throw new SecurityError('expired', `the certificate is not valid before ${isoTime(cert.notBeforeMs)}`);
  if (!(options.nowMs < cert.notAfterMs)) throw new SecurityError('expired', `the certificate expired at ${isoTime(cert.notAfterMs)}`);
  if (options.revoked?.has(cert.serial) === true) throw new SecurityError('revoked', `certificate serial ${cert.serial} is revoked`);
  const problem = cert.nodeKey.length !== KEY_BYTES ? `the node key is ${cert.nodeKey.length} bytes, not ${KEY_BYTES}` : fieldProblem(toInfoUnchecked(cert));
  if (problem !== undefined) throw new SecurityError('certificate', `malformed certificate: ${problem}`);
  return toInfo(cert);
}

/** Signs the list of every serial revoked so far (sorted, unique). */
export function issueRevocationList(authority: Authority, serials: Iterable<number>, issuedMs: number = Date.now()): Buffer {
  const sorted = [...new Set(serials)].sort((a, b) => a - b);
  const bad = sorted.find((s) => !isSerial(s));
  if (bad !== undefined) throw new InvalidArgumentError(`cannot revoke serial ${bad}: serials are integers from 1 to 2^53 - 1`);
  if (!isMs(issuedMs)) throw new InvalidArgumentError(`issuedMs must be a non-negative integer, got ${issuedMs}`);
  const list = pb.RevocationList.encode({ authorityKey: authority.publicKey, issuedMs, serials: sorted }).finish();
  return Buffer.from(pb.SignedRevocationList.encode({ list, signature: authority.sign(list) }).finish());
}

/** The revoked serials of a list signed by one of `authorityKeys`. SecurityError
 *  'authority' for an unknown issuer or a bad signature, 'certificate' for a list that
 *  does not decode or holds an invalid serial. */
export function verifyRevocationList(bytes: Uint8Array, authorityKeys: readonly Uint8Array[]): Set<number> {
  if (bytes.length > MAX_REVOCATION_LIST_BYTES) throw new SecurityError('certificate', `revocation list of ${bytes.length} bytes > ${MAX_REVOCATION_LIST_BYTES}`);
  let signed: zmesh.security.v1.SignedRevocationList;
  let list: zmesh.security.v1.RevocationList;
  try {
    signed = pb.SignedRevocationList.decode(bytes);
    list = pb.RevocationList.decode(signed.list);
    list.issuedMs = u64(list.issuedMs);
    list.serials = list.serials.map(u64);
  } catch (err) {
    throw new SecurityError('certificate', 'not a revocation list: it does not decode', { cause: err });
  }
  checkSignature(list.authorityKey, signed.list, signed.signature, authorityKeys, 'revocation list');
  const bad = list.serials.find((s) => !isSerial(s));
  if (bad !== undefined) throw new SecurityError('certificate', `the revocation list holds an invalid serial (${bad})`);
  return new Set(list.serials);
}

/** Milliseconds as ISO 8601, or the plain number where Date cannot show it. */
export function isoTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms after the epoch`;
}

function decodeCertificate(bytes: Uint8Array): { signed: zmesh.security.v1.SignedCertificate; cert: zmesh.security.v1.Certificate } {
  if (bytes.length > MAX_CERTIFICATE_BYTES) throw new SecurityError('certificate', `certificate of ${bytes.length} bytes > ${MAX_CERTIFICATE_BYTES}`);
  try {
    const signed = pb.SignedCertificate.decode(bytes);
    const cert = pb.Certificate.decode(signed.certificate);
    cert.serial = u64(cert.serial);
    cert.notBeforeMs = u64(cert.notBeforeMs);
    cert.notAfterMs = u64(cert.notAfterMs);
    return { signed, cert };
  } catch (err) {
    throw new SecurityError('certificate', 'not a zmesh certificate: it does not decode', { cause: err });
  }
}

/** The issuer must be trusted and the signature must verify over `signedBytes`. */
function checkSignature(issuer: Uint8Array, signedBytes: Uint8Array, signature: Uint8Array, trusted: readonly Uint8Array[], what: string): void {
  const hex = Buffer.from(issuer).toString('hex');
  if (issuer.length !== AUTHORITY_KEY_BYTES || !trusted.some((k) => Buffer.compare(k, issuer) === 0)) {
    throw new SecurityError('authority', `the ${what} is signed by an authority this node does not trust (${hex || 'none named'})`);
  }
  let ok = false;
  try {
    ok = signature.length === SIGNATURE_BYTES && verify(null, signedBytes, authorityVerifyKey(issuer), signature);
  } catch {
    ok = false; // a malformed signature is a bad signature
  }
  if (!ok) throw new SecurityError('authority', `the ${what}'s signature does not verify with authority ${hex}`);
}

/** A decoded uint64 (a number, or a Long when long.js is installed) as a number; above
 *  2^53 - 1 the result is inexact and fails Number.isSafeInteger, as intended. */
function u64(v: unknown): number {
  if (typeof v === 'number') return v;
  const long = v as { low?: unknown; high?: unknown } | null;
  if (typeof long?.low === 'number' && typeof long.high === 'number') return (long.high >>> 0) * 2 ** 32 + (long.low >>> 0);
  return Number.NaN;
}

const isSafeNatural = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
const isSerial = (n: number): boolean => Number.isSafeInteger(n) && n >= 1;
const isMs = isSafeNatural;

function isKeyText(z85: string): boolean {
  try {
    keyBytes(z85);
    return true;
  } catch {
    return false;
  }
}

/** The first field a verifier would refuse, as a phrase, or undefined. The node key is
 *  checked by the caller: issue has Z85, verify has bytes. */
function fieldProblem(f: Omit<CertificateFields, 'nodeKey'>): string | undefined {
  if (!isMeshName(f.mesh)) return `mesh ${JSON.stringify(f.mesh)} is not [A-Za-z0-9._-]{1,64}`;
  if (!isServiceName(f.service)) return `service ${JSON.stringify(f.service)} is not [a-z0-9][a-z0-9_-]{0,31}`;
  if (!isSerial(f.serial)) return `serial ${f.serial} is not an integer from 1 to 2^53 - 1`;
  if (!isMs(f.notBeforeMs) || !isMs(f.notAfterMs)) return 'the validity bounds must be non-negative integer milliseconds';
  if (!(f.notBeforeMs < f.notAfterMs)) return `not before (${isoTime(f.notBeforeMs)}) must be earlier than not after (${isoTime(f.notAfterMs)})`;
  for (const [right, rules] of Object.entries(f.permissions)) {
    for (const rule of [...rules.allow, ...rules.deny]) {
      if (!isRule(rule)) return `${right} rule ${JSON.stringify(rule)} is empty, too long or contains whitespace`;
    }
  }
  return undefined;
}

function toRuleSet(r: zmesh.security.v1.Rules.$Properties | null | undefined): RuleSet {
  return { allow: [...(r?.allow ?? [])], deny: [...(r?.deny ?? [])] };
}

function toInfoUnchecked(cert: zmesh.security.v1.Certificate): Omit<CertificateInfo, 'nodeKey'> {
  const p = cert.permissions;
  return {
    version: cert.version,
    mesh: cert.mesh,
    service: cert.service,
    serial: cert.serial,
    notBeforeMs: cert.notBeforeMs,
    notAfterMs: cert.notAfterMs,
    permissions: { send: toRuleSet(p?.send), publish: toRuleSet(p?.publish), subscribe: toRuleSet(p?.subscribe) },
    authorityKey: Buffer.from(cert.authorityKey).toString('hex'),
  };
}

function toInfo(cert: zmesh.security.v1.Certificate): CertificateInfo {
  return { ...toInfoUnchecked(cert), nodeKey: keyText(cert.nodeKey) };
}
