/**
 * One demo run: the three services as processes, a shopper node in this process,
 * N shoppers competing for scarce stock, then the audit. Used by `zmesh demo` and by
 * the checkout benchmark. Secure unless told otherwise: the run makes an authority
 * and certificates of its own (trust.ts) before it starts anything.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, type MeshNode, type SecurityOptions } from 'zmesh';
import { SERVICES } from '../commerce/api.js';
import { demoCatalog, SCARCE_SKU } from '../product/catalog.js';
import { settle } from './audit.js';
import { startCluster, type Cluster, type ClusterOptions } from './cluster.js';
import { runShoppers, type Progress, type ShopperResult } from './shoppers.js';
import { summarize, type DemoSummary } from './summary.js';
import { demoTrust, SHOPPER_SERVICE, type DemoTrust } from './trust.js';
import { CLIENT_SERVICE } from '../commerce/permissions.js';

export interface DemoOptions {
  orders: number;
  /** Scarce stock. Default: a quarter of the orders, at least 1. */
  stock?: number;
  /** Shoppers at once. Default: all. */
  concurrency?: number;
  /** Keep stores here (default: a temporary directory, removed after a clean run). */
  dataDir?: string;
  /** Default: a fresh name per run, so a demo never mixes with nodes already on the LAN. */
  mesh?: string;
  discovery?: ClusterOptions['discovery'];
  interface?: string;
  /** Run every node without security. Default: secure, with an authority and
   *  certificates of the demo's own in <dataDir>/trust (trust.ts). */
  insecure?: boolean;
  signal?: AbortSignal;
  onPhase?(phase: string): void;
  onProgress?(p: Progress): void;
  /** Give each service a metrics port (any free one, on 127.0.0.1); their URLs are
   *  told as a phase and returned in `metrics`. */
  metrics?: boolean;
  /** Children's stderr (service logs). */
  stderr?: 'inherit' | 'ignore';
  logLevel?: string;
}

export interface DemoResult extends DemoSummary {
  mesh: string;
  security: 'secure' | 'insecure';
  /** The demo's own authority directory, when secure. */
  authority?: string;
  /** Where the stores are, when they were kept. */
  dataDir?: string;
  /** With `metrics`: each service's Prometheus metrics URL. */
  metrics?: Partial<Record<string, string>>;
}

const DISCOVERY_TIMEOUT_MS = 30_000;

export interface ShopAndAuditOptions {
  orders: number;
  concurrency?: number;
  /** Scarce stock the product node was seeded with. */
  stock: number;
  /** Prefix of this run's carts and idempotency keys. */
  runId: string;
  signal?: AbortSignal;
  deadlineMs?: number;
  /** How long the audit waits for the books to agree. Default 20 s. */
  settleMs?: number;
  onProgress?(p: Progress): void;
  /** Between the shoppers and the audit; throw to skip the audit. */
  beforeAudit?(): void;
}

/** Runs the shoppers against services `node` can reach, then audits the invariants. */
export async function shopAndAudit(node: MeshNode, o: ShopAndAuditOptions): Promise<DemoSummary & { results: ShopperResult[] }> {
  const t0 = performance.now();
  let retries = 0;
  const results = await runShoppers(node, {
    orders: o.orders, concurrency: o.concurrency, runId: o.runId, signal: o.signal, deadlineMs: o.deadlineMs,
    onProgress: (p) => { retries = p.retries; o.onProgress?.(p); },
  });
  const wallMs = performance.now() - t0;
  o.beforeAudit?.();
  const initialStock = new Map(demoCatalog(o.stock).map((p) => [p.sku, p.stock]));
  const report = await settle(node, { initialStock, results, runId: o.runId }, o.settleMs);
  return { ...summarize(results, report, { sku: SCARCE_SKU, initial: o.stock }, wallMs, retries), results };
}

/** The `zmesh top` command that shows this run's nodes (as the client identity "cli"). */
export function topCommandLine(mesh: string, peers: string[] | undefined, credentials: string | undefined, iface: string | undefined): string {
  return ['zmesh top', `--mesh ${mesh}`, ...(peers ?? []).map((p) => `--peer ${p}`), ...(iface === undefined || peers !== undefined ? [] : [`--interface ${iface}`]),
    credentials === undefined ? '--insecure' : `--credentials ${credentials}`].join(' ');
}

