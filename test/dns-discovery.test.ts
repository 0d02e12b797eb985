/**
 * DNS-SD over unicast DNS (transport/discovery/dns.ts) against a real DNS server:
 * dnsmasq, serving only the records each test gives it.
 *
 * The contract suite and the record rules run the source in this process, with
 * dnsmasq on 127.0.0.1. The mesh test puts nodes on two subnets of the virtual LAN,
 * joined by a router namespace, with dnsmasq on a third host:
 *
 *   subnet 10.77.0.0/24: h1 alpha, h2 beta, h3 dnsmasq ─┐
 *                                                       rt (10.77.0.254 / 10.77.1.254)
 *   subnet 10.77.1.0/24: h4 gamma, h5 delta ────────────┘
 *
 * DNS joins them into one mesh; mDNS on the same LAN stays per subnet.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { dnsDiscovery, type DnsDiscovery } from '../transport/discovery/dns.js';
import { createNode, type MeshNode } from '../transport/index.js';
import { resolveOptions } from '../transport/options.js';
import type { Candidate, LocalNode } from '../transport/types.js';
import { discoveryContract, inProcessHarness } from './helpers/discovery-contract.js';
import { dnsSdRecords, killAllDnsmasq, startDnsmasq, type Dnsmasq, type DnsRecords } from './helpers/dnsmasq.js';
import { killAll, NodeProc } from './helpers/proc.js';
import { testAuthority } from './helpers/trust.js';
import { createLan, type Lan } from './helpers/vlan.js';

const DOMAIN = 'mesh.test';
const QUERY_INTERVAL_MS = 200;
let harnesses = 0;

const localNode = (nodeId: string, routerPort: number, mesh = 'default'): LocalNode => ({
  nodeId, service: 'contract', mesh, routerPort, pubPort: routerPort + 1, protocolVersion: 1,
});

/** A port free on 127.0.0.1 right now for UDP and TCP both (dnsmasq binds the two;
 *  a TCP port taken by another test's socket made it exit). */
async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const tcp = createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const { port } = tcp.address() as AddressInfo;
    const udp = createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    if (free || attempt >= 20) return port;
  }
}

/** dnsmasq on 127.0.0.1; a port that another test took meanwhile is tried again with
 *  another (a few times). */
async function loopbackDns(records: DnsRecords, domain = DOMAIN): Promise<Dnsmasq> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDnsmasq({ domain, records, address: '127.0.0.1', port: await freePort() });
    } catch (err) {
      if (attempt >= 5 || !/Address already in use/.test((err as Error).message)) throw err;
    }
  }
}

/** Collects a source's sink calls. */
function recorder(): { calls: Array<{ type: 'propose' | 'withdraw'; candidate: Candidate }>; sink: { propose(c: Candidate): void; withdraw(c: Candidate): void } } {
  const calls: Array<{ type: 'propose' | 'withdraw'; candidate: Candidate }> = [];
  return { calls, sink: { propose: (candidate) => calls.push({ type: 'propose', candidate }), withdraw: (candidate) => calls.push({ type: 'withdraw', candidate }) } };
}

const servers = new Set<Dnsmasq>();
const sources = new Set<DnsDiscovery>();
afterEach(async () => {
  for (const s of sources) await s.close();
  sources.clear();
  for (const s of servers) await s.stop();
  servers.clear();
});
afterAll(() => killAllDnsmasq());

// ---------------------------------------------------------------- contract

discoveryContract('dns', async () => {
  const n = ++harnesses;
  const local = localNode(`dns-local-${n}`, 41_000 + 2 * n);
  const remote = { host: '127.0.0.1', routerPort: 40_000 + 2 * n, nodeId: `dns-remote-${n}` };
  // The zone lists the local node too: "never names the local node" is put to the test.
  const dns = await loopbackDns(dnsSdRecords(DOMAIN, [
    { nodeId: remote.nodeId, service: 'contract', address: remote.host, routerPort: remote.routerPort, pubPort: remote.routerPort + 1 },
    { nodeId: local.nodeId, service: 'contract', address: '127.0.0.1', routerPort: local.routerPort, pubPort: local.routerPort + 1 },
  ]));
  return inProcessHarness({
    source: dnsDiscovery({ domain: DOMAIN, servers: [dns.server], queryIntervalMs: QUERY_INTERVAL_MS }),
    local, localHost: '127.0.0.1', remote, periodMs: QUERY_INTERVAL_MS, findTimeoutMs: 5_000,
    disposeRemote: () => dns.stop(),
  });
});

