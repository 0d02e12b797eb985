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

/** A memo of hot-path children (prom-client's `labels()` hashes its arguments on every
 *  call), bounded too: past `max` keys it stops remembering and builds each time. */
export class ChildCache<T> {
  private readonly map = new Map<string, T>();

  constructor(private readonly max = 4 * MAX_LABEL_VALUES) {}

  get(key: string, make: () => T): T {
    let v = this.map.get(key);
    if (v === undefined) {
      v = make();
      if (this.map.size < this.max) this.map.set(key, v);
    }
    return v;
  }
}
