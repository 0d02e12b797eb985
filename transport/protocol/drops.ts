/**
 * Where hostile or useless inbound frames go: a counter per reason and a rate-limited
 * warning naming the peer. Nothing here throws.
 */
import type { Logger } from 'pino';
import { RateLimitedLog } from '../log.js';
import type { Counters } from '../stats.js';
import type { DropReason } from '../types.js';

export type DropFn = (reason: DropReason, detail: string, from: string) => void;

export function dropReporter(counters: Counters, log: Logger, observe?: (reason: DropReason, from: string) => void): DropFn {
  const limited = new RateLimitedLog(log);
  return (reason, detail, from) => {
    counters.dropped[reason]++;
    observe?.(reason, from);
    // Late replies are normal after a timeout; count them but do not warn.
    if (reason === 'lateReply') return;
    limited.warn(`${reason}:${from}`, { reason, detail, from }, 'dropped inbound frame');
  };
}
