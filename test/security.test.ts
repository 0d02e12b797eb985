/**
 * The trust primitives (transport/security/), with real files in temp dirs and real
 * crypto: Z85, node keys and their files, the authority, certificates and revocation
 * lists (every refusal, in the spec's order), the permission decision tables, and the
 * per-message MAC.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, randomBytes, verify } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, SecurityError, type SecurityProblem } from '../transport/errors.js';
import { zmesh as meshPb } from '../transport/gen/mesh.js';
import { zmesh } from '../transport/gen/security.js';
import { NODE_ID_RE } from '../transport/names.js';
import { createAuthority, loadAuthority, loadAuthorityPublicKey, type Authority } from '../transport/security/authority.js';
import {
  issueCertificate, issueRevocationList, readCertificate, verifyCertificate, verifyRevocationList, MAX_CERTIFICATE_BYTES,
  type CertificateFields, type VerifyOptions,
} from '../transport/security/certificate.js';
import { generateNodeKeys, keyBytes, keyFingerprint, loadNodeKeys, loadPublicKey, nodeIdFor, saveNodeKeys, type NodeKeys } from '../transport/security/keys.js';
import { lastSerial, nextSerial, revokedSerials, revokeSerials } from '../transport/security/ledger.js';
import { BIND_FRAME_BYTES, MAC_BYTES, MAC_TRAILER_BYTES, bindFrame, macKey, openHeader, sealHeader, verifyBindFrame } from '../transport/security/mac.js';
import { mayCall, mayPublish, maySubscribe, noPermissions, parseRules, type Permissions } from '../transport/security/permissions.js';
import { z85Decode, z85Encode } from '../transport/security/z85.js';

const pb = zmesh.security.v1;
const NOW_MS = 1_750_000_000_000;
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'zmesh-security-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const mode = (path: string): number => statSync(path).mode & 0o777;

/** Runs `fn` and returns the SecurityError it throws, checking its problem. */
function securityError(fn: () => unknown, problem: SecurityProblem): SecurityError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SecurityError);
  expect((err as SecurityError).problem, (err as Error).message).toBe(problem);
  expect((err as SecurityError).code).toBe('ZMESH_ERR_SECURITY');
  return err as SecurityError;
}

