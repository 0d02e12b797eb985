/**
 * Operating zmesh from the command line (issue 14): identities that survive a
 * restart, light clients, settings from flags, environment and a config file, and
 * the demo's edges. Real `zmesh` processes on 127.0.0.1 (static peers, no mDNS), or
 * on the virtual LAN where mDNS is the point.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { summarize } from '../nodes/demo/summary.js';
import { DemoInterrupted, runDemo } from '../nodes/demo/run.js';
import type { Progress, ShopperResult } from '../nodes/demo/shoppers.js';
import type { AuditReport } from '../nodes/demo/audit.js';
import { dist } from './helpers/paths.js';
import { requireRoot } from './helpers/root.js';
import { createLan, type Lan } from './helpers/vlan.js';
import { freePort } from './helpers/ports.js';

const CLI = fileURLToPath(new URL('../dist/nodes/cli/main.js', import.meta.url));
/** The environment without any ZMESH_* setting of the caller's (the mDNS guard stays). */
const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ZMESH_') || k === 'ZMESH_MDNS_FORBID_ROOT_NETNS')),
  ...extra,
});
const zmesh = (args: string[], o: { cwd?: string; env?: Record<string, string> } = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, cwd: o.cwd, env: cleanEnv(o.env) });

const LOOPBACK = ['--interface', '127.0.0.1', '--discovery', 'static'];

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'zmesh-cli-ops-'));
  dirs.push(d);
  return d;
};
const running: ChildProcess[] = [];
let lan: Lan | undefined;
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => {
    if (c.exitCode !== null || c.signalCode !== null) return undefined;
    c.kill('SIGKILL');
    return new Promise((r) => c.once('exit', r));
  }));
  lan?.destroy();
  lan = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  ready: Record<string, unknown>;
  /** stderr so far, by line. */
  stderr: string[];
  /** The JSON log lines of stderr with this msg. */
  logs(msg: string): Array<Record<string, unknown>>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `zmesh <args>` in the background; resolves on its first stdout line
 *  (`--json`: the ready line) or, with `readyOn`, on the first stderr line matching it. */
async function start(args: string[], o: { cwd?: string; env?: Record<string, string>; readyOn?: RegExp; spawnWith?: typeof spawn } = {}): Promise<Running> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd, env: cleanEnv(o.env), stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (l) => {
      stderr.push(l);
      if (o.readyOn?.test(l) === true) resolve({});
    });
    if (o.readyOn === undefined) createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l) as Record<string, unknown>));
    void exited.then((code) => reject(new Error(`zmesh ${args.join(' ')} exited ${code} before it was ready: ${stderr.join('\n')}`)));
  });
  const logs = (msg: string): Array<Record<string, unknown>> => stderr.flatMap((l) => {
    if (!l.startsWith('{')) return [];
    const entry = JSON.parse(l) as Record<string, unknown>;
    return entry['msg'] === msg ? [entry] : [];
  });
  return { child, ready, stderr, logs, stop: async () => { child.kill('SIGTERM'); return exited; } };
}

