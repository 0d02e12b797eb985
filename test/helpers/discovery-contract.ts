/**
 * The contract every Discovery implementation must meet, as one vitest suite that
 * each implementation runs with a harness of its own (after js-libp2p's
 * interface-compliance tests).
 *
 * The harness hides where the source runs: in this process (`inProcessHarness`), or
 * in a child process inside a namespace of the virtual LAN (mDNS), talking over a
 * pipe. So the suite only asks for what crosses a process boundary well: the list
 * of sink calls, start/close/stats as promises, and the libuv handles left behind.
 *
 *   source under test (local node) ── finds ──> remote node (an endpoint, or a
 *                                               second source on another LAN host)
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isEndpoint, parseEndpoint } from '../../transport/names.js';
import type { Candidate, Discovery, DiscoverySink, LocalNode } from '../../transport/types.js';
import { requireRoot } from './root.js';

export interface SinkCall {
  type: 'propose' | 'withdraw';
  candidate: Candidate;
}

/** The node the source under test must find. */
export interface RemoteNode {
  /** Address its candidates must name. */
  host: string;
  routerPort: number;
  /** Set when the source can know the id (mDNS can, a static list cannot): the
   *  candidate must then carry exactly this id, and otherwise none. */
  nodeId?: string;
}

export interface DiscoveryHarness {
  /** The node the source under test runs as (and advertises, if it advertises). */
  readonly local: LocalNode;
  /** The local node's address, to recognise a candidate that names the node itself. */
  readonly localHost: string;
  readonly remote: RemoteNode;
  /** How long the source may take to propose the remote node, in ms. */
  readonly findTimeoutMs: number;
  /** Every sink call of the source under test so far, in order. */
  readonly calls: readonly SinkCall[];
  /** Discovery.start on the source under test, which gets `signal` as it is. */
  start(signal: AbortSignal): Promise<void>;
  /** Discovery.close on the source under test; each call is passed through. */
  close(): Promise<void>;
  /** Discovery.stats() of the source, or undefined when it has none. A harness that
   *  carries it across a process boundary rejects when it would not survive JSON. */
  stats(): Promise<unknown>;
  /** Resolves after a few of the source's own periods, so that a source that were
   *  still running would have called the sink again: the window in which silence
   *  is proved. Absence cannot be polled for; this is the one deliberate wait. */
  quiet(): Promise<void>;
  /** libuv handle types (process.getActiveResourcesInfo) the source holds now. */
  resources(): Promise<string[]>;
  /** Releases everything: the source, the remote node, child processes. Never throws. */
  dispose(): Promise<void>;
}

const proposals = (h: DiscoveryHarness): Candidate[] => h.calls.filter((c) => c.type === 'propose').map((c) => c.candidate);

/** Proposals naming the remote's ROUTER endpoint. */
function remoteProposals(h: DiscoveryHarness): Candidate[] {
  return proposals(h).filter((c) => c.endpoints.some((e) => {
    const p = parseEndpoint(e);
    return p !== undefined && p.host === h.remote.host && p.port === h.remote.routerPort;
  }));
}

async function waitForRemote(h: DiscoveryHarness): Promise<void> {
  await vi.waitFor(() => {
    expect(remoteProposals(h).length, `no proposal names tcp://${h.remote.host}:${h.remote.routerPort}; sink calls: ${JSON.stringify(h.calls)}`).toBeGreaterThan(0);
  }, { timeout: h.findTimeoutMs, interval: 20 });
}

/** Start, find the remote, let the source run a few periods (re-proposals), close. */
async function fullRun(h: DiscoveryHarness, signal: AbortSignal): Promise<void> {
  await h.start(signal);
  await waitForRemote(h);
  await h.quiet();
  await h.close();
}

/** `o.needsRoot`: what the harness needs root for (namespaces); without root the
 *  suite is skipped with that reason, and fails under CI (helpers/root.ts). */
