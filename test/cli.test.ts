/** The zmesh CLI as an operator runs it: a real process, real exit codes. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/nodes/cli/main.js', import.meta.url));
const zmesh = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });

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
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: boolean; confirmed: number; stock: { sold: number } };
    expect(summary.ok).toBe(true);
    expect(summary.confirmed).toBe(5);
    expect(summary.stock.sold).toBe(5);
  });

  it('cli - a call that finds no instance exits 1 with the error code', () => {
    // A static peer that is not there: no mDNS, nothing to find.
    const r = zmesh('call', 'product', 'ListProducts', '--peer', 'tcp://127.0.0.1:9', '--wait', '0.3');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^zmesh: fewer than 1 instances of "product" up after \d+ ms \(ZMESH_ERR_TIMEOUT\)/);
  });

  it('cli - a node refuses a foreign store file with exit 1 and leaves it untouched', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zmesh-cli-'));
    try {
      const file = join(dir, 'zmesh.db');
      writeFileSync(file, 'not a database, somebody\'s notes\n'.repeat(200));
      const before = readFileSync(file);
      const r = zmesh('node', 'order', '--data', dir, '--peer', 'tcp://127.0.0.1:9');
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('ZMESH_ERR_STORE');
      expect(readFileSync(file).equals(before)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