// ---------------------------------------------------------------- records

describe('dns discovery', () => {
  const start = async (records: DnsRecords, local: LocalNode, domain = DOMAIN): Promise<{ source: DnsDiscovery; calls: ReturnType<typeof recorder>['calls'] }> => {
    const dns = await loopbackDns(records, domain);
    servers.add(dns);
    const source = dnsDiscovery({ domain, servers: [dns.server], queryIntervalMs: QUERY_INTERVAL_MS, staleAfterMs: 3 * QUERY_INTERVAL_MS });
    sources.add(source);
    const { calls, sink } = recorder();
    await source.start(local, sink, new AbortController().signal);
    return { source, calls };
  };

  it('dns discovery - PTR, SRV and TXT make a candidate with the node id and key; foreign meshes, self and bad TXT are ignored', async () => {
    const key = 'ab'.repeat(32);
    const records = dnsSdRecords(DOMAIN, [
      { nodeId: 'alpha-1', service: 'alpha', address: '10.1.2.3', routerPort: 7000, pubPort: 7001, publicKey: key },
      { nodeId: 'other-1', service: 'other', address: '10.1.2.4', routerPort: 7000, pubPort: 7001, mesh: 'elsewhere' },
      { nodeId: 'me-1', service: 'me', address: '10.1.2.5', routerPort: 7000, pubPort: 7001 },
    ]);
    // One more instance whose TXT has no protocol version.
    records.ptr![0]!.targets.push(`broken._zmesh._tcp.${DOMAIN}`);
    records.srv!.push({ name: `broken._zmesh._tcp.${DOMAIN}`, target: `alpha-1.${DOMAIN}`, port: 7100 });
    records.txt!.push({ name: `broken._zmesh._tcp.${DOMAIN}`, strings: ['id=broken', 'svc=x'] });
    const { source, calls } = await start(records, { ...localNode('me-1', 7000), service: 'me' });
    await vi.waitFor(() => expect(source.stats().browses).toBeGreaterThanOrEqual(2), { timeout: 5_000, interval: 20 });
    const proposed = calls.filter((c) => c.type === 'propose').map((c) => c.candidate);
    expect(proposed.length).toBeGreaterThan(0);
    for (const c of proposed) expect(c).toEqual({ endpoints: ['tcp://10.1.2.3:7000'], nodeId: 'alpha-1', source: 'dns', publicKey: key });
    const { ignored } = source.stats();
    expect(ignored.foreignMesh).toBeGreaterThanOrEqual(1);
    expect(ignored.self).toBeGreaterThanOrEqual(1);
    expect(ignored.badTxt).toBeGreaterThanOrEqual(1);
    expect(source.stats().failures).toBe(0);
  });

  it('dns discovery - an instance published with PTR and SRV but no TXT is proposed by its endpoint alone', async () => {
    const instance = `plain._zmesh._tcp.${DOMAIN}`;
    const { source, calls } = await start({
      ptr: [{ name: `_zmesh._tcp.${DOMAIN}`, targets: [instance] }],
      srv: [{ name: instance, target: `plain.${DOMAIN}`, port: 7200 }],
      hosts: [{ name: `plain.${DOMAIN}`, address: '10.1.2.9' }],
    }, localNode('me-4', 7000));
    await vi.waitFor(() => expect(source.stats().browses).toBeGreaterThanOrEqual(2), { timeout: 5_000, interval: 20 });
    const proposed = calls.filter((c) => c.type === 'propose').map((c) => c.candidate);
    expect(proposed.length).toBeGreaterThan(0);
    for (const c of proposed) expect(c).toEqual({ endpoints: ['tcp://10.1.2.9:7200'], source: 'dns' });
  });

  it('dns discovery - a Kubernetes headless service (SRV at _zmesh._tcp.<svc>.<ns>.svc.cluster.local, no PTR, no TXT) proposes every pod but this one', async () => {
    const domain = 'zmesh.prod.svc.cluster.local';
    const pods = ['10.244.1.7', '10.244.2.9', '127.0.0.1'];
    const { source, calls } = await start({
      srv: pods.map((a, i) => ({ name: `_zmesh._tcp.${domain}`, target: `pod-${i}.${domain}`, port: 5555 })),
      hosts: pods.map((address, i) => ({ name: `pod-${i}.${domain}`, address })),
    }, localNode('me-2', 5555), domain);
    await vi.waitFor(() => expect(source.stats().browses).toBeGreaterThanOrEqual(2), { timeout: 5_000, interval: 20 });
    const endpoints = new Set(calls.filter((c) => c.type === 'propose').flatMap((c) => c.candidate.endpoints));
    // 127.0.0.1:5555 is this node (one of its addresses, its ROUTER port).
    expect([...endpoints].sort()).toEqual(['tcp://10.244.1.7:5555', 'tcp://10.244.2.9:5555']);
    for (const c of calls) expect(c.candidate.nodeId).toBeUndefined();
    expect(source.stats().ignored.self).toBeGreaterThanOrEqual(1);
  });

  it('dns discovery - an instance gone from the zone is withdrawn once stale; a dead server fails rounds and withdraws only after staleAfterMs', async () => {
    const { source, calls } = await start(dnsSdRecords(DOMAIN, [
      { nodeId: 'alpha-3', service: 'alpha', address: '10.1.2.3', routerPort: 7000, pubPort: 7001 },
    ]), localNode('me-3', 7000));
    await vi.waitFor(() => expect(calls.some((c) => c.type === 'propose')).toBe(true), { timeout: 5_000, interval: 20 });
    for (const s of servers) await s.stop();
    await vi.waitFor(() => expect(source.stats().failures).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 20 });
    await vi.waitFor(() => expect(calls.at(-1)).toEqual({ type: 'withdraw', candidate: { endpoints: ['tcp://10.1.2.3:7000'], nodeId: 'alpha-3', source: 'dns' } }), { timeout: 15_000, interval: 20 });
    expect(source.stats().withdrawn).toBe(1);
  });

  it('dns discovery - secure nodes find each other by the key in TXT, once the DNS server comes up', async () => {
    const authority = testAuthority();
    const nodes: MeshNode[] = [];
    try {
      // The nodes start first, on a server port that nothing answers yet: the rounds
      // fail (counted), then succeed once dnsmasq serves the records.
      const port = await freePort();
      for (const service of ['alpha', 'beta']) {
        const n = createNode({
          service, host: '127.0.0.1', security: authority.issue(service).security,
          dns: { domain: DOMAIN, servers: [`127.0.0.1:${port}`], queryIntervalMs: QUERY_INTERVAL_MS, timeoutMs: 200 },
        });
        nodes.push(n);
        await n.start();
      }
      const [alpha, beta] = nodes as [MeshNode, MeshNode];
      await vi.waitFor(() => expect((alpha.stats().discovery['dns'] as { failures: number }).failures).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 20 });
      const dns = await startDnsmasq({
        domain: DOMAIN, address: '127.0.0.1', port,
        records: dnsSdRecords(DOMAIN, nodes.map((n) => ({ nodeId: n.id, service: n.service, address: '127.0.0.1', routerPort: n.endpoints.routerPort, pubPort: n.endpoints.pubPort, publicKey: n.publicKey! }))),
      });
      servers.add(dns);
      await alpha.waitForService('beta', { timeoutMs: 10_000 });
      await beta.waitForService('alpha', { timeoutMs: 10_000 });
      expect(alpha.peers().map((p) => p.nodeId)).toEqual([beta.id]);
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      authority.cleanup();
    }
  });

  it('dns discovery - bad options are refused by name', () => {
    const bad: Array<[unknown, string]> = [
      [{ domain: '' }, 'dns.domain'],
      [{ domain: 'bad domain' }, 'dns.domain'],
      [{ domain: 'mesh.test', servers: ['10.0.0.1:99999'] }, 'dns.servers[0]'],
      [{ domain: 'mesh.test', servers: ['dns.example'] }, 'dns.servers[0]'],
      [{ domain: 'mesh.test', servers: [] }, 'dns.servers'],
      [{ domain: 'mesh.test', queryIntervalMs: 0 }, 'dns.queryIntervalMs'],
      [{ domain: 'mesh.test', queryIntervalMs: 5_000, staleAfterMs: 1_000 }, 'dns.staleAfterMs'],
      [{ domain: 'mesh.test', resolver: 'x' }, 'dns.resolver'],
    ];
    for (const [dns, name] of bad) {
      expect(() => resolveOptions({ service: 'svc', insecure: true, dns } as never), JSON.stringify(dns))
        .toThrow(expect.objectContaining({ code: 'ZMESH_ERR_INVALID_ARGUMENT', message: expect.stringContaining(name) }));
    }
    expect(() => resolveOptions({ service: 'svc', insecure: true, discovery: 'dns' })).toThrow(expect.objectContaining({ code: 'ZMESH_ERR_INVALID_ARGUMENT', message: expect.stringContaining('dns') }));
    const ok = resolveOptions({ service: 'svc', insecure: true, dns: { domain: 'mesh.test.', servers: ['10.0.0.1', '10.0.0.2:5353', '[::1]:53'] } });
    expect(ok.discovery).toBe('dns');
    expect(ok.mdns).toBeUndefined();
    expect(ok.dns).toMatchObject({ domain: 'mesh.test', servers: ['10.0.0.1', '10.0.0.2:5353', '[::1]:53'] });
  });
});

