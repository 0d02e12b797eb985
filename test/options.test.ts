/**
 * One resolved configuration: every bad option, however deeply nested, fails
 * createNode with INVALID_ARGUMENT naming it, and `undefined` always means the
 * default. No sockets are opened for a refused configuration.
 */
import { describe, expect, it } from 'vitest';
import {
  ErrorCode, InvalidArgumentError, MDNS_DEFAULTS, RELIABLE_DEFAULTS, checkNodeOptions, createNode, mdnsDiscovery, staticDiscovery,
  type NodeOptions,
} from '../transport/index.js';
import { resolveOptions } from '../transport/options.js';

/** [option as written, what the error must name, the options]. */
const BAD: Array<[string, string, Record<string, unknown>]> = [
  ['service missing', 'service', {}],
  ['service with capitals', 'service', { service: 'Order' }],
  ['nodeId with a space', 'nodeId', { nodeId: 'a b' }],
  ['mesh empty', 'mesh', { mesh: '' }],
  ['mesh with a space', 'mesh', { mesh: 'bad mesh' }],
  ['host empty', 'host', { host: '' }],
  ['host with a slash', 'host', { host: 'tcp://x' }],
  ['interface not IPv4', 'interface', { interface: '300.1.1.1' }],
  ['advertise not an array', 'advertise', { advertise: '10.0.0.1' }],
  ['advertise a wildcard', 'advertise[0]', { advertise: ['0.0.0.0'] }],
  ['routerPort negative', 'routerPort', { routerPort: -1 }],
  ['routerPort above 65535', 'routerPort', { routerPort: 70_000 }],
  ['pubPort fractional', 'pubPort', { pubPort: 1.5 }],
  ['peers not an array', 'peers', { peers: 'tcp://127.0.0.1:5555' }],
  ['peers port above 65535', 'peers[0]', { peers: ['tcp://127.0.0.1:99999'] }],
  ['peers without a port', 'peers[1]', { peers: ['tcp://127.0.0.1:5555', 'tcp://h'] }],
  ['peers port 0', 'peers[0]', { peers: ['tcp://127.0.0.1:0'] }],
  ['discovery unknown', 'discovery', { discovery: 'dns' }],
  ['requestTimeoutMs 0', 'requestTimeoutMs', { requestTimeoutMs: 0 }],
  ['requestTimeoutMs a string', 'requestTimeoutMs', { requestTimeoutMs: '10' }],
  ['requestTimeoutMs NaN', 'requestTimeoutMs', { requestTimeoutMs: Number.NaN }],
  ['maxPayloadBytes negative', 'maxPayloadBytes', { maxPayloadBytes: -1 }],
  ['sendQueueLimit fractional', 'sendQueueLimit', { sendQueueLimit: 1.5 }],
  ['heartbeat not below suspect', 'heartbeatIntervalMs < suspectAfterMs', { heartbeatIntervalMs: 2_000, suspectAfterMs: 1_500 }],
  ['suspect not below dead', 'suspectAfterMs < deadAfterMs', { suspectAfterMs: 3_000, deadAfterMs: 2_500 }],
  ['deadAfterMs 0', 'deadAfterMs', { deadAfterMs: 0 }],
  ['closeTimeoutMs 0', 'closeTimeoutMs', { closeTimeoutMs: 0 }],
  ['storePath empty', 'storePath', { storePath: '' }],
  ['reliable not an object', 'reliable', { reliable: 5 }],
  ['reliable.window 0 (used to stall delivery silently)', 'reliable.window', { reliable: { window: 0 } }],
  ['reliable.ackTimeoutMs negative', 'reliable.ackTimeoutMs', { reliable: { ackTimeoutMs: -1 } }],
  ['reliable.maxAttempts fractional', 'reliable.maxAttempts', { reliable: { maxAttempts: 0.5 } }],
  ['reliable.maxAgeMs 0', 'reliable.maxAgeMs', { reliable: { maxAgeMs: 0 } }],
  ['reliable.backoffBaseMs 0', 'reliable.backoffBaseMs', { reliable: { backoffBaseMs: 0 } }],
  ['reliable.backoffMaxMs a string', 'reliable.backoffMaxMs', { reliable: { backoffMaxMs: '5s' } }],
  ['reliable backoff base above max', 'reliable.backoffBaseMs', { reliable: { backoffBaseMs: 100, backoffMaxMs: 10 } }],
  ['reliable.maxOutbox 0', 'reliable.maxOutbox', { reliable: { maxOutbox: 0 } }],
  ['reliable.eventRetentionMs 0', 'reliable.eventRetentionMs', { reliable: { eventRetentionMs: 0 } }],
  ['reliable.maxEvents negative', 'reliable.maxEvents', { reliable: { maxEvents: -1 } }],
  ['reliable with a misspelt key', 'reliable.windw', { reliable: { windw: 5 } }],
  ['mdns.queryIntervalMs 0', 'mdns.queryIntervalMs', { mdns: { queryIntervalMs: 0 } }],
  ['mdns.staleAfterMs negative', 'mdns.staleAfterMs', { mdns: { staleAfterMs: -1 } }],
  ['mdns.reproposeMs a string', 'mdns.reproposeMs', { mdns: { reproposeMs: 'often' } }],
  ['mdns with an unknown key', 'mdns.ttl', { mdns: { ttl: 1 } }],
  ['sources not an array', 'sources', { sources: {} }],
  ['sources with a non-Discovery', 'sources[0]', { sources: [{ start: 1 }] }],
  ['an unknown top-level option', 'servce', { servce: 'x' }],
  ['neither security nor insecure (secure by default)', 'security', { insecure: undefined }],
  ['insecure not a boolean', 'insecure', { insecure: 'yes' }],
  ['security without keys', 'security.keys', { insecure: undefined, security: {} }],
  ['security.keys with a bad key', 'security.keys.publicKey', { insecure: undefined, security: { keys: { publicKey: 'x', secretKey: 'y' }, authorizedKeys: [] } }],
  ['security with both modes', 'not both', { insecure: undefined, security: { keys: { publicKey: '0'.repeat(40), secretKey: '0'.repeat(40) }, authorizedKeys: [], certificate: new Uint8Array(3), authorities: [new Uint8Array(32)] } }],
  ['security.authorities of the wrong size', 'security.authorities[0]', { insecure: undefined, security: { keys: { publicKey: '0'.repeat(40), secretKey: '0'.repeat(40) }, certificate: new Uint8Array(3), authorities: [new Uint8Array(31)] } }],
  ['security with a misspelt key', 'security.certficate', { insecure: undefined, security: { certficate: 1 } }],
  ['client not a boolean', 'client', { client: 'yes' }],
  ['a client with a store', 'storePath contradicts client', { client: true, storePath: '/tmp/x.db' }],
  ['a client with a ROUTER port', 'routerPort contradicts client', { client: true, routerPort: 5555 }],
  ['a client that advertises', 'advertise contradicts client', { client: true, advertise: ['10.0.0.1'] }],
  ['security and insecure together', 'contradict', { insecure: true, security: { keys: { publicKey: '0'.repeat(40), secretKey: '0'.repeat(40) }, authorizedKeys: [] } }],
];