describe('stable identity', () => {
  it('cli ops - a node restarted on the same --data and --port keeps its id and endpoint, and a static peer given the printed endpoint reaches it again', async () => {
    //   cart --peer <product's printed endpoint>      product restarted in between
    const dir = tempDir();
    const port = await freePort();
    const productArgs = ['node', 'product', '--insecure', '--json', '--data', join(dir, 'product'), '--port', String(port), ...LOOPBACK];
    const first = await start(productArgs);
    const { nodeId, router, endpoints } = first.ready as { nodeId: string; router: string; endpoints: string[] };
    // Dialable: the advertised address with the port asked for, never 0.0.0.0.
    expect(router).toBe(`tcp://127.0.0.1:${port}`);
    expect(endpoints).toEqual([router]);

    const cart = await start(['node', 'cart', '--insecure', '--json', '--data', join(dir, 'cart'), '--peer', router, ...LOOPBACK]);
    const about = (event: string, id: string) => cart.logs(event).filter((e) => (e['peer'] as { nodeId?: string } | undefined)?.nodeId === id);
    await vi.waitFor(() => expect(about('peer.joined', nodeId)).toHaveLength(1), { timeout: 10_000, interval: 20 });
    expect(about('peer.joined', nodeId)[0]).toMatchObject({ schema: 'zmesh.audit.v1', event: 'peer.joined', peer: { nodeId, service: 'product', endpoint: router } });

    expect(await first.stop()).toBe(0);
    await vi.waitFor(() => expect(about('peer.left', nodeId)).toHaveLength(1), { timeout: 10_000, interval: 20 });

    const second = await start(productArgs);
    expect(second.ready).toMatchObject({ nodeId, router, endpoints: [router] });
    // The static peer, configured once with the printed endpoint, is back on it.
    // The same node id as a new process: a restart, told apart from a rejoin.
    // (Once in about 20 runs this took over 10 s; the message shows what cart saw.)
    const peerLines = (): string => cart.stderr.filter((l) => l.includes('"peer.')).join('\n');
    await vi.waitFor(() => expect(about('peer.restarted', nodeId), peerLines()).toHaveLength(1), { timeout: 20_000, interval: 20 });
    const [restarted] = about('peer.restarted', nodeId) as Array<{ startedMs: number; previousStartedMs: number }>;
    expect(restarted!.startedMs).toBeGreaterThan(restarted!.previousStartedMs);
    expect(about('peer.joined', nodeId)).toHaveLength(1);
    const cartRouter = (cart.ready as { router: string }).router;
    const added = zmesh(['call', 'cart', 'AddItem', '{"cartId":"c1","sku":"zmesh-mug","quantity":1}', '--insecure', '--peer', cartRouter, ...LOOPBACK]);
    expect(added.status, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ cartId: 'c1', items: [expect.objectContaining({ sku: 'zmesh-mug' })] });
    // zmesh peers lists it at the same endpoint.
    const listed = zmesh(['peers', '--insecure', '--json', '--peer', router, ...LOOPBACK]);
    expect(listed.status, listed.stderr).toBe(0);
    // The seed answers for itself, and for the members it passes on ($members): cart.
    expect(JSON.parse(listed.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ nodeId, service: 'product', endpoint: router })]));

    // --node-id overrides the kept id for one run, and the kept one stays.
    expect(await second.stop()).toBe(0);
    const renamed = await start([...productArgs, '--node-id', 'product-pinned']);
    expect(renamed.ready).toMatchObject({ nodeId: 'product-pinned', router });
    expect(await renamed.stop()).toBe(0);
    const again = await start(productArgs);
    expect(again.ready).toMatchObject({ nodeId });
  }, 60_000);
});

describe('advertised endpoints', () => {
  it('cli ops - --advertise (or ZMESH_ADVERTISE) names the address peers dial, for NAT and containers; the ready line prints it with the bound port', async () => {
    const dir = tempDir();
    const port = await freePort();
    const flag = await start(['node', 'product', '--insecure', '--json', '--data', join(dir, 'a'), '--port', String(port), '--advertise', '192.0.2.10', ...LOOPBACK]);
    expect(flag.ready).toMatchObject({ router: `tcp://192.0.2.10:${port}`, endpoints: [`tcp://192.0.2.10:${port}`], bound: `tcp://127.0.0.1:${port}` });
    expect(await flag.stop()).toBe(0);
    const env = await start(['node', 'product', '--insecure', '--json', '--data', join(dir, 'a'), '--port', String(port), ...LOOPBACK], { env: { ZMESH_ADVERTISE: '192.0.2.10,192.0.2.11' } });
    expect(env.ready).toMatchObject({ endpoints: [`tcp://192.0.2.10:${port}`, `tcp://192.0.2.11:${port}`] });
    expect(await env.stop()).toBe(0);
    const bad = zmesh(['node', 'product', '--insecure', '--data', join(dir, 'a'), ...LOOPBACK], { env: { ZMESH_ADVERTISE: '0.0.0.0' } });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('zmesh: ZMESH_ADVERTISE[0] must be addresses peers can reach (no wildcard), got "0.0.0.0"');
  }, 30_000);
});