// ---------------------------------------------------------------- two subnets

describe('dns discovery on two subnets', () => {
  let lan: Lan | undefined;
  afterEach(async () => {
    await killAll();
    await killAllDnsmasq();
    lan?.destroy();
    lan = undefined;
  });

  const ROUTER_PORT = 7000;
  const PUB_PORT = 7001;
  const FAST = { heartbeatIntervalMs: 200, suspectAfterMs: 600, deadAfterMs: 1_000 };

  it('dns discovery on two subnets - nodes on both subnets joined by a router form one mesh through DNS-SD, while mDNS stays per subnet', async () => {
    lan = createLan({ subnets: 2, hosts: [3, 2] });
    const [h1, h2, h3, h4, h5] = lan.hosts as [typeof lan.hosts[0], typeof lan.hosts[0], typeof lan.hosts[0], typeof lan.hosts[0], typeof lan.hosts[0]];
    expect([h1.address, h2.address, h3.address, h4.address, h5.address]).toEqual(['10.77.0.1', '10.77.0.2', '10.77.0.3', '10.77.1.1', '10.77.1.2']);
    const nodes = [
      { nodeId: 'alpha-1', service: 'alpha', host: h1 }, { nodeId: 'beta-1', service: 'beta', host: h2 },
      { nodeId: 'gamma-1', service: 'gamma', host: h4 }, { nodeId: 'delta-1', service: 'delta', host: h5 },
    ];
    const dns = await startDnsmasq({
      domain: DOMAIN, address: h3.address, port: 53, on: { lan, host: h3 },
      records: dnsSdRecords(DOMAIN, nodes.map((n) => ({ nodeId: n.nodeId, service: n.service, address: n.host.address, routerPort: ROUTER_PORT, pubPort: PUB_PORT }))),
    });
    const procs = await Promise.all(nodes.map((n) => NodeProc.start({
      service: n.service, nodeId: n.nodeId, interface: n.host.address, routerPort: ROUTER_PORT, pubPort: PUB_PORT, ...FAST,
      discovery: 'dns', dns: { domain: DOMAIN, servers: [dns.server], queryIntervalMs: 500 },
    }, { lan: lan!, host: n.host })));
    await vi.waitFor(() => {
      for (const p of procs) expect(p.peersUp.size, p.nodeId).toBe(3);
    }, { timeout: 15_000, interval: 50 });
    // Across the router, both ways.
    expect(await procs[0]!.request('delta', 'whoami', '')).toBe('delta-1');
    expect(await procs[2]!.request('beta', 'echo', 'via the router')).toBe('via the router');
    const peers = await procs[3]!.peers();
    expect(peers.find((p) => p.nodeId === 'alpha-1')?.endpoint).toBe(`tcp://${h1.address}:${ROUTER_PORT}`);
    await Promise.all(procs.map((p) => p.close()));

    // The same hosts with mDNS only: each subnet is a mesh of its own.
    const mdns = await Promise.all(nodes.map((n) => NodeProc.start({
      service: n.service, nodeId: `${n.nodeId}-mdns`, interface: n.host.address, ...FAST,
      discovery: 'mdns', mdns: { queryIntervalMs: 200, staleAfterMs: 2_000 },
    }, { lan: lan!, host: n.host })));
    await vi.waitFor(() => {
      expect([...mdns[0]!.peersUp]).toEqual(['beta-1-mdns']);
      expect([...mdns[2]!.peersUp]).toEqual(['delta-1-mdns']);
    }, { timeout: 10_000, interval: 50 });
    // Absence cannot be polled for: several query periods pass, and still nothing
    // crossed the router.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    for (const p of mdns) expect(p.peersUp.size, p.nodeId).toBe(1);
    expect(await mdns[0]!.request('gamma', 'echo', 'x', 500).catch((e: { code?: string }) => e.code)).toBe('ZMESH_ERR_NO_ROUTE');
  });
});

