/**
 * proto/README.md as a contract: a peer built from raw zeromq sockets and the
 * generated protobuf types (no transport/ code) joins a zmesh node's mesh, is called,
 * calls back, publishes and subscribes. Then it turns hostile on its PUB socket.
 *
 *   foreign peer: ROUTER + XPUB bound, DEALER -> node ROUTER, SUB -> node PUB
 *   zmesh node:   learns the peer from its HELLO and links back
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import * as zmq from 'zeromq';
import { createNode, type MeshEvent, type MeshNode } from '../transport/index.js';
import { ROOT } from './helpers/paths.js';
import { FOREIGN_ID, ForeignPeer } from './helpers/foreign-peer.js';
import { RawDealer, decodePairs, envelope, eventParts, pack, pb } from './helpers/raw-peer.js';

const text = (s: string): Buffer => Buffer.from(s);

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(): Promise<{ node: MeshNode; foreign: ForeignPeer; dealer: RawDealer }> {
  const node = createNode({ insecure: true, service: 'native', host: '127.0.0.1', discovery: 'static' });
  await node.start();
  cleanup.push(() => node.close());
  node.handle('double', (p) => text(String(2 * Number(Buffer.from(p).toString()))));
  const foreign = new ForeignPeer();
  await foreign.start();
  cleanup.push(() => foreign.close());
  const dealer = new RawDealer(node.endpoints.router);
  cleanup.push(() => dealer.close());
  return { node, foreign, dealer };
}

describe('wire contract', () => {
  it('wire - a raw zeromq+protobuf peer joins, is called, calls, publishes and subscribes', async () => {
    const { node, foreign, dealer } = await setup();
    const up = new Promise<string>((resolve) => node.on('peer:up', (e) => resolve(e.peer.nodeId)));

    // HELLO -> WELCOME with the node's Hello.
    const helloId = Buffer.alloc(16, 1);
    await dealer.send(envelope({ id: helloId, senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.HELLO, payload: foreign.hello() }));
    const welcome = await dealer.answerTo(helloId);
    expect(welcome.kind).toBe(pb.Kind.WELCOME);
    const theirs = pb.Hello.decode(welcome.payload);
    expect(theirs).toMatchObject({ nodeId: node.id, service: 'native', mesh: 'default', protocolVersion: 1, pubPort: node.endpoints.pubPort });

    // The node learned us from router_endpoints, said HELLO back, synced its SUB: up.
    expect(await up).toBe(FOREIGN_ID);
    expect(foreign.helloFrom).toContain(node.id);

    // The node calls the foreign service.
    expect(Buffer.from(await node.request('foreign', 'greet', text('mesh'))).toString()).toBe('hello mesh');

    // The foreign peer calls the node.
    const reqId = Buffer.alloc(16, 2);
    await dealer.send(envelope({ id: reqId, senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.REQUEST, service: 'native', subject: 'double', payload: text('21'), ttlMs: 1000 }));
    const reply = await dealer.answerTo(reqId);
    expect(reply.kind).toBe(pb.Kind.REPLY);
    expect(Buffer.from(reply.payload).toString()).toBe('42');

    // PING -> PONG echoing the payload.
    const pingId = Buffer.alloc(16, 3);
    const beat = pb.Heartbeat.encode({ sentMs: 12345 }).finish();
    await dealer.send(envelope({ id: pingId, senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.PING, payload: beat }));
    const pong = await dealer.answerTo(pingId);
    expect(pong.kind).toBe(pb.Kind.PONG);
    expect(Number(pb.Heartbeat.decode(pong.payload).sentMs)).toBe(12345);

    // The foreign peer publishes; a batch [topic, env, env] is two events.
    const got: MeshEvent[] = [];
    await node.subscribe('news.', (e) => got.push(e));
    await foreign.publish('news.a', [foreign.event('news.a', '1'), foreign.event('news.a', '2')]);
    await vi.waitFor(() => expect(got.map((e) => Buffer.from(e.payload).toString())).toEqual(['1', '2']));
    expect(got[0]!.sender).toEqual({ node: FOREIGN_ID, service: 'foreign' });
    expect(typeof got[0]!.seq).toBe('number');
    expect(got[1]!.seq).toBeGreaterThan(got[0]!.seq);
    // ... and a packed batch [topic, packed] is three more, in order.
    await foreign.publishPacked('news.a', [foreign.event('news.a', '3'), foreign.event('news.a', '4'), foreign.event('news.a', '5')]);
    await vi.waitFor(() => expect(got.map((e) => Buffer.from(e.payload).toString())).toEqual(['1', '2', '3', '4', '5']));
    // Heartbeats run on the link to the foreign peer and measure a round trip.
    await vi.waitFor(() => expect(node.peers().find((p) => p.nodeId === FOREIGN_ID)?.rttMs).toBeGreaterThanOrEqual(0));

    // The foreign peer subscribes with the sync handshake, then receives the node's events.
    const sub = new zmq.Subscriber({ linger: 0 });
    cleanup.push(() => sub.close());
    sub.connect(`tcp://127.0.0.1:${node.endpoints.pubPort}`);
    sub.subscribe('ticks.');
    const syncTopic = `$sync/${node.id}/t1`;
    sub.subscribe(syncTopic);
    const syncFrames = await sub.receive();
    expect(syncFrames[0]!.toString()).toBe(syncTopic);
    const [mark] = decodePairs(syncFrames, 1);
    expect(mark!.kind).toBe(pb.Kind.SYNC);
    expect(pb.SyncMark.decode(mark!.payload).token).toBe('t1');
    node.publish('ticks.1', text('tick'));
    const eventFrames = await sub.receive();
    expect(eventFrames).toHaveLength(3); // [topic, header, body]
    expect(eventFrames[0]!.toString()).toBe('ticks.1');
    const [decoded] = decodePairs(eventFrames, 1);
    expect(decoded).toMatchObject({ version: 1, kind: pb.Kind.EVENT, subject: 'ticks.1', senderNode: node.id, senderService: 'native' });
    expect(Buffer.from(decoded!.payload).toString()).toBe('tick');
    expect(decoded!.id.length).toBe(16);

    // A burst published in one turn leaves packed; the foreign side unpacks it from
    // the spec alone and gets every event once, in order.
    for (let i = 0; i < 300; i++) node.publish('ticks.burst', text(String(i)));
    const burst: string[] = [];
    let packed = 0;
    while (burst.length < 300) {
      const frames = await sub.receive();
      expect(frames[0]!.toString()).toBe('ticks.burst');
      if (frames.length === 2) packed++;
      for (const e of decodePairs(eventParts(frames))) burst.push(Buffer.from(e.payload).toString());
    }
    expect(burst).toEqual(Array.from({ length: 300 }, (_, i) => String(i)));
    expect(packed).toBeGreaterThan(0);
  });

  it('wire - a hostile publisher is counted and ignored; valid events still arrive', async () => {
    const { node, foreign, dealer } = await setup();
    const up = new Promise<void>((resolve) => node.on('peer:up', () => resolve()));
    await dealer.send(envelope({ senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.HELLO, payload: foreign.hello() }));
    await up;
    const got: string[] = [];
    await node.subscribe('news.', (e) => got.push(Buffer.from(e.payload).toString()));

    const garbage = [
      [Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), text('')],           // not protobuf
      [foreign.event('news.a', 'x')[0]!.subarray(0, 7), text('x')],       // truncated header
      foreign.event('news.other', 'wrong topic'),                         // subject != topic frame
      envelope({ senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.REQUEST, service: 'a', subject: 'news.a' }), // wrong kind for SUB
      envelope({ version: 9, senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.EVENT, subject: 'news.a' }),
      envelope({ senderNode: FOREIGN_ID, senderService: 'foreign', kind: 99 as never, subject: 'news.a' }),
    ];
    for (let i = 0; i < 50; i++) await foreign.publish('news.a', garbage);
    // The same garbage packed is dropped message by message, like the above.
    for (let i = 0; i < 10; i++) await foreign.publishPacked('news.a', garbage);
    // A packed frame that does not parse is dropped whole.
    const good = pack(foreign.event('news.a', 'lost'));
    const badPacks = [
      good.subarray(0, good.length - 1),                       // last part truncated
      Buffer.concat([good, Buffer.from([0, 0])]),              // trailing bytes
      pack([foreign.event('news.a', 'odd')[0]!]),              // a header without its body
      Buffer.alloc(17 * 1024),                                 // above the packed-frame limit
    ];
    for (const frame of badPacks) await foreign.xpub.send(['news.a', frame]);
    await foreign.publish('news.a', [foreign.event('news.a', 'valid')]);
    await vi.waitFor(() => expect(got).toEqual(['valid']));
    const d = node.stats().dropped;
    expect(d).toMatchObject({ malformed: 120, invalid: 60, unexpected: 60, versionMismatch: 60, unknownKind: 60, badFrames: 4 });
  });
});

/**
 * The wire spec made exact: each rule proto/README.md now states, checked from the
 * raw side. Numbers in the test names are the defects the spec review found.
 */
