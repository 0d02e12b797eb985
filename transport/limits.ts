/**
 * Fixed limits of wire protocol version 1 (proto/README.md, section 10). They are
 * facts of the protocol, not settings: every peer must agree on them. Settings with
 * defaults live in options.ts.
 */

/** Bytes in a zmesh message id (an 8-byte epoch, then an 8-byte sequence number). */
export const ID_BYTES = 16;
/** Largest id a receiver accepts from another implementation. */
export const MAX_ID_BYTES = 64;
/** Largest topic, method name or other `subject`, in UTF-8 bytes. */
export const MAX_SUBJECT_BYTES = 256;
/** Largest header frame; header maps beyond this are refused before decoding. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Largest application `headers` map a sender accepts, as encoded (keys and values in
 *  UTF-8 bytes, with their protobuf framing; names.ts headersBytes). The rest of the
 *  header frame is room for every other field at its largest (under 600 bytes), the
 *  reliable class's own headers (under 200) and a secure node's MAC trailer (18): a
 *  message within this limit always fits MAX_HEADER_BYTES at the receiver. */
export const MAX_HEADERS_BYTES = 15 * 1024;
/** Frames per zmesh message on the wire: header, body. */
export const FRAMES_PER_MESSAGE = 2;
/** zmesh messages one ZeroMQ message may carry, and the byte budget of one batch. */
export const MAX_BATCH_MESSAGES = 512;
export const MAX_BATCH_BYTES = 512 * 1024;
/** Length prefix of each part inside a packed frame (section 2). */
export const PACK_LENGTH_BYTES = 4;
/** Largest packed frame. Every receiver accepts frames of MAX_HEADER_BYTES whatever
 *  its payload limit, so a packed frame never trips a peer's ZMQ_MAXMSGSIZE. */
export const MAX_PACKED_BYTES = MAX_HEADER_BYTES;
/** libzmq drops the connection of a peer that sends a frame above this multiple of our
 *  frame limit, before allocating it. Frames between the two are dropped by us and
 *  counted, so a misbehaving peer shows up in stats. */
export const ZMQ_MAXMSGSIZE_FACTOR = 2;