// ---------------------------------------------------------------- the CLI

describe('dns discovery from the CLI', () => {
  const CLI = fileURLToPath(new URL('../dist/nodes/cli/main.js', import.meta.url));
  const children: ChildProcess[] = [];
  let dir: string | undefined;
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => {
      if (c.exitCode !== null || c.signalCode !== null) return undefined;
      c.kill('SIGKILL');
      return new Promise((r) => c.once('exit', r));
    }));
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it.each([
    [['--discovery', 'dns'], '--discovery dns needs --dns-domain'],
    [['--dns-domain', 'bad domain!'], '--dns-domain must be a DNS domain'],
    [['--dns-domain', 'mesh.test', '--dns-server', 'resolver.example'], '--dns-server must be an IP address'],
    [['--dns-domain', 'mesh.test', '--dns-server', '10.0.0.1:70000'], '--dns-server must be an IP address'],
    [['--dns-server', '10.0.0.1'], '--dns-server needs --dns-domain'],
    [['--dns-domain'], '--dns-domain'],
  ])('cli - node with bad DNS arguments %j exits 2 with a clear message', (args, says) => {
    const r = spawnSync(process.execPath, [CLI, 'node', 'order', '--insecure', ...args], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(says);
  });

  it('cli - zmesh node --discovery dns --dns-domain D --dns-server IP:PORT finds a node that the DNS server publishes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'zmesh-dns-cli-'));
    const start = async (args: string[]): Promise<{ ready: { nodeId: string; router: string; pub: string }; stderr: string[] }> => {
      const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      const stderr: string[] = [];
      createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`zmesh ${args.join(' ')} exited ${code}: ${stderr.join('\n')}`)));
      });
      return { ready: JSON.parse(line) as { nodeId: string; router: string; pub: string }, stderr };
    };
    const loopback = ['--insecure', '--json', '--interface', '127.0.0.1', '--log-level', 'info'];
    const product = await start(['node', 'product', '--discovery', 'static', ...loopback]);
    const port = (endpoint: string): number => Number(/:(\d+)$/.exec(endpoint)![1]);
    const dns = await loopbackDns(dnsSdRecords(DOMAIN, [{
      nodeId: product.ready.nodeId, service: 'product', address: '127.0.0.1', routerPort: port(product.ready.router), pubPort: port(product.ready.pub),
    }]));
    servers.add(dns);
    const order = await start(['node', 'order', '--discovery', 'dns', '--dns-domain', DOMAIN, '--dns-server', dns.server, ...loopback]);
    const upLine = (lines: string[], peer: string): boolean => lines.some((l) => l.includes('"msg":"peer.joined"') && l.includes(`"nodeId":"${peer}"`));
    await vi.waitFor(() => {
      expect(upLine(order.stderr, product.ready.nodeId), order.stderr.join('\n')).toBe(true);
      // Product was given nothing: it learned order from order's hello.
      expect(upLine(product.stderr, order.ready.nodeId), product.stderr.join('\n')).toBe(true);
    }, { timeout: 15_000, interval: 50 });
  });
});
