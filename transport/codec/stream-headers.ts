/**
 * Header keys of the reliable class (proto/README.md sections 14 and 15) and the
 * exact syntax of their values. Parsing is strict on purpose: "1e3", "01", "-0" or a
 * number past 2^53 - 1 would each be read differently by another language's integer
 * parser, and a stream position is the one thing two peers must agree on exactly.
 */
import { NODE_ID_RE } from '../names.js';

export const HEADER_STREAM = 'zmesh-stream';
export const HEADER_SEQ = 'zmesh-seq';
export const HEADER_PREV = 'zmesh-prev';
export const HEADER_ESTREAM = 'zmesh-estream';
export const HEADER_ESEQ = 'zmesh-eseq';
/** A reliable event's predecessors by subscribed prefix (proto/README.md section 15.1). */
export const HEADER_EPREV = 'zmesh-eprev';
/** The most bytes a publisher puts in one zmesh-eprev value. */
export const MAX_EPREV_BYTES = 1_024;

/** A stream id has the syntax of a node id; zmesh uses 16 lowercase hex digits. */
export const STREAM_ID_RE = NODE_ID_RE;
/** A decimal integer with no sign, no leading zero and no exponent. */
const DECIMAL_RE = /^(0|[1-9]\d{0,15})$/;

/** The value of a decimal header, or undefined unless it is 0..2^53-1 as plain digits. */
export function parseDecimal(value: string | undefined): number | undefined {
  if (value === undefined || !DECIMAL_RE.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

export interface StreamPosition {
  stream: string;
  seq: number;
  prev: number;
}

/** A reliable command's place in its stream; undefined unless every header is valid:
 *  a stream id, 1 <= seq, 0 <= prev < seq. */
export function parseStreamPosition(headers: Readonly<Record<string, string>>): StreamPosition | undefined {
  const stream = headers[HEADER_STREAM];
  const seq = parseDecimal(headers[HEADER_SEQ]);
  const prev = parseDecimal(headers[HEADER_PREV]);
  if (stream === undefined || !STREAM_ID_RE.test(stream) || seq === undefined || prev === undefined) return undefined;
  return seq >= 1 && prev < seq ? { stream, seq, prev } : undefined;
}

/** Encodes [prefix, prev] pairs as zmesh-eprev's value (a JSON array of pairs), as
 *  many as fit MAX_EPREV_BYTES; undefined when none does. */
export function encodeEventPrevs(pairs: ReadonlyArray<readonly [string, number]>): string | undefined {
  const kept: Array<readonly [string, number]> = [];
  let bytes = 2;
  for (const pair of pairs) {
    const size = Buffer.byteLength(JSON.stringify(pair)) + 1;
    if (bytes + size > MAX_EPREV_BYTES) break;
    kept.push(pair);
    bytes += size;
  }
  return kept.length === 0 ? undefined : JSON.stringify(kept);
}

/** From a zmesh-eprev value, the predecessor the event names for `prefix`: the seq of
 *  the previous reliable event whose topic starts with `prefix`, 0 for none. Undefined
 *  when the header is absent, malformed, does not name the prefix, or names a prev
 *  that is not below `seq`: the caller then treats the event as it would without it. */
export function eventPrevFor(value: string | undefined, prefix: string, seq: number): number | undefined {
  if (value === undefined || value.length > MAX_EPREV_BYTES * 2) return undefined;
  let pairs: unknown;
  try {
    pairs = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!Array.isArray(pairs)) return undefined;
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2 || pair[0] !== prefix) continue;
    const prev: unknown = pair[1];
    return typeof prev === 'number' && Number.isSafeInteger(prev) && prev >= 0 && prev < seq ? prev : undefined;
  }
  return undefined;
}
