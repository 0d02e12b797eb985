/**
 * The CLI's metrics: `zmesh node --metrics-port` (and ZMESH_METRICS_PORT), the ready
 * line's URL, the commerce services' readiness dependencies, and `zmesh demo --metrics`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseProm, value } from './helpers/prom-text.js';

const CLI = fileURLToPath(new URL('../dist/nodes/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'zmesh-metrics-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const running: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => {
    if (c.exitCode !== null || c.signalCode !== null) return undefined;
    c.kill('SIGKILL');
    return new Promise((r) => c.once('exit', r));
  }));
});

/** `zmesh node ...` until the test ends; resolves with its ready line (JSON). */
async function node(args: string[], env: Record<string, string> = {}): Promise<{ ready: Record<string, unknown>; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'node', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  running.push(child);
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    void exited.then((code) => reject(new Error(`zmesh node exited ${code} before it was ready: ${stderr.join('\n')}`)));
  });
  return { ready: JSON.parse(first) as Record<string, unknown>, stop: () => { child.kill('SIGTERM'); return exited; } };
}

const local = ['--insecure', '--json', '--interface', '127.0.0.1', '--discovery', 'static'];

describe('metrics cli', () => {
  it('metrics cli - zmesh node --metrics-port 0 names its metrics URL in the ready line, and serves it', async () => {
    const n = await node(['product', ...local, '--data', join(dir, 'product'), '--metrics-port', '0']);
    const url = n.ready['metrics'] as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const s = parseProm(await res.text());
    expect(value(s, 'zmesh_node_info', { service: 'product', node_id: n.ready['nodeId'] as string })).toBe(1);
    // product depends on nobody: ready once started.
    expect((await fetch(url.replace(/\/metrics$/, '/readyz'))).status).toBe(200);
    expect(await n.stop()).toBe(0);
  });

  it('metrics cli - ZMESH_METRICS_PORT works like the flag; cart is not ready until order and product are up', async () => {
    const n = await node(['cart', ...local, '--data', join(dir, 'cart')], { ZMESH_METRICS_PORT: '0' });
    const ready = (n.ready['metrics'] as string).replace(/\/metrics$/, '/readyz');
    const r = await fetch(ready);
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ status: 'not ready', failed: ['service:order', 'service:product'] });
    expect(await n.stop()).toBe(0);
  });

  it('metrics cli - a bad metrics port is refused before anything runs, naming where it came from', () => {
    const r = spawnSync(process.execPath, [CLI, 'node', 'product', ...local, '--data', join(dir, 'bad')], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ZMESH_METRICS_PORT: '70000' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('ZMESH_METRICS_PORT must be an integer 0..65535');
  });

  it('metrics cli - --metrics-host without a port is refused rather than ignored', () => {
    const r = spawnSync(process.execPath, [CLI, 'node', 'product', ...local, '--data', join(dir, 'bad'), '--metrics-host', '0.0.0.0'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--metrics-host needs --metrics-port');
  });

  it('summaries cli - --summary-interval 200 makes zmesh node speak to zmesh top at that pace, 0 silences it, and 50 is refused', async () => {
    const top = (router: string): { status: number | null; stdout: string; stderr: string } => spawnSync(process.execPath,
      [CLI, 'top', '--insecure', '--interface', '127.0.0.1', '--peer', router, '--once', '--json'], { encoding: 'utf8', timeout: 30_000 });
    const fast = await node(['product', ...local, '--data', join(dir, 'fast'), '--summary-interval', '200']);
    const seen = top(fast.ready['router'] as string);
    expect(seen.status, seen.stderr).toBe(0);
    expect((JSON.parse(seen.stdout) as { nodes: Array<{ service: string; intervalMs: number }> }).nodes)
      .toEqual([expect.objectContaining({ service: 'product', intervalMs: expect.any(Number) })]);
    const [summary] = (JSON.parse(seen.stdout) as { nodes: Array<{ intervalMs: number }> }).nodes;
    expect(summary!.intervalMs).toBeLessThan(1_000);
    expect(await fast.stop()).toBe(0);

    const quiet = await node(['product', ...local, '--data', join(dir, 'quiet')], { ZMESH_SUMMARY_INTERVAL_MS: '0' });
    const none = top(quiet.ready['router'] as string);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/none sent a summary/);
    expect(await quiet.stop()).toBe(0);

    const bad = spawnSync(process.execPath, [CLI, 'node', 'product', ...local, '--data', join(dir, 'bad'), '--summary-interval', '50'], { encoding: 'utf8', timeout: 20_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/summary-interval/);
  });

  it('metrics cli - zmesh demo --metrics prints each service\'s metrics URL and puts them in the JSON', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo', '--orders', '8', '--static', '--insecure', '--metrics', '--json', '--log-level', 'silent'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: boolean; metrics: Record<string, string> };
    expect(summary.ok).toBe(true);
    expect(Object.keys(summary.metrics).sort()).toEqual(['cart', 'order', 'product']);
    for (const [service, url] of Object.entries(summary.metrics)) {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(r.stderr).toContain(`zmesh demo: ${service} metrics at ${url}`);
    }
  });
});
