/**
 * A service's contract as data: payload codecs, and definitions of its requests,
 * reliable commands and events. A definition is declared once and shared by the
 * service that implements it, the callers, the CLI (which builds its schema checks from
 * them) and tests. With definitions, application code speaks values, never raw names
 * and bytes: `call(node, GetProduct, {...})`, `tx.send(ReserveStock, {...})`,
 * `tx.publish(StockReserved, {...})`.
 *
 * Foundation module: imports errors, names and limits only, so that every layer may
 * use definitions.
 */
import { BadMessageError, InvalidArgumentError, MessageTooLargeError, errorMessage } from './errors.js';
import { MAX_HEADERS_BYTES, MAX_SUBJECT_BYTES } from './limits.js';
import { headersBytes, isServiceName, isSubject } from './names.js';

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

/** A request of `service`: answered with one reply. */
export interface MethodDef<Req, Res> {
  readonly service: string;
  readonly method: string;
  readonly request: Codec<Req>;
  readonly response: Codec<Res>;
}

/** A reliable command to `service`: stored in the sender's outbox, applied once. */
export interface CommandDef<T> {
  readonly kind: 'command';
  readonly service: string;
  readonly method: string;
  readonly codec: Codec<T>;
}

/** A reliable event. `family: true` makes `topic` the prefix of a family of topics
 *  whose last part is chosen when publishing (`product.changed.` + sku). */
export interface EventDef<T> {
  readonly kind: 'event';
  readonly topic: string;
  readonly family: boolean;
  readonly codec: Codec<T>;
}

/** A whole service: what it answers, what it applies, what it emits and consumes. */
export interface ServiceDef {
  readonly name: string;
  readonly requests: ReadonlyArray<MethodDef<unknown, unknown>>;
  readonly commands: ReadonlyArray<CommandDef<unknown>>;
  readonly emits: ReadonlyArray<EventDef<unknown>>;
  readonly consumes: ReadonlyArray<EventDef<unknown>>;
}

/** Method names starting with "$" are zmesh's own ($replay, $ack). */
export const RESERVED_PREFIX = '$';

/** Throws INVALID_ARGUMENT unless `subject` (a method name or topic) fits the
 *  envelope: 1..MAX_SUBJECT_BYTES bytes of UTF-8. The receiver would drop it. */
export function checkSubject(subject: unknown, what = 'method'): asserts subject is string {
  if (!isSubject(subject)) {
    const size = typeof subject === 'string' ? `${Buffer.byteLength(subject, 'utf8')} bytes` : typeof subject;
    throw new InvalidArgumentError(`${what} must be 1..${MAX_SUBJECT_BYTES} bytes of UTF-8, got ${size}`);
  }
}

/** Throws INVALID_ARGUMENT unless `headers` maps strings to strings, and
 *  MESSAGE_TOO_LARGE when they encode to more than MAX_HEADERS_BYTES: past that the
 *  header frame may exceed what every receiver accepts, and it would be dropped. */
export function checkHeaders(headers: unknown): void {
  const bytes = headersBytes(headers);
  if (bytes === undefined) throw new InvalidArgumentError('headers must be an object mapping strings to strings');
  if (bytes > MAX_HEADERS_BYTES) throw new MessageTooLargeError(`headers of ${bytes} bytes exceed ${MAX_HEADERS_BYTES} bytes (keys and values in UTF-8)`);
}

/** Throws INVALID_ARGUMENT unless `method` is a usable application method name. */
export function checkMethodName(method: unknown, what = 'method'): asserts method is string {
  checkSubject(method, what);
  if (method.startsWith(RESERVED_PREFIX)) {
    throw new InvalidArgumentError(`${what} "${method}" starts with "${RESERVED_PREFIX}", which is reserved for zmesh`);
  }
}

function checkService(service: unknown): void {
  if (!isServiceName(service)) throw new InvalidArgumentError(`service must be a service name, got ${JSON.stringify(service)}`);
}

export function defineMethod<Req, Res>(def: Omit<MethodDef<Req, Res>, never>): MethodDef<Req, Res> {
  checkService(def.service);
  checkMethodName(def.method);
  return Object.freeze({ service: def.service, method: def.method, request: def.request, response: def.response });
}

export function defineCommand<T>(def: { service: string; method: string; codec: Codec<T> }): CommandDef<T> {
  checkService(def.service);
  checkMethodName(def.method);
  return Object.freeze({ kind: 'command', service: def.service, method: def.method, codec: def.codec });
}

