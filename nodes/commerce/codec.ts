/**
 * Codecs for the commerce messages. protobufjs decodes int64 fields as Long objects;
 * services want plain numbers (cents, quantities and Unix ms stay far below 2^53), so
 * every decoded message goes through toObject with longs as numbers and defaults
 * filled in. A decoded message is then a plain object with every field present, the
 * same shape handlers build for replies, and what the CLI prints as JSON.
 */
import type { Codec } from 'zmesh';

/** A generated message as data: every field present and non-null, deeply (decoding
 *  with defaults guarantees it), without methods. */
export type Plain<T> = T extends (infer U)[]
  ? Plain<U>[]
  : T extends Uint8Array
    ? T
    : T extends object
      ? { -readonly [K in keyof T as K extends 'toJSON' | '$unknowns' ? never : T[K] extends (...a: never[]) => unknown ? never : K]-?: Plain<NonNullable<T[K]>> }
      : T;

/** The static members of a generated message class that the codecs use. */
export interface MessageType<C> {
  encode(message: Plain<C>): { finish(): Uint8Array };
  decode(bytes: Uint8Array): C;
  toObject(message: C, options: Record<string, unknown>): Record<string, unknown>;
  fromObject(object: Record<string, unknown>): C;
  create(): C;
}

const AS_VALUES = { longs: Number, enums: Number, defaults: true, arrays: true } as const;
const AS_JSON = { longs: Number, enums: String, defaults: true, arrays: true } as const;

/** A wire codec that also carries its message type, so a definition names its type
 *  once and the CLI can still reach toObject/fromObject for JSON. */
export interface MessageCodec<C> extends Codec<Plain<C>> {
  readonly type: MessageType<C>;
}

/** Wire codec with number-valued longs and every field present. */
export function messageCodec<C>(type: MessageType<C>): MessageCodec<C> {
  return Object.freeze({
    type,
    encode: (value: Plain<C>) => type.encode(value).finish(),
    decode: (bytes: Uint8Array) => type.toObject(type.decode(bytes), AS_VALUES) as Plain<C>,
  });
}

/** The message type behind a codec made by messageCodec, or undefined for any other
 *  codec (raw bytes, JSON): those have no schema to speak JSON with. */
export function messageTypeOf(codec: Codec<unknown>): MessageType<unknown> | undefined {
  const type = (codec as Partial<MessageCodec<unknown>>).type;
  return typeof type?.toObject === 'function' && typeof type.fromObject === 'function' ? type : undefined;
}

/** Bytes to a JSON-ready object, enums by name: for people and tools. */
export function toJson<C>(type: MessageType<C>, bytes: Uint8Array): Record<string, unknown> {
  return type.toObject(type.decode(bytes), AS_JSON);
}

/** A JSON object to bytes. Field names are lowerCamelCase, as in the generated types;
 *  an unknown field is an error rather than silently dropped. */
export function fromJson<C>(type: MessageType<C>, object: Record<string, unknown>): Uint8Array {
  const known = new Set(Object.keys(type.toObject(type.create(), AS_JSON)));
  const unknown = Object.keys(object).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new Error(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; expected ${[...known].join(', ') || 'no fields'}`);
  }
  return type.encode(type.fromObject(object) as Plain<C>).finish();
}
