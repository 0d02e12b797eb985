/**
 * What each commerce identity may do in a secure mesh: the permissions its certificate
 * carries (proto/security.proto, Permissions; rule semantics in zmesh's
 * permissions.ts). Derived from the declarations in api.ts wherever they say it:
 *
 *   right      | a service                                   | the client ("cli", shoppers)
 *   -----------+---------------------------------------------+------------------------------
 *   publish    | the topics it emits (a family's prefix,     | nothing
 *              | exact topics otherwise)                     |
 *   subscribe  | the prefix its durable subscription asks    | "*" (zmesh watch sees all)
 *              | for: the shared prefix of what it consumes  |
 *   send       | CALLS below: the requests and commands its  | CLIENT_REQUESTS below: the
 *              | code calls (not in the declarations)        | requests it may make; never a
 *              |                                             | reliable command
 *
 * Send rules name exact methods, never "service.*", so no wildcard grants a command
 * by accident: a method added to api.ts reaches a service only through CALLS, and the
 * client only when CLIENT_REQUESTS covers it.
 */
import { commonPrefix, type CommandDef, type MethodDef, type Permissions, type RuleSet, type ServiceDef } from 'zmesh';
import {
  COMMERCE, GetProduct, ListProducts, PlaceOrder, ReleaseStock, ReserveStock, type ServiceName,
} from './api.js';

type Callable = MethodDef<unknown, unknown> | CommandDef<unknown>;

/**
 * What each service's code calls. defineService declares what a service answers,
 * applies, emits and consumes, not what it calls, so this one list is kept by hand
 * next to the derivation. Keep it in step with the services: a call missing here is
 * refused FORBIDDEN at the receiver (the saga and commerce tests run secure and catch
 * it); a call listed but no longer made is a right nobody needs.
 */
export const CALLS: Readonly<Record<ServiceName, readonly Callable[]>> = Object.freeze({
  product: [],
  cart: [GetProduct, ListProducts, PlaceOrder],
  order: [ReserveStock, ReleaseStock],
});

/** The client identity's name for `zmesh call` and `zmesh watch`. */
export const CLIENT_SERVICE = 'cli';

/**
 * The requests a client (zmesh call, zmesh watch, the demo's shoppers) may make, per
 * service: "all" of its declared requests, or those whose method name starts with
 * one of the listed words (the read-only ones). Commands are never granted: a client
 * has no outbox, and a reliable command from one would bypass the saga.
 */
export const CLIENT_REQUESTS: Readonly<Record<ServiceName, 'all' | readonly string[]>> = Object.freeze({
  cart: 'all',
  product: ['Get', 'List'],
  order: ['Get', 'List'],
});

const rules = (allow: readonly string[]): RuleSet => ({ allow: [...new Set(allow)], deny: [] });
const target = (c: Callable): string => `${c.service}.${c.method}`;

/** The permissions of a node running `def`, which calls `calls`. */
export function servicePermissions(def: ServiceDef, calls: readonly Callable[]): Permissions {
  const consumed = def.consumes.map((e) => e.topic);
  return {
    send: rules(calls.map(target)),
    // A family's topic is its prefix (publish rules are prefixes); a plain event's is exact.
    publish: rules(def.emits.map((e) => e.topic)),
    // What the service's durable subscription asks for: zmesh's subscribeDurable
    // subscribes to the shared prefix of the events it handles.
    subscribe: rules(consumed.length === 0 ? [] : [commonPrefix(consumed)]),
  };
}

/** The client's permissions, from CLIENT_REQUESTS over the declared requests. */
export function clientPermissions(services: readonly ServiceDef[] = COMMERCE): Permissions {
  const allowed = (def: ServiceDef, method: string): boolean => {
    const grant = CLIENT_REQUESTS[def.name as ServiceName];
    return grant === 'all' || (grant !== undefined && grant.some((word) => method.startsWith(word)));
  };
  const send = services.flatMap((def) => def.requests.filter((m) => allowed(def, m.method)).map(target));
  return { send: rules(send), publish: rules([]), subscribe: rules(['*']) };
}

/** Every commerce service's permissions, by name. */
export const SERVICE_PERMISSIONS: Readonly<Record<ServiceName, Permissions>> = Object.freeze(
  Object.fromEntries(COMMERCE.map((def) => [def.name, servicePermissions(def, CALLS[def.name])])) as Record<ServiceName, Permissions>,
);

/** The `zmesh cert issue` options that grant `p`, e.g. ["--allow-send", "a.B,c.D"]. */
export function certIssueArgs(p: Permissions): string[] {
  const out: string[] = [];
  for (const right of ['send', 'publish', 'subscribe'] as const) {
    if (p[right].allow.length > 0) out.push(`--allow-${right}`, p[right].allow.join(','));
    if (p[right].deny.length > 0) out.push(`--deny-${right}`, p[right].deny.join(','));
  }
  return out;
}
