/**
 * The layering rules of zmesh (README "Architecture"), checked by `npm test`.
 *
 * transport/ is a stack; each layer may import the layers below it, never above:
 *
 *   node.ts, typed.ts, index.ts, runtime.ts    top: composition root, typed helpers, public API
 *   reliable/                                  outbox, inbox, dispatcher, event log, durable subs
 *   pubsub/                                    publisher, subscriber
 *   peers/                                     links, handshake, liveness, the peer table
 *   protocol/                                  envelopes, request client and server, pending
 *   codec/                                     envelope and control messages <-> frames
 *   socket/                                    sockets, send queues, read loops
 *   store/, discovery/                         seams beside the stack: see only the foundation
 *   observe/                                   metrics, health, tracing, mesh summaries: a seam beside the
 *                                              stack that sees only the foundation; node.ts wires it in
 *   foundation: errors, names, limits, bounds, rate, options, types (and stats-types, discovery-types), defs, log, events, timers, stats, bus, clock, gen/,
 *               security/ (keys, certificates, permissions, MACs, the trust policy, audit)
 *
 * nodes/ and bench/ are users of transport/: they import its public index only.
 */
const FOUNDATION = '^transport/(errors|names|limits|bounds|rate|options|types|stats-types|discovery-types|metrics-types|defs|log|timers|stats|bus|clock|events)\\.ts$|^transport/(gen|security)/';
const TOP = '^transport/(node|typed|index|runtime)\\.ts$';
const layer = (...folders) => `^transport/(${folders.join('|')})/`;
const above = (...folders) => [layer(...folders), TOP].join('|');

module.exports = {
  forbidden: [
    {
      name: 'no-cycles-in-transport',
      comment: 'A cycle makes two modules one; split the shared part out instead.',
      severity: 'error',
      from: { path: '^transport/' },
      to: { circular: true },
    },
    {
      name: 'foundation-imports-foundation-only',
      severity: 'error',
      from: { path: FOUNDATION },
      to: { path: above('socket', 'codec', 'protocol', 'peers', 'pubsub', 'reliable', 'store', 'discovery', 'observe') },
    },
    {
      name: 'socket-sees-foundation-only',
      severity: 'error',
      from: { path: layer('socket') },
      to: { path: above('codec', 'protocol', 'peers', 'pubsub', 'reliable', 'store', 'discovery', 'observe') },
    },
    {
      name: 'codec-sees-socket-and-below',
      severity: 'error',
      from: { path: layer('codec') },
      to: { path: above('protocol', 'peers', 'pubsub', 'reliable', 'store', 'discovery', 'observe') },
    },
    {
      name: 'protocol-sees-codec-and-below',
      severity: 'error',
      from: { path: layer('protocol') },
      to: { path: above('peers', 'pubsub', 'reliable', 'store', 'discovery', 'observe') },
    },
    {
      name: 'peers-sees-protocol-and-below',
      severity: 'error',
      from: { path: layer('peers') },
      to: { path: above('pubsub', 'reliable', 'store', 'discovery', 'observe') },
    },
    {
      name: 'pubsub-sees-peers-and-below',
      severity: 'error',
      from: { path: layer('pubsub') },
      to: { path: above('reliable', 'store', 'discovery', 'observe') },
    },
    {
      name: 'reliable-sees-pubsub-store-and-below',
      severity: 'error',
      from: { path: layer('reliable') },
      to: { path: above('discovery', 'observe') },
    },
    {
      name: 'store-sees-foundation-only',
      severity: 'error',
      from: { path: layer('store') },
      to: { path: above('socket', 'codec', 'protocol', 'peers', 'pubsub', 'reliable', 'discovery', 'observe') },
    },
    {
      name: 'discovery-sees-foundation-only',
      severity: 'error',
      from: { path: layer('discovery') },
      to: { path: above('socket', 'codec', 'protocol', 'peers', 'pubsub', 'reliable', 'store', 'observe') },
    },
    {
      name: 'observe-sees-foundation-only',
      comment: 'Metrics, health and tracing read what the node reports (types.ts); node.ts feeds them.',
      severity: 'error',
      from: { path: layer('observe') },
      to: { path: above('socket', 'codec', 'protocol', 'peers', 'pubsub', 'reliable', 'store', 'discovery') },
    },
    {
      name: 'typed-helpers-use-the-public-node-only',
      comment: 'typed.ts works on a MeshNode as application code would.',
      severity: 'error',
      from: { path: '^transport/typed\\.ts$' },
      to: { path: [layer('socket', 'codec', 'protocol', 'peers', 'pubsub', 'reliable', 'store', 'discovery', 'observe'), '^transport/node\\.ts$'].join('|') },
    },
    {
      name: 'users-import-the-public-index-only',
      comment: 'nodes/ and bench/ use transport/ as an outside user would: through its index (the "zmesh" package).',
      severity: 'error',
      from: { path: '^(nodes|bench)/' },
      to: { path: '^(dist/)?transport/', pathNot: '^(dist/)?transport/index\\.(ts|js|d\\.ts)$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)gen/.*\\.js$|^dist/transport/gen/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'types', 'default'] },
  },
};
