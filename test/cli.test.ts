/**
 * The zmesh CLI as an operator runs it: a real process, real exit codes. Secure by
 * default: nodes and clients run on credentials (the demo's own authority, trust.ts,
 * or ones made with the commands a refusing node prints), or with --insecure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { keyBytes, keyFingerprint, loadPublicKey } from '../transport/index.js';
import { demoTrust } from '../nodes/demo/trust.js';

const CLI = fileURLToPath(new URL('../dist/nodes/cli/main.js', import.meta.url));
const zmesh = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
const zmeshIn = (cwd: string, args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, cwd });

const root = mkdtempSync(join(tmpdir(), 'zmesh-cli-trust-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
/** Credentials for every demo identity, in the layout --credentials reads. */
const trust = demoTrust(join(root, 'trust'), 'default');
/** Some real node's key, as a static peer entry wants it after "#". */
const someKey = keyBytes(loadPublicKey(join(trust.credentialsDir('product'), 'node.key.pub'))).toString('hex');

/** `zmesh node ...` running in the background until the test ends. */
const running: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => {
    if (c.exitCode !== null || c.signalCode !== null) return undefined;
    c.kill('SIGKILL');
    return new Promise((r) => c.once('exit', r));
  }));
});

interface Started {
  child: ChildProcess;
  ready: Record<string, unknown>;
  stderr: string[];
  /** SIGTERM, then the exit code and the stdout lines after the ready line. */
  stop(): Promise<{ code: number | null; lines: string[] }>;
}

/** Starts `zmesh <args>` and resolves with its first stdout line, as JSON. */
async function startZmesh(cwd: string, args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (lines.length === 0) resolve(l);
      lines.push(l);
    });
    void exited.then((code) => reject(new Error(`zmesh ${args.join(' ')} exited ${code} before it was ready: ${stderr.join('\n')}`)));
  });
  return {
    child, ready: JSON.parse(first) as Record<string, unknown>, stderr,
    stop: async () => {
      child.kill('SIGTERM');
      return { code: await exited, lines: lines.slice(1) };
    },
  };
}

/** The commands quoted in a how-to line ("zmesh ..."), as argument lists. */
function quotedCommands(line: string): string[][] {
  return [...line.matchAll(/"zmesh ([^"]+)"/g)].map((m) => [...m[1]!.matchAll(/'([^']*)'|(\S+)/g)].map((w) => w[1] ?? w[2]!));
}