describe('security - z85', () => {
  it('security - z85 encodes the RFC 32 example', () => {
    const bytes = Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    expect(z85Encode(bytes)).toBe('HelloWorld');
    expect(z85Decode('HelloWorld')).toEqual(bytes);
    expect(z85Encode(new Uint8Array(0))).toBe('');
    expect(z85Encode(Buffer.from([0, 0, 0, 0]))).toBe('00000');
    expect(z85Encode(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toBe('%nSc0');
  });

  it('security - z85 round trips libzmq CURVE keys in both directions', () => {
    for (let i = 0; i < 200; i++) {
      const { publicKey, secretKey } = zmq.curveKeyPair();
      for (const text of [publicKey, secretKey]) {
        const bytes = z85Decode(text);
        expect(bytes.length).toBe(32);
        expect(z85Encode(bytes)).toBe(text);
      }
    }
  });

  it('security - z85 round trips random byte strings of every group count up to 64 bytes', () => {
    for (let i = 0; i < 2_000; i++) {
      const bytes = randomBytes(4 * (i % 17));
      const text = z85Encode(bytes);
      expect(text.length, bytes.toString('hex')).toBe((bytes.length / 4) * 5);
      expect(z85Decode(text).equals(bytes), bytes.toString('hex')).toBe(true);
    }
  });

  it.each([
    ['a length that is not whole groups', 'Hello'.slice(0, 4)],
    ['a character outside the alphabet', 'Hello World'.slice(0, 10).replace('o', '"')],
    ['a space', 'Hell World'],
    ['a non-ASCII character', 'Hellö'],
    ['a group above 2^32 - 1', '%%%%%'],
    ['the first group above 2^32 - 1', '%nSc1'],
  ])('security - z85Decode refuses %s', (_what, text) => {
    expect(() => z85Decode(text)).toThrow(InvalidArgumentError);
  });

  it('security - z85Encode refuses lengths that are not multiples of 4', () => {
    expect(() => z85Encode(Buffer.alloc(3))).toThrow(InvalidArgumentError);
  });
});

describe('security - node keys', () => {
  it('security - generated keys are 40-character Z85 for 32 bytes, and ids derive from them', () => {
    const keys = generateNodeKeys();
    expect(keys.publicKey).toHaveLength(40);
    expect(keys.secretKey).toHaveLength(40);
    const raw = keyBytes(keys.publicKey);
    expect(raw.length).toBe(32);
    const fp = createHash('sha256').update(raw).digest('hex').slice(0, 16);
    expect(keyFingerprint(keys.publicKey)).toBe(fp);
    expect(nodeIdFor('order', keys.publicKey)).toBe(`order-${fp}`);
    expect(NODE_ID_RE.test(nodeIdFor('a'.repeat(32), keys.publicKey))).toBe(true);
    expect(() => nodeIdFor('Order', keys.publicKey)).toThrow(InvalidArgumentError);
  });

  it.each([
    ['too short', 'abc'],
    ['41 characters', `${generateNodeKeys().publicKey}0`],
    ['a bad character', `${generateNodeKeys().publicKey.slice(0, 39)}"`],
    ['an overflowing group', `${generateNodeKeys().publicKey.slice(0, 35)}%%%%%`],
  ])('security - keyBytes refuses %s with SecurityError key, without echoing it', (_what, text) => {
    const err = securityError(() => keyBytes(text), 'key');
    expect(err.message).not.toContain(text);
  });

  it('security - saved keys load back; the secret file is 0600 and the public one 0644 whatever the umask', () => {
    const dir = tempDir();
    const file = join(dir, 'node.key');
    const keys = generateNodeKeys();
    const old = process.umask(0o077);
    try {
      saveNodeKeys(file, keys);
    } finally {
      process.umask(old);
    }
    expect(mode(file)).toBe(0o600);
    expect(mode(`${file}.pub`)).toBe(0o644);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ type: 'zmesh-node-key', ...keys });
    expect(JSON.parse(readFileSync(`${file}.pub`, 'utf8'))).toEqual({ type: 'zmesh-node-public-key', publicKey: keys.publicKey });
    expect(loadNodeKeys(file)).toEqual(keys);
    expect(loadPublicKey(`${file}.pub`)).toBe(keys.publicKey);
    expect(loadPublicKey(file)).toBe(keys.publicKey);
  });

  it('security - saving over an existing key is refused and changes nothing', () => {
    const dir = tempDir();
    const file = join(dir, 'node.key');
    const first = generateNodeKeys();
    saveNodeKeys(file, first);
    const err = securityError(() => saveNodeKeys(file, generateNodeKeys()), 'key');
    expect(err.message).toContain('refusing to overwrite');
    expect(loadNodeKeys(file)).toEqual(first);
    expect(loadPublicKey(`${file}.pub`)).toBe(first.publicKey);
    // Only the secret in the way: no orphan .pub is left behind.
    rmSync(`${file}.pub`);
    securityError(() => saveNodeKeys(file, generateNodeKeys()), 'key');
    expect(existsSync(`${file}.pub`)).toBe(false);
  });

  it.each([0o644, 0o640, 0o604, 0o660, 0o601])('security - a secret key file of mode %o is refused with a chmod 600 hint', (m) => {
    const file = join(tempDir(), 'node.key');
    saveNodeKeys(file, generateNodeKeys());
    chmodSync(file, m);
    const err = securityError(() => loadNodeKeys(file), 'key');
    expect(err.message).toContain(file);
    expect(err.message).toContain(`chmod 600 ${file}`);
  });

  it('security - malformed key files are refused clearly', () => {
    const dir = tempDir();
    const write = (name: string, text: string): string => {
      const p = join(dir, name);
      writeFileSync(p, text, { mode: 0o600 });
      return p;
    };
    const a = generateNodeKeys();
    const b = generateNodeKeys();
    expect(securityError(() => loadNodeKeys(join(dir, 'missing')), 'key').message).toContain('cannot read');
    expect(securityError(() => loadNodeKeys(write('garbage', 'not json')), 'key').message).toContain('is not JSON');
    expect(securityError(() => loadNodeKeys(write('array', '[]')), 'key').message).toContain('not a zmesh key file');
    expect(securityError(() => loadNodeKeys(write('pub', JSON.stringify({ type: 'zmesh-node-public-key', publicKey: a.publicKey }))), 'key').message)
      .toContain('is not a zmesh node key file');
    expect(securityError(() => loadNodeKeys(write('nosecret', JSON.stringify({ type: 'zmesh-node-key', publicKey: a.publicKey }))), 'key').message)
      .toContain('lacks a publicKey or secretKey');
    const mismatched = write('mismatch', JSON.stringify({ type: 'zmesh-node-key', publicKey: a.publicKey, secretKey: b.secretKey }));
    expect(securityError(() => loadNodeKeys(mismatched), 'key').message).toContain('does not belong to the public key');
    const badKey = write('badkey', JSON.stringify({ type: 'zmesh-node-key', publicKey: 'short', secretKey: b.secretKey }));
    expect(securityError(() => loadNodeKeys(badKey), 'key').message).not.toContain(b.secretKey);
    expect(securityError(() => loadPublicKey(write('other', JSON.stringify({ type: 'ssh-key' }))), 'key').message).toContain('is not a zmesh node key');
  });
});

