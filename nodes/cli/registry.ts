/**
 * Everything the CLI can encode or decode, by name, built from service declarations:
 * request and response types by "service.Method" (`zmesh call` and its schema
 * check), event types by topic (`zmesh watch`). There is no second list to keep in
 * step: a method or event declared in commerce/api.ts is known here.
 */
import { isEventOf, type Codec, type EventDef, type ServiceDef } from 'zmesh';
import { COMMERCE } from '../commerce/api.js';
import { messageTypeOf, type MessageType } from '../commerce/codec.js';

type AnyType = MessageType<unknown>;

export interface Registry {
  readonly requestTypes: ReadonlyMap<string, { request: AnyType; response: AnyType }>;
  /** Event definitions with their types; see eventTypeOf. */
  readonly eventTypes: ReadonlyArray<{ event: EventDef<unknown>; type: AnyType }>;
}

/** A declaration whose codec has no message type cannot be spoken as JSON: that is a
 *  mistake in the declarations, so it fails at start rather than at the first call. */
function typeOf(codec: Codec<unknown>, what: string): AnyType {
  const type = messageTypeOf(codec);
  if (type === undefined) throw new Error(`${what} has no protobuf message type`);
  return type;
}

export function buildRegistry(services: readonly ServiceDef[]): Registry {
  const requestTypes = new Map<string, { request: AnyType; response: AnyType }>();
  const events = new Map<string, { event: EventDef<unknown>; type: AnyType }>();
  for (const s of services) {
    for (const m of s.requests) {
      const name = `${m.service}.${m.method}`;
      requestTypes.set(name, { request: typeOf(m.request, name), response: typeOf(m.response, `reply of ${name}`) });
    }
    // An event is declared by its emitter and again by each consumer: one entry each.
    for (const e of [...s.emits, ...s.consumes] as ReadonlyArray<EventDef<unknown>>) {
      const seen = events.get(e.topic);
      if (seen !== undefined && seen.event !== e) throw new Error(`two declarations of event "${e.topic}"`);
      events.set(e.topic, { event: e, type: typeOf(e.codec, `event "${e.topic}"`) });
    }
  }
  return { requestTypes, eventTypes: [...events.values()] };
}

export const Registry: Registry = buildRegistry(COMMERCE);

/** The message type of events on `topic`, or undefined for a topic nobody declared. */
export function eventTypeOf(topic: string, registry: Registry = Registry): AnyType | undefined {
  return registry.eventTypes.find(({ event }) => isEventOf(event, topic))?.type;
}