describe('light clients', () => {
  it('cli ops - call, watch and peers bind nothing and are never dialled back: no node counts them as peers', async () => {
    const dir = tempDir();
    const product = await start(['node', 'product', '--insecure', '--json', '--data', join(dir, 'product'), ...LOOPBACK]);
    const { router, nodeId } = product.ready as { router: string; nodeId: string };
    const asClient = ['--insecure', '--peer', router, ...LOOPBACK];
    const watch = await start(['watch', '--json', ...asClient], { readyOn: /^zmesh watch: watching/ });

    // Nothing of the watcher's listens: ss lists every listening TCP socket with its process.
    const listening = spawnSync('ss', ['-Htlnp'], { encoding: 'utf8' });
    expect(listening.status, listening.stderr).toBe(0);
    expect(listening.stdout).toMatch(new RegExp(`pid=${product.child.pid},`));
    expect(listening.stdout).not.toMatch(new RegExp(`pid=${watch.child.pid},`));

    const call = zmesh(['call', 'product', 'ListProducts', ...asClient]);
    expect(call.status, call.stderr).toBe(0);
    const peers = zmesh(['peers', '--json', ...asClient]);
    expect(peers.status, peers.stderr).toBe(0);

    // A full node that names product as its peer is dialled back (product's own link to
    // it comes up): the control that shows product would have logged the clients too.
    const cart = await start(['node', 'cart', '--insecure', '--json', '--data', join(dir, 'cart'), '--peer', router, ...LOOPBACK]);
    const cartId = (cart.ready as { nodeId: string }).nodeId;
    const joined = (): unknown[] => product.logs('peer.joined').map((e) => (e['peer'] as { nodeId: string }).nodeId);
    await vi.waitFor(() => expect(joined()).toContain(cartId), { timeout: 10_000, interval: 20 });
    expect(joined()).toEqual([cartId]);
    // And the clients see only the nodes: no "cli-..." among them.
    expect((JSON.parse(peers.stdout) as Array<{ nodeId: string }>).map((p) => p.nodeId)).toEqual([nodeId]);
    expect(await watch.stop()).toBe(0);
  }, 60_000);

  it('cli ops - a missing service answers NO_ROUTE at once, naming the mesh and the discovery mode, not a TIMEOUT after --wait', async () => {
    const dir = tempDir();
    const product = await start(['node', 'product', '--insecure', '--json', '--data', join(dir, 'product'), ...LOOPBACK]);
    const { router } = product.ready as { router: string };
    const t0 = Date.now();
    const r = zmesh(['call', 'inventory', 'Count', '{}', '--raw', '--wait', '10', '--insecure', '--peer', router, ...LOOPBACK]);
    const tookMs = Date.now() - t0;
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^zmesh: no instance of "inventory" on mesh "default", discovery static, peers ${router}; found product \\(product-[0-9a-f]+ at ${router}\\)\\. Check the service name, --mesh and --peer \\(ZMESH_ERR_NO_ROUTE\\)$`, 'm'));
    // Process start and a connection included; far below the 10 s it was allowed.
    expect(tookMs).toBeLessThan(4_000);
  }, 30_000);

  it('cli ops - on a LAN, watch and call are not advertised over mDNS: zmesh peers finds the node only', async (ctx) => {
    requireRoot(ctx, 'the virtual LAN (network namespaces)');
    //   h0: zmesh node product     h1: zmesh watch (mDNS)     h2: zmesh peers
    lan = createLan({ hosts: 3 });
    const l = lan;
    const [h0, h1, h2] = l.hosts as [typeof l.hosts[0], typeof l.hosts[0], typeof l.hosts[0]];
    const dir = tempDir();
    const inLan = (host: typeof h0, args: string[]): ChildProcess => {
      const child = l.spawn(host, [process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
      running.push(child);
      return child;
    };
    const lines = (child: ChildProcess, stream: 'stdout' | 'stderr'): string[] => {
      const out: string[] = [];
      createInterface({ input: child[stream]! }).on('line', (x) => out.push(x));
      return out;
    };
    const node = inLan(h0, ['node', 'product', '--insecure', '--json', '--interface', h0.address, '--data', join(dir, 'p')]);
    const nodeOut = lines(node, 'stdout');
    await vi.waitFor(() => expect(nodeOut.length).toBeGreaterThan(0), { timeout: 15_000, interval: 20 });
    const nodeId = (JSON.parse(nodeOut[0]!) as { nodeId: string }).nodeId;
    const watch = inLan(h1, ['watch', '--insecure', '--interface', h1.address, '--wait', '10']);
    const watchErr = lines(watch, 'stderr');
    await vi.waitFor(() => expect(watchErr.some((x) => x.startsWith('zmesh watch: watching'))).toBe(true), { timeout: 15_000, interval: 20 });
    const peers = inLan(h2, ['peers', '--json', '--timeout', '3', '--interface', h2.address]);
    const peersOut = lines(peers, 'stdout');
    await new Promise((r) => peers.once('exit', r));
    const found = (JSON.parse(peersOut[0]!) as Array<{ nodeId: string; endpoint: string }>);
    expect(found.map((p) => p.nodeId)).toEqual([nodeId]);
    expect(found[0]!.endpoint).toMatch(new RegExp(`^tcp://${h0.address.replace(/\./g, '\\.')}:\\d+$`));
  }, 60_000);
});

