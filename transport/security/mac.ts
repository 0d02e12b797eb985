/**
 * Message authentication between two nodes, keyed by their long-term CURVE keys.
 *
 * CURVE authenticates a connection, but a ROUTER receives from many connections and a
 * message's header names its sender only by claim. A MAC keyed by the static key pair
 * of sender and receiver binds each message to the key that sent it:
 *
 *   shared = X25519(my secret, peer public)                    (equal on both sides)
 *   key    = HKDF-SHA256(ikm = shared, salt = empty,
 *                        info = "zmesh-mac-v1" || min(pubA, pubB) || max(pubA, pubB), 32)
 *   mac    = HMAC-SHA256(key, header || body)[0..16]
 *
 * Both public keys go into `info` in byte order, so both sides build the same string,
 * and a key derived for one pair of nodes is useless for any other pair.
 *
 * On the wire the MAC is the LAST field of the header: protobuf field 14, type bytes,
 * i.e. the 18 bytes 0x72 0x10 <mac> appended to the encoded Envelope. The MAC covers the
 * header bytes before those 18 and the whole body frame. A receiver that does not check
 * MACs still decodes the header (a known bytes field, or an unknown one it skips).
 *
 * Cost: macKey is per peer (two key imports and one X25519); seal and open are per
 * message and do one HMAC each, with no copy of the MAC input. The HMAC is computed
 * from SHA-256 states that already hold the key's inner and outer pads (RFC 2104),
 * copied per message: on a mostly idle node this costs about 60 % of createHmac(),
 * which sets the key up again each time. The output is plain HMAC-SHA256.
 */
import { createHash, createPublicKey, diffieHellman, hkdfSync, timingSafeEqual, type Hash } from 'node:crypto';
import { SecurityError } from '../errors.js';
import { curvePrivateKey, keyBytes } from './keys.js';

/** Bytes of the MAC carried in a header. */
export const MAC_BYTES = 16;
/** Bytes appended to the header: tag, length, MAC. */
export const MAC_TRAILER_BYTES = MAC_BYTES + 2;
/** Protobuf key of Envelope field 14, wire type 2 (length-delimited): 14 << 3 | 2. */
export const MAC_FIELD_TAG = 0x72;
/** Bytes of a derived MAC key. */
export const MAC_KEY_BYTES = 32;
const INFO_LABEL = Buffer.from('zmesh-mac-v1', 'ascii');

/**
 * The MAC key shared by this node and a peer. Both sides get the same 32 bytes.
 * SecurityError 'key' when a key is not 40 characters of Z85, when `mySecretZ85` does
 * not belong to `myPublicZ85`, or when the peer key is a low-order point (the shared
 * secret would be all zeros, known to anyone).
 */
export function macKey(mySecretZ85: string, myPublicZ85: string, peerPublicZ85: string): Buffer {
  const privateKey = curvePrivateKey({ secretKey: mySecretZ85, publicKey: myPublicZ85 });
  const mine = keyBytes(myPublicZ85);
  const theirs = keyBytes(peerPublicZ85);
  let shared: Buffer;
  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: theirs.toString('base64url') }, format: 'jwk' });
    shared = diffieHellman({ privateKey, publicKey });
  } catch (err) {
    // OpenSSL refuses the all-zero result of a low-order peer key (RFC 7748, section 6.1).
    throw new SecurityError('key', 'no shared secret with this peer key (a low-order point?)', { cause: err });
  }
  const [low, high] = Buffer.compare(mine, theirs) <= 0 ? [mine, theirs] : [theirs, mine];
  const info = Buffer.concat([INFO_LABEL, low, high]);
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), info, MAC_KEY_BYTES));
}

/** header + 0x72 0x10 + MAC(header || body). The header must not carry field 14. */
export function sealHeader(key: Uint8Array, header: Uint8Array, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(header.length + MAC_TRAILER_BYTES);
  out.set(header, 0);
  out[header.length] = MAC_FIELD_TAG;
  out[header.length + 1] = MAC_BYTES;
  mac(key, header, body).copy(out, header.length + 2, 0, MAC_BYTES);
  return out;
}

/**
 * True iff `sealed` ends with 0x72 0x10 and a MAC that matches the bytes before that
 * trailer and `body`. Never throws: any malformed input (too short, wrong trailer, a
 * key of the wrong type) is simply false.
 */
