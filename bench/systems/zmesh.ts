/** zmesh, fast class (request, publish, subscribe) and reliable class (publishReliable,
 *  resolved once the event is in the publisher's log on disk). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { ErrorCode, createAuthority, createNode, type MeshNode, type SecurityOptions } from '../../transport/index.js';
import { fullCredentials } from '../lib/trust.js';
import type { Publisher, System } from './types.js';

const TOPIC = 'bench.data';
/** The secure variant's authority, shared by the bench and its peer processes (they
 *  inherit the environment): made once, by whichever process loads this first. */
const TRUST_ENV = 'ZMESH_BENCH_AUTHORITY';

/** Made when the bench process loads the systems, before it forks any peer, so
 *  that every process of the run trusts the same authority. */
function authorityDir(): string {
  let dir = process.env[TRUST_ENV];
  if (dir === undefined) {
    dir = join(mkdtempSync(join(tmpdir(), 'zmesh-bench-trust-')), 'authority');
    createAuthority(dir);
    process.env[TRUST_ENV] = dir;
  }
  return dir;
}
const AUTHORITY_DIR = authorityDir();

/** Fresh keys and a certificate (every right) from the run's authority. */
export function credentials(service: string): SecurityOptions {
  return fullCredentials(AUTHORITY_DIR, service);
}

/** A secure node's endpoint carries its key (`tcp://HOST:PORT#<hex>`), so the other
 *  side can reach it; an insecure one is the plain endpoint. */
const reach = (n: MeshNode): string => (n.publicKey === undefined ? n.endpoints.router : `${n.endpoints.router}#${n.publicKey}`);

/** publish() throws QUEUE_FULL (retryable) when the socket's queue holds its limit;
 *  a publisher that must not drop waits for the queue to move, as this one does. */
function publishOrWait(n: MeshNode, payload: Buffer): Promise<void> | undefined {
  try {
    n.publish(TOPIC, payload);
    return undefined;
  } catch (err) {
    if ((err as { code?: string }).code !== ErrorCode.QUEUE_FULL) throw err;
    return new Promise<void>((resolve) => setTimeout(resolve, 1)).then(() => publishOrWait(n, payload));
  }
}

/** One variant of the zmesh systems: insecure, or a secure mesh (CurveZMQ on every
 *  socket, certificates in the handshake, DEALER connections bound to their key). */
function variant(secure: boolean): { fast: System; reliable: System } {
  const node = (service: string, peers: string[] = [], storePath?: string): MeshNode => createNode({
    ...(secure ? { security: credentials(service) } : { insecure: true }),
    service, host: '127.0.0.1', discovery: 'static', peers, storePath, requestTimeoutMs: 60_000, maxPayloadBytes: 1 << 20, reliable: { maxEvents: 10_000_000 },
  });

  async function publisherNode(reliable: boolean): Promise<Publisher> {
    const dir = reliable ? mkdtempSync(join(tmpdir(), 'zmesh-bench-')) : undefined;
    const n = node('bench-pub', [], dir === undefined ? undefined : join(dir, 'zmesh.db'));
    await n.start();
    return {
      endpoint: reach(n),
      publish: reliable ? (payload) => n.publishReliable(TOPIC, payload) : (payload) => publishOrWait(n, payload),
      flush: async () => undefined,
      close: async () => {
        await n.close();
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  const suffix = secure ? '-secure' : '';
  const note = secure ? '; secure: CurveZMQ + certificates, bound connections (a MAC only where a peer cannot bind)' : '';
  const base = {
    unavailable: async () => undefined,
    version: async () => `zmesh 0.1.0, libzmq ${zmq.version}`,
    subscribe: async (p: { endpoint?: string }, onMessage: (b: Uint8Array) => void) => {
      const n = node('bench-sub', [p.endpoint!]);
      await n.start();
      await n.waitForService('bench-pub', { timeoutMs: 10_000 });
      await n.subscribe(TOPIC, (e) => onMessage(e.payload));
      return { close: () => n.close() };
    },
  };
  return {
    fast: {
      name: `zmesh${suffix}`,
      settings: `fast class: request() and publish(), [header, body] frames, coalescing send queues${note}`,
      ...base,
      serveRpc: async () => {
        const n = node('bench-echo');
        n.handle('echo', (payload) => payload);
        await n.start();
        return { endpoint: reach(n), close: () => n.close() };
      },
      rpcClient: async (p) => {
        const n = node('bench-client', [p.endpoint!]);
        await n.start();
        await n.waitForService('bench-echo', { timeoutMs: 10_000 });
        return { request: async (payload) => { await n.request('bench-echo', 'echo', payload); }, close: () => n.close() };
      },
      publisher: () => publisherNode(false),
    },
    reliable: {
      name: `zmesh${suffix}-reliable`,
      settings: `reliable class: publishReliable() resolves when the event is in the SQLite log (WAL, synchronous=FULL, group commit)${note}`,
      ...base,
      reliablePublisher: () => publisherNode(true),
    },
  };
}

const open = variant(false);
const closed = variant(true);
export const zmeshFast = open.fast;
export const zmeshReliable = open.reliable;
export const zmeshSecure = closed.fast;
export const zmeshSecureReliable = closed.reliable;
