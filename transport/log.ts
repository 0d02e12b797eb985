/**
 * Logging helpers. transport/ never writes to the console: it logs through an injected
 * pino logger that is silent by default.
 */
import { pino, type Logger } from 'pino';

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Log hostile-input warnings at most once per interval per key, so a storm of bad
 *  frames costs a counter increment each, not a log line each. */
export const DROP_LOG_INTERVAL_MS = 5_000;
/** Keys remembered at most. Keys name peers, which a flood can make up: past this the
 *  oldest are forgotten (at worst, one extra line for a key seen again). */
export const RATE_LIMITED_KEYS = 1_024;

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = DROP_LOG_INTERVAL_MS,
  ) {}

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const suppressed = this.take(key);
    if (suppressed !== undefined) this.log.warn({ ...fields, suppressed }, msg);
  }

  /** For a line of `key` written some other way: undefined when one was written less
   *  than the interval ago (this one is counted as suppressed); else the number
   *  suppressed since the last, and the line is to be written now. */
  take(key: string): number | undefined {
    const now = Date.now();
    const entry = this.last.get(key);
    if (entry !== undefined && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return undefined;
    }
    this.last.delete(key);
    this.last.set(key, { at: now, suppressed: 0 });
    if (this.last.size > RATE_LIMITED_KEYS) this.last.delete(this.last.keys().next().value!);
    return entry?.suppressed ?? 0;
  }
}