describe('options', () => {
  it('options - a light client binds nothing and refuses to serve or publish; checkNodeOptions checks without building', async () => {
    const client = createNode({ service: 'tool', insecure: true, client: true, discovery: 'static' });
    await client.start();
    try {
      expect(client.endpoints).toEqual({ router: '', pub: '', routerPort: 0, pubPort: 0, advertised: [] });
      expect(() => client.handle('x', () => undefined)).toThrow(/light client .* cannot handle/);
      expect(() => client.publish('t', new Uint8Array(1))).toThrow(/light client .* cannot publish/);
    } finally {
      await client.close();
    }
    expect(() => checkNodeOptions({ routerPort: 70_000 })).toThrow(/^routerPort must be an integer 0..65535/);
    expect(() => checkNodeOptions({ mesh: 'shop', peers: ['tcp://127.0.0.1:5555'] })).not.toThrow();
  });

  it.each(BAD)('options - %s fails createNode with INVALID_ARGUMENT naming %s', (_what, name, o) => {
    const options = { service: 'svc', host: '127.0.0.1', insecure: true, ...o } as unknown as NodeOptions;
    if (!('service' in o) && name === 'service') delete (options as Partial<NodeOptions>).service;
    let err: unknown;
    try {
      createNode(options);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((err as Error).message).toContain(name);
  });

  it('options - undefined means the default, at every level', () => {
    const r = resolveOptions({
      service: 'svc', insecure: true, requestTimeoutMs: undefined, mdns: { queryIntervalMs: undefined },
      reliable: { ackTimeoutMs: undefined, window: 7 },
    });
    expect(r.requestTimeoutMs).toBe(10_000);
    expect(r.reliable).toEqual({ ...RELIABLE_DEFAULTS, window: 7 });
    expect(r.mdns).toEqual({ interface: undefined, ...MDNS_DEFAULTS });
  });

  it('options - one resolution: socket options and discovery follow from the user options', () => {
    const r = resolveOptions({ service: 'svc', insecure: true, peers: ['tcp://10.0.0.7:5555'], maxPayloadBytes: 64 * 1024 });
    expect(r.discovery).toBe('static');
    expect(r.mdns).toBeUndefined();
    expect(r.sockets.maxMessageSize).toBe(2 * 64 * 1024);
    const small = resolveOptions({ service: 'svc', insecure: true, maxPayloadBytes: 100 });
    // Frames of the header limit are always accepted (packed frames rely on it).
    expect(small.sockets.maxMessageSize).toBe(2 * 16 * 1024);
    expect(Object.isFrozen(r.reliable)).toBe(true);
  });

  it('options - the discovery factories validate their own options the same way', () => {
    expect(() => mdnsDiscovery({ queryIntervalMs: 0 })).toThrow(/mdns\.queryIntervalMs must be a positive integer/);
    expect(() => mdnsDiscovery({ interface: 'eth0' })).toThrow(/interface must be an IPv4 address/);
    expect(() => staticDiscovery({ peers: ['tcp://h:70000'] })).toThrow(InvalidArgumentError);
  });

  it('options - a peer host must be an IPv4 address or a host name of at most 253 bytes', () => {
    for (const host of ['10.0.0.7', 'peer.example', 'order-1.mesh.internal', 'db_1']) {
      expect(resolveOptions({ service: 'svc', insecure: true, peers: [`tcp://${host}:5555`] }).peers).toEqual([`tcp://${host}:5555`]);
    }
    for (const host of ['€.example', '999.0.0.1', 'a..b', '-a', 'a b', 'a.', Array(5).fill('a'.repeat(60)).join('.')]) {
      expect(() => resolveOptions({ service: 'svc', insecure: true, peers: [`tcp://${host}:5555`] }), host).toThrow(/peers\[0\] must be endpoints tcp:\/\/HOST:PORT/);
      expect(() => staticDiscovery({ peers: [`tcp://${host}:5555`] }), host).toThrow(InvalidArgumentError);
    }
  });
});
