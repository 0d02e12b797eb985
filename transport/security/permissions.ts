/**
 * The authorization decision: may the node holding a certificate send this request or
 * command, publish on this topic, subscribe to this prefix? Pure functions over the
 * certificate's Permissions; the receiver of a message calls them with the rights of
 * the key that sent it. proto/security.proto (Permissions) is the spec.
 *
 * Every decision is: DENIED if any deny rule covers the target, else ALLOWED if any
 * allow rule covers it, else DENIED. Nothing is allowed by default.
 *
 * send (mayCall): the target is service S, method M.
 *
 *   rule     | covers S.M when                       | e.g. covers        | not
 *   ---------+---------------------------------------+--------------------+--------------
 *   "*"      | M does not start with "$"             | order.Place        | order.$replay
 *   "S.*"    | the service is S, M not "$..."        | order.* : order.X  | cart.X
 *   "S.M"    | exactly S and M ("$" methods too)     | order.Place        | order.Placed
 *   other    | never                                 |                    |
 *
 *   "$" methods are zmesh's internal ones (replay, acks); the node authorizes them by
 *   other means, so no wildcard may grant (or deny) them by accident.
 *
 * publish (mayPublish): the target is topic T.
 *
 *   rule     | covers T when
 *   ---------+-------------------------------
 *   "*"      | always
 *   P        | T starts with P ("product." covers "product.stock.reserved")
 *
 *   Node summaries ("$zmesh/summary", proto/README.md section 18) are outside these
 *   rules: the trust policy lets every member publish them, and any holder of a valid
 *   certificate (a light client such as `zmesh top`) may receive them, whatever its
 *   rules say. They say how busy a node is, never what it carries.
 *
 * subscribe (maySubscribe): the target is a subscription prefix Q, which receives every
 * topic starting with Q, so deny rules are checked against what Q could receive:
 *
 *   rule kind | "*"            | P
 *   ----------+----------------+-----------------------------------------------------
 *   allow     | covers any Q   | covers Q when Q starts with P (Q is inside P)
 *   deny      | blocks any Q   | blocks Q when Q starts with P or P starts with Q
 *             |                | (Q "prod" would receive "product.x": deny "product." blocks it)
 */
import { InvalidArgumentError } from '../errors.js';
import { isServiceName } from '../names.js';

export interface RuleSet {
  allow: string[];
  deny: string[];
}

/** The rights in a certificate (proto/security.proto, Permissions). */
export interface Permissions {
  send: RuleSet;
  publish: RuleSet;
  subscribe: RuleSet;
}

/** Longest rule, in UTF-8 bytes: a 32-character service, ".", a 256-byte method, room. */
export const MAX_RULE_BYTES = 512;
const ANY = '*';
// JavaScript's \s is Unicode White_Space minus U+0085, plus U+FEFF: add U+0085.
const WHITESPACE = /[\s\u0085]/u;

/** A syntactically valid rule of any kind (the check certificates must pass). */
export function isRule(rule: unknown): rule is string {
  return typeof rule === 'string' && rule.length > 0 && Buffer.byteLength(rule) <= MAX_RULE_BYTES && !WHITESPACE.test(rule);
}

export function noPermissions(): Permissions {
  return { send: { allow: [], deny: [] }, publish: { allow: [], deny: [] }, subscribe: { allow: [], deny: [] } };
}

/** Requests and commands: may the holder call `method` of `service`? */
export function mayCall(p: Permissions, service: string, method: string): boolean {
  const internal = method.startsWith('$');
  const covers = (rule: string): boolean => {
    if (rule === ANY) return !internal;
    // "S.M" or "S.*", compared in place: this runs for every message received.
    if (rule.length <= service.length || rule.charCodeAt(service.length) !== 0x2e || !rule.startsWith(service)) return false;
    const rest = rule.length - service.length - 1;
    if (rest === 1 && rule.endsWith(ANY)) return !internal;
    return rest === method.length && rule.endsWith(method);
  };
  return decide(p.send, covers);
}

/** Events: may the holder publish on `topic`? */
export function mayPublish(p: Permissions, topic: string): boolean {
  return decide(p.publish, (rule) => rule === ANY || topic.startsWith(rule));
}

/** Subscriptions: may the holder subscribe to `prefix` (every topic starting with it)? */
export function maySubscribe(p: Permissions, prefix: string): boolean {
  const rules = p.subscribe;
  if (rules.deny.some((d) => d === ANY || prefix.startsWith(d) || d.startsWith(prefix))) return false;
  return rules.allow.some((a) => a === ANY || prefix.startsWith(a));
}

function decide(rules: RuleSet, covers: (rule: string) => boolean): boolean {
  return !rules.deny.some(covers) && rules.allow.some(covers);
}

/** What a CLI list of rules is for: 'call' rules must be "*", "S.*" or "S.M" with a
 *  valid service name S (a rule like "order" would silently match nothing). */
export type RuleKind = 'call' | 'topic';

/**
 * Parses "a.B,c.*" into rules, for the CLI. InvalidArgumentError on an empty part,
 * whitespace, an over-long rule, or (kind 'call') a rule of the wrong shape. Duplicates
 * are dropped; order is kept.
 */
export function parseRules(csv: string, kind: RuleKind = 'topic'): string[] {
  const parts = csv.split(',');
  const out: string[] = [];
  for (const [i, rule] of parts.entries()) {
    const where = `rule ${i + 1} of ${JSON.stringify(csv)}`;
    if (rule.length === 0) throw new InvalidArgumentError(`${where} is empty (rules are separated by single commas)`);
    if (WHITESPACE.test(rule)) throw new InvalidArgumentError(`${where} contains whitespace`);
    if (!isRule(rule)) throw new InvalidArgumentError(`${where} is longer than ${MAX_RULE_BYTES} bytes`);
    if (kind === 'call' && !isCallRule(rule)) {
      throw new InvalidArgumentError(`${where} must be "*", "<service>.*" or "<service>.<method>", got ${JSON.stringify(rule)}`);
    }
    if (!out.includes(rule)) out.push(rule);
  }
  return out;
}

function isCallRule(rule: string): boolean {
  if (rule === ANY) return true;
  const dot = rule.indexOf('.');
  return dot > 0 && dot < rule.length - 1 && isServiceName(rule.slice(0, dot));
}