export function defineEvent<T>(def: { topic: string; codec: Codec<T>; family?: boolean }): EventDef<T> {
  if (typeof def.topic !== 'string' || def.topic === '' || def.topic.startsWith('$')) {
    throw new InvalidArgumentError(`event topic must be non-empty and not start with "$", got ${JSON.stringify(def.topic)}`);
  }
  checkSubject(def.topic, 'event topic');
  return Object.freeze({ kind: 'event', topic: def.topic, family: def.family === true, codec: def.codec });
}

/** Declares a service. Every request and command must belong to it. */
export function defineService(def: {
  name: string;
  requests?: ReadonlyArray<MethodDef<unknown, unknown>>;
  commands?: ReadonlyArray<CommandDef<unknown>>;
  emits?: ReadonlyArray<EventDef<unknown>>;
  consumes?: ReadonlyArray<EventDef<unknown>>;
}): ServiceDef {
  checkService(def.name);
  for (const m of [...(def.requests ?? []), ...(def.commands ?? [])]) {
    if (m.service !== def.name) throw new InvalidArgumentError(`${m.service}.${m.method} is not a method of service "${def.name}"`);
  }
  return Object.freeze({
    name: def.name,
    requests: Object.freeze([...(def.requests ?? [])]),
    commands: Object.freeze([...(def.commands ?? [])]),
    emits: Object.freeze([...(def.emits ?? [])]),
    consumes: Object.freeze([...(def.consumes ?? [])]),
  });
}

/** The topic an event of `def` is published on. A family needs its last part. */
export function topicOf(def: EventDef<unknown>, suffix: string | undefined): string {
  if (def.family) {
    if (suffix === undefined || suffix === '') throw new InvalidArgumentError(`event family "${def.topic}" needs a topic suffix`);
    return def.topic + suffix;
  }
  if (suffix !== undefined) throw new InvalidArgumentError(`event "${def.topic}" is not a family; it takes no topic suffix`);
  return def.topic;
}

/** True when an event on `topic` is one of `def`'s. */
export function isEventOf(def: EventDef<unknown>, topic: string): boolean {
  return def.family ? topic.startsWith(def.topic) && topic.length > def.topic.length : topic === def.topic;
}

/** Decodes with `codec`, or throws BAD_MESSAGE naming `what`. */
export function decodeOrThrow<T>(codec: Codec<T>, bytes: Uint8Array, what: string): T {
  try {
    return codec.decode(bytes);
  } catch (err) {
    throw new BadMessageError(`${what} does not decode: ${errorMessage(err)}`, { cause: err });
  }
}

/** Options of a reliable send or publish. `suffix` picks the topic of an event family. */
export interface PublishOptions {
  headers?: Record<string, string>;
  suffix?: string;
}

/** The arguments of send(service, method, payload, options) or send(def, value,
 *  options), as one shape. Throws INVALID_ARGUMENT for a service or method name the
 *  receiver would refuse, and MESSAGE_TOO_LARGE for headers (checkHeaders): a
 *  reliable command is stored before it is sent, so it must be sendable. */
export function commandArgs(a: string | CommandDef<unknown>, b: unknown, c?: unknown, d?: unknown):
  { service: string; method: string; payload: Uint8Array; headers: Record<string, string> | undefined } {
  const args = typeof a === 'string'
    ? { service: a, method: b as string, payload: c as Uint8Array, headers: (d as { headers?: Record<string, string> } | undefined)?.headers }
    : { service: a.service, method: a.method, payload: a.codec.encode(b), headers: (c as { headers?: Record<string, string> } | undefined)?.headers };
  checkService(args.service);
  checkMethodName(args.method);
  checkHeaders(args.headers);
  return args;
}

/** The arguments of publish(topic, payload, options) or publish(def, value, options).
 *  Throws MESSAGE_TOO_LARGE for headers (checkHeaders); the topic is the caller's to
 *  check. */
export function eventArgs(a: string | EventDef<unknown>, b: unknown, c?: unknown):
  { topic: string; payload: Uint8Array; headers: Record<string, string> | undefined } {
  const o = c as PublishOptions | undefined;
  checkHeaders(o?.headers);
  if (typeof a === 'string') return { topic: a, payload: b as Uint8Array, headers: o?.headers };
  return { topic: topicOf(a, o?.suffix), payload: a.codec.encode(b), headers: o?.headers };
}