describe('security - authority', () => {
  it('security - createAuthority writes a 0700 dir, a 0600 PKCS#8 key and a 0644 hex public key', () => {
    const dir = join(tempDir(), 'nested', 'auth');
    const { publicKey } = createAuthority(dir);
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'authority.key'))).toBe(0o600);
    expect(mode(join(dir, 'authority.pub'))).toBe(0o644);
    expect(readFileSync(join(dir, 'authority.key'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readFileSync(join(dir, 'authority.pub'), 'utf8')).toBe(`${publicKey.toString('hex')}\n`);
    expect(publicKey.length).toBe(32);
    expect(loadAuthorityPublicKey(dir)).toEqual(publicKey);
    expect(loadAuthorityPublicKey(join(dir, 'authority.pub'))).toEqual(publicKey);
  });

  it('security - a loaded authority signs with the key its public file names', () => {
    const dir = tempDir();
    const { publicKey } = createAuthority(dir);
    const authority = loadAuthority(dir);
    expect(authority.publicKey).toEqual(publicKey);
    const msg = Buffer.from('exact bytes');
    const sig = authority.sign(msg);
    expect(sig.length).toBe(64);
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey.toString('base64url') }, format: 'jwk' });
    expect(verify(null, msg, key, sig)).toBe(true);
  });

  it('security - an authority is never overwritten, and a readable authority.key is refused', () => {
    const dir = tempDir();
    const { publicKey } = createAuthority(dir);
    const before = readFileSync(join(dir, 'authority.key'));
    expect(securityError(() => createAuthority(dir), 'key').message).toContain('refusing to overwrite');
    expect(readFileSync(join(dir, 'authority.key'))).toEqual(before);
    expect(loadAuthorityPublicKey(dir)).toEqual(publicKey);
    chmodSync(join(dir, 'authority.key'), 0o640);
    expect(securityError(() => loadAuthority(dir), 'key').message).toContain('chmod 600');
  });

  it('security - a malformed or mismatched authority.pub is refused', () => {
    const dir = tempDir();
    createAuthority(dir);
    writeFileSync(join(dir, 'authority.pub'), `${randomBytes(32).toString('hex')}\n`);
    expect(securityError(() => loadAuthority(dir), 'key').message).toContain('does not hold the public key');
    writeFileSync(join(dir, 'authority.pub'), 'abcd\n');
    expect(securityError(() => loadAuthorityPublicKey(dir), 'key').message).toContain('64 hex characters');
    securityError(() => loadAuthorityPublicKey(join(dir, 'missing.pub')), 'key');
  });
});

