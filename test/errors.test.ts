/**
 * Every error code, produced for real: the caller always gets a typed error with a
 * stable code, never a hang. Wire errors are checked both through a zmesh node and
 * through a raw peer that reads the ErrorReply off the wire.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { SPILL_MIN_BYTES } from '../transport/store/spill.js';
import {
  AbortedError, BadMessageError, BindFailedError, ClosedError, ErrorCode, HandlerFailedError, InvalidArgumentError,
  MessageTooLargeError, NoRouteError, OutboxFullError, PeerDownError, QueueFullError, StoreError, TimeoutError,
  UnknownMethodError, VersionMismatchError, ZmeshError, createNode, type MeshNode, type NodeOptions,
  ForbiddenError, SecurityError, StoreFullError, errorFromWire, z85Encode,
} from '../transport/index.js';
import * as zmq from 'zeromq';
import { testAuthority } from './helpers/trust.js';
import { NodeProc, killAll } from './helpers/proc.js';
import { RawDealer, envelope, pb } from './helpers/raw-peer.js';

const text = (s: string): Buffer => Buffer.from(s);
const seen = new Set<string>();
const nodes: MeshNode[] = [];
const raws: RawDealer[] = [];

async function clientNode(o: Partial<NodeOptions> = {}): Promise<MeshNode> {
  const node = createNode({ insecure: true, service: 'client', host: '127.0.0.1', discovery: 'static', ...o });
  nodes.push(node);
  await node.start();
  return node;
}

/** Expects `p` to reject with `cls` and `code`, and records the code as covered. */
async function expectCode(p: Promise<unknown> | (() => unknown), cls: new (...a: never[]) => ZmeshError, code: string): Promise<ZmeshError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  expect((err as ZmeshError).code).toBe(code);
  seen.add(code);
  return err as ZmeshError;
}

async function rawError(raw: RawDealer, fields: Parameters<typeof envelope>[0]): Promise<{ code: string; message: string }> {
  const id = Buffer.from(`req-${Math.random()}`.padEnd(16, '0').slice(0, 16));
  await raw.send(envelope({ id, ...fields }));
  const answer = await raw.answerTo(id);
  expect(answer.kind).toBe(pb.Kind.ERROR);
  const reply = pb.ErrorReply.decode(answer.payload);
  seen.add(reply.code);
  return { code: reply.code, message: reply.message };
}

afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await killAll();
});

