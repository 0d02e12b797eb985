/**
 * The composition root: builds every layer of one node from the resolved options and
 * the injected components, and wires them together. Nothing here runs: node.ts owns
 * the lifecycle (bind, read loops, timers, close) and the public façade.
 *
 *   socket/ <- codec/ <- protocol/ <- peers/ <- pubsub/ <- reliable/ <- here
 *
 * Two places need each other, and meet through a closure rather than an import: the
 * peer table implements the client's Routes, and the client routes the answers that
 * arrive on the table's DEALERs.
 */
import type { Logger } from 'pino';
import * as zmq from 'zeromq';
import { createEventBus, type EventBus } from './bus.js';
import { systemClock } from './clock.js';
import type { Envelope } from './codec/envelope.js';
import type { HelloInit } from './codec/control.js';
import { dnsFromSettings } from './discovery/dns.js';
import { mdnsFromSettings } from './discovery/mdns.js';
import { staticDiscovery } from './discovery/static.js';
import { PeerDownError, SecurityError } from './errors.js';
import { silentLogger } from './log.js';
import { fanOut, guardObserver } from './observe.js';
import { NodeSummaries } from './observe/summary.js';
import type { ResolvedOptions } from './options.js';
import { MEMBERS_METHOD, MemberExchange } from './peers/members.js';
import { PeerTable } from './peers/peer-table.js';
import { RequestClient } from './protocol/client.js';
import { Guard } from './protocol/guard.js';
import { dropReporter } from './protocol/drops.js';
import { EnvelopeBuilder } from './protocol/envelopes.js';
import { inbound } from './protocol/inbound.js';
import { PendingRequests } from './protocol/pending.js';
import { RequestServer } from './protocol/server.js';
import { Publisher, toWire } from './pubsub/publisher.js';
import { EventSubscriber } from './pubsub/subscriber.js';
import { ReliableLayer } from './reliable/layer.js';
import { storeReader } from './reliable/gauges.js';
import { SUMMARY_TOPIC } from './names.js';
import type { SendQueue } from './socket/send-queue.js';
import { createAudit, type Audit } from './security/audit.js';
import { keyFingerprint, keyText } from './security/keys.js';
import { TrustPolicy, ZAP_DOMAIN_PUB, ZAP_DOMAIN_ROUTER } from './security/policy.js';
import { SUB_REBUILD_AFTER_MS } from './bounds.js';
import { PubSocket } from './pubsub/pub-socket.js';
import { createPublisher, createRouter, createSubscriber, newContext, sendQueue, type QueueReport, type SocketSecurity } from './socket/sockets.js';
import { lostReporter, type ReportLost } from './reliable/lost.js';
import { Counters } from './stats.js';
import type { Clock, Discovery, NodeComponents } from './types.js';

/** Every part of a node, built and wired. */
export interface NodeParts {
  log: Logger;
  clock: Clock;
  counters: Counters;
  bus: EventBus;
  /** Counts, logs and emits an event a subscription moved past as damaged. */
  reportLost: ReportLost;
  pending: PendingRequests;
  sockets: { router: zmq.Router };
  /** The XPUB, which a subscription flood gets replaced (pubsub/pub-socket.ts). */
  pubSocket: PubSocket;
  queues: { router: SendQueue; pub: SendQueue };
  server: RequestServer;
  client: RequestClient;
  publisher: Publisher;
  subscriber: EventSubscriber;
  table: PeerTable;
  /** Peer exchange (`$members`): learns the mesh's members from every peer. */
  members: MemberExchange;
  /** Present when the node has a store. */
  reliable: ReliableLayer | undefined;
  /** Discovery sources by name, for stats(): "static", "mdns", "dns", "source0", ... */
  sources: Array<[string, Discovery]>;
  /** The periodic summary on "$zmesh/summary"; undefined when off or a light client. */
  summaries: NodeSummaries | undefined;
  /** A secure node's trust state, audit trail and private zmq.Context (for ZAP). */
  trust: { policy: TrustPolicy; audit: Audit; context: zmq.Context; bindsConnections: boolean } | undefined;
}

