/**
 * Hot-path metrics without prom-client's per-call cost. A prom-client child still
 * hashes its label object on every observe() (~1 µs); these series are plain numbers
 * behind a key looked up once per label set, and prom-client reads them only when
 * scraped: each SeriesMetric is registered in the registry as a metric of its own
 * (name, help, type, labelNames, get(), reset()), which is all the registry asks of one.
 */

export interface Series {
  readonly labels: Readonly<Record<string, string>>;
  count: number;
  sum: number;
  /** Histograms: observations per bucket (not cumulative), the last one +Inf. */
  readonly buckets: number[] | undefined;
}

interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

export class SeriesMetric {
  readonly aggregator = 'sum';
  private readonly all = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    readonly labelNames: readonly string[],
    /** Histograms: upper bounds, ascending. */
    private readonly bounds: readonly number[] = [],
  ) {}

  /** The series of these label values (in labelNames order), made on first use. */
  series(values: readonly string[]): Series {
    const key = values.join('\0');
    let s = this.all.get(key);
    if (s === undefined) {
      const labels = Object.fromEntries(this.labelNames.map((n, i) => [n, values[i] ?? '']));
      s = { labels, count: 0, sum: 0, buckets: this.type === 'histogram' ? new Array<number>(this.bounds.length + 1).fill(0) : undefined };
      this.all.set(key, s);
    }
    return s;
  }

  /** Records one observation (a histogram) or one increment (a counter: value 1). */
  observe(s: Series, value = 1): void {
    s.count++;
    s.sum += value;
    if (s.buckets !== undefined) {
      const b = this.bounds;
      let i = 0;
      while (i < b.length && value > b[i]!) i++;
      s.buckets[i]!++;
    }
  }

  /** What prom-client's registry reads when it scrapes. */
  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    const values: Value[] = [];
    for (const s of this.all.values()) {
      if (s.buckets === undefined) {
        values.push({ labels: { ...s.labels }, value: s.count });
        continue;
      }
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.buckets![i]!;
        values.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** registry.resetMetrics(): every series back to zero (they stay known). */
  reset(): void {
    for (const s of this.all.values()) {
      s.count = 0;
      s.sum = 0;
      s.buckets?.fill(0);
    }
  }
}
