/**
 * Issue 12, finding 8: byte limits counted in characters. "€" is one UTF-16 unit and
 * three UTF-8 bytes, so 256 of them (768 bytes) pass a `.length <= 256` check. Every
 * string the protocol limits in bytes is refused locally, with a typed error, before
 * it is queued or stored; and a peer that sends one anyway has it dropped and counted.
 *
 *   node a (store) --request/command/send/publish--> node b (store)
 *   raw DEALER --hostile REQUEST, $replay--> node b
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ErrorCode, MAX_HEADERS_BYTES, MAX_SUBJECT_BYTES, createNode, defineEvent, isSubject, jsonCodec, parsePeer, type MeshNode,
} from '../transport/index.js';
import { Kind, decodeMessage, encodeEnvelope } from '../transport/codec/envelope.js';
import { decodeReplayReply, decodeReplayRequest, encodeReplayReply, encodeReplayRequest } from '../transport/codec/control.js';
import { headersBytes } from '../transport/names.js';
import { RawDealer, envelope, pb } from './helpers/raw-peer.js';

/** 256 characters, 768 bytes: the finding's subject. */
const EUROS = '€'.repeat(256);
/** Headers of 6 000 characters and 18 000 bytes: over MAX_HEADERS_BYTES (15 KiB) and
 *  over the 16 KiB header frame every receiver takes (it would drop the message). */
const BIG_HEADERS = { note: '€'.repeat(6_000) };
/** Just under it: 15 000 bytes of value. */
const FULL_HEADERS = { note: '€'.repeat(5_000) };