export function compose(opts: ResolvedOptions, components: NodeComponents, localHello: () => HelloInit): NodeParts {
  const log = (components.logger ?? silentLogger()).child({ component: 'zmesh', node: opts.nodeId });
  const clock = components.clock ?? systemClock;
  // The summaries read parts built below, once the node runs (closures, not copies).
  const storeReading = storeReader(() => reliable);
  const summaries = opts.summaryIntervalMs === 0 ? undefined : new NodeSummaries({
    nodeId: opts.nodeId, service: opts.service, mesh: opts.mesh, intervalMs: opts.summaryIntervalMs, clock, log,
    read: () => ({ stats: counters.snapshot(), peersUp: table!.list().filter((p) => p.state === 'up').length, store: storeReading() }),
    publish: (payload) => publisher!.publishReserved(SUMMARY_TOPIC, payload),
  });
  const observer = guardObserver(fanOut([components.observer, summaries?.observer]), log);
  const counters = new Counters();
  const bus = createEventBus();
  const reportLost = lostReporter(bus, counters, log);
  const drop = dropReporter(counters, log, observer?.dropped);
  const builder = new EnvelopeBuilder(opts.nodeId, opts.service, clock, counters.sentByKind);
  const decode = inbound({ maxPayloadBytes: opts.maxPayloadBytes, counters, drop });
  const report: QueueReport = {
    sent: (n) => { counters.sent += n; counters.batches++; },
    failed: (err, n, queue) => { counters.sendErrors++; log.debug({ err, frames: n, queue }, 'send failed'); },
  };
  const pending = new PendingRequests(counters, observer?.requestSettled);
  let table: PeerTable | undefined;

  // security/: a secure node's credentials and the decisions made on peers'.
  const trust = opts.security === undefined ? undefined : (() => {
    // Without CURVE, libzmq would quietly ignore the key options and talk in clear.
    if (zmq.capability.curve !== true) throw new SecurityError('config', `this libzmq (${zmq.version}) was built without CURVE: a secure node cannot run`);
    const audit = createAudit({ nodeId: opts.nodeId, log, file: opts.security.auditFile, now: () => clock.now() });
    const policy = new TrustPolicy(opts.security, {
      mesh: opts.mesh, service: opts.service, clock, audit,
      evict: (nodeId, reason) => table?.byNode(nodeId)?.markDown(reason),
      warn: (err, message) => log.warn({ err }, message),
    });
    // Binding connections (section 17.4) needs libzmq's draft options; without them
    // every message to a ROUTER is sealed instead.
    return { policy, audit, context: newContext(), bindsConnections: zmq.capability.draft === true };
  })();
  const curve: SocketSecurity | undefined = trust === undefined ? undefined
    : {
      context: trust.context, publicKey: opts.security!.keys.publicKey, secretKey: opts.security!.keys.secretKey,
      bindConnections: trust.bindsConnections,
    };

  // socket/
  const sockets = { router: createRouter(opts.sockets, curve, ZAP_DOMAIN_ROUTER) };
  let publisher: Publisher | undefined;
  const pubSocket = new PubSocket({
    make: () => createPublisher(opts.sockets, curve, ZAP_DOMAIN_PUB),
    onMessage: (f) => publisher!.onSubscription(f),
    onReplaced: () => publisher!.reset(),
    log, bounds: counters.bounds, clock,
  });
  const queues = {
    router: sendQueue('router', opts.sendQueueLimit, (f) => sockets.router.send(f), report),
    pub: sendQueue('publisher', opts.sendQueueLimit, async (batch) => {
      for (const message of toWire(batch)) await pubSocket.send(message);
    }, report),
  };

  // protocol/ (server), pubsub/
  const server = new RequestServer({
    service: opts.service, maxPayloadBytes: opts.maxPayloadBytes, counters, drop, log, builder, inbound: decode, queue: queues.router, localHello,
    ...(observer === undefined ? {} : { settled: observer.handlerSettled }),
    ...(trust === undefined ? {} : { guard: new Guard(trust.policy, trust.audit, drop) }),
  });
  publisher = new Publisher({ builder, queue: queues.pub, counters, drop, topics: () => pubSocket.topics(), flooded: (n) => pubSocket.flooded(n) });
  const subscriber = new EventSubscriber({
    openSocket: (serverKey) => createSubscriber(opts.sockets, curve, serverKey), nodeId: opts.nodeId, inbound: decode, drop, log,
    delivered: () => { counters.events.delivered++; },
    rebuilt: () => { counters.bounds.subscriberRebuilds++; },
    rebuildAfterMs: SUB_REBUILD_AFTER_MS,
    resyncTimeoutMs: opts.subscribeTimeoutMs,
    ...(trust === undefined ? {} : { mayPublish: (publisherId: string, topic: string) => trust.policy.mayPublish(publisherId, topic) }),
  });

  // peers/ and protocol/ (client)
  let client: RequestClient | undefined;
  let members: MemberExchange | undefined;
  table = new PeerTable({
    selfId: opts.nodeId,
    mesh: opts.mesh,
    bus,
    log,
    bounds: counters.bounds,
    candidates: counters.candidates,
    link: {
      heartbeatIntervalMs: opts.heartbeatIntervalMs, suspectAfterMs: opts.suspectAfterMs, deadAfterMs: opts.deadAfterMs,
      sendQueueLimit: opts.sendQueueLimit, sockets: opts.sockets, report, inbound: decode, builder, drop, log, clock, localHello,
      answers: { onAnswer: (env: Envelope) => client!.onAnswer(env) },
      ...(trust === undefined ? {} : {
        security: { sockets: curve!, macKeyFor: (k: string) => trust.policy.macKeyFor(k), seal: (k: Buffer, h: Uint8Array, b: Uint8Array) => trust.policy.seal(k, h, b),
          bindFrameFor: (k: string) => trust.policy.bindFrameFor(k),
        },
      }),
    },
    ...(trust === undefined ? {} : {
      trust: {
        admit: (hello, link) => {
          trust.policy.admit({ nodeId: hello.nodeId, service: hello.service, publicKey: hello.publicKey, certificate: hello.certificate ?? new Uint8Array(0) }, { ...(link.serverKey === undefined ? {} : { expectedKey: link.serverKey }), address: link.endpoint });
        },
        serverKey: (hex) => (hex !== undefined && /^[0-9a-f]{64}$/.test(hex) ? keyText(Buffer.from(hex, 'hex')) : undefined),
        keyChanged: (endpoint, previous, next) => trust.audit.record({
          event: 'peer.key-changed', peer: { address: endpoint, fingerprint: next === '' ? '' : keyFingerprint(next) },
          previousFingerprint: previous === '' ? '' : keyFingerprint(previous),
        }),
      },
    }),
    outstanding: (nodeId) => pending.inFlightTo(nodeId),
    peerReady: (nodeId, pubEndpoint, publicKey) => subscriber.connect(nodeId, pubEndpoint, opts.subscribeTimeoutMs, publicKey),
    // A peer left: its events stop, its requests fail with PEER_DOWN.
    peerGone: (nodeId, reason) => {
      members?.peerGone(nodeId);
      subscriber.disconnect(nodeId);
      pending.rejectPeer(nodeId, () => new PeerDownError(`peer ${nodeId} went down (${reason})`, { remoteNode: nodeId }));
    },
  });
  client = new RequestClient({ routes: table, builder, pending, drop, requestTimeoutMs: opts.requestTimeoutMs });
  members = new MemberExchange({
    table, bounds: counters.bounds, log, clock,
    requestNode: (nodeId, method, payload) => client!.requestNode(nodeId, method, payload, { internal: true }),
  });
  server.handle(MEMBERS_METHOD, () => members!.answer(), { internal: true });
  bus.on('peer:up', ({ peer }) => members!.peerUp(peer.nodeId));
  server.listen({
    onHello: (hello) => {
      if (hello.mesh !== opts.mesh) return drop('foreignMesh', `mesh "${hello.mesh}"`, hello.nodeId);
      table!.propose({ endpoints: hello.routerEndpoints, nodeId: hello.nodeId, source: 'hello', ...(hello.publicKey === '' ? {} : { publicKey: hello.publicKey }) });
    },
    onBye: (nodeId) => table!.byNode(nodeId)?.markDown('said goodbye'),
  });

  // reliable/
  const reliable = opts.storePath === undefined ? undefined : new ReliableLayer({
    storePath: opts.storePath, migrations: opts.migrations, settings: opts.reliable, maxPayloadBytes: opts.maxPayloadBytes,
    subscribeTimeoutMs: opts.subscribeTimeoutMs, nodeId: opts.nodeId, service: opts.service, builder,
    client, peers: table, server, publisher, subscriber, bus, clock, log, bounds: counters.bounds, reportLost,
    ...(observer === undefined ? {} : { batchCommitted: observer.batchCommitted }),
    ...(trust === undefined ? {} : {
      trust: {
        fingerprintOf: (nodeId: string) => trust.policy.member(nodeId)?.fingerprint,
        maySubscribe: (nodeId: string, prefix: string) => {
          const m = trust.policy.member(nodeId);
          return m !== undefined && trust.policy.maySubscribe(m, prefix);
        },
      },
    }),
  });

  // discovery/
  const sources: Array<[string, Discovery]> = [];
  if (opts.peers.length > 0) sources.push(['static', staticDiscovery({ peers: opts.peers })]);
  if (opts.mdns !== undefined) sources.push(['mdns', mdnsFromSettings(opts.mdns, log)]);
  if (opts.dns !== undefined) sources.push(['dns', dnsFromSettings(opts.dns, log)]);
  opts.sources.forEach((s, i) => sources.push([`source${i}`, s]));

  return { log, clock, counters, bus, reportLost, pending, sockets, queues, server, client, publisher, subscriber, table, members, reliable, sources, trust, pubSocket, summaries };
}
