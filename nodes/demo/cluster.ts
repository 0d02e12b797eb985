/**
 * The three commerce services as separate processes (`zmesh node ...`), for the demo,
 * the end-to-end tests and the benchmarks. How a process is launched is injectable,
 * so tests can put each one in its own network namespace. Secure (each node gets its
 * credentials directory, trust.ts) or, when asked, insecure.
 */
import { spawn as spawnChild, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { dirname, join, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ServiceName } from '../commerce/api.js';
import { ENV_VARS } from '../cli/config.js';
import type { DemoTrust } from './trust.js';

/** The built CLI entry point. Tests run this module from its .ts source, whose
 *  neighbours are not built, so that case points into dist/. */
const here = dirname(fileURLToPath(import.meta.url));
export const CLI = here.split(sep).includes('dist') ? join(here, '..', 'cli', 'main.js') : join(here, '..', '..', 'dist', 'nodes', 'cli', 'main.js');

export type Launcher = (service: ServiceName, argv: string[], options: SpawnOptions) => ChildProcess;
export const localLauncher: Launcher = (_service, argv, options) => spawnChild(argv[0]!, argv.slice(1), options);

export interface ClusterOptions {
  /** Each service's store is <dataDir>/<service>. */
  dataDir: string;
  mesh: string;
  /** Scarce-item stock, seeded into a fresh product store. */
  stock: number;
  /** ms before a PENDING order is rejected. */
  pendingTimeoutMs?: number;
  /** Static mode: each node is given the ROUTER endpoints of those started before it
   *  (product, then order, then cart). Seed mode: static, and each node is given
   *  product's only (the others learn each other from it). Default: mDNS. */
  discovery?: 'mdns' | 'static' | 'seed';
  /** Each service runs with `--credentials <trust.credentialsDir(service)>`... */
  trust?: Pick<DemoTrust, 'credentialsDir'>;
  /** ...or with --insecure. Exactly one of the two. */
  insecure?: boolean;
  /** Extra `zmesh node` arguments per service, e.g. --interface. */
  extraArgs?: Partial<Record<ServiceName, string[]>>;
  launch?: Launcher;
  /** Where the children's stderr goes. Default: ignored. */
  stderr?: 'inherit' | 'ignore';
  logLevel?: string;
}

export interface ServiceProcess {
  readonly service: ServiceName;
  child: ChildProcess;
  nodeId: string;
  router: string;
  /** The node's public key (64 hex); undefined when insecure. */
  publicKey: string | undefined;
  /** What a static peer list needs: `router#publicKey` (just `router` when insecure). */
  peer: string;
  /** Its Prometheus metrics URL, when started with --metrics-port. */
  metrics?: string;
  /** What its stdout said since: `stopping` (it got a signal, it is closing), and
   *  `closed` (its node closed: whatever ends the process now, nothing is left open). */
  said: { stopping: boolean; closed: boolean };
}

export interface Cluster {
  readonly procs: Map<ServiceName, ServiceProcess>;
  /** SIGKILLs a service's process and waits for it to be gone. */
  kill(service: ServiceName): Promise<void>;
  /** Starts a service again on its store and credentials: new ports; the same node
   *  id when secure (it comes from the key), a new one when insecure. */
  restart(service: ServiceName): Promise<ServiceProcess>;
  /** SIGTERM to all, waits for clean exits (SIGKILL after `graceMs`). Returns exit codes. */
  stop(graceMs?: number): Promise<Record<string, number | null>>;
}

/** Start order: order needs product, cart needs both. */
const START_ORDER: ServiceName[] = ['product', 'order', 'cart'];
const READY_TIMEOUT_MS = 30_000;

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  if ((o.trust === undefined) === (o.insecure !== true)) throw new Error('startCluster: give exactly one of trust or insecure: true');
  const trust = o.trust;
  const launch = o.launch ?? localLauncher;
  const procs = new Map<ServiceName, ServiceProcess>();

  const argsOf = (service: ServiceName): string[] => {
    const a = [process.execPath, CLI, 'node', service, '--data', join(o.dataDir, service), '--mesh', o.mesh, '--json',
      '--log-level', o.logLevel ?? 'warn', ...(trust === undefined ? ['--insecure'] : ['--credentials', trust.credentialsDir(service)]),
      ...(o.extraArgs?.[service] ?? [])];
    if (service === 'product') a.push('--stock', String(o.stock));
    if (service === 'order' && o.pendingTimeoutMs !== undefined) a.push('--pending-timeout', String(o.pendingTimeoutMs));
    if (o.discovery === 'static' || o.discovery === 'seed') {
      a.push('--discovery', 'static');
      const seeds = o.discovery === 'seed' ? START_ORDER.slice(0, 1) : START_ORDER;
      for (const s of seeds.slice(0, START_ORDER.indexOf(service))) {
        const p = procs.get(s);
        if (p !== undefined) a.push('--peer', p.peer);
      }
    }
    return a;
  };

  // The services get their settings from the flags above alone: a ZMESH_PORT or a
  // ZMESH_CONFIG meant for one node would otherwise give all three the same port.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !ENV_VARS.includes(k)));
  const start = async (service: ServiceName): Promise<ServiceProcess> => {
    const child = launch(service, argsOf(service), { stdio: ['ignore', 'pipe', o.stderr ?? 'ignore'], env });
    const said = { stopping: false, closed: false };
    const lines = createInterface({ input: child.stdout! });
    const ready = await new Promise<{ nodeId: string; bound: string; publicKey?: string; metrics?: string }>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`${service} was not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      const fail = (err: Error): void => { clearTimeout(timer); child.kill('SIGKILL'); reject(err); };
      lines.once('line', (line) => {
        clearTimeout(timer);
        try {
          const m = JSON.parse(line) as { event: string; nodeId: string; bound: string; publicKey?: string };
          if (m.event !== 'ready') throw new Error(line);
          resolve(m);
        } catch {
          fail(new Error(`${service} printed an unexpected first line: ${line}`));
        }
      });
      child.once('exit', (code, signal) => fail(new Error(`${service} exited (${signal ?? code}) before it was ready`)));
    });
    lines.on('line', (line) => {
      if (line.startsWith('{"event":"stopping"')) said.stopping = true;
      else if (line.startsWith('{"event":"closed"')) said.closed = true;
    });
    // The endpoint as bound: loopback-bound and interface-bound routers as such, and a
    // wildcard one over loopback, since the services share this host (its advertised
    // addresses, in the ready line's `router`, would route through the host's LAN
    // address instead).
    const router = ready.bound.replace('0.0.0.0', '127.0.0.1');
    const publicKey = ready.publicKey;
    const proc = {
      service, child, nodeId: ready.nodeId, router, publicKey, peer: publicKey === undefined ? router : `${router}#${publicKey}`, said,
      ...(ready.metrics === undefined ? {} : { metrics: ready.metrics }),
    };
    procs.set(service, proc);
    return proc;
  };

  const exited = (child: ChildProcess): Promise<number | null> =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve(child.exitCode)
      : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  /** Its exit code once its stdout is read to the end (so `closed` is known): 0 for a
   *  service that said its node closed and then died of a signal mid-exit; null for
   *  one that had to be killed (`forced`), even after it said so: a process that
   *  lives on after its node closed holds something it should not. */
  const stopped = (p: ServiceProcess, forced: () => boolean): Promise<number | null> => new Promise((resolve) => {
    const done = (): void => resolve(p.child.exitCode ?? (p.said.closed && !forced() ? 0 : null));
    if (p.child.stdout === null || p.child.stdout.readableEnded || p.child.stdout.destroyed) void exited(p.child).then(done);
    else p.child.once('close', done);
  });

  const cluster: Cluster = {
    procs,
    kill: async (service) => {
      const p = procs.get(service);
      if (p === undefined) return;
      p.child.kill('SIGKILL');
      await exited(p.child);
    },
    restart: (service) => start(service),
    stop: async (graceMs = 10_000) => {
      const codes: Record<string, number | null> = {};
      await Promise.all([...procs.values()].map(async (p) => {
        // One that got the signal too (Ctrl-C reaches the whole process group) is
        // closing already: another signal could only catch it mid-exit.
        if (!p.said.stopping) p.child.kill('SIGTERM');
        let forced = false;
        const timer = setTimeout(() => { forced = true; p.child.kill('SIGKILL'); }, graceMs);
        codes[p.service] = await stopped(p, () => forced);
        clearTimeout(timer);
      }));
      return codes;
    },
  };
  try {
    for (const s of START_ORDER) await start(s);
  } catch (err) {
    for (const p of procs.values()) p.child.kill('SIGKILL');
    throw err;
  }
  return cluster;
}

