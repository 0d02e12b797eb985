/** zmesh, fast class (request, publish, subscribe) and reliable class (publishReliable,
 *  resolved once the event is in the publisher's log on disk). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { ErrorCode, createNode, type MeshNode } from '../../transport/index.js';
import type { Publisher, System } from './types.js';

const TOPIC = 'bench.data';
const node = (service: string, peers: string[] = [], storePath?: string): MeshNode =>
  createNode({ service, host: '127.0.0.1', discovery: 'static', peers, storePath, requestTimeoutMs: 60_000, maxPayloadBytes: 1 << 20, reliable: { maxEvents: 10_000_000 } });

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

async function publisherNode(reliable: boolean): Promise<Publisher> {
  const dir = reliable ? mkdtempSync(join(tmpdir(), 'zmesh-bench-')) : undefined;
  const n = node('bench-pub', [], dir === undefined ? undefined : join(dir, 'zmesh.db'));
  await n.start();
  return {
    endpoint: n.endpoints.router,
    publish: reliable ? (payload) => n.publishReliable(TOPIC, payload) : (payload) => publishOrWait(n, payload),
    flush: async () => undefined,
    close: async () => {
      await n.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

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

export const zmeshFast: System = {
  name: 'zmesh',
  settings: 'fast class: request() and publish(), [header, body] frames, coalescing send queues',
  ...base,
  serveRpc: async () => {
    const n = node('bench-echo');
    n.handle('echo', (payload) => payload);
    await n.start();
    return { endpoint: n.endpoints.router, close: () => n.close() };
  },
  rpcClient: async (p) => {
    const n = node('bench-client', [p.endpoint!]);
    await n.start();
    await n.waitForService('bench-echo', { timeoutMs: 10_000 });
    return { request: async (payload) => { await n.request('bench-echo', 'echo', payload); }, close: () => n.close() };
  },
  publisher: () => publisherNode(false),
};

export const zmeshReliable: System = {
  name: 'zmesh-reliable',
  settings: 'reliable class: publishReliable() resolves when the event is in the SQLite log (WAL, synchronous=FULL, group commit)',
  ...base,
  reliablePublisher: () => publisherNode(true),
};
