/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/), the two headers only:
 * what zmesh writes when the application registered no propagator of its own
 * (@opentelemetry/api has none built in; the SDK's W3CTraceContextPropagator lives in
 * @opentelemetry/core, which zmesh does not depend on). proto/README.md "Trace context
 * headers" says the same for a peer in another language.
 *
 *   traceparent: 00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>
 *   tracestate:  vendor list, passed on as received (at most 512 characters)
 *
 * Parsing follows the spec's rules for a receiver: lower-case hex only, version "ff"
 * is invalid, a version above 00 may carry more fields after a "-" (ignored), a trace
 * id or span id of all zeros is invalid. An invalid traceparent is ignored (a new
 * trace starts), and so is the tracestate that came with it.
 *
 * Foundation-only module: no import at all, so the codec is testable without the API.
 */

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';
/** Longest tracestate we pass on (the spec's limit for what a vendor must propagate). */
export const MAX_TRACESTATE_CHARS = 512;

/** What the two headers carry; the shape of the API's SpanContext, minus isRemote. */
export interface W3cContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  traceState?: string;
}

const VERSION_00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const LATER_VERSION = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The traceparent value of `c` (version 00; only the sampled bit of the flags). */
export function formatTraceparent(c: Pick<W3cContext, 'traceId' | 'spanId' | 'traceFlags'>): string {
  return `00-${c.traceId}-${c.spanId}-0${(c.traceFlags & 1).toString(16)}`;
}

/** Parses the two headers; undefined when traceparent is missing or invalid. */
export function parseTraceContext(traceparent: string | undefined, tracestate: string | undefined): W3cContext | undefined {
  if (traceparent === undefined) return undefined;
  const v = traceparent.trim();
  let traceId: string, spanId: string, flags: string;
  const m00 = VERSION_00.exec(v);
  if (m00 !== null) {
    [, traceId, spanId, flags] = m00 as unknown as [string, string, string, string];
  } else {
    // A later version: parse what version 00 defines, ignore the rest (spec 3.2.4).
    const m = LATER_VERSION.exec(v);
    if (m === null || m[1] === '00' || m[1] === 'ff') return undefined;
    [, , traceId, spanId, flags] = m as unknown as [string, string, string, string, string];
  }
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  const state = tracestate?.trim();
  return {
    traceId, spanId, traceFlags: parseInt(flags, 16),
    ...(state === undefined || state === '' || state.length > MAX_TRACESTATE_CHARS ? {} : { traceState: state }),
  };
}