describe('security - certificates', () => {
  const NOW = NOW_MS;
  const HOUR = 3_600_000;

  function setup(): { authority: Authority; node: NodeKeys; fields: CertificateFields; opts: VerifyOptions } {
    const dir = tempDir();
    createAuthority(dir);
    const authority = loadAuthority(dir);
    const node = generateNodeKeys();
    const permissions: Permissions = { ...noPermissions(), send: { allow: ['product.*', 'cart.GetCart'], deny: ['product.Delete'] } };
    const fields = { mesh: 'prod', service: 'order', nodeKey: node.publicKey, serial: 7, notBeforeMs: NOW - HOUR, notAfterMs: NOW + HOUR, permissions };
    return { authority, node, fields, opts: { authorityKeys: [authority.publicKey], mesh: 'prod', nowMs: NOW } };
  }

  /** A certificate with any raw fields, signed by `authority` (for what issue refuses). */
  function forge(authority: Authority, cert: zmesh.security.v1.Certificate.$Properties): Buffer {
    const bytes = pb.Certificate.encode({ version: 1, authorityKey: authority.publicKey, ...cert }).finish();
    return Buffer.from(pb.SignedCertificate.encode({ certificate: bytes, signature: authority.sign(bytes) }).finish());
  }

  it('security - an issued certificate verifies and carries every field', () => {
    const { authority, fields, opts } = setup();
    const cert = issueCertificate(authority, fields);
    const info = verifyCertificate(cert, opts);
    expect(info).toEqual({ version: 1, ...fields, authorityKey: authority.publicKey.toString('hex') });
    expect(readCertificate(cert)).toEqual(info);
    // A second trusted authority does not get in the way.
    expect(verifyCertificate(cert, { ...opts, authorityKeys: [randomBytes(32), authority.publicKey] })).toEqual(info);
  });

  it('security - a tampered signature is refused as authority', () => {
    const { authority, fields, opts } = setup();
    const signed = pb.SignedCertificate.decode(issueCertificate(authority, fields));
    const sig = Buffer.from(signed.signature);
    sig[10]! ^= 0x01;
    const tampered = pb.SignedCertificate.encode({ certificate: signed.certificate, signature: sig }).finish();
    expect(securityError(() => verifyCertificate(tampered, opts), 'authority').message).toContain('signature does not verify');
    const truncated = pb.SignedCertificate.encode({ certificate: signed.certificate, signature: sig.subarray(0, 63) }).finish();
    securityError(() => verifyCertificate(truncated, opts), 'authority');
  });

  it('security - a tampered certificate body is refused as authority', () => {
    const { authority, fields, opts } = setup();
    const signed = pb.SignedCertificate.decode(issueCertificate(authority, fields));
    const cert = pb.Certificate.decode(signed.certificate);
    // Widen the rights but keep the old signature.
    const body = pb.Certificate.encode({ ...cert, permissions: { send: { allow: ['*'] } } }).finish();
    const tampered = pb.SignedCertificate.encode({ certificate: body, signature: signed.signature }).finish();
    securityError(() => verifyCertificate(tampered, opts), 'authority');
  });

  it('security - a certificate of an authority the verifier does not trust is refused as authority', () => {
    const { authority, fields, opts } = setup();
    const other = setup().authority;
    const cert = issueCertificate(other, fields);
    expect(securityError(() => verifyCertificate(cert, opts), 'authority').message).toContain('does not trust');
    // Naming a trusted authority does not help when another one signed.
    const signed = pb.SignedCertificate.decode(cert);
    const body = pb.Certificate.encode({ ...pb.Certificate.decode(signed.certificate), authorityKey: authority.publicKey }).finish();
    const claimed = pb.SignedCertificate.encode({ certificate: body, signature: other.sign(body) }).finish();
    securityError(() => verifyCertificate(claimed, opts), 'authority');
    securityError(() => verifyCertificate(cert, { ...opts, authorityKeys: [] }), 'authority');
  });

  it('security - validity: not before is inclusive, not after exclusive; outside is expired', () => {
    const { authority, fields, opts } = setup();
    const cert = issueCertificate(authority, fields);
    expect(verifyCertificate(cert, { ...opts, nowMs: fields.notBeforeMs }).serial).toBe(7);
    expect(verifyCertificate(cert, { ...opts, nowMs: fields.notAfterMs - 1 }).serial).toBe(7);
    expect(securityError(() => verifyCertificate(cert, { ...opts, nowMs: fields.notAfterMs }), 'expired').message).toContain('expired at');
    const early = securityError(() => verifyCertificate(cert, { ...opts, nowMs: fields.notBeforeMs - 1 }), 'expired');
    expect(early.message).toContain(`not valid before ${new Date(fields.notBeforeMs).toISOString()}`);
  });

  it('security - a revoked serial is refused as revoked', () => {
    const { authority, fields, opts } = setup();
    const cert = issueCertificate(authority, fields);
    expect(securityError(() => verifyCertificate(cert, { ...opts, revoked: new Set([3, 7]) }), 'revoked').message).toContain('serial 7');
    expect(verifyCertificate(cert, { ...opts, revoked: new Set([3, 8]) }).serial).toBe(7);
  });

  it('security - a certificate for another mesh is refused as mesh', () => {
    const { authority, fields, opts } = setup();
    const cert = issueCertificate(authority, fields);
    expect(securityError(() => verifyCertificate(cert, { ...opts, mesh: 'staging' }), 'mesh').message).toContain('"prod", not "staging"');
  });

  it('security - checks run in the spec order: authority, mesh, expiry, revocation', () => {
    const { authority, fields, opts } = setup();
    const cert = issueCertificate(authority, fields);
    const all = { authorityKeys: [randomBytes(32)], mesh: 'staging', nowMs: fields.notAfterMs + 1, revoked: new Set([7]) };
    securityError(() => verifyCertificate(cert, all), 'authority');
    securityError(() => verifyCertificate(cert, { ...all, authorityKeys: opts.authorityKeys }), 'mesh');
    securityError(() => verifyCertificate(cert, { ...all, authorityKeys: opts.authorityKeys, mesh: 'prod' }), 'expired');
    securityError(() => verifyCertificate(cert, { ...all, authorityKeys: opts.authorityKeys, mesh: 'prod', nowMs: NOW }), 'revoked');
  });

  it('security - undecodable, oversized and other-version certificates are refused as certificate', () => {
    const { authority, fields, opts } = setup();
    securityError(() => verifyCertificate(Buffer.from('definitely not protobuf \xff\xff\xff'), opts), 'certificate');
    securityError(() => verifyCertificate(Buffer.alloc(MAX_CERTIFICATE_BYTES + 1), opts), 'certificate');
    securityError(() => readCertificate(Buffer.from([0x0a, 0x05, 0x01])), 'certificate');
    const v2 = forge(authority, { version: 2, mesh: 'prod', service: 'order', nodeKey: keyBytes(fields.nodeKey), serial: 1, notBeforeMs: 0, notAfterMs: NOW * 2 });
    expect(securityError(() => verifyCertificate(v2, opts), 'certificate').message).toContain('version 2');
  });

  it.each([
    ['a bad service name', { service: 'Order' }],
    ['a bad mesh name', { mesh: 'has space' }],
    ['a 31-byte node key', { nodeKey: randomBytes(31) }],
    ['serial 0', { serial: 0 }],
    ['a serial above 2^53', { serial: 2 ** 60 }],
    ['an empty rule', { permissions: { publish: { allow: [''] } } }],
    ['a rule with whitespace', { permissions: { send: { deny: ['a. b'] } } }],
  ])('security - a signed certificate with %s is refused as certificate', (_what, change) => {
    const { authority, fields, opts } = setup();
    const mesh = (change as { mesh?: string }).mesh ?? 'prod';
    const cert = forge(authority, {
      mesh: 'prod', service: 'order', nodeKey: keyBytes(fields.nodeKey), serial: 5, notBeforeMs: NOW - HOUR, notAfterMs: NOW + HOUR, ...change,
    });
    securityError(() => verifyCertificate(cert, { ...opts, mesh }), 'certificate');
  });

  it.each([
    ['a bad mesh', { mesh: 'a/b' }],
    ['a bad service', { service: '-x' }],
    ['a bad node key', { nodeKey: 'not a key' }],
    ['serial 0', { serial: 0 }],
    ['a fractional serial', { serial: 1.5 }],
    ['an empty window', { notAfterMs: NOW - HOUR }],
    ['a negative bound', { notBeforeMs: -1 }],
    ['a rule with whitespace', { permissions: { ...noPermissions(), publish: { allow: ['a b'], deny: [] } } }],
  ])('security - issueCertificate refuses %s', (_what, change) => {
    const { authority, fields } = setup();
    expect(() => issueCertificate(authority, { ...fields, ...change })).toThrow(InvalidArgumentError);
  });

  it('security - revocation lists verify to their serials and refuse other authorities and tampering', () => {
    const { authority } = setup();
    const other = setup().authority;
    const list = issueRevocationList(authority, [9, 3, 3, 5], NOW);
    expect([...verifyRevocationList(list, [authority.publicKey])]).toEqual([3, 5, 9]);
    expect(pb.RevocationList.decode(pb.SignedRevocationList.decode(list).list).issuedMs.toString()).toBe(String(NOW));
    securityError(() => verifyRevocationList(list, [other.publicKey]), 'authority');
    const signed = pb.SignedRevocationList.decode(list);
    const shrunk = pb.RevocationList.encode({ authorityKey: authority.publicKey, issuedMs: NOW, serials: [3] }).finish();
    securityError(() => verifyRevocationList(pb.SignedRevocationList.encode({ list: shrunk, signature: signed.signature }).finish(), [authority.publicKey]), 'authority');
    securityError(() => verifyRevocationList(Buffer.from([0xff, 0xff]), [authority.publicKey]), 'certificate');
    expect(() => issueRevocationList(authority, [0])).toThrow(InvalidArgumentError);
  });
});

