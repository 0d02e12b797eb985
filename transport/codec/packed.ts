/**
 * Packed frames (proto/README.md section 2): on the XPUB -> SUB path, a run of small
 * events on one topic may travel as [topic, packed], where `packed` is every header
 * and body of the run, each preceded by its length as a 4-byte big-endian unsigned
 * integer. Receiving one frame costs about as much as receiving one small frame, so
 * this takes the per-frame cost of zeromq.js (a Buffer and a native call per frame)
 * off each event.
 */
import { FRAMES_PER_MESSAGE, MAX_PACKED_BYTES, PACK_LENGTH_BYTES } from '../limits.js';

/** Packs frames[from..to) ([h1, b1, ..., hn, bn]) into one frame. */
export function packPairs(frames: readonly Uint8Array[], from: number, to: number): Buffer {
  let size = 0;
  for (let i = from; i < to; i++) size += PACK_LENGTH_BYTES + frames[i]!.byteLength;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = from; i < to; i++) {
    const f = frames[i]!;
    out.writeUInt32BE(f.byteLength, at);
    out.set(f, at + PACK_LENGTH_BYTES);
    at += PACK_LENGTH_BYTES + f.byteLength;
  }
  return out;
}

/**
 * The parts of a packed frame, [h1, b1, ..., hn, bn], as views into it (no copy: an
 * event payload delivered from a packed frame keeps that frame alive while it is held).
 * Undefined unless the frame is exactly 1..maxPairs length-prefixed pairs.
 */
export function unpackPairs(frame: Buffer, maxPairs: number): Buffer[] | undefined {
  if (frame.byteLength > MAX_PACKED_BYTES) return undefined;
  const parts: Buffer[] = [];
  let at = 0;
  while (at < frame.byteLength) {
    if (frame.byteLength - at < PACK_LENGTH_BYTES || parts.length === maxPairs * FRAMES_PER_MESSAGE) return undefined;
    const length = frame.readUInt32BE(at);
    at += PACK_LENGTH_BYTES;
    if (length > frame.byteLength - at) return undefined;
    parts.push(frame.subarray(at, at + length));
    at += length;
  }
  return parts.length > 0 && parts.length % FRAMES_PER_MESSAGE === 0 ? parts : undefined;
}