const dir = mkdtempSync(join(tmpdir(), 'zmesh-byte-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nodes: MeshNode[] = [];
const raws: RawDealer[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.close());
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

let n = 0;
let a: MeshNode;
let b: MeshNode;
beforeEach(async () => {
  n++;
  b = createNode({ insecure: true, service: 'beta', host: '127.0.0.1', discovery: 'static', storePath: join(dir, `b-${n}.db`) });
  nodes.push(b);
  await b.start();
  b.handle('Echo', (p, ctx) => Buffer.from(JSON.stringify({ bytes: p.byteLength, headers: ctx.headers })));
  a = createNode({ insecure: true, service: 'alpha', host: '127.0.0.1', peers: [b.endpoints.router], storePath: join(dir, `a-${n}.db`) });
  nodes.push(a);
  await a.start();
  await a.waitForService('beta');
});

describe('byte limits', () => {
  it('byte limits - names: subjects, headers and hosts are measured in UTF-8 bytes', () => {
    expect(EUROS.length).toBe(MAX_SUBJECT_BYTES);
    expect(isSubject('€'.repeat(85))).toBe(true);   // 255 bytes
    expect(isSubject('€'.repeat(86))).toBe(false);  // 258 bytes in 86 characters
    expect(isSubject(EUROS)).toBe(false);
    expect(isSubject('x'.repeat(256))).toBe(true);
    expect(isSubject('')).toBe(false);
    // One entry: tags, lengths and bytes, exactly as protobuf lays the map out.
    const header = encodeEnvelope({ headers: { k: '€'.repeat(50) } });
    expect(headersBytes({ k: '€'.repeat(50) })).toBe(header.byteLength);
    expect(headersBytes({ k: 1 })).toBeUndefined();
    expect(headersBytes(BIG_HEADERS)).toBeGreaterThan(MAX_HEADERS_BYTES);
    expect(headersBytes(FULL_HEADERS)).toBeLessThanOrEqual(MAX_HEADERS_BYTES);
    // Hosts: what libzmq can dial, at most 253 bytes.
    expect(parsePeer('tcp://127.0.0.1:99999')).toBeUndefined();
    expect(parsePeer('tcp://€.example:5555')).toBeUndefined();
    expect(parsePeer('tcp://999.1.1.1:5555')).toBeUndefined();
    expect(parsePeer(`tcp://${'a.'.repeat(127)}b:5555`)).toBeUndefined(); // 255 bytes
    expect(parsePeer('tcp://peer.example:5555')).toEqual({ endpoint: 'tcp://peer.example:5555', publicKey: undefined });
  });

  it('byte limits - a request or command with a 768-byte method fails locally with INVALID_ARGUMENT; nothing reaches the peer', async () => {
    const before = b.stats().dropped.invalid;
    await expect(a.request('beta', EUROS, Buffer.alloc(0), { timeoutMs: 2_000 })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, remoteNode: undefined });
    expect(() => a.command('beta', EUROS, Buffer.alloc(0))).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    // The peer saw neither: a request sent after them is answered, and nothing was dropped.
    expect(JSON.parse(Buffer.from(await a.request('beta', 'Echo', Buffer.alloc(3))).toString())).toMatchObject({ bytes: 3 });
    expect(b.stats().dropped.invalid).toBe(before);
  });

  it('byte limits - headers over 15 KiB of UTF-8 fail locally with MESSAGE_TOO_LARGE; headers under it arrive whole', async () => {
    const before = b.stats().dropped.oversized;
    await expect(a.request('beta', 'Echo', Buffer.alloc(0), { headers: BIG_HEADERS, timeoutMs: 2_000 })).rejects.toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE });
    expect(() => a.command('beta', 'Echo', Buffer.alloc(0), { headers: BIG_HEADERS })).toThrow(expect.objectContaining({ code: ErrorCode.MESSAGE_TOO_LARGE }));
    expect(() => a.publish('alpha.note', Buffer.alloc(0), { headers: BIG_HEADERS })).toThrow(expect.objectContaining({ code: ErrorCode.MESSAGE_TOO_LARGE }));
    expect(() => a.publish('alpha.note', Buffer.alloc(0), { headers: { n: 1 } as unknown as Record<string, string> })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    // The limit leaves room for every other field: the largest headers allowed fit the
    // receiver's 16 KiB header frame.
    const echoed = JSON.parse(Buffer.from(await a.request('beta', 'Echo', Buffer.alloc(0), { headers: FULL_HEADERS })).toString()) as { headers: Record<string, string> };
    expect(echoed.headers).toEqual(FULL_HEADERS);
    expect(b.stats().dropped.oversized).toBe(before);
  });

  it('byte limits - reliable sends and publishes refuse them before anything is stored', async () => {
    await expect(a.send('beta', EUROS, Buffer.alloc(0))).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(a.send('beta', 'Credit', Buffer.alloc(0), { headers: BIG_HEADERS })).rejects.toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE });
    await expect(a.send('Not A Service', 'Credit', Buffer.alloc(0))).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(a.publishReliable('alpha.note', Buffer.alloc(0), { headers: BIG_HEADERS })).rejects.toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE });
    expect(() => a.transact((tx) => tx.send('beta', EUROS, Buffer.alloc(0)))).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(a.reliableStats()?.pending ?? 0).toBe(0);
    // A declared event topic is held to the same limit.
    expect(() => defineEvent({ topic: '€'.repeat(86), codec: jsonCodec() })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });

  it('byte limits - a raw peer\'s request with a 768-byte method is dropped as invalid, counted, and answered BAD_MESSAGE', async () => {
    const raw = new RawDealer(b.endpoints.router);
    raws.push(raw);
    const before = b.stats().dropped.invalid;
    const id = Buffer.alloc(16, 7);
    await raw.send(envelope({ id, kind: pb.Kind.REQUEST, service: 'beta', subject: EUROS }));
    const answer = await raw.answerTo(id);
    expect(answer.kind).toBe(pb.Kind.ERROR);
    expect(pb.ErrorReply.decode(answer.payload).code).toBe(ErrorCode.BAD_MESSAGE);
    expect(b.stats().dropped.invalid).toBe(before + 1);
    // Every kind that carries a subject, decoded alone.
    for (const kind of [Kind.REQUEST, Kind.COMMAND, Kind.EVENT, Kind.SYNC]) {
      const header = pb.Envelope.encode({ version: 1, kind, id, senderNode: 'raw', senderService: 'raw', service: 'beta', subject: EUROS }).finish();
      expect(decodeMessage(header, Buffer.alloc(0), 1_000)).toMatchObject({ ok: false, reason: 'invalid', detail: `subject over ${MAX_SUBJECT_BYTES} bytes` });
    }
  });

  it('byte limits - a $replay asking for a 768-byte prefix is refused with BAD_MESSAGE, not answered as if empty', async () => {
    const raw = new RawDealer(b.endpoints.router);
    raws.push(raw);
    const ask = async (prefix: string): Promise<{ kind: number; code?: string }> => {
      const id = Buffer.alloc(16, prefix.length % 200);
      const body = Buffer.from(pb.ReplayRequest.encode({ known: {}, prefix, max: 10, subscriber: 'x@y' }).finish());
      await raw.send(envelope({ id, kind: pb.Kind.REQUEST, service: 'beta', subject: '$replay', payload: body }));
      const answer = await raw.answerTo(id);
      return answer.kind === pb.Kind.ERROR ? { kind: answer.kind, code: pb.ErrorReply.decode(answer.payload).code } : { kind: answer.kind };
    };
    expect(await ask('beta.')).toEqual({ kind: pb.Kind.REPLY });
    expect(await ask(EUROS)).toEqual({ kind: pb.Kind.ERROR, code: ErrorCode.BAD_MESSAGE });
    expect(decodeReplayRequest(encodeReplayRequest({ known: {}, prefix: EUROS, max: 1, subscriber: 's@t', maxBytes: 0 }))).toBeUndefined();
    expect(decodeReplayRequest(encodeReplayRequest({ known: {}, prefix: '€'.repeat(85), max: 1, subscriber: 's@t', maxBytes: 0 }))).toBeDefined();
  });

  it('byte limits - a replay answer carrying an event with a 768-byte topic is refused whole', () => {
    const event = { seq: 1, topic: 'beta.ok', payload: Buffer.alloc(1), headers: {}, timestampMs: 1, id: Buffer.alloc(16, 1), node: 'beta-1', service: 'beta' };
    const reply = (events: Array<typeof event>): Uint8Array => encodeReplayReply({ stream: 'abcdef0123456789', head: 2, events, more: false });
    expect(decodeReplayReply(reply([event]))?.events).toHaveLength(1);
    expect(decodeReplayReply(reply([event, { ...event, seq: 2, topic: EUROS }]))).toBeUndefined();
    expect(decodeReplayReply(reply([{ ...event, node: 'not a node id' }]))).toBeUndefined();
  });
});