describe('security - authority ledger', () => {
  it('security - serials count up from 1 and a held lock is refused', () => {
    const dir = tempDir();
    createAuthority(dir);
    expect(lastSerial(dir)).toBe(0);
    expect([nextSerial(dir), nextSerial(dir), nextSerial(dir)]).toEqual([1, 2, 3]);
    expect(lastSerial(dir)).toBe(3);
    expect(mode(join(dir, 'serial'))).toBe(0o600);
    writeFileSync(join(dir, 'serial.lock'), '1\n');
    expect(securityError(() => nextSerial(dir), 'config').message).toContain('remove the lock file');
    expect(lastSerial(dir)).toBe(3);
    writeFileSync(join(dir, 'serial'), 'seven\n');
    rmSync(join(dir, 'serial.lock'));
    securityError(() => nextSerial(dir), 'config');
  });

  it('security - revoking adds to the signed list and refuses serials never issued', () => {
    const dir = tempDir();
    createAuthority(dir);
    const authority = loadAuthority(dir);
    for (let i = 0; i < 4; i++) nextSerial(dir);
    expect(revokedSerials(dir, authority.publicKey).size).toBe(0);
    expect(revokeSerials(authority, dir, [2], NOW_MS).serials).toEqual([2]);
    const r = revokeSerials(authority, dir, [4, 2], NOW_MS + 1);
    expect(r).toEqual({ file: join(dir, 'revoked.list'), serials: [2, 4], issuedMs: NOW_MS + 1 });
    expect([...revokedSerials(dir, authority.publicKey)].sort()).toEqual([2, 4]);
    expect(mode(r.file)).toBe(0o644);
    expect(() => revokeSerials(authority, dir, [5])).toThrow(InvalidArgumentError);
    expect(existsSync(join(dir, 'revoked.list.lock'))).toBe(false);
  });
});

