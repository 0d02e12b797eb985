/**
 * Operational events: the moments a log pipeline alerts on (a peer came, went or
 * restarted; the store opened; a command was dead-lettered; a replay was served), as
 * one structured pino line each with stable field names. They share the scheme of the
 * security audit trail (security/audit.ts): `schema`, `event`, and `peer` as far as
 * it is known, so one filter on `schema` sees both. Rare by nature, so not rate
 * limited: a replay is logged only when it carried events, not for every empty poll.
 */
import type { Logger } from 'pino';
import { AUDIT_SCHEMA, type AuditPeer } from './security/audit.js';
import type { Sender } from './types.js';

export interface EventPeer extends AuditPeer {
  service?: string;
  /** The endpoint this node dials it on, when it has one. */
  endpoint?: string;
}

export type NodeEvent =
  | { event: 'peer.joined'; peer: EventPeer }
  /** The peer came back as a new process (its HELLO's started_ms changed). */
  | { event: 'peer.restarted'; peer: EventPeer; startedMs: number; previousStartedMs: number }
  | { event: 'peer.left'; peer: EventPeer; reason: string }
  /** `pending`: reliable commands earlier runs left to deliver; `eventHead`: the last
   *  sequence number in the event log. */
  | { event: 'store.opened'; store: string; storeId: string; pending: number; eventHead: number }
  | { event: 'message.dead-lettered'; service: string; method: string; streamSeq: number; attempts: number; reason: string }
  | { event: 'replay.served'; peer: EventPeer; prefix: string; events: number; fromSeq: number; toSeq: number }
  /** Publisher side: a replay told `peer` (which moves past them) that `count` of its
   *  events cannot be read, the first of them `seq`; `suppressed`: answers with
   *  damaged events to that peer not logged since the last line. */
  | { event: 'event.damaged'; peer: EventPeer; seq: number; topic: string; reason: string; count: number; suppressed: number }
  /** Subscriber side: a subscription moved past an event its publisher (`peer`)
   *  reported damaged. */
  | { event: 'event.lost'; peer: EventPeer; subscription?: string; prefix: string; stream: string; seq: number; topic: string; reason: string; suppressed: number };

export type NodeEventName = NodeEvent['event'];

/** Writes one event line: error for an event lost to damage, warn for a dead letter
 *  (an operator must act), info else. */
export function logEvent(log: Logger, e: NodeEvent): void {
  const line = { schema: AUDIT_SCHEMA, ...e };
  if (e.event === 'event.damaged' || e.event === 'event.lost') log.error(line, e.event);
  else if (e.event === 'message.dead-lettered') log.warn(line, e.event);
  else log.info(line, e.event);
}

/** A message's proven (or, in an insecure mesh, claimed) sender as an event's peer. */
export function eventPeer(s: Sender): EventPeer {
  return s.fingerprint === undefined ? { nodeId: s.node, service: s.service } : { nodeId: s.node, service: s.service, fingerprint: s.fingerprint };
}
