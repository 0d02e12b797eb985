/** The envelope codec and error catalog, with no sockets at all. */
import { describe, expect, it } from 'vitest';
import { Kind, decodeMessage, encodeEnvelope } from '../transport/codec/envelope.js';
import { IdSource } from '../transport/codec/ids.js';
import { zmesh } from '../transport/gen/mesh.js';
import { packPairs, unpackPairs } from '../transport/codec/packed.js';
import { MAX_PACKED_BYTES } from '../transport/limits.js';
import { toWire } from '../transport/pubsub/publisher.js';
import { ErrorCode, HandlerFailedError, WIRE_CODES, errorFromWire } from '../transport/errors.js';

const base = { version: 1, id: Buffer.alloc(16, 1), senderNode: 'n-1', senderService: 'svc', seq: 5, timestampMs: 1_700_000_000_000 };

describe('codec', () => {
  it('codec - round-trips an envelope with numbers for uint64 fields', () => {
    const header = encodeEnvelope({ ...base, kind: Kind.REQUEST, service: 'svc', subject: 'm', headers: { a: 'b' }, ttlMs: 100 });
    const d = decodeMessage(header, Buffer.from('p'), 1_000);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.env).toMatchObject({ seq: 5, timestampMs: 1_700_000_000_000, service: 'svc', subject: 'm', ttlMs: 100, headers: { a: 'b' } });
    expect(typeof d.env.seq).toBe('number');
    expect(Buffer.from(d.env.payload).toString()).toBe('p');
  });

  it.each([
    ['oversized header', Buffer.alloc(20_000), 'oversized'],
    ['not protobuf', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), 'malformed'],
    ['empty frame', Buffer.alloc(0), 'invalid'],
    ['wrong version', encodeEnvelope({ ...base, version: 3, kind: Kind.EVENT, subject: 't' }), 'versionMismatch'],
    ['unknown kind', encodeEnvelope({ ...base, kind: 77 as Kind }), 'unknownKind'],
    ['no id', encodeEnvelope({ ...base, id: Buffer.alloc(0), kind: Kind.EVENT, subject: 't' }), 'invalid'],
    ['bad sender', encodeEnvelope({ ...base, senderNode: 'a b', kind: Kind.EVENT, subject: 't' }), 'invalid'],
    ['reply without correlation', encodeEnvelope({ ...base, kind: Kind.REPLY }), 'invalid'],
    ['request without method', encodeEnvelope({ ...base, kind: Kind.REQUEST, service: 's' }), 'invalid'],
    ['event without topic', encodeEnvelope({ ...base, kind: Kind.EVENT }), 'invalid'],
    ['subject too long', encodeEnvelope({ ...base, kind: Kind.EVENT, subject: 'x'.repeat(300) }), 'invalid'],
    ['subject over 256 UTF-8 bytes in 100 characters', encodeEnvelope({ ...base, kind: Kind.EVENT, subject: '€'.repeat(100) }), 'invalid'],
    ['subject of 256 characters and 768 bytes', encodeEnvelope({ ...base, kind: Kind.REQUEST, service: 'svc', subject: '€'.repeat(256) }), 'invalid'],
    ['ack without correlation', encodeEnvelope({ ...base, kind: Kind.ACK }), 'invalid'],
    ['sync without topic', encodeEnvelope({ ...base, kind: Kind.SYNC }), 'invalid'],
    ['command without service', encodeEnvelope({ ...base, kind: Kind.COMMAND, subject: 'm' }), 'invalid'],
  ])('codec - rejects %s as %s', (_name, header, reason) => {
    const d = decodeMessage(header, Buffer.alloc(0), 1_000);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toBe(reason);
  });

  it('codec - strings decode as protobufjs decodes them: ASCII, other UTF-8, bad UTF-8 and a length past the end refused', () => {
    // transport/codec/reader.ts reads ASCII strings its own way: compare with the stock decoder.
    const header = encodeEnvelope({ ...base, kind: Kind.EVENT, senderNode: 'bench-pub-c01cbaa5e5976586', subject: 'a.€.ü', headers: { 'k-ü': 'v€', k: 'plain' } });
    const d = decodeMessage(header, Buffer.alloc(0), 1_000);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    const stock = zmesh.v1.Envelope.decode(header);
    expect({ node: d.env.senderNode, subject: d.env.subject, headers: d.env.headers }).toEqual({ node: stock.senderNode, subject: stock.subject, headers: stock.headers });
    expect(d.env.subject).toBe('a.€.ü');
    // The euro sign's three bytes made invalid UTF-8 (a lone continuation byte, then two more).
    const euro = header.indexOf(Buffer.from('€'));
    const bad = Buffer.from(header);
    bad[euro] = 0x80;
    expect(decodeMessage(bad, Buffer.alloc(0), 1_000)).toMatchObject({ ok: false, reason: 'malformed' });
    // A string (the subject, the last field here) whose length runs past the frame.
    const last = encodeEnvelope({ ...base, kind: Kind.EVENT, subject: 'abcdef' });
    expect(decodeMessage(last.subarray(0, last.length - 1), Buffer.alloc(0), 1_000)).toMatchObject({ ok: false, reason: 'malformed' });
    // A header that is a plain Uint8Array (not a Buffer) decodes too.
    expect(decodeMessage(new Uint8Array(header), Buffer.alloc(0), 1_000)).toMatchObject({ ok: true, env: { subject: 'a.€.ü' } });
  });

  it('codec - a payload over the limit is refused after the header, so it can be answered', () => {
    const header = encodeEnvelope({ ...base, kind: Kind.REQUEST, service: 'svc', subject: 'm' });
    const d = decodeMessage(header, Buffer.alloc(1_001), 1_000);
    expect(d).toMatchObject({ ok: false, reason: 'oversized' });
    expect(d.ok === false && d.env?.subject).toBe('m');
  });

  it('codec - ids are 16 bytes, unique, and carry the seq', () => {
    const ids = new IdSource();
    const a = ids.next();
    const b = ids.next();
    expect(a.id).toHaveLength(16);
    expect(b.seq).toBe(a.seq + 1);
    expect(a.id.subarray(0, 8)).toEqual(b.id.subarray(0, 8));
    expect(b.id.readUInt32BE(12)).toBe(b.seq);
    expect(new IdSource().next().id.subarray(0, 8)).not.toEqual(a.id.subarray(0, 8));
  });

  it('codec - packed frames round-trip, and anything but exact length-prefixed pairs is refused', () => {
    const parts = [Buffer.from('h1'), Buffer.alloc(0), Buffer.from('h2'), Buffer.from('body two')];
    const packed = packPairs(parts, 0, parts.length);
    expect(packed.length).toBe(4 * 4 + 2 + 0 + 2 + 8);
    expect(unpackPairs(packed, 512)!.map((p) => p.toString())).toEqual(['h1', '', 'h2', 'body two']);
    expect(unpackPairs(packPairs(parts, 2, 4), 512)!.map((p) => p.toString())).toEqual(['h2', 'body two']);
    expect(unpackPairs(packed, 1)).toBeUndefined();                                  // more pairs than allowed
    expect(unpackPairs(packed.subarray(0, packed.length - 1), 512)).toBeUndefined(); // truncated part
    expect(unpackPairs(Buffer.concat([packed, Buffer.from([0])]), 512)).toBeUndefined(); // trailing byte
    expect(unpackPairs(packPairs(parts, 0, 3), 512)).toBeUndefined();               // odd part count
    expect(unpackPairs(Buffer.alloc(0), 512)).toBeUndefined();                      // no pair
    expect(unpackPairs(Buffer.alloc(MAX_PACKED_BYTES + 8), 512)).toBeUndefined();    // too big
  });

  it('codec - a publisher batch becomes packed runs and lone large events, in order', () => {
    const topic = Buffer.from('t');
    const small = (i: number): Buffer[] => [Buffer.from(`h${i}`), Buffer.alloc(100, i)];
    const large = (i: number): Buffer[] => [Buffer.from(`h${i}`), Buffer.alloc(MAX_PACKED_BYTES, i)];
    const pairs = [small(0), small(1), large(2), large(3), small(4), large(5), ...Array.from({ length: 400 }, (_, i) => small(6 + i))];
    const messages = toWire([topic, ...pairs.flat()]);
    // Every message starts with the topic; unpacking them all gives back every pair in order.
    const back = messages.flatMap((m) => {
      expect(m[0]).toBe(topic);
      return m.length === 2 ? unpackPairs(Buffer.from(m[1]!), 512)! : m.slice(1);
    });
    expect(back.map((f) => Buffer.from(f))).toEqual(pairs.flat());
    // [0,1] packed; [2,3] one classic message; [4] alone; [5] alone; the 400 small ones
    // packed into frames that each fit MAX_PACKED_BYTES.
    expect(messages.slice(0, 4).map((m) => m.length)).toEqual([2, 5, 3, 3]);
    const rest = messages.slice(4);
    expect(rest.length).toBeGreaterThan(1);
    for (const m of rest) {
      expect(m).toHaveLength(2);
      expect(m[1]!.byteLength).toBeLessThanOrEqual(MAX_PACKED_BYTES);
    }
    // One event on its own stays [topic, header, body].
    expect(toWire([topic, ...small(9)])).toEqual([[topic, ...small(9)]]);
  });

  it('errors - every wire code rebuilds as its own class; unknown codes degrade safely', () => {
    for (const code of WIRE_CODES) {
      const err = errorFromWire(code, 'm', true, 'peer-1');
      expect(err.code).toBe(code);
      expect(err.remoteNode).toBe('peer-1');
      expect(err.name).not.toBe('ZmeshError');
    }
    const unknown = errorFromWire('ZMESH_ERR_FROM_THE_FUTURE', 'm', false, 'p');
    expect(unknown).toBeInstanceOf(HandlerFailedError);
    expect(unknown.code).toBe(ErrorCode.HANDLER_FAILED);
    expect(unknown.message).toContain('ZMESH_ERR_FROM_THE_FUTURE');
  });
});