describe('security - permissions', () => {
  const p = (send: Partial<Permissions['send']> = {}, publish: Partial<Permissions['publish']> = {}, subscribe: Partial<Permissions['subscribe']> = {}): Permissions => ({
    send: { allow: [], deny: [], ...send }, publish: { allow: [], deny: [], ...publish }, subscribe: { allow: [], deny: [], ...subscribe },
  });

  it.each([
    // allow, deny, service, method, decision
    [[], [], 'order', 'Place', false],
    [['*'], [], 'order', 'Place', true],
    [['*'], [], 'order', '$replay', false],
    [['order.*'], [], 'order', 'Place', true],
    [['order.*'], [], 'order', '$replay', false],
    [['order.*'], [], 'orders', 'Place', false],
    [['order.*'], [], 'cart', 'Place', false],
    [['order.Place'], [], 'order', 'Place', true],
    [['order.Place'], [], 'order', 'Placed', false],
    [['order.Place'], [], 'order', 'Plac', false],
    [['order.Place'], [], 'cart', 'Place', false],
    [['order.$replay'], [], 'order', '$replay', true],
    [['order'], [], 'order', 'Place', false],
    [['order.'], [], 'order', 'Place', false],
    [['*'], ['order.*'], 'order', 'Place', false],
    [['*'], ['order.*'], 'cart', 'Get', true],
    [['order.*'], ['order.Cancel'], 'order', 'Cancel', false],
    [['order.*'], ['order.Cancel'], 'order', 'Place', true],
    [['order.Place'], ['*'], 'order', 'Place', false],
    [['order.$replay'], ['*'], 'order', '$replay', true],
    [['order.Place'], ['order.Place'], 'order', 'Place', false],
  ] as const)('security - mayCall allow %j deny %j on %s.%s is %s', (allow, deny, service, method, decision) => {
    expect(mayCall(p({ allow: [...allow], deny: [...deny] }), service, method)).toBe(decision);
  });

  it.each([
    [[], [], 'product.stock', false],
    [['*'], [], 'product.stock', true],
    [['product.'], [], 'product.stock.reserved', true],
    [['product.'], [], 'product.', true],
    [['product.'], [], 'product', false],
    [['product.'], [], 'products.x', false],
    [['product.'], ['product.secret.'], 'product.secret.x', false],
    [['product.'], ['product.secret.'], 'product.stock', true],
    [['*'], ['*'], 'x', false],
    [['product.stock'], [], 'product.stockpile', true],
  ] as const)('security - mayPublish allow %j deny %j on %s is %s', (allow, deny, topic, decision) => {
    expect(mayPublish(p({}, { allow: [...allow], deny: [...deny] }), topic)).toBe(decision);
  });

  it.each([
    [[], [], 'order.', false],
    [['*'], [], '', true],
    [['order.'], [], 'order.', true],
    [['order.'], [], 'order.placed', true],
    [['order.'], [], 'order', false],
    [['order.'], [], '', false],
    [['*'], ['order.secret.'], 'order.secret.x', false],
    [['*'], ['order.secret.'], 'order.', false],
    [['*'], ['order.secret.'], 'order', false],
    [['*'], ['order.secret.'], '', false],
    [['*'], ['order.secret.'], 'order.placed', true],
    [['*'], ['*'], 'order.', false],
    [['order.'], ['product.'], 'order.x', true],
  ] as const)('security - maySubscribe allow %j deny %j to %j is %s', (allow, deny, prefix, decision) => {
    expect(maySubscribe(p({}, {}, { allow: [...allow], deny: [...deny] }), prefix)).toBe(decision);
  });

  it('security - each right is checked against its own rules only', () => {
    const perms = p({ allow: ['*'] });
    expect(mayCall(perms, 'a', 'B')).toBe(true);
    expect(mayPublish(perms, 'a.B')).toBe(false);
    expect(maySubscribe(perms, 'a.')).toBe(false);
  });

  it('security - parseRules splits lists and refuses empty parts, whitespace and bad call rules', () => {
    expect(parseRules('a.B,c.*')).toEqual(['a.B', 'c.*']);
    expect(parseRules('product.,order.,product.')).toEqual(['product.', 'order.']);
    expect(parseRules('*', 'call')).toEqual(['*']);
    expect(parseRules('order.Place,cart.*,order.$replay', 'call')).toEqual(['order.Place', 'cart.*', 'order.$replay']);
    for (const bad of ['', 'a,', ',a', 'a,,b', 'a b', 'a,\tb', 'a\u00a0b', 'a\u0085b', 'x'.repeat(513)]) {
      expect(() => parseRules(bad), JSON.stringify(bad)).toThrow(InvalidArgumentError);
    }
    for (const bad of ['order', 'order.', '.Place', 'Order.Place', 'a/b.C']) {
      expect(() => parseRules(bad, 'call'), bad).toThrow(InvalidArgumentError);
    }
  });
});

