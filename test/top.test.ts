/**
 * `zmesh top`: the model (staleness, totals, sorting) with made-up times, the ink
 * screen rendered by ink-testing-library, and the command itself as a real process
 * against real nodes: the commerce demo's, and nodes of this process.
 *
 *   zmesh demo --static (product, order, cart, shoppers)  <-- $zmesh/summary --  zmesh top --once --json
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { render } from 'ink-testing-library';
import { createElement as h } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createNode, type MeshNode, type NodeSummary } from '../transport/index.js';
import { GONE_INTERVALS, MeshView, STALE_INTERVALS, type Snapshot } from '../nodes/cli/top/model.js';
import { TopApp, TopScreen, frame, type SummaryFeed } from '../nodes/cli/top/view.js';

const CLI = fileURLToPath(new URL('../dist/nodes/cli/main.js', import.meta.url));

interface Ran { code: number | null; stdout: string; stderr: string }
/** `zmesh <args>` as a child process; this process's event loop keeps running (its
 *  nodes answer meanwhile). Killed at `timeoutMs`. */
function zmesh(args: string[], timeoutMs = 30_000): Promise<Ran> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += String(d); });
  child.stderr.on('data', (d) => { stderr += String(d); });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); }));
}

const nodes: MeshNode[] = [];
const children: Array<ReturnType<typeof spawn>> = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await Promise.all(children.splice(0).map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => { c.once('close', r); c.kill('SIGKILL'); }))));
});

let k = 0;
function summary(o: Partial<NodeSummary> & { service: string }): NodeSummary {
  return {
    nodeId: `${o.service}-${(++k).toString(16).padStart(8, '0')}`, mesh: 'shop', version: '0.1.0', state: 'running', uptimeMs: 3_723_000, intervalMs: 1_000,
    requestsInPerS: 0, requestsOutPerS: 0, handlerP50Ms: 0, handlerP99Ms: 0, errorsPerS: 0, inFlight: 0, outboxDepth: 0, deadLetters: 0,
    durableLag: 0, dropsTotal: 0, rssBytes: 90 * 1024 * 1024, eventLoopP99Ms: 1.2, peersUp: 2, sentMs: 0, eventsLost: 0, ...o,
  };
}