export function openHeader(key: Uint8Array, sealed: Uint8Array, body: Uint8Array): boolean {
  try {
    const end = sealed.length - MAC_TRAILER_BYTES;
    if (end < 0 || sealed[end] !== MAC_FIELD_TAG || sealed[end + 1] !== MAC_BYTES) return false;
    const expected = mac(key, sealed.subarray(0, end), body).subarray(0, MAC_BYTES);
    return timingSafeEqual(expected, sealed.subarray(end + 2));
  } catch {
    return false;
  }
}

/** SHA-256 block size, the length of the HMAC pads. */
const BLOCK_BYTES = 64;
/** Per key: SHA-256 states after the inner and the outer pad. Keys are long-lived
 *  (one per peer), so the states live as long as their key does. */
const padded = new WeakMap<Uint8Array, { inner: Hash; outer: Hash }>();

function padStates(key: Uint8Array): { inner: Hash; outer: Hash } {
  let states = padded.get(key);
  if (states === undefined) {
    // RFC 2104: a key longer than a block is hashed first; ours are 32 bytes.
    const k = key.length > BLOCK_BYTES ? createHash('sha256').update(key).digest() : key;
    const ipad = Buffer.alloc(BLOCK_BYTES, 0x36);
    const opad = Buffer.alloc(BLOCK_BYTES, 0x5c);
    for (let i = 0; i < k.length; i++) {
      ipad[i]! ^= k[i]!;
      opad[i]! ^= k[i]!;
    }
    states = { inner: createHash('sha256').update(ipad), outer: createHash('sha256').update(opad) };
    padded.set(key, states);
  }
  return states;
}

/** The full HMAC-SHA256; callers keep the first MAC_BYTES. */
function mac(key: Uint8Array, header: Uint8Array, body: Uint8Array): Buffer {
  const { inner, outer } = padStates(key);
  return outer.copy().update(inner.copy().update(header).update(body).digest()).digest();
}

/**
 * BIND frames (proto/README.md section 17.4). A secure DEALER makes libzmq send one as
 * the first message of every connection it opens (ZMQ_HELLO_MSG). It proves, once per
 * connection, that the connection belongs to the key it names:
 *
 *   frame = "ZMB1" || client public key (32 raw bytes) || tag (16)
 *   tag   = HMAC-SHA256(K, "zmesh-bind-v1" || client key || server key)[0..16]
 *
 * K is the pair's MAC key. Only the two key holders can make the tag, and only the
 * server sees it in clear (CURVE encrypts it to the server key), so a frame cannot be
 * lifted onto another connection. Naming both keys in order stops a server from
 * reflecting a client's frame back as its own.
 */
export const BIND_MAGIC = Buffer.from('ZMB1', 'ascii');
/** Bytes of a BIND frame: magic, client key, tag. */
export const BIND_FRAME_BYTES = BIND_MAGIC.length + 32 + MAC_BYTES;
const BIND_LABEL = Buffer.from('zmesh-bind-v1', 'ascii');

/** The BIND frame a client with `clientKey` sends to the server with `serverKey`
 *  (raw 32-byte keys; `key` is their MAC key). */
export function bindFrame(key: Uint8Array, clientKey: Uint8Array, serverKey: Uint8Array): Buffer {
  return Buffer.concat([BIND_MAGIC, clientKey, bindTag(key, clientKey, serverKey)]);
}

/** The client key a BIND frame names, if it is shaped like one (unverified). */
export function bindFrameKey(frame: Uint8Array): Buffer | undefined {
  if (frame.length !== BIND_FRAME_BYTES || Buffer.compare(frame.subarray(0, BIND_MAGIC.length), BIND_MAGIC) !== 0) return undefined;
  return Buffer.from(frame.subarray(BIND_MAGIC.length, BIND_MAGIC.length + 32));
}

/** True iff `frame` is a BIND frame whose tag verifies for `key` and for this server.
 *  Never throws. */
export function verifyBindFrame(key: Uint8Array, frame: Uint8Array, serverKey: Uint8Array): boolean {
  const clientKey = bindFrameKey(frame);
  if (clientKey === undefined) return false;
  return timingSafeEqual(bindTag(key, clientKey, serverKey), frame.subarray(BIND_MAGIC.length + 32));
}

function bindTag(key: Uint8Array, clientKey: Uint8Array, serverKey: Uint8Array): Buffer {
  const { inner, outer } = padStates(key);
  const h = inner.copy().update(BIND_LABEL).update(clientKey).update(serverKey).digest();
  return outer.copy().update(h).digest().subarray(0, MAC_BYTES);
}