describe('security - message MAC', () => {
  const a = generateNodeKeys();
  const b = generateNodeKeys();
  const c = generateNodeKeys();
  const header = meshPb.v1.Envelope.encode({ version: 1, kind: 3, id: randomBytes(16), senderNode: 'order-1', senderService: 'order', seq: 5, service: 'product', subject: 'Reserve' }).finish();
  const body = randomBytes(100);

  it('security - both nodes derive the same 32-byte MAC key, and a third pair another', () => {
    const ab = macKey(a.secretKey, a.publicKey, b.publicKey);
    expect(ab.length).toBe(32);
    expect(macKey(b.secretKey, b.publicKey, a.publicKey)).toEqual(ab);
    expect(macKey(a.secretKey, a.publicKey, c.publicKey)).not.toEqual(ab);
    expect(macKey(c.secretKey, c.publicKey, b.publicKey)).not.toEqual(ab);
  });

  it('security - the MAC key is HKDF-SHA256 of the X25519 secret with both public keys in byte order', () => {
    const jwk = (k: NodeKeys) => ({ kty: 'OKP', crv: 'X25519', x: keyBytes(k.publicKey).toString('base64url') });
    const shared = diffieHellman({
      privateKey: createPrivateKey({ key: { ...jwk(a), d: keyBytes(a.secretKey).toString('base64url') }, format: 'jwk' }),
      publicKey: createPublicKey({ key: jwk(b), format: 'jwk' }),
    });
    const keys = [keyBytes(a.publicKey), keyBytes(b.publicKey)].sort(Buffer.compare);
    const info = Buffer.concat([Buffer.from('zmesh-mac-v1'), ...keys]);
    expect(macKey(a.secretKey, a.publicKey, b.publicKey)).toEqual(Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), info, 32)));
  });

  it('security - macKey refuses a mismatched own pair, a bad key and a low-order peer key', () => {
    securityError(() => macKey(a.secretKey, b.publicKey, c.publicKey), 'key');
    securityError(() => macKey(a.secretKey, a.publicKey, 'short'), 'key');
    securityError(() => macKey(a.secretKey, a.publicKey, z85Encode(Buffer.alloc(32))), 'key');
    const one = Buffer.alloc(32);
    one[0] = 1;
    securityError(() => macKey(a.secretKey, a.publicKey, z85Encode(one)), 'key');
  });

  it('security - a BIND frame is magic, client key and an HMAC of both keys; it verifies only at the server it names', () => {
    const key = macKey(a.secretKey, a.publicKey, b.publicKey);
    const frame = bindFrame(key, keyBytes(a.publicKey), keyBytes(b.publicKey));
    expect(frame.length).toBe(BIND_FRAME_BYTES);
    expect(frame.subarray(0, 4).toString('ascii')).toBe('ZMB1');
    expect(frame.subarray(4, 36)).toEqual(keyBytes(a.publicKey));
    const tag = createHmac('sha256', key).update(Buffer.concat([Buffer.from('zmesh-bind-v1'), keyBytes(a.publicKey), keyBytes(b.publicKey)])).digest().subarray(0, 16);
    expect(frame.subarray(36)).toEqual(tag);
    // b checks it with the key it derives itself, and its own public key.
    expect(verifyBindFrame(macKey(b.secretKey, b.publicKey, a.publicKey), frame, keyBytes(b.publicKey))).toBe(true);
    // Reflected (a's frame presented as if b were the client), made for another server,
    // tampered, truncated: all false, none throws.
    expect(verifyBindFrame(key, bindFrame(key, keyBytes(b.publicKey), keyBytes(a.publicKey)), keyBytes(b.publicKey))).toBe(false);
    expect(verifyBindFrame(key, frame, keyBytes(c.publicKey))).toBe(false);
    const tampered = Buffer.from(frame);
    tampered[tampered.length - 1]! ^= 1;
    expect(verifyBindFrame(key, tampered, keyBytes(b.publicKey))).toBe(false);
    expect(verifyBindFrame(key, frame.subarray(0, 40), keyBytes(b.publicKey))).toBe(false);
    expect(verifyBindFrame(key, Buffer.alloc(0), keyBytes(b.publicKey))).toBe(false);
  });

  it('security - a sealed header ends with field 14 and opens with the peer key', () => {
    const key = macKey(a.secretKey, a.publicKey, b.publicKey);
    const sealed = sealHeader(key, header, body);
    expect(sealed.length).toBe(header.length + MAC_TRAILER_BYTES);
    expect(sealed.subarray(0, header.length)).toEqual(Buffer.from(header));
    expect([sealed[header.length], sealed[header.length + 1]]).toEqual([0x72, MAC_BYTES]);
    const expected = createHmac('sha256', key).update(Buffer.concat([header, body])).digest().subarray(0, 16);
    expect(sealed.subarray(header.length + 2)).toEqual(expected);
    expect(openHeader(macKey(b.secretKey, b.publicKey, a.publicKey), sealed, body)).toBe(true);
    // The trailer is a well-formed protobuf field: the header still decodes as before.
    const decoded = meshPb.v1.Envelope.decode(sealed);
    expect(decoded.subject).toBe('Reserve');
    expect(String(decoded.seq)).toBe('5');
    expect(openHeader(key, sealHeader(key, new Uint8Array(0), new Uint8Array(0)), new Uint8Array(0))).toBe(true);
  });

  it('security - flipping any one bit of the sealed header or the body fails the MAC', () => {
    const key = macKey(a.secretKey, a.publicKey, b.publicKey);
    const sealed = sealHeader(key, header, body);
    for (let i = 0; i < sealed.length * 8; i++) {
      const h = Buffer.from(sealed);
      h[i >> 3]! ^= 1 << (i & 7);
      expect(openHeader(key, h, body), `header bit ${i}`).toBe(false);
    }
    for (let i = 0; i < body.length * 8; i++) {
      const bd = Buffer.from(body);
      bd[i >> 3]! ^= 1 << (i & 7);
      expect(openHeader(key, sealed, bd), `body bit ${i}`).toBe(false);
    }
    expect(openHeader(key, sealed, body)).toBe(true);
  });

  it('security - the MAC fails with the wrong key and on malformed input, without throwing', () => {
    const key = macKey(a.secretKey, a.publicKey, b.publicKey);
    const sealed = sealHeader(key, header, body);
    expect(openHeader(macKey(a.secretKey, a.publicKey, c.publicKey), sealed, body)).toBe(false);
    expect(openHeader(macKey(c.secretKey, c.publicKey, b.publicKey), sealed, body)).toBe(false);
    expect(openHeader(key, header, body)).toBe(false);
    expect(openHeader(key, sealed.subarray(0, MAC_TRAILER_BYTES - 1), body)).toBe(false);
    expect(openHeader(key, sealed.subarray(1), body)).toBe(false);
    expect(openHeader(key, Buffer.concat([sealed, Buffer.from([0])]), body)).toBe(false);
    expect(openHeader(undefined as unknown as Buffer, sealed, body)).toBe(false);
    expect(openHeader(key, null as unknown as Buffer, body)).toBe(false);
    expect(openHeader(key, sealed, 'x' as unknown as Buffer)).toBe(false);
  });
});