/** A reliable publisher (test/fixtures/reliable-proc.ts): events "ev.<k>" with
 *  payload n = 1..total, paced, continuing after its last commit when restarted. */
async function publisher(storePath: string, routerPort: number, total: number): Promise<{ child: ChildProcess; enqueued: Promise<void> }> {
  const child = fork(dist('test/fixtures/reliable-proc.js'), [JSON.stringify({ role: 'publisher', storePath, routerPort, total })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  running.push(child);
  const seen = (key: string): Promise<void> => new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>): void => { if (key in m) { child.off('message', on); resolve(); } };
    child.on('message', on);
    child.once('exit', (code) => reject(new Error(`publisher exited ${code} before "${key}"`)));
  });
  const enqueued = seen('enqueued');
  enqueued.catch(() => undefined);
  await seen('ready');
  return { child, enqueued };
}

describe('watch', () => {
  it('cli ops - watch catches up on a restarted publisher: its first events after the restart arrive, in order, once', async () => {
    //   zmesh watch --peer P  ...  P: SIGKILL, restarted on its store and port, publishes at once
    const dir = tempDir();
    const port = await freePort();
    const store = join(dir, 'publisher.db');
    const FIRST = 3_000;
    const SECOND = 3_500;
    const watch = spawn(process.execPath, [CLI, 'watch', 'ev.', '--json', '--wait', '20', '--log-level', 'info', '--insecure', '--peer', `tcp://127.0.0.1:${port}`, ...LOOPBACK],
      { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
    running.push(watch);
    const printed: number[] = [];
    const watchLog: string[] = [];
    createInterface({ input: watch.stdout! }).on('line', (l) => printed.push(Number((JSON.parse(l) as { event: string }).event)));
    createInterface({ input: watch.stderr! }).on('line', (l) => watchLog.push(l));
    const downs = (): number => watchLog.filter((l) => l.includes('"msg":"peer.left"')).length;

    const first = await publisher(store, port, FIRST);
    await first.enqueued;
    // watch heard the first run (its tail at least: it subscribed while it ran).
    await vi.waitFor(() => expect(printed.at(-1)).toBe(FIRST), { timeout: 10_000, interval: 20 });
    first.child.kill('SIGKILL');
    await vi.waitFor(() => expect(downs()).toBe(1), { timeout: 10_000, interval: 20 });
    const before = printed.length;

    // Restarted, it publishes FIRST+1... at once, before watch can have reconnected.
    const second = await publisher(store, port, SECOND);
    await second.enqueued;
    await vi.waitFor(() => expect(printed.at(-1)).toBe(SECOND), { timeout: 15_000, interval: 20 });
    const after = printed.slice(before);
    expect(after[0]).toBe(FIRST + 1);
    expect(after).toEqual(Array.from({ length: SECOND - FIRST }, (_, i) => FIRST + 1 + i));
  }, 60_000);
});

describe('settings', () => {
  it('cli ops - flags win over ZMESH_* variables, which win over the config file', async () => {
    const dir = tempDir();
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    const file = join(dir, 'zmesh.json');
    writeFileSync(file, JSON.stringify({ mesh: 'from-file', port: p1, 'log-level': 'silent', data: join(dir, 'data'), insecure: true, discovery: 'static', interface: '127.0.0.1' }));
    const readyOf = async (args: string[], env: Record<string, string>): Promise<Running> => {
      const r = await start(['node', 'product', '--json', ...args], { env });
      expect(await r.stop()).toBe(0);
      return r;
    };
    const fromFile = await readyOf(['--config', file], {});
    expect(fromFile.ready).toMatchObject({ mesh: 'from-file', router: `tcp://127.0.0.1:${p1}` });
    expect(fromFile.stderr.filter((l) => l.startsWith('{'))).toEqual([]);   // log-level silent, from the file

    const env = { ZMESH_CONFIG: file, ZMESH_MESH: 'from-env', ZMESH_PORT: String(p2), ZMESH_LOG_LEVEL: 'info' };
    const fromEnv = await readyOf([], env);
    expect(fromEnv.ready).toMatchObject({ mesh: 'from-env', router: `tcp://127.0.0.1:${p2}` });
    expect(fromEnv.logs('store.opened').length).toBe(1);                       // info, from the environment

    const fromFlags = await readyOf(['--mesh', 'from-flag', '--port', String(p3), '--log-level', 'silent'], env);
    expect(fromFlags.ready).toMatchObject({ mesh: 'from-flag', router: `tcp://127.0.0.1:${p3}` });
    expect(fromFlags.stderr.filter((l) => l.startsWith('{'))).toEqual([]);
  }, 60_000);

  it.each([
    ['a flag', ['--port', 'x'], {}, undefined, 'zmesh: --port must be an integer 0..65535 (0: any free port), got "x"'],
    ['a variable', [], { ZMESH_PORT: '70000' }, undefined, 'zmesh: ZMESH_PORT must be an integer 0..65535 (0: any free port), got 70000'],
    ['a variable', [], { ZMESH_MESH: 'no spaces' }, undefined, 'zmesh: ZMESH_MESH must be 1 to 64 of A-Z, a-z, 0-9, ".", "_" and "-", got "no spaces"'],
    ['a variable', [], { ZMESH_LOG_LEVEL: 'loud' }, undefined, 'zmesh: ZMESH_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
    ['a variable', [], { ZMESH_INSECURE: 'maybe' }, undefined, 'zmesh: ZMESH_INSECURE must be true or false (or 1 or 0), got "maybe"'],
    ['the file', [], {}, { port: 70000 }, 'must be an integer 0..65535 (0: any free port), got 70000'],
    ['the file', [], {}, { port: '5555' }, 'must be an integer, got "5555"'],
    ['the file', [], {}, { peers: ['tcp://nowhere'] }, 'entry "tcp://nowhere" is not an endpoint like tcp://10.0.0.7:5555'],
    ['the file', [], {}, { prot: 5555 }, 'unknown setting "prot"'],
    ['the file', [], {}, '{"port": 5555', 'is not valid JSON'],
  ] as Array<[string, string[], Record<string, string>, unknown, string]>)('cli ops - a bad value from %s is refused before anything runs: exit 2, one line naming where it came from (%#)', (_source, args, env, config, message) => {
    const dir = tempDir();
    const extra: string[] = [];
    if (config !== undefined) {
      const file = join(dir, 'zmesh.json');
      writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
      extra.push('--config', file);
    }
    // --insecure on the command line would win over ZMESH_INSECURE, never reading it.
    const insecure = env['ZMESH_INSECURE'] === undefined ? ['--insecure'] : [];
    const r = zmesh(['node', 'product', ...insecure, '--data', join(dir, 'data'), ...LOOPBACK, ...args, ...extra], { env });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.split('\n')[0]).toContain(message);
    if (config !== undefined) expect(r.stderr.split('\n')[0]).toContain(`config file ${join(dir, 'zmesh.json')}`);
    expect(r.stdout).toBe('');
  });

  it('cli ops - logs are JSON lines when stderr is not a terminal, readable with ZMESH_LOG_FORMAT=pretty', async () => {
    const dir = tempDir();
    const json = await start(['node', 'product', '--insecure', '--json', '--data', join(dir, 'a'), ...LOOPBACK]);
    expect(await json.stop()).toBe(0);
    expect(json.logs('store.opened')).toEqual([expect.objectContaining({
      level: 30, schema: 'zmesh.audit.v1', event: 'store.opened', store: join(dir, 'a', 'zmesh.db'), pending: 0, eventHead: 0, storeId: expect.any(String),
    })]);
    const pretty = await start(['node', 'product', '--insecure', '--json', '--data', join(dir, 'b'), ...LOOPBACK], { env: { ZMESH_LOG_FORMAT: 'pretty' } });
    expect(await pretty.stop()).toBe(0);
    expect(pretty.stderr.some((l) => /INFO.*store\.opened/.test(l))).toBe(true);
    expect(pretty.stderr.some((l) => l.startsWith('{'))).toBe(false);
  }, 30_000);
});

describe('smaller things', () => {
  it('cli ops - a bare zmesh says once where the help is', () => {
    const r = zmesh([]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('zmesh: name a command\nrun "zmesh --help" for usage\n');
  });

  it('cli ops - Ctrl-C on zmesh demo --static ends cleanly: exit 0, every service closed, and no talk of discovery', async () => {
    // A terminal's Ctrl-C signals the whole foreground process group: the demo and the
    // services it spawned. The demo gets a process group of its own here, signalled so.
    const child = spawn(process.execPath, [CLI, 'demo', '--static', '--insecure', '--orders', '5000', '--concurrency', '5', '--log-level', 'silent'],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
    running.push(child);
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await vi.waitFor(() => expect(stderr.some((l) => l.includes('shoppers competing'))).toBe(true), { timeout: 30_000, interval: 20 });
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited).toBe(0);
    } finally {
      // The group is this test's own: whatever is left of it goes.
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone already */ }
    }
    const text = stderr.join('\n');
    expect(text).toContain('zmesh demo: connecting to the services at their endpoints (static, no mDNS)');
    expect(text).not.toContain('discover each other');
    expect(text).toMatch(/zmesh demo: demo interrupted; the services were stopped, their stores kept in /);
    expect(text).not.toContain('uncleanly');
  }, 60_000);

  it('cli ops - a stopped demo starts no shopper after the signal (before, all 5 000 remaining started)', async () => {
    // Before, the lanes went on placing every remaining order after Ctrl-C, only no
    // longer waiting for outcomes: seconds of checkouts nobody asked for.
    const stop = new AbortController();
    let atAbort = -1;
    let last: Progress | undefined;
    const run = runDemo({
      orders: 5_000, concurrency: 5, discovery: 'static', insecure: true, stderr: 'ignore', signal: stop.signal,
      onProgress: (p) => {
        last = p;
        if (atAbort < 0 && p.submitted >= 20) {
          atAbort = p.started;
          stop.abort();
        }
      },
    });
    await expect(run).rejects.toBeInstanceOf(DemoInterrupted);
    expect(atAbort).toBeGreaterThanOrEqual(20);
    // Shoppers under way may finish their step; none begins.
    expect(last!.started).toBe(atAbort);
  }, 60_000);

  it('cli ops - the demo summary never puts a percentile above the maximum', () => {
    // The slowest 2 % at 1094.34 ms: p99 falls in that histogram bucket, whose top lies
    // above the sample (the issue saw p99 1094.66 ms beside a max of 1094.34 ms).
    const results = Array.from({ length: 100 }, (_, i): ShopperResult => ({
      index: i, cartId: `c${i}`, idempotencyKey: `k${i}`, orderId: `o${i}`, items: [], outcome: 'confirmed', decidedBy: 'order', reason: '',
      latencyMs: i >= 98 ? 1094.34 : 10 + i / 100, attempts: 1,
    } as unknown as ShopperResult));
    const report: AuditReport = { ok: true, violations: [], orders: { placed: 100, confirmed: 100, rejected: 0, pending: 0 }, sold: {}, products: [] };
    const s = summarize(results, report, { sku: 'x', initial: 100 }, 1_000, 0);
    expect(s.latencyMs.max).toBe(1094.34);
    expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
    expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p99);
  });
});
