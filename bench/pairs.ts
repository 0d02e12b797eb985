/**
 * Secure beside insecure, in interleaved pairs.
 *
 * One pub/sub cell of 30 000 events lasts about 70 ms here, and this shared 2-core
 * machine's speed moves by more than a third from one second to the next (the same
 * insecure cell gave 240 000 and 460 000 msg/s a minute apart). A ratio of two
 * single cells measured seconds apart is mostly that noise. So the cost of security
 * is measured as pairs: each trial runs insecure and secure back to back (the order
 * alternating, so neither always goes first), and the result is the median of the
 * per-pair ratios, reported with its range. Each cell is the matrix's own pub/sub
 * cell (same warm-up, process layout and count).
 */
import { pubsub, type MatrixConfig } from './matrix.js';
import { SYSTEMS } from './systems/index.js';

export interface PairTrial { insecure: number; secure: number; ratio: number }
export interface PairRow {
  scenario: 'pubsub';
  payloadBytes: number;
  trials: PairTrial[];
  /** Medians over the trials (the ratio is the median of the per-pair ratios). */
  median: PairTrial;
  min: number;
  max: number;
}

export const PAIRS_QUICK = { trials: 5, payloadBytes: 100 };
export const PAIRS_FULL = { trials: 9, payloadBytes: 100 };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number): number => Math.round(x * 100) / 100;

export async function runPairs(c: MatrixConfig, o: { trials: number; payloadBytes: number }, progress: (line: string) => void): Promise<PairRow[]> {
  const insecure = SYSTEMS.find((s) => s.name === 'zmesh')!;
  const secure = SYSTEMS.find((s) => s.name === 'zmesh-secure')!;
  const trials: PairTrial[] = [];
  for (let i = 0; i < o.trials; i++) {
    progress(`pairs: pubsub zmesh / zmesh-secure ${o.payloadBytes} B, trial ${i + 1}/${o.trials}`);
    const order = i % 2 === 0 ? [insecure, secure] : [secure, insecure];
    const got = new Map<string, number>();
    for (const sys of order) {
      (globalThis as { gc?: () => void }).gc?.();
      const row = await pubsub(sys, o.payloadBytes, 1, c);
      if (row.status !== 'ok' || !row.msgPerSec) throw new Error(`pairs: ${sys.name} pub/sub ${row.status}: ${row.reason ?? ''}`);
      got.set(sys.name, row.msgPerSec);
    }
    const a = got.get('zmesh')!;
    const b = got.get('zmesh-secure')!;
    trials.push({ insecure: a, secure: b, ratio: round(b / a) });
  }
  const ratios = trials.map((t) => t.ratio);
  return [{
    scenario: 'pubsub', payloadBytes: o.payloadBytes, trials,
    median: { insecure: Math.round(median(trials.map((t) => t.insecure))), secure: Math.round(median(trials.map((t) => t.secure))), ratio: round(median(ratios)) },
    min: Math.min(...ratios), max: Math.max(...ratios),
  }];
}

export function pairsTable(rows: PairRow[]): string {
  const lines = ['secure / insecure pub/sub, interleaved pairs (ratio = secure msg/s / insecure msg/s of the same pair)'];
  for (const r of rows) {
    lines.push(`  ${r.payloadBytes} B: ${r.trials.map((t) => t.ratio.toFixed(2)).join(', ')}`);
    lines.push(`  median ${r.median.ratio.toFixed(2)}x (range ${r.min.toFixed(2)} to ${r.max.toFixed(2)}); median msg/s insecure ${r.median.insecure}, secure ${r.median.secure}`);
  }
  return lines.join('\n');
}