const storeDir = mkdtempSync(join(tmpdir(), 'zmesh-wire-'));
afterAll(() => rmSync(storeDir, { recursive: true, force: true }));

async function storeNode(service = 'native'): Promise<{ node: MeshNode; dealer: RawDealer }> {
  const node = createNode({ insecure: true, service, host: '127.0.0.1', discovery: 'static', storePath: join(storeDir, `${service}-${Math.random()}.db`) });
  await node.start();
  cleanup.push(() => node.close());
  const dealer = new RawDealer(node.endpoints.router);
  cleanup.push(() => dealer.close());
  return { node, dealer };
}

let ids = 0;
const freshId = (bytes = 16): Buffer => { const b = Buffer.alloc(bytes); b.writeUInt32BE(++ids); return b; };
const errorOf = (e: { kind: number; payload: Uint8Array }): { code: string; message: string } => {
  expect(e.kind).toBe(pb.Kind.ERROR);
  return pb.ErrorReply.decode(e.payload);
};
/** Sends `fields` and waits for the answer to it. */
async function ask(dealer: RawDealer, fields: Parameters<typeof envelope>[0]) {
  const id = fields.id === undefined || fields.id === null ? freshId() : Buffer.from(fields.id);
  await dealer.send(envelope({ senderNode: FOREIGN_ID, senderService: 'foreign', ...fields, id }));
  return dealer.answerTo(id);
}
/** Proves nothing answered `id`: a PING sent after it is answered first. */
async function noAnswer(dealer: RawDealer, id: Uint8Array): Promise<void> {
  const ping = await ask(dealer, { kind: pb.Kind.PING, payload: pb.Heartbeat.encode({ sentMs: 1 }).finish() });
  expect(ping.kind).toBe(pb.Kind.PONG);
  expect(dealer.received.some((e) => Buffer.from(e.correlationId).equals(Buffer.from(id)))).toBe(false);
}

