/**
 * The receiving side of a reliable end-to-end row (bench/e2e.ts), in its own process:
 * the zmesh receiver node, or a broker's consumer. Talks to the bench over IPC:
 *   -> ready {endpoint?}          receiving
 *   <- arm {from, to, eld}        a phase sends sequence numbers [from, to); eld: watch
 *   -> armed                      this process's event-loop delay meanwhile
 *   -> settled                    (brokers) the handler saw the phase's last message and
 *                                 the broker accepted every ack up to it
 *   <- report                     -> report {rows, distinct, calls, eldP99Ms?, eldMaxMs?,
 *                                            eldSamples?}
 * rows/distinct: what the handler applied in the phase's range (zmesh: rows in its
 * table; brokers: handler calls, and distinct sequence numbers among them).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { loadE2e } from '../e2e/index.js';
import { readSeq, type E2eParams } from '../e2e/types.js';

const { system, params } = JSON.parse(process.argv[2]!) as { system: string; params: E2eParams };
const send = (m: unknown): void => { process.send?.(m); };
/** The delay histogram samples every ELD_RESOLUTION_MS; each sample is the time
 *  between two samples, so the period is taken off to leave the delay. */
const ELD_RESOLUTION_MS = 1;

interface Phase { from: number; to: number; calls: number; inRange: number; seen: Uint8Array; distinct: number; done: boolean }
let phase: Phase | undefined;
let eld: IntervalHistogram | undefined;

const sys = await loadE2e(system);
const receiver = await sys.receiver(params, (payload) => {
  const p = phase;
  if (p === undefined) return false;
  p.calls++;
  const seq = readSeq(payload);
  if (seq < p.from || seq >= p.to) return false;
  p.inRange++;
  if (p.seen[seq - p.from] === 0) {
    p.seen[seq - p.from] = 1;
    p.distinct++;
  }
  if (p.done || p.distinct < p.to - p.from) return false;
  p.done = true;
  return true;
}, () => send({ type: 'settled' }));
send({ type: 'ready', endpoint: receiver.endpoint });

process.on('message', (m: { type: 'arm'; from: number; to: number; eld: boolean } | { type: 'report' }) => {
  if (m.type === 'arm') {
    phase = { from: m.from, to: m.to, calls: 0, inRange: 0, seen: new Uint8Array(m.to - m.from), distinct: 0, done: false };
    if (m.eld) {
      eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
      eld.enable();
    }
    send({ type: 'armed' });
  } else if (m.type === 'report' && phase !== undefined) {
    eld?.disable();
    const delay = (ns: number): number => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
    const loop = eld === undefined ? {} : { eldP99Ms: delay(eld.percentile(99)), eldMaxMs: delay(eld.max), eldSamples: eld.count };
    eld = undefined;
    const applied = receiver.applied?.(phase.from, phase.to) ?? { rows: phase.inRange, distinct: phase.distinct };
    send({ type: 'report', ...applied, calls: phase.calls, ...loop });
  }
});

// Exits when told to or when the bench goes away, even if a close() hangs.
const stop = async (): Promise<void> => {
  setTimeout(() => process.exit(0), 3_000).unref();
  await receiver.close().catch(() => undefined);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('disconnect', () => void stop());