describe('top', () => {
  it('top - a node silent for 3 intervals is stale and out of the totals, gone after 10; a closing one goes after 3', () => {
    const view = new MeshView('shop');
    const cart = summary({ service: 'cart', requestsInPerS: 40, outboxDepth: 2 });
    const order = summary({ service: 'order', requestsInPerS: 10, errorsPerS: 1, deadLetters: 1 });
    const slow = summary({ service: 'product', intervalMs: 2_000, requestsInPerS: 5 });
    view.add(cart, 0);
    view.add(order, 0);
    view.add(slow, 0);
    expect(view.snapshot(1_000).totals).toEqual({ nodes: 3, services: 3, requestsInPerS: 55, requestsOutPerS: 0, errorsPerS: 1, outboxDepth: 2, deadLetters: 1 });
    view.add(cart, STALE_INTERVALS * 1_000);
    // At 3.001 s order (1 s interval) is stale; product (2 s interval) is not yet.
    const s = view.snapshot(STALE_INTERVALS * 1_000 + 1);
    expect(s.nodes.map((r) => [r.service, r.stale])).toEqual([['cart', false], ['order', true], ['product', false]]);
    expect(s.totals).toMatchObject({ nodes: 2, requestsInPerS: 45, deadLetters: 0 });
    expect(view.snapshot(GONE_INTERVALS * 1_000 + 1).nodes.map((r) => r.service)).toEqual(['cart', 'product']);
    view.add({ ...cart, state: 'closing' }, 20_000);
    expect(view.snapshot(20_000 + STALE_INTERVALS * 1_000).nodes.map((r) => r.service)).toEqual(['cart']);
    expect(view.snapshot(20_000 + STALE_INTERVALS * 1_000 + 1).nodes).toEqual([]);
  });

  it('top - a frame shows the mesh totals and one row per node with its figures; a stale one says so', () => {
    const view = new MeshView('shop');
    view.add(summary({ service: 'cart', requestsInPerS: 120.5, requestsOutPerS: 80, handlerP50Ms: 0.42, handlerP99Ms: 12.3, inFlight: 3, outboxDepth: 7 }), 0);
    view.add(summary({ service: 'order', requestsInPerS: 30, errorsPerS: 0.5, deadLetters: 2, durableLag: 11, dropsTotal: 4 }), 0);
    view.add(summary({ service: 'product', requestsInPerS: 9 }), -5_000);
    const { lastFrame, unmount } = render(h(TopScreen, { snapshot: view.snapshot(500), sort: 'service' }));
    const lines = lastFrame()!.split('\n');
    unmount();
    // product is stale: out of the totals. cart's 120.5 req/s shows as 121, the sum as 151.
    expect(lines[0]).toBe('zmesh top  mesh "shop"  nodes 2  services 2');
    expect(lines[1]).toBe('req/s in 151 out 80  errors/s 0.50  outbox 7  dead letters 2');
    // ink-testing-library's terminal is 100 columns: rows are cut there, not wrapped.
    expect(lines[3]).toMatch(/^NODE +SERVICE +STATE +UP +IN\/s +OUT\/s +P50ms +P99ms +ERR\/s +INFL +OUTBOX +DEAD/);
    expect(lines.every((l) => l.length <= 100)).toBe(true);
    const row = (service: string): string[] => lines.find((l) => l.includes(` ${service} `))!.trim().split(/ +/);
    expect(row('cart').slice(1, 12)).toEqual(['cart', 'running', '1h02m', '121', '80', '0.42', '12', '0', '3', '7', '0']);
    expect(row('order').slice(1, 12)).toEqual(['order', 'running', '1h02m', '30', '0', '0', '0', '0.50', '0', '0', '2']);
    expect(row('product').slice(1, 3)).toEqual(['product', 'stale']);
    // A wide terminal (--once renders the same screen) shows every column.
    const wide = frame(view.snapshot(500), 'service', 200).split('\n');
    expect(wide[3]!.trim().split(/ +/)).toEqual(['NODE', 'SERVICE', 'STATE', 'UP', 'IN/s', 'OUT/s', 'P50ms', 'P99ms', 'ERR/s', 'INFL', 'OUTBOX', 'DEAD', 'LAG', 'DROPS', 'RSS', 'LOOP99', 'VERSION']);
    const order = wide.find((l) => l.includes(' order '))!.trim().split(/ +/);
    expect(order.slice(12)).toEqual(['11', '4', '90M', '1.2', '0.1.0']);
  });

  it('top - keys sort the live view (r: by request rate) and q quits it', async () => {
    const view = new MeshView('shop');
    view.add(summary({ service: 'alpha', requestsInPerS: 1 }), Date.now());
    view.add(summary({ service: 'beta', requestsInPerS: 50 }), Date.now());
    const subscribed = new Set<() => void>();
    const feed: SummaryFeed = {
      snapshot: (now, sort): Snapshot => view.snapshot(now, sort),
      subscribe: (f) => { subscribed.add(f); return () => subscribed.delete(f); },
    };
    const app = render(h(TopApp, { feed, sort: 'service' }));
    const order = (): string[] => (app.lastFrame() ?? '').split('\n').filter((l) => /\b(alpha|beta)\b/.test(l)).map((l) => l.split(/ +/)[1]!);
    try {
      expect(order()).toEqual(['alpha', 'beta']);
      await vi.waitFor(() => expect(subscribed.size).toBe(1));
      app.stdin.write('r');
      await vi.waitFor(() => expect(order()).toEqual(['beta', 'alpha']));
      expect(app.lastFrame()).toContain('sorted by rate');
      // A new summary redraws the view.
      view.add(summary({ service: 'gamma', requestsInPerS: 500 }), Date.now());
      for (const f of subscribed) f();
      await vi.waitFor(() => expect(app.lastFrame()).toContain('gamma'));
      app.stdin.write('q');
      // Quitting unmounts the app: its subscription to the feed is released.
      await vi.waitFor(() => expect(subscribed.size).toBe(0));
    } finally {
      app.unmount();
    }
  });

  it('top - --once --json during the commerce demo lists product, cart and order, each with non-zero rates', async () => {
    // Secure, as the demo runs by default; top joins with the demo's "cli" credentials.
    const demo = spawn(process.execPath, [CLI, 'demo', '--static', '--orders', '5000', '--concurrency', '2', '--log-level', 'silent'], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(demo);
    const lines: string[] = [];
    createInterface({ input: demo.stderr! }).on('line', (l) => lines.push(l));
    await vi.waitFor(() => expect(lines.some((l) => l.includes('shoppers competing'))).toBe(true), { timeout: 60_000, interval: 100 });
    const hint = lines.find((l) => l.includes('watch it live: zmesh top '))!;
    const args = hint.slice(hint.indexOf('zmesh top ') + 'zmesh top '.length).split(' ');
    expect(args).toContain('--credentials');
    const r = await zmesh(['top', ...args, '--once', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const snapshot = JSON.parse(r.stdout) as Snapshot;
    expect(snapshot.mesh).toMatch(/^demo-/);
    expect(Math.abs(snapshot.takenAtMs - Date.now())).toBeLessThan(10_000);
    for (const service of ['product', 'cart', 'order']) {
      const row = snapshot.nodes.find((n) => n.service === service);
      expect(row, service).toMatchObject({ state: 'running', stale: false, mesh: snapshot.mesh });
      expect(row!.requestsInPerS, `${service} req/s in`).toBeGreaterThan(0);
    }
    expect(snapshot.nodes.find((n) => n.service === 'cart')!.requestsOutPerS).toBeGreaterThan(0);
    expect(snapshot.totals.services).toBeGreaterThanOrEqual(3);
    expect(snapshot.totals.requestsInPerS).toBeGreaterThan(0);
    // Ctrl-C ends a demo with exit 0 (an operator's decision).
    demo.kill('SIGINT');
    expect(await new Promise((r) => demo.once('close', r))).toBe(0);
  }, 120_000);

  it('top - --once exits 1 when nodes answer but send no summaries, or when no node answers; --json alone is bad usage', async () => {
    const quiet = createNode({ service: 'quiet', insecure: true, host: '127.0.0.1', discovery: 'static', summaryIntervalMs: 0 });
    nodes.push(quiet);
    await quiet.start();
    const none = await zmesh(['top', '--insecure', '--peer', quiet.endpoints.advertised[0]!, '--once', '--json']);
    expect(none.code).toBe(1);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/1 node\(s\) answered .* but none sent a summary .*\(ZMESH_ERR_TIMEOUT\)$/m);
    await quiet.close();
    const nobody = await zmesh(['top', '--insecure', '--peer', quiet.endpoints.advertised[0]!, '--once', '--wait', '1']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/none of the --peer nodes .* answered within 1 s: nothing to show \(ZMESH_ERR_TIMEOUT\)$/m);
    const usage = await zmesh(['top', '--insecure', '--json']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--json needs --once');
  }, 60_000);
});