/** The run was stopped on purpose (SIGINT, SIGTERM): not a failure, and no audit. */
export class DemoInterrupted extends Error {
  override readonly name = 'DemoInterrupted';
}

export function defaultStock(orders: number): number {
  return Math.max(1, Math.floor(orders / 4));
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const phase = o.onPhase ?? (() => undefined);
  const stock = o.stock ?? defaultStock(o.orders);
  const mesh = o.mesh ?? `demo-${randomBytes(3).toString('hex')}`;
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'zmesh-demo-'));
  const runId = `run-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  let cluster: Cluster | undefined;
  let shopper: MeshNode | undefined;
  let clean = false;
  try {
    const trust: DemoTrust | undefined = o.insecure === true ? undefined : demoTrust(join(dataDir, 'trust'), mesh);
    phase(trust === undefined
      ? 'insecure (--insecure): no authority, no certificates, no encryption'
      : `secure (own authority at ${trust.authorityDir})`);
    phase(`starting product, order and cart as processes (mesh "${mesh}", stores in ${dataDir})`);
    const iface = [...(o.interface === undefined ? [] : ['--interface', o.interface]), ...(o.metrics === true ? ['--metrics-port', '0'] : [])];
    cluster = await startCluster({
      dataDir, mesh, stock, discovery: o.discovery, stderr: o.stderr, logLevel: o.logLevel,
      ...(trust === undefined ? { insecure: true } : { trust }),
      extraArgs: { product: iface, order: iface, cart: iface },
    });
    const metrics = o.metrics === true ? Object.fromEntries([...cluster.procs.values()].map((p) => [p.service, p.metrics])) : undefined;
    for (const [service, url] of Object.entries(metrics ?? {})) phase(`${service} metrics at ${url}`);
    const peers = o.discovery === 'static' ? [...cluster.procs.values()].map((p) => p.peer) : undefined;
    phase(`watch it live: ${topCommandLine(mesh, peers, trust?.credentialsDir(CLIENT_SERVICE), o.interface)}`);
    const security: { security: SecurityOptions } | { insecure: true } = trust === undefined ? { insecure: true } : { security: trust.security(SHOPPER_SERVICE) };
    shopper = createNode({
      service: SHOPPER_SERVICE, mesh, interface: o.interface, peers, discovery: o.discovery === 'static' ? 'static' : 'mdns', requestTimeoutMs: 15_000,
      ...security,
    });
    await shopper.start();
    phase(o.discovery === 'static' ? 'connecting to the services at their endpoints (static, no mDNS)' : 'waiting for the services to discover each other (mDNS)');
    await Promise.all(SERVICES.map((s) => shopper!.waitForService(s, { timeoutMs: DISCOVERY_TIMEOUT_MS, signal: o.signal })));

    phase(`${o.orders} shoppers competing for ${stock} × ${SCARCE_SKU}`);
    const summary = await shopAndAudit(shopper, {
      orders: o.orders, concurrency: o.concurrency, stock, runId, signal: o.signal, onProgress: o.onProgress,
      // Interrupted (Ctrl-C): the books cannot balance mid-flight, so skip the audit.
      beforeAudit: () => {
        if (o.signal?.aborted === true) throw new DemoInterrupted(`demo interrupted; the services were stopped, their stores kept in ${dataDir}`);
        phase('auditing: stock, orders, reservations and carts');
      },
    });
    clean = summary.ok;
    const { results: _results, ...rest } = summary;
    return {
      ...rest, mesh, security: trust === undefined ? 'insecure' : 'secure', ...(trust === undefined ? {} : { authority: trust.authorityDir }),
      ...(clean && o.dataDir === undefined ? {} : { dataDir }),
      ...(metrics === undefined ? {} : { metrics }),
    };
  } finally {
    await shopper?.close();
    const codes = await cluster?.stop();
    if (codes !== undefined) {
      const bad = Object.entries(codes).filter(([, c]) => c !== 0);
      if (bad.length > 0) phase(`services exited uncleanly: ${bad.map(([s, c]) => `${s} ${c}`).join(', ')}`);
    }
    if (clean && o.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
  }
}
