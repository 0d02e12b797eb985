/**
 * The protobuf reader every header is decoded with: protobufjs's own, except for how
 * a string field is read.
 *
 * protobufjs reads a string (`stringVerify`, strict UTF-8) in JavaScript, eight
 * characters at a time, concatenated: a 25-character sender_node becomes a rope of
 * four pieces, which V8 flattens again the first time it is matched or compared. So a
 * header's decode cost grew with its ids, and a secure node's id is 8 characters
 * longer than an insecure one's (a key fingerprint, proto/README.md section 17.1):
 * about 0.1 µs more per event on a subscriber, measured. The strings of the envelopes
 * zmesh writes are ASCII, and ASCII bytes are always valid UTF-8, so such a string is
 * read here in one native call into a flat string. Anything else goes the strict way,
 * unchanged: the same strings, the same errors.
 *
 * Sharp edge: `latin1Slice` is the Buffer method `toString('latin1', ...)` ends in
 * (protobufjs calls its sibling utf8Slice the same way). Going through toString
 * instead costs its argument and encoding checks, three times a header: measured, that
 * ate the whole gain.
 */
import protobuf from 'protobufjs/minimal.js';

type Sliceable = Buffer & { latin1Slice?(start: number, end: number): string };

class HeaderReader extends protobuf.BufferReader {
  override stringVerify(): string {
    const at = this.pos;
    const length = this.size();
    const start = this.pos;
    const end = start + length;
    if (end <= this.len) {
      const buf = this.buf as Sliceable;
      let bits = 0;
      for (let i = start; i < end; i++) bits |= buf[i]!;
      if (bits < 0x80) {
        this.pos = end;
        return buf.latin1Slice === undefined ? buf.toString('latin1', start, end) : buf.latin1Slice(start, end);
      }
    }
    // Not ASCII, or past the end: protobufjs reads (or refuses) it from its length on.
    this.pos = at;
    return super.stringVerify();
  }
}

/** A reader over `frame` (a view on the same bytes when it is not a Buffer). */
export function headerReader(frame: Uint8Array): protobuf.Reader {
  return new HeaderReader(Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
}
