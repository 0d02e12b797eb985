/**
 * Issue 12, finding 7: CLI inputs that hung or lied. Each case runs the built CLI as
 * an operator would, and must end promptly with the documented exit code (2: bad
 * usage, 1: the command failed, with its error code) and one line on stderr. Every
 * child is killed with SIGKILL at its deadline: a hang fails the test instead of
 * stalling it (a hung `zmesh node` never saw SIGTERM: its event loop was spinning).
 *
 * No mDNS anywhere: every command that joins a mesh gets a static --peer on
 * 127.0.0.1, and vitest sets ZMESH_MDNS_FORBID_ROOT_NETNS=1 for the children.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { keyBytes, loadPublicKey } from '../transport/index.js';
import { demoTrust } from '../nodes/demo/trust.js';

const CLI = fileURLToPath(new URL('../dist/nodes/cli/main.js', import.meta.url));
/** Long enough for a cold start on a busy machine, short enough that a hang fails. */
const DEADLINE_MS = 20_000;

const root = mkdtempSync(join(tmpdir(), 'zmesh-cli-inputs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const trust = demoTrust(join(root, 'trust'), 'default');
const someKey = keyBytes(loadPublicKey(join(trust.credentialsDir('product'), 'node.key.pub'))).toString('hex');
/** A peer nobody listens on (port 9, discard, is closed on loopback). */
const NOBODY = `tcp://127.0.0.1:9#${someKey}`;
const as = (identity: 'product' | 'cli'): string[] => ['--credentials', trust.credentialsDir(identity)];

function zmesh(args: string[], cwd = root): { status: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string; ms: number } {
  const started = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, timeout: DEADLINE_MS, killSignal: 'SIGKILL' });
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout, ms: Date.now() - started };
}

/** Exit 1 with exactly one stderr line, ending in the error code. */
function expectFailure(r: ReturnType<typeof zmesh>, line: RegExp, code: string): void {
  expect(r.signal, `killed at the deadline: ${r.stderr}`).toBeNull();
  expect(r.status, r.stderr).toBe(1);
  expect(r.stderr.split('\n'), r.stderr).toHaveLength(2); // one line, and its newline
  expect(r.stderr).toMatch(line);
  expect(r.stderr.trimEnd().endsWith(`(${code})`), r.stderr).toBe(true);
}

/** Exit 2: one usage line, then the pointer to --help. */
function expectUsage(r: ReturnType<typeof zmesh>, says: string): void {
  expect(r.signal, `killed at the deadline: ${r.stderr}`).toBeNull();
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr).toMatch(/^zmesh: [^\n]+\nrun "zmesh --help" for usage\n$/);
  expect(r.stderr).toContain(says);
}

const emptyDir = (): string => mkdtempSync(join(root, 'empty-'));
/** A test name that stays the same from run to run (no temporary paths or keys). */
const label = (args: string[]): string => args.map((a) => (a === NOBODY ? 'PEER' : a.startsWith(root) ? 'DIR' : a)).join(' ');
const named = (cases: Array<[string[], string]>): Array<[string, string[], string]> => cases.map(([args, says]) => [label(args), args, says]);

