/**
 * What the three commerce services share: how a service's options become a node,
 * where its store lives, and its own tables next to zmesh's in that one SQLite file.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { InvalidArgumentError, StoreError, createNode, type Database, type DiscoveryMode, type MeshNode, type NodeOptions, type SecurityOptions, type ServiceDef } from 'zmesh';

/** The store of a node with data directory DIR is DIR/zmesh.db (the CLI's convention). */
export const STORE_FILE = 'zmesh.db';

export interface ServiceOptions {
  /** Directory of the node's store; created if missing. */
  dataDir: string;
  mesh?: string;
  /** One address to bind, advertise and run mDNS on. */
  interface?: string;
  /** Bind address when no interface is given. Default 0.0.0.0. */
  host?: string;
  /** Static peers: ROUTER endpoints, each with "#<public key hex>" when secure. */
  peers?: string[];
  discovery?: DiscoveryMode;
  /** DNS-SD over unicast DNS (createNode's `dns` option). */
  dns?: NodeOptions['dns'];
  /** Only for an insecure node: a secure node's id is derived from its key. */
  nodeId?: string;
  /** ROUTER and PUB ports; 0 or absent: any free port. */
  routerPort?: number;
  pubPort?: number;
  /** Addresses peers dial, when not the bound ones (NAT, containers). */
  advertise?: string[];
  logger?: Logger;
  /** The node's credentials (credentials.ts loadSecurity). Exactly one of `security`
   *  and `insecure` must be given: running open is a decision, never a default. */
  security?: SecurityOptions;
  /** Run without security: anyone who can reach the node can join, forge and read. */
  insecure?: boolean;
  /** createNode's `tracing` (README "Tracing"); default auto. */
  tracing?: NodeOptions['tracing'];
  /** createNode's `summaryIntervalMs` (zmesh top); default 1 000. */
  summaryIntervalMs?: number;
  /** Prometheus metrics and health probes on this port (0: any free one), bound on
   *  `host` (default 127.0.0.1). /readyz waits for the services it depends on
   *  (DEPENDS_ON). */
  metrics?: { port: number; host?: string };
}

/** What each commerce service needs up before it is ready (/readyz): cart asks product
 *  for prices and hands checkouts to order; order reserves stock at product. */
export const DEPENDS_ON: Readonly<Record<string, readonly string[]>> = { cart: ['order', 'product'], order: ['product'], product: [] };

/** A started service. close() lets running work finish, then releases everything. */
export interface RunningService {
  readonly node: MeshNode;
  close(): Promise<void>;
}

/** A node for the declared service `def` (its name is the node's service). */
export function serviceNode(def: ServiceDef, o: ServiceOptions): MeshNode {
  if ((o.security === undefined) === (o.insecure !== true)) {
    throw new InvalidArgumentError(`${def.name}: give exactly one of security (its credentials) or insecure: true`);
  }
  const node = createNode({
    service: def.name,
    nodeId: o.nodeId,
    routerPort: o.routerPort,
    pubPort: o.pubPort,
    advertise: o.advertise,
    mesh: o.mesh,
    interface: o.interface,
    host: o.host,
    peers: o.peers,
    discovery: o.discovery,
    dns: o.dns,
    storePath: join(o.dataDir, STORE_FILE),
    ...(o.security === undefined ? { insecure: true } : { security: o.security }),
    // A checkout crosses three services; give it room on a busy machine.
    requestTimeoutMs: 15_000,
    tracing: o.tracing,
    ...(o.summaryIntervalMs === undefined ? {} : { summaryIntervalMs: o.summaryIntervalMs }),
    ...(o.metrics === undefined ? {} : { metrics: { ...o.metrics, readiness: { services: [...(DEPENDS_ON[def.name] ?? [])] } } }),
  }, { logger: o.logger });
  // After createNode, which checks the options and credentials: a node refused there
  // leaves nothing behind. The store itself is opened by start().
  mkdirSync(o.dataDir, { recursive: true });
  return node;
}

/**
 * A service's own schema: numbered steps applied once each, in order, recorded in
 * `app_schema` so zmesh's own migrations (user_version) stay separate. Steps are
 * append-only, like zmesh's: never edit one that has shipped.
 */
export function serviceSchema(service: string, steps: readonly string[]): (db: Database) => Database {
  const done = new WeakSet<Database>();
  return (db) => {
    if (done.has(db)) return db;
    db.transaction(() => {
      db.exec('CREATE TABLE IF NOT EXISTS app_schema (service TEXT PRIMARY KEY, version INTEGER NOT NULL)');
      const row = db.prepare('SELECT version FROM app_schema WHERE service = ?').get(service) as { version: number } | undefined;
      const from = row?.version ?? 0;
      if (from > steps.length) {
        throw new StoreError('newer', `${db.name}: the ${service} tables are at version ${from}, this code knows up to ${steps.length}; upgrade zmesh`);
      }
      for (let v = from; v < steps.length; v++) db.exec(steps[v]!);
      db.prepare('INSERT INTO app_schema (service, version) VALUES (?, ?) ON CONFLICT (service) DO UPDATE SET version = excluded.version')
        .run(service, steps.length);
    }).immediate();
    done.add(db);
    return db;
  };
}

/**
 * Starts the node, then runs the service's own setup (its tables, seed data, durable
 * subscriptions). A setup that throws, such as tables newer than this code (STORE),
 * closes the node again before the error goes on: a refused start leaves nothing
 * running, and `zmesh node` exits.
 */
export async function startNode<T>(node: MeshNode, setup: () => T | Promise<T>): Promise<T> {
  await node.start();
  try {
    return await setup();
  } catch (err) {
    await node.close();
    throw err;
  }
}

type Statement = import('better-sqlite3').Statement<unknown[], unknown>;
const compile = (db: Database, text: string): Statement => db.prepare<unknown[]>(text);
const statements = new WeakMap<Database, Map<string, Statement>>();

/** `db.prepare(text)`, compiled once per database and kept: a handler that prepared
 *  its statements on every call spent more time compiling SQL than running it. */
export function sql(db: Database, text: string): Statement {
  let byText = statements.get(db);
  if (byText === undefined) statements.set(db, byText = new Map());
  let stmt = byText.get(text);
  if (stmt === undefined) byText.set(text, stmt = compile(db, text));
  return stmt;
}

/** The node's database, with the service's tables in place. */
export function tablesOf(node: MeshNode, ensure: (db: Database) => Database): Database {
  const db = node.db;
  if (db === undefined) throw new Error(`${node.service}: the store is not open`);
  return ensure(db);
}

/** Validation failures of a request: they cross the wire as BAD_MESSAGE. */
export { BadMessageError as InvalidRequest } from 'zmesh';

export const now = (): number => Date.now();
