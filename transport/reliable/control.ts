/**
 * The reliable class's own methods on the wire (proto/README.md section 15), with
 * protobuf bodies (control.proto): `$replay`, a REQUEST by which a durable subscriber
 * fetches the events it missed from a publisher's log, and `$ack`, a COMMAND by which
 * it reports its progress so the publisher may prune. Both sides live here: what a
 * publisher answers, and how a subscriber asks.
 */
import { MAX_REPLAY_BYTES, MAX_REPLAY_SCAN_ROWS } from '../bounds.js';
import { BadMessageError, ForbiddenError, StoreError } from '../errors.js';
import {
  decodeDurableAck, decodeReplayReply, decodeReplayRequest, encodeDurableAck, encodeReplayReply, encodeReplayRequest,
  type ReplayReply, type ReplayRequest,
} from '../codec/control.js';
import type { RequestClient } from '../protocol/client.js';
import type { EventLog, LoggedEvent } from './event-log.js';

export const REPLAY_METHOD = '$replay';
export const ACK_METHOD = '$ack';
/** Most events one `$replay` answer carries. */
export const MAX_REPLAY_EVENTS = 1_000;

export interface Publishing {
  storeId: string;
  nodeId: string;
  service: string;
  events: Pick<EventLog, 'acknowledge' | 'page' | 'head'>;
}

/** Bytes an event takes in a ReplayReply, near enough: its payload, topic, id and
 *  headers, and the fields around them. */
function sizeOf(e: LoggedEvent): number {
  let headers = 0;
  for (const [k, v] of Object.entries(e.headers ?? {})) headers += k.length * 3 + v.length * 3 + 8;
  return e.payload.byteLength + e.topic.length * 3 + e.id.byteLength + headers + (e.damaged?.length ?? 0) * 3 + 64;
}

/** A page filter that lets events through while they fit in `maxBytes`, and always
 *  the first, so that a replay moves on. */
function fitting(maxBytes: number): (e: LoggedEvent) => boolean {
  let bytes = 0;
  let n = 0;
  return (e) => {
    const size = sizeOf(e);
    if (n > 0 && bytes + size > maxBytes) return false;
    bytes += size;
    n++;
    return true;
  };
}

/** Who asks, in a secure mesh: where its acknowledgements are kept (its key
 *  fingerprint, so that no member can speak for another's subscriptions) and what it
 *  may read (its certificate's subscribe rules). */
export interface Asker {
  scope: string;
  maySubscribe(prefix: string): boolean;
}

const OPEN: Asker = { scope: '', maySubscribe: () => true };

/** What one `$replay` answer carried, when it carried any events (events.ts). */
export interface ReplayServed {
  prefix: string;
  events: number;
  fromSeq: number;
  toSeq: number;
}

/** An event of the page whose payload could not be read (event-log.ts page()). */
export interface DamagedServed {
  seq: number;
  topic: string;
  reason: string;
}

