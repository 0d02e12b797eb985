/**
 * Stores that must not be touched, and stores that must not be used while broken or
 * taken (issue 12, finding 5). Real SQLite files in temp directories, real processes
 * killed with SIGKILL, the real `zmesh node` CLI. Where a file must stay untouched, the
 * sha256 of the main file and of its -wal and -shm (or their absence) is compared
 * before and after.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, StoreError, createNode, type MeshNode } from '../transport/index.js';
import { startProduct } from '../nodes/product/service.js';
import { dist } from './helpers/paths.js';

const CLI = dist('nodes/cli/main.js');
const BETTER_SQLITE3 = createRequire(import.meta.url).resolve('better-sqlite3');
/** A node process that is not there: a static peer that keeps mDNS off. */
const NOBODY = 'tcp://127.0.0.1:9';

const dirs: string[] = [];
const nodes: MeshNode[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await Promise.all(children.splice(0).map((c) => {
    if (c.exitCode !== null || c.signalCode !== null) return undefined;
    c.kill('SIGKILL');
    return new Promise((r) => c.once('exit', r));
  }));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'zmesh-store-'));
  dirs.push(d);
  return d;
}

/** sha256 of the file and of its -wal, -shm and -journal, or "absent". */
function snapshot(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const p = path + suffix;
    out[suffix || 'main'] = existsSync(p) ? createHash('sha256').update(readFileSync(p)).digest('hex') : 'absent';
  }
  return out;
}

function node(storePath: string): MeshNode {
  const n = createNode({ insecure: true, service: 'svc', host: '127.0.0.1', discovery: 'static', storePath });
  nodes.push(n);
  return n;
}

async function refusal(n: MeshNode): Promise<StoreError> {
  const err = await n.start().then(() => undefined, (e: unknown) => e);
  expect(err, 'start() must fail').toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(ErrorCode.STORE);
  return err as StoreError;
}

/** Runs JavaScript in a child process with better-sqlite3 as `Database`. */
function sqliteChild(script: string): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, ['-e', `const Database = require(${JSON.stringify(BETTER_SQLITE3)});\n${script}`], { encoding: 'utf8', timeout: 20_000 });
}

// SIGKILL at the deadline: a node stuck after a failed start may ignore SIGTERM.
const zmesh = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
const nodeArgs = (service: string, dir: string) =>
  ['node', service, '--data', dir, '--insecure', '--interface', '127.0.0.1', '--peer', NOBODY, '--discovery', 'static', '--json', '--log-level', 'error'];

/** Starts `zmesh node ...` and resolves with its ready line, as JSON. */
async function startCli(args: string[]): Promise<{ child: ChildProcess; ready: Record<string, unknown>; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    void exited.then((code) => reject(new Error(`zmesh ${args.join(' ')} exited ${code} before it was ready: ${stderr.join('\n')}`)));
  });
  return { child, ready: JSON.parse(first) as Record<string, unknown>, exited };
}

/** stderr without the --insecure warning: what the command itself had to say. */
const complaint = (stderr: string): string[] => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('zmesh: WARNING:'));

