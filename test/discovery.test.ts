/**
 * Zero-config discovery on the virtual LAN: every node is a separate process in its
 * own network namespace, with real mDNS packets on a bridge that only they share.
 *
 *   ns h1: alpha ─┐
 *   ns h2: beta  ─┼── br0 (ns sw) ── h4: other mesh / liar / zmesh peers
 *   ns h3: gamma ─┘
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTHORITY_PUB_FILE, saveNodeKeys } from '../transport/index.js';
import { testAuthority, type TestAuthority } from './helpers/trust.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NodeProc, killAll } from './helpers/proc.js';
import { dist } from './helpers/paths.js';
import { requireRoot } from './helpers/root.js';
import { createLan, type Lan } from './helpers/vlan.js';

let lan: Lan;
beforeEach((ctx) => {
  requireRoot(ctx, 'the virtual LAN (network namespaces)');
  lan = createLan({ hosts: 4 });
});
afterEach(async () => {
  await killAll();
  // Undefined when the test was skipped for want of root.
  (lan as Lan | undefined)?.destroy();
});

const mdnsNode = (service: string, hostIndex: number, extra: Record<string, unknown> = {}) => {
  const host = lan.hosts[hostIndex]!;
  return NodeProc.start({ service, discovery: 'mdns', interface: host.address, ...extra }, { lan, host });
};

async function threeNodes(): Promise<NodeProc[]> {
  const nodes = await Promise.all([mdnsNode('alpha', 0), mdnsNode('beta', 1), mdnsNode('gamma', 2)]);
  await vi.waitFor(() => { for (const n of nodes) expect(n.peersUp.size).toBe(2); }, { timeout: 10_000, interval: 50 });
  return nodes;
}

describe('discovery', () => {
  it('discovery - three nodes find each other and exchange requests and events with no endpoints configured', async () => {
    const [alpha, beta, gamma] = await threeNodes();
    expect(await alpha!.request('beta', 'echo', 'a->b')).toBe('a->b');
    expect(await gamma!.request('alpha', 'whoami', '')).toBe(alpha!.nodeId);
    await gamma!.subscribe('news.');
    await alpha!.publish('news.lan', 'hello');
    await vi.waitFor(() => expect(gamma!.events).toEqual([{ topic: 'news.lan', payload: 'hello', from: alpha!.nodeId }]));
    const peers = await beta!.peers();
    expect(peers.map((p) => p.endpoint).sort()).toEqual([`tcp://${lan.hosts[0]!.address}:${alpha!.endpoints.routerPort}`, `tcp://${lan.hosts[2]!.address}:${gamma!.endpoints.routerPort}`].sort());
  });

  it('discovery - a node killed with SIGKILL is marked down within 3 s, and comes back on new ports', async () => {
    const [alpha, beta, gamma] = await threeNodes();
    const killedAt = Date.now();
    gamma!.kill('SIGKILL');
    await vi.waitFor(() => {
      expect(alpha!.downAt.has(gamma!.nodeId)).toBe(true);
      expect(beta!.downAt.has(gamma!.nodeId)).toBe(true);
    }, { timeout: 5_000, interval: 20 });
    expect(alpha!.downAt.get(gamma!.nodeId)! - killedAt).toBeLessThan(3_000);
    expect(beta!.downAt.get(gamma!.nodeId)! - killedAt).toBeLessThan(3_000);
    await expect(alpha!.request('gamma', 'echo', 'x')).rejects.toMatchObject({ code: 'ZMESH_ERR_NO_ROUTE' });

    // Same node id, same host, new (ephemeral) ports: rediscovered, traffic resumes.
    const again = await mdnsNode('gamma', 2, { nodeId: gamma!.nodeId });
    expect(again.endpoints.routerPort).not.toBe(gamma!.endpoints.routerPort);
    await vi.waitFor(() => {
      expect(alpha!.peersUp.has(gamma!.nodeId)).toBe(true);
      expect(beta!.peersUp.has(gamma!.nodeId)).toBe(true);
    }, { timeout: 10_000, interval: 50 });
    expect(await alpha!.request('gamma', 'echo', 'back')).toBe('back');
    const link = (await alpha!.peers()).find((p) => p.nodeId === gamma!.nodeId);
    expect(link?.endpoint).toBe(`tcp://${lan.hosts[2]!.address}:${again.endpoints.routerPort}`);
  });

  it('discovery - the record of a killed node goes stale and its link is dropped', async () => {
    const fast = { mdns: { queryIntervalMs: 300, staleAfterMs: 1_500 } };
    const [alpha, beta] = await Promise.all([mdnsNode('alpha', 0, fast), mdnsNode('beta', 1, fast)]);
    await vi.waitFor(() => expect(alpha.peersUp.has(beta.nodeId)).toBe(true), { timeout: 10_000 });
    beta.kill('SIGKILL'); // no goodbye packet
    await vi.waitFor(async () => {
      const s = (await alpha.stats()).discovery['mdns'] as { withdrawn: number };
      expect(s.withdrawn).toBe(1);
      expect(await alpha.peers()).toEqual([]);
    }, { timeout: 10_000, interval: 200 });
  });

  it('discovery - secure: an impostor advertised by mDNS with a certificate from another authority never becomes a peer', async () => {
    const root = mkdtempSync(join(tmpdir(), 'zmesh-lan-trust-'));
    const real = testAuthority();
    const rogue = testAuthority();
    try {
      let n = 0;
      const files = (ta: TestAuthority, service: string) => {
        const d = join(root, String(++n));
        mkdirSync(d);
        const { security } = ta.issue(service);
        saveNodeKeys(join(d, 'node.key'), security.keys);
        writeFileSync(join(d, 'node.cert'), security.certificate);
        return { key: join(d, 'node.key'), certificate: join(d, 'node.cert'), authority: join(ta.dir, AUTHORITY_PUB_FILE), audit: join(d, 'audit.jsonl') };
      };
      const alphaFiles = files(real, 'alpha');
      const [alpha, beta] = await Promise.all([mdnsNode('alpha', 0, { credentials: alphaFiles }), mdnsNode('beta', 1, { credentials: files(real, 'beta') })]);
      const impostor = await mdnsNode('beta', 2, { credentials: files(rogue, 'beta') });
      await vi.waitFor(() => expect(alpha.peersUp.has(beta.nodeId)).toBe(true), { timeout: 10_000 });
      // alpha saw the impostor's record, dialled it, and refused its certificate.
      await vi.waitFor(() => {
        const lines = existsSync(alphaFiles.audit) ? readFileSync(alphaFiles.audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; reason?: string; peer: { nodeId?: string } }) : [];
        expect(lines.some((l) => l.event === 'handshake.rejected' && l.reason === 'unknown-authority' && l.peer.nodeId === impostor.nodeId)).toBe(true);
      }, { timeout: 10_000, interval: 100 });
      expect(alpha.peersUp.has(impostor.nodeId)).toBe(false);
      expect(impostor.peersUp.size).toBe(0);
      for (let i = 0; i < 10; i++) expect(await alpha.request('beta', 'whoami', '')).toBe(beta.nodeId);
    } finally {
      real.cleanup();
      rogue.cleanup();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('discovery - a node of another mesh is ignored', async () => {
    const [alpha, beta] = await Promise.all([mdnsNode('alpha', 0), mdnsNode('beta', 1)]);
    const stranger = await mdnsNode('beta', 2, { mesh: 'elsewhere' });
    // Synchronise on alpha having seen (and ignored) the stranger's record.
    await vi.waitFor(async () => {
      const s = (await alpha.stats()).discovery['mdns'] as { ignored: { foreignMesh: number } };
      expect(s.ignored.foreignMesh).toBeGreaterThan(0);
    }, { timeout: 10_000, interval: 100 });
    await vi.waitFor(() => expect(alpha.peersUp.has(beta.nodeId)).toBe(true), { timeout: 10_000 });
    expect(alpha.peersUp.has(stranger.nodeId)).toBe(false);
    expect(stranger.peersUp.size).toBe(0);
    // Every beta request from alpha lands on the beta of its own mesh.
    for (let i = 0; i < 10; i++) expect(await alpha.request('beta', 'whoami', '')).toBe(beta.nodeId);
  });

  it('discovery - malformed mDNS answers are ignored without crashing', async () => {
    const [alpha, beta] = await Promise.all([mdnsNode('alpha', 0), mdnsNode('beta', 1)]);
    await vi.waitFor(() => expect(alpha.peersUp.has(beta.nodeId)).toBe(true), { timeout: 10_000 });
    const liar = lan.spawn(lan.hosts[3]!, [process.execPath, dist('test/fixtures/mdns-liar.js'), lan.hosts[3]!.address, '5'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise((resolve) => liar.once('exit', resolve));
    expect(liar.exitCode).toBe(0);
    await vi.waitFor(async () => {
      const s = (await alpha.stats()).discovery['mdns'] as { ignored: Record<string, number> };
      expect(s.ignored['badTxt']).toBeGreaterThan(0);
      expect(s.ignored['versionMismatch']).toBeGreaterThan(0);
    }, { timeout: 5_000, interval: 100 });
    // Still alive and serving; no liar became a peer.
    expect(await alpha.request('beta', 'echo', 'fine')).toBe('fine');
    expect([...alpha.peersUp]).toEqual([beta.nodeId]);
    expect((await alpha.peers()).every((p) => !p.nodeId.startsWith('liar'))).toBe(true);
  });

  it('discovery - zmesh peers lists the nodes of the mesh, with addresses and ports', async () => {
    const nodes = await threeNodes();
    const out = lan.run(lan.hosts[3]!, [process.execPath, dist('nodes/cli/main.js'), 'peers', '--timeout', '2', '--json', '--interface', lan.hosts[3]!.address]);
    const listed = JSON.parse(out) as Array<{ nodeId: string; service: string; addresses: string[]; routerPort: number; pubPort: number }>;
    expect(listed.map((p) => p.service)).toEqual(['alpha', 'beta', 'gamma']);
    nodes.forEach((n, i) => expect(listed[i]).toMatchObject({
      nodeId: n.nodeId, addresses: [lan.hosts[i]!.address], routerPort: n.endpoints.routerPort, pubPort: n.endpoints.pubPort,
    }));
    // Another mesh name shows nothing.
    const none = lan.run(lan.hosts[3]!, [process.execPath, dist('nodes/cli/main.js'), 'peers', '--timeout', '1', '--json', '--mesh', 'nobody']);
    expect(JSON.parse(none)).toEqual([]);
  });

  it('discovery - static mode works with no multicast at all', async () => {
    // Remove the multicast route from every host: mDNS could not work even if tried.
    for (const h of lan.hosts) execFileSync('ip', ['-n', h.ns, 'route', 'del', '224.0.0.0/4']);
    const first = await NodeProc.start({ service: 'alpha', discovery: 'static', interface: lan.hosts[0]!.address }, { lan, host: lan.hosts[0]! });
    const seed = `tcp://${lan.hosts[0]!.address}:${first.endpoints.routerPort}`;
    const others = await Promise.all([1, 2].map((i) => NodeProc.start({ service: `s${i}`, peers: [seed], interface: lan.hosts[i]!.address }, { lan, host: lan.hosts[i]! })));
    await vi.waitFor(() => {
      expect(first.peersUp.size).toBe(2);
      for (const o of others) expect(o.peersUp.has(first.nodeId)).toBe(true);
    }, { timeout: 10_000 });
    expect(await others[0]!.request('alpha', 'echo', 'static')).toBe('static');
    expect(await first.request('s2', 'whoami', '')).toBe(others[1]!.nodeId);
    expect((await first.stats()).discovery).toEqual({});
  });
});