describe('cli', () => {
  it('cli - version --json reports protocol and libzmq versions', () => {
    const r = zmesh('version', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ protocolVersion: 1, libzmq: '4.3.5', curve: true });
  });

  it('cli - mDNS commands refuse to run outside a namespace while tests run', () => {
    // vitest sets ZMESH_MDNS_FORBID_ROOT_NETNS=1; this process is not in a named netns.
    const r = zmesh('peers', '--timeout', '1');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('mDNS refused outside a named network namespace');
  });

  it.each([
    [['bogus'], 'Unknown argument'],
    [[], 'name a command'],
    [['version', '--nope'], 'Unknown argument'],
    [['peers', '--timeout', '-1'], '--timeout'],
    [['peers', '--interface', 'eth0'], '--interface must be an IPv4 address'],
    [['node'], 'Not enough non-option arguments'],
    [['node', 'warehouse'], 'Invalid values: Argument: service, Given: "warehouse"'],
    [['node', 'order', '--peer', 'localhost:5555'], 'is not an endpoint like tcp://'],
    [['node', 'product', '--stock', '-3'], '--stock must be a whole number'],
    [['node', 'cart', '--mesh', 'Bad Mesh'], '--mesh must be'],
    [['peers', '--mesh', 'bad mesh'], '--mesh must be "*" or'],
    [['node', 'order', '--peer', `tcp://127.0.0.1:99999#${'a'.repeat(64)}`], 'is not an endpoint like tcp://'],
    [['node', 'order', '--peer'], '--peer needs a value'],
    [['demo', '--orders', '0'], '--orders must be a whole number from 1'],
    [['demo', '--orders', 'many'], '--orders must be a whole number from 1'],
    [['demo', '--concurrency', '0'], '--concurrency'],
    [['call'], 'Not enough non-option arguments'],
    [['call', 'product', 'Nope'], 'no schema for product.Nope; known methods: product.GetProduct'],
    [['call', 'product', 'GetProduct', '{"sku":'], 'the request is not valid JSON'],
    [['call', 'product', 'GetProduct', '[1]'], 'the request must be a JSON object'],
    [['call', 'product', 'GetProduct', '{"skew":"x"}'], 'unknown field "skew"; expected sku'],
    [['call', 'cart', 'GetCart', '{}', '--timeout', '0'], '--timeout'],
    [['watch', '--count', '0'], '--count must be a whole number'],
    [['watch', 'order.', '--timeout', '-1'], '--timeout'],
    [['watch', 'has space'], 'no spaces'],
    [['outbox', 'list'], '--data'],
    [['outbox', 'purge', '--data', '/tmp'], 'Invalid values'],
    [['node', 'product', '--insecure', '--credentials', 'dir'], '--insecure contradicts --credentials'],
    [['node', 'product', '--insecure', '--key', 'k'], '--insecure contradicts --key'],
    [['node', 'product', '--key', 'k'], '--key needs --cert and --authority too'],
    [['node', 'product', '--credentials', 'dir', '--cert', 'c'], '--credentials names the files itself; drop --cert'],
    [['node', 'product', '--peer', 'tcp://127.0.0.1:5555'], 'has no #<public key>'],
    [['node', 'product', '--peer', 'tcp://127.0.0.1:5555#nothex'], 'is not an endpoint like tcp://'],
    [['call', 'product', 'ListProducts', '--peer', 'tcp://127.0.0.1:5555'], 'has no #<public key>'],
    [['watch', '--peer', 'tcp://127.0.0.1:5555', '--credentials', 'dir'], 'has no #<public key>'],
  ])('cli - bad arguments %j exit 2 with a clear message', (args, says) => {
    const r = zmesh(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^zmesh: .+\nrun "zmesh --help" for usage/);
    expect(r.stderr).toContain(says);
  });

  it.each(['node', 'demo', 'call', 'watch', 'peers', 'outbox', 'version'])('cli - %s --help describes its options and exits 0', (command) => {
    const r = zmesh(command, '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`zmesh ${command}`);
    expect(r.stdout).toContain('--help');
  });

  it('cli - demo --static runs the whole saga on loopback with no mDNS at all', () => {
    // The mDNS guard is on in tests: any mDNS use by the demo or its nodes fails the run.
    const r = zmesh('demo', '--orders', '20', '--static', '--json', '--log-level', 'silent');
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: boolean; confirmed: number; stock: { sold: number }; security: string; authority: string };
    expect(summary.ok).toBe(true);
    expect(summary.confirmed).toBe(5);
    expect(summary.stock.sold).toBe(5);
    // Secure, on an authority of its own.
    expect(summary.security).toBe('secure');
    expect(r.stderr).toContain(`zmesh demo: secure (own authority at ${summary.authority})`);
    expect(r.stderr).not.toContain('INSECURE');
  });

  it('cli - demo --insecure runs as before, with a loud warning', () => {
    const r = zmesh('demo', '--orders', '8', '--static', '--insecure', '--log-level', 'silent');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^zmesh: WARNING: zmesh demo runs INSECURE \(--insecure\)/m);
    expect(r.stdout).toContain('  invariants    all hold');
    expect(r.stdout).toContain('  security      INSECURE (--insecure)');
  });

  it('cli - a call that finds no instance exits 1 with the error code', () => {
    // A static peer that is not there: no mDNS, nothing to find.
    const r = zmesh('call', 'product', 'ListProducts', '--peer', `tcp://127.0.0.1:9#${someKey}`, '--wait', '0.3', '--credentials', trust.credentialsDir('cli'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^zmesh: none of the --peer nodes \(tcp:\/\/127\.0\.0\.1:9\) answered within 0\.3 s \(ZMESH_ERR_TIMEOUT\)/);
  });

  it('cli - a node refuses a foreign store file with exit 1 and leaves it untouched', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zmesh-cli-'));
    try {
      const file = join(dir, 'zmesh.db');
      writeFileSync(file, 'not a database, somebody\'s notes\n'.repeat(200));
      const before = readFileSync(file);
      const r = zmesh('node', 'order', '--data', dir, '--peer', `tcp://127.0.0.1:9#${someKey}`, '--credentials', trust.credentialsDir('order'));
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('ZMESH_ERR_STORE');
      expect(readFileSync(file).equals(before)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('cli - a node without credentials exits 1 with one line naming the commands that make them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zmesh-cli-'));
    try {
      const r = zmeshIn(dir, ['node', 'product']);
      expect(r.status).toBe(1);
      expect(r.stderr.split('\n')).toHaveLength(2); // one line, and its newline
      expect(r.stderr).toMatch(/^zmesh: zmesh node product needs credentials: create them with "zmesh authority init --dir authority", "zmesh keygen --out product-credentials\/node\.key" and "zmesh cert issue /);
      expect(r.stderr).toContain('then add --credentials product-credentials (or --insecure to run without any security)');
      expect(r.stdout).toBe('');
      // Nothing started: no store was made.
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cli - the printed commands make working credentials: the node starts with its key in the ready line, a client calls it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zmesh-cli-'));
    try {
      const loopback = ['--interface', '127.0.0.1', '--discovery', 'static'];
      const howTo = zmeshIn(dir, ['node', 'product', ...loopback]).stderr;
      const commands = quotedCommands(howTo);
      expect(commands.map((c) => c.slice(0, 2).join(' '))).toEqual(['authority init', 'keygen --out', 'cert issue']);
      for (const c of commands) expect(zmeshIn(dir, c).status, c.join(' ')).toBe(0);
      copyFileSync(join(dir, 'authority', 'authority.pub'), join(dir, 'product-credentials', 'authority.pub'));

      const node = await startZmesh(dir, ['node', 'product', '--credentials', 'product-credentials', '--json', ...loopback]);
      const { publicKey, nodeId, router, secure } = node.ready as { publicKey: string; nodeId: string; router: string; secure: boolean };
      expect(publicKey).toMatch(/^[0-9a-f]{64}$/);
      expect(secure).toBe(true);
      // The key in the ready line is the key file's, and the node id comes from it.
      const keyFile = loadPublicKey(join(dir, 'product-credentials', 'node.key.pub'));
      expect(keyBytes(keyFile).toString('hex')).toBe(publicKey);
      expect(nodeId).toBe(`product-${keyFingerprint(keyFile)}`);
      expect(node.stderr.join('\n')).not.toContain('INSECURE');

      // A client without credentials is told how to make its own (the "cli" identity)...
      const peer = `${router}#${publicKey}`;
      const client = zmeshIn(dir, ['call', 'product', 'ListProducts', '--peer', peer, '--interface', '127.0.0.1']);
      expect(client.status).toBe(1);
      expect(client.stderr).toMatch(/^zmesh: zmesh call needs credentials: .+"zmesh cert issue --authority authority --mesh default --service cli --key cli-credentials\/node\.key\.pub --allow-send \S+ --allow-subscribe '\*' --out cli-credentials\/node\.cert"/);
      // ...and with them (the authority exists already) it may call the read-only requests...
      for (const c of quotedCommands(client.stderr).filter((c) => c[0] !== 'authority')) expect(zmeshIn(dir, c).status, c.join(' ')).toBe(0);
      copyFileSync(join(dir, 'authority', 'authority.pub'), join(dir, 'cli-credentials', 'authority.pub'));
      const asCli = ['--peer', peer, '--interface', '127.0.0.1', '--credentials', 'cli-credentials'];
      const listed = zmeshIn(dir, ['call', 'product', 'ListProducts', ...asCli]);
      expect(listed.status, listed.stderr).toBe(0);
      expect((JSON.parse(listed.stdout) as { products: Array<{ sku: string }> }).products.map((p) => p.sku)).toContain('zmesh-mug');
      // ...but no reliable command: the certificate does not cover it.
      const reserve = zmeshIn(dir, ['call', 'product', 'ReserveStock', '{}', '--raw', ...asCli]);
      expect(reserve.status).toBe(1);
      expect(reserve.stderr).toMatch(/\(ZMESH_ERR_FORBIDDEN\)\n$/);
      // zmesh watch joins the same way.
      const watch = zmeshIn(dir, ['watch', '--timeout', '0.5', ...asCli]);
      expect(watch.status, watch.stderr).toBe(0);
      expect(watch.stderr).toContain('watching ""');

      const { code, lines } = await node.stop();
      expect(code).toBe(0);
      expect(JSON.parse(lines.at(-1)!)).toEqual({ event: 'closed', nodeId });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cli - a node key file readable by others is refused: exit 1, one line naming chmod 600', () => {
    const creds = join(root, 'open-key');
    rmSync(creds, { recursive: true, force: true });
    cpSync(trust.credentialsDir('product'), creds, { recursive: true });
    const key = join(creds, 'node.key');
    chmodSync(key, 0o644);
    const r = zmesh('node', 'product', '--credentials', creds, '--data', join(root, 'open-key-data'), '--peer', `tcp://127.0.0.1:9#${someKey}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`zmesh: ${key} is accessible to group or others (mode 0644); run chmod 600 ${key} (ZMESH_ERR_SECURITY)\n`);
    // The same with the files named one by one.
    const one = zmesh('node', 'product', '--key', key, '--cert', join(creds, 'node.cert'), '--authority', join(creds, 'authority.pub'), '--peer', `tcp://127.0.0.1:9#${someKey}`);
    expect(one.status).toBe(1);
    expect(one.stderr).toContain(`run chmod 600 ${key} (ZMESH_ERR_SECURITY)`);
  });

  it('cli - --insecure starts a node and warns on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zmesh-cli-'));
    try {
      const node = await startZmesh(dir, ['node', 'product', '--insecure', '--json', '--interface', '127.0.0.1', '--discovery', 'static']);
      expect(node.ready).toMatchObject({ event: 'ready', service: 'product', secure: false });
      expect(node.ready['publicKey']).toBeUndefined();
      await vi.waitFor(() => expect(node.stderr[0]).toBe('zmesh: WARNING: zmesh node product runs INSECURE (--insecure): no encryption, no authentication; anyone who can reach it can join the mesh, forge messages and read them'));
      expect((await node.stop()).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