describe('wire spec', () => {
  it('wire spec - 2, 4, 6: version 0, the fields each kind requires, and ids of 64 and 65 bytes', async () => {
    const { node, dealer } = await setup();
    const req = { kind: pb.Kind.REQUEST, service: 'native', subject: 'double', payload: text('2') };
    // 2: version 0 (absent) is answered BAD_MESSAGE, for a REQUEST and for a HELLO.
    expect(errorOf(await ask(dealer, { ...req, version: 0 }))).toMatchObject({ code: 'ZMESH_ERR_BAD_MESSAGE', message: 'bad message: missing version' });
    expect(errorOf(await ask(dealer, { kind: pb.Kind.HELLO, version: 0 })).code).toBe('ZMESH_ERR_BAD_MESSAGE');
    // 6: REQUEST needs service and subject; the answer says which is missing.
    expect(errorOf(await ask(dealer, { ...req, service: '' })).message).toBe('bad message: missing service');
    expect(errorOf(await ask(dealer, { ...req, subject: '' })).message).toBe('bad message: missing subject');
    // ... a COMMAND too, but a plain command is never answered: dropped and counted.
    const before = node.stats().dropped.invalid;
    const cmd = freshId();
    await dealer.send(envelope({ senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.COMMAND, service: 'native', id: cmd }));
    await noAnswer(dealer, cmd);
    expect(node.stats().dropped.invalid).toBe(before + 1);
    // 4: ids are 1..64 bytes: 64 is answered, 65 cannot be (and is counted).
    const long = freshId(64);
    const reply = await ask(dealer, { ...req, id: long });
    expect(reply.kind).toBe(pb.Kind.REPLY);
    expect(Buffer.from(reply.payload).toString()).toBe('4');
    const tooLong = freshId(65);
    await dealer.send(envelope({ senderNode: FOREIGN_ID, senderService: 'foreign', ...req, id: tooLong }));
    await noAnswer(dealer, tooLong);
    expect(node.stats().dropped.invalid).toBe(before + 2);
  });

  it('wire spec - 5: a Hello with an empty mesh, a bad mesh or pub_port 0 is answered BAD_MESSAGE', async () => {
    const { foreign, dealer } = await setup();
    const hello = pb.Hello.decode(foreign.hello());
    for (const bad of [{ mesh: '' }, { mesh: 'bad mesh' }, { pubPort: 0 }]) {
      const payload = pb.Hello.encode({ ...hello, ...bad }).finish();
      expect(errorOf(await ask(dealer, { kind: pb.Kind.HELLO, payload }))).toMatchObject({ code: 'ZMESH_ERR_BAD_MESSAGE', message: 'bad Hello payload' });
    }
    expect((await ask(dealer, { kind: pb.Kind.HELLO, payload: foreign.hello() })).kind).toBe(pb.Kind.WELCOME);
  });

  it('wire spec - 5: a light client\'s HELLO (router_port 0, pub_port 0, no router_endpoints) is answered WELCOME; pub_port 0 with an endpoint is not', async () => {
    const { foreign, dealer } = await setup();
    const hello = pb.Hello.decode(foreign.hello());
    const client = pb.Hello.encode({ ...hello, routerPort: 0, pubPort: 0, routerEndpoints: [] }).finish();
    expect((await ask(dealer, { kind: pb.Kind.HELLO, payload: client })).kind).toBe(pb.Kind.WELCOME);
    // Half of the form is not the form: a node that names an endpoint must name its PUB port.
    const half = pb.Hello.encode({ ...hello, routerPort: 0, pubPort: 0 }).finish();
    expect(errorOf(await ask(dealer, { kind: pb.Kind.HELLO, payload: half }))).toMatchObject({ code: 'ZMESH_ERR_BAD_MESSAGE' });
  });

  it('wire spec - 3, 7, 8: a reliable COMMAND gets an empty ACK; bad stream headers, an unknown method and no store get ERROR', async () => {
    const { node, dealer } = await storeNode();
    const applied: string[] = [];
    node.handleReliable('note', (p) => { applied.push(Buffer.from(p).toString()); });
    const reliable = (headers: Record<string, string>, subject = 'note') =>
      ({ kind: pb.Kind.COMMAND, service: 'native', subject, payload: text(JSON.stringify(headers)), headers });
    const stream = 'abcdef0123456789';
    // 3: ACK answers the command's id and has an empty body.
    const ack = await ask(dealer, reliable({ 'zmesh-stream': stream, 'zmesh-seq': '1', 'zmesh-prev': '0' }));
    expect(ack.kind).toBe(pb.Kind.ACK);
    expect(ack.payload.byteLength).toBe(0);
    // A redelivery is ACKed again, with no second effect.
    expect((await ask(dealer, reliable({ 'zmesh-stream': stream, 'zmesh-seq': '1', 'zmesh-prev': '0' }))).kind).toBe(pb.Kind.ACK);
    expect(applied).toHaveLength(1);
    // 7: seq and prev are plain decimal strings, 1 <= seq, 0 <= prev < seq; the stream id has a syntax.
    const bad: Array<Record<string, string>> = [
      { 'zmesh-stream': stream, 'zmesh-seq': '02', 'zmesh-prev': '1' },
      { 'zmesh-stream': stream, 'zmesh-seq': '1e1', 'zmesh-prev': '1' },
      { 'zmesh-stream': stream, 'zmesh-seq': '-2', 'zmesh-prev': '1' },
      { 'zmesh-stream': stream, 'zmesh-seq': ' 2', 'zmesh-prev': '1' },
      { 'zmesh-stream': stream, 'zmesh-seq': '9007199254740992', 'zmesh-prev': '1' },
      { 'zmesh-stream': stream, 'zmesh-seq': '0', 'zmesh-prev': '0' },
      { 'zmesh-stream': stream, 'zmesh-seq': '2', 'zmesh-prev': '2' },
      { 'zmesh-stream': stream, 'zmesh-seq': '2' },
      { 'zmesh-stream': 'bad stream', 'zmesh-seq': '2', 'zmesh-prev': '1' },
      { 'zmesh-stream': '', 'zmesh-seq': '2', 'zmesh-prev': '1' },
    ];
    for (const h of bad) expect(errorOf(await ask(dealer, reliable(h))).code, JSON.stringify(h)).toBe('ZMESH_ERR_BAD_MESSAGE');
    expect(applied).toHaveLength(1);
    // 8: reliable COMMANDs get ERROR where plain ones get silence: unknown method, no store.
    expect(errorOf(await ask(dealer, reliable({ 'zmesh-stream': stream, 'zmesh-seq': '2', 'zmesh-prev': '1' }, 'nothing'))).code).toBe('ZMESH_ERR_UNKNOWN_METHOD');
    const { dealer: bare } = await setup();
    expect(errorOf(await ask(bare, reliable({ 'zmesh-stream': stream, 'zmesh-seq': '1', 'zmesh-prev': '0' }))).code).toBe('ZMESH_ERR_UNKNOWN_METHOD');
    // The stream goes on where it was.
    expect((await ask(dealer, reliable({ 'zmesh-stream': stream, 'zmesh-seq': '2', 'zmesh-prev': '1' }))).kind).toBe(pb.Kind.ACK);
    expect(applied).toHaveLength(2);
  });

  it('wire spec - 1: $replay speaks protobuf; an event without headers has an empty map; a bad body is BAD_MESSAGE', async () => {
    const { node, dealer } = await storeNode();
    await node.publishReliable('news.a', text('one'));
    await node.publishReliable('news.a', text('two'), { headers: { lang: 'en' } });
    await node.publishReliable('other.x', text('not asked for'));
    const request = pb.ReplayRequest.encode({ known: {}, prefix: 'news.', max: 10, subscriber: 'raw@feedfeedfeedfeed' }).finish();
    const reply = await ask(dealer, { kind: pb.Kind.REQUEST, service: 'native', subject: '$replay', payload: request, ttlMs: 2_000 });
    expect(reply.kind).toBe(pb.Kind.REPLY);
    const r = pb.ReplayReply.decode(reply.payload);
    expect(r.stream).toMatch(/^[0-9a-f]{16}$/);
    expect(Number(r.head)).toBe(3);
    expect(r.events.map((e) => [Number(e.seq), e.topic, Buffer.from(e.payload ?? []).toString(), e.headers, e.node, e.service])).toEqual([
      [1, 'news.a', 'one', {}, node.id, 'native'],
      [2, 'news.a', 'two', { lang: 'en' }, node.id, 'native'],
    ]);
    // Caught up past seq 2: nothing more under the prefix.
    const after = pb.ReplayRequest.encode({ known: { [r.stream!]: 2 }, prefix: 'news.', max: 10, subscriber: 'raw@feedfeedfeedfeed' }).finish();
    expect(pb.ReplayReply.decode((await ask(dealer, { kind: pb.Kind.REQUEST, service: 'native', subject: '$replay', payload: after })).payload).events).toEqual([]);
    const garbage = await ask(dealer, { kind: pb.Kind.REQUEST, service: 'native', subject: '$replay', payload: Buffer.from([0xff, 0xff, 0xff]) });
    expect(errorOf(garbage).code).toBe('ZMESH_ERR_BAD_MESSAGE');
  });

  it('wire spec - 9: only a SYNC on its own topic, from the node the topic names, confirms a subscription', async () => {
    const { node, foreign, dealer } = await setup();
    const up = new Promise<void>((resolve) => node.on('peer:up', () => resolve()));
    await dealer.send(envelope({ senderNode: FOREIGN_ID, senderService: 'foreign', kind: pb.Kind.HELLO, payload: foreign.hello() }));
    await up;
    let answerWell!: () => Promise<void>;
    foreign.onSync = async (topic, token) => {
      // Subject differs from the topic frame; then a mark whose sender is not the node the topic names.
      await foreign.xpub.send(foreign.syncMark(topic, token, { subject: `${topic}x` }));
      await foreign.xpub.send(foreign.syncMark(topic, token, { senderNode: 'someone-else' }));
      answerWell = () => foreign.xpub.send(foreign.syncMark(topic, token));
    };
    const before = node.stats().dropped;
    let confirmed = false;
    const subscribed = node.subscribe('late.', () => undefined).then((s) => { confirmed = true; return s; });
    // The first is dropped as invalid; the second names a sender that is not the
    // publisher its socket is connected to.
    await vi.waitFor(() => expect(node.stats().dropped).toMatchObject({ invalid: before.invalid + 1, senderMismatch: before.senderMismatch + 1 }));
    expect(confirmed).toBe(false);
    await answerWell();
    await subscribed;
    expect(confirmed).toBe(true);
  });

  it('wire spec - 10: a packed run carries one topic; sections are in order; the schema table names every .proto', async () => {
    const { node } = await setup();
    const sub = new zmq.Subscriber({ linger: 0 });
    cleanup.push(() => sub.close());
    sub.connect(`tcp://127.0.0.1:${node.endpoints.pubPort}`);
    sub.subscribe('mix.');
    sub.subscribe(`$sync/${node.id}/m1`);
    await sub.receive();
    const sent: string[] = [];
    for (let i = 0; i < 300; i++) {
      const topic = i % 3 === 0 ? 'mix.b' : 'mix.a';
      node.publish(topic, text(String(i)));
      sent.push(`${topic}:${i}`);
    }
    const got: string[] = [];
    let packed = 0;
    while (got.length < 300) {
      const frames = await sub.receive();
      if (frames.length === 2) packed++;
      for (const e of decodePairs(eventParts(frames))) {
        expect(e.subject).toBe(frames[0]!.toString());
        got.push(`${e.subject}:${Buffer.from(e.payload).toString()}`);
      }
    }
    expect(packed).toBeGreaterThan(0);
    expect(got).toEqual(sent);

    const spec = readFileSync(join(ROOT, 'proto', 'README.md'), 'utf8');
    const numbers = [...spec.matchAll(/^## (\d+)\. /gm)].map((m) => Number(m[1]));
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    const table = spec.slice(spec.indexOf('Schemas:'), spec.indexOf('## 1.'));
    for (const file of readdirSync(join(ROOT, 'proto')).filter((f) => f.endsWith('.proto'))) expect(table).toContain(`\`${file}\``);
  });
});