describe('errors', () => {
  it('errors - remote failures come back as typed errors with stable codes', async () => {
    const server = await NodeProc.start({ service: 'svc', maxPayloadBytes: 1_000 });
    const client = await clientNode({ peers: [server.endpoints.router], requestTimeoutMs: 5_000 });
    await client.waitForService('svc');

    const unknown = await expectCode(client.request('svc', 'nope', text('')), UnknownMethodError, ErrorCode.UNKNOWN_METHOD);
    expect(unknown.remoteNode).toBe(server.nodeId);
    const failed = await expectCode(client.request('svc', 'fail', text('')), HandlerFailedError, ErrorCode.HANDLER_FAILED);
    expect(failed.message).toBe('boom');
    await expectCode(client.request('svc', 'json-add', text('{not json')), BadMessageError, ErrorCode.BAD_MESSAGE);
    // Within this node's limit, not within the receiver's.
    await expectCode(client.request('svc', 'echo', Buffer.alloc(5_000)), MessageTooLargeError, ErrorCode.MESSAGE_TOO_LARGE);
    await expectCode(client.request('svc', 'sleep', text('2000'), { timeoutMs: 100 }), TimeoutError, ErrorCode.TIMEOUT);

    expect(failed.retryable).toBe(false);

    // A handler whose own downstream call failed transiently says so: same code,
    // retryable, so the caller knows another try may succeed.
    const middle = await clientNode({ service: 'middle', peers: [server.endpoints.router] });
    middle.handle('relay', (_p, ctx) => middle.request('svc', 'sleep', text('2000'), { timeoutMs: 50, signal: ctx.signal }));
    const relayCaller = await clientNode({ peers: [middle.endpoints.router] });
    await Promise.all([middle.waitForService('svc'), relayCaller.waitForService('middle')]);
    const relayed = await expectCode(relayCaller.request('middle', 'relay', text('')), HandlerFailedError, ErrorCode.HANDLER_FAILED);
    expect(relayed.retryable).toBe(true);
    expect(relayed.message).toMatch(/within|deadline|timed? ?out/i);

    // A typed method still works after all that.
    expect(JSON.parse(Buffer.from(await client.request('svc', 'json-add', text('{"a":2,"b":3}'))).toString())).toEqual({ sum: 5 });
  });

  it('errors - a raw peer gets ErrorReply frames for wrong version, wrong service, bad request', async () => {
    const server = await NodeProc.start({ service: 'svc' });
    const raw = new RawDealer(server.endpoints.router);
    raws.push(raw);
    const v = await rawError(raw, { version: 2, kind: pb.Kind.REQUEST, service: 'svc', subject: 'echo' });
    expect(v.code).toBe(ErrorCode.VERSION_MISMATCH);
    expect((await rawError(raw, { kind: pb.Kind.REQUEST, service: 'other', subject: 'echo' })).code).toBe(ErrorCode.NO_ROUTE);
    expect((await rawError(raw, { kind: pb.Kind.REQUEST, service: 'svc', subject: '' })).code).toBe(ErrorCode.BAD_MESSAGE);
    // And a well-formed raw request is answered.
    const id = Buffer.alloc(16, 7);
    await raw.send(envelope({ id, kind: pb.Kind.REQUEST, service: 'svc', subject: 'echo', payload: text('raw') }));
    const reply = await raw.answerTo(id);
    expect(reply.kind).toBe(pb.Kind.REPLY);
    expect(Buffer.from(reply.payload).toString()).toBe('raw');
  });

  it('errors - wire codes are rebuilt as their own classes on the caller side', async () => {
    const server = await NodeProc.start({ service: 'svc' });
    const client = await clientNode({ peers: [server.endpoints.router] });
    await client.waitForService('svc');
    await vi.waitFor(() => expect(server.peersUp.has(client.id)).toBe(true));
    // A handler on this node throws a wire-coded error; the child calls it and gets
    // the same code back, not HANDLER_FAILED.
    client.handle('strict', () => { throw new VersionMismatchError('speak v1'); });
    await expect(server.request('client', 'strict', '')).rejects.toMatchObject({ code: ErrorCode.VERSION_MISMATCH, message: 'speak v1' });
    seen.add(ErrorCode.VERSION_MISMATCH);
  });

  it('errors - local conditions: no route, too large, queue full, aborted, closed, peer down', async () => {
    const server = await NodeProc.start({ service: 'svc' });
    const client = await clientNode({
      peers: [server.endpoints.router], sendQueueLimit: 5, maxPayloadBytes: 100,
      heartbeatIntervalMs: 100, suspectAfterMs: 300, deadAfterMs: 600,
    });
    await client.waitForService('svc');

    await expectCode(client.request('nobody', 'x', text('')), NoRouteError, ErrorCode.NO_ROUTE);
    await expectCode(() => client.command('nobody', 'x', text('')), NoRouteError, ErrorCode.NO_ROUTE);
    await expectCode(client.request('svc', 'echo', Buffer.alloc(101)), MessageTooLargeError, ErrorCode.MESSAGE_TOO_LARGE);
    await expectCode(() => client.publish('$sys', text('')), InvalidArgumentError, ErrorCode.INVALID_ARGUMENT);
    expect(() => createNode({ insecure: true, service: 'Not A Service' })).toThrow(InvalidArgumentError);

    // A burst larger than the queue: the overflow is refused, the rest is answered.
    const burst = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => client.request('svc', 'echo', text(String(i)))));
    const refused = burst.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    expect(burst.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(5);
    await expectCode(Promise.reject((refused[0] as PromiseRejectedResult).reason), QueueFullError, ErrorCode.QUEUE_FULL);

    const ac = new AbortController();
    const aborted = client.request('svc', 'sleep', text('5000'), { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expectCode(aborted, AbortedError, ErrorCode.ABORTED);
    await expectCode(client.request('svc', 'echo', text(''), { signal: AbortSignal.abort() }), AbortedError, ErrorCode.ABORTED);

    // The serving process dies mid-request: PEER_DOWN once liveness notices.
    const inFlight = client.request('svc', 'sleep', text('30000'), { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 50));
    server.kill('SIGKILL');
    const down = await expectCode(inFlight, PeerDownError, ErrorCode.PEER_DOWN);
    expect(down.retryable).toBe(true);

    await client.close();
    await expectCode(client.request('svc', 'echo', text('')), ClosedError, ErrorCode.CLOSED);
  });

  it('errors - a port that is taken gives BIND_FAILED', async () => {
    const first = await clientNode();
    const second = createNode({ insecure: true, service: 'client', host: '127.0.0.1', discovery: 'static', routerPort: first.endpoints.routerPort });
    await expectCode(second.start(), BindFailedError, ErrorCode.BIND_FAILED);
    await second.closed;
  });

  it('errors - a store that is locked, foreign, corrupt or newer is refused and left untouched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zmesh-store-'));
    try {
      const foreign = join(dir, 'foreign.db');
      const other = new Database(foreign);
      other.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES (\'ada\')');
      other.close();
      const corrupt = join(dir, 'corrupt.db');
      writeFileSync(corrupt, Buffer.from('this is not a database, but somebody cares about it'));
      const newer = join(dir, 'newer.db');
      const future = new Database(newer);
      future.pragma('application_id = 0x7a6d7368');
      future.pragma('user_version = 999');
      future.close();
      // Another program holds an exclusive lock on a store (rollback journal, so even
      // readers are kept out) while the node starts.
      const locked = join(dir, 'locked.db');
      const holder = new Database(locked);
      holder.pragma('application_id = 0x7a6d7368');
      holder.exec('CREATE TABLE keep (x)');
      holder.exec('BEGIN EXCLUSIVE');
      holder.exec('INSERT INTO keep VALUES (1)');
      const lockedNode = createNode({ insecure: true, service: 'svc', host: '127.0.0.1', discovery: 'static', storePath: locked });
      const lockErr = await expectCode(lockedNode.start(), StoreError, ErrorCode.STORE);
      expect((lockErr as StoreError).problem).toBe('locked');
      holder.exec('ROLLBACK');
      holder.close();
      for (const [path, problem] of [[foreign, 'foreign'], [corrupt, 'corrupt'], [newer, 'newer']] as const) {
        const before = readFileSync(path);
        const node = createNode({ insecure: true, service: 'svc', host: '127.0.0.1', discovery: 'static', storePath: path });
        const err = await expectCode(node.start(), StoreError, ErrorCode.STORE);
        expect((err as StoreError).problem).toBe(problem);
        expect(readFileSync(path).equals(before)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('errors - a full outbox refuses a reliable send; a gap in a stream is OUT_OF_ORDER', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zmesh-outbox-'));
    try {
      const full = await clientNode({ storePath: join(dir, 'a.db'), reliable: { maxOutbox: 5 } });
      await Promise.all(Array.from({ length: 5 }, () => full.send('nobody', 'm', text('x'))));
      await expectCode(full.send('nobody', 'm', text('x')), OutboxFullError, ErrorCode.OUTBOX_FULL);
      expect(full.reliableStats()).toMatchObject({ pending: 5 });

      const sink = await clientNode({ service: 'sink', storePath: join(dir, 'b.db') });
      sink.db!.exec('CREATE TABLE effects (n INTEGER)');
      sink.handleReliable('apply', (p, ctx) => { ctx.db.prepare('INSERT INTO effects VALUES (?)').run(Number(Buffer.from(p).toString())); });
      const raw = new RawDealer(sink.endpoints.router);
      raws.push(raw);
      let attempt = 0;
      // Each attempt is a new envelope id, as the dispatcher does; dedupe is by (stream, seq).
      const reliable = async (seq: number, prev: number): Promise<number> => {
        const id = Buffer.alloc(16, ++attempt);
        await raw.send(envelope({ id, kind: pb.Kind.COMMAND, service: 'sink', subject: 'apply', payload: text(String(seq)), headers: { 'zmesh-stream': 'raw-store', 'zmesh-seq': String(seq), 'zmesh-prev': String(prev) } }));
        return (await raw.answerTo(id)).kind;
      };
      expect(await reliable(1, 0)).toBe(pb.Kind.ACK);
      expect(await reliable(3, 2)).toBe(pb.Kind.ERROR); // 2 never arrived
      const gap = raw.received.find((e) => e.kind === pb.Kind.ERROR)!;
      expect(pb.ErrorReply.decode(gap.payload).code).toBe(ErrorCode.OUT_OF_ORDER);
      seen.add(ErrorCode.OUT_OF_ORDER);
      expect(await reliable(1, 0)).toBe(pb.Kind.ACK); // a redelivery: acknowledged, no effect
      expect(await reliable(2, 1)).toBe(pb.Kind.ACK);
      expect(await reliable(3, 2)).toBe(pb.Kind.ACK);
      expect(sink.db!.prepare('SELECT n FROM effects ORDER BY rowid').pluck().all()).toEqual([1, 2, 3]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('errors - a store that cannot grow is STORE_FULL: the send is refused, a reliable command is answered so and applies later', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zmesh-full-'));
    try {
      // max_page_count is SQLite's own limit on a file's size: a real SQLITE_FULL,
      // without filling a disk (test/disk-full.test.ts fills a real one).
      const capped = (n: MeshNode): void => { n.db!.pragma(`max_page_count = ${n.db!.pragma('page_count', { simple: true }) as number}`); };
      // Kept in the row (below SPILL_MIN_BYTES), so that it needs new pages.
      const big = Buffer.alloc(SPILL_MIN_BYTES - 1_000, 7);
      const sender = await clientNode({ storePath: join(dir, 'a.db') });
      capped(sender);
      const refused = await expectCode(sender.send('nobody', 'm', big), StoreFullError, ErrorCode.STORE_FULL);
      expect(refused.retryable).toBe(true);
      expect(sender.reliableStats()).toMatchObject({ pending: 0, store: { diskFull: true, diskFullErrors: 1 } });
      sender.db!.pragma('max_page_count = 1000000');
      await sender.send('nobody', 'm', big);
      expect(sender.reliableStats()).toMatchObject({ pending: 1, store: { diskFull: false } });

      const sink = await clientNode({ service: 'sink', storePath: join(dir, 'b.db') });
      sink.db!.exec('CREATE TABLE blobs (b BLOB)');
      sink.handleReliable('put', (p, ctx) => { ctx.db.prepare('INSERT INTO blobs VALUES (?)').run(p); });
      capped(sink);
      const raw = new RawDealer(sink.endpoints.router);
      raws.push(raw);
      const command = { kind: pb.Kind.COMMAND, service: 'sink', subject: 'put', payload: big, headers: { 'zmesh-stream': 'raw-store', 'zmesh-seq': '1', 'zmesh-prev': '0' } };
      const { code, message } = await rawError(raw, command);
      expect(code).toBe(ErrorCode.STORE_FULL);
      expect(pb.ErrorReply.decode(raw.received.at(-1)!.payload).retryable).toBe(true);
      expect(errorFromWire(code, message, true, sink.id)).toBeInstanceOf(StoreFullError);
      expect(sink.reliableStats()!.store.diskFull).toBe(true);
      // Room again: the same command takes effect, once.
      sink.db!.pragma('max_page_count = 1000000');
      const id = Buffer.alloc(16, 0xee);
      await raw.send(envelope({ id, ...command }));
      expect((await raw.answerTo(id)).kind).toBe(pb.Kind.ACK);
      expect(sink.db!.prepare('SELECT count(*) FROM blobs').pluck().get()).toBe(1);
      expect(sink.reliableStats()!.store.diskFull).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('errors - credentials that cannot be used are SECURITY; a stranger to a secure node is FORBIDDEN', async () => {
    const ta = testAuthority();
    try {
      const alpha = ta.issue('alpha').security;
      const other = ta.issue('beta').security;
      // A certificate for another key, or another service, fails createNode.
      const wrongKey = await expectCode(() => createNode({ service: 'alpha', security: { ...alpha, certificate: other.certificate } }), SecurityError, ErrorCode.SECURITY);
      expect(wrongKey.message).toContain('another key');
      await expectCode(() => createNode({ service: 'gamma', security: alpha }), SecurityError, ErrorCode.SECURITY);
      // A CURVE client with a key of its own but no HELLO: every request is FORBIDDEN.
      const secure = createNode({ service: 'alpha', host: '127.0.0.1', discovery: 'static', security: alpha });
      nodes.push(secure);
      await secure.start();
      secure.handle('echo', (p) => p);
      const stranger = zmq.curveKeyPair();
      const raw = new RawDealer(secure.endpoints.router, { curveServerKey: z85Encode(Buffer.from(secure.publicKey!, 'hex')), curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey });
      raws.push(raw);
      const { code, message } = await rawError(raw, { kind: pb.Kind.REQUEST, service: 'alpha', subject: 'echo', senderNode: 'stranger-1', senderService: 'stranger' });
      expect(code).toBe(ErrorCode.FORBIDDEN);
      expect(message).toContain('not a member');
      expect(errorFromWire(code, message, false, secure.id)).toBeInstanceOf(ForbiddenError);
    } finally {
      ta.cleanup();
    }
  });

  afterAll(() => {
    // Every code in the catalog was produced by a test above...
    expect([...seen].sort()).toEqual(Object.values(ErrorCode).sort());
    // ...and is documented in the wire spec.
    const spec = readFileSync(new URL('../proto/README.md', import.meta.url), 'utf8');
    for (const code of Object.values(ErrorCode)) expect(spec, `${code} documented`).toContain(code);
  });
});
