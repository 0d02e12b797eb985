/**
 * Z85, the ZeroMQ Base-85 text encoding (ZeroMQ RFC 32/Z85), in which CURVE keys are
 * written: 32 bytes <-> 40 characters.
 *
 * Each 4 bytes, read as a big-endian unsigned 32-bit number, become 5 characters: the
 * number's base-85 digits, most significant first, each mapped through ALPHABET.
 * Decoding reverses that. The RFC leaves padding to the caller, so both sides refuse
 * lengths that are not whole groups.
 *
 * Sharp edge: five characters can spell numbers up to 85^5 - 1, above 2^32 - 1 (for
 * example "%%%%%"). Such a group has no bytes; decoding refuses it instead of
 * silently wrapping, so every accepted text has exactly one byte string.
 */
import { InvalidArgumentError } from '../errors.js';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

/** Character code -> digit, -1 for characters outside the alphabet. */
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i;

const MAX_GROUP = 0xffff_ffff;

/** Encodes bytes whose length is a multiple of 4. */
export function z85Encode(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('z85Encode takes a Uint8Array');
  if (bytes.length % 4 !== 0) throw new InvalidArgumentError(`Z85 encodes whole 4-byte groups; got ${bytes.length} bytes`);
  let out = '';
  const group = new Array<string>(5);
  for (let i = 0; i < bytes.length; i += 4) {
    // `>>> 0` keeps the value unsigned: a top byte >= 128 would make `<< 24` negative.
    let value = ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
    for (let j = 4; j >= 0; j--) {
      group[j] = ALPHABET[value % 85]!;
      value = Math.floor(value / 85);
    }
    out += group.join('');
  }
  return out;
}

/** Decodes text whose length is a multiple of 5. Throws InvalidArgumentError on any
 *  other length, on characters outside the alphabet, and on groups above 2^32 - 1. */
export function z85Decode(text: string): Buffer {
  if (typeof text !== 'string') throw new InvalidArgumentError('z85Decode takes a string');
  if (text.length % 5 !== 0) throw new InvalidArgumentError(`Z85 decodes whole 5-character groups; got ${text.length} characters`);
  const out = Buffer.allocUnsafe((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let value = 0;
    for (let j = 0; j < 5; j++) {
      const code = text.charCodeAt(i + j);
      const digit = code < 128 ? DIGIT[code]! : -1;
      if (digit < 0) throw new InvalidArgumentError(`not a Z85 character at offset ${i + j}`);
      // Doubles hold 85^5 exactly, so overflow is detected after the group, not lost.
      value = value * 85 + digit;
    }
    if (value > MAX_GROUP) throw new InvalidArgumentError(`Z85 group at offset ${i} exceeds 32 bits`);
    out.writeUInt32BE(value, o);
  }
  return out;
}