export function discoveryContract(name: string, makeHarness: () => Promise<DiscoveryHarness>, o: { needsRoot?: string } = {}): void {
  describe(`discovery contract - ${name}`, () => {
    let harness: DiscoveryHarness | undefined;
    let controller: AbortController;
    const h = (): DiscoveryHarness => {
      if (harness === undefined) throw new Error('harness not created');
      return harness;
    };
    beforeEach(async (ctx) => {
      if (o.needsRoot !== undefined) requireRoot(ctx, o.needsRoot);
      controller = new AbortController();
      harness = await makeHarness();
    });
    afterEach(async () => {
      const done = harness;
      harness = undefined;
      await done?.dispose();
    });

    const test = (behaviour: string, fn: () => Promise<void>): void => {
      it(`discovery contract - ${name} - ${behaviour}`, fn);
    };

    test('start resolves and the sink gets a candidate for the remote node\'s ROUTER endpoint', async () => {
      await expect(h().start(controller.signal)).resolves.toBeUndefined();
      await waitForRemote(h());
      for (const c of remoteProposals(h())) expect(c.nodeId).toBe(h().remote.nodeId);
    });

    test('every candidate is well formed, however often it is proposed', async () => {
      await fullRun(h(), controller.signal);
      expect(h().calls.length).toBeGreaterThan(0);
      for (const { candidate: c } of h().calls) {
        expect(c.endpoints.length, JSON.stringify(c)).toBeGreaterThan(0);
        for (const e of c.endpoints) expect(isEndpoint(e), `${e} in ${JSON.stringify(c)}`).toBe(true);
        expect(typeof c.source === 'string' && c.source.length > 0, JSON.stringify(c)).toBe(true);
        if (c.persistent !== undefined) expect(typeof c.persistent).toBe('boolean');
      }
    });

    test('candidates never name the local node', async () => {
      await fullRun(h(), controller.signal);
      const self = `${h().localHost}:${h().local.routerPort}`;
      for (const { candidate: c } of h().calls) {
        expect(c.nodeId, JSON.stringify(c)).not.toBe(h().local.nodeId);
        for (const e of c.endpoints) {
          const p = parseEndpoint(e);
          expect(`${p?.host}:${p?.port}`, JSON.stringify(c)).not.toBe(self);
        }
      }
    });

    test('close resolves, is idempotent, releases its handles and silences the sink', async () => {
      await h().start(controller.signal);
      await waitForRemote(h());
      await expect(h().close()).resolves.toBeUndefined();
      await expect(h().close()).resolves.toBeUndefined();
      const seen = h().calls.length;
      await h().quiet();
      expect(h().calls.slice(seen)).toEqual([]);
      expect(await h().resources()).toEqual([]);
    });

    test('start with an already-aborted signal rejects and leaves nothing running', async () => {
      controller.abort();
      await expect(h().start(controller.signal)).rejects.toMatchObject({ code: 'ZMESH_ERR_ABORTED' });
      expect(await h().resources()).toEqual([]);
      await h().quiet();
      expect(h().calls).toEqual([]);
      await expect(h().close()).resolves.toBeUndefined();
    });

    test('stats() returns a JSON-serialisable value', async () => {
      await h().start(controller.signal);
      await waitForRemote(h());
      const value = await h().stats();
      if (value !== undefined) expect(JSON.parse(JSON.stringify(value))).toEqual(value);
    });
  });
}

/** Counts handles by type. */
function handleCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/** A harness for a source that runs in this process. Its handles are the ones this
 *  process gained since start() was called: valid as long as nothing else in the
 *  test process opens handles meanwhile, which the contract's tests do not. */
export function inProcessHarness(o: {
  source: Discovery;
  local: LocalNode;
  localHost: string;
  remote: RemoteNode;
  findTimeoutMs?: number;
  /** The source's longest period, in ms; 0 for a source with no timers. */
  periodMs: number;
  /** Tears down the remote node, if it is more than an address. */
  disposeRemote?: () => Promise<void>;
}): DiscoveryHarness {
  const calls: SinkCall[] = [];
  const sink: DiscoverySink = {
    propose: (candidate) => { calls.push({ type: 'propose', candidate }); },
    withdraw: (candidate) => { calls.push({ type: 'withdraw', candidate }); },
  };
  let baseline = handleCounts();
  return {
    local: o.local,
    localHost: o.localHost,
    remote: o.remote,
    findTimeoutMs: o.findTimeoutMs ?? 1_000,
    calls,
    start: (signal) => {
      baseline = handleCounts();
      return o.source.start(o.local, sink, signal);
    },
    close: () => o.source.close(),
    stats: async () => o.source.stats?.(),
    quiet: async () => {
      await new Promise((resolve) => setTimeout(resolve, 3 * o.periodMs));
      await new Promise((resolve) => setImmediate(resolve));
    },
    resources: async () => {
      const grown: string[] = [];
      for (const [type, n] of handleCounts()) {
        for (let i = baseline.get(type) ?? 0; i < n; i++) grown.push(type);
      }
      return grown;
    },
    dispose: async () => {
      await o.source.close().catch(() => undefined);
      await o.disposeRemote?.().catch(() => undefined);
    },
  };
}
