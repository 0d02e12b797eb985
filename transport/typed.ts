/**
 * Typed use of a node, on top of its bytes API: requests, reliable commands and
 * durable subscriptions that speak values through their definitions (defs.ts). A
 * payload that does not decode is BAD_MESSAGE: on the serving side it crosses the
 * wire with that code, on the calling side it is thrown locally.
 *
 * Sits above node.ts: it uses a MeshNode exactly as application code would.
 */
import {
  decodeOrThrow, isEventOf, type CommandDef, type EventDef, type MethodDef,
} from './defs.js';
import type { Logger } from 'pino';
import type { DurableEvent, HandlerContext, MeshNode, ReliableContext, RequestOptions, Transaction } from './types.js';

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

export type TypedReliableHandler<T> = (command: T, ctx: ReliableContext) => void;

/** Registers the handler of a declared reliable command. A command that does not
 *  decode is refused with BAD_MESSAGE, which the sender counts towards maxAttempts. */
export function serveReliable<T>(node: MeshNode, def: CommandDef<T>, handler: TypedReliableHandler<T>): void {
  node.handleReliable(def.method, (payload, ctx) => handler(decodeOrThrow(def.codec, payload, `command ${def.service}.${def.method}`), ctx));
}

/** One event a durable subscription handles, typed by its definition. */
export interface DurableOn {
  readonly def: EventDef<unknown>;
  handle(event: DurableEvent, tx: Transaction, log: Logger | undefined): void;
}

/** Pairs an event definition with its handler, for subscribeDurable. */
export function on<T>(def: EventDef<T>, handler: (value: T, event: DurableEvent, tx: Transaction) => void): DurableOn {
  return {
    def: def as EventDef<unknown>,
    handle: (event, tx, log) => {
      let value: T;
      try {
        value = def.codec.decode(event.payload);
      } catch (err) {
        // An event that does not decode never will: retrying it would stall the
        // stream for good, so it is logged and counts as processed.
        log?.warn({ err, topic: event.topic, seq: event.seq, stream: event.stream }, 'durable event does not decode; skipped');
        return;
      }
      handler(value, event, tx);
    },
  };
}

/** What a subscription to all of `topics` asks for: the longest prefix they share,
 *  cut back to a whole topic segment ("product.stock." for ".reserved" and ".rejected",
 *  not "product.stock.re"), so that it reads as the family it is. */
export function commonPrefix(topics: readonly string[]): string {
  if (topics.length === 0) return '';
  let prefix = topics[0]!;
  for (const t of topics) while (!t.startsWith(prefix)) prefix = prefix.slice(0, -1);
  const whole = topics.every((t) => t === prefix || t.length > prefix.length && prefix.endsWith('.'));
  return whole ? prefix : prefix.slice(0, prefix.lastIndexOf('.') + 1);
}

/** A durable subscription `name` to the declared events of `handlers`: each event once,
 *  in each publisher's order, across restarts, handled in one transaction with the
 *  subscription's progress. Events under the shared prefix that match no definition
 *  are skipped. */
export function subscribeDurable(
  node: MeshNode, name: string, handlers: readonly DurableOn[], options: { logger?: Logger } = {},
): Promise<{ close(): void }> {
  const prefix = commonPrefix(handlers.map((h) => h.def.topic));
  return node.subscribeDurable(name, prefix, (event, tx) => {
    for (const h of handlers) {
      if (isEventOf(h.def, event.topic)) return h.handle(event, tx, options.logger);
    }
  });
}