describe('cli inputs', () => {
  it('cli inputs - node --data /proc/x exits 1 at once instead of spinning', () => {
    const r = zmesh(['node', 'product', '--data', '/proc/x', '--peer', NOBODY, ...as('product')]);
    expectFailure(r, /^zmesh: data directory: cannot create directory \/proc\/x: /, 'ZMESH_ERR_STORE');
    expect(r.ms).toBeLessThan(DEADLINE_MS / 2);
  });

  it('cli inputs - demo --data /proc/x exits 1 at once (keygen and authority init: security-cli.test.ts)', () => {
    expectFailure(zmesh(['demo', '--static', '--orders', '2', '--data', '/proc/x']), /^zmesh: data directory: cannot create directory \/proc\/x: /, 'ZMESH_ERR_STORE');
  });

  it('cli inputs - --data that is not a directory is a store error with its code, not a raw EEXIST', () => {
    expectFailure(zmesh(['node', 'product', '--data', '/dev/null', '--peer', NOBODY, ...as('product')]),
      /^zmesh: data directory: \/dev\/null is not a directory /, 'ZMESH_ERR_STORE');
    expectFailure(zmesh(['node', 'product', '--data', '/dev/null/product', '--peer', NOBODY, ...as('product')]),
      /^zmesh: data directory: \/dev\/null is not a directory /, 'ZMESH_ERR_STORE');
    expectFailure(zmesh(['demo', '--static', '--orders', '2', '--data', '/dev/null']), /^zmesh: data directory: \/dev\/null is not a directory /, 'ZMESH_ERR_STORE');
  });

  it.each([
    ['node', ['node', 'product', ...as('product')]],
    ['call', ['call', 'product', 'ListProducts', ...as('cli')]],
    ['watch', ['watch', ...as('cli')]],
  ])('cli inputs - %s refuses a port above 65535, a host that is no host name, and a bare --peer (exit 2)', (_name, command) => {
    expectUsage(zmesh([...command, '--peer', `tcp://127.0.0.1:99999#${someKey}`]), 'is not an endpoint like tcp://');
    expectUsage(zmesh([...command, '--peer', `tcp://127.0.0.1:0#${someKey}`]), 'is not an endpoint like tcp://');
    expectUsage(zmesh([...command, '--peer', `tcp://€.example:5555#${someKey}`]), 'is not an endpoint like tcp://');
    // Bare, last or followed by another option: never "no peer, so mDNS".
    expectUsage(zmesh([...command, '--peer']), '--peer needs a value');
    expectUsage(zmesh([...command, '--peer', '--mesh', 'default']), '--peer needs a value');
  });

  it.each(['list', 'dead', 'retry'])('cli inputs - outbox %s on a directory with no store exits 1 and leaves it empty', (action) => {
    const dir = emptyDir();
    const extra = action === 'retry' ? ['--all'] : [];
    expectFailure(zmesh(['outbox', action, '--data', dir, ...extra]), /^zmesh: no zmesh store in .+: it holds no zmesh\.db /, 'ZMESH_ERR_STORE');
    expect(readdirSync(dir)).toEqual([]);
    // --store naming a missing file, and a missing --data directory: nothing is made.
    expectFailure(zmesh(['outbox', action, '--store', join(dir, 'zmesh.db'), ...extra]), /^zmesh: no zmesh store at .+: no such file /, 'ZMESH_ERR_STORE');
    expectFailure(zmesh(['outbox', action, '--data', join(dir, 'missing'), ...extra]), /^zmesh: no zmesh store in .+: no such directory /, 'ZMESH_ERR_STORE');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('cli inputs - outbox on an empty zmesh.db, or on a directory as --store, exits 1 and changes nothing', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'zmesh.db'), '');
    expectFailure(zmesh(['outbox', 'list', '--data', dir]), /^zmesh: no zmesh store at .+zmesh\.db: the file is empty /, 'ZMESH_ERR_STORE');
    expect(readdirSync(dir)).toEqual(['zmesh.db']);
    expect(statSync(join(dir, 'zmesh.db')).size).toBe(0);
    expectFailure(zmesh(['outbox', 'dead', '--store', dir]), /^zmesh: no zmesh store at .+: not a file /, 'ZMESH_ERR_STORE');
    expectFailure(zmesh(['outbox', 'list', '--data', join(dir, 'zmesh.db')]), /^zmesh: --data .+ is not a directory /, 'ZMESH_ERR_STORE');
    expect(readdirSync(dir)).toEqual(['zmesh.db']);
  });

  it('cli inputs - watch against a peer that never answers exits 1 with TIMEOUT, not 0', () => {
    const r = zmesh(['watch', '--peer', NOBODY, '--wait', '1', '--timeout', '1', ...as('cli')]);
    expectFailure(r, /^zmesh: none of the --peer nodes \(tcp:\/\/127\.0\.0\.1:9\) answered within 1 s: nothing to watch /, 'ZMESH_ERR_TIMEOUT');
    expect(r.stdout).toBe('');
  });

  it.each(named([
    [['peers', '--mesh', 'bad mesh'], '--mesh must be "*" or 1 to 64'],
    [['peers', '--mesh', ''], '--mesh must be'],
    [['call', 'product', 'ListProducts', '--mesh', 'bad mesh', '--peer', NOBODY], '--mesh must be'],
    [['watch', '--mesh', 'bad mesh', '--peer', NOBODY], '--mesh must be'],
    [['cert', 'issue', '--authority', 'a', '--mesh', 'bad mesh', '--service', 'cli', '--key', 'k', '--out', 'o'], '--mesh must be'],
  ]))('cli inputs - %s: a bad mesh name is usage (exit 2)', (_name, args, says) => {
    expectUsage(zmesh(args), says);
  });

  it.each(named([
    // A bare option used to mean "" (the current directory) or the option's default.
    [['node', 'product', '--data', '--peer', NOBODY], '--data needs a value'],
    [['node', 'product', '--peer', NOBODY, '--stock'], '--stock needs a value'],
    [['node', 'order', '--peer', NOBODY, '--pending-timeout'], '--pending-timeout needs a value'],
    [['node', 'product', '--peer', NOBODY, '--credentials'], '--credentials needs a value'],
    [['outbox', 'list', '--data'], '--data needs a value'],
    [['outbox', 'list', '--store'], '--store needs a value'],
    [['outbox', 'list', '--data', '.', '--limit'], '--limit needs a value'],
    [['peers', '--timeout'], '--timeout needs a value'],
    [['watch', '--peer', NOBODY, '--count'], '--count needs a value'],
    [['call', 'product', 'ListProducts', '--peer', NOBODY, '--wait'], '--wait needs a value'],
    [['demo', '--orders'], '--orders needs a value'],
    [['cert', 'revoke', '--authority'], '--authority needs a value'],
    // An empty path is the current directory too.
    [['node', 'product', '--data', '', '--peer', NOBODY], '--data needs a path, got ""'],
    [['outbox', 'list', '--store', ''], '--store needs a path, got ""'],
    [['demo', '--data', ''], '--data needs a path, got ""'],
    [['node', 'product', '--credentials', '', '--peer', NOBODY], '--credentials needs a path, got ""'],
    [['authority', 'init', '--dir', ''], '--dir needs a path, got ""'],
    // Numbers SQLite cannot take as integers.
    [['outbox', 'list', '--data', '.', '--limit', '1e300'], '--limit must be a positive integer'],
    [['outbox', 'retry', '--data', '.', '--seq', '1e300'], '--seq takes positive integers'],
    // Names no node can have: refused now, not after --wait.
    [['call', 'Product', 'ListProducts', '--raw', '--peer', NOBODY], 'the service must be a service name'],
    [['call', 'product', '€'.repeat(86), '--raw', '--peer', NOBODY], 'the method must be 1 to 256 bytes of UTF-8, got 258 bytes'],
    [['watch', '€'.repeat(86), '--peer', NOBODY], 'at most 256 bytes of UTF-8'],
    [['watch', '$sync/', '--peer', NOBODY], 'must not start with "$"'],
    [['watch', '--peer', NOBODY, '--wait', '0'], '--wait must be'],
  ]))('cli inputs - %s: usage (exit 2), not a run on a default', (_name, args, says) => {
    expectUsage(zmesh(args, emptyDir()), says);
  });

  it('cli inputs - a bare --data never puts a store in the current directory', () => {
    const cwd = emptyDir();
    expectUsage(zmesh(['outbox', 'list', '--data'], cwd), '--data needs a value');
    expectUsage(zmesh(['node', 'product', '--data', '--peer', NOBODY, ...as('product')], cwd), '--data needs a value');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('cli inputs - a device where a credential file belongs is refused at once (exit 1)', () => {
    const creds = trust.credentialsDir('product');
    expectFailure(zmesh(['node', 'product', '--key', join(creds, 'node.key'), '--cert', '/dev/zero', '--authority', join(creds, 'authority.pub'), '--peer', NOBODY]),
      /^zmesh: \/dev\/zero is not a regular file /, 'ZMESH_ERR_SECURITY');
    expectFailure(zmesh(['node', 'product', '--key', join(creds, 'node.key'), '--cert', join(creds, 'node.cert'), '--authority', '/dev/zero', '--peer', NOBODY]),
      /^zmesh: \/dev\/zero is not a regular file /, 'ZMESH_ERR_SECURITY');
  });
});
