/**
 * Bounded label values. Method names, peer services and error codes reach a node from
 * the network; each distinct value is a time series in every scraper, so a peer that
 * invents names must not be able to grow them without bound. The first `max` values of
 * a label are kept; later ones are reported as "other".
 */

/** Distinct values kept per label (per registry) before new ones fold into "other". */
export const MAX_LABEL_VALUES = 100;
export const OTHER = 'other';

export class LabelBudget {
  private readonly seen = new Set<string>();

  constructor(private readonly max = MAX_LABEL_VALUES) {}

  /** `value` itself while it is known or there is room, else "other". */
  fold(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return OTHER;
    this.seen.add(value);
    return value;
  }
}

/** A memo of hot-path series by up to three keys, in nested maps (no key string is
 *  built per call), bounded too: past `max` entries it stops remembering and makes
 *  each one again (made series are the same objects: SeriesMetric.series). */
export class ChildCache<T> {
  private readonly root = new Map<string, Map<string, Map<string, T>>>();
  private size = 0;

  constructor(private readonly max = 4 * MAX_LABEL_VALUES) {}

  get(a: string, b: string, c: string, make: () => T): T {
    const known = this.root.get(a)?.get(b)?.get(c);
    if (known !== undefined) return known;
    const v = make();
    if (this.size >= this.max) return v;
    let m1 = this.root.get(a);
    if (m1 === undefined) this.root.set(a, m1 = new Map());
    let m2 = m1.get(b);
    if (m2 === undefined) m1.set(b, m2 = new Map());
    m2.set(c, v);
    this.size++;
    return v;
  }
}