describe('store', () => {
  it('store - a foreign WAL-mode file that another program left with -wal and -shm is refused, not a byte written', async () => {
    const file = join(tempDir(), 'app.db');
    // Another application writes in WAL mode and is killed: its data is in the WAL,
    // and the -wal and -shm files are its own to recover.
    const r = sqliteChild(`
      const db = new Database(${JSON.stringify(file)});
      db.pragma('journal_mode = WAL');
      db.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('ada'), ('grace')");
      process.kill(process.pid, 'SIGKILL');`);
    expect(r.signal).toBe('SIGKILL');
    const before = snapshot(file);
    expect(before['-wal']).not.toBe('absent');
    expect(before['-shm']).not.toBe('absent');
    const err = await refusal(node(file));
    expect(err.problem).toBe('foreign');
    expect(err.message).toContain(file);
    expect(snapshot(file)).toEqual(before);
  });

  it('store - a cleanly closed foreign WAL-mode file is refused without creating -wal or -shm', async () => {
    const file = join(tempDir(), 'app.db');
    const other = new Database(file);
    other.pragma('journal_mode = WAL');
    other.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')");
    other.close();
    const before = snapshot(file);
    expect(before).toMatchObject({ '-wal': 'absent', '-shm': 'absent' });
    expect((await refusal(node(file))).problem).toBe('foreign');
    expect(snapshot(file)).toEqual(before);
  });

  it('store - a file that holds only a view is foreign, not empty, and is left untouched', async () => {
    const file = join(tempDir(), 'views.db');
    const other = new Database(file);
    other.exec('CREATE VIEW answer AS SELECT 42 AS value');
    other.close();
    const before = snapshot(file);
    const err = await refusal(node(file));
    expect(err.problem).toBe('foreign');
    expect(snapshot(file)).toEqual(before);
  });

  it('store - a store with a corrupt interior page fails start with STORE naming the file, and stays as it was', async () => {
    const file = join(tempDir(), 'zmesh.db');
    const first = node(file);
    await first.start();
    // Enough rows for the table's b-tree to need interior pages.
    first.db!.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT)');
    const insert = first.db!.prepare('INSERT INTO items (body) VALUES (?)');
    first.db!.transaction(() => { for (let i = 0; i < 5_000; i++) insert.run(`item ${i} `.repeat(20)); })();
    const pageSize = first.db!.pragma('page_size', { simple: true }) as number;
    const interior = first.db!.prepare("SELECT pageno FROM dbstat WHERE name = 'items' AND pagetype = 'internal' ORDER BY pageno LIMIT 1").pluck().get() as number | undefined;
    expect(interior, 'an interior page').toBeDefined();
    await first.close();
    nodes.splice(nodes.indexOf(first), 1);
    expect(snapshot(file)).toMatchObject({ '-wal': 'absent', '-shm': 'absent' });

    // Overwrite the page's b-tree header and its first cell pointers, as a bad sector or
    // a stray write would.
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, (interior! - 1) * pageSize);
    closeSync(fd);
    const before = snapshot(file);

    const err = await refusal(node(file));
    expect(err.problem).toBe('corrupt');
    expect(err.message).toContain(file);
    expect(err.message).toContain('quick_check');
    expect(snapshot(file)).toEqual(before);
  });

  it('store - a store killed before its first checkpoint is known as ours from its WAL, and keeps what it committed', async () => {
    const file = join(tempDir(), 'zmesh.db');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { createNode } from ${JSON.stringify(dist('transport/index.js'))};
      const n = createNode({ insecure: true, service: 'svc', host: '127.0.0.1', discovery: 'static', storePath: ${JSON.stringify(file)} });
      await n.start();
      await n.send('nobody', 'm', Buffer.from('kept'));
      process.kill(process.pid, 'SIGKILL');`], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    // The main file does not say whose it is yet (application_id 0): the WAL does.
    expect(readFileSync(file).readUInt32BE(68)).toBe(0);
    expect(existsSync(`${file}-wal`)).toBe(true);
    const n = node(file);
    await n.start();
    expect(n.reliableStats()).toMatchObject({ pending: 1 });
  });

  it('store - a second node on a store held by another in this process fails start with STORE until the first closes', async () => {
    const file = join(tempDir(), 'zmesh.db');
    const holder = node(file);
    await holder.start();
    const err = await refusal(node(file));
    expect(err.problem).toBe('locked');
    expect(err.message).toContain('in use by another node');
    await holder.close();
    await node(file).start();
  });

  it('store - two zmesh node processes on one --data: the second exits 1 with STORE; a SIGKILLed holder leaves no lock', async () => {
    const dir = tempDir();
    const holder = await startCli(nodeArgs('product', dir));
    expect(holder.ready).toMatchObject({ event: 'ready', service: 'product' });

    const second = zmesh(nodeArgs('product', dir));
    expect(second.status, second.stderr).toBe(1);
    const lines = complaint(second.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^zmesh: .*zmesh\.db is in use by another node .*\(ZMESH_ERR_STORE\)$/);

    holder.child.kill('SIGKILL');
    await holder.exited;
    const next = await startCli(nodeArgs('product', dir));
    expect(next.ready).toMatchObject({ event: 'ready', service: 'product' });
    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  });

  it('store - product tables newer than this code: zmesh node exits 1 at once with one line and the error code', async () => {
    const dir = tempDir();
    const product = await startProduct({ dataDir: dir, insecure: true, host: '127.0.0.1', discovery: 'static' });
    await product.close();
    // A later version of the product service migrated its tables.
    const db = new Database(join(dir, 'zmesh.db'));
    db.prepare("UPDATE app_schema SET version = 99 WHERE service = 'product'").run();
    db.close();

    const r = zmesh(nodeArgs('product', dir));
    expect(r.error, 'the process must exit by itself').toBeUndefined();
    expect(r.status, r.stderr).toBe(1);
    const lines = complaint(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^zmesh: .*zmesh\.db: the product tables are at version 99, this code knows up to \d+; upgrade zmesh \(ZMESH_ERR_STORE\)$/);
    expect(r.stdout).toBe('');
  });
});
