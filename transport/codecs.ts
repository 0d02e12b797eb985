/**
 * Typed payloads on top of the bytes API. A method is declared once, as data, with
 * the codecs of its request and response; `call` and `serve` then speak values. A
 * payload that does not decode is BAD_MESSAGE: on the serving side it crosses the
 * wire with that code, on the calling side it is thrown locally.
 */
import { BadMessageError, errorMessage } from './errors.js';
import type { HandlerContext, MeshNode, RequestOptions } from './types.js';

export interface Codec<T> {
  encode(value: T): Uint8Array;
  /** Throws on bytes that are not a T. */
  decode(bytes: Uint8Array): T;
}

/** Raw bytes, unchanged. */
export const bytesCodec: Codec<Uint8Array> = { encode: (v) => v, decode: (b) => b };

/** JSON text. Handy for tools and tests; services should prefer protobuf. */
export function jsonCodec<T>(): Codec<T> {
  return {
    encode: (v) => Buffer.from(JSON.stringify(v)),
    decode: (b) => JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as T,
  };
}

/** The shape of a protobufjs generated message class. */
export interface ProtoType<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

export function protoCodec<T>(type: ProtoType<T>): Codec<T> {
  return { encode: (v) => type.encode(v).finish(), decode: (b) => type.decode(b) };
}

export interface MethodDef<Req, Res> {
  readonly service: string;
  readonly method: string;
  readonly request: Codec<Req>;
  readonly response: Codec<Res>;
}

export function defineMethod<Req, Res>(def: MethodDef<Req, Res>): MethodDef<Req, Res> {
  return Object.freeze({ ...def });
}

function decodeOrThrow<T>(codec: Codec<T>, bytes: Uint8Array, what: string): T {
  try {
    return codec.decode(bytes);
  } catch (err) {
    throw new BadMessageError(`${what} does not decode: ${errorMessage(err)}`, { cause: err });
  }
}

/** Calls a declared method and decodes its reply. */
export async function call<Req, Res>(node: MeshNode, def: MethodDef<Req, Res>, value: Req, options?: RequestOptions): Promise<Res> {
  const reply = await node.request(def.service, def.method, def.request.encode(value), options);
  return decodeOrThrow(def.response, reply, `reply of ${def.service}.${def.method}`);
}

export type TypedHandler<Req, Res> = (request: Req, ctx: HandlerContext) => Res | Promise<Res>;

/** Registers a handler for a declared method on a node of that service. */
export function serve<Req, Res>(node: MeshNode, def: MethodDef<Req, Res>, handler: TypedHandler<Req, Res>): void {
  node.handle(def.method, (payload, ctx) => {
    const request = decodeOrThrow(def.request, payload, `request to ${def.service}.${def.method}`);
    const result = handler(request, ctx);
    return result instanceof Promise ? result.then((r) => def.response.encode(r)) : def.response.encode(result);
  });
}
