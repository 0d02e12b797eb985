/**
 * Events lost to damage, subscriber side. A publisher whose log holds an event's row
 * but cannot read its payload (a spilled payload cut short or failing its CRC: a power
 * loss with durability 'os', or damage on disk) answers it in `$replay` as damaged
 * (proto/README.md section 15.2). No publisher can ever deliver it, so a subscription
 * that waited for it would wait for good, and hold every later event and the
 * publisher's pruning back with it. It moves past the event instead, and says so as
 * loudly as a dead letter: a counter, an error line, and a bus event the application
 * can act on. The publisher's row is left as it is.
 *
 * The lines are rate limited per stream (one per DROP_LOG_INTERVAL_MS, saying how many
 * went unlogged before it): a segment cut short can take thousands of events with it,
 * and a hostile publisher can call any number of its own events damaged. The counter
 * and the bus see every one.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../bus.js';
import { logEvent } from '../events.js';
import { RateLimitedLog } from '../log.js';
import type { NodeEventOf } from '../types.js';

export type LostEvent = Omit<NodeEventOf<'event:lost'>, 'type'>;
export type ReportLost = (e: LostEvent) => void;

/** The reason a peer gave is its text: kept to a line. */
const MAX_REASON_CHARS = 300;

export function lostReporter(bus: EventBus, counters: { events: { lost: number } }, log: Logger): ReportLost {
  const limited = new RateLimitedLog(log);
  return (e) => {
    const flat = e.reason.replace(/[\r\n]+/g, ' ');
    const reason = flat.length > MAX_REASON_CHARS ? `${flat.slice(0, MAX_REASON_CHARS)}…` : flat;
    counters.events.lost++;
    const suppressed = limited.take(`${e.publisher.node}/${e.stream}`);
    if (suppressed !== undefined) {
      logEvent(log, {
        event: 'event.lost', peer: { nodeId: e.publisher.node, service: e.publisher.service },
        ...(e.subscription === undefined ? {} : { subscription: e.subscription }),
        prefix: e.prefix, stream: e.stream, seq: e.seq, topic: e.topic, reason, suppressed,
      });
    }
    bus.emit({ type: 'event:lost', ...e, reason });
  };
}
