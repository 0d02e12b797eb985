/**
 * The trust commands as an operator runs them: real processes from dist/, real files,
 * real exit codes. authority init -> keygen -> cert issue -> cert show -> cert revoke,
 * then the refusals (exit 1 with the error code) and bad usage (exit 2).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuthority, loadAuthorityPublicKey } from '../transport/security/authority.js';
import { issueCertificate, verifyCertificate, verifyRevocationList } from '../transport/security/certificate.js';
import { generateNodeKeys, keyBytes } from '../transport/security/keys.js';
import { noPermissions } from '../transport/security/permissions.js';

const CLI = fileURLToPath(new URL('../dist/nodes/cli/main.js', import.meta.url));
const zmesh = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, cwd: dir });
const mode = (path: string): number => statSync(path).mode & 0o777;
const HOUR_MS = 3_600_000;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zmesh-security-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('security cli', () => {
  // One flow, in order: each step uses the files the previous one wrote.
  describe.sequential('security - the operator flow', () => {
    let authorityKey: string;
    let publicKey: string;
    let nodeId: string;

    it('security - authority init creates the directory and files with private modes', () => {
      const r = zmesh('authority', 'init', '--dir', 'auth', '--json');
      expect(r.status, r.stderr).toBe(0);
      authorityKey = (JSON.parse(r.stdout) as { publicKey: string }).publicKey;
      expect(authorityKey).toMatch(/^[0-9a-f]{64}$/);
      expect(readFileSync(join(dir, 'auth', 'authority.pub'), 'utf8')).toBe(`${authorityKey}\n`);
      expect(mode(join(dir, 'auth'))).toBe(0o700);
      expect(mode(join(dir, 'auth', 'authority.key'))).toBe(0o600);
      expect(mode(join(dir, 'auth', 'authority.pub'))).toBe(0o644);
      const text = zmesh('authority', 'init', '--dir', 'auth2');
      expect(text.status).toBe(0);
      expect(text.stdout).toContain('keep authority.key private');
      expect(text.stdout).toMatch(/public key {2}[0-9a-f]{64}\n/);
    });

    it('security - keygen writes the key pair and prints the key and the node id rule', () => {
      const r = zmesh('keygen', '--out', 'order.key', '--service', 'order', '--json');
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { publicKey: string; fingerprint: string; nodeId: string; nodeIdRule: string };
      publicKey = out.publicKey;
      const fp = createHash('sha256').update(keyBytes(publicKey)).digest('hex').slice(0, 16);
      expect(out.fingerprint).toBe(fp);
      expect(out.nodeId).toBe(`order-${fp}`);
      expect(out.nodeIdRule).toBe(`<service>-${fp}`);
      nodeId = out.nodeId;
      expect(mode(join(dir, 'order.key'))).toBe(0o600);
      expect(mode(join(dir, 'order.key.pub'))).toBe(0o644);
      expect(JSON.parse(readFileSync(join(dir, 'order.key.pub'), 'utf8'))).toEqual({ type: 'zmesh-node-public-key', publicKey });
      const text = zmesh('keygen', '--out', 'cart.key');
      expect(text.status).toBe(0);
      expect(text.stdout).toMatch(/^wrote cart\.key \(secret, mode 0600\) and cart\.key\.pub\npublic key {3}.{40}\nfingerprint {2}[0-9a-f]{16}\nnode id {6}<service>-[0-9a-f]{16}/);
    });

    it('security - cert issue signs a certificate the library verifies, with serials from the authority dir', () => {
      const r = zmesh('cert', 'issue', '--authority', 'auth', '--mesh', 'prod', '--service', 'order', '--key', 'order.key.pub',
        '--allow-send', 'product.*,cart.GetCart', '--allow-send', 'payment.Charge', '--deny-send', 'product.Delete',
        '--allow-publish', 'order.', '--allow-subscribe', 'product.,cart.', '--deny-subscribe', 'product.internal.',
        '--hours', '2', '--out', 'order.cert', '--json');
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ file: 'order.cert', nodeId, serial: 1, mesh: 'prod', service: 'order', authorityKey });
      expect(mode(join(dir, 'order.cert'))).toBe(0o644);
      expect(readFileSync(join(dir, 'auth', 'serial'), 'utf8')).toBe('1\n');
      expect(mode(join(dir, 'auth', 'serial'))).toBe(0o600);
      const info = verifyCertificate(readFileSync(join(dir, 'order.cert')), { authorityKeys: [loadAuthorityPublicKey(join(dir, 'auth'))], mesh: 'prod', nowMs: Date.now() });
      expect(info).toMatchObject({ nodeKey: publicKey, serial: 1, service: 'order' });
      expect(info.permissions).toEqual({
        send: { allow: ['product.*', 'cart.GetCart', 'payment.Charge'], deny: ['product.Delete'] },
        publish: { allow: ['order.'], deny: [] },
        subscribe: { allow: ['product.', 'cart.'], deny: ['product.internal.'] },
      });
      expect(info.notAfterMs - info.notBeforeMs).toBeGreaterThan(2 * HOUR_MS); // not_before is set back for clock skew
      expect(info.notAfterMs - Date.now()).toBeLessThanOrEqual(2 * HOUR_MS);
      // The key itself instead of a file, and the default validity; the serial moves on.
      const second = zmesh('cert', 'issue', '--authority', 'auth', '--mesh', 'prod', '--service', 'order', '--key', publicKey, '--out', 'order2.cert');
      expect(second.status, second.stderr).toBe(0);
      expect(second.stdout).toMatch(/^issued certificate serial 2 for node order-[0-9a-f]{16} \(mesh prod, service order\)\nvalid from \S+ until \S+\nwrote order2\.cert\n$/);
      expect(readFileSync(join(dir, 'auth', 'serial'), 'utf8')).toBe('2\n');
    });

    it('security - cert show prints the fields and the remaining validity', () => {
      const r = zmesh('cert', 'show', 'order.cert', '--json');
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { status: string; remainingMs: number; nodeId: string; serial: number; notAfter: string };
      expect(out).toMatchObject({ status: 'valid', nodeId, serial: 1, mesh: 'prod', nodeKey: publicKey, authorityKey });
      expect(out.remainingMs).toBeGreaterThan(HOUR_MS);
      expect(out.remainingMs).toBeLessThanOrEqual(2 * HOUR_MS);
      expect(out.notAfter).toMatch(/^\d{4}-\d\d-\d\dT/);
      const text = zmesh('cert', 'show', 'order.cert');
      expect(text.status).toBe(0);
      expect(text.stdout).toContain(`node id     ${nodeId}\n`);
      expect(text.stdout).toMatch(/status {6}valid, expires in 1h 59m\n/);
      expect(text.stdout).toContain('send        allow product.*,cart.GetCart,payment.Charge; deny product.Delete\n');
      expect(text.stdout).toContain('publish     allow order.\n');
    });

    it('security - cert revoke keeps a signed list of every revoked serial', () => {
      const r = zmesh('cert', 'revoke', '--authority', 'auth', '--serial', '2');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('revoked.list now revokes 1 certificate(s): serial 2\n');
      const again = zmesh('cert', 'revoke', '--authority', 'auth', '--serial', '1', '--serial', '2', '--json');
      expect(again.status, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ serials: [1, 2] });
      const list = join(dir, 'auth', 'revoked.list');
      expect(mode(list)).toBe(0o644);
      expect([...verifyRevocationList(readFileSync(list), [loadAuthorityPublicKey(join(dir, 'auth'))])]).toEqual([1, 2]);
      const never = zmesh('cert', 'revoke', '--authority', 'auth', '--serial', '9');
      expect(never.status).toBe(1);
      expect(never.stderr).toBe('zmesh: serial 9 was never issued by this authority (last issued: 2) (ZMESH_ERR_INVALID_ARGUMENT)\n');
    });
  });

  it('security - cert show reports an expired certificate and still exits 0', () => {
    const r0 = zmesh('authority', 'init', '--dir', 'old-auth');
    expect(r0.status, r0.stderr).toBe(0);
    const nowMs = Date.now();
    const cert = issueCertificate(loadAuthority(join(dir, 'old-auth')), {
      mesh: 'prod', service: 'cart', nodeKey: generateNodeKeys().publicKey, serial: 1,
      notBeforeMs: nowMs - 50 * HOUR_MS, notAfterMs: nowMs - 3 * HOUR_MS, permissions: noPermissions(),
    });
    writeFileSync(join(dir, 'old.cert'), cert);
    const r = zmesh('cert', 'show', 'old.cert');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/status {6}EXPIRED 3h( \d+m)? ago\n/);
    expect(r.stdout).toContain('send        allow nothing\n');
    expect(JSON.parse(zmesh('cert', 'show', 'old.cert', '--json').stdout)).toMatchObject({ status: 'expired', remainingMs: 0 });
  });

  it('security - refusals exit 1 with one line and the error code', () => {
    expect(zmesh('authority', 'init', '--dir', 'refuse-auth').status).toBe(0);
    expect(zmesh('keygen', '--out', 'refuse.key').status).toBe(0);
    const cases: Array<[string[], RegExp]> = [
      [['authority', 'init', '--dir', 'refuse-auth'], /^zmesh: cannot create refuse-auth\/authority\.pub: it exists; refusing to overwrite it \(ZMESH_ERR_SECURITY\)\n$/],
      [['keygen', '--out', 'refuse.key'], /refusing to overwrite it \(ZMESH_ERR_SECURITY\)\n$/],
      [['cert', 'issue', '--authority', 'nowhere', '--mesh', 'm', '--service', 's', '--key', 'refuse.key.pub', '--out', 'x.cert'], /^zmesh: cannot read nowhere\/authority\.key: .+\(ZMESH_ERR_SECURITY\)\n$/],
      [['cert', 'issue', '--authority', 'refuse-auth', '--mesh', 'm', '--service', 's', '--key', 'no-such.pub', '--out', 'x.cert'], /^zmesh: --key "no-such.pub" is neither a key file nor a 40-character Z85 public key\n$/],
      [['cert', 'issue', '--authority', 'refuse-auth', '--mesh', 'm', '--service', 's', '--key', 'refuse-auth/authority.pub', '--out', 'x.cert'], /is not JSON: not a zmesh key file \(ZMESH_ERR_SECURITY\)\n$/],
      [['cert', 'show', 'refuse.key.pub'], /^zmesh: not a zmesh certificate: it does not decode \(ZMESH_ERR_SECURITY\)\n$/],
      [['cert', 'show', 'missing.cert'], /^zmesh: cannot read missing\.cert: ENOENT: no such file or directory, .+ \(ZMESH_ERR_SECURITY\)\n$/],
      [['cert', 'revoke', '--authority', 'refuse-auth', '--serial', '1'], /never issued by this authority \(last issued: 0\) \(ZMESH_ERR_INVALID_ARGUMENT\)\n$/],
    ];
    for (const [args, says] of cases) {
      const r = zmesh(...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(says);
    }
    expect(existsSync(join(dir, 'x.cert'))).toBe(false);
    // No serial was spent on the refused issues.
    expect(existsSync(join(dir, 'refuse-auth', 'serial'))).toBe(false);
  });

  it('security - paths that used to hang or fail raw (under /proc, below a file, a device) exit 1 at once with the code', () => {
    // SIGKILL at the deadline: Node's recursive mkdir spun at full CPU on /proc/x, and
    // cert show read /dev/zero forever; a hang must fail the test, not stall it.
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL', cwd: dir });
    const cases: Array<[string[], RegExp]> = [
      [['keygen', '--out', '/proc/x/node.key'], /^zmesh: cannot create directory \/proc\/x: ENOENT: .+ \(ZMESH_ERR_SECURITY\)\n$/],
      [['authority', 'init', '--dir', '/proc/x/authority'], /^zmesh: cannot create directory \/proc\/x: ENOENT: .+ \(ZMESH_ERR_SECURITY\)\n$/],
      [['keygen', '--out', '/dev/null/node.key'], /^zmesh: \/dev\/null is not a directory \(ZMESH_ERR_SECURITY\)\n$/],
      [['authority', 'init', '--dir', '/dev/null'], /^zmesh: cannot create directory \/dev\/null: it exists and is not a directory \(ZMESH_ERR_SECURITY\)\n$/],
      [['cert', 'show', '/dev/zero'], /^zmesh: \/dev\/zero is not a regular file \(ZMESH_ERR_SECURITY\)\n$/],
      [['cert', 'show', dir], /^zmesh: .+ is not a regular file \(ZMESH_ERR_SECURITY\)\n$/],
    ];
    for (const [args, says] of cases) {
      const r = run(...args);
      expect(r.signal, `${args.join(' ')} was killed at the deadline`).toBeNull();
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(says);
    }
  });

  it('security - an authority key readable by others is refused with a chmod hint', () => {
    expect(zmesh('authority', 'init', '--dir', 'open-auth').status).toBe(0);
    expect(zmesh('keygen', '--out', 'open.key').status).toBe(0);
    chmodSync(join(dir, 'open-auth', 'authority.key'), 0o644);
    const r = zmesh('cert', 'issue', '--authority', 'open-auth', '--mesh', 'm', '--service', 's', '--key', 'open.key', '--out', 'open.cert');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('(mode 0644); run chmod 600 open-auth/authority.key (ZMESH_ERR_SECURITY)');
  });

  it.each([
    [['keygen'], 'Missing required argument: out'],
    [['keygen', '--out', 'k', '--service', 'Bad'], '--service must be a service name'],
    [['authority'], 'name an authority command: init'],
    [['authority', 'init'], 'Missing required argument: dir'],
    [['authority', 'destroy'], 'Unknown argument: destroy'],
    [['cert'], 'name a cert command: issue, show or revoke'],
    [['cert', 'issue', '--authority', 'a', '--mesh', 'm', '--service', 's', '--key', 'k'], 'Missing required argument: out'],
    [['cert', 'issue', '--authority', 'a', '--mesh', 'bad mesh', '--service', 's', '--key', 'k', '--out', 'o'], '--mesh must be'],
    [['cert', 'issue', '--authority', 'a', '--mesh', 'm', '--service', 'Order', '--key', 'k', '--out', 'o'], '--service must be a service name'],
    [['cert', 'issue', '--authority', 'a', '--mesh', 'm', '--service', 's', '--key', 'k', '--out', 'o', '--allow-send', 'order'], 'must be "*", "<service>.*" or "<service>.<method>"'],
    [['cert', 'issue', '--authority', 'a', '--mesh', 'm', '--service', 's', '--key', 'k', '--out', 'o', '--allow-publish', 'a.,,b.'], 'rule 2 of "a.,,b." is empty'],
    [['cert', 'issue', '--authority', 'a', '--mesh', 'm', '--service', 's', '--key', 'k', '--out', 'o', '--days', '0'], '--days must be a number above 0'],
    [['cert', 'issue', '--authority', 'a', '--mesh', 'm', '--service', 's', '--key', 'k', '--out', 'o', '--hours', '-1'], '--hours must be a number above 0'],
    [['cert', 'issue', '--authority', 'a', '--mesh', 'm', '--service', 's', '--key', 'k', '--out', 'o', '--days', '1', '--hours', '1'], 'mutually exclusive'],
    [['cert', 'show'], 'Not enough non-option arguments'],
    [['cert', 'revoke', '--authority', 'a'], 'Missing required argument: serial'],
    [['cert', 'revoke', '--authority', 'a', '--serial', '0'], '--serial takes positive whole numbers'],
    [['cert', 'revoke', '--authority', 'a', '--serial', 'two'], '--serial takes positive whole numbers'],
  ])('security - bad arguments %j exit 2 with a clear message', (args, says) => {
    const r = zmesh(...args);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^zmesh: .+\nrun "zmesh --help" for usage\n$/);
    expect(r.stderr).toContain(says);
  });

  it.each([['keygen'], ['authority', 'init'], ['cert', 'issue'], ['cert', 'show'], ['cert', 'revoke']])('security - %s --help exits 0', (...command) => {
    const r = zmesh(...command, '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`zmesh ${command.join(' ')}`);
  });
});
