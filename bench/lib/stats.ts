/** Latency recording with HDR histograms (hdr-histogram-js), in microseconds. */
import * as hdr from 'hdr-histogram-js';

export interface Latency {
  p50: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
  count: number;
}

export class LatencyRecorder {
  private readonly h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });

  /** Records the time since `startNs` (from process.hrtime.bigint()). */
  since(startNs: bigint): void {
    this.h.recordValue(Math.max(1, Number((process.hrtime.bigint() - startNs) / 1000n)));
  }

  summary(): Latency {
    const s = {
      p50: this.h.getValueAtPercentile(50),
      p99: this.h.getValueAtPercentile(99),
      p999: this.h.getValueAtPercentile(99.9),
      mean: Math.round(this.h.mean * 10) / 10,
      max: this.h.maxValue,
      count: this.h.totalCount,
    };
    this.h.destroy();
    return s;
  }
}