/** `$replay`, publisher side: the events a subscriber is missing, from our log. */
export function answerReplay(p: Publishing, body: Uint8Array, asker: Asker = OPEN): { reply: Uint8Array; served: ReplayServed | undefined; damaged: DamagedServed[] } {
  const req = decodeReplayRequest(body);
  if (req === undefined) throw new BadMessageError('$replay body is not a ReplayRequest');
  if (!asker.maySubscribe(req.prefix)) throw new ForbiddenError(`subscribing to "${req.prefix}" is not in its certificate`);
  // The head is read once, before the page, and the page stops there: `scanned` never
  // claims rows that were not there when they were looked for.
  const head = p.events.head();
  const last = Math.min(req.known[p.storeId] ?? 0, head);
  if (req.subscriber !== '' && last > 0) p.events.acknowledge(asker.scope, req.subscriber, last);
  const maxBytes = req.maxBytes > 0 ? Math.min(req.maxBytes, MAX_REPLAY_BYTES) : MAX_REPLAY_BYTES;
  // An asker that does not read `scanned` would take an empty page for "caught up"
  // and never look past the bound: it gets the unbounded scan it always had.
  const { events: page, more: cutBySize, scanned: looked } = p.events.page({
    after: last, upTo: head, prefix: req.prefix, maxEvents: Math.min(Math.max(req.max, 1), MAX_REPLAY_EVENTS),
    maxRows: req.boundedScan ? MAX_REPLAY_SCAN_ROWS : Infinity, fits: fitting(maxBytes),
  });
  // Events under the prefix that the asker may not read are left out, not refused:
  // its rules may be narrower than the prefix it asked for. `scanned` still covers
  // them: they are not for this asker.
  let events = page.filter((e) => asker === OPEN || asker.maySubscribe(e.topic));
  let more = cutBySize;
  let scanned = looked;
  // An asker of an earlier revision would take a damaged entry's empty payload for
  // the event: it gets the events before the first damaged one, and is refused a page
  // that starts with one, as before the field (section 15.2).
  const first = req.takesDamaged === true ? -1 : events.findIndex((e) => e.damaged !== undefined);
  if (first === 0) throw new StoreError('corrupt', `event ${events[0]!.seq} of this log is damaged: ${events[0]!.damaged!}`);
  if (first > 0) {
    scanned = events[first]!.seq - 1;
    more = false;
    events = events.slice(0, first);
  }
  const damaged = events.filter((e) => e.damaged !== undefined).map((e) => ({ seq: e.seq, topic: e.topic, reason: e.damaged! }));
  const served = events.length === 0 ? undefined
    : { prefix: req.prefix, events: events.length, fromSeq: events[0]!.seq, toSeq: events[events.length - 1]!.seq };
  const reply = encodeReplayReply({
    stream: p.storeId,
    head,
    more,
    scanned,
    events: events.map((e) => ({
      seq: e.seq, topic: e.topic, payload: e.payload, headers: e.headers ?? {}, timestampMs: e.createdMs,
      id: e.id, node: p.nodeId, service: p.service, ...(e.damaged === undefined ? {} : { damaged: e.damaged }),
    })),
  });
  return { reply, served, damaged };
}

/** `$ack`, publisher side: a durable subscriber's progress on our stream. Acks for
 *  another stream, or that do not decode, are ignored: a command has no answer. */
export function takeAck(p: Publishing, body: Uint8Array, asker: Asker = OPEN): void {
  const a = decodeDurableAck(body);
  if (a !== undefined && a.stream === p.storeId && a.subscriber !== '' && Number.isSafeInteger(a.seq)) {
    // Nobody can have processed what was never published: an ack past the head would
    // let the log be pruned of events still to come.
    p.events.acknowledge(asker.scope, a.subscriber, Math.min(a.seq, p.events.head()));
  }
}

/** Subscriber side: asks publisher `nodeId` for a replay. Rejects like a request. */
export async function requestReplay(client: Pick<RequestClient, 'requestNode'>, nodeId: string, request: ReplayRequest): Promise<ReplayReply> {
  const reply = decodeReplayReply(await client.requestNode(nodeId, REPLAY_METHOD, encodeReplayRequest(request)));
  if (reply === undefined) throw new BadMessageError(`$replay answer from ${nodeId} is not a ReplayReply`);
  return reply;
}

/** Subscriber side: how far an answer to a request from `from` (its known seq) takes
 *  the asker. `through`: once the page's events are applied, it has every event of its
 *  prefix up to there, and may store that as its progress even past the last event
 *  (events between were not for it). `done`: it has caught up, do not ask again. */
export function reachOf(reply: ReplayReply, from: number, max: number): { through: number; done: boolean } {
  const lastEvent = Math.max(from, ...reply.events.map((e) => e.seq));
  const scanned = reply.scanned ?? 0;
  // A publisher that predates `scanned`: only its events move us on, and a short page
  // that was not cut by size means caught up.
  if (scanned === 0) return { through: lastEvent, done: reply.events.length < max && !reply.more };
  const through = Math.max(lastEvent, Math.min(scanned, reply.head));
  // No step forward ends it too: a publisher that does not move us on is not asked
  // again and again.
  return { through, done: through >= reply.head || through <= from };
}

/** Subscriber side: reports progress to publisher `nodeId`. Throws NO_ROUTE or
 *  QUEUE_FULL; the next ack carries the same progress, so callers may ignore that. */
export function sendAck(client: Pick<RequestClient, 'commandNode'>, nodeId: string, stream: string, subscriber: string, seq: number): void {
  client.commandNode(nodeId, ACK_METHOD, encodeDurableAck({ stream, subscriber, seq }));
}
