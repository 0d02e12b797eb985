/**
 * One simulated LAN host for the discovery benchmark: on command, starts `count`
 * zmesh nodes with mDNS discovery in this process, and reports when every one of them
 * has `expect` peers up. Driven over IPC by bench/discovery.ts.
 *
 *   {start: {names, expect, address}} -> {converged: {at}}
 *   {join:  {name, target, address}}  -> {joined: {at}}   (one node, then one request)
 *   {watch: {nodeId}}                 -> {watching: true} once every local node has it up,
 *                                        then {down: {at}} once every local node saw it down
 *   {status: true}                    -> {status: [...]}   (per node: peers up, links, mDNS counters)
 */
import { createNode, type MeshNode } from '../../transport/index.js';

type Msg =
  | { start: { names: string[]; expect: number; address: string } }
  | { join: { name: string; target: string; address: string } }
  | { watch: { nodeId: string } }
  | { status: true };

const nodes: MeshNode[] = [];
const send = (m: unknown): void => { process.send?.(m); };

/** Peers the node can use: up, or suspect (late heartbeats; it returns to up silently). */
const live = (n: MeshNode): number => n.peers().filter((p) => p.state === 'up' || p.state === 'suspect').length;

function make(name: string, address: string): MeshNode {
  const node = createNode({ insecure: true, service: name, nodeId: name, interface: address, discovery: 'mdns', requestTimeoutMs: 10_000 });
  node.handle('echo', (p) => p);
  nodes.push(node);
  return node;
}

process.on('message', (m: Msg) => {
  void (async () => {
    if ('start' in m) {
      const { names, expect, address } = m.start;
      let pending = names.length;
      const started = names.map((n) => make(n, address));
      for (const node of started) {
        const off = node.on('peer:up', () => {
          if (live(node) < expect) return;
          off();
          if (--pending === 0) send({ converged: { at: Date.now() } });
        });
      }
      await Promise.all(started.map((n) => n.start()));
    } else if ('join' in m) {
      const node = make(m.join.name, m.join.address);
      await node.start();
      await node.waitForService(m.join.target, { timeoutMs: 10_000 });
      await node.request(m.join.target, 'echo', Buffer.from('first'));
      send({ joined: { at: Date.now() } });
    } else if ('status' in m) {
      send({ status: nodes.map((n) => ({
        id: n.id, up: live(n), links: n.peers().length,
        notUp: n.peers().filter((p) => p.state !== 'up' && p.state !== 'suspect').map((p) => `${p.nodeId}:${p.state}`), mdns: n.stats().discovery['mdns'],
      })) });
    } else if ('watch' in m) {
      const id = m.watch.nodeId;
      const has = (n: MeshNode): boolean => n.peers().some((p) => p.nodeId === id && (p.state === 'up' || p.state === 'suspect'));
      await Promise.all(nodes.map((node) => has(node) ? undefined : new Promise<void>((resolve) => {
        const off = node.on('peer:up', ({ peer }) => { if (peer.nodeId === id) { off(); resolve(); } });
      })));
      let pending = nodes.length;
      for (const node of nodes) {
        const off = node.on('peer:down', ({ peer }) => {
          if (peer.nodeId !== id) return;
          off();
          if (--pending === 0) send({ down: { at: Date.now() } });
        });
      }
      send({ watching: true });
    }
  })().catch((err: unknown) => send({ error: String(err) }));
});

process.on('SIGTERM', () => {
  void Promise.all(nodes.map((n) => n.close())).then(() => process.disconnect?.());
});
send({ loaded: true });
